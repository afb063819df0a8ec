package dev.fathom.cuda;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The float64 reference every GEMM check compares a kernel with (CudaSelfCheck.Inputs), computed a row per task across
 * the cores: it must give exactly what the plain loops give, for every epilogue, and compare must notice a wrong or
 * unwritten output.
 */
class SelfCheckReferenceTest {
    @Test
    void parallelReferencesEqualThePlainLoopsAndCompareCatchesErrors() {
        int n = 37, k = 50, rows = 23;
        Random rnd = new Random(3);
        float[] w = new float[2 * n * k];
        for (int i = 0; i < w.length; i++) w[i] = (float) rnd.nextGaussian();
        CudaSelfCheck.WeightAt wt = (o, i) -> w[o * k + i];
        for (int mode = 0; mode < 3; mode++) {
            CudaSelfCheck.Inputs in = CudaSelfCheck.Inputs.random(n, k, rows, mode, 11 + mode);
            double[] refs = in.references(wt);
            float[] y = new float[rows * n];
            for (int r = 0; r < rows; r++)
                for (int o = 0; o < n; o++) {
                    double s = in.bias()[o], u = mode == 1 ? in.bias()[n + o] : 0;
                    for (int i = 0; i < k; i++) {
                        s += w[o * k + i] * in.xin()[r * k + i];
                        if (mode == 1) u += w[(n + o) * k + i] * in.xin()[r * k + i];
                    }
                    double ref = mode == 1 ? s / (1 + Math.exp(-s)) * u : mode == 0 ? s + in.res()[r * n + o] : Math.max(0, s);
                    assertEquals(ref, refs[r * n + o], 0.0, "mode " + mode + " (" + r + ", " + o + ")");
                    y[r * n + o] = (float) ref;
                }
            var exact = in.compare("exact", y, wt);
            assertTrue(exact.ok(1e-6) && exact.allWritten(), "the reference rounded to float passes: " + exact.relErr());
            y[5 * n + 3] += 10f;
            assertFalse(in.compare("one wrong output", y, wt).ok(1e-6));
            y[5 * n + 3] = Float.NaN;
            assertFalse(in.compare("one unwritten output", y, wt).allWritten());
        }
    }
}
