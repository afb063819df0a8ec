package dev.fathom.cuda;

import dev.fathom.engine.tensor.DType;

/**
 * The large-batch (prompt-phase) GEMM of BF16 and INT8 weights: cuBLAS on tensor cores, fed from the SBI layouts.
 *
 * <p>The weights stay in the layout the decode kernels stream (one copy on the device); for a GEMM over many
 * rows, the projection is first unpacked into a row-major bf16 scratch buffer ({@code untile_mma_bf16} /
 * {@code untile_simt_bf16}: one read and one write of its bytes), the fp32 activations are rounded to bf16, and
 * {@code cublasGemmEx} multiplies with fp32 accumulation. Epilogues: the residual and bias are written into
 * the output first and cuBLAS accumulates onto them (beta = 1); gated pairs and activations run as one
 * element-wise pass after it. Rows go through in chunks of {@link #CHUNK} so the scratch stays bounded.
 *
 * <p>INT8 weight-only projections ({@link Int8Layout}) take the same route: {@code dequant_i8_bf16} writes
 * {@code bf16(q * scale)} into the scratch in the row-major form {@code untile_simt_bf16} gives the BF16 SIMT layout
 * of the same matrix (same stored row order, same padded stride), then the multiply and its epilogues are the BF16
 * ones. A prompt then reads the int8 weights once (and writes / reads the bf16 copy once) instead of once per 8 rows
 * through the sbi8 kernels; the price is bf16 weights and activations in that GEMM (about 1e-2 relative, as BF16
 * prompts). {@code -Dfathom.cuda.int8.blas=false} keeps INT8 GEMMs on the sbi8 kernels at any row count.
 *
 * <p>Used when the weights are BF16 or INT8, cuBLAS loads, and there are more rows than the threshold of the
 * matrix's layout ({@link #threshold(boolean, DType)}: 1 for row-major BF16 rows, 8 for INT8, 16 for the tile layouts);
 * otherwise {@link CudaModel} keeps its own kernels.
 *
 * <p>With {@code -Dfathom.cuda.wgemm=true} (the default), on compute capability 9.0, the multiplies of {@code wgemmMinRows} to
 * {@code wgemmMaxRows} rows (64..128 by default: a batch-1 prompt) whose blocks each stream at least {@code
 * wgemmMinStream} 64-column blocks of K (64 by default: QKV, gate/up and down of llama-7b, not the 4096 x 4096 output
 * projection, whose plan splits K into halves) run on {@link Wgemm} (warpgroup MMA, {@link Wgemm#SWAPPED} by default)
 * instead of cuBLAS, with the same operands and epilogues. Alone those are 0.97-1.05x cuBLAS. In the 128-token
 * llama-7b prefill, timed on one loaded model after an untimed session (bench part prefillsteps), every run through
 * them was shorter than every cuBLAS run (thirty-first session, H100: 7.22-7.28 against 7.30-7.43 ms), so the switch
 * is on by default ({@link #wgemmEnabled}); {@code false} keeps every prompt GEMM on cuBLAS.
 */
final class PromptGemm implements AutoCloseable {
    /** Rows per cuBLAS call; bounds the activation and gated-output scratch. */
    static final int CHUNK = 2048;
    private static final long WORKSPACE = 32L << 20;

    private final Cuda cu;
    private final CudaModule mod;
    private final long stream;
    private final Cublas blas;
    private final String why;
    // scratch: wBuf row-major bf16 [stored][ldw]; xBuf bf16 [chunk][K]; cBuf fp32 [chunk][stored] (gated pairs)
    private long wBuf, xBuf, cBuf, workspace;
    private long wCap, xCap, cCap;
    private int ldw;
    /** The thresholds and {@link #int8Enabled()} read once: they are consulted for every GEMM of a pass. */
    private final int minRows = threshold(false, DType.BF16), minRowsRowMajor = threshold(true, DType.BF16), minRowsInt8 = threshold(true, DType.I8);
    private final boolean int8 = int8Enabled();
    /** The row-major weights of the next multiply: the scratch, or the matrix itself when it is stored row-major. */
    private long wSrc;
    /** The sm_90a image when {@link Wgemm} may take multiplies (null: cuBLAS takes them all), and its row range and splits. */
    private final CudaModule hopper;
    private final String wgemmWhy;
    private final int wgMin = CudaSettings.integer("fathom.cuda.wgemmMinRows", 64, 1, Integer.MAX_VALUE),
            wgMax = CudaSettings.integer("fathom.cuda.wgemmMaxRows", 128, 1, Integer.MAX_VALUE),
            wgSplits = CudaSettings.integer("fathom.cuda.wgemmSplits", 0, 0, Wgemm.MAX_SPLITS),
            wgMinStream = CudaSettings.integer("fathom.cuda.wgemmMinStream", Wgemm.MIN_STREAM_BLOCKS, 0, Integer.MAX_VALUE);
    private final String wgKernel = Wgemm.kernel(), wgShort = Wgemm.shortKernel();
    private final int wgStagger = Wgemm.stagger();
    private final boolean wgGated = Wgemm.gatedEnabled();
    /** The swapped forms as programmatic dependent launches ({@link Wgemm#pdlEnabled}). */
    private final boolean wgPdl = Wgemm.pdlEnabled();
    /** Overrides {@code -Dfathom.cuda.wgemm} for PromptGemms opened afterwards (null: the setting); the benchmarks' switch. */
    static volatile Boolean wgemmOverride;
    /** Multiplies that went through {@link Wgemm} in this process (the checks read it to know the kernel ran). */
    static final java.util.concurrent.atomic.AtomicLong WGEMM_TOTAL = new java.util.concurrent.atomic.AtomicLong();
    /** Of those, the gated pairs written through Wgemm's gated epilogue ({@code -Dfathom.cuda.wgemmGated}). */
    static final java.util.concurrent.atomic.AtomicLong WGEMM_GATED = new java.util.concurrent.atomic.AtomicLong();

    /** Opens cuBLAS on {@code stream}; {@link #available()} says whether it loaded. */
    PromptGemm(Cuda cu, CudaModule mod, long stream) {
        this.cu = cu;
        this.mod = mod;
        this.stream = stream;
        String[] w = new String[1];
        Cublas b = !CudaSettings.flag("fathom.cuda.cublas", true) ? null : Cublas.open(stream, w);
        if (b != null) {
            try {
                workspace = cu.malloc(WORKSPACE);
                b.setWorkspace(workspace, WORKSPACE);
            } catch (RuntimeException e) {
                b.close();
                b = null;
                w[0] = "cuBLAS workspace: " + e.getMessage();
            }
        } else if (w[0] == null) w[0] = "cuBLAS disabled (-Dfathom.cuda.cublas=false)";
        this.blas = b;
        this.why = w[0];
        Boolean ov = wgemmOverride;
        CudaModule h = null;
        String hw = null;
        if (b != null && (ov != null ? ov : wgemmEnabled())) {
            try {   // a driver that cannot load the sm_90a cubin leaves every multiply on cuBLAS, as without the switch
                h = CudaModule.hopper(cu);
                if (h != null) Wgemm.prepare(h);
                else if (ov != null || System.getProperty("fathom.cuda.wgemm") != null || cu.ccMajor() == 9 && cu.ccMinor() == 0)
                    hw = CudaModule.hopperRefusal(cu);   // asked for outright, or an H100/H200 build without the image; other GPUs by default: silent
            } catch (RuntimeException e) {
                h = null;
                hw = "the sm_90a kernels did not load (" + e.getMessage() + ")";
            }
        }
        this.hopper = h;
        this.wgemmWhy = hw;
    }

    /**
     * Why cuBLAS takes the multiplies {@link Wgemm} would: the sm_90a kernels failed to load, or {@code
     * -Dfathom.cuda.wgemm=true} (or the benchmarks' override) was set outright on a GPU or build without them, or a
     * compute capability 9.0 GPU runs a build without them; null when active, switched off, or on by default on any
     * other GPU (where it does not apply).
     */
    String wgemmUnavailableReason() { return wgemmWhy; }

    /**
     * Whether {@code -Dfathom.cuda.wgemm} lets {@link Wgemm} take multiplies on the GPUs that have it: default true. On
     * in the twenty-ninth session, off in the thirtieth (level with cuBLAS in runs whose order favoured one side), on
     * again in the thirty-first by the bench part prefillsteps: one loaded model, an untimed session first, three
     * rounds, every 128-token prefill through it shorter than every cuBLAS one (7.22-7.28 against 7.30-7.43 ms, H100).
     */
    static boolean wgemmEnabled() { return CudaSettings.flag("fathom.cuda.wgemm", true); }

    /**
     * Whether a multiply of {@code rows} rows goes through {@link Wgemm} with these operands (else through cuBLAS): in
     * the row range, operands it takes, and each block streaming at least {@code minStream} 64-column blocks of K under
     * {@code plan}.
     */
    static boolean wgemmTakes(boolean active, int rows, int minRows, int maxRows, String refusal, Wgemm.Plan plan, int minStream) {
        return active && rows >= minRows && rows <= maxRows && refusal == null && streamsEnough(plan, minStream);
    }

    /** Whether each block of {@code plan} streams at least {@code minStream} 64-column blocks of K. */
    static boolean streamsEnough(Wgemm.Plan plan, int minStream) { return plan.kBlocks() / plan.splits() >= minStream; }

    /** Where {@link Wgemm} runs a multiply: the form and its plan. */
    private record Route(String kernel, Wgemm.Plan plan) {}

    /**
     * The form and plan {@link Wgemm} runs {@code n} outputs × K = {@code k} × {@code rows} rows with, or null where the
     * multiply goes to cuBLAS; {@code refusal}: what the operands lack (null: nothing).
     */
    private Route route(int n, int k, int rows, String refusal) {
        Wgemm.Plan plan = hopper == null || rows < wgMin || rows > wgMax ? null : Wgemm.plan(wgKernel, n, k, rows, cu.smCount(), wgSplits);
        String kn = wgKernel;
        if (plan != null && wgShort != null && !streamsEnough(plan, wgMinStream)) {   // the short-stream form, where one is named
            kn = wgShort;
            plan = Wgemm.plan(kn, n, k, rows, cu.smCount(), wgSplits);
        }
        return plan != null && wgemmTakes(true, rows, wgMin, wgMax, refusal, plan, wgMinStream) ? new Route(kn, plan) : null;
    }

    /** One multiply, y (+)= x · Wᵀ, through {@link Wgemm} where it takes it, else through cuBLAS. */
    private void gemm(long w, int ldw, long x, int ldx, long y, int ldy, int n, int k, int rows, boolean accumulate) {
        Route r = route(n, k, rows, Wgemm.refusal(w, ldw, x, ldx, y, ldy));
        if (r != null) {
            Wgemm.launch(r.kernel(), hopper, mod, stream, r.plan(), w, ldw, n, x, ldx, k, rows, y, ldy, accumulate, wgStagger, wgPdl && Wgemm.swapped(r.kernel()));
            WGEMM_TOTAL.incrementAndGet();
        } else {
            blas.gemmBf16(w, ldw, x, ldx, y, ldy, n, k, rows, accumulate);
        }
    }

    /**
     * The gated pairs of the matrix last unpacked (stored rows in groups of {@code group}) straight into y through
     * {@link Wgemm#launchGated} where {@code -Dfathom.cuda.wgemmGated} is on and Wgemm takes the multiply with its gated
     * epilogue; whether it did (else the caller multiplies into the fp32 scratch and runs rows_gated).
     */
    private boolean gatedThroughWgemm(int stored, int k, long x, int ldx, int rows, long y, int n, int ldy, long bias, int group, int act, boolean bf16Out) {
        if (!wgGated) return false;
        Route r = route(stored, k, rows, Wgemm.inputRefusal(wSrc, ldw, x, ldx));
        if (r == null || Wgemm.gatedRefusal(r.kernel(), r.plan(), group, stored, n, ldy) != null || (y & 7) != 0) return false;
        Wgemm.launchGated(r.kernel(), hopper, stream, r.plan(), wSrc, ldw, stored, x, ldx, k, rows, y, n, ldy, bias, group, act, bf16Out, wgStagger, wgPdl);
        WGEMM_TOTAL.incrementAndGet();
        WGEMM_GATED.incrementAndGet();
        return true;
    }

    boolean available() { return blas != null; }
    String unavailableReason() { return why; }

    /**
     * Rows above which a GEMM over a matrix of this layout and weight type goes through cuBLAS. The tile and SIMT
     * layouts of BF16: 16 (measured on an H200 with llama-7b, decode steps of 16 rows cost the same either way, 13.7 ms;
     * of 32 rows 15.6 ms through unpack + cuBLAS against 23.7 ms through the tile kernels, whose tensor-core loop is not
     * built for 32 rows). Plain row-major BF16 rows, which cuBLAS reads in place: 1, so every GEMM
     * over more than one row goes to cuBLAS (on an H100, llama-7b decode steps at 2 / 4 / 8 rows took 5.997 / 6.022 /
     * 6.280 ms through cuBLAS against 6.754 / 6.928 / 7.733 ms through the split-K cluster kernels, in the same run;
     * docs/benchmarks.md, ninth session). INT8 rows, which cuBLAS reads only dequantized into a bf16 copy: 8, the most
     * rows the INT8 kernels take in one launch. {@code -Dfathom.cuda.blasRows} sets all three.
     */
    static int threshold(boolean rowMajor, DType dt) {
        int def = !rowMajor ? 16 : dt == DType.BF16 ? 1 : SbiSplitK.MAX_ROWS;
        return CudaSettings.integer("fathom.cuda.blasRows", def, 0, Integer.MAX_VALUE);
    }

    /** The lowest of the thresholds: a model whose passes never have more rows needs no cuBLAS. */
    static int lowestThreshold() {
        return Math.min(threshold(false, DType.BF16), Math.min(threshold(true, DType.BF16), threshold(true, DType.I8)));
    }

    /** Whether INT8 GEMMs over many rows go through cuBLAS ({@code -Dfathom.cuda.int8.blas}, default true). */
    static boolean int8Enabled() { return CudaSettings.flag("fathom.cuda.int8.blas", true); }

    /** Whether {@code rows} rows of this matrix go through cuBLAS (the threshold as it was when this was opened). */
    boolean applies(SbiLayout.Shape s, int rows) {
        return blas != null && eligible(s, rows, thresholdOf(s), int8);
    }

    /** The threshold of this matrix's layout and weight type ({@link #threshold(boolean, DType)}). */
    int thresholdOf(SbiLayout.Shape s) {
        return !s.rowMajor() ? minRows : s.dtype() == DType.BF16 ? minRowsRowMajor : minRowsInt8;
    }

    /**
     * {@link #applies} without cuBLAS itself: BF16 weights (any layout), or INT8 ones unless {@code int8} is off, over
     * more than {@code minRows} rows. Others (F32, F16, few rows) stay on the SBI / sbi8 kernels.
     */
    static boolean eligible(SbiLayout.Shape s, int rows, int minRows, boolean int8) {
        return (s.dtype() == DType.BF16 || int8 && s.dtype() == DType.I8) && rows > minRows;
    }

    /**
     * Row stride (elements) of the unpacked row-major form: K padded to whole chunks of the layout; for INT8 to whole
     * BF16 SIMT chunks (256), the stride the BF16 SIMT layout of the same matrix unpacks to.
     */
    static int rowMajorLd(SbiLayout.Shape s) {
        if (s.dtype() == DType.I8) return (s.k() + SbiLayout.chunk(DType.BF16) - 1) / SbiLayout.chunk(DType.BF16) * SbiLayout.chunk(DType.BF16);
        return s.mma() ? s.kChunks() * 16 : s.kChunks() * SbiLayout.chunk(DType.BF16);
    }

    /** Rows stored (the layout's padded, possibly permuted rows). */
    static int storedRows(SbiLayout.Shape s) { return s.groups() * s.groupRows(); }

    /** Bytes of the unpacked matrix. */
    static long rowMajorBytes(SbiLayout.Shape s) { return 2L * storedRows(s) * rowMajorLd(s); }

    /**
     * Sizes the scratch for matrices up to {@code maxWeightBytes} (row-major), inputs up to {@code maxK} wide and
     * gated outputs up to {@code maxGatedStored} stored rows, for at most {@code maxRows} rows per call. Call it
     * before any stream capture: allocation is not allowed inside one.
     */
    void reserve(long maxWeightBytes, int maxK, int maxGatedStored, int maxRows) {
        long[] b = scratchBytes(maxWeightBytes, maxK, maxGatedStored, maxRows);
        if (b[0] > wCap) { cu.free(wBuf); wBuf = cu.malloc(b[0]); wCap = b[0]; }
        if (b[1] > xCap) { cu.free(xBuf); xBuf = cu.malloc(b[1]); xCap = b[1]; }
        if (b[2] > cCap) { cu.free(cBuf); cBuf = cu.malloc(b[2]); cCap = b[2]; }
    }

    /** Reserves the scratch {@code sizes} asks for (see {@link #reserve(long, int, int, int)}). */
    void reserve(Sizes sizes, int maxRows) { reserve(sizes.weightBytes, sizes.maxK, sizes.gatedStored, maxRows); }

    /** Bytes {@link #reserve} allocates: {weights, bf16 activations of a chunk of rows, fp32 gated outputs of a chunk}. */
    static long[] scratchBytes(long maxWeightBytes, int maxK, int maxGatedStored, int maxRows) {
        int chunk = Math.min(CHUNK, Math.max(1, maxRows));
        return new long[]{maxWeightBytes, 2L * chunk * maxK, 4L * chunk * maxGatedStored};
    }

    /** Whether the reserved scratch holds this matrix (else the caller uses its own kernels). */
    boolean fits(SbiLayout.Shape s, int mode) { return fits(s, mode, new long[]{wCap, xCap, cCap}); }

    /** {@link #fits} against scratch of {@code caps} bytes ({@link #scratchBytes}'s order). */
    static boolean fits(SbiLayout.Shape s, int mode, long[] caps) {
        return (!needsUnpack(s) || rowMajorBytes(s) <= caps[0]) && caps[1] >= 2L * s.k() && (mode != 1 || caps[2] >= 4L * storedRows(s));
    }

    /** Whether {@link #unpack} moves bytes for this matrix (not for BF16 stored row-major; INT8 is always dequantized). */
    static boolean needsUnpack(SbiLayout.Shape s) { return !s.rowMajor() || s.dtype() == DType.I8; }

    /** Bytes the unpack of this matrix moves: the packed form read (INT8: rows up to K and scales), the row-major one written. */
    static long unpackBytes(SbiLayout.Shape s, int int8Group) {
        return (s.dtype() == DType.I8 ? Int8Layout.readBytes(s, int8Group) : s.bytes()) + rowMajorBytes(s);
    }

    /**
     * The scratch a model's matrices need, noted as they are packed ({@link #add}): the largest row-major form of a
     * matrix that is unpacked, the widest input, the most stored rows of a gated matrix. {@code weightBytes} is 0 when
     * no matrix can go through cuBLAS (then the model opens none), 1 when all are read in place.
     */
    static final class Sizes {
        long weightBytes;
        int maxK, gatedStored;

        /** Notes matrix {@code s} ({@code gated}: pairs of gate and up rows); F32 / F16 (and INT8 when off) never go through cuBLAS. */
        void add(SbiLayout.Shape s, boolean gated) {
            if (!eligible(s, Integer.MAX_VALUE, 0, int8Enabled())) return;
            weightBytes = Math.max(weightBytes, needsUnpack(s) ? rowMajorBytes(s) : 1);
            maxK = Math.max(maxK, s.k());
            if (gated) gatedStored = Math.max(gatedStored, storedRows(s));
        }
    }

    private int blocks(long elements) { return (int) Math.max(1, Math.min((elements + 255) / 256, cu.smCount() * 16L)); }

    /** Unpacks the packed matrix at {@code w} into the row-major scratch. */
    void unpack(long w, SbiLayout.Shape s) {
        if (s.dtype() == DType.I8) throw new IllegalArgumentException("INT8 weights: unpack(w, shape, scales, group)");
        ldw = rowMajorLd(s);
        wSrc = s.rowMajor() ? w : wBuf;
        if (s.rowMajor()) return;
        if (s.mma()) {
            long items = (long) s.groups() * ((s.kChunks() + 3) / 4);   // a warp per row tile x 4 k tiles
            int blocks = (int) Math.max(1, Math.min((items + 7) / 8, cu.smCount() * 16L));
            mod.launch("untile_mma_bf16", blocks, 1, 256, 0, stream, w, s.kChunks(), s.groups(), wBuf, ldw);
        } else {
            long vectors = (long) s.groups() * s.kChunks() * 128;
            mod.launch("untile_simt_bf16", blocks(vectors), 1, 256, 0, stream, w, s.kChunks(), s.groups(), wBuf, ldw);
        }
    }

    /**
     * Dequantizes the INT8 matrix at {@code w} (scales at {@code scales}, one per {@code group} columns of a row) into
     * the row-major bf16 scratch; other dtypes are unpacked as {@link #unpack(long, SbiLayout.Shape)} does.
     */
    void unpack(long w, SbiLayout.Shape s, long scales, int group) {
        if (s.dtype() != DType.I8) { unpack(w, s); return; }
        ldw = rowMajorLd(s);
        wSrc = wBuf;
        int stored = storedRows(s);
        mod.launch("dequant_i8_bf16", blocks((long) stored * ldw / 8), 1, 256, 0, stream, w, s.kChunks() * Int8Layout.CHUNK, scales,
                Int8Layout.scaleGroups(s.k(), group), Int8Layout.groupShift(group), s.k(), stored, wBuf, ldw);
    }

    /**
     * What a {@link #multiply} reads. fp32 rows {@code x} (row stride {@code ldx} floats) are rounded to bf16 by
     * {@code rows_to_bf16}; with norm weights ({@code normW} != 0) they are the un-normed residual stream and
     * {@code norm_rows_bf16} norms and rounds them in one pass (RMS or LayerNorm, {@code normB} its bias or 0); bf16
     * rows ({@code bf16}, stride {@code ldx} elements), written by an earlier multiply's bf16 output, go to cuBLAS as
     * they are.
     */
    record Input(long x, int ldx, boolean bf16, long normW, long normB, boolean rms, float eps) {
        static Input f32(long x, int ldx) { return new Input(x, ldx, false, 0, 0, false, 0f); }

        static Input normed(long x, int ldx, long normW, long normB, boolean rms, float eps) {
            if (normW == 0) throw new IllegalArgumentException("a normed input needs the norm's weights");
            return new Input(x, ldx, false, normW, normB, rms, eps);
        }

        static Input bf16(long x, int ldx) { return new Input(x, ldx, true, 0, 0, false, 0f); }

        /** Bytes of {@code rows} rows of {@code k} read from this input. */
        long bytes(int rows, int k) { return (bf16 ? 2L : 4L) * rows * k; }
    }

    /**
     * y[rows, ldy] = epilogue(x[rows, ldx] · Wᵀ) with the matrix last {@link #unpack unpacked}; the modes of the SBI
     * kernels: 0 plain (+ bias[n], + res[rows, ldy], which may be y), 1 gated pairs, 2 act(acc + bias).
     */
    void multiply(SbiLayout.Shape s, long bias, long x, int ldx, int rows, long y, int ldy, long res, int mode, int act) {
        multiply(s, bias, Input.f32(x, ldx), rows, y, ldy, res, mode, act, false);
    }

    /**
     * {@link #multiply(SbiLayout.Shape, long, long, int, int, long, int, long, int, int)} from {@code in}; with
     * {@code bf16Out} (gated pairs only) y is bf16 rows of stride {@code ldy} elements, the next multiply's
     * {@link Input#bf16} input, instead of fp32.
     */
    void multiply(SbiLayout.Shape s, long bias, Input in, int rows, long y, int ldy, long res, int mode, int act, boolean bf16Out) {
        int k = s.k(), n = s.n(), stored = storedRows(s);
        if (bf16Out && mode != 1) throw new IllegalArgumentException("bf16 output is made by the gated epilogue only (mode 1, not " + mode + ")");
        if (in.normW() != 0 && in.ldx() != k) throw new IllegalArgumentException("a normed input is whole rows: ldx " + in.ldx() + " != K " + k);
        int chunk = in.bf16() ? CHUNK : (int) Math.min(CHUNK, xCap / (2L * k));
        if (mode == 1) chunk = (int) Math.min(chunk, cCap / (4L * stored));
        for (int r0 = 0; r0 < rows; r0 += chunk) {
            int m = Math.min(chunk, rows - r0);
            long yr = y + (bf16Out ? 2L : 4L) * r0 * ldy, rr = res == 0 ? 0 : res + 4L * r0 * ldy;
            long xb = xBuf;
            int ldb = k;
            if (in.bf16()) {
                xb = in.x() + 2L * r0 * in.ldx();
                ldb = in.ldx();
            } else if (in.normW() != 0) {
                mod.launch("norm_rows_bf16", m, 1, 1024, 0, stream, in.x() + 4L * r0 * in.ldx(), 0L, xBuf, k, in.normW(), in.normB(),
                        in.eps(), in.rms() ? 1 : 0);
            } else {
                mod.launch("rows_to_bf16", blocks((long) m * k), 1, 256, 0, stream, in.x() + 4L * r0 * in.ldx(), in.ldx(), m, k, xBuf);
            }
            switch (mode) {
                case 0 -> {
                    boolean accumulate = res != 0;
                    if (bias != 0 || (res != 0 && res != y)) {
                        mod.launch("rows_prefill", blocks((long) m * n), 1, 256, 0, stream, yr, ldy, n, m, bias, rr);
                        accumulate = true;
                    }
                    gemm(wSrc, ldw, xb, ldb, yr, ldy, n, k, m, accumulate);
                }
                case 1 -> {
                    if (gatedThroughWgemm(stored, k, xb, ldb, m, yr, n, ldy, bias, s.groupRows(), act, bf16Out)) continue;
                    gemm(wSrc, ldw, xb, ldb, cBuf, stored, stored, k, m, false);
                    mod.launch(bf16Out ? "rows_gated_bf16" : "rows_gated", blocks((long) m * n), 1, 256, 0, stream, cBuf, stored, yr, ldy, n, m,
                            bias, s.groupRows(), act);
                }
                default -> {
                    gemm(wSrc, ldw, xb, ldb, yr, ldy, n, k, m, false);
                    mod.launch("rows_bias_act", blocks((long) m * n), 1, 256, 0, stream, yr, ldy, n, m, bias, act);
                }
            }
        }
    }

    @Override
    public void close() {
        if (blas != null) blas.close();
        cu.free(wBuf);
        cu.free(xBuf);
        cu.free(cBuf);
        cu.free(workspace);
        wBuf = xBuf = cBuf = workspace = 0;
    }
}
