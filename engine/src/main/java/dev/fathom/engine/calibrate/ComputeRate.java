package dev.fathom.engine.calibrate;

import dev.fathom.engine.cpu.CpuKernels;
import dev.fathom.engine.cpu.ReferenceKernels;
import dev.fathom.engine.model.Linear;
import dev.fathom.engine.tensor.DType;
import dev.fathom.engine.tensor.Tensor;

import java.lang.foreign.Arena;
import java.util.Random;

/** A quick measurement of the dense projection rate of CPU kernels (FLOP/s), for plan estimates. */
public final class ComputeRate {
    private ComputeRate() {}

    private static volatile Double reference;

    /** The reference kernels' rate on a 1024 x 1024 BF16 projection over 16 rows (best of 3), measured once per JVM. */
    public static double reference() {
        Double r = reference;
        if (r == null) reference = r = measure(new ReferenceKernels(), 1024, 16);
        return r;
    }

    /** FLOP/s of {@code k.linear} on an {@code n x n} BF16 weight over {@code rows} rows, best of 3. */
    public static double measure(CpuKernels k, int n, int rows) {
        try (Arena arena = Arena.ofShared()) { // shared: multi-threaded kernels read the weight from their workers
            Random rnd = new Random(1);
            float[] w = new float[n * n];
            for (int i = 0; i < w.length; i++) w[i] = (float) rnd.nextGaussian() * 0.02f;
            Linear lin = new Linear(Tensor.of("w", DType.BF16, new long[]{n, n}, w, arena), null);
            float[] x = new float[rows * n], y = new float[rows * n];
            for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
            k.linear(x, rows, lin, false, y);
            long best = Long.MAX_VALUE;
            for (int i = 0; i < 3; i++) {
                long t0 = System.nanoTime();
                k.linear(x, rows, lin, false, y);
                best = Math.min(best, System.nanoTime() - t0);
            }
            return 2.0 * rows * n * n * 1e9 / Math.max(1, best);
        }
    }
}
