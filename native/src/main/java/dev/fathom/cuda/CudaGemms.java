package dev.fathom.cuda;

import dev.fathom.cuda.CudaModel.Mat;
import dev.fathom.engine.model.ModelConfig;

/**
 * The projections' GEMMs of one {@link CudaModel}: which kernel takes a packed matrix ({@link CudaModel.Mat}) over how
 * many rows, and its launch. cuBLAS ({@link PromptGemm}) over many rows of BF16 or INT8 weights (every row count above
 * one for row-major BF16 rows, except 2..8 rows of wide ones); the tensor-core prompt GEMM over the tile layout; split-K
 * thread-block clusters at 2..8 rows (sm_90, {@link SbiSplitK}; where cuBLAS does not take them, among them the TMA kernel
 * over wide row-major matrices); the SIMT and
 * row-major SBI kernels, with the RMS norm before them fused in where they can; the sbi8 kernels for INT8 weights.
 * Telemetry spans and programmatic dependent launches go through the model ({@link CudaModel#timed},
 * {@link CudaModel#launch}). Moved out of CudaModel, which keeps the buffers and the order of a pass.
 */
final class CudaGemms {
    private final CudaModel model;
    private final CudaModule mod;
    private final Cuda cu;
    private final long stream;
    private final ModelConfig cfg;
    /** The activation code the kernels take: 0 gelu (erf), 1 gelu (tanh), 2 relu, 3 silu. */
    private final int act;
    /** cuBLAS for GEMMs over many rows of BF16 / INT8 weights; null when the model has none or cuBLAS is missing. */
    private final PromptGemm prompt;
    /** INT8 weights' scale group (columns; 0 without INT8). */
    private final int int8Group;
    /** RMS norms fused into the SBI-GEMM that follows them (-Dfathom.cuda.fuseNorm=false: separate norm kernels). */
    private final boolean fuseNorm = CudaSettings.flag("fathom.cuda.fuseNorm", true);
    /** RMS norms fused into the TMA kernel over wide matrices too (-Dfathom.cuda.tmaFuseNorm=true; slower when measured: {@link #fusesNorm}). */
    private final boolean tmaFuseNorm = CudaSettings.flag("fathom.cuda.tmaFuseNorm", false);
    /** The split-K kernels' switches, read once per model. */
    private final SbiSplitK.Settings splitK = SbiSplitK.Settings.read();

    CudaGemms(CudaModel model, CudaModule mod, long stream, ModelConfig cfg, PromptGemm prompt, int int8Group) {
        this.model = model;
        this.mod = mod;
        this.cu = mod.cuda();
        this.stream = stream;
        this.cfg = cfg;
        this.prompt = prompt;
        this.int8Group = int8Group;
        if (cu.ccMajor() >= 9 && splitK.usesStreamK()) StreamKSpace.of(mod);   // now, not while a decode graph is captured
        this.act = switch (cfg.activation()) {
            case GELU -> 0;
            case GELU_TANH -> 1;
            case RELU -> 2;
            case SILU -> 3;
        };
    }

    /**
     * Warps (16-row tiles) per block of the prompt GEMM. The kernel takes 4 or 8; 4 (twice the blocks for
     * short prompts) measured slower at every size (128 rows: 262 vs 176 µs on 4096x4096), so 8.
     */
    static int tileGemmWarps(int rows) { return 8; }

    /** The SIMT kernels' row counts: n rows run the instance for NB[n - 1] (1, 2, 4 or 8) rows. */
    private static final String[] NB = {"1", "2", "4", "4", "8", "8", "8", "8"};

    /** y[rows, ldy] = epilogue(x[rows, ldx] · Wᵀ); mode 0 plain (+bias, +res), 1 gated pairs, 2 activation. */
    void gemm(String name, Mat m, long xp, int ldx, int rows, long yp, int ldy, long res, int mode) {
        gemm(name, m, xp, ldx, rows, yp, ldy, res, mode, 0);
    }

    /**
     * Whether the RMS norm (weights {@code normB} == 0: none) before {@code m} can run inside m's SBI-GEMM: the rows go
     * through the SIMT / row-major kernels or the split-K cluster kernels (2..8 rows over row-major rows or tiles; not
     * cuBLAS, not the other tensor-core tile kernels, not INT8, not the TMA kernel over wide matrices) and the model's
     * norm is RMS. (The TMA kernel's fused norm reads as fast as its plain form in CudaBench part tma, yet in the model
     * on an H100 the QKV took 2285 µs over 32 layers at batch 2 through it against 1786 + 225 for the norm kernel and
     * the plain form: eighteenth session; so wide matrices keep the separate norm unless {@code -Dfathom.cuda.tmaFuseNorm=true}.)
     */
    boolean fusesNorm(Mat m, int rows, int mode, long normB) {
        SbiLayout.Shape s = m.shape();
        return fuseNorm && normB == 0 && m.scales() == 0 && cfg.norm() == ModelConfig.Norm.RMS_NORM && (!s.mma() || SbiSplitK.planFor(cu.ccMajor(), cu.smCount(), splitK, s, rows) != null)
                && !blasTakes(m, rows, mode) && (tmaFuseNorm || !SbiSplitK.wideFor(cu.ccMajor(), splitK, s, rows));
    }

    /** {@link #gemm}; {@code gamma} != 0: x is the un-normed residual stream and the RMS norm (gamma) runs in the kernel. */
    void gemm(String name, Mat m, long xp, int ldx, int rows, long yp, int ldy, long res, int mode, long gamma) {
        SbiLayout.Shape s = m.shape();
        if (blasTakes(m, rows, mode)) {   // many rows: cuBLAS on tensor cores (BF16, INT8)
            blasGemm(name, m, PromptGemm.Input.f32(xp, ldx), rows, yp, ldy, res, mode, false);
            return;
        }
        if (m.scales() != 0) {   // INT8 over few rows (never with a fused norm: fusesNorm)
            gemm8(name, m, xp, ldx, rows, yp, ldy, res, mode);
            return;
        }
        int vec = s.mma() ? (s.k() % 2 == 0 && ldx % 2 == 0 ? 1 : 0) : (s.k() % 4 == 0 && ldx % 4 == 0 ? 1 : 0);
        if (s.mma() && rows > 32) {   // prompt phase: one tensor-core GEMM over all rows
            long io = 4L * rows * (s.k() + (long) s.n() * (res != 0 ? 2 : 1));
            int warps = tileGemmWarps(rows), gx = (rows + 63) / 64, gy = (s.groups() + warps - 1) / warps, v = vec;
            model.timed(name, s.bytes() + io, 2L * rows * s.k() * s.n(), () -> model.launch("tilegemm_bf16", gx, gy, 32 * warps, 0, stream,
                    m.w(), xp, ldx, s.k(), s.kChunks(), s.groups(), 1, m.bias(), res, yp, ldy, s.n(), rows, mode, act, v));
            return;
        }
        for (int t = 0; t < rows; ) {
            int nb = s.mma() && rows - t > 8 ? Math.min(32, rows - t) : Math.min(8, rows - t);
            long xo = xp + 4L * t * ldx, yo = yp + 4L * t * ldy, ro = res == 0 ? 0 : res + 4L * t * ldy;
            long wBytes = s.bytes(), io = 4L * nb * (s.k() + (long) s.n() * (res != 0 ? 2 : 1));
            long flops = 2L * nb * s.k() * s.n();
            String kname = s.mma() ? (nb == 1 ? "sbitile_bf16_1" : m.kernelPrefix() + (nb > 8 ? "32" : "8"))
                    : (gamma != 0 ? normKernel(m.kernelPrefix()) : m.kernelPrefix()) + NB[nb - 1];
            t += nb;
            SbiSplitK.Plan planned = SbiSplitK.planFor(cu.ccMajor(), cu.smCount(), splitK, s, nb);
            // a TMA kernel's maps need 16-byte aligned rows (a stream-K one a grid its workspace holds): else the default row-major kernel
            SbiSplitK.Plan p = planned != null && TmaKernels.tmaStages(planned.kernel()) > 0 && SbiSplitK.tmaLaunchRefusal(planned, s, ldx, xo, m.w()) != null
                    ? SbiSplitK.plan(SbiSplitK.DEFAULT_ROW_MAJOR_KERNEL, s, nb, cu.smCount()) : planned;
            if (p != null) {   // 2..8 rows (sm_90): K split over a thread-block cluster
                model.timed(name, wBytes + io, flops, () -> SbiSplitK.launch(mod, splitK.pdl(model.pdl(), p, s), p, stream, m.w(), s, xo, ldx, m.bias(), ro, yo, ldy,
                        nb, mode, act, vec, gamma, cfg.normEps()));
                continue;
            }
            if (gamma != 0 && s.mma()) throw new IllegalStateException("no fused norm in the tile kernels beyond the split-K rows");
            int blocks = m.launch().blocks(), ks = m.launch().ks();
            if (gamma != 0) model.timed(name, wBytes + io, flops, () -> model.launch(kname, blocks, 1, 256, 0, stream,
                    m.w(), xo, ldx, s.k(), s.kChunks(), s.groups(), ks, m.bias(), ro, yo, ldy, s.n(), nb, mode, act, vec, gamma, cfg.normEps()));
            else model.timed(name, wBytes + io, flops, () -> model.launch(kname, blocks, 1, 256, 0, stream,
                    m.w(), xo, ldx, s.k(), s.kChunks(), s.groups(), ks, m.bias(), ro, yo, ldy, s.n(), nb, mode, act, vec));
        }
    }

    /**
     * Whether {@code rows} rows of {@code m} go through cuBLAS ({@link PromptGemm}) in epilogue {@code mode}: not the
     * 2..8 rows of a wide row-major matrix, which a TMA kernel reads faster on sm_90 ({@link SbiSplitK#wideFor}).
     */
    boolean blasTakes(Mat m, int rows, int mode) {
        return prompt != null && !SbiSplitK.wideFor(cu.ccMajor(), splitK, m.shape(), rows) && prompt.applies(m.shape(), rows) && prompt.fits(m.shape(), mode);
    }

    /**
     * {@link #gemm} through cuBLAS from {@code in} (fp32 rows, fp32 rows normed on the way, or bf16 rows); with
     * {@code bf16Out} (gated pairs) y is bf16 rows for the next multiply. Only where {@link #blasTakes}.
     */
    void blasGemm(String name, Mat m, PromptGemm.Input in, int rows, long yp, int ldy, long res, int mode, boolean bf16Out) {
        SbiLayout.Shape s = m.shape();
        long io = in.bytes(rows, s.k()) + (bf16Out ? 2L : 4L) * rows * s.n() + (res != 0 ? 4L * rows * s.n() : 0);
        if (PromptGemm.needsUnpack(s))   // tiles / SIMT unpacked, INT8 dequantized to row-major bf16
            model.timed(name + ".unpack", PromptGemm.unpackBytes(s, int8Group), 0, () -> prompt.unpack(m.w(), s, m.scales(), int8Group));
        else prompt.unpack(m.w(), s);   // stored row-major: cuBLAS reads it in place
        model.timed(name, PromptGemm.rowMajorBytes(s) + io, 2L * rows * s.k() * (mode == 1 ? PromptGemm.storedRows(s) : s.n()),
                () -> prompt.multiply(s, m.bias(), in, rows, yp, ldy, res, mode, act, bf16Out));
    }

    /**
     * {@link #gemm} of INT8 weights over the rows cuBLAS does not take (decode steps, short prompts, no cuBLAS): sbi8
     * kernels over chunks of up to 8 rows.
     */
    private void gemm8(String name, Mat m, long xp, int ldx, int rows, long yp, int ldy, long res, int mode) {
        SbiLayout.Shape s = m.shape();
        int vec = s.k() % 4 == 0 && ldx % 4 == 0 ? 1 : 0, glog = Int8Layout.groupShift(int8Group), smem = Int8Layout.smem(m.kernelPrefix());
        long wBytes = Int8Layout.readBytes(s, int8Group);
        for (Int8Layout.Batch b : Int8Layout.batches(rows, m.kernelPrefix())) {
            int nb = b.rows(), blocks = m.launch().blocks(), ks = m.launch().ks();
            long xo = xp + 4L * b.first() * ldx, yo = yp + 4L * b.first() * ldy, ro = res == 0 ? 0 : res + 4L * b.first() * ldy;
            long io = 4L * nb * (s.k() + (long) s.n() * (res != 0 ? 2 : 1));
            model.timed(name, wBytes + io, 2L * nb * s.k() * s.n(), () -> model.launch(b.kernel(), blocks, 1, 256, smem, stream,
                    m.w(), xo, ldx, s.k(), s.kChunks(), s.groups(), ks, m.bias(), ro, yo, ldy, s.n(), nb, mode, act, vec, m.scales(), glog));
        }
    }

    /** The RMS-norm-fused form of an SBI kernel prefix: sbi_f32_ -> sbin_f32_, sbirm_bf16_ -> sbirmn_bf16_. */
    static String normKernel(String prefix) {
        int i = prefix.indexOf('_');
        return prefix.substring(0, i) + "n" + prefix.substring(i);
    }
}
