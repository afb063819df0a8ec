package dev.fathom.engine.calibrate;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.concurrent.CyclicBarrier;

/**
 * Measures the machine's main-memory read bandwidth the way a decode step reads weights: each of
 * {@code threads} threads sums its own share of an off-heap buffer (much larger than the caches) with
 * Vector API loads. The figure is the best of several passes (others share the machine: the best pass
 * is the one least disturbed).
 */
public final class MemoryBandwidth {
    private MemoryBandwidth() {}

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    /** @param gbps best pass in GB/s (1e9 bytes/s); {@code passes} measured passes over {@code bytes} */
    public record Result(double gbps, double medianGbps, int threads, long bytes, int passes) {}

    /** Default measurement: 1 GiB, 5 passes. */
    public static Result measure(int threads) { return measure(threads, 1L << 30, 5); }

    public static Result measure(int threads, long bytes, int passes) {
        int t = threads <= 0 ? Runtime.getRuntime().availableProcessors() : threads;
        long chunk = bytes / t / 256 * 256;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment buf = arena.allocate(chunk * t, 4096);
            // touch every page so the passes measure reads, not page faults
            for (long p = 0; p < buf.byteSize(); p += 4096) buf.set(java.lang.foreign.ValueLayout.JAVA_BYTE, p, (byte) 1);
            double[] gbps = new double[passes];
            float[] sink = new float[t];
            CyclicBarrier start = new CyclicBarrier(t);
            for (int pass = 0; pass < passes; pass++) {
                long[] t0 = new long[t], t1 = new long[t];
                Thread[] th = new Thread[t];
                for (int i = 0; i < t; i++) {
                    int id = i;
                    th[i] = new Thread(() -> {
                        try { start.await(); } catch (Exception e) { throw new IllegalStateException(e); }
                        t0[id] = System.nanoTime();
                        sink[id] += sum(buf, id * chunk, chunk);
                        t1[id] = System.nanoTime();
                    });
                    th[i].start();
                }
                for (Thread x : th) x.join();
                long a = Long.MAX_VALUE, b = 0;
                for (int i = 0; i < t; i++) { a = Math.min(a, t0[i]); b = Math.max(b, t1[i]); }
                gbps[pass] = (double) chunk * t / (b - a);
                start.reset();
            }
            double best = 0;
            for (double g : gbps) best = Math.max(best, g);
            double[] sorted = gbps.clone();
            java.util.Arrays.sort(sorted);
            if (sink[0] == 12345.678f) System.out.print("");
            return new Result(best, sorted[passes / 2], t, chunk * t, passes);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("bandwidth measurement interrupted", e);
        }
    }

    private static float sum(MemorySegment s, long off, long len) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        long step = 4L * F.vectorByteSize();
        long end = off + len - step;
        long p = off;
        ByteOrder le = ByteOrder.LITTLE_ENDIAN;
        for (; p <= end; p += step) {
            a0 = a0.add(FloatVector.fromMemorySegment(F, s, p, le));
            a1 = a1.add(FloatVector.fromMemorySegment(F, s, p + F.vectorByteSize(), le));
            a2 = a2.add(FloatVector.fromMemorySegment(F, s, p + 2L * F.vectorByteSize(), le));
            a3 = a3.add(FloatVector.fromMemorySegment(F, s, p + 3L * F.vectorByteSize(), le));
        }
        return a0.add(a1).add(a2.add(a3)).reduceLanes(VectorOperators.ADD);
    }
}
