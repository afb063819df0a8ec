package dev.fathom.cuda;

import dev.fathom.engine.tensor.DType;
import dev.fathom.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Host-side SBI-GEMM logic: the packed layout read the way the kernel reads it, pair order, launch sizing. */
class SbiLayoutTest {
    @Test
    void packedLayoutReproducesTheMatrixProduct() {
        Random rnd = new Random();
        for (DType dt : new DType[]{DType.F32, DType.BF16, DType.F16})
            for (int[] nk : new int[][]{{5, 3}, {13, 172}, {64, 300}, {8, 256}}) {
                int n = nk[0], k = nk[1], rows = 3;
                try (Arena a = Arena.ofConfined()) {
                    float[] wv = new float[n * k];
                    for (int i = 0; i < wv.length; i++) wv[i] = (float) rnd.nextGaussian();
                    Tensor w = Tensor.of("w", dt, new long[]{n, k}, wv, a);
                    float[] x = new float[rows * k];
                    for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
                    int[][] order = SbiLayout.stacked(w);
                    SbiLayout.Shape[] s = new SbiLayout.Shape[1];
                    MemorySegment p = SbiLayout.pack(new Tensor[]{w}, order[0], order[1], n, k, dt, a, s);
                    assertEquals(0, s[0].bytes() % 2048, "whole 2 KB group-chunks");
                    assertTrue(s[0].groups() * 4 >= n && s[0].kChunks() * SbiLayout.chunk(dt) >= k);
                    float[] y = SbiLayout.emulate(p, s[0], x, rows);
                    int ld = s[0].groups() * 4;
                    for (int r = 0; r < rows; r++)
                        for (int o = 0; o < n; o++) {
                            double ref = 0;
                            for (int i = 0; i < k; i++) ref += w.get(o, i) * (double) x[r * k + i];
                            assertEquals(ref, y[r * ld + o], 1e-3 * (1 + Math.abs(ref)), dt + " " + n + "x" + k + " row " + r + " out " + o);
                        }
                    for (int r = 0; r < rows; r++)
                        for (int o = n; o < ld; o++) assertEquals(0f, y[r * ld + o], "padding rows are zero");
                }
            }
    }

    @Test
    void tileLayoutHoldsEachLanesMmaFragment() {
        Random rnd = new Random();
        for (int[] nk : new int[][]{{16, 16}, {20, 40}, {70, 172}}) {
            int n = nk[0], k = nk[1], rows = 2;
            try (Arena a = Arena.ofConfined()) {
                float[] wv = new float[n * k];
                for (int i = 0; i < wv.length; i++) wv[i] = (float) rnd.nextGaussian();
                Tensor w = Tensor.of("w", DType.BF16, new long[]{n, k}, wv, a);
                float[] x = new float[rows * k];
                for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
                int[][] order = SbiLayout.stacked(SbiLayout.MMA_GROUP, w);
                SbiLayout.Shape[] s = new SbiLayout.Shape[1];
                MemorySegment p = SbiLayout.pack(new Tensor[]{w}, order[0], order[1], n, k, DType.BF16, true, a, s);
                assertEquals(512L * s[0].groups() * s[0].kChunks(), s[0].bytes(), "one 512-byte tile per 16x16 block");
                float[] y = SbiLayout.emulateMma(p, s[0], x, rows);
                int ld = s[0].groups() * 16;
                for (int r = 0; r < rows; r++)
                    for (int o = 0; o < ld; o++) {
                        double ref = 0;
                        if (o < n) for (int i = 0; i < k; i++) ref += w.get(o, i) * (double) x[r * k + i];
                        assertEquals(ref, y[r * ld + o], 1e-3 * (1 + Math.abs(ref)), n + "x" + k + " row " + r + " out " + o);
                    }
            }
        }
    }

    @Test
    void gatedPairsPutGateAndUpOfAnOutputInOneGroup() {
        int[][] t = SbiLayout.gatedPairs(10, 16);
        assertEquals(32, t[0].length);
        for (int i = 0; i < 8; i++) {
            assertEquals(0, t[0][i]);
            assertEquals(i, t[1][i]);
            assertEquals(1, t[0][8 + i]);
            assertEquals(i, t[1][8 + i]);
        }
        assertEquals(-1, t[0][16 + 2], "past the end: zeros");
        int[][] o = SbiLayout.gatedPairs(5);
        assertEquals(12, o[0].length);
        for (int g = 0; g < 3; g++)
            for (int i = 0; i < 2; i++) {
                int out = 2 * g + i;
                if (out >= 5) {
                    assertEquals(-1, o[0][g * 4 + i]);
                    continue;
                }
                assertEquals(0, o[0][g * 4 + i]);
                assertEquals(out, o[1][g * 4 + i]);
                assertEquals(1, o[0][g * 4 + 2 + i]);
                assertEquals(out, o[1][g * 4 + 2 + i]);
            }
    }

    @Test
    void launchSplitsKOnlyForNarrowOutputs() {
        int sms = 132;
        SbiLayout.Shape narrow = new SbiLayout.Shape(4096, 4096, 1024, 16, DType.BF16);
        SbiLayout.Shape wide = new SbiLayout.Shape(32000, 4096, 8000, 16, DType.BF16);
        SbiLayout.Shape tinyK = new SbiLayout.Shape(4096, 256, 1024, 1, DType.BF16);
        SbiLayout.Launch n = SbiLayout.plan(narrow, sms), w = SbiLayout.plan(wide, sms), t = SbiLayout.plan(tinyK, sms);
        assertTrue(n.ks() > 1, "4096 outputs must split K");
        assertEquals(1, w.ks(), "32000 outputs fill the GPU unsplit");
        assertEquals(1, t.ks(), "one chunk of K cannot be split");
        for (var c : new Object[][]{{narrow, n}, {wide, w}, {tinyK, t}}) {
            SbiLayout.Shape s = (SbiLayout.Shape) c[0];
            SbiLayout.Launch l = (SbiLayout.Launch) c[1];
            int gpb = SbiLayout.WARPS / l.ks();
            assertTrue((long) l.blocks() * gpb >= s.groups(), "every group gets a warp set");
            assertTrue((long) (l.blocks() - 1) * gpb < s.groups(), "no empty block");
            assertTrue((long) s.groups() * l.ks() >= 16L * sms || l.ks() == 8 || s.kChunks() < 4L * l.ks() * 2, "enough warps or no further split");
        }
    }
}
