package dev.fathom.cuda;

import dev.fathom.engine.tensor.DType;
import dev.fathom.engine.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.stream.IntStream;

/**
 * The SBI-GEMM weight layout and launch sizing, host side (no GPU needed; tested on the CPU).
 *
 * <p>A projection's rows are stored in groups of four, and each group's K dimension in chunks of
 * {@code 32 * EPV} elements ({@code EPV} = elements per 16-byte vector: 4 for F32, 8 for BF16/F16):
 * {@code W[g][c][r][lane][e]}. Lane {@code lane} of the warp that owns group {@code g} loads the
 * 16-byte vector {@code [g][c][r][lane]} for each of the 4 rows, so one warp instruction reads 512
 * contiguous bytes and a warp's four loads of a chunk read 2 KB in one run. Rows and K are padded
 * with zeros to whole groups and chunks.
 */
public final class SbiLayout {
    private SbiLayout() {}

    /** Rows of a group, warps per block, bytes per vector. */
    public static final int GROUP = 4, WARPS = 8, VEC_BYTES = 16;

    public static int epv(DType dt) {
        return switch (dt) {
            case F32 -> 4;
            case BF16, F16 -> 8;
            default -> throw new IllegalArgumentException("SBI-GEMM has no kernel for " + dt + " weights");
        };
    }

    public static int chunk(DType dt) { return 32 * epv(dt); }

    /**
     * A packed matrix.
     *
     * @param n       outputs the kernel writes (for gated pairs: the activation width)
     * @param k       inner dimension
     * @param groups  row groups: 4 rows (SIMT layout) or 16 rows (tensor-core tile layout)
     * @param kChunks chunks of K: 32*EPV elements (SIMT) or 16 (tiles)
     * @param mma      tensor-core tile layout (BF16 only)
     * @param rowMajor the SIMT kernels' reading order over plain row-major rows (K padded to whole chunks): what
     *                 cuBLAS reads too, so the prompt phase needs no unpacking (BF16 at batch 1)
     */
    public record Shape(int n, int k, int groups, int kChunks, DType dtype, boolean mma, boolean rowMajor) {
        public Shape(int n, int k, int groups, int kChunks, DType dtype) { this(n, k, groups, kChunks, dtype, false, false); }
        public Shape(int n, int k, int groups, int kChunks, DType dtype, boolean mma) { this(n, k, groups, kChunks, dtype, mma, false); }

        public int groupRows() { return mma ? MMA_GROUP : GROUP; }
        public long bytes() { return (long) groups * kChunks * 32 * VEC_BYTES * (mma ? 1 : GROUP); }

        /** Element offset of (stored row s, column kk) in the packed array. */
        public long index(int s, int kk) {
            if (mma) {
                int rt = s / MMA_GROUP, rr = s % MMA_GROUP, kt = kk / 16, kin = kk % 16;
                int lane = (rr % 8) * 4 + (kin % 8) / 2, reg = rr / 8 + 2 * (kin / 8);
                return (((long) rt * kChunks + kt) * 32 + lane) * 8 + reg * 2 + (kin % 2);
            }
            int ch = chunk(dtype);
            if (rowMajor) return (long) s * kChunks * ch + kk;
            int g = s / GROUP, r = s % GROUP, c = kk / ch, w = kk % ch;
            return (((long) g * kChunks + c) * GROUP + r) * ch + w;
        }

        /** The shape of an n x k matrix stored as {@code storedRows} rows. */
        public static Shape of(int n, int k, int storedRows, DType dt, boolean mma) { return of(n, k, storedRows, dt, mma, false); }

        public static Shape of(int n, int k, int storedRows, DType dt, boolean mma, boolean rowMajor) {
            int gr = mma ? MMA_GROUP : GROUP;
            int kc = mma ? (k + 15) / 16 : (k + chunk(dt) - 1) / chunk(dt);
            return new Shape(n, k, storedRows / gr, kc, dt, mma, rowMajor && !mma);
        }
    }

    /** Rows of a tensor-core tile. */
    public static final int MMA_GROUP = 16;

    /**
     * Packs rows into the layout: stored row {@code s} is row {@code srcRow[s]} of {@code src[srcIdx[s]]},
     * or zeros where {@code srcIdx[s] < 0}. Every source has {@code k} columns; values are converted to
     * {@code dt} when a source has another dtype. {@code mma} selects the tensor-core tile layout (BF16).
     */
    public static MemorySegment pack(Tensor[] src, int[] srcIdx, int[] srcRow, int n, int k, DType dt, boolean mma,
                                     Arena arena, Shape[] shapeOut) {
        return pack(src, srcIdx, srcRow, n, k, dt, mma, false, arena, shapeOut);
    }

    /** Same; {@code rowMajor} (SIMT kernels only) stores the rows plainly, K padded to whole chunks. */
    public static MemorySegment pack(Tensor[] src, int[] srcIdx, int[] srcRow, int n, int k, DType dt, boolean mma,
                                     boolean rowMajor, Arena arena, Shape[] shapeOut) {
        int stored = srcIdx.length;
        int gr = mma ? MMA_GROUP : GROUP;
        if (stored % gr != 0) throw new IllegalArgumentException("stored rows must be a multiple of " + gr);
        if (mma && dt != DType.BF16) throw new IllegalArgumentException("the tile layout holds BF16 only");
        Shape shape = Shape.of(n, k, stored, dt, mma, rowMajor);
        int ch = mma ? 16 : chunk(dt), kc = shape.kChunks();
        MemorySegment dst = arena.allocate(shape.bytes(), 64);   // zero-filled: padding stays zero
        int es = dt.size;
        Thread other = Thread.ofVirtual().unstarted(() -> { });
        boolean shared = dst.isAccessibleBy(other);
        for (Tensor t : src) shared &= t == null || t.data().isAccessibleBy(other);
        IntStream rowsToPack = IntStream.range(0, stored);
        (shared ? rowsToPack.parallel() : rowsToPack).forEach(s -> {
            if (srcIdx[s] < 0) return;
            Tensor t = src[srcIdx[s]];
            if (t.cols() != k) throw new IllegalArgumentException(t + " has " + t.cols() + " columns, expected " + k);
            long rowBase = (long) srcRow[s] * t.ld();
            if (mma) {
                boolean same = t.dtype() == dt;
                for (int kk = 0; kk < k; kk++) {
                    long d = shape.index(s, kk) * es;
                    if (same) dst.set(Tensor.I16, d, t.data().get(Tensor.I16, (rowBase + kk) * 2));
                    else put(dst, dt, d, t.getFloat(rowBase + kk));
                }
                return;
            }
            for (int c = 0; c < kc; c++) {
                int len = Math.min(ch, k - c * ch);
                long d = shape.index(s, c * ch) * es;
                if (t.dtype() == dt) {
                    MemorySegment.copy(t.data(), (rowBase + (long) c * ch) * es, dst, d, (long) len * es);
                } else {
                    for (int i = 0; i < len; i++) put(dst, dt, d + (long) i * es, t.getFloat(rowBase + (long) c * ch + i));
                }
            }
        });
        shapeOut[0] = shape;
        return dst;
    }

    public static MemorySegment pack(Tensor[] src, int[] srcIdx, int[] srcRow, int n, int k, DType dt, Arena arena, Shape[] shapeOut) {
        return pack(src, srcIdx, srcRow, n, k, dt, false, arena, shapeOut);
    }

    private static void put(MemorySegment m, DType dt, long off, float v) {
        switch (dt) {
            case F32 -> m.set(Tensor.F32, off, v);
            case BF16 -> m.set(Tensor.I16, off, DType.floatToBf16(v));
            case F16 -> m.set(Tensor.I16, off, Float.floatToFloat16(v));
            default -> throw new IllegalArgumentException(dt.name());
        }
    }

    /** Rows of the given matrices stacked (e.g. q, k, v into one QKV projection), padded to a whole group. */
    public static int[][] stacked(Tensor... ms) { return stacked(GROUP, ms); }

    public static int[][] stacked(int group, Tensor... ms) {
        int total = 0;
        for (Tensor m : ms) total += m.rows();
        int stored = (total + group - 1) / group * group;
        int[] idx = new int[stored], row = new int[stored];
        java.util.Arrays.fill(idx, -1);
        int s = 0;
        for (int i = 0; i < ms.length; i++)
            for (int r = 0; r < ms[i].rows(); r++) { idx[s] = i; row[s] = r; s++; }
        return new int[][]{idx, row};
    }

    /**
     * Gate and up rows interleaved for the fused gated-activation epilogue: group g holds
     * [gate 2g, gate 2g+1, up 2g, up 2g+1] (zeros past the end), so output i = act(gate i) * up i
     * is computed by the warp that owns both.
     */
    public static int[][] gatedPairs(int f) { return gatedPairs(f, GROUP); }

    /** Same for any group size: the first half of each group holds gate rows, the second half the matching up rows. */
    public static int[][] gatedPairs(int f, int group) {
        int half = group / 2, groups = (f + half - 1) / half, stored = groups * group;
        int[] idx = new int[stored], row = new int[stored];
        for (int g = 0; g < groups; g++)
            for (int i = 0; i < half; i++) {
                int o = half * g + i;
                idx[g * group + i] = o < f ? 0 : -1;          // source 0 = gate
                row[g * group + i] = o;
                idx[g * group + half + i] = o < f ? 1 : -1;   // source 1 = up
                row[g * group + half + i] = o;
            }
        return new int[][]{idx, row};
    }

    /** A vector (bias) permuted the same way as stored rows; null sources read as zero. */
    public static float[] permute(Tensor[] src, int[] srcIdx, int[] srcRow) {
        float[] out = new float[srcIdx.length];
        for (int s = 0; s < out.length; s++)
            if (srcIdx[s] >= 0 && src[srcIdx[s]] != null) out[s] = src[srcIdx[s]].getFloat(srcRow[s]);
        return out;
    }

    /**
     * Launch sizing.
     *
     * @param ks     warps that split one group's K (1, 2, 4 or 8)
     * @param blocks blocks of 256 threads
     */
    public record Launch(int ks, int blocks) {}

    /**
     * Split K only as far as needed to give every multiprocessor about {@code 16} warps of loads in
     * flight: narrow outputs (4096 rows = 1024 groups) split, wide ones (32000 rows) do not. Never split
     * below two chunks per warp.
     */
    public static Launch plan(Shape s, int sms) {
        int ks = CudaSettings.splitK("fathom.sbi.ks");
        if (ks == 0) {
            ks = 1;
            long want = (s.mma() ? 64L : 16L) * sms;   // tiles: split to 8 warps per tile on every Llama shape (measured best)
            int minChunks = s.mma() ? 8 : 4;   // at least one (tiles: 8) or two (SIMT: 2 x 2) unrolled steps of loads per warp
            while (ks < WARPS && (long) s.groups() * ks < want && s.kChunks() >= (long) minChunks * (s.mma() ? 1 : 2) * ks) ks *= 2;
        }
        int gpb = WARPS / ks;
        return new Launch(ks, (s.groups() + gpb - 1) / gpb);
    }

    /**
     * What the kernel computes, on the CPU, reading the packed layout exactly as the kernel does:
     * y[b][o] for mode 0 (no bias). For tests of the layout.
     */
    public static float[] emulate(MemorySegment packed, Shape s, float[] x, int rows) {
        int ch = chunk(s.dtype());
        float[] y = new float[rows * s.groups() * GROUP];
        for (int g = 0; g < s.groups(); g++)
            for (int r = 0; r < GROUP; r++)
                for (int b = 0; b < rows; b++) {
                    float acc = 0;
                    for (int c = 0; c < s.kChunks(); c++)
                        for (int lane = 0; lane < 32; lane++)
                            for (int e = 0; e < epv(s.dtype()); e++) {
                                int kk = c * ch + lane * epv(s.dtype()) + e;
                                if (kk >= s.k()) continue;
                                long el = ((((long) g * s.kChunks() + c) * GROUP + r) * 32 + lane) * epv(s.dtype()) + e;
                                acc += get(packed, s.dtype(), el) * x[b * s.k() + kk];
                            }
                    y[b * s.groups() * GROUP + g * GROUP + r] = acc;
                }
        return y;
    }

    /**
     * The tensor-core layout read fragment by fragment, as the kernel's lanes do (A fragment of
     * mma.m16n8k16: register j of lane 4g+q holds rows g + 8*(j&1), columns 2q + 8*(j>>1) + {0,1}).
     */
    public static float[] emulateMma(MemorySegment packed, Shape s, float[] x, int rows) {
        int ld = s.groups() * MMA_GROUP;
        float[] y = new float[rows * ld];
        for (int rt = 0; rt < s.groups(); rt++)
            for (int kt = 0; kt < s.kChunks(); kt++)
                for (int lane = 0; lane < 32; lane++)
                    for (int j = 0; j < 4; j++)
                        for (int p = 0; p < 2; p++) {
                            int row = rt * 16 + lane / 4 + 8 * (j & 1), kk = kt * 16 + 2 * (lane % 4) + 8 * (j >> 1) + p;
                            if (kk >= s.k()) continue;
                            float w = get(packed, DType.BF16, (((long) rt * s.kChunks() + kt) * 32 + lane) * 8 + j * 2 + p);
                            for (int b = 0; b < rows; b++) y[b * ld + row] += w * x[b * s.k() + kk];
                        }
        return y;
    }

    static float get(MemorySegment m, DType dt, long el) {
        return switch (dt) {
            case F32 -> m.get(Tensor.F32, el * 4);
            case BF16 -> DType.bf16ToFloat(m.get(Tensor.I16, el * 2));
            case F16 -> Float.float16ToFloat(m.get(Tensor.I16, el * 2));
            default -> throw new IllegalArgumentException(dt.name());
        };
    }

    static MemorySegment floats(float[] v, Arena a) {
        MemorySegment m = a.allocate(Math.max(4L, v.length * 4L), 16);
        MemorySegment.copy(v, 0, m, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, v.length);
        return m;
    }
}
