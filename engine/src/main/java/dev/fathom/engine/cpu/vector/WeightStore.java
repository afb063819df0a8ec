package dev.fathom.engine.cpu.vector;

import dev.fathom.engine.EngineException;
import dev.fathom.engine.tensor.DType;
import dev.fathom.engine.tensor.Tensor;
import dev.fathom.profiles.Precision;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * The weights as the vector kernels read them, keyed by the identity of the checkpoint tensor: in
 * place when the run's precision is the tensor's dtype (or AUTO), otherwise a converted or INT8
 * quantized copy made once in this store's arena. Small vectors (norm weights, biases) are cached as
 * float arrays. A tensor seen for the first time (e.g. a tensor-parallel slice) is prepared then.
 */
final class WeightStore implements AutoCloseable {
    private final Precision precision;
    private final Arena arena = Arena.ofShared();
    private final Map<Tensor, PackedWeight> packed = new IdentityHashMap<>();
    private final Map<Tensor, float[]> floats = new IdentityHashMap<>();
    private long copiedBytes;

    WeightStore(Precision precision) { this.precision = precision == null ? Precision.AUTO : precision; }

    Precision precision() { return precision; }

    /** Bytes held in copies (converted or quantized weights). */
    synchronized long copiedBytes() { return copiedBytes; }

    synchronized float[] floats(Tensor t) {
        float[] f = floats.get(t);
        if (f == null) {
            f = new float[(int) t.numel()];
            for (int i = 0; i < f.length; i++) f[i] = t.getFloat(i);
            floats.put(t, f);
        }
        return f;
    }

    synchronized PackedWeight get(Tensor t, WorkerPool pool) {
        PackedWeight p = packed.get(t);
        if (p == null) {
            p = pack(t, pool);
            packed.put(t, p);
        }
        return p;
    }

    private PackedWeight pack(Tensor t, WorkerPool pool) {
        if (t.rank() != 2 && t.rank() != 1)
            throw new EngineException("Weight " + t.name() + " has " + t.rank() + " dimensions; projections must be 2-D [out, in].");
        int rows = t.rows(), cols = t.cols();
        PackedWeight.Format target = switch (precision) {
            case AUTO -> t.dtype() == DType.F32 || t.dtype() == DType.BF16 || t.dtype() == DType.F16
                    ? PackedWeight.Format.of(t.dtype()) : PackedWeight.Format.F32;
            case F32 -> PackedWeight.Format.F32;
            case BF16 -> PackedWeight.Format.BF16;
            case F16 -> PackedWeight.Format.F16;
            case INT8 -> PackedWeight.Format.INT8;
        };
        boolean inPlace = target != PackedWeight.Format.INT8 && t.dtype().isFloat() && t.dtype() != DType.F64
                && PackedWeight.Format.of(t.dtype()) == target;
        if (inPlace) return new PackedWeight(target, rows, cols, t.data(), t.ld() * t.dtype().size, null, 0);

        long ld = (long) cols * target.size;
        MemorySegment data = arena.allocate(ld * rows, 64);
        int groups = (cols + PackedWeight.GROUP - 1) / PackedWeight.GROUP;
        float[] scales = target == PackedWeight.Format.INT8 ? new float[Math.multiplyExact(rows, groups)] : null;
        copiedBytes += data.byteSize() + (scales == null ? 0 : 4L * scales.length);
        PackedWeight out = new PackedWeight(target, rows, cols, data, ld, scales, groups);
        final int per = 256;
        PackedWeight src = t.dtype() == DType.F32 || t.dtype() == DType.BF16 || t.dtype() == DType.F16
                ? new PackedWeight(PackedWeight.Format.of(t.dtype()), rows, cols, t.data(), t.ld() * t.dtype().size, null, 0) : null;
        pool.run(new WorkerPool.Task() {
            @Override public int chunks() { return (rows + per - 1) / per; }

            @Override public void run(int chunk, int worker) {
                float[] row = new float[cols];
                for (int r = chunk * per, end = Math.min(rows, r + per); r < end; r++) {
                    if (src != null) Dots.rowToFloat(src, r, row, 0);
                    else t.readRow(r, row, 0);
                    store(out, r, row);
                }
            }
        });
        return out;
    }

    private static void store(PackedWeight p, int r, float[] row) {
        MemorySegment d = p.data();
        long o = p.rowOffset(r);
        int n = p.cols();
        switch (p.format()) {
            case F32 -> MemorySegment.copy(row, 0, d, Dots.F32, o, n);
            case BF16 -> { for (int i = 0; i < n; i++) d.set(Dots.I16, o + 2L * i, DType.floatToBf16(row[i])); }
            case F16 -> { for (int i = 0; i < n; i++) d.set(Dots.I16, o + 2L * i, Float.floatToFloat16(row[i])); }
            case INT8 -> quantizeRow(row, n, d, o, p.scales(), r * p.groups());
        }
    }

    /** Symmetric per-group INT8: scale = max|w| / 127, q = round(w / scale). */
    static void quantizeRow(float[] row, int n, MemorySegment q, long qo, float[] scales, int so) {
        int g = PackedWeight.GROUP;
        for (int i0 = 0, gi = 0; i0 < n; i0 += g, gi++) {
            int end = Math.min(n, i0 + g);
            float max = 0f;
            int i = i0;
            if (end - i0 >= Dots.L) {
                FloatVector m = FloatVector.zero(Dots.F);
                for (; i + Dots.L <= end; i += Dots.L) m = m.max(FloatVector.fromArray(Dots.F, row, i).abs());
                max = m.reduceLanes(VectorOperators.MAX);
            }
            for (; i < end; i++) max = Math.max(max, Math.abs(row[i]));
            float scale = max / 127f;
            float inv = scale == 0f ? 0f : 1f / scale;
            scales[so + gi] = scale;
            for (i = i0; i < end; i++) {
                int v = Math.round(row[i] * inv);
                q.set(ValueLayout.JAVA_BYTE, qo + i, (byte) Math.max(-127, Math.min(127, v)));
            }
        }
    }

    @Override
    public synchronized void close() {
        packed.clear();
        floats.clear();
        arena.close();
    }
}
