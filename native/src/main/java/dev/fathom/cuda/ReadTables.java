package dev.fathom.cuda;

import java.util.List;

/**
 * The SBI-GEMM tables against a plain read of each shape's own bytes, timed the way the GEMMs are: the model's kernels
 * and cuBLAS beside that read (part sizes), where the row-major split-K kernel's time goes and the experiment kernels
 * (part stages), and a few launches to profile under Nsight Compute (part prof). {@link CudaBench} runs them;
 * {@link KernelTables} has the other kernel tables.
 */
final class ReadTables extends BenchTables {
    ReadTables(BenchDevice d, double readGBs) {
        super(d, readGBs);
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
        SbiSplitK.Settings st = SbiSplitK.Settings.read();   // the model's choice, -D settings included
        System.out.println("   ours = our kernel for the shape (1 row: sbirm_bf16_1; 4, 8 rows: " + st.wideKernel() + " over " + st.wideRows()
                + "+ outputs, which the model runs in place of cuBLAS, else " + st.rowMajorKernel() + "; at SbiSplitK.plan's C [C]),");
        System.out.println("          plain / as PDL; blas = cublasGemmEx bf16 x bf16 -> fp32");
        System.out.printf("%-12s %5s %9s %6s %9s %6s %4s %9s %6s %6s %9s %9s %6s %6s %8s%n", "N x K", "rows", "read GB/s", "% ceil", "pdl read", "% ceil",
                "C", "ours GB/s", "% ceil", "% read", "ours pdl", "blas GB/s", "% ceil", "% read", "ours/blas");
        if (cu.ccMajor() < 9) System.out.println("   (4 and 8 rows not measured: the split-K plan needs sm_90, this GPU is sm " + cu.computeCapability() + ")");
        long out = cu.malloc(4L * 65536);
        for (int[] nk : shapes()) {
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
                SbiSplitK.Plan plan = b > 1 && cu.ccMajor() >= 9 ? SbiSplitK.plan(st.kernel(sr, cu.smCount()), sr, b, cu.smCount()) : null;
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
        eachShapeOnSm90(blas, "the split-K kernels", (rc, readUs, acts) -> {
            int n = rc.shape().n(), k = rc.shape().k(), copies = rc.w().length;
            long[] wr = rc.w(), wp = rc.wBlas();
            SbiLayout.Shape sr = rc.shape();
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
                SbiSplitK.Plan bestPlan = null;
                for (String kn : SbiSplitK.EXPERIMENTS) {
                    Sweep sw = sweepClusters(kn, plan.cluster(), rc, acts, b);
                    if (sw.bestPlan() != null && sw.best() < bestUs) { bestUs = sw.best(); bestPlan = sw.bestPlan(); }
                    exp.append(String.format(" %s %s / %s [%d]", kn.replace("_bf16_8", ""), gbs(rc.bytes(), sw.atPlan()), gbs(rc.bytes(), sw.best()), sw.bestC()));
                }
                if (bestPlan != null) exp.append(String.format("; best/blas %.2f", blasUs / bestUs));
                if (bestPlan != null) {   // with the fused RMS norm (row 0 of x as gamma), as decode steps run QKV and up/gate
                    SbiSplitK.Plan bp = bestPlan;
                    double fullN = d.perLaunchUs(copies, c -> SbiSplitK.launch(mod, false, plan, stream, wr[c], sr, acts.x(), k, 0L, 0L, acts.y(), n, b, 0, 0, 1, acts.x(), 1e-5f));
                    double bestN = d.perLaunchUs(copies, c -> SbiSplitK.launch(mod, false, bp, stream, wr[c], sr, acts.x(), k, 0L, 0L, acts.y(), n, b, 0, 0, 1, acts.x(), 1e-5f));
                    exp.append(String.format("; with norm: full %.0f, %s [%d] %.0f GB/s", rc.bytes() / (fullN * 1e3),
                            bp.kernel().replace("_bf16_8", ""), bp.cluster(), rc.bytes() / (bestN * 1e3)));
                }
                System.out.println(exp);
            }
        });
    }

    /** One Llama shape of an sm_90 table: its row-major copies, the plain read of its bytes, activations for 8 rows. */
    private interface ShapeBody { void run(RowMajorCopies rc, double readUs, Acts acts); }

    /** {@code body} over every Llama shape, freeing each one's buffers after it; one line and nothing else below sm_90. */
    private void eachShapeOnSm90(Cublas blas, String what, ShapeBody body) {
        if (!lacksSm90(cu, what + " need")) {
            long out = cu.malloc(4L * 65536);
            for (int[] nk : shapes()) {
                RowMajorCopies rc = rowMajorCopies(nk[0], nk[1], blas != null);
                Acts acts = Acts.of(d, 8, nk[1], nk[0]);
                body.run(rc, bestReadUs(rc.w(), rc.bytes(), out, false), acts);
                d.free(rc.w(), rc.wBlas());
                acts.close();
            }
            cu.free(out);
        }
        if (blas != null) blas.close();
    }

    /**
     * The cluster sizes the TMA table sweeps: {@code -Dfathom.bench.clusters} (a comma-separated subset of 1..8), else
     * 1, 2, 4, 8.
     */
    static List<Integer> clusters() {
        if (System.getProperty("fathom.bench.clusters", "").isBlank()) return List.of(1, 2, 4, 8);
        return CudaSettings.subset("fathom.bench.clusters", List.of("1", "2", "3", "4", "5", "6", "7", "8")).stream().map(Integer::parseInt).sorted().toList();
    }

    /** The TMA kernels the table shows: {@code -Dfathom.bench.tmaKernels} (a comma-separated subset), else all of them. */
    static List<String> tmaKernels() { return CudaSettings.subset("fathom.bench.tmaKernels", TmaKernels.TMA_KERNELS); }

    /** A kernel at the plan's cluster size and at its fastest of {@link #clusters()} (µs; NaN / MAX_VALUE where none ran). */
    private record Sweep(double atPlan, double best, int bestC, SbiSplitK.Plan bestPlan) {}

    /**
     * {@code kn} over {@code rc}'s copies at {@code b} rows and each cluster size whose shared memory fits; a launch the
     * driver refuses (a cluster it cannot place) is one line and is left out.
     */
    private Sweep sweepClusters(String kn, int planC, RowMajorCopies rc, Acts acts, int b) {
        SbiLayout.Shape sr = rc.shape();
        int n = sr.n(), k = sr.k();
        long[] wr = rc.w();
        double atPlan = Double.NaN, best = Double.MAX_VALUE;
        int bestC = 0;
        SbiSplitK.Plan bestPlan = null;
        for (int cl : clusters()) {
            SbiSplitK.Plan p = SbiSplitK.fixed(kn, sr, b, cl, cu.smCount());
            if (p.smem() > SbiSplitK.MAX_SMEM) continue;
            double t;
            try {
                t = d.perLaunchUs(wr.length, c -> SbiSplitK.launch(mod, false, p, stream, wr[c], sr, acts.x(), k, 0L, 0L, acts.y(), n, b, 0, 0, 1));
            } catch (Cuda.CudaException e) {
                System.out.println("   " + kn + " C=" + cl + " on " + n + "x" + k + ": " + e.getMessage());
                continue;
            }
            if (cl == planC) atPlan = t;
            if (t < best) { best = t; bestC = cl; bestPlan = p; }
        }
        return new Sweep(atPlan, best, bestC, bestPlan);
    }

    /**
     * The TMA kernels (TmaKernels.TMA_KERNELS) against the SBI-GEMM target at 4 and 8 rows: for each Llama shape, a plain
     * read of the same bytes, the model's split-K kernel at its plan, cuBLAS, and each TMA kernel at its plan's C and its
     * fastest C, then the fastest TMA launch as a share of the read, against cuBLAS, and with the RMS norm fused.
     */
    void tmaTable() {
        Cublas blas = openBlas();
        System.out.printf("%n== TMA-fed kernels at 4 and 8 rows (GB/s of weight bytes; read ceiling %.0f GB/s)%n", readGBs);
        System.out.println("   read = read_probe_u4 over the same bytes; ours = " + SbiSplitK.DEFAULT_ROW_MAJOR_KERNEL + " at its plan; blas = cublasGemmEx bf16;");
        System.out.println("   columns: sbimm<family><stages>[p|l]_bf16_8 at its plan's C / at its fastest C = "
                + String.join(", ", clusters().stream().map(String::valueOf).toList()) + " [C]; families: t 128-row boxes,");
        System.out.println("   h 64-row, b 256-row, s 96-row, q 192-row; k (128-row), kh (64-row) and o (128-row, owners) stream-K, C = blocks per multiprocessor;");
        System.out.println("   d (128-row) and e (64-row) two consumer warps a tile; w (128-row) and v (64-row) two 64-column chunks a");
        System.out.println("   stage; p: tensor maps prefetched, l: the next kernel let in after the last stage; best = the fastest TMA launch;");
        System.out.println("   norm = that launch with the RMS norm fused; pdl = that launch as programmatic dependent launches (as the decode graphs");
        System.out.println("   run it: the next launch's first weight stages are loaded while the previous one ends), pdl/blas = against cuBLAS's plain launches;");
        System.out.println("   pdl1 = pdl asking for 116 KB of shared memory (one block per multiprocessor, so the next grid cannot double up);");
        System.out.println("   in graphs: cuBLAS and pdl1 with the 20 launches captured in one CUDA graph, as the decode step runs them, and their ratio;");
        System.out.println("   g best = the fastest of every kernel's fastest plain plan run so (kernel/C), and its ratio to cuBLAS in a graph");
        System.out.printf("%-12s %4s %6s %6s %6s", "N x K", "rows", "read", "ours", "blas");
        List<String> kernels = tmaKernels();
        for (String kn : kernels) System.out.printf(" %15s", kn.replace("_bf16_8", "").replace("sbimm", ""));
        System.out.printf(" %7s %9s %8s %8s %8s %8s %8s %8s %8s %14s %6s%n", "% read", "best/blas", "norm", "pdl", "pdl/blas", "pdl1", "g blas", "g pdl1",
                "g ratio", "g best", "ratio");
        eachShapeOnSm90(blas, "TMA and clusters", (rc, readUs, acts) -> {
            SbiLayout.Shape sr = rc.shape();
            int n = sr.n(), k = sr.k(), copies = rc.w().length;
            long[] wr = rc.w(), wp = rc.wBlas();
            long bytes = rc.bytes();
            for (int b : new int[]{4, 8}) {
                SbiSplitK.Plan plan = SbiSplitK.plan(SbiSplitK.DEFAULT_ROW_MAJOR_KERNEL, sr, b, cu.smCount());
                double oursUs = plan == null ? Double.NaN
                        : d.perLaunchUs(copies, c -> SbiSplitK.launch(mod, false, plan, stream, wr[c], sr, acts.x(), k, 0L, 0L, acts.y(), n, b, 0, 0, 1));
                double blasUs = blas == null ? Double.NaN : d.perLaunchUs(copies, c -> blas.gemm(wp[c], acts.xb(), acts.y(), n, k, b, Cublas.R_16BF, Cublas.COMPUTE_32F));
                StringBuilder cols = new StringBuilder();
                Sweep top = null;
                List<SbiSplitK.Plan> bestPlans = new java.util.ArrayList<>();
                for (String kn : kernels) {
                    Sweep sw = sweepClusters(kn, SbiSplitK.plan(kn, sr, b, cu.smCount()).cluster(), rc, acts, b);
                    if (sw.bestPlan() != null) bestPlans.add(sw.bestPlan());
                    if (sw.bestPlan() != null && (top == null || sw.best() < top.best())) top = sw;
                    cols.append(String.format(" %15s", gbs(bytes, sw.atPlan()) + "/" + gbs(bytes, sw.best()) + " [" + (sw.bestPlan() == null ? "-" : sw.bestC()) + "]"));
                }
                if (top == null) {
                    System.out.printf("%-12s %4d   (no TMA launch ran)%n", n + "x" + k, b);
                    continue;
                }
                SbiSplitK.Plan bp = top.bestPlan();
                double normUs = d.perLaunchUs(copies, c -> SbiSplitK.launch(mod, false, bp, stream, wr[c], sr, acts.x(), k, 0L, 0L, acts.y(), n, b, 0, 0, 1, acts.x(), 1e-5f));
                double pdlUs = d.perLaunchUs(copies, c -> SbiSplitK.launch(mod, true, bp, stream, wr[c], sr, acts.x(), k, 0L, 0L, acts.y(), n, b, 0, 0, 1));
                SbiSplitK.Plan one = SbiSplitK.withSmem(bp, SbiSplitK.ONE_PER_SM_SMEM);
                double pdl1Us = d.perLaunchUs(copies, c -> SbiSplitK.launch(mod, true, one, stream, wr[c], sr, acts.x(), k, 0L, 0L, acts.y(), n, b, 0, 0, 1));
                double gBlasUs = blas == null ? Double.NaN
                        : d.perGraphUs(copies, c -> blas.gemm(wp[c], acts.xb(), acts.y(), n, k, b, Cublas.R_16BF, Cublas.COMPUTE_32F));
                double gPdl1Us = d.perGraphUs(copies, c -> SbiSplitK.launch(mod, true, one, stream, wr[c], sr, acts.x(), k, 0L, 0L, acts.y(), n, b, 0, 0, 1));
                String gTop = "";   // every kernel's fastest plain plan, one block per multiprocessor, as PDL in a graph: the fastest
                double gTopUs = Double.POSITIVE_INFINITY;
                for (SbiSplitK.Plan bpk : bestPlans) {
                    SbiSplitK.Plan onek = SbiSplitK.withSmem(bpk, SbiSplitK.ONE_PER_SM_SMEM);
                    double us = d.perGraphUs(copies, c -> SbiSplitK.launch(mod, true, onek, stream, wr[c], sr, acts.x(), k, 0L, 0L, acts.y(), n, b, 0, 0, 1));
                    if (us < gTopUs) { gTopUs = us; gTop = bpk.kernel().replace("_bf16_8", "").replace("sbimm", "") + "/" + bpk.cluster(); }
                }
                System.out.printf("%-12s %4d %6s %6s %6s%s %6.1f%% %9.2f %8s %8s %8.2f %8s %8s %8s %8.2f %14s %6.2f%n", n + "x" + k, b, gbs(bytes, readUs), gbs(bytes, oursUs), gbs(bytes, blasUs),
                        cols, 100 * readUs / top.best(), blasUs / top.best(), gbs(bytes, normUs), gbs(bytes, pdlUs), blasUs / pdlUs, gbs(bytes, pdl1Us),
                        gbs(bytes, gBlasUs), gbs(bytes, gPdl1Us), gBlasUs / gPdl1Us, gbs(bytes, gTopUs) + " " + gTop, gBlasUs / gTopUs);
            }
        });
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
            SbiLayout.Shape sr = rowMajorShape(n, k);
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

    /** GB/s of reading {@code bytes} in {@code us} µs, "-" where nothing was timed (NaN, or no launch fitted). */
    private static String gbs(long bytes, double us) {
        return Double.isNaN(us) || us == Double.MAX_VALUE ? "-" : String.format("%.0f", bytes / (us * 1e3));
    }

    /** A shape's row-major BF16 weights in copies that rotate past L2, and the same bytes for cuBLAS (zeros when it did not load). */
    private record RowMajorCopies(SbiLayout.Shape shape, long bytes, long[] w, long[] wBlas) {}

    private RowMajorCopies rowMajorCopies(int n, int k, boolean blas) {
        SbiLayout.Shape sr = rowMajorShape(n, k);
        long bytes = 2L * n * k;
        int copies = rotation(bytes);
        return new RowMajorCopies(sr, bytes, d.copies(copies, sr.bytes(), 71), blas ? d.copies(copies, bytes, 101) : new long[copies]);
    }

    /** The model's BF16 row-major kernel for {@code rows} rows: the batch-1 GEMV, or the split-K plan at 2..8 rows. */
    private void launchOurs(boolean pdl, int rows, SbiSplitK.Plan plan, SbiLayout.Launch p1, SbiLayout.Shape s, long w, long x, long y) {
        if (plan != null) SbiSplitK.launch(mod, pdl, plan, stream, w, s, x, s.k(), 0L, 0L, y, s.n(), rows, 0, 0, 1);
        else mod.launch(pdl, "sbirm_bf16_1", p1.blocks(), 1, 256, 0, stream, w, x, s.k(), s.k(), s.kChunks(), s.groups(), p1.ks(), 0L, 0L, y, s.n(), s.n(), 1, 0, 0, 1);
    }
}
