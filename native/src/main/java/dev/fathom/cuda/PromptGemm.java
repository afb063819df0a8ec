package dev.fathom.cuda;

import dev.fathom.engine.tensor.DType;

/**
 * The large-batch (prompt-phase) GEMM of BF16 weights: cuBLAS on tensor cores, fed from the SBI layouts.
 *
 * <p>The weights stay in the layout the decode kernels stream (one copy on the device); for a GEMM over many
 * rows, the projection is first unpacked into a row-major bf16 scratch buffer ({@code untile_mma_bf16} /
 * {@code untile_simt_bf16}: one read and one write of its bytes), the fp32 activations are rounded to bf16, and
 * {@code cublasGemmEx} multiplies with fp32 accumulation. Epilogues: the residual and bias are written into
 * the output first and cuBLAS accumulates onto them (beta = 1); gated pairs and activations run as one
 * element-wise pass after it. Rows go through in chunks of {@link #CHUNK} so the scratch stays bounded.
 *
 * <p>Used when the weights are BF16, cuBLAS loads, and there are more rows than {@link #threshold()}; otherwise
 * {@link CudaModel} keeps its own kernels.
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
    /** {@link #threshold()} read once: it is consulted for every GEMM of a pass. */
    private final int minRows = threshold();
    /** The row-major weights of the next multiply: the scratch, or the matrix itself when it is stored row-major. */
    private long wSrc;

    /** Opens cuBLAS on {@code stream}; {@link #available()} says whether it loaded. */
    PromptGemm(Cuda cu, CudaModule mod, long stream) {
        this.cu = cu;
        this.mod = mod;
        this.stream = stream;
        String[] w = new String[1];
        Cublas b = "false".equals(System.getProperty("fathom.cuda.cublas")) ? null : Cublas.open(stream, w);
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
    }

    boolean available() { return blas != null; }
    String unavailableReason() { return why; }

    /**
     * Rows above which a BF16 GEMM goes through cuBLAS ({@code -Dfathom.cuda.blasRows}, default 16): measured on an
     * H200 with llama-7b, decode steps of 16 rows cost the same either way (13.7 ms), of 32 rows 15.6 ms through
     * unpack + cuBLAS against 23.7 ms through the tile kernels, whose tensor-core loop is not built for 32 rows.
     */
    static int threshold() { return Integer.getInteger("fathom.cuda.blasRows", 16); }

    /** Whether {@code rows} rows of this matrix go through cuBLAS (the threshold as it was when this was opened). */
    boolean applies(SbiLayout.Shape s, int rows) { return blas != null && s.dtype() == DType.BF16 && rows > minRows; }

    /** Row stride (elements) of the unpacked row-major form: K padded to whole chunks of the layout. */
    static int rowMajorLd(SbiLayout.Shape s) { return s.mma() ? s.kChunks() * 16 : s.kChunks() * SbiLayout.chunk(DType.BF16); }

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
        int chunk = Math.min(CHUNK, Math.max(1, maxRows));
        if (maxWeightBytes > wCap) { cu.free(wBuf); wBuf = cu.malloc(maxWeightBytes); wCap = maxWeightBytes; }
        long xb = 2L * chunk * maxK;
        if (xb > xCap) { cu.free(xBuf); xBuf = cu.malloc(xb); xCap = xb; }
        long cb = 4L * chunk * maxGatedStored;
        if (cb > cCap) { cu.free(cBuf); cBuf = cu.malloc(cb); cCap = cb; }
    }

    /** Whether the reserved scratch holds this matrix (else the caller uses its own kernels). */
    boolean fits(SbiLayout.Shape s, int mode) {
        return (s.rowMajor() || rowMajorBytes(s) <= wCap) && xCap >= 2L * s.k() && (mode != 1 || cCap >= 4L * storedRows(s));
    }

    /** Whether {@link #unpack} moves bytes for this matrix (not for one stored row-major). */
    static boolean needsUnpack(SbiLayout.Shape s) { return !s.rowMajor(); }

    private int blocks(long elements) { return (int) Math.max(1, Math.min((elements + 255) / 256, cu.smCount() * 16L)); }

    /** Unpacks the packed matrix at {@code w} into the row-major scratch. */
    void unpack(long w, SbiLayout.Shape s) {
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
     * y[rows, ldy] = epilogue(x[rows, ldx] · Wᵀ) with the matrix last {@link #unpack unpacked}; the modes of the SBI
     * kernels: 0 plain (+ bias[n], + res[rows, ldy], which may be y), 1 gated pairs, 2 act(acc + bias).
     */
    void multiply(SbiLayout.Shape s, long bias, long x, int ldx, int rows, long y, int ldy, long res, int mode, int act) {
        int k = s.k(), n = s.n(), stored = storedRows(s);
        int chunk = (int) Math.min(CHUNK, xCap / (2L * k));
        if (mode == 1) chunk = (int) Math.min(chunk, cCap / (4L * stored));
        for (int r0 = 0; r0 < rows; r0 += chunk) {
            int m = Math.min(chunk, rows - r0);
            long xr = x + 4L * r0 * ldx, yr = y + 4L * r0 * ldy, rr = res == 0 ? 0 : res + 4L * r0 * ldy;
            mod.launch("rows_to_bf16", blocks((long) m * k), 1, 256, 0, stream, xr, ldx, m, k, xBuf);
            switch (mode) {
                case 0 -> {
                    boolean accumulate = res != 0;
                    if (bias != 0 || (res != 0 && res != y)) {
                        mod.launch("rows_prefill", blocks((long) m * n), 1, 256, 0, stream, yr, ldy, n, m, bias, rr);
                        accumulate = true;
                    }
                    blas.gemmBf16(wSrc, ldw, xBuf, k, yr, ldy, n, k, m, accumulate);
                }
                case 1 -> {
                    blas.gemmBf16(wSrc, ldw, xBuf, k, cBuf, stored, stored, k, m, false);
                    mod.launch("rows_gated", blocks((long) m * n), 1, 256, 0, stream, cBuf, stored, yr, ldy, n, m, bias, s.groupRows(), act);
                }
                default -> {
                    blas.gemmBf16(wSrc, ldw, xBuf, k, yr, ldy, n, k, m, false);
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
