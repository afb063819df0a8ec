package dev.fathom.cuda;

import dev.fathom.engine.tensor.DType;

import java.lang.foreign.Arena;
import java.util.List;
import java.util.Random;

/**
 * The kernel tables of the CUDA benchmarks: SBI-GEMM against the read ceiling and cuBLAS on the Llama-7B shapes
 * (every layout and batch), the split-K cluster kernels at each cluster size, the INT8 kernels, and the prompt-phase
 * GEMM against cuBLAS's rate. {@link CudaBench} runs them as its parts gemm, splitk, int8 and prompt.
 */
final class KernelTables {
    private final BenchDevice d;
    private final CudaModule mod;
    private final Cuda cu;
    private final long stream;
    /** The read ceiling the GB/s columns are compared with. */
    private final double readGBs;

    /** The Llama-7B projection shapes [N x K]: o, gate or up, down, q+k+v, the LM head. */
    private static final int[][] LLAMA_SHAPES = {{4096, 4096}, {11008, 4096}, {4096, 11008}, {12288, 4096}, {32000, 4096}};

    /** Weight copies to rotate through so that the 50-60 MB L2 cannot hold them (768 MB or more in all). */
    private static int rotation(long bytes) { return (int) Math.max(2, (768L << 20) / bytes + 1); }

    /** cuBLAS on the bench stream, or null after a line saying why it cannot load. */
    private Cublas openBlas() {
        String[] why = new String[1];
        Cublas blas = Cublas.open(stream, why);
        if (blas == null) System.out.println("cuBLAS: " + why[0]);
        return blas;
    }

    /** A table's activations for up to {@code rows} rows of K: random fp32 ({@code x}) and the same in bf16 ({@code xb}), and an fp32 output [rows, n]. */
    private record Acts(Cuda cu, long x, long xb, long y) implements AutoCloseable {
        static Acts of(BenchDevice d, int rows, int k, int n) {
            Acts a = new Acts(d.cu, d.cu.malloc(4L * rows * k), d.cu.malloc(2L * rows * k), d.cu.malloc(4L * rows * n));
            d.fill(a.x, 2L * rows * k, 23);   // random bf16 bit pairs: finite floats
            d.mod.launch("f32_to_bf16", 256, 1, 256, 0, d.stream, a.x, a.xb, (long) rows * k);
            return a;
        }

        @Override
        public void close() {
            cu.free(x);
            cu.free(xb);
            cu.free(y);
        }
    }

    KernelTables(BenchDevice d, double readGBs) {
        this.d = d;
        this.mod = d.mod;
        this.cu = d.cu;
        this.stream = d.stream;
        this.readGBs = readGBs;
    }

    void gemmTable() {
        int[][] shapes = LLAMA_SHAPES;
        int[] batches = {1, 2, 4, 8, 16, 32};
        Cublas blas = openBlas();
        System.out.printf("%n== SBI-GEMM, BF16 weights [N x K], fp32 activations in/out; read ceiling %.0f GB/s%n", readGBs);
        System.out.println("   us = median over 9 repeats of (20 back-to-back launches on rotating weight copies, > L2) / 20, CUDA events");
        System.out.println("   tile = the tensor-core tile layout (batch 1: FMA GEMV over it; batch > 1: mma.m16n8k16); simt = the 4-row SIMT layout");
        System.out.println("   rm = the SIMT kernels over plain row-major rows (the batch-1 layout: cuBLAS reads it in place for the prompt)");
        System.out.println("   sk = " + SbiSplitK.DEFAULT_ROW_MAJOR_KERNEL + " over the row-major rows (2..8 rows: K split over a thread-block cluster of C blocks, SbiSplitK.plan), what the model ran there on sm_90 before cuBLAS took 2..8 rows");
        System.out.printf("%-12s %5s %8s %9s %7s %7s %9s %7s %9s %7s %8s %9s %9s %7s %8s %7s %3s %7s%n", "N x K", "batch", "tile us", "tile GB/s", "% ceil",
                "ks/best", "simt GB/s", "% ceil", "rm GB/s", "% ceil", "blas us", "blas GB/s", "blas/tile", "sk us", "sk GB/s", "% ceil", "C", "blas/sk");
        Random rnd = new Random(1);
        for (int[] nk : shapes) {
            int n = nk[0], k = nk[1];
            SbiLayout.Shape sm = SbiLayout.Shape.of(n, k, (n + 15) / 16 * 16, DType.BF16, true);
            SbiLayout.Shape ss = SbiLayout.Shape.of(n, k, (n + 3) / 4 * 4, DType.BF16, false);
            long wBytes = 2L * n * k;
            int copies = rotation(wBytes);
            long[] wm = d.copies(copies, sm.bytes(), 11), ws = d.copies(copies, ss.bytes(), 51), wr = d.copies(copies, ss.bytes(), 71);
            long[] wp = blas != null ? d.copies(copies, wBytes, 101) : new long[copies];
            int maxB = 32;
            float[] xv = new float[maxB * k];
            for (int i = 0; i < xv.length; i++) xv[i] = (float) rnd.nextGaussian();
            long x, xb, y;
            try (Arena a = Arena.ofConfined()) {
                x = cu.malloc(4L * xv.length);
                cu.copyToDevice(x, SbiLayout.floats(xv, a), 4L * xv.length, stream);
                cu.synchronize(stream);
            }
            xb = cu.malloc(2L * xv.length);
            mod.launch("f32_to_bf16", 256, 1, 256, 0, stream, x, xb, (long) xv.length);
            y = cu.malloc(4L * maxB * n);
            SbiLayout.Launch planM = SbiLayout.plan(sm, cu.smCount()), planS = SbiLayout.plan(ss, cu.smCount());
            for (int b : batches) {
                double best = Double.MAX_VALUE, planUs = 0;
                int bestKs = 0;
                for (int ks : new int[]{1, 2, 4, 8}) {
                    int gpb = 8 / ks, blocks = (sm.groups() + gpb - 1) / gpb;
                    double us = d.perLaunchUs(copies, c -> {
                        for (int t = 0; t < b; ) {
                            int nb = b - t > 8 ? Math.min(32, b - t) : b - t;
                            mod.launch(nb == 1 ? "sbitile_bf16_1" : nb > 8 ? "sbimma_bf16_32" : "sbimma_bf16_8", blocks, 1, 256, 0, stream, wm[c], x + 4L * t * k, k, k,
                                    sm.kChunks(), sm.groups(), ks, 0L, 0L, y + 4L * t * n, n, n, nb, 0, 0, 1);
                            t += nb;
                        }
                    });
                    if (us < best) { best = us; bestKs = ks; }
                    if (ks == planM.ks()) planUs = us;
                }
                double simtUs = d.perLaunchUs(copies, c -> {
                    for (int t = 0; t < b; t += 8) {
                        int nb = Math.min(8, b - t);
                        mod.launch("sbi_bf16_" + (nb == 1 ? 1 : nb <= 2 ? 2 : nb <= 4 ? 4 : 8), planS.blocks(), 1, 256, 0, stream, ws[c],
                                x + 4L * t * k, k, k, ss.kChunks(), ss.groups(), planS.ks(), 0L, 0L, y + 4L * t * n, n, n, nb, 0, 0, 1);
                    }
                });
                double rmUs = d.perLaunchUs(copies, c -> {
                    for (int t = 0; t < b; t += 8) {
                        int nb = Math.min(8, b - t);
                        mod.launch("sbirm_bf16_" + (nb == 1 ? 1 : nb <= 2 ? 2 : nb <= 4 ? 4 : 8), planS.blocks(), 1, 256, 0, stream, wr[c],
                                x + 4L * t * k, k, k, ss.kChunks(), ss.groups(), planS.ks(), 0L, 0L, y + 4L * t * n, n, n, nb, 0, 0, 1);
                    }
                });
                double gbs = wBytes / (planUs * 1e-6) / 1e9;
                double simtG = wBytes / (simtUs * 1e-6) / 1e9, rmG = wBytes / (rmUs * 1e-6) / 1e9;
                String blasUs = "-", blasGbs = "-", ratio = "-";
                double blasUsD = Double.NaN;
                if (blas != null) {
                    double us = d.perLaunchUs(copies, c -> blas.gemm(wp[c], xb, y, n, k, b, Cublas.R_16BF, Cublas.COMPUTE_32F));
                    blasUsD = us;
                    blasUs = String.format("%.1f", us);
                    blasGbs = String.format("%.0f", wBytes / (us * 1e-6) / 1e9);
                    ratio = String.format("%.2f", us / planUs);
                }
                String skUs = "-", skGbs = "-", skPct = "-", skC = "-", skRatio = "-";
                SbiLayout.Shape srm = SbiLayout.Shape.of(n, k, (n + 3) / 4 * 4, DType.BF16, false, true);
                SbiSplitK.Plan skPlan = b >= 2 && b <= SbiSplitK.MAX_ROWS && cu.ccMajor() >= 9 ? SbiSplitK.plan(SbiSplitK.DEFAULT_ROW_MAJOR_KERNEL, srm, b, cu.smCount()) : null;
                if (skPlan != null) {
                    double us = d.perLaunchUs(copies, c -> SbiSplitK.launch(mod, false, skPlan, stream, wr[c], srm, x, k, 0L, 0L, y, n, b, 0, 0, 1));
                    double g = wBytes / (us * 1e-6) / 1e9;
                    skUs = String.format("%.1f", us);
                    skGbs = String.format("%.0f", g);
                    skPct = String.format("%.1f%%", 100 * g / readGBs);
                    skC = String.valueOf(skPlan.cluster());
                    if (blas != null) skRatio = String.format("%.2f", blasUsD / us);
                }
                System.out.printf("%-12s %5d %8.1f %9.0f %6.1f%% %7s %9.0f %6.1f%% %9.0f %6.1f%% %8s %9s %9s %7s %8s %7s %3s %7s%n", n + "x" + k, b, planUs, gbs,
                        100 * gbs / readGBs, planM.ks() + "/" + bestKs, simtG, 100 * simtG / readGBs, rmG, 100 * rmG / readGBs, blasUs, blasGbs, ratio,
                        skUs, skGbs, skPct, skC, skRatio);
            }
            d.free(wm, ws, wr, wp);
            cu.free(x);
            cu.free(xb);
            cu.free(y);
        }
        if (blas != null) blas.close();
    }

    /**
     * What the SBI-GEMM target asks against what a read of the same bytes can reach: for each Llama shape, a plain read
     * of its weight bytes timed the way the GEMMs are (20 back-to-back launches on rotating copies, median of 9; the best
     * of three grid sizes), plainly and as programmatic dependent launches, then the model's kernel at 1, 4 and 8 rows
     * (batch 1: the row-major GEMV; 4 and 8: the split-K plan) and cuBLAS, each as a share of the 4 GiB read ceiling
     * and of this shape's own read.
     */
    void sizesTable() {
        Cublas blas = openBlas();
        System.out.printf("%n== SBI-GEMM against a plain read of the same bytes; read ceiling %.0f GB/s (4 GiB)%n", readGBs);
        System.out.println("   read = read_probe_u4 over the shape's weight bytes: 20 back-to-back launches on rotating copies > L2, median of 9,");
        System.out.println("          best of SMs x 2/4/8 blocks of 256 threads; pdl read = the same as programmatic dependent launches that never wait");
        System.out.println("   ours = the model's kernel (1 row: sbirm_bf16_1; 4, 8 rows: " + SbiSplitK.DEFAULT_ROW_MAJOR_KERNEL
                + " at SbiSplitK.plan's C), plain / as PDL; blas = cublasGemmEx bf16 x bf16 -> fp32");
        System.out.printf("%-12s %5s %9s %6s %9s %6s %4s %9s %6s %6s %9s %9s %6s %6s %8s%n", "N x K", "rows", "read GB/s", "% ceil", "pdl read", "% ceil",
                "C", "ours GB/s", "% ceil", "% read", "ours pdl", "blas GB/s", "% ceil", "% read", "ours/blas");
        if (cu.ccMajor() < 9) System.out.println("   (4 and 8 rows not measured: the split-K plan needs sm_90, this GPU is sm " + cu.computeCapability() + ")");
        long out = cu.malloc(4L * 65536);
        for (int[] nk : LLAMA_SHAPES) {
            int n = nk[0], k = nk[1];
            RowMajorCopies rc = rowMajorCopies(n, k, blas != null);
            SbiLayout.Shape sr = rc.shape();
            long wBytes = rc.bytes();
            int copies = rc.w().length;
            long[] wr = rc.w(), wp = rc.wBlas();
            double readUs = bestReadUs(wr, wBytes, out, false), pdlUs = bestReadUs(wr, wBytes, out, true);
            double readG = wBytes / (readUs * 1e-6) / 1e9, pdlG = wBytes / (pdlUs * 1e-6) / 1e9;
            Acts acts = Acts.of(d, 8, k, n);
            long x = acts.x(), xb = acts.xb(), y = acts.y();
            SbiLayout.Launch p1 = SbiLayout.plan(sr, cu.smCount());
            for (int b : new int[]{1, 4, 8}) {
                SbiSplitK.Plan plan = b > 1 && cu.ccMajor() >= 9 ? SbiSplitK.plan(SbiSplitK.DEFAULT_ROW_MAJOR_KERNEL, sr, b, cu.smCount()) : null;
                if (b > 1 && plan == null) continue;
                double oursUs = d.perLaunchUs(copies, c -> launchOurs(false, b, plan, p1, sr, wr[c], x, y));
                double oursPdlUs = d.perLaunchUs(copies, c -> launchOurs(true, b, plan, p1, sr, wr[c], x, y));
                double blasUs = blas == null ? Double.NaN : d.perLaunchUs(copies, c -> blas.gemm(wp[c], xb, y, n, k, b, Cublas.R_16BF, Cublas.COMPUTE_32F));
                double og = wBytes / (oursUs * 1e-6) / 1e9, opg = wBytes / (oursPdlUs * 1e-6) / 1e9, bg = wBytes / (blasUs * 1e-6) / 1e9;
                System.out.printf("%-12s %5d %9.0f %5.1f%% %9.0f %5.1f%% %4s %9.0f %5.1f%% %5.1f%% %9.0f %9.0f %5.1f%% %5.1f%% %8.2f%n", n + "x" + k, b,
                        readG, 100 * readG / readGBs, pdlG, 100 * pdlG / readGBs, plan == null ? "-" : String.valueOf(plan.cluster()),
                        og, 100 * og / readGBs, 100 * og / readG, opg, bg, 100 * bg / readGBs, 100 * bg / readG, blasUs / oursUs);
            }
            d.free(wr, wp);
            acts.close();
        }
        cu.free(out);
        if (blas != null) blas.close();
    }

    /** The row-major split-K kernel with stages left out (splitk.cuh's SKIP bits), in the order {@link #stagesTable} prints them. */
    static final String[] STAGE_KERNELS = {SbiSplitK.DEFAULT_ROW_MAJOR_KERNEL, "sbimmr2p_skip1", "sbimmr2p_skip2", "sbimmr2p_skip3",
            "sbimmr2p_skip5", "sbimmr2p_skip7"};

    /**
     * Where the row-major split-K kernel's time goes at 4 and 8 rows: the kernel at its plan, then the same launch with
     * the activation staging left out, the cluster reduction left out, both, and the weight loads left out too
     * (timing-only variants, wrong results), beside a plain read of the same bytes and cuBLAS, in the same part of the run.
     */
    void stagesTable() {
        Cublas blas = openBlas();
        System.out.printf("%n== Where the split-K kernel's time goes (%s at its plan; variants leave stages out; read ceiling %.0f GB/s)%n",
                SbiSplitK.DEFAULT_ROW_MAJOR_KERNEL, readGBs);
        System.out.println("   us per launch: median of 9 x 20 back-to-back launches on rotating copies > L2; read = read_probe_u4 over the same bytes (best of 2/4/8 blocks per SM)");
        System.out.println("   full = the kernel; -stage = no activation staging; -red = no cluster reduction/epilogue; -both; loop = -both and no weight loads; shell = no loads, no staging, reduction kept");
        System.out.println("   next line (exp): each experiment kernel (SbiSplitK.EXPERIMENTS) at the plan's C and its fastest C = 1, 2, 4, 8 [C], GB/s; best/blas = speed of the fastest against cuBLAS");
        System.out.printf("%-12s %4s %2s %6s %7s %7s %7s %7s %7s %7s %7s %9s %9s%n", "N x K", "rows", "C", "blocks", "read", "full", "-stage", "-red",
                "-both", "shell", "loop", "blas", "-both/read");
        if (cu.ccMajor() < 9) {
            System.out.println("   (not measured: the split-K kernels need sm_90, this GPU is sm " + cu.computeCapability() + ")");
            if (blas != null) blas.close();
            return;
        }
        long out = cu.malloc(4L * 65536);
        for (int[] nk : LLAMA_SHAPES) {
            RowMajorCopies rc = rowMajorCopies(nk[0], nk[1], blas != null);
            int n = nk[0], k = nk[1], copies = rc.w().length;
            long[] wr = rc.w(), wp = rc.wBlas();
            SbiLayout.Shape sr = rc.shape();
            double readUs = bestReadUs(wr, rc.bytes(), out, false);
            Acts acts = Acts.of(d, 8, k, n);
            for (int b : new int[]{4, 8}) {
                SbiSplitK.Plan plan = SbiSplitK.plan(SbiSplitK.DEFAULT_ROW_MAJOR_KERNEL, sr, b, cu.smCount());
                if (plan == null) {   // K too long for the staged fragments at any cluster size
                    System.out.printf("%-12s %4d   (no split-K plan fits)%n", n + "x" + k, b);
                    continue;
                }
                double[] us = new double[STAGE_KERNELS.length];
                for (int i = 0; i < STAGE_KERNELS.length; i++) {
                    SbiSplitK.Plan p = new SbiSplitK.Plan(STAGE_KERNELS[i], plan.cluster(), plan.blocks(), plan.smem());
                    us[i] = d.perLaunchUs(copies, c -> SbiSplitK.launch(mod, false, p, stream, wr[c], sr, acts.x(), k, 0L, 0L, acts.y(), n, b, 0, 0, 1));
                }
                double blasUs = blas == null ? Double.NaN : d.perLaunchUs(copies, c -> blas.gemm(wp[c], acts.xb(), acts.y(), n, k, b, Cublas.R_16BF, Cublas.COMPUTE_32F));
                System.out.printf("%-12s %4d %2d %6d %7.2f %7.2f %7.2f %7.2f %7.2f %7.2f %7.2f %9.2f %8.0f%%%n", n + "x" + k, b, plan.cluster(), plan.blocks(),
                        readUs, us[0], us[1], us[2], us[3], us[4], us[5], blasUs, 100 * readUs / us[3]);
                StringBuilder exp = new StringBuilder(String.format("   exp %-12s %d rows: full %.0f, blas %.0f GB/s;", n + "x" + k, b, rc.bytes() / (us[0] * 1e3), rc.bytes() / (blasUs * 1e3)));
                double bestUs = Double.MAX_VALUE;
                for (String kn : SbiSplitK.EXPERIMENTS) {
                    double atPlan = Double.NaN, best = Double.MAX_VALUE;
                    int bestC = 0;
                    for (int cl = 1; cl <= 8; cl *= 2) {
                        SbiSplitK.Plan p = SbiSplitK.fixed(kn, sr, b, cl);
                        if (p.smem() > SbiSplitK.MAX_SMEM) continue;
                        double t = d.perLaunchUs(copies, c -> SbiSplitK.launch(mod, false, p, stream, wr[c], sr, acts.x(), k, 0L, 0L, acts.y(), n, b, 0, 0, 1));
                        if (cl == plan.cluster()) atPlan = t;
                        if (t < best) { best = t; bestC = cl; }
                    }
                    bestUs = Math.min(bestUs, best);
                    exp.append(String.format(" %s %.0f / %.0f [%d]", kn.replace("_bf16_8", ""), rc.bytes() / (atPlan * 1e3), rc.bytes() / (best * 1e3), bestC));
                }
                System.out.println(exp.append(String.format("; best/blas %.2f", blasUs / bestUs)));
            }
            d.free(wr, wp);
            acts.close();
        }
        cu.free(out);
        if (blas != null) blas.close();
    }

    /**
     * A few launches to profile under Nsight Compute (gpu-run.sh step {@code ncu}): on 4096x4096, 11008x4096 and
     * 4096x11008, one launch each of a plain read of the weight bytes, the batch-1 GEMV, the split-K plan at 4 and 8
     * rows, the plan with staging and reduction left out, the first XR and the 8-slot ring kernel at the plan's C, and
     * cuBLAS at 4 and 8 rows. ncu flushes the caches before
     * each kernel it replays, so one weight copy suffices; the printed times are not meaningful under the profiler.
     */
    void profLaunches() {
        Cublas blas = openBlas();
        long out = cu.malloc(4L * 65536);
        for (int[] nk : new int[][]{{4096, 4096}, {11008, 4096}, {4096, 11008}}) {
            int n = nk[0], k = nk[1];
            SbiLayout.Shape sr = SbiLayout.Shape.of(n, k, (n + 3) / 4 * 4, DType.BF16, false, true);
            long wBytes = 2L * n * k;
            long w = d.copies(1, sr.bytes(), 71)[0], wp = blas != null ? d.copies(1, wBytes, 101)[0] : 0L;
            Acts acts = Acts.of(d, 8, k, n);
            SbiLayout.Launch p1 = SbiLayout.plan(sr, cu.smCount());
            System.out.println("prof " + n + "x" + k + ": read_probe_u4 (4 blocks/SM), sbirm_bf16_1, then per rows 4, 8: plan, -both, x2, ra8, cuBLAS");
            mod.launch("read_probe_u4", cu.smCount() * 4, 1, 256, 0, stream, w, wBytes / 16, out);
            launchOurs(false, 1, null, p1, sr, w, acts.x(), acts.y());
            for (int b : new int[]{4, 8}) {
                if (cu.ccMajor() >= 9) {
                    SbiSplitK.Plan plan = SbiSplitK.plan(SbiSplitK.DEFAULT_ROW_MAJOR_KERNEL, sr, b, cu.smCount());
                    SbiSplitK.launch(mod, false, plan, stream, w, sr, acts.x(), k, 0L, 0L, acts.y(), n, b, 0, 0, 1);
                    SbiSplitK.Plan skip = new SbiSplitK.Plan("sbimmr2p_skip3", plan.cluster(), plan.blocks(), plan.smem());
                    SbiSplitK.launch(mod, false, skip, stream, w, sr, acts.x(), k, 0L, 0L, acts.y(), n, b, 0, 0, 1);
                    for (String kn : List.of(SbiSplitK.XR_KERNELS.get(0), SbiSplitK.RING_KERNELS.get(1)))
                        SbiSplitK.launch(mod, false, SbiSplitK.fixed(kn, sr, b, plan.cluster()), stream, w, sr, acts.x(), k, 0L, 0L, acts.y(), n, b, 0, 0, 1);
                    System.out.println("   rows " + b + ": C=" + plan.cluster() + " blocks=" + plan.blocks() + " smem=" + plan.smem());
                }
                if (blas != null) blas.gemm(wp, acts.xb(), acts.y(), n, k, b, Cublas.R_16BF, Cublas.COMPUTE_32F);
            }
            cu.synchronize(stream);
            cu.free(w);
            if (wp != 0L) cu.free(wp);
            acts.close();
        }
        cu.free(out);
        if (blas != null) blas.close();
    }

    /** A shape's row-major BF16 weights in copies that rotate past L2, and the same bytes for cuBLAS (zeros when it did not load). */
    private record RowMajorCopies(SbiLayout.Shape shape, long bytes, long[] w, long[] wBlas) {}

    private RowMajorCopies rowMajorCopies(int n, int k, boolean blas) {
        SbiLayout.Shape sr = SbiLayout.Shape.of(n, k, (n + 3) / 4 * 4, DType.BF16, false, true);
        long bytes = 2L * n * k;
        int copies = rotation(bytes);
        return new RowMajorCopies(sr, bytes, d.copies(copies, sr.bytes(), 71), blas ? d.copies(copies, bytes, 101) : new long[copies]);
    }

    /**
     * A plain read of {@code bytes} from each copy in turn ({@code read_probe_u4}, or its PDL form), at 2, 4 and 8
     * blocks of 256 threads per multiprocessor: the fastest, µs per launch.
     */
    private double bestReadUs(long[] w, long bytes, long out, boolean pdl) {
        double best = Double.MAX_VALUE;
        for (int per : new int[]{2, 4, 8}) {
            int blocks = cu.smCount() * per;
            best = Math.min(best, d.perLaunchUs(w.length, c -> mod.launch(pdl, pdl ? "read_probe_u4p" : "read_probe_u4", blocks, 1, 256, 0, stream, w[c], bytes / 16, out)));
        }
        return best;
    }

    /** The model's BF16 row-major kernel for {@code rows} rows: the batch-1 GEMV, or the split-K plan at 2..8 rows. */
    private void launchOurs(boolean pdl, int rows, SbiSplitK.Plan plan, SbiLayout.Launch p1, SbiLayout.Shape s, long w, long x, long y) {
        if (plan != null) SbiSplitK.launch(mod, pdl, plan, stream, w, s, x, s.k(), 0L, 0L, y, s.n(), rows, 0, 0, 1);
        else mod.launch(pdl, "sbirm_bf16_1", p1.blocks(), 1, 256, 0, stream, w, x, s.k(), s.k(), s.kChunks(), s.groups(), p1.ks(), 0L, 0L, y, s.n(), s.n(), 1, 0, 0, 1);
    }

    /**
     * The split-K cluster kernels ({@link SbiSplitK}) at 2, 4 and 8 rows on the gemm shapes: each kernel at each cluster
     * size, its plan (also as programmatic dependent launches, as decode graphs run it), and cuBLAS on the same shape in
     * the same part of the run.
     */
    void splitkTable() {
        int[][] shapes = LLAMA_SHAPES;
        int[] batches = {2, 4, 8};
        Cublas blas = openBlas();
        System.out.printf("%n== split-K cluster kernels (row-major and tile layouts, BF16 weights [N x K], fp32 activations in/out); read ceiling %.0f GB/s%n", readGBs);
        System.out.println("   GB/s = weight bytes / (median over 9 repeats of 20 back-to-back launches on rotating copies > L2, / 20); C = blocks per cluster (K slices)");
        System.out.println("   plan = SbiSplitK.plan's C; pdl = the plan as programmatic dependent launches (decode graphs)");
        System.out.printf("%-12s %5s %-16s %7s %7s %7s %7s %5s %9s %7s %9s %9s %9s%n", "N x K", "batch", "kernel", "C=1", "C=2", "C=4", "C=8",
                "plan", "plan GB/s", "% ceil", "pdl GB/s", "blas GB/s", "plan/blas");
        for (int[] nk : shapes) {
            int n = nk[0], k = nk[1];
            SbiLayout.Shape st = SbiLayout.Shape.of(n, k, (n + 15) / 16 * 16, DType.BF16, true),
                    sr = SbiLayout.Shape.of(n, k, (n + 3) / 4 * 4, DType.BF16, false, true);
            long wBytes = 2L * n * k;
            int copies = rotation(wBytes);
            long[] wt = d.copies(copies, st.bytes(), 11), wr = d.copies(copies, sr.bytes(), 71), wp = blas != null ? d.copies(copies, wBytes, 101) : new long[copies];
            Acts acts = Acts.of(d, 8, k, n);
            long x = acts.x(), xb = acts.xb(), y = acts.y();
            for (int b : batches) {
                double blasUs = blas == null ? Double.NaN : d.perLaunchUs(copies, c -> blas.gemm(wp[c], xb, y, n, k, b, Cublas.R_16BF, Cublas.COMPUTE_32F));
                for (String kn : CudaSelfCheck.SPLIT_K_KERNELS) {
                    boolean rm = SbiSplitK.rowMajor(kn);
                    SbiLayout.Shape sm = rm ? sr : st;
                    long[] wm = rm ? wr : wt;
                    SbiSplitK.Plan plan = SbiSplitK.plan(kn, sm, b, cu.smCount());
                    StringBuilder cols = new StringBuilder();
                    double planUs = Double.NaN;
                    for (int cl = 1; cl <= 8; cl *= 2) {
                        SbiSplitK.Plan p = SbiSplitK.fixed(kn, sm, b, cl);
                        String cell = "-";
                        if (p.smem() <= SbiSplitK.MAX_SMEM) {
                            try {
                                double us = d.perLaunchUs(copies, c -> SbiSplitK.launch(mod, false, p, stream, wm[c], sm, x, k, 0L, 0L, y, n, b, 0, 0, 1));
                                cell = String.format("%.0f", wBytes / (us * 1e-6) / 1e9);
                                if (p.equals(plan)) planUs = us;
                            } catch (RuntimeException e) {
                                cell = "err";
                                System.out.println("   " + kn + " C=" + cl + ": " + e.getMessage());
                            }
                        }
                        cols.append(String.format(" %7s", cell));
                    }
                    String pdl = "-";
                    if (plan != null && !Double.isNaN(planUs)) {
                        double us = d.perLaunchUs(copies, c -> SbiSplitK.launch(mod, true, plan, stream, wm[c], sm, x, k, 0L, 0L, y, n, b, 0, 0, 1));
                        pdl = String.format("%.0f", wBytes / (us * 1e-6) / 1e9);
                    }
                    double pg = wBytes / (planUs * 1e-6) / 1e9;
                    System.out.printf("%-12s %5d %-16s%s %5s %9.0f %6.1f%% %9s %9.0f %9.2f%n", n + "x" + k, b, kn, cols, plan == null ? "-" : plan.cluster(),
                            pg, 100 * pg / readGBs, pdl, wBytes / (blasUs * 1e-6) / 1e9, blasUs / planUs);
                }
            }
            d.free(wt, wr, wp);
            acts.close();
        }
        if (blas != null) blas.close();
    }

    /**
     * INT8 weight-only SBI-GEMM on the Llama-7B shapes at batch 1, 4, 8: the pipelined kernels ({@code sbi8_*}, the
     * default) against the read ceiling and against the BF16 row-major kernel ({@code sbirm_bf16_*}, the batch-1 BF16
     * layout) on the same shape in the same run. Bytes read: int8 weights plus float32 scales. Also the split of K the
     * plan picks against the best of 1/2/4/8, the register kernels ({@code sbi8r_*}) and their variant that scales every
     * unpacked weight ({@code sbi8w_*}) instead of each 8-weight partial sum, at the planned split.
     */
    void int8Table() {
        int group = Int8Layout.group(), glog = Int8Layout.groupShift(group), sms = cu.smCount();
        Int8Layout.optIn(mod);
        int[][] shapes = LLAMA_SHAPES;
        System.out.printf("%n== INT8 weight-only SBI-GEMM [N x K], scale groups of %d columns, fp32 activations in/out; read ceiling %.0f GB/s%n",
                group, readGBs);
        System.out.println("   us = median over 9 repeats of (20 back-to-back launches on rotating weight copies, > L2) / 20, CUDA events");
        System.out.println("   int8 = pipelined sbi8 (cp.async ring) at the planned split; GB/s = (int8 weights + fp32 scales) / time;");
        System.out.println("   ks = split of K planned / best of 1,2,4,8 (us at the best); regs = sbi8r (register loads), w-scale = sbi8w (each");
        System.out.println("   weight scaled), both at the planned split; bf16 = sbirm_bf16 (row-major BF16) on the same shape; x = bf16 us / int8 us");
        System.out.printf("%-12s %5s %8s %8s %7s %7s %8s %8s %8s %8s %8s %7s%n", "N x K", "batch", "int8 us", "GB/s", "% ceil", "ks",
                "best us", "regs us", "w-scale", "bf16 us", "bf16GB/s", "x bf16");
        boolean warm = false;
        Random rnd = new Random(2);
        for (int[] nk : shapes) {
            int n = nk[0], k = nk[1], stored = (n + 3) / 4 * 4;
            SbiLayout.Shape s8 = Int8Layout.shape(n, k, stored), sb = SbiLayout.Shape.of(n, k, stored, DType.BF16, false, true);
            long bytes8 = Int8Layout.bytes(s8, group), read8 = Int8Layout.readBytes(s8, group);
            int copies = rotation(read8);
            long[] w8 = new long[copies], wb = new long[copies];
            for (int c = 0; c < copies; c++) {   // random bytes; the scales are pairs of random bf16 in [-1, 1): finite floats
                w8[c] = cu.malloc(bytes8);
                d.fill(w8[c], bytes8 / 2, 131 + c);
                wb[c] = cu.malloc(sb.bytes());
                d.fill(wb[c], sb.bytes() / 2, 171 + c);
            }
            float[] xv = new float[8 * k];
            for (int i = 0; i < xv.length; i++) xv[i] = (float) rnd.nextGaussian();
            long x = cu.malloc(4L * xv.length), y = cu.malloc(4L * 8 * n);
            try (Arena a = Arena.ofConfined()) {
                cu.copyToDevice(x, SbiLayout.floats(xv, a), 4L * xv.length, stream);
                cu.synchronize(stream);
            }
            SbiLayout.Launch plan = Int8Layout.plan(s8, sms), planB = SbiLayout.plan(sb, sms);
            for (int b : new int[]{1, 4, 8}) {
                double[] byKs = new double[9];
                int best = 1;
                // one int8 launch of kernels `prefix` (batch b) on weight copy c with split ks
                interface Int8Launch { void run(String prefix, int ks, int c); }
                Int8Launch one = (prefix, ks, c) -> mod.launch(prefix + b, Int8Layout.launch(s8, ks).blocks(), 1, 256, Int8Layout.smem(prefix),
                        stream, w8[c], x, k, k, s8.kChunks(), s8.groups(), ks, 0L, 0L, y, n, n, b, 0, 0, 1, w8[c] + Int8Layout.scaleOffset(s8), glog);
                if (!warm) {   // the first timings of a session run at lower clocks: warm up for a while first
                    for (int i = 0; i < 20; i++) d.perLaunchUs(copies, c -> one.run(Int8Layout.PREFIX, plan.ks(), c));
                    warm = true;
                }
                for (int ks : new int[]{1, 2, 4, 8}) {
                    byKs[ks] = d.perLaunchUs(copies, c -> one.run(Int8Layout.PREFIX, ks, c));
                    if (byKs[ks] < byKs[best]) best = ks;
                }
                double us = byKs[plan.ks()];
                double rUs = d.perLaunchUs(copies, c -> one.run(Int8Layout.REGS_PREFIX, plan.ks(), c));
                double wUs = d.perLaunchUs(copies, c -> one.run(Int8Layout.SCALED_PREFIX, plan.ks(), c));
                String nb = String.valueOf(b);
                double bfUs = d.perLaunchUs(copies, c -> mod.launch("sbirm_bf16_" + nb, planB.blocks(), 1, 256, 0, stream, wb[c], x, k, k,
                        sb.kChunks(), sb.groups(), planB.ks(), 0L, 0L, y, n, n, b, 0, 0, 1));
                double gbs = read8 / (us * 1e-6) / 1e9;
                System.out.printf("%-12s %5d %8.1f %8.0f %6.1f%% %7s %8.1f %8.1f %8.1f %8.1f %8.0f %6.2fx%n", n + "x" + k, b, us, gbs, 100 * gbs / readGBs,
                        plan.ks() + "/" + best, byKs[best], rUs, wUs, bfUs, 2.0 * n * k / (bfUs * 1e-6) / 1e9, bfUs / us);
            }
            for (int c = 0; c < copies; c++) {
                cu.free(w8[c]);
                cu.free(wb[c]);
            }
            cu.free(x);
            cu.free(y);
        }
    }

    /** Prompt-phase GEMMs: the tile GEMM against cuBLAS on the same shapes, and cuBLAS at 8192^3 as the rate ceiling. */
    void promptTable() {
        Cublas blas = openBlas();
        int[][] shapes = {{4096, 4096}, {11008, 4096}, {4096, 11008}, {32000, 4096}};
        int[] rowsList = {128, 512, 1024, 4096};
        long big = 8192;
        double ceilTf = 0;
        if (blas != null) {
            long a = cu.malloc(2 * big * big), b = cu.malloc(2 * big * big), c = cu.malloc(4 * big * big);
            d.fill(a, big * big, 3);
            d.fill(b, big * big, 4);
            double us = d.perLaunchUs(1, cc -> blas.gemm(a, b, c, (int) big, (int) big, (int) big, Cublas.R_16BF, Cublas.COMPUTE_32F));
            ceilTf = 2.0 * big * big * big / (us * 1e-6) / 1e12;
            cu.free(a); cu.free(b); cu.free(c);
        }
        System.out.printf("%n== prompt-phase GEMM, BF16 weights in the tile layout, fp32 activations in and out; cuBLAS bf16 8192^3 = %.0f TFLOP/s (the ceiling)%n", ceilTf);
        System.out.println("   ours = what the model runs: unpack the tiles to row-major (unpack us) + bf16 activations + cublasGemmEx + epilogue;");
        System.out.println("   tile = the earlier mma.sync kernel over the tiles; blas = cublasGemmEx alone on row-major weights (no unpack)");
        System.out.printf("%-12s %6s %9s %9s %9s %8s %9s %9s %9s %9s%n", "N x K", "rows", "ours us", "unpack us", "TFLOP/s", "% ceil", "tile us", "TFLOP/s", "blas us", "TFLOP/s");
        PromptGemm pg = new PromptGemm(cu, mod, stream);
        if (pg.available()) pg.reserve(2L * 32000 * 4096, 11008, 0, 4096);
        for (int[] nk : shapes) {
            int n = nk[0], k = nk[1];
            SbiLayout.Shape sm = SbiLayout.Shape.of(n, k, (n + 15) / 16 * 16, DType.BF16, true);
            long w = cu.malloc(sm.bytes()), wp = cu.malloc(2L * n * k);
            d.fill(w, sm.bytes() / 2, 21);
            d.fill(wp, (long) n * k, 22);
            int maxR = 4096;
            // fp32 activations from random bf16 bit pairs: the high half is a bf16 in [-1, 1), so every float is finite
            long x = cu.malloc(4L * maxR * k), xb = cu.malloc(2L * maxR * k), y = cu.malloc(4L * maxR * n);
            d.fill(x, 2L * maxR * k, 23);
            d.fill(xb, (long) maxR * k, 24);
            for (int rows : rowsList) {
                int warps = CudaGemms.tileGemmWarps(rows), gx = (rows + 63) / 64, gy = (sm.groups() + warps - 1) / warps;
                double us = d.perLaunchUs(1, c -> mod.launch("tilegemm_bf16", gx, gy, 32 * warps, 0, stream, w, x, k, k, sm.kChunks(), sm.groups(), 1,
                        0L, 0L, y, n, n, rows, 0, 0, 1));
                double flop = 2.0 * rows * n * k, tf = flop / (us * 1e-6) / 1e12;
                String bu = "-", bt = "-", pct = "-", ou = "-", uu = "-", ot = "-";
                if (blas != null) {
                    double ub = d.perLaunchUs(1, c -> blas.gemm(wp, xb, y, n, k, rows, Cublas.R_16BF, Cublas.COMPUTE_32F));
                    bu = String.format("%.1f", ub);
                    bt = String.format("%.0f", flop / (ub * 1e-6) / 1e12);
                }
                if (pg.available()) {
                    double uo = d.perLaunchUs(1, c -> { pg.unpack(w, sm); pg.multiply(sm, 0L, x, k, rows, y, n, 0L, 0, 0); });
                    double un = d.perLaunchUs(1, c -> pg.unpack(w, sm));
                    ou = String.format("%.1f", uo);
                    uu = String.format("%.1f", un);
                    ot = String.format("%.0f", flop / (uo * 1e-6) / 1e12);
                    if (ceilTf > 0) pct = String.format("%.1f%%", 100 * flop / (uo * 1e-6) / 1e12 / ceilTf);
                }
                System.out.printf("%-12s %6d %9s %9s %9s %8s %9.1f %9.1f %9s %9s%n", n + "x" + k, rows, ou, uu, ot, pct, us, tf, bu, bt);
            }
            cu.free(w); cu.free(wp); cu.free(x); cu.free(xb); cu.free(y);
        }
        pg.close();
        if (blas != null) blas.close();
    }

    /**
     * cublasGemmEx (the library's default choice) against every cuBLASLt heuristic candidate on the prompt-phase shapes
     * of Llama-7B (QKV, out, gate+up stored together, down), bf16 x bf16 -> fp32, rotating weight copies (> L2).
     */
    void ltTable() {
        Cublas blas = openBlas();
        String[] why = new String[1];
        CublasLt lt = CublasLt.open(why);
        if (blas == null || lt == null) {
            System.out.println("cuBLASLt table skipped: " + (lt == null ? why[0] : "no cuBLAS"));
            return;
        }
        long wsBytes = 32L << 20, ws = cu.malloc(wsBytes);
        blas.setWorkspace(ws, wsBytes);
        int[][] shapes = {{12288, 4096}, {4096, 4096}, {22016, 4096}, {4096, 11008}};
        int[] rowsList = {128, 512, 1024, 4096};
        System.out.printf("%n== prompt GEMMs: cublasGemmEx against the cuBLASLt heuristic's candidates (bf16 x bf16 -> fp32, weights rotated > L2; read ceiling %.0f GB/s)%n", readGBs);
        System.out.printf("%-12s %5s %10s %9s %6s %10s %10s %6s %9s %9s %9s %10s%n", "N x K", "rows", "gemmEx us", "GB/s", "algos", "lt[0] us", "best us", "best", "GB/s", "TFLOP/s", "ex/best", "rel diff");
        for (int[] nk : shapes) {
            int n = nk[0], k = nk[1];
            long wBytes = 2L * n * k;
            int copies = rotation(wBytes);
            long[] w = d.copies(copies, wBytes, 31);
            long x = cu.malloc(2L * 4096 * k), y = cu.malloc(4L * 4096 * n);
            d.fill(x, 4096L * k, 7);
            for (int rows : rowsList) {
                double ex = d.perLaunchUs(copies, c -> blas.gemmBf16(w[c], k, x, k, y, n, n, k, rows, false));
                CublasLt.Plan made;
                try {
                    made = lt.plan(n, k, rows, k, k, n, wsBytes, 16);
                } catch (IllegalStateException e) {   // the library has no candidate for this shape: one line, the table goes on
                    System.out.printf("%-12s %5d %10.1f   cuBLASLt: %s%n", n + "x" + k, rows, ex, e.getMessage());
                    continue;
                }
                try (CublasLt.Plan plan = made) {
                    if (plan.algos.isEmpty()) {   // candidates came back but none fits the workspace or is supported
                        System.out.printf("%-12s %5d %10.1f   cuBLASLt: no usable candidate%n", n + "x" + k, rows, ex);
                        continue;
                    }
                    double first = Double.NaN, best = Double.MAX_VALUE;
                    int bi = -1;
                    for (int a = 0; a < plan.algos.size(); a++) {
                        int algo = a;
                        double us = d.perLaunchUs(copies, c -> plan.run(algo, w[c], x, y, false, ws, wsBytes, stream));
                        if (a == 0) first = us;
                        if (us < best) { best = us; bi = a; }
                    }
                    double flop = 2.0 * rows * n * k;
                    // the fastest candidate's product against gemmEx's on the same operands (both fp32 sums of bf16 products)
                    blas.gemmBf16(w[0], k, x, k, y, n, n, k, rows, false);
                    float[] a = d.download(y, (long) rows * n);
                    plan.run(bi, w[0], x, y, false, ws, wsBytes, stream);
                    float[] b = d.download(y, (long) rows * n);
                    double num = 0, den = 0;
                    for (int i = 0; i < a.length; i++) { num += (a[i] - b[i]) * (double) (a[i] - b[i]); den += a[i] * (double) a[i]; }
                    double diff = Math.sqrt(num / den);
                    System.out.printf("%-12s %5d %10.1f %9.0f %6d %10.1f %10.1f %6d %9.0f %9.0f %9.2f %10.1e%n", n + "x" + k, rows, ex, (wBytes + 2.0 * rows * k + 4.0 * rows * n) / (ex * 1e-6) / 1e9,
                            plan.algos.size(), first, best, bi, (wBytes + 2.0 * rows * k + 4.0 * rows * n) / (best * 1e-6) / 1e9, flop / (best * 1e-6) / 1e12, ex / best, diff);
                }
            }
            d.free(w);
            cu.free(x);
            cu.free(y);
        }
        cu.free(ws);
        lt.close();
        blas.close();
    }
}
