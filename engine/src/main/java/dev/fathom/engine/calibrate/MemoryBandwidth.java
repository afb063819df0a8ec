package dev.fathom.engine.calibrate;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Memory read bandwidth: sums an off-heap float buffer with the Vector API, on one thread and on
 * several (each summing its own contiguous slice), and reports the best of a few passes.
 */
public final class MemoryBandwidth {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    private MemoryBandwidth() {}

    /** Allocates {@code bytes} off-heap, touches it, and measures; bytes/s. */
    public static double measure(long bytes, int threads, int passes) {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment seg = arena.allocate(bytes, 4096);
            fill(seg);
            return measure(seg, threads, passes);
        }
    }

    /** Reads {@code seg} {@code passes} times with {@code threads} threads; best pass in bytes/s. */
    public static double measure(MemorySegment seg, int threads, int passes) {
        long bytes = seg.byteSize() / (4L * S.length()) * (4L * S.length());
        double best = 0;
        ExecutorService pool = threads > 1 ? Executors.newFixedThreadPool(threads) : null;
        try {
            for (int p = 0; p < passes; p++) {
                long t0 = System.nanoTime();
                double sum;
                if (pool == null) sum = sum(seg, 0, bytes);
                else {
                    long chunk = bytes / threads / (4L * S.length()) * (4L * S.length());
                    List<Future<Double>> fs = new ArrayList<>();
                    for (int t = 0; t < threads; t++) {
                        long from = t * chunk, to = t == threads - 1 ? bytes : from + chunk;
                        fs.add(pool.submit(() -> sum(seg, from, to)));
                    }
                    sum = 0;
                    for (Future<Double> f : fs) sum += f.get();
                }
                long ns = System.nanoTime() - t0;
                if (Double.isNaN(sum)) throw new IllegalStateException("the buffer holds NaN");
                best = Math.max(best, bytes / (ns / 1e9));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.util.concurrent.CancellationException("interrupted");
        } catch (java.util.concurrent.ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        } finally {
            if (pool != null) pool.shutdownNow();
        }
        return best;
    }

    /** Sum of the floats in [from, to) bytes; four accumulators keep several loads in flight. */
    static double sum(MemorySegment seg, long from, long to) {
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        long step = 4L * S.length(), block = 4 * step, off = from;
        for (; off + block <= to; off += block) {
            a0 = a0.add(FloatVector.fromMemorySegment(S, seg, off, ByteOrder.nativeOrder()));
            a1 = a1.add(FloatVector.fromMemorySegment(S, seg, off + step, ByteOrder.nativeOrder()));
            a2 = a2.add(FloatVector.fromMemorySegment(S, seg, off + 2 * step, ByteOrder.nativeOrder()));
            a3 = a3.add(FloatVector.fromMemorySegment(S, seg, off + 3 * step, ByteOrder.nativeOrder()));
        }
        for (; off + step <= to; off += step) a0 = a0.add(FloatVector.fromMemorySegment(S, seg, off, ByteOrder.nativeOrder()));
        return a0.add(a1).add(a2).add(a3).reduceLanes(VectorOperators.ADD);
    }

    /** Small values (no denormals, no overflow), written once so every page is resident. */
    static void fill(MemorySegment seg) {
        long n = seg.byteSize() / 4;
        for (long i = 0; i < n; i++) seg.setAtIndex(ValueLayout.JAVA_FLOAT, i, (i & 1023) * 1e-3f);
    }
}
