package dev.fathom.cuda;

import org.junit.jupiter.api.Test;

import java.util.BitSet;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The failure diagnosis of the GEMM checks, on outputs a faulty kernel would give (computed here, no GPU). */
class GemmDiagnosisTest {
    /** y = W x over [n, k] weights and [rows, k] activations, in float as a kernel would give it. */
    private static float[] multiply(float[] w, float[] x, int n, int k, int rows) {
        float[] y = new float[rows * n];
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < n; o++) {
                float s = 0;
                for (int i = 0; i < k; i++) s += w[o * k + i] * x[r * k + i];
                y[r * n + o] = s;
            }
        return y;
    }

    private static double[] toDouble(float[] y) {
        double[] d = new double[y.length];
        for (int i = 0; i < y.length; i++) d[i] = y[i];
        return d;
    }

    @Test
    void patternNamesTheWrongRowsWarpsAndScale() {
        int rows = 4, n = 300;
        float[] ref = new float[rows * n];
        java.util.Random rnd = new java.util.Random(5);
        for (int i = 0; i < ref.length; i++) ref[i] = (float) rnd.nextGaussian();
        float[] got = ref.clone();
        assertEquals("", GemmDiagnosis.pattern(got, toDouble(ref), rows, n));
        // batch row 2 loses half of every output in warp 3 (output rows 48..63 of each block), and one NaN in row 0
        for (int b = 0; b * 128 + 48 < n; b++)
            for (int o = b * 128 + 48; o < Math.min(n, b * 128 + 64); o++) got[2 * n + o] *= 0.5f;
        got[7] = Float.NaN;
        String p = GemmDiagnosis.pattern(got, toDouble(ref), rows, n);
        assertTrue(p.startsWith("wrong 33/1200 (NaN 1, zero 0)"), p);   // warp 3 of blocks 0 and 1; block 2 (256..299) ends before it
        assertTrue(p.contains("batch rows 0,2;"), p);
        assertTrue(p.contains("warps 0,3;"), p);
        assertTrue(p.contains("blocks 0-1 of 3"), p);
        assertTrue(p.contains("got/ref 0.500"), p);
    }

    @Test
    void rangesAreCompact() {
        BitSet b = new BitSet();
        assertEquals("-", GemmDiagnosis.ranges(b));
        for (int i : new int[]{0, 1, 2, 3, 7, 9, 10}) b.set(i);
        assertEquals("0-3,7,9-10", GemmDiagnosis.ranges(b));
    }

    @Test
    void probesCoverEveryColumnOnceAndFindASwappedPair() {
        int n = 32, k = 128, rows = 8;
        float[] w = GemmDiagnosis.probeWeights(n, k, 11);
        for (float v : w) assertEquals(v, Float.intBitsToFloat(Float.floatToIntBits(v) & 0xffff0000), "BF16-exact");
        BitSet seen = new BitSet();
        TreeMap<Integer, Integer> wrong = new TreeMap<>();
        for (int p = 0; p < GemmDiagnosis.probes(rows, k); p++) {
            float[] x = GemmDiagnosis.probeActivations(p, rows, k);
            for (int r = 0; r < rows; r++) seen.set(GemmDiagnosis.probeColumn(p, r, rows, k));
            GemmDiagnosis.matchProbe(multiply(w, x, n, k, rows), p, rows, n, w, k, wrong);
        }
        assertEquals(k, seen.cardinality());
        assertTrue(new GemmDiagnosis.Probe(wrong, k).ok(), wrong.toString());

        // a kernel that reads columns 16..23 and 24..31 swapped (a wrong swizzle of one 16-byte chunk pair), and zeros for 100
        float[] faulty = w.clone();
        for (int o = 0; o < n; o++) {
            for (int c = 16; c < 24; c++) {
                faulty[o * k + c] = w[o * k + c + 8];
                faulty[o * k + c + 8] = w[o * k + c];
            }
            faulty[o * k + 100] = 0;
        }
        wrong.clear();
        for (int p = 0; p < GemmDiagnosis.probes(rows, k); p++)
            GemmDiagnosis.matchProbe(multiply(faulty, GemmDiagnosis.probeActivations(p, rows, k), n, k, rows), p, rows, n, w, k, wrong);
        GemmDiagnosis.Probe probe = new GemmDiagnosis.Probe(wrong, k);
        assertEquals(17, wrong.size());
        assertEquals(24, wrong.get(16));
        assertEquals(16, wrong.get(24));
        assertEquals(-1, wrong.get(100));
        assertTrue(probe.summary().startsWith("17/128 columns of K read wrong (expected→read): 16→24 17→25"), probe.summary());
        assertTrue(probe.summary().contains("{-8=8, 8=8}"), probe.summary());
        assertTrue(probe.summary().contains("100→?"), probe.summary());
    }

    @Test
    void rowNumbersRevealMovedOutputRows() {
        int n = 256, k = 64, rows = 8;
        float[] w = GemmDiagnosis.rowNumberWeights(n, k);
        float[] y = multiply(w, GemmDiagnosis.probeActivations(3, rows, k), n, k, rows);
        assertNull(GemmDiagnosis.rowMap(y, rows, n));
        // batch row 5: output rows 8..15 of each 16-row tile come from rows 0..7 (a fragment half written twice)
        for (int o = 8; o < n; o += 16)
            for (int j = 0; j < 8; j++) y[5 * n + o + j] = y[5 * n + o - 8 + j];
        y[2 * n + 4] = 0.3f;
        String m = GemmDiagnosis.rowMap(y, rows, n);
        assertTrue(m.startsWith("129 of 2048 outputs hold another weight row, batch rows 2,5 "), m);
        assertTrue(m.contains("2:4←?0.3"), m);
        assertTrue(m.contains("5:8←0 5:9←1"), m);
    }
}
