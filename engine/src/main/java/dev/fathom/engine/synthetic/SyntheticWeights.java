package dev.fathom.engine.synthetic;

import dev.fathom.engine.tensor.DType;
import dev.fathom.engine.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.stream.IntStream;

/**
 * Deterministic random tensors: each block of {@value #BLOCK} elements has its own generator seeded from
 * (seed, tensor name, block), so the values do not depend on how many threads fill them.
 */
public final class SyntheticWeights {
    static final int BLOCK = 1 << 16;

    private SyntheticWeights() {}

    /** Uniform values in [-a, a] with standard deviation {@code std}, or the constant {@code fill} when std == 0. */
    public static Tensor random(String name, DType dtype, long[] shape, double std, float fill, long seed, Arena arena) {
        long n = 1;
        for (long d : shape) n *= d;
        MemorySegment seg = arena.allocate(n * dtype.size, 64);
        long blocks = (n + BLOCK - 1) / BLOCK;
        long nameHash = seed * 0x9E3779B97F4A7C15L ^ name.hashCode() * 0xC2B2AE3D27D4EB4FL;
        final long total = n;
        final float a = (float) (std * Math.sqrt(3));
        IntStream.range(0, (int) blocks).parallel().forEach(b -> {
            long s = mix(nameHash + b);
            long start = (long) b * BLOCK;
            int len = (int) Math.min(total - start, BLOCK);
            float[] vals = new float[len];
            for (int i = 0; i < len; i++) {
                if (std == 0) vals[i] = fill;
                else {
                    s ^= s << 13; s ^= s >>> 7; s ^= s << 17;
                    vals[i] = fill + a * ((s >>> 40) * (1.0f / (1L << 23)) - 1.0f);
                }
            }
            switch (dtype) {
                case F32 -> MemorySegment.copy(vals, 0, seg, Tensor.F32, start * 4, len);
                case BF16, F16 -> {
                    short[] half = new short[len];
                    for (int i = 0; i < len; i++) half[i] = dtype == DType.BF16 ? DType.floatToBf16(vals[i]) : Float.floatToFloat16(vals[i]);
                    MemorySegment.copy(half, 0, seg, Tensor.I16, start * 2, len);
                }
                default -> throw new IllegalArgumentException(dtype.name());
            }
        });
        return new Tensor(name, dtype, shape, seg);
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        z = z ^ (z >>> 31);
        return z == 0 ? 0x1234567L : z;
    }
}
