package dev.fathom.cuda;

import dev.fathom.engine.model.Linear;
import dev.fathom.engine.tensor.DType;
import dev.fathom.engine.tensor.Tensor;
import dev.fathom.profiles.Precision;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Packs a model's projections into the device layout its kernels read and uploads them through the model
 * ({@link CudaModel}: plain device memory, or offsets into a streamed layer's blob): the float dtype and layout follow
 * the run's precision and batch (row-major for one sequence, tensor-core tiles for more, the SIMT layout for F32/F16),
 * INT8 quantizes into {@link Int8Layout}. Keeps the cuBLAS scratch sizes the prompt path needs and the stored minus
 * checkpoint bytes of converted projections.
 */
final class MatPacker {
    /** Where packed bytes go: returns the device address (or blob offset) of {@code host}'s copy. */
    interface Uploader {
        long upload(MemorySegment host);
    }

    private final Uploader up;
    private final Precision precision;
    private final int slots, sms, ccMajor;
    /** INT8 weights, and their scale group (columns; 0 without INT8). */
    final boolean int8;
    final int int8Group;
    /** Largest matrices a GEMM over many rows unpacks (PromptGemm's scratch). */
    final PromptGemm.Sizes blasSizes = new PromptGemm.Sizes();
    /** Stored minus checkpoint bytes of the projections packed in another precision (conversions, INT8 with its scales). */
    private long convertedDelta;

    MatPacker(Uploader up, Precision precision, int slots, int sms, int ccMajor) {
        this.up = up;
        this.precision = precision == null ? Precision.AUTO : precision;
        this.int8 = int8(this.precision);
        this.int8Group = int8 ? Int8Layout.group() : 0;
        this.slots = slots;
        this.ccMajor = ccMajor;
        this.sms = sms;
    }

    long convertedDelta() { return convertedDelta; }

    /** Whether projections are packed as INT8 at {@code precision} (or {@code -Dfathom.cuda.weights=int8}). */
    static boolean int8(Precision precision) {
        return precision == Precision.INT8 || forcedWeights().equals("int8");
    }

    /** {@code -Dfathom.cuda.weights}: bf16, f16 or int8 repack every projection (checks, benchmarks); "" when unset. */
    static String forcedWeights() { return CudaSettings.choice("fathom.cuda.weights", "", "bf16", "f16", "int8"); }

    /** Packs {@code src} rows in {@code order} and uploads; {@code biases} (same indexing as src) may be null. */
    CudaModel.Mat mat(Tensor[] src, int[][] kind, int n, int k, Tensor[] biases) {
        if (int8) return mat8(src, kind, n, k, biases);
        int[][] order = kind;
        DType dt = floatDtype(src[0].dtype(), precision);
        SbiLayout.Shape[] shape = new SbiLayout.Shape[1];
        long w;
        for (Tensor t : src) convertedDelta += t.numel() * (dt.size - t.dtype().size);
        boolean mma = useMma(dt, slots, ccMajor);
        boolean rowMajor = !mma && dt == DType.BF16 && CudaSettings.flag("fathom.cuda.rowMajor", true);
        order = order(order, src, mma ? SbiLayout.MMA_GROUP : SbiLayout.GROUP);
        try (Arena a = Arena.ofShared()) {
            MemorySegment packed = SbiLayout.pack(src, order[0], order[1], n, k, dt, mma, rowMajor, a, shape);
            w = up.upload(packed);
        }
        long b = uploadBias(biases, order);
        String prefix = mma ? "sbimma_bf16_" : rowMajor ? "sbirm_bf16_" : switch (dt) {
            case F32 -> "sbi_f32_";
            case BF16 -> "sbi_bf16_";
            default -> "sbi_f16_";
        };
        blasSizes.add(shape[0], kind == GATED);   // of these dtypes only BF16 goes through cuBLAS
        return new CudaModel.Mat(w, shape[0], b, SbiLayout.plan(shape[0], sms), prefix);
    }

    /** The biases in the stored row order (device float[stored rows]), or 0 when there are none. */
    private long uploadBias(Tensor[] biases, int[][] order) {
        boolean anyBias = false;
        if (biases != null) for (Tensor t : biases) anyBias |= t != null;
        if (!anyBias) return 0;
        try (Arena a = Arena.ofConfined()) {
            return up.upload(SbiLayout.floats(SbiLayout.permute(biases, order[0], order[1]), a));
        }
    }

    /**
     * The float dtype projections are stored in: {@code -Dfathom.cuda.weights=bf16|f16} (repacks any weights: checks,
     * benchmarks), else the run's precision, else the checkpoint's own (F32 for a non-float dtype).
     */
    static DType floatDtype(DType stored, Precision p) {
        String force = forcedWeights();
        if (force.equals("bf16")) return DType.BF16;
        if (force.equals("f16")) return DType.F16;
        return switch (p) {
            case F32 -> DType.F32;
            case BF16 -> DType.BF16;
            case F16 -> DType.F16;
            default -> stored == DType.BF16 || stored == DType.F16 ? stored : DType.F32;
        };
    }

    /**
     * INT8: quantizes the rows (SIMT row order, groups of 4) with per-group scales into one buffer ({@link Int8Layout})
     * for the sbi8 kernels; GEMMs over many rows dequantize them to bf16 for cuBLAS ({@link PromptGemm}).
     */
    private CudaModel.Mat mat8(Tensor[] src, int[][] kind, int n, int k, Tensor[] biases) {
        int[][] order = order(kind, src, SbiLayout.GROUP);
        SbiLayout.Shape[] shape = new SbiLayout.Shape[1];
        long w;
        try (Arena a = Arena.ofShared()) {
            w = up.upload(Int8Layout.pack(src, order[0], order[1], n, k, int8Group, a, shape));
        }
        convertedDelta += Int8Layout.readBytes(shape[0], int8Group);
        blasSizes.add(shape[0], kind == GATED);
        for (Tensor t : src) convertedDelta -= t.byteSize();
        return new CudaModel.Mat(w, shape[0], uploadBias(biases, order), Int8Layout.plan(shape[0], sms), Int8Layout.kernelPrefix(),
                w + Int8Layout.scaleOffset(shape[0]));
    }

    CudaModel.Mat plain(Linear l, boolean withBias) {
        return mat(new Tensor[]{l.weight()}, STACKED, l.out(), l.in(), withBias ? new Tensor[]{l.bias()} : null);
    }

    CudaModel.Mat gated(Linear gate, Linear up) {
        return mat(new Tensor[]{gate.weight(), up.weight()}, GATED, gate.out(), gate.in(), new Tensor[]{gate.bias(), up.bias()});
    }

    /** Row orders are chosen once the layout (and so the group size) is known. */
    static final int[][] STACKED = new int[0][], GATED = new int[1][];

    private static int[][] order(int[][] kind, Tensor[] src, int group) {
        if (kind == GATED) return SbiLayout.gatedPairs(src[0].rows(), group);
        return SbiLayout.stacked(group, src);
    }

    /**
     * The layout of BF16 weights: plain row-major rows (the batch-1 GEMV's, which cuBLAS reads in place for prompts and
     * decode steps of more than one row: {@link PromptGemm#threshold(boolean, DType)}) wherever small batches have a kernel over them: one
     * sequence anywhere, and any number on sm_90, where 2..8 rows can also run the split-K cluster kernel over row-major
     * rows ({@link SbiSplitK}; {@code -Dfathom.cuda.blasRows=8}). Batches of two or more on older
     * GPUs take the tensor-core tile layout, which cuBLAS needs unpacked. {@code -Dfathom.cuda.mma=true|false} forces one.
     * F32 and F16 weights always use the SIMT layout.
     */
    static boolean useMma(DType dt, int slots, int ccMajor) {
        if (dt != DType.BF16) return false;
        return switch (CudaSettings.choice("fathom.cuda.mma", "auto", "auto", "true", "false")) {
            case "false" -> false;
            case "true" -> true;
            default -> slots > 1 && ccMajor < 9;
        };
    }
}
