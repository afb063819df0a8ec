package dev.fathom.engine.calibrate;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.util.stream.IntStream;

/**
 * F32 matrix-multiply rate: C[n,n] = A[n,n] x B[n,n], blocked over k and j so that a panel of B stays
 * in cache, with fused multiply-adds of {@code SPECIES_PREFERRED} vectors. Rows are split across threads.
 */
public final class GemmRate {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int KB = 256, JB = 512;

    private GemmRate() {}

    /** Best FLOP/s (2 n^3 per pass) of {@code passes} passes after one warm-up. */
    public static double measure(int n, int threads, int passes) {
        int nn = Math.max(S.length(), n / S.length() * S.length());
        float[] a = new float[nn * nn], b = new float[nn * nn], c = new float[nn * nn];
        for (int i = 0; i < a.length; i++) { a[i] = (i % 7) * 0.01f; b[i] = (i % 5) * 0.02f; }
        multiply(a, b, c, nn, threads);
        double best = 0;
        for (int p = 0; p < passes; p++) {
            java.util.Arrays.fill(c, 0);
            long t0 = System.nanoTime();
            multiply(a, b, c, nn, threads);
            long ns = System.nanoTime() - t0;
            best = Math.max(best, 2.0 * nn * nn * nn / (ns / 1e9));
        }
        if (!Float.isFinite(c[c.length - 1])) throw new IllegalStateException("GEMM produced a non-finite value");
        return best;
    }

    /** C += A x B, all row-major [n,n], n a multiple of the vector length. */
    static void multiply(float[] a, float[] b, float[] c, int n, int threads) {
        int rowsPer = Math.max(1, (n + threads - 1) / threads);
        IntStream.range(0, (n + rowsPer - 1) / rowsPer).parallel().forEach(t -> {
            int r0 = t * rowsPer, r1 = Math.min(n, r0 + rowsPer);
            for (int k0 = 0; k0 < n; k0 += KB) {
                int k1 = Math.min(n, k0 + KB);
                for (int j0 = 0; j0 < n; j0 += JB) {
                    int j1 = Math.min(n, j0 + JB);
                    for (int i = r0; i < r1; i++) {
                        int ci = i * n;
                        for (int j = j0; j < j1; j += S.length()) {
                            FloatVector acc = FloatVector.fromArray(S, c, ci + j);
                            for (int k = k0; k < k1; k++)
                                acc = FloatVector.broadcast(S, a[ci + k]).fma(FloatVector.fromArray(S, b, k * n + j), acc);
                            acc.intoArray(c, ci + j);
                        }
                    }
                }
            }
        });
    }
}
