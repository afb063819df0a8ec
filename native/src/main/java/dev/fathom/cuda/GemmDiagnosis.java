package dev.fathom.cuda;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.Random;
import java.util.TreeMap;

/**
 * What a failed GEMM check tells beyond its relative error, so that one run on a GPU is enough to find a kernel's
 * indexing mistake on the host afterwards: where the wrong outputs lie (batch rows, output rows modulo a fragment's 16
 * rows, a block's 8 warps, which 128-row blocks), how they scale against the reference, and, from one-hot probes
 * ({@link #probeColumns}), which column of K each batch row actually read and how output rows were permuted.
 */
final class GemmDiagnosis {
    private GemmDiagnosis() {}

    /** An output counts as wrong when it is NaN or off by more than this share of the reference's RMS. */
    static final double BAD = 1e-3;

    /**
     * One line on {@code got} [rows, n] against {@code ref} [rows, n]: how many outputs are wrong (and NaN), in which batch
     * rows, which output rows modulo 16 and which warps of a 128-row block ((o mod 128) / 16), which blocks (o / 128),
     * the least-squares scale of got against ref over the wrong ones, and how many of them are exactly zero; "" when
     * none is wrong.
     */
    static String pattern(float[] got, double[] ref, int rows, int n) {
        double ss = 0;
        for (double v : ref) ss += v * v;
        double tol = BAD * Math.sqrt(ss / Math.max(1, ref.length));
        BitSet batch = new BitSet(), mod16 = new BitSet(), warp = new BitSet(), block = new BitSet();
        int bad = 0, nan = 0, zero = 0;
        double gr = 0, rr = 0;
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < n; o++) {
                int i = r * n + o;
                float g = got[i];
                boolean isNan = Float.isNaN(g);
                if (!isNan && Math.abs(g - ref[i]) <= tol) continue;
                bad++;
                if (isNan) nan++;
                else {
                    if (g == 0f) zero++;
                    gr += g * ref[i];
                    rr += ref[i] * ref[i];
                }
                batch.set(r);
                mod16.set(o % 16);
                warp.set(o % 128 / 16);
                block.set(o / 128);
            }
        if (bad == 0) return "";
        return String.format("wrong %d/%d (NaN %d, zero %d); batch rows %s; output rows mod 16 %s; warps %s; blocks %s of %d; got/ref %s",
                bad, rows * n, nan, zero, ranges(batch), ranges(mod16), ranges(warp), ranges(block), (n + 127) / 128,
                rr > 0 ? String.format("%.3f", gr / rr) : "-");
    }

    /** {@code bits} as ascending ranges: "0-3,7,9-10"; "-" when empty. */
    static String ranges(BitSet bits) {
        if (bits.isEmpty()) return "-";
        StringBuilder sb = new StringBuilder();
        for (int a = bits.nextSetBit(0); a >= 0; ) {
            int b = bits.nextClearBit(a) - 1;
            if (!sb.isEmpty()) sb.append(',');
            sb.append(a);
            if (b > a) sb.append('-').append(b);
            a = bits.nextSetBit(b + 1);
        }
        return sb.toString();
    }

    /** The column of K that batch row {@code r} of one-hot probe {@code p} sets to 1 (every column once over k / rows probes). */
    static int probeColumn(int p, int r, int rows, int k) { return (p * rows + r) % k; }

    /** Number of probes that set every column of K once. */
    static int probes(int rows, int k) { return (k + rows - 1) / rows; }

    /**
     * One-hot activations of probe {@code p}: row r is 1 at {@link #probeColumn} and 0 elsewhere, so with no bias and no
     * residual output row r is the weight column it names.
     */
    static float[] probeActivations(int p, int rows, int k) {
        float[] x = new float[rows * k];
        for (int r = 0; r < rows; r++) x[r * k + probeColumn(p, r, rows, k)] = 1f;
        return x;
    }

    /** What the column probes found: columns read wrong (expected column to the one read, -1 when none matches) of those checked. */
    record Probe(TreeMap<Integer, Integer> wrongColumns, int checked) {
        boolean ok() { return wrongColumns.isEmpty(); }

        /** One line: all right, or the first wrong columns as expected→read and the shifts (read − expected) seen. */
        String summary() {
            if (ok()) return "every one of " + checked + " columns of K read where expected";
            StringBuilder sb = new StringBuilder();
            sb.append(wrongColumns.size()).append('/').append(checked).append(" columns of K read wrong (expected→read): ");
            int shown = 0;
            TreeMap<Integer, Integer> shifts = new TreeMap<>();
            for (var e : wrongColumns.entrySet()) {
                if (shown++ < 24) sb.append(e.getKey()).append("→").append(e.getValue() < 0 ? "?" : e.getValue()).append(' ');
                if (e.getValue() >= 0) shifts.merge(e.getValue() - e.getKey(), 1, Integer::sum);
            }
            if (wrongColumns.size() > 24) sb.append("… ");
            return sb.append("; shifts (read−expected=count) ").append(shifts.isEmpty() ? "-" : shifts.toString()).toString();
        }
    }

    /**
     * Matches each output row of one probe's {@code got} [rows, n] with the weight columns of {@code w} [n, k] (the
     * weights as the kernel holds them, BF16-exact): records in {@code wrong} every batch row whose output is not exactly
     * its expected column, with the column it equals or -1.
     */
    static void matchProbe(float[] got, int p, int rows, int n, float[] w, int k, TreeMap<Integer, Integer> wrong) {
        for (int r = 0; r < rows; r++) {
            if (p * rows + r >= k) continue;   // the last probe's rows past K repeat earlier columns
            int want = probeColumn(p, r, rows, k);
            if (equalsColumn(got, r * n, w, want, n, k)) continue;
            int found = -1;
            for (int c = 0; c < k && found < 0; c++)
                if (c != want && equalsColumn(got, r * n, w, c, n, k)) found = c;
            wrong.put(want, found);
        }
    }

    private static boolean equalsColumn(float[] got, int off, float[] w, int c, int n, int k) {
        for (int o = 0; o < n; o++)
            if (got[off + o] != w[o * k + c]) return false;
        return true;
    }

    /** Random weights [n, k] rounded to values BF16 holds exactly (so the device's copy equals them), none zero. */
    static float[] probeWeights(int n, int k, long seed) {
        Random rnd = new Random(seed);
        float[] w = new float[n * k];
        for (int i = 0; i < w.length; i++) {
            float v;
            do v = Float.intBitsToFloat(Float.floatToIntBits((float) rnd.nextGaussian() * 0.1f) & 0xffff0000);
            while (v == 0f);
            w[i] = v;
        }
        return w;
    }

    /** Weights [n, k] whose row o holds o + 1 everywhere (exact in BF16 up to n = 256): any one-hot row reads back its row number. */
    static float[] rowNumberWeights(int n, int k) {
        if (n > 256) throw new IllegalArgumentException("row numbers are exact in BF16 only up to 256 rows, not " + n);
        float[] w = new float[n * k];
        for (int o = 0; o < n; o++) Arrays.fill(w, o * k, (o + 1) * k, o + 1);
        return w;
    }

    /**
     * Over {@link #rowNumberWeights}: null when every output row o of every batch row holds o + 1, else one line naming
     * the batch rows affected and the first 16 output rows that hold another weight row (o←row, ? for a value that is no
     * row number).
     */
    static String rowMap(float[] got, int rows, int n) {
        BitSet batch = new BitSet();
        List<String> moved = new ArrayList<>();
        int count = 0;
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < n; o++) {
                float g = got[r * n + o];
                if (g == o + 1) continue;
                count++;
                batch.set(r);
                if (moved.size() < 16) {
                    int src = g == Math.rint(g) && g >= 1 && g <= n ? (int) g - 1 : -1;
                    moved.add(r + ":" + o + "←" + (src < 0 ? "?" + g : String.valueOf(src)));
                }
            }
        if (count == 0) return null;
        return count + " of " + rows * n + " outputs hold another weight row, batch rows " + ranges(batch)
                + " (batch:output←weight row) " + String.join(" ", moved);
    }
}
