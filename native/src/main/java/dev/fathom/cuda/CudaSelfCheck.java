package dev.fathom.cuda;

import dev.fathom.engine.tensor.DType;
import dev.fathom.engine.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * GPU correctness checks, usable from JUnit (which skips them without a driver) and from the command line
 * on a machine without Maven: {@code java -cp ... dev.fathom.cuda.CudaSelfCheck <fixtures dir>}. The kernel checks
 * against float64 live here (attention's in {@link AttentionCheck}, INT8's in {@link Int8Check}); the fixture runs in {@link FixtureCheck};
 * a failed check says where its wrong outputs lie ({@link GemmDiagnosis}).
 */
public final class CudaSelfCheck {
    private CudaSelfCheck() {}

    // ------------------------------------------------------------------ SBI-GEMM vs a float64 CPU reference

    /** One kernel check: relative error of y, and whether every output was written (no NaN poison left). */
    public record GemmResult(String what, double relErr, boolean allWritten, String pattern) {
        public GemmResult(String what, double relErr, boolean allWritten) { this(what, relErr, allWritten, ""); }

        public boolean ok(double tol) { return allWritten && relErr <= tol; }

        /** The check's line; a failure adds where its wrong outputs lie ({@link GemmDiagnosis#pattern}). */
        String line(boolean pass) {
            return String.format("GEMM %-56s rel %.2e written %s %s", what, relErr, allWritten, pass ? "ok" : "FAIL")
                    + (pass || pattern.isEmpty() ? "" : "\n     " + pattern);
        }
    }

    /**
     * SBI-GEMM on fresh random inputs against a float64 reference computed from the same (rounded) weights.
     * Outputs are poisoned with NaN first. mode 0 with bias and residual, mode 1 gated pairs (SiLU), mode 2 (ReLU).
     */
    public static GemmResult gemm(DType dt, boolean mma, int n, int k, int rows, int mode, long seed) {
        return gemm(dt, mma, n, k, rows, mode, seed, false);
    }

    /** Same; {@code blas}: through {@link PromptGemm} (unpack to row-major + cuBLAS + epilogues), as BF16 prompts run. */
    public static GemmResult gemm(DType dt, boolean mma, int n, int k, int rows, int mode, long seed, boolean blas) {
        return gemm(dt, mma, false, n, k, rows, mode, seed, blas);
    }

    /** Same; {@code rowMajor}: BF16 weights stored row-major, read by the sbirm kernels (and by cuBLAS in place). */
    public static GemmResult gemm(DType dt, boolean mma, boolean rowMajor, int n, int k, int rows, int mode, long seed, boolean blas) {
        return gemm(dt, mma, rowMajor, n, k, rows, mode, seed, blas, false, null, 0);
    }

    /**
     * Same; {@code norm}: the RMS-norm-fused kernels (sbin_* / sbirmn_*), x un-normed with a random norm weight,
     * against float64 W·(x·rsqrt(mean(x²) + eps)·gamma).
     */
    public static GemmResult gemm(DType dt, boolean mma, boolean rowMajor, int n, int k, int rows, int mode, long seed, boolean blas,
                                  boolean norm) {
        return gemm(dt, mma, rowMajor, n, k, rows, mode, seed, blas, norm, null, 0);
    }

    /**
     * Same; {@code splitK} (a kernel of {@link SbiSplitK}, tile layout, 2..8 rows) with {@code cluster} K slices per
     * row group (0: the kernel's plan). {@code norm}: with the RMS norm fused (x un-normed, a random norm weight).
     */
    public static GemmResult gemm(DType dt, boolean mma, boolean rowMajor, int n, int k, int rows, int mode, long seed, boolean blas,
                                  String splitK, int cluster, boolean norm) {
        return gemm(dt, mma, rowMajor, n, k, rows, mode, seed, blas, norm, splitK, cluster);
    }

    private static GemmResult gemm(DType dt, boolean mma, boolean rowMajor, int n, int k, int rows, int mode, long seed, boolean blas,
                                   boolean norm, String splitK, int cluster) {
        return gemm(dt, mma, rowMajor, blas, splitK, cluster, Inputs.random(n, k, rows, mode, seed, norm), null);
    }

    /** A check over inputs {@code in}; {@code keep}: where to leave the output [rows, n] too (null: nowhere). */
    private static GemmResult gemm(DType dt, boolean mma, boolean rowMajor, boolean blas, String splitK, int cluster, Inputs in, float[][] keep) {
        int n = in.n(), k = in.k(), rows = in.rows(), mode = in.mode();
        boolean norm = in.norm();
        if (norm && (blas || (mma && splitK == null)))
            throw new IllegalArgumentException("the norm is fused only into the SIMT, row-major and split-K kernels");
        CudaModule mod = CudaModule.get();
        Cuda cu = mod.cuda();
        cu.makeCurrent();
        try (Arena a = Arena.ofShared()) {
            Tensor w = Tensor.of("w", dt, new long[]{in.outRows(), k}, in.w(), a);   // rounded to dt: the reference reads it back
            Rows src = in.rows(w, mma ? SbiLayout.MMA_GROUP : SbiLayout.GROUP, a);
            SbiLayout.Shape[] shape = new SbiLayout.Shape[1];
            MemorySegment packed = SbiLayout.pack(src.src(), src.order()[0], src.order()[1], n, k, dt, mma, rowMajor, a, shape);
            SbiLayout.Launch l = SbiLayout.plan(shape[0], cu.smCount());
            int vec = k % (mma ? 2 : 4) == 0 ? 1 : 0;
            try (Buffers d = new Buffers(cu, packed, src, in, a)) {
                long stream = d.stream, dW = d.w, dB = d.b, dX = d.x, dR = d.r, dY = d.y, dG = d.gamma;
                String sk = "";
                if (splitK != null) {
                    // cluster < 0: a stream-K kernel over exactly -cluster blocks
                    SbiSplitK.Plan p = cluster > 0 ? SbiSplitK.fixed(splitK, shape[0], rows, cluster, cu.smCount())
                            : cluster < 0 ? TmaKernels.streamKGrid(splitK, shape[0], rows, -cluster)
                            : SbiSplitK.plan(splitK, shape[0], rows, cu.smCount());
                    if (p == null) return new GemmResult(splitK + ": no launch plan for " + n + "x" + k, Double.NaN, false);
                    SbiSplitK.launch(mod, false, p, stream, dW, shape[0], dX, k, dB, mode == 0 ? dR : 0L, dY, n, rows, mode,
                            mode == 1 ? 3 : 2, vec, norm ? dG : 0L, norm ? Inputs.EPS : 0f);
                    sk = "/" + splitK + (TmaKernels.streamK(splitK) ? " G=" + p.blocks() : " C=" + p.cluster());
                } else if (blas) {
                    try (PromptGemm pg = new PromptGemm(cu, mod, stream)) {
                        if (!pg.available()) return new GemmResult("cuBLAS: " + pg.unavailableReason(), Double.NaN, false);
                        pg.reserve(PromptGemm.rowMajorBytes(shape[0]), k, PromptGemm.storedRows(shape[0]), rows);
                        pg.unpack(dW, shape[0]);
                        // mode 0 accumulates onto the residual in place, as the model's out-projection does
                        if (mode == 0) cu.copyDeviceToDevice(dY, dR, 4L * rows * n, stream);
                        pg.multiply(shape[0], dB, dX, k, rows, dY, n, mode == 0 ? dY : 0L, mode, mode == 1 ? 3 : 2);
                        cu.synchronize(stream);
                    }
                } else if (mma && rows > 32) {
                    int warps = CudaGemms.tileGemmWarps(rows);
                    mod.launch("tilegemm_bf16", (rows + 63) / 64, (shape[0].groups() + warps - 1) / warps, 32 * warps, 0, stream, dW, dX, k, k,
                            shape[0].kChunks(), shape[0].groups(), 1, dB, mode == 0 ? dR : 0L, dY, n, n, rows, mode, mode == 1 ? 3 : 2, vec);
                }
                for (int t = 0; t < (splitK != null || blas || (mma && rows > 32) ? 0 : rows); ) {
                    int nb = mma && rows - t > 8 ? Math.min(32, rows - t) : Math.min(8, rows - t);
                    String kn = mma ? (nb == 1 ? "sbitile_bf16_1" : "sbimma_bf16_" + (nb > 8 ? 32 : 8))
                            : (dt == DType.F32 ? "sbi_f32_" : dt == DType.BF16 ? (rowMajor ? "sbirm_bf16_" : "sbi_bf16_") : "sbi_f16_")
                            + (nb == 1 ? 1 : nb <= 2 ? 2 : nb <= 4 ? 4 : 8);
                    if (norm) mod.launch(CudaGemms.normKernel(kn), l.blocks(), 1, 256, 0, stream, dW, dX + 4L * t * k, k, k, shape[0].kChunks(),
                            shape[0].groups(), l.ks(), dB, mode == 0 ? dR + 4L * t * n : 0L, dY + 4L * t * n, n, n, nb, mode, mode == 1 ? 3 : 2, vec, dG, Inputs.EPS);
                    else mod.launch(kn, l.blocks(), 1, 256, 0, stream, dW, dX + 4L * t * k, k, k, shape[0].kChunks(), shape[0].groups(), l.ks(),
                            dB, mode == 0 ? dR + 4L * t * n : 0L, dY + 4L * t * n, n, n, nb, mode, mode == 1 ? 3 : 2, vec);
                    t += nb;
                }
                String what = String.format("%s%s%s%s%s n=%d k=%d rows=%d mode=%d ks=%d", dt, mma ? "/mma" : "", shape[0].rowMajor() ? "/rowmajor" : "",
                        blas ? "/cublas" : "", (norm ? "/norm" : "") + sk, n, k, rows, mode, l.ks());
                float[] y = d.output(a);
                if (keep != null) keep[0] = y;
                return in.compare(what, y, w::get);
            }
        }
    }

    /**
     * Fresh random inputs of a GEMM check: weights [outRows, k] (mode 1: gate rows [0, n), up rows [n, 2n)), bias, x,
     * residual; {@code norm}: the kernel RMS-norms x with {@code gamma} first (the fused kernels), {@code xin} is what
     * it multiplies.
     */
    record Inputs(int n, int k, int rows, int mode, float[] w, float[] bias, float[] x, float[] res, float[] gamma,
                          boolean norm, double[] xin) {
        static final float EPS = 1e-5f;

        static Inputs random(int n, int k, int rows, int mode, long seed) { return random(n, k, rows, mode, seed, false); }

        static Inputs random(int n, int k, int rows, int mode, long seed, boolean norm) {
            Random rnd = new Random(seed);
            int out = mode == 1 ? 2 * n : n;
            float[] w = new float[out * k], bias = new float[out], x = new float[rows * k], res = new float[rows * n], gamma = new float[k];
            for (int i = 0; i < w.length; i++) w[i] = (float) rnd.nextGaussian() * 0.1f;
            for (int i = 0; i < bias.length; i++) bias[i] = (float) rnd.nextGaussian();
            for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
            for (int i = 0; i < res.length; i++) res[i] = (float) rnd.nextGaussian();
            for (int i = 0; i < k; i++) gamma[i] = 1f + 0.3f * (float) rnd.nextGaussian();
            double[] xin = new double[x.length];
            for (int r = 0; r < rows; r++) {
                double ss = 0;
                for (int i = 0; i < k; i++) ss += (double) x[r * k + i] * x[r * k + i];
                double inv = norm ? 1 / Math.sqrt(ss / k + EPS) : 1;
                for (int i = 0; i < k; i++) xin[r * k + i] = norm ? x[r * k + i] * inv * gamma[i] : x[r * k + i];
            }
            return new Inputs(n, k, rows, mode, w, bias, x, res, gamma, norm, xin);
        }

        int outRows() { return mode == 1 ? 2 * n : n; }

        /** {@code w}'s rows as the layouts take them (gate/up pairs for mode 1) in groups of {@code group} rows, with their biases. */
        Rows rows(Tensor w, int group, Arena a) {
            Tensor b = Tensor.ofFloats("b", new long[]{outRows()}, bias, a);
            if (mode == 1)
                return new Rows(new Tensor[]{w.sliceRows(0, n), w.sliceRows(n, 2 * n)}, SbiLayout.gatedPairs(n, group),
                        new Tensor[]{b.slice1d(0, n), b.slice1d(n, 2 * n)});
            return new Rows(new Tensor[]{w}, SbiLayout.stacked(group, w), new Tensor[]{b});
        }

        /** Relative error of {@code y} [rows, n] against float64 with weights {@code wt(o, i)}; mode 1 SiLU-gated, mode 2 ReLU. */
        GemmResult compare(String what, float[] y, WeightAt wt) {
            double[] refs = references(wt);
            double num = 0, den = 0;
            boolean written = true;
            for (int j = 0; j < refs.length; j++) {   // summed in order: the same figure whatever the threads did
                float got = y[j];
                double ref = refs[j];
                if (Float.isNaN(got)) written = false;
                num += (got - ref) * (got - ref);
                den += ref * ref;
            }
            double rel = Math.sqrt(num / den);
            return new GemmResult(what, rel, written, rel > 1e-5 || !written ? GemmDiagnosis.pattern(y, refs, rows, n) : "");
        }

        /**
         * The float64 outputs [rows, n] the kernel should give, one row per task across the machine's cores (these loops
         * were most of a check step's time on the GPU machine); {@code wt} must allow reads from several threads.
         */
        double[] references(WeightAt wt) {
            double[] refs = new double[rows * n];
            java.util.stream.IntStream.range(0, rows).parallel().forEach(r -> {
                for (int o = 0; o < n; o++) {
                    double ref;
                    if (mode == 1) {
                        double gsum = bias[o], usum = bias[n + o];
                        for (int i = 0; i < k; i++) {
                            gsum += wt.at(o, i) * xin[r * k + i];
                            usum += wt.at(n + o, i) * xin[r * k + i];
                        }
                        ref = gsum / (1 + Math.exp(-gsum)) * usum;
                    } else {
                        double s = bias[o];
                        for (int i = 0; i < k; i++) s += wt.at(o, i) * xin[r * k + i];
                        ref = mode == 0 ? s + res[r * n + o] : Math.max(0, s);
                    }
                    refs[r * n + o] = ref;
                }
            });
            return refs;
        }

        /** Mode 0 inputs with no bias, residual or norm: the given weights [n, k] and activations [rows, k]. */
        static Inputs of(float[] w, float[] x, int n, int k, int rows) {
            double[] xin = new double[x.length];
            for (int i = 0; i < x.length; i++) xin[i] = x[i];
            float[] gamma = new float[k];
            Arrays.fill(gamma, 1f);
            return new Inputs(n, k, rows, 0, w, new float[n], x, new float[rows * n], gamma, false, xin);
        }
    }

    /** Weight (o, i) of a check's reference. */
    interface WeightAt { double at(int o, int i); }

    /** A check's weight sources, their row order in the layout, and their biases (same indexing). */
    record Rows(Tensor[] src, int[][] order, Tensor[] biases) {}

    /** Device copies of a check's packed weights, permuted bias, x and residual, and its NaN-poisoned output [rows, n]. */
    static final class Buffers implements AutoCloseable {
        final Cuda cu;
        final long stream;
        final List<Long> mem = new ArrayList<>();
        final long w, b, x, r, y, gamma;
        final int count;

        Buffers(Cuda cu, MemorySegment packed, Rows src, Inputs in, Arena a) {
            this.cu = cu;
            this.stream = cu.streamCreate();
            w = dev(cu, mem, packed, stream);
            b = dev(cu, mem, SbiLayout.floats(SbiLayout.permute(src.biases(), src.order()[0], src.order()[1]), a), stream);
            x = dev(cu, mem, SbiLayout.floats(in.x(), a), stream);
            r = dev(cu, mem, SbiLayout.floats(in.res(), a), stream);
            gamma = dev(cu, mem, SbiLayout.floats(in.gamma(), a), stream);
            count = in.rows() * in.n();
            y = cu.malloc(4L * count);
            mem.add(y);
            cu.fill32(y, 0x7fc00000, count, stream);
        }

        float[] output(Arena a) {
            MemorySegment hy = a.allocate(4L * count, 16);
            cu.copyToHost(hy, y, 4L * count, stream);
            cu.synchronize(stream);
            float[] out = new float[count];
            MemorySegment.copy(hy, ValueLayout.JAVA_FLOAT, 0, out, 0, count);
            return out;
        }

        @Override
        public void close() {
            for (long p : mem) cu.free(p);
            cu.streamDestroy(stream);
        }
    }

    static long dev(Cuda cu, List<Long> mem, MemorySegment host, long stream) {
        long p = cu.malloc(host.byteSize());
        mem.add(p);
        cu.copyToDevice(p, host, host.byteSize(), stream);
        cu.synchronize(stream);
        return p;
    }

    /**
     * argmax_rows (greedy sampling on the device) on {@code rows} rows of {@code n} random logits against
     * {@link dev.fathom.engine.backend.ModelRunner#argmax}: row 0 all equal (the first index wins), row 1 its largest
     * value planted at the end and again earlier (the earlier wins), row 2 all -inf, row 3 NaNs around a finite largest
     * value; the output poisoned first. relErr = the share of rows whose pick differs.
     */
    static GemmResult argmax(int rows, int n, long seed) {
        CudaModule mod = CudaModule.get();
        Cuda cu = mod.cuda();
        cu.makeCurrent();
        java.util.Random rnd = new java.util.Random(seed);
        float[] x = new float[rows * n];
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
        if (rows > 0) java.util.Arrays.fill(x, 0, n, 1.5f);
        if (rows > 1) { x[2 * n - 1] = 9f; x[n + n / 2] = 9f; }
        if (rows > 2) java.util.Arrays.fill(x, 2 * n, 3 * n, Float.NEGATIVE_INFINITY);
        if (rows > 3) { x[3 * n] = Float.NaN; x[4 * n - 1] = Float.NaN; x[3 * n + n / 3] = 50f; }
        long stream = cu.streamCreate();
        List<Long> mem = new ArrayList<>();
        try (Arena a = Arena.ofShared()) {
            long dx = dev(cu, mem, SbiLayout.floats(x, a), stream), dy = cu.malloc(4L * rows);
            mem.add(dy);
            cu.fill32(dy, -1, rows, stream);
            mod.launch("argmax_rows", rows, 1, CudaModel.ARGMAX_THREADS, 0, stream, dx, n, dy);
            MemorySegment h = a.allocate(4L * rows, 16);
            cu.copyToHost(h, dy, 4L * rows, stream);
            cu.synchronize(stream);
            int wrong = 0;
            boolean written = true;
            for (int r = 0; r < rows; r++) {
                int g = h.getAtIndex(ValueLayout.JAVA_INT, r);
                if (g < 0) written = false;
                if (g != dev.fathom.engine.backend.ModelRunner.argmax(Arrays.copyOfRange(x, r * n, (r + 1) * n))) wrong++;
            }
            return new GemmResult(String.format("argmax_rows %d x %d", rows, n), rows == 0 ? 0 : (double) wrong / rows, written);
        } finally {
            for (long p : mem) cu.free(p);
            cu.streamDestroy(stream);
        }
    }

    /** argmax_rows over vocabulary sizes from 1 to GPT-2's and Llama's, 1 to 33 rows; whether all picks matched. */
    static boolean argmaxChecks(long seed) {
        boolean ok = true;
        for (int n : new int[]{1, 7, 1000, 1025, 32000, 50257})
            for (int rows : new int[]{1, 4, 33}) {
                GemmResult r = argmax(rows, n, seed++);
                ok &= r.ok(0);
                if (!r.ok(0) || rows == 33) System.out.printf("%-72s wrong %.2e written %s %s%n", r.what(), r.relErr(), r.allWritten(), r.ok(0) ? "ok" : "FAIL");
            }
        return ok;
    }

    /** The split-K kernels checked: over the row-major rows (the default layout on sm_90) and over the tiles. */
    static final List<String> SPLIT_K_KERNELS = java.util.stream.Stream.concat(SbiSplitK.ROW_MAJOR_KERNELS.stream(),
            SbiSplitK.KERNELS.stream()).toList();

    /** The prompt attention kernels (per row, 64- and 32-row query tiles, fp32 and tensor-core) against float64; whether all passed. */
    static boolean attentionChecks(long seed) {
        boolean ok = true;
        int[][] att = {{64, 4, 4}, {128, 8, 2}, {20, 3, 1}, {80, 2, 2}, {256, 2, 1}, {16, 4, 2}, {32, 6, 3}};
        int[][] lensList = {{1}, {37}, {130, 5, 64}, {200}};
        for (int[] c : att)
            for (int[] lens : lensList) {
                for (GemmResult r : AttentionCheck.attention(c[0], c[1], c[2], lens, seed++)) {
                    boolean pass = r.ok(AttentionCheck.tolerance(r));
                    ok &= pass;
                    System.out.printf("%-72s rel %.2e written %s %s%n", r.what(), r.relErr(), r.allWritten(), pass ? "ok" : "FAIL");
                }
            }
        return ok;
    }

    /** The prompt's RoPE + KV append (float32 and bf16 caches) against float64: head dims, GQA, rotation, head splits; whether all passed. */
    static boolean ropeChecks(long seed) {
        boolean ok = true;
        int[][] cfg = {{128, 32, 32, 128}, {128, 8, 2, 32}, {20, 3, 1, 0}, {80, 5, 5, 20}, {64, 4, 4, 64}};
        int[][] lensList = {{1}, {37}, {130, 5, 64}};
        for (int[] c : cfg)
            for (int[] lens : lensList)
                for (int splits : new int[]{1, 3, 5, c[1] + c[2]})
                    for (boolean kb : new boolean[]{false, true}) {
                        GemmResult r = AttentionCheck.ropeKvRows(c[0], c[1], c[2], c[3], lens, splits, kb, seed++);
                        boolean pass = r.ok(1e-5);
                        ok &= pass;
                        if (!pass || lens.length == 3 && splits == 5)
                            System.out.printf("%-72s rel %.2e written %s %s%n", r.what(), r.relErr(), r.allWritten(), pass ? "ok" : "FAIL");
                    }
        return ok;
    }

    /** The fused decode attention (both kernels, float32 and bf16 caches) against float64: head dims, GQA, rotation, splits; whether all passed. */
    static boolean decodeAttentionChecks(long seed) {
        boolean ok = true;
        int[][] dec = {{64, 4, 4, 64}, {128, 8, 2, 128}, {128, 8, 2, 32}, {20, 3, 1, 0}, {80, 2, 2, 20}, {256, 2, 1, 256}};
        int[][] decPos = {{0}, {5, 130, 0}, {200, 17}};
        for (int[] c : dec)
            for (int[] pos : decPos)
                for (int splits : new int[]{1, 3, 16})
                    for (int minChunk : new int[]{1, 16, 256})
                        for (boolean kb : new boolean[]{false, true}) {   // float32 and bf16 caches
                            GemmResult r = AttentionCheck.attentionDecode(c[0], c[1], c[2], c[3], pos, splits, minChunk, seed++, kb);
                            boolean pass = r.ok(AttentionCheck.tolerance(r));
                            ok &= pass;
                            if (!pass || splits == 3 && minChunk == 16)
                                System.out.printf("%-72s rel %.2e written %s %s%n", r.what(), r.relErr(), r.allWritten(), pass ? "ok" : "FAIL");
                        }
        return ok;
    }

    /** Kernel checks and every fixture under {@code args[0]}; prints a table, exits 1 on a failure. */
    public static void main(String[] args) {
        Path dir = Path.of(args.length > 0 ? args[0] : "../shared/fixtures");
        String mode = args.length > 1 ? args[1] : "";
        if (!List.of("", "quick", "fixtures", "splitk", "tma", "int8", "wgemm").contains(mode)) {
            System.out.println("CudaSelfCheck: unknown mode '" + mode + "': use quick, fixtures, splitk, tma, int8 or wgemm, or none for every check");
            System.exit(2);
        }
        List<String> tmaKernels;
        try {
            tmaKernels = tmaKernels();
        } catch (IllegalArgumentException e) {
            System.out.println(e.getMessage());
            System.exit(2);
            return;
        }
        String why = new CudaBackend().unavailableReason();
        if (why != null) {
            System.out.println("SKIP: " + why);
            return;
        }
        System.out.println("device: " + Cuda.get().name() + " (sm " + Cuda.get().computeCapability() + ", " + Cuda.get().smCount() + " SMs)");
        long seed = System.nanoTime();
        boolean ok = switch (mode) {
            case "" -> floatChecks(dir, seed) & Int8Check.int8Checks(dir, seed + (1L << 32));
            // the attention kernels and every fixture at batch 1 only
            case "quick" -> attentionChecks(seed) & decodeAttentionChecks(seed + 1) & ropeChecks(seed + 3) & argmaxChecks(seed + 2)
                    & FixtureCheck.fixturesEach(dir);
            case "fixtures" -> {   // every fixture batched and one prompt at a time, no kernel checks
                printFixtureHeader();
                yield FixtureCheck.fixtureLines(dir, FixtureCheck::fixture, "") & FixtureCheck.fixturesEach(dir) & FixtureCheck.fixturesTma(dir);
            }
            case "splitk" -> splitKChecks(seed);   // the split-K cluster kernels only
            // the TMA-fed kernels only, then the fixtures with 2..8 rows of every BF16 matrix through one
            // (-Dfathom.check.tmaKernels=a,b: only those kernels, and the fixtures through them beside the model's two)
            case "tma" -> {
                boolean k = tmaProbes(seed, tmaKernels) & splitKChecks(seed, tmaKernels);
                printFixtureHeader();
                yield k & FixtureCheck.fixturesTma(dir, tmaKernels.size() < TmaKernels.TMA_KERNELS.size() ? tmaKernels : List.of());
            }
            case "int8" -> Int8Check.int8Checks(dir, seed + (1L << 32));
            // the warpgroup-MMA prompt GEMM (sm_90a) against float64, then every fixture with every prompt GEMM through it
            case "wgemm" -> WgemmCheck.all(dir, seed);
            default -> throw new IllegalStateException(mode);   // refused above
        };
        System.out.println(ok ? "ALL OK" : "FAILURES");
        if (!ok) System.exit(1);
    }

    /** The split-K cluster kernels (sm_90; none elsewhere) against float64; whether all passed. */
    static boolean splitKChecks(long seed) {
        return splitKChecks(seed, java.util.stream.Stream.of(SPLIT_K_KERNELS, SbiSplitK.EXPERIMENTS, TmaKernels.TMA_KERNELS).flatMap(List::stream).toList());
    }

    /** The split-K kernels {@code kernels} against float64; whether all passed. */
    static boolean splitKChecks(long seed, List<String> kernels) {
        boolean ok = true;
        int[][] splitKShapes = Arrays.copyOf(GEMM_SHAPES, GEMM_SHAPES.length + 1);
        splitKShapes[GEMM_SHAPES.length] = new int[]{100, 77};   // odd K: scalar activation loads, K slices past the end
        // the split-K cluster kernels (sm_90): 2, 4, 8 rows (and 3, 5), every epilogue, each cluster size and the plan's
        if (Cuda.get().ccMajor() < 9) System.out.println("split-K cluster kernels: not checked, they need sm_90 or later (this GPU never runs them)");
        else
            for (String kn : kernels)
                for (int[] s : splitKShapes)
                    for (int rows : new int[]{2, 3, 4, 5, 8})
                        for (int mode = 0; mode < 3; mode++)
                            // a stream-K kernel also over exactly 1, 3 and 7 blocks (-c): blocks spanning row groups, pieces of every count
                            for (int c : TmaKernels.streamK(kn) ? new int[]{0, 1, 2, 4, 8, -1, -3, -7} : new int[]{0, 1, 2, 4, 8})
                                for (boolean norm : c == 0 || c == -3 ? new boolean[]{false, true} : new boolean[]{false}) {
                                    if (s[0] * (long) s[1] > 1 << 20 && (rows != 8 || mode != 0 || c != 0)) continue;
                                    if (TmaKernels.tmaStages(kn) > 0 && s[1] % 4 != 0) continue;   // its activation map needs K % 4 == 0 (launch says so)
                                    boolean rm = SbiSplitK.rowMajor(kn);
                                    GemmResult r = gemm(DType.BF16, !rm, rm, s[0], s[1], rows, mode, seed++, false, kn, c, norm);
                                    boolean pass = r.ok(1e-4);
                                    ok &= pass;
                                    if (!pass || ((c == 0 || c == -3) && rows != 3 && rows != 5)) System.out.println(r.line(pass));
                                }
        return ok;
    }

    /**
     * One-hot probes of the TMA kernels (8 rows, 256 x 1024, the plan's cluster size and C = 1): over random BF16-exact
     * weights each batch row must return exactly the weight column it names, for every column of K; over weights whose
     * row o holds o + 1, output row o must hold o + 1. A failure says which columns and rows were read instead
     * ({@link GemmDiagnosis}), so a first run on a GPU locates an indexing mistake. Whether all passed.
     */
    static boolean tmaProbes(long seed) { return tmaProbes(seed, TmaKernels.TMA_KERNELS); }

    /** The TMA kernels a tma check covers: {@code -Dfathom.check.tmaKernels} (comma-separated names), else all of them. */
    static List<String> tmaKernels() { return CudaSettings.subset("fathom.check.tmaKernels", TmaKernels.TMA_KERNELS); }

    static boolean tmaProbes(long seed, List<String> kernels) {
        if (Cuda.get().ccMajor() < 9) {
            System.out.println("TMA probes: not run, the kernels need sm_90 or later");
            return true;
        }
        int n = 256, k = 1024, rows = 8;   // 16 chunks of 64: every stage ring (4, 8, 12) wraps at C = 1
        boolean ok = true;
        float[] w = GemmDiagnosis.probeWeights(n, k, seed), numbers = GemmDiagnosis.rowNumberWeights(n, k);
        for (String kn : kernels)
            for (int c : new int[]{0, 1}) {
                java.util.TreeMap<Integer, Integer> wrong = new java.util.TreeMap<>();
                float[][] y = new float[1][];
                String failed = null;
                for (int p = 0; p < GemmDiagnosis.probes(rows, k) && failed == null; p++) {
                    float[] x = GemmDiagnosis.probeActivations(p, rows, k);
                    y[0] = null;   // a check that returns before launching leaves none
                    GemmResult r = gemm(DType.BF16, false, true, false, kn, c, Inputs.of(w, x, n, k, rows), y);
                    if (!r.allWritten() || y[0] == null) failed = r.what() + (r.allWritten() ? "" : ": outputs left unwritten") + " " + r.pattern();
                    else GemmDiagnosis.matchProbe(y[0], p, rows, n, w, k, wrong);
                }
                GemmDiagnosis.Probe probe = new GemmDiagnosis.Probe(wrong, k);
                y[0] = null;
                GemmResult rr = gemm(DType.BF16, false, true, false, kn, c, Inputs.of(numbers, GemmDiagnosis.probeActivations(0, rows, k), n, k, rows), y);
                String rowMap = y[0] == null ? "no output" : GemmDiagnosis.rowMap(y[0], rows, n);
                boolean pass = failed == null && probe.ok() && rowMap == null && rr.allWritten();
                ok &= pass;
                System.out.printf("TMA probe %-16s C=%-5s %s; output rows %s %s%n", kn, c == 0 ? "plan" : String.valueOf(c),
                        failed != null ? failed : probe.summary(), rowMap == null ? "in place" : rowMap, pass ? "ok" : "FAIL");
            }
        return ok;
    }

    static void printFixtureHeader() {
        System.out.printf("%-18s %-20s %12s %12s %8s %s%n", "fixture", "weights", "prompt rel", "step rel", "tokens", "result");
    }

    /** N x K of the GEMM kernel checks. */
    private static final int[][] GEMM_SHAPES = {{64, 64}, {172, 64}, {64, 172}, {1000, 300}, {4096, 4096}, {37, 1000}};

    /** The F32 / BF16 / F16 kernels, attention, and the fixtures against transformers; prints a table, returns whether all passed. */
    private static boolean floatChecks(Path dir, long seed) {
        boolean ok = true;
        int[][] shapes = GEMM_SHAPES;
        for (int v = 0; v < 5; v++)
            for (int[] s : shapes)
                for (int rows : new int[]{1, 3, 8, 11, 40, 130, 600})
                    for (int mode = 0; mode < 3; mode++) {
                        if (s[0] * (long) s[1] > 1 << 20 && (rows != 3 || mode != 0)) continue;
                        DType dt = v == 0 ? DType.F32 : v == 3 ? DType.F16 : DType.BF16;
                        boolean mma = v == 2, rm = v == 4;
                        boolean canBlas = dt == DType.BF16 && rows > 32, canNorm = !mma && rows <= 32;   // never both
                        for (int variant = 0; variant < (canBlas || canNorm ? 2 : 1); variant++) {
                            boolean blas = variant == 1 && canBlas, norm = variant == 1 && canNorm;
                            GemmResult r = gemm(dt, mma, rm, s[0], s[1], rows, mode, seed++, blas, norm);
                            // mma: activations split into two bf16 parts; cuBLAS: activations rounded to bf16 once
                            double tol = blas ? 1e-2 : mma ? 1e-4 : 1e-5;
                            boolean pass = r.ok(tol);
                            ok &= pass;
                            if (!pass || rows == 3 || rows >= 130) System.out.println(r.line(pass));
                        }
                    }
        ok &= splitKChecks(seed);
        seed += 1 << 20;
        ok &= attentionChecks(seed++ << 8);
        ok &= decodeAttentionChecks(seed++ << 8);
        ok &= ropeChecks(seed++ << 8);
        ok &= argmaxChecks(seed++ << 8);
        printFixtureHeader();
        ok &= FixtureCheck.fixtureLines(dir, FixtureCheck::fixture, "");
        if (!FixtureCheck.fixturesEach(dir)) ok = false;
        // every BF16 GEMM through cuBLAS (decode steps too, captured in CUDA graphs)
        ok &= CudaSettings.with(List.of("fathom.cuda.blasRows=0"), () -> FixtureCheck.fixtureLines(dir, FixtureCheck::fixture, " (all GEMMs via cuBLAS)", true));
        ok &= FixtureCheck.fixturesTma(dir);
        return ok;
    }
}
