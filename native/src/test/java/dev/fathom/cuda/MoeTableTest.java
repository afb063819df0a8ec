package dev.fathom.cuda;

import dev.fathom.engine.cpu.CpuModel;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The expert → rows tables the CUDA MoE layer gathers and scatters with, against per-row routing. */
class MoeTableTest {
    @Test
    void everyRowAppearsUnderEachOfItsTopKExpertsWithItsWeight() {
        Random rnd = new Random(7);
        int n = 37, experts = 8, topK = 2;
        float[] router = new float[n * experts];
        for (int i = 0; i < router.length; i++) router[i] = (float) rnd.nextGaussian() * 3;
        MoeTable t = MoeTable.of(router, n, experts, topK);
        assertEquals(0, t.start()[0]);
        assertEquals(n * topK, t.start()[experts]);
        int[] choice = new int[topK], count = new int[experts];
        float[] weight = new float[topK];
        for (int r = 0; r < n; r++) {
            CpuModel.route(router, r * experts, experts, topK, choice, weight, 0, count);
            float sum = 0;
            for (int k = 0; k < topK; k++) {
                int x = choice[k], hits = 0;
                for (int p = t.start()[x]; p < t.start()[x + 1]; p++)
                    if (t.rows()[p] == r) {
                        hits++;
                        assertEquals(weight[k], t.weights()[p], 0f, "row " + r + " expert " + x);
                    }
                assertEquals(1, hits, "row " + r + " once under expert " + x);
                sum += weight[k];
            }
            assertEquals(1f, sum, 1e-5f, "top-k weights renormalized");
        }
        for (int x = 0; x < experts; x++) {
            assertEquals(t.start()[x + 1] - t.start()[x], t.count(x));
            for (int p = t.start()[x] + 1; p < t.start()[x + 1]; p++)
                assertTrue(t.rows()[p - 1] < t.rows()[p], "rows of an expert in row order");
        }
    }
}
