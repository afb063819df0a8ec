package dev.fathom.engine.cpu.vector;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Dot-product micro-kernels of one weight row against 1 or 4 activation rows, reading the weight row in
 * place from a memory segment. Accumulation is float32 in vector lanes.
 *
 * <p>BF16 rows are read as int lanes: lane j of a block of 2L elements holds element 2j in its low half
 * and 2j+1 in its high half, so {@code bits << 16} and {@code bits & 0xffff0000} are the even and odd
 * elements as floats, with no conversion instruction. The activation row is therefore passed
 * <em>permuted</em> ({@link #permuteForBf16}): per block of 2L, the L even elements then the L odd ones;
 * the tail past the last full block stays in natural order.
 */
final class Dots {
    private Dots() {}

    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    static final int L = F.length();
    static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(L * 16));
    static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(L * 8));
    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);
    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);
    private static final int HI = 0xffff0000;

    static float bf16(short s) { return Float.intBitsToFloat((s & 0xffff) << 16); }

    /** Writes x[row r, 0..n) of {@code rows} rows into {@code xp} in the BF16 block order. */
    static void permuteForBf16(float[] x, int rows, int n, float[] xp) {
        int blocks = n / (2 * L);
        for (int r = 0; r < rows; r++) {
            int o = r * n;
            for (int b = 0; b < blocks; b++) {
                int base = o + b * 2 * L;
                for (int j = 0; j < L; j++) {
                    xp[base + j] = x[base + 2 * j];
                    xp[base + L + j] = x[base + 2 * j + 1];
                }
            }
            for (int i = blocks * 2 * L; i < n; i++) xp[o + i] = x[o + i];
        }
    }

    // ------------------------------------------------------------------ F32

    static float f32x1(MemorySegment w, long wo, float[] x, int xo, int n) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        int i = 0;
        for (; i + 4 * L <= n; i += 4 * L) {
            long p = wo + (long) i * 4;
            a0 = FloatVector.fromMemorySegment(F, w, p, LE).fma(FloatVector.fromArray(F, x, xo + i), a0);
            a1 = FloatVector.fromMemorySegment(F, w, p + 4L * L, LE).fma(FloatVector.fromArray(F, x, xo + i + L), a1);
            a2 = FloatVector.fromMemorySegment(F, w, p + 8L * L, LE).fma(FloatVector.fromArray(F, x, xo + i + 2 * L), a2);
            a3 = FloatVector.fromMemorySegment(F, w, p + 12L * L, LE).fma(FloatVector.fromArray(F, x, xo + i + 3 * L), a3);
        }
        for (; i + L <= n; i += L)
            a0 = FloatVector.fromMemorySegment(F, w, wo + (long) i * 4, LE).fma(FloatVector.fromArray(F, x, xo + i), a0);
        float s = a0.add(a1).add(a2.add(a3)).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) s += w.get(F32, wo + (long) i * 4) * x[xo + i];
        return s;
    }

    /** y[k*ys + yi] = row . x[k-th row] + bias for k < 4; x rows are {@code n} apart. */
    static void f32x4(MemorySegment w, long wo, float[] x, int xo, int n, float[] y, int yi, int ys, float bias) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector wv = FloatVector.fromMemorySegment(F, w, wo + (long) i * 4, LE);
            a0 = wv.fma(FloatVector.fromArray(F, x, xo + i), a0);
            a1 = wv.fma(FloatVector.fromArray(F, x, xo + n + i), a1);
            a2 = wv.fma(FloatVector.fromArray(F, x, xo + 2 * n + i), a2);
            a3 = wv.fma(FloatVector.fromArray(F, x, xo + 3 * n + i), a3);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD), s1 = a1.reduceLanes(VectorOperators.ADD),
                s2 = a2.reduceLanes(VectorOperators.ADD), s3 = a3.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            float wv = w.get(F32, wo + (long) i * 4);
            s0 += wv * x[xo + i];
            s1 += wv * x[xo + n + i];
            s2 += wv * x[xo + 2 * n + i];
            s3 += wv * x[xo + 3 * n + i];
        }
        y[yi] = s0 + bias;
        y[yi + ys] = s1 + bias;
        y[yi + 2 * ys] = s2 + bias;
        y[yi + 3 * ys] = s3 + bias;
    }

    // ------------------------------------------------------------------ BF16 (x permuted)

    static float bf16x1(MemorySegment w, long wo, float[] xp, int xo, int n) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        int i = 0;
        for (; i + 4 * L <= n; i += 4 * L) {
            long p = wo + (long) i * 2;
            IntVector b0 = IntVector.fromMemorySegment(I, w, p, LE);
            IntVector b1 = IntVector.fromMemorySegment(I, w, p + 4L * L, LE);
            a0 = b0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(FloatVector.fromArray(F, xp, xo + i), a0);
            a1 = b0.and(HI).reinterpretAsFloats().fma(FloatVector.fromArray(F, xp, xo + i + L), a1);
            a2 = b1.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(FloatVector.fromArray(F, xp, xo + i + 2 * L), a2);
            a3 = b1.and(HI).reinterpretAsFloats().fma(FloatVector.fromArray(F, xp, xo + i + 3 * L), a3);
        }
        for (; i + 2 * L <= n; i += 2 * L) {
            IntVector b0 = IntVector.fromMemorySegment(I, w, wo + (long) i * 2, LE);
            a0 = b0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(FloatVector.fromArray(F, xp, xo + i), a0);
            a1 = b0.and(HI).reinterpretAsFloats().fma(FloatVector.fromArray(F, xp, xo + i + L), a1);
        }
        float s = a0.add(a1).add(a2.add(a3)).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) s += bf16(w.get(I16, wo + (long) i * 2)) * xp[xo + i];
        return s;
    }

    /**
     * Four weight rows (at {@code wo + k*rs}) against one activation row: y[yi + k] = row k . x + bias[k]. Four
     * independent weight streams per thread keep more memory requests in flight than one row at a time, and each
     * activation vector is loaded once for the four rows.
     */
    static void bf16r4(MemorySegment w, long wo, long rs, float[] xp, int xo, int n, float[] y, int yi, float[] bias, int bo) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        FloatVector c0 = FloatVector.zero(F), c1 = FloatVector.zero(F), c2 = FloatVector.zero(F), c3 = FloatVector.zero(F);
        int i = 0;
        for (; i + 2 * L <= n; i += 2 * L) {
            long p = wo + (long) i * 2;
            FloatVector xe = FloatVector.fromArray(F, xp, xo + i), xo2 = FloatVector.fromArray(F, xp, xo + i + L);
            IntVector b0 = IntVector.fromMemorySegment(I, w, p, LE);
            IntVector b1 = IntVector.fromMemorySegment(I, w, p + rs, LE);
            IntVector b2 = IntVector.fromMemorySegment(I, w, p + 2 * rs, LE);
            IntVector b3 = IntVector.fromMemorySegment(I, w, p + 3 * rs, LE);
            a0 = b0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, a0);
            c0 = b0.and(HI).reinterpretAsFloats().fma(xo2, c0);
            a1 = b1.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, a1);
            c1 = b1.and(HI).reinterpretAsFloats().fma(xo2, c1);
            a2 = b2.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, a2);
            c2 = b2.and(HI).reinterpretAsFloats().fma(xo2, c2);
            a3 = b3.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, a3);
            c3 = b3.and(HI).reinterpretAsFloats().fma(xo2, c3);
        }
        float s0 = a0.add(c0).reduceLanes(VectorOperators.ADD), s1 = a1.add(c1).reduceLanes(VectorOperators.ADD),
                s2 = a2.add(c2).reduceLanes(VectorOperators.ADD), s3 = a3.add(c3).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            float xv = xp[xo + i];
            long q = wo + (long) i * 2;
            s0 += bf16(w.get(I16, q)) * xv;
            s1 += bf16(w.get(I16, q + rs)) * xv;
            s2 += bf16(w.get(I16, q + 2 * rs)) * xv;
            s3 += bf16(w.get(I16, q + 3 * rs)) * xv;
        }
        y[yi] = s0 + (bias == null ? 0f : bias[bo]);
        y[yi + 1] = s1 + (bias == null ? 0f : bias[bo + 1]);
        y[yi + 2] = s2 + (bias == null ? 0f : bias[bo + 2]);
        y[yi + 3] = s3 + (bias == null ? 0f : bias[bo + 3]);
    }

    /** F32 form of {@link #bf16r4}. */
    static void f32r4(MemorySegment w, long wo, long rs, float[] x, int xo, int n, float[] y, int yi, float[] bias, int bo) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        int i = 0;
        for (; i + L <= n; i += L) {
            long p = wo + (long) i * 4;
            FloatVector xv = FloatVector.fromArray(F, x, xo + i);
            a0 = FloatVector.fromMemorySegment(F, w, p, LE).fma(xv, a0);
            a1 = FloatVector.fromMemorySegment(F, w, p + rs, LE).fma(xv, a1);
            a2 = FloatVector.fromMemorySegment(F, w, p + 2 * rs, LE).fma(xv, a2);
            a3 = FloatVector.fromMemorySegment(F, w, p + 3 * rs, LE).fma(xv, a3);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD), s1 = a1.reduceLanes(VectorOperators.ADD),
                s2 = a2.reduceLanes(VectorOperators.ADD), s3 = a3.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            float xv = x[xo + i];
            long q = wo + (long) i * 4;
            s0 += w.get(F32, q) * xv;
            s1 += w.get(F32, q + rs) * xv;
            s2 += w.get(F32, q + 2 * rs) * xv;
            s3 += w.get(F32, q + 3 * rs) * xv;
        }
        y[yi] = s0 + (bias == null ? 0f : bias[bo]);
        y[yi + 1] = s1 + (bias == null ? 0f : bias[bo + 1]);
        y[yi + 2] = s2 + (bias == null ? 0f : bias[bo + 2]);
        y[yi + 3] = s3 + (bias == null ? 0f : bias[bo + 3]);
    }

    static void bf16x4(MemorySegment w, long wo, float[] xp, int xo, int n, float[] y, int yi, int ys, float bias) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        int i = 0;
        for (; i + 2 * L <= n; i += 2 * L) {
            IntVector b = IntVector.fromMemorySegment(I, w, wo + (long) i * 2, LE);
            FloatVector lo = b.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            FloatVector hi = b.and(HI).reinterpretAsFloats();
            a0 = hi.fma(FloatVector.fromArray(F, xp, xo + i + L), lo.fma(FloatVector.fromArray(F, xp, xo + i), a0));
            a1 = hi.fma(FloatVector.fromArray(F, xp, xo + n + i + L), lo.fma(FloatVector.fromArray(F, xp, xo + n + i), a1));
            a2 = hi.fma(FloatVector.fromArray(F, xp, xo + 2 * n + i + L), lo.fma(FloatVector.fromArray(F, xp, xo + 2 * n + i), a2));
            a3 = hi.fma(FloatVector.fromArray(F, xp, xo + 3 * n + i + L), lo.fma(FloatVector.fromArray(F, xp, xo + 3 * n + i), a3));
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD), s1 = a1.reduceLanes(VectorOperators.ADD),
                s2 = a2.reduceLanes(VectorOperators.ADD), s3 = a3.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            float wv = bf16(w.get(I16, wo + (long) i * 2));
            s0 += wv * xp[xo + i];
            s1 += wv * xp[xo + n + i];
            s2 += wv * xp[xo + 2 * n + i];
            s3 += wv * xp[xo + 3 * n + i];
        }
        y[yi] = s0 + bias;
        y[yi + ys] = s1 + bias;
        y[yi + 2 * ys] = s2 + bias;
        y[yi + 3 * ys] = s3 + bias;
    }

    // ------------------------------------------------------------------ INT8 (per-group scales, x permuted by 4)

    /*
     * INT8 rows are read as int lanes too: lane j of a chunk of 4L bytes holds elements 4j..4j+3, and
     * (bits << 24) >> 24, (bits << 16) >> 24, (bits << 8) >> 24, bits >> 24 sign-extend element 4j+k
     * for k = 0..3 with plain shifts, then one int-to-float conversion each. The activation row is
     * passed permuted (permuteForInt8): per chunk of 4L, for k = 0..3 the L elements 4j+k.
     */

    /** Writes x[row r, 0..n) of {@code rows} rows into {@code xq} in the INT8 chunk order. */
    static void permuteForInt8(float[] x, int rows, int n, float[] xq) {
        int chunk = 4 * L, chunks = n / chunk;
        for (int r = 0; r < rows; r++) {
            int o = r * n;
            for (int c = 0; c < chunks; c++) {
                int base = o + c * chunk;
                for (int k = 0; k < 4; k++)
                    for (int j = 0; j < L; j++) xq[base + k * L + j] = x[base + 4 * j + k];
            }
            for (int i = chunks * chunk; i < n; i++) xq[o + i] = x[o + i];
        }
    }

    private static FloatVector part(IntVector b, int k) {
        IntVector v = k == 3 ? b : b.lanewise(VectorOperators.LSHL, 24 - 8 * k);
        return (FloatVector) v.lanewise(VectorOperators.ASHR, 24).convert(VectorOperators.I2F, 0);
    }

    static float int8x1(MemorySegment w, long wo, float[] sc, int so, float[] x, int xo, int n) {
        FloatVector acc0 = FloatVector.zero(F), acc1 = FloatVector.zero(F);
        final int g = PackedWeight.GROUP, chunk = 4 * L;
        int full = n / g, gi = 0;
        for (; gi < full; gi++) {
            int i0 = gi * g;
            FloatVector g0 = FloatVector.zero(F), g1 = FloatVector.zero(F), g2 = FloatVector.zero(F), g3 = FloatVector.zero(F);
            for (int c = 0; c < g; c += chunk) {
                IntVector b = IntVector.fromMemorySegment(I, w, wo + i0 + c, LE);
                int xi = xo + i0 + c;
                g0 = part(b, 0).fma(FloatVector.fromArray(F, x, xi), g0);
                g1 = part(b, 1).fma(FloatVector.fromArray(F, x, xi + L), g1);
                g2 = part(b, 2).fma(FloatVector.fromArray(F, x, xi + 2 * L), g2);
                g3 = part(b, 3).fma(FloatVector.fromArray(F, x, xi + 3 * L), g3);
            }
            FloatVector s = FloatVector.broadcast(F, sc[so + gi]);
            FloatVector gs = g0.add(g1).add(g2.add(g3));
            if ((gi & 1) == 0) acc0 = gs.fma(s, acc0);
            else acc1 = gs.fma(s, acc1);
        }
        float tail = 0f;
        for (int i = full * g; i < n; i++)
            tail += w.get(ValueLayout.JAVA_BYTE, wo + i) * sc[so + i / g] * x[xo + i];
        return acc0.add(acc1).reduceLanes(VectorOperators.ADD) + tail;
    }

    /**
     * Four INT8 rows (at {@code wo + k*rs}, scales at {@code so + k*gs}) against one activation row (permuted by 4):
     * y[yi + k] = row k . x + bias[bo + k]. Four independent rows give the out-of-order core four dependency
     * chains and four memory streams where one row at a time left it waiting.
     */
    static void int8r4(MemorySegment w, long wo, long rs, float[] sc, int so, int gs, float[] x, int xo, int n,
                       float[] y, int yi, float[] bias, int bo) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        final int g = PackedWeight.GROUP, chunk = 4 * L;
        int full = n / g;
        for (int gi = 0; gi < full; gi++) {
            int i0 = gi * g;
            FloatVector g0 = FloatVector.zero(F), g1 = FloatVector.zero(F), g2 = FloatVector.zero(F), g3 = FloatVector.zero(F);
            for (int c = 0; c < g; c += chunk) {
                long p = wo + i0 + c;
                IntVector b0 = IntVector.fromMemorySegment(I, w, p, LE);
                IntVector b1 = IntVector.fromMemorySegment(I, w, p + rs, LE);
                IntVector b2 = IntVector.fromMemorySegment(I, w, p + 2 * rs, LE);
                IntVector b3 = IntVector.fromMemorySegment(I, w, p + 3 * rs, LE);
                for (int k = 0; k < 4; k++) {
                    FloatVector xv = FloatVector.fromArray(F, x, xo + i0 + c + k * L);
                    g0 = part(b0, k).fma(xv, g0);
                    g1 = part(b1, k).fma(xv, g1);
                    g2 = part(b2, k).fma(xv, g2);
                    g3 = part(b3, k).fma(xv, g3);
                }
            }
            a0 = g0.fma(FloatVector.broadcast(F, sc[so + gi]), a0);
            a1 = g1.fma(FloatVector.broadcast(F, sc[so + gs + gi]), a1);
            a2 = g2.fma(FloatVector.broadcast(F, sc[so + 2 * gs + gi]), a2);
            a3 = g3.fma(FloatVector.broadcast(F, sc[so + 3 * gs + gi]), a3);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD), s1 = a1.reduceLanes(VectorOperators.ADD),
                s2 = a2.reduceLanes(VectorOperators.ADD), s3 = a3.reduceLanes(VectorOperators.ADD);
        for (int i = full * g; i < n; i++) {
            float xv = x[xo + i];
            long q = wo + i;
            int gi = i / g;
            s0 += w.get(ValueLayout.JAVA_BYTE, q) * sc[so + gi] * xv;
            s1 += w.get(ValueLayout.JAVA_BYTE, q + rs) * sc[so + gs + gi] * xv;
            s2 += w.get(ValueLayout.JAVA_BYTE, q + 2 * rs) * sc[so + 2 * gs + gi] * xv;
            s3 += w.get(ValueLayout.JAVA_BYTE, q + 3 * rs) * sc[so + 3 * gs + gi] * xv;
        }
        y[yi] = s0 + (bias == null ? 0f : bias[bo]);
        y[yi + 1] = s1 + (bias == null ? 0f : bias[bo + 1]);
        y[yi + 2] = s2 + (bias == null ? 0f : bias[bo + 2]);
        y[yi + 3] = s3 + (bias == null ? 0f : bias[bo + 3]);
    }

    static void int8x4(MemorySegment w, long wo, float[] sc, int so, float[] x, int xo, int n, float[] y, int yi,
                       int ys, float bias) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        final int g = PackedWeight.GROUP, chunk = 4 * L;
        int full = n / g;
        for (int gi = 0; gi < full; gi++) {
            int i0 = gi * g;
            FloatVector g0 = FloatVector.zero(F), g1 = FloatVector.zero(F), g2 = FloatVector.zero(F), g3 = FloatVector.zero(F);
            for (int c = 0; c < g; c += chunk) {
                IntVector b = IntVector.fromMemorySegment(I, w, wo + i0 + c, LE);
                for (int k = 0; k < 4; k++) {
                    FloatVector wv = part(b, k);
                    int xi = xo + i0 + c + k * L;
                    g0 = wv.fma(FloatVector.fromArray(F, x, xi), g0);
                    g1 = wv.fma(FloatVector.fromArray(F, x, xi + n), g1);
                    g2 = wv.fma(FloatVector.fromArray(F, x, xi + 2 * n), g2);
                    g3 = wv.fma(FloatVector.fromArray(F, x, xi + 3 * n), g3);
                }
            }
            FloatVector s = FloatVector.broadcast(F, sc[so + gi]);
            a0 = g0.fma(s, a0);
            a1 = g1.fma(s, a1);
            a2 = g2.fma(s, a2);
            a3 = g3.fma(s, a3);
        }
        float t0 = 0, t1 = 0, t2 = 0, t3 = 0;
        for (int i = full * g; i < n; i++) {
            float wv = w.get(ValueLayout.JAVA_BYTE, wo + i) * sc[so + i / g];
            t0 += wv * x[xo + i];
            t1 += wv * x[xo + n + i];
            t2 += wv * x[xo + 2 * n + i];
            t3 += wv * x[xo + 3 * n + i];
        }
        y[yi] = a0.reduceLanes(VectorOperators.ADD) + t0 + bias;
        y[yi + ys] = a1.reduceLanes(VectorOperators.ADD) + t1 + bias;
        y[yi + 2 * ys] = a2.reduceLanes(VectorOperators.ADD) + t2 + bias;
        y[yi + 3 * ys] = a3.reduceLanes(VectorOperators.ADD) + t3 + bias;
    }

    // ------------------------------------------------------------------ float rows (heap)

    /** Converts row {@code r} of {@code pw} to float32 into dst[off..off+cols). */
    static void rowToFloat(PackedWeight pw, int r, float[] dst, int off) {
        MemorySegment w = pw.data();
        long wo = pw.rowOffset(r);
        int n = pw.cols();
        switch (pw.format()) {
            case F32 -> MemorySegment.copy(w, F32, wo, dst, off, n);
            case BF16 -> {
                int i = 0;
                for (; i + L <= n; i += L)
                    ((IntVector) ShortVector.fromMemorySegment(S, w, wo + 2L * i, LE).convertShape(VectorOperators.S2I, I, 0))
                            .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(dst, off + i);
                for (; i < n; i++) dst[off + i] = bf16(w.get(I16, wo + 2L * i));
            }
            case F16 -> { for (int i = 0; i < n; i++) dst[off + i] = Float.float16ToFloat(w.get(I16, wo + 2L * i)); }
            case INT8 -> {
                int so = r * pw.groups();
                for (int i = 0; i < n; i++) dst[off + i] = w.get(ValueLayout.JAVA_BYTE, wo + i) * pw.scales()[so + i / PackedWeight.GROUP];
            }
        }
    }

    /**
     * Row {@code r} as float32 in the order the blocked tile reads it: BF16 and INT8 rows in their
     * permuted orders (matching {@link #permuteForBf16} / {@link #permuteForInt8} activations), F32 and
     * F16 in natural order.
     */
    static void rowToFloatBlocked(PackedWeight pw, int r, float[] dst, int off) {
        MemorySegment w = pw.data();
        long wo = pw.rowOffset(r);
        int n = pw.cols();
        switch (pw.format()) {
            case BF16 -> {
                int i = 0;
                for (; i + 2 * L <= n; i += 2 * L) {
                    IntVector b = IntVector.fromMemorySegment(I, w, wo + 2L * i, LE);
                    b.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(dst, off + i);
                    b.and(HI).reinterpretAsFloats().intoArray(dst, off + i + L);
                }
                for (; i < n; i++) dst[off + i] = bf16(w.get(I16, wo + 2L * i));
            }
            case INT8 -> {
                int so = r * pw.groups();
                float[] sc = pw.scales();
                int g = PackedWeight.GROUP, full = n / g;
                for (int gi = 0; gi < full; gi++) {
                    FloatVector sv = FloatVector.broadcast(F, sc[so + gi]);
                    for (int c = 0; c < g; c += 4 * L) {
                        int i = gi * g + c;
                        IntVector b = IntVector.fromMemorySegment(I, w, wo + i, LE);
                        for (int k = 0; k < 4; k++) part(b, k).mul(sv).intoArray(dst, off + i + k * L);
                    }
                }
                for (int i = full * g; i < n; i++) dst[off + i] = w.get(ValueLayout.JAVA_BYTE, wo + i) * sc[so + i / g];
            }
            default -> rowToFloat(pw, r, dst, off);
        }
    }

    static float dot(float[] a, int ao, float[] b, int bo, int n) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F);
        int i = 0;
        for (; i + 2 * L <= n; i += 2 * L) {
            a0 = FloatVector.fromArray(F, a, ao + i).fma(FloatVector.fromArray(F, b, bo + i), a0);
            a1 = FloatVector.fromArray(F, a, ao + i + L).fma(FloatVector.fromArray(F, b, bo + i + L), a1);
        }
        for (; i + L <= n; i += L) a0 = FloatVector.fromArray(F, a, ao + i).fma(FloatVector.fromArray(F, b, bo + i), a0);
        float s = a0.add(a1).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) s += a[ao + i] * b[bo + i];
        return s;
    }

    /** y[yo..] += a * x[xo..] over n. */
    static void axpy(float a, float[] x, int xo, float[] y, int yo, int n) {
        FloatVector av = FloatVector.broadcast(F, a);
        int i = 0;
        for (; i + L <= n; i += L)
            FloatVector.fromArray(F, x, xo + i).fma(av, FloatVector.fromArray(F, y, yo + i)).intoArray(y, yo + i);
        for (; i < n; i++) y[yo + i] += a * x[xo + i];
    }

    /**
     * Two float weight rows (w[wo..], w[wo+n..]) against four activation rows x[xo + k*n ..]:
     * y[(r+k)*ys + o + j] for k < 4, j < 2.
     */
    static void tile2x4(float[] w, int wo, float[] x, int xo, int n, float[] y, int yi, int ys, float b0, float b1) {
        FloatVector c00 = FloatVector.zero(F), c01 = FloatVector.zero(F), c02 = FloatVector.zero(F), c03 = FloatVector.zero(F);
        FloatVector c10 = FloatVector.zero(F), c11 = FloatVector.zero(F), c12 = FloatVector.zero(F), c13 = FloatVector.zero(F);
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector w0 = FloatVector.fromArray(F, w, wo + i), w1 = FloatVector.fromArray(F, w, wo + n + i);
            FloatVector x0 = FloatVector.fromArray(F, x, xo + i);
            c00 = w0.fma(x0, c00);
            c10 = w1.fma(x0, c10);
            FloatVector x1 = FloatVector.fromArray(F, x, xo + n + i);
            c01 = w0.fma(x1, c01);
            c11 = w1.fma(x1, c11);
            FloatVector x2 = FloatVector.fromArray(F, x, xo + 2 * n + i);
            c02 = w0.fma(x2, c02);
            c12 = w1.fma(x2, c12);
            FloatVector x3 = FloatVector.fromArray(F, x, xo + 3 * n + i);
            c03 = w0.fma(x3, c03);
            c13 = w1.fma(x3, c13);
        }
        float s00 = c00.reduceLanes(VectorOperators.ADD), s01 = c01.reduceLanes(VectorOperators.ADD),
                s02 = c02.reduceLanes(VectorOperators.ADD), s03 = c03.reduceLanes(VectorOperators.ADD),
                s10 = c10.reduceLanes(VectorOperators.ADD), s11 = c11.reduceLanes(VectorOperators.ADD),
                s12 = c12.reduceLanes(VectorOperators.ADD), s13 = c13.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            float w0 = w[wo + i], w1 = w[wo + n + i];
            float x0 = x[xo + i], x1 = x[xo + n + i], x2 = x[xo + 2 * n + i], x3 = x[xo + 3 * n + i];
            s00 += w0 * x0; s01 += w0 * x1; s02 += w0 * x2; s03 += w0 * x3;
            s10 += w1 * x0; s11 += w1 * x1; s12 += w1 * x2; s13 += w1 * x3;
        }
        y[yi] = s00 + b0; y[yi + 1] = s10 + b1;
        y[yi + ys] = s01 + b0; y[yi + ys + 1] = s11 + b1;
        y[yi + 2 * ys] = s02 + b0; y[yi + 2 * ys + 1] = s12 + b1;
        y[yi + 3 * ys] = s03 + b0; y[yi + 3 * ys + 1] = s13 + b1;
    }
}
