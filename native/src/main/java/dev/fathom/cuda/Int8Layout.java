package dev.fathom.cuda;

import dev.fathom.engine.tensor.DType;
import dev.fathom.engine.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;

/**
 * INT8 weight-only quantized projections for the {@code sbi8_*} kernels (int8.cuh), host side: packing, the
 * quantization, launch sizing, and the kernel's reading order emulated on the CPU (tests need no GPU).
 *
 * <p>One device buffer per projection:
 * <pre>
 *   [stored rows][kChunks * 512]  int8     row-major, K padded with zeros to whole chunks of {@link #CHUNK} columns
 *   [stored rows][groups]         float32  scales; scale j of a row covers columns [j * group, (j + 1) * group)
 * </pre>
 * Stored rows follow the SIMT layout's row orders ({@link SbiLayout#stacked}, {@link SbiLayout#gatedPairs} with
 * groups of {@link SbiLayout#GROUP} rows), so one warp owns 4 rows and the kernels share the SIMT epilogues (plain
 * + bias + residual, gated pairs, activation). Lane {@code lane} of that warp loads the 16 bytes at column
 * {@code c * 512 + lane * 16} of each of its rows: one warp instruction reads 512 contiguous bytes, as the BF16
 * row-major kernels ({@code sbirm_bf16_*}) do with 256 columns.
 *
 * <p>Quantization is symmetric per (row, group): {@code s = max|w| / 127}, {@code q = round(w * (1 / s))} clamped to
 * ±127, {@code w ≈ q * s} — the CPU backend's formula (WeightStore.quantizeRow), so with the same group size both
 * backends dequantize every weight to the same value.
 *
 * <p>Kernels over this layout (same parameters: {@code sbirm_bf16_*}'s, then the scales' address and log2 of the group):
 * {@code sbi8r_*} load two chunks at a time into registers as the BF16 kernels do (the default: fastest at 1 and 4
 * rows, so for decode steps, on an H200); {@code sbi8_*} stream each warp's chunks through a cp.async ring in shared
 * memory ({@link #PIPE_SMEM} bytes a block; faster at 8 rows, so for prompts: {@code -Dfathom.cuda.int8.kernel=pipe});
 * {@code sbi8w_*} are the register kernels with every weight scaled instead of each 8-weight partial sum (within ±4 %;
 * kept for the benchmark's comparison). docs/benchmarks.md "INT8 weights on CUDA" has the measurements.
 */
public final class Int8Layout {
    private Int8Layout() {}

    /** Columns of a chunk (32 lanes x 16 bytes) and weights per lane load. */
    public static final int CHUNK = 512, EPV = 16;
    /** Columns per scale unless {@code -Dfathom.cuda.int8.group} says otherwise. */
    public static final int DEFAULT_GROUP = 128;
    /** Kernel name prefixes (the suffix is the activation rows of the launch: 1, 2, 4, 8): pipelined, registers (default), scaled weights. */
    public static final String PREFIX = "sbi8_", REGS_PREFIX = "sbi8r_", SCALED_PREFIX = "sbi8w_";
    /** Dynamic shared memory of a pipelined block: 8 warps x 4 stages x (2048 bytes of weights + 512 of scales). */
    public static final int PIPE_SMEM = 8 * 4 * 2560;

    /**
     * The kernels models opened now use: the register kernels sbi8r_* ({@code -Dfathom.cuda.int8.kernel=regs}, the
     * default), or the pipelined sbi8_* with {@code =pipe}.
     */
    public static String kernelPrefix() {
        return CudaSettings.choice("fathom.cuda.int8.kernel", "regs", "regs", "pipe").equals("pipe") ? PREFIX : REGS_PREFIX;
    }

    /** Dynamic shared memory a launch of kernels {@code prefix} needs. */
    public static int smem(String prefix) { return PREFIX.equals(prefix) ? PIPE_SMEM : 0; }

    /** Lets the pipelined kernels of {@code mod} take {@link #PIPE_SMEM} bytes of dynamic shared memory (over the 48 KB default). */
    static void optIn(CudaModule mod) {
        for (int nb : new int[]{1, 2, 4, 8}) mod.cuda().setMaxDynamicShared(mod.fn(PREFIX + nb), PIPE_SMEM);
    }

    /** The scale group size of models opened now: {@code -Dfathom.cuda.int8.group} (a power of two, at least 16) or 128. */
    public static int group() {
        return checkGroup(CudaSettings.integer("fathom.cuda.int8.group", DEFAULT_GROUP, 1, 1 << 20));
    }

    /** {@code group} if the kernels take it: a power of two of at least {@link #EPV} columns (a lane's 16 weights share one scale). */
    public static int checkGroup(int group) {
        if (group < EPV || Integer.bitCount(group) != 1)
            throw new IllegalArgumentException("INT8 scale group " + group + ": use a power of two of at least " + EPV + " columns");
        return group;
    }

    /** The shape of an n x k projection stored as {@code storedRows} int8 rows (dtype I8, row-major chunks of 512). */
    public static SbiLayout.Shape shape(int n, int k, int storedRows) {
        if (storedRows % SbiLayout.GROUP != 0) throw new IllegalArgumentException("stored rows must be a multiple of " + SbiLayout.GROUP);
        return new SbiLayout.Shape(n, k, storedRows / SbiLayout.GROUP, (k + CHUNK - 1) / CHUNK, DType.I8, false, true);
    }

    public static int storedRows(SbiLayout.Shape s) { return s.groups() * SbiLayout.GROUP; }

    /** Scales per row. */
    public static int scaleGroups(int k, int group) { return (k + group - 1) / group; }

    /** Byte offset of the scales in the buffer: right after the int8 rows (a multiple of 512, so aligned). */
    public static long scaleOffset(SbiLayout.Shape s) { return s.bytes(); }

    /** Bytes of the whole buffer: int8 rows (K padded to whole chunks) and scales. */
    public static long bytes(SbiLayout.Shape s, int group) {
        return s.bytes() + 4L * storedRows(s) * scaleGroups(s.k(), group);
    }

    /**
     * Bytes a launch reads from memory: each stored row's weights up to K rounded up to a lane's 16 (lanes past K load
     * nothing, so the chunk padding is never read) plus every scale.
     */
    public static long readBytes(SbiLayout.Shape s, int group) {
        long k16 = (s.k() + EPV - 1L) / EPV * EPV;
        return storedRows(s) * (k16 + 4L * scaleGroups(s.k(), group));
    }

    /**
     * Quantizes {@code k} values of {@code row} in groups of {@code group} columns: int8 into {@code q} from byte
     * {@code qo}, one scale per group into {@code scales} from {@code so}. Returns nothing; zero groups get scale 0.
     */
    public static void quantize(float[] row, int k, int group, MemorySegment q, long qo, float[] scales, int so) {
        for (int i0 = 0, gi = 0; i0 < k; i0 += group, gi++) {
            int end = Math.min(k, i0 + group);
            float max = 0f;
            for (int i = i0; i < end; i++) max = Math.max(max, Math.abs(row[i]));
            float scale = max / 127f, inv = scale == 0f ? 0f : 1f / scale;
            scales[so + gi] = scale;
            for (int i = i0; i < end; i++)
                q.set(ValueLayout.JAVA_BYTE, qo + i, (byte) Math.max(-127, Math.min(127, Math.round(row[i] * inv))));
        }
    }

    /**
     * Quantizes and packs: stored row {@code s} is row {@code srcRow[s]} of {@code src[srcIdx[s]]}, or zeros (scale 0)
     * where {@code srcIdx[s] < 0}. Every source has {@code k} columns, any float dtype.
     */
    public static MemorySegment pack(Tensor[] src, int[] srcIdx, int[] srcRow, int n, int k, int group, Arena arena,
                                     SbiLayout.Shape[] shapeOut) {
        checkGroup(group);
        SbiLayout.Shape shape = shape(n, k, srcIdx.length);
        int ng = scaleGroups(k, group);
        long ld = (long) shape.kChunks() * CHUNK, sOff = scaleOffset(shape);
        MemorySegment dst = arena.allocate(bytes(shape, group), 64);   // zero-filled: padding stays zero
        Thread other = Thread.ofVirtual().unstarted(() -> { });
        boolean shared = dst.isAccessibleBy(other);
        for (Tensor t : src) shared &= t == null || t.data().isAccessibleBy(other);
        IntStream rows = IntStream.range(0, srcIdx.length);
        (shared ? rows.parallel() : rows).forEach(s -> {
            if (srcIdx[s] < 0) return;
            Tensor t = src[srcIdx[s]];
            if (t.cols() != k) throw new IllegalArgumentException(t + " has " + t.cols() + " columns, expected " + k);
            float[] row = new float[k], sc = new float[ng];
            t.readRow(srcRow[s], row, 0);
            quantize(row, k, group, dst, s * ld, sc, 0);
            MemorySegment.copy(sc, 0, dst, ValueLayout.JAVA_FLOAT_UNALIGNED, sOff + 4L * s * ng, ng);
        });
        shapeOut[0] = shape;
        return dst;
    }

    /** Stored row {@code s}, column {@code kk} as the kernels dequantize it: q * scale. */
    public static float weight(MemorySegment packed, SbiLayout.Shape s, int group, int row, int kk) {
        byte q = packed.get(ValueLayout.JAVA_BYTE, (long) row * s.kChunks() * CHUNK + kk);
        return q * scale(packed, s, group, row, kk / group);
    }

    static float scale(MemorySegment packed, SbiLayout.Shape s, int group, int row, int gi) {
        return packed.get(ValueLayout.JAVA_FLOAT_UNALIGNED, scaleOffset(s) + 4L * ((long) row * scaleGroups(s.k(), group) + gi));
    }

    /** The dequantized matrix [stored rows][k] (the reference of the GPU checks). */
    public static float[] dequantize(MemorySegment packed, SbiLayout.Shape s, int group) {
        int k = s.k();
        float[] w = new float[storedRows(s) * k];
        for (int r = 0; r < storedRows(s); r++)
            for (int kk = 0; kk < k; kk++) w[r * k + kk] = weight(packed, s, group, r, kk);
        return w;
    }

    /**
     * What {@code dequant_i8_bf16} (prompt.cuh) writes for {@link PromptGemm}, on the CPU in its addressing: row-major bf16
     * bits [stored rows][{@link PromptGemm#rowMajorLd}], each vector of 8 columns from 8 int8 bytes times the scale of
     * their group, rounded to nearest even; zeros from column K on. For the tests.
     */
    static short[] rowMajorBf16(MemorySegment packed, SbiLayout.Shape s, int group) {
        int ld = PromptGemm.rowMajorLd(s), vpr = ld / 8, glog = groupShift(group);
        long ldq = (long) s.kChunks() * CHUNK, vectors = (long) storedRows(s) * vpr;
        short[] out = new short[Math.toIntExact(vectors * 8)];
        for (long v = 0; v < vectors; v++) {
            int row = (int) (v / vpr), c = (int) (v % vpr) * 8;
            if (c >= s.k()) continue;
            float sc = scale(packed, s, group, row, c >> glog);
            for (int e = 0; e < 8; e++) out[(int) v * 8 + e] = DType.floatToBf16(packed.get(ValueLayout.JAVA_BYTE, row * ldq + c + e) * sc);
        }
        return out;
    }

    /**
     * What the kernel accumulates, on the CPU, in its reading order: per warp group g, chunk c, lane and half of the
     * lane's 16 bytes, a partial dot product of 8 unscaled weights, then times the row's scale of that column group.
     * y[b][stored row] for mode 0 without bias. For the layout tests.
     */
    public static float[] emulate(MemorySegment packed, SbiLayout.Shape s, int group, float[] x, int rows) {
        int ld = storedRows(s);
        float[] y = new float[rows * ld];
        for (int g = 0; g < s.groups(); g++)
            for (int c = 0; c < s.kChunks(); c++)
                for (int lane = 0; lane < 32; lane++) {
                    int k0 = c * CHUNK + lane * EPV;
                    if (k0 >= s.k()) continue;   // the kernel's lanes past K load nothing
                    for (int r = 0; r < SbiLayout.GROUP; r++) {
                        int row = g * SbiLayout.GROUP + r;
                        float sc = scale(packed, s, group, row, k0 / group);
                        for (int half = 0; half < 2; half++)
                            for (int b = 0; b < rows; b++) {
                                float p = 0;
                                for (int e = 0; e < 8; e++) {
                                    int kk = k0 + 8 * half + e;
                                    float xv = kk < s.k() ? x[b * s.k() + kk] : 0f;
                                    p += packed.get(ValueLayout.JAVA_BYTE, (long) row * s.kChunks() * CHUNK + kk) * xv;
                                }
                                y[b * ld + row] += sc * p;
                            }
                    }
                }
        return y;
    }

    /**
     * Launch sizing: the smallest split of K ({@code ks} warps per group of 4 rows) that gives about one wave of warps
     * (two blocks of 8 warps per multiprocessor, the most the pipelined kernels' shared memory allows), never more
     * warps on a group than it has chunks. {@code -Dfathom.sbi8.ks} forces one. On an H200 the register kernels at 1 row
     * ran as fast at this split as at the best of 1/2/4/8 on the Llama-7B shapes but 4096x4096 (9.8 µs; earlier run:
     * 10.5 at ks 8).
     */
    public static SbiLayout.Launch plan(SbiLayout.Shape s, int sms) {
        int ks = CudaSettings.splitK("fathom.sbi8.ks");
        if (ks == 0) {
            ks = 1;
            long want = 15L * sms;
            while (ks < SbiLayout.WARPS && (long) s.groups() * ks < want && 2 * ks <= s.kChunks()) ks *= 2;
        }
        return launch(s, ks);
    }

    /** Blocks of 256 threads for a split of {@code ks} warps per row group. */
    public static SbiLayout.Launch launch(SbiLayout.Shape s, int ks) {
        if (ks < 1 || ks > SbiLayout.WARPS || Integer.bitCount(ks) != 1) throw new IllegalArgumentException("ks " + ks + ": 1, 2, 4 or 8");
        int gpb = SbiLayout.WARPS / ks;
        return new SbiLayout.Launch(ks, (s.groups() + gpb - 1) / gpb);
    }

    /** One launch over activation rows [first, first + rows) by kernel {@code kernel} (built for up to NB rows). */
    public record Batch(int first, int rows, String kernel) {}

    /**
     * The launches of kernels {@code prefix} covering {@code rows} activation rows: chunks of 8 (the 8-row kernel), the
     * rest by the smallest kernel that holds it.
     */
    public static List<Batch> batches(int rows, String prefix) {
        List<Batch> out = new ArrayList<>();
        for (int t = 0; t < rows; ) {
            int nb = Math.min(8, rows - t);
            out.add(new Batch(t, nb, prefix + (nb == 1 ? 1 : nb <= 2 ? 2 : nb <= 4 ? 4 : 8)));
            t += nb;
        }
        return out;
    }

    /** log2 of the group, the kernels' last argument. */
    public static int groupShift(int group) { return Integer.numberOfTrailingZeros(checkGroup(group)); }
}
