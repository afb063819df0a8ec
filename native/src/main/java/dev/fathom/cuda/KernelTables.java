package dev.fathom.cuda;

import dev.fathom.engine.tensor.DType;

import java.lang.foreign.Arena;
import java.util.Random;

/**
 * The kernel tables of the CUDA benchmarks: SBI-GEMM against the read ceiling and cuBLAS on the Llama-7B shapes
 * (every layout and batch), the split-K cluster kernels at each cluster size, the INT8 kernels, and the prompt-phase
 * GEMM against cuBLAS's rate. {@link CudaBench} runs them as its parts gemm, splitk, int8 and prompt; the tables
 * against a plain read of each shape's own bytes are in {@link ReadTables}.
 */
final class KernelTables extends BenchTables {
    KernelTables(BenchDevice d, double readGBs) {
        super(d, readGBs);
    }

    void gemmTable() {
        int[][] shapes = shapes();
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
                SbiLayout.Shape srm = rowMajorShape(n, k);
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
     * The split-K cluster kernels ({@link SbiSplitK}) at 2, 4 and 8 rows on the gemm shapes: each kernel at each cluster
     * size, its plan (also as programmatic dependent launches, as decode graphs run it), and cuBLAS on the same shape in
     * the same part of the run.
     */
    void splitkTable() {
        int[][] shapes = shapes();
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
                    sr = rowMajorShape(n, k);
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
        int[][] shapes = shapes();
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
        int[] rowsList = {128, 512, 1024, 4096};
        System.out.printf("%n== prompt GEMMs: cublasGemmEx against the cuBLASLt heuristic's candidates (bf16 x bf16 -> fp32, weights rotated > L2; read ceiling %.0f GB/s)%n", readGBs);
        System.out.printf("%-12s %5s %10s %9s %6s %10s %10s %6s %9s %9s %9s %10s%n", "N x K", "rows", "gemmEx us", "GB/s", "algos", "lt[0] us", "best us", "best", "GB/s", "TFLOP/s", "ex/best", "rel diff");
        for (int[] nk : PROMPT_SHAPES) {
            int n = nk[0], k = nk[1];
            PromptOperands o = promptOperands(n, k, 4096, 31, 7);
            long[] w = o.w();
            long wBytes = o.wBytes(), x = o.x(), y = o.y();
            int copies = w.length;
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
                    double diff = relDiff(a, b);
                    System.out.printf("%-12s %5d %10.1f %9.0f %6d %10.1f %10.1f %6d %9.0f %9.0f %9.2f %10.1e%n", n + "x" + k, rows, ex, (wBytes + 2.0 * rows * k + 4.0 * rows * n) / (ex * 1e-6) / 1e9,
                            plan.algos.size(), first, best, bi, (wBytes + 2.0 * rows * k + 4.0 * rows * n) / (best * 1e-6) / 1e9, flop / (best * 1e-6) / 1e12, ex / best, diff);
                }
            }
            free(o);
        }
        cu.free(ws);
        lt.close();
        blas.close();
    }

    /** The sm_90a image, or null after one line saying why the part named is skipped (not Hopper, or the driver refused it). */
    private CudaModule hopperOrSkip(String part) {
        String why = CudaModule.hopperRefusal(cu);
        try {
            if (why == null) return CudaModule.hopper(cu);
        } catch (IllegalStateException e) {   // the driver refused the sm_90a cubin: one line, the other parts run on
            why = "the sm_90a kernels did not load: " + e.getMessage();
        }
        System.out.println(part + " skipped: " + why);
        return null;
    }

    /** The llama-7b prompt shapes (N x K) of the prompt GEMM parts (lt and the wgemm parts): QKV, the output projection, the gate/up pairs, down. */
    private static final int[][] PROMPT_SHAPES = {{12288, 4096}, {4096, 4096}, {22016, 4096}, {4096, 11008}};

    /**
     * One prompt shape's operands: its bf16 weights in as many copies as rotate past L2 (seeded {@code wSeed}), bf16
     * activations of {@code maxRows} rows (filled, seeded {@code xSeed}) and fp32 outputs of as many rows.
     */
    private record PromptOperands(long[] w, long wBytes, long x, long y) {}

    private PromptOperands promptOperands(int n, int k, int maxRows, int wSeed, int xSeed) {
        long wBytes = 2L * n * k;
        long[] w = d.copies(rotation(wBytes), wBytes, wSeed);
        long x = cu.malloc(2L * maxRows * k), y = cu.malloc(4L * maxRows * n);
        d.fill(x, (long) maxRows * k, xSeed);
        return new PromptOperands(w, wBytes, x, y);
    }

    private void free(PromptOperands o) {
        d.free(o.w());
        cu.free(o.x());
        cu.free(o.y());
    }

    /**
     * Runs the wgemm part {@code part} on the sm_90a image (its shared memory opened) and cuBLAS to compare with, closing
     * cuBLAS after; or prints one line saying why the part is skipped.
     */
    private void wgemmPart(String part, java.util.function.BiConsumer<CudaModule, Cublas> body) {
        CudaModule hopper = hopperOrSkip(part);
        if (hopper == null) return;
        Cublas blas = openBlas();
        if (blas == null) return;
        Wgemm.prepare(hopper);
        try {
            body.accept(hopper, blas);
        } finally {
            blas.close();
        }
    }

    /**
     * One launch of cuBLAS and of each wgemm form on the QKV, out and down shapes at 128 rows, nothing else: the part
     * {@code profwg} to run under Nsight Compute (which flushes the caches before each launch it profiles), so that the
     * forms' DRAM and L2 throughput and warp stalls stand beside cuBLAS's on the same multiply.
     */
    void profWgemm() { wgemmPart("profwg", this::profWgemm); }

    private void profWgemm(CudaModule hopper, Cublas blas) {
        int rows = 128;
        for (int[] nk : new int[][]{{12288, 4096}, {4096, 4096}, {4096, 11008}}) {
            int n = nk[0], k = nk[1];
            long w = d.copies(1, 2L * n * k, 41)[0], x = cu.malloc(2L * rows * k), y = cu.malloc(4L * rows * n);
            d.fill(x, (long) rows * k, 9);
            System.out.println("profwg " + n + "x" + k + " at " + rows + " rows: cuBLAS, then " + String.join(", ", Wgemm.KERNELS));
            blas.gemmBf16(w, k, x, k, y, n, n, k, rows, false);
            for (String kn : Wgemm.KERNELS)
                Wgemm.launch(kn, hopper, mod, stream, Wgemm.plan(kn, n, k, rows, cu.smCount(), 0), w, k, n, x, k, k, rows, y, n, false);
            cu.synchronize(stream);
            cu.free(w);
            cu.free(x);
            cu.free(y);
        }
    }

    /** The staggers part wgstag times (0: every slab starts at K = 0, the default). */
    static final int[] STAGGERS = {0, 1, 3, 8, 21};

    /**
     * Part wgstag: the swapped forms at 64 and 128 rows with their weight slabs' walks along K started {@link #STAGGERS}
     * blocks apart ({@code -Dfathom.cuda.wgemmStagger}), beside cuBLAS; each product checked against cuBLAS's with y
     * poisoned first. If the default (stagger 0) loses to a stagger, the wave's reads of one column window of every row
     * cost DRAM efficiency.
     */
    void wgemmStaggerTable() { wgemmPart("wgstag", this::wgemmStaggerTable); }

    private void wgemmStaggerTable(CudaModule hopper, Cublas blas) {
        System.out.printf("%n== wgemmt forms with staggered K walks (slab i starts i x s K blocks in, wrapping), weights rotated > L2; read ceiling %.0f GB/s%n", readGBs);
        StringBuilder head = new StringBuilder(String.format("%-12s %5s %-14s %4s %3s %10s %7s", "N x K", "rows", "form", "w", "sp", "cuBLAS us", "% read"));
        for (int st : STAGGERS) head.append(String.format(" %9s %6s", "s" + st + " us", "x cuB"));
        System.out.println(head + "  max rel diff");
        for (int[] nk : PROMPT_SHAPES) {
            int n = nk[0], k = nk[1];
            PromptOperands o = promptOperands(n, k, 128, 41, 9);
            long[] w = o.w();
            long wBytes = o.wBytes(), x = o.x(), y = o.y();
            int copies = w.length;
            for (int rows : new int[]{64, 128}) {
                double ub = d.perLaunchUs(copies, c -> blas.gemmBf16(w[c], k, x, k, y, n, n, k, rows, false));
                blas.gemmBf16(w[0], k, x, k, y, n, n, k, rows, false);
                float[] a = d.download(y, (long) rows * n);
                for (String kn : new String[]{Wgemm.SWAPPED, Wgemm.SWAPPED64}) {
                    Wgemm.Plan p = Wgemm.plan(kn, n, k, rows, cu.smCount(), 0);
                    StringBuilder line = new StringBuilder(String.format("%-12s %5d %-14s %4d %3d %10.1f %6.1f%%", n + "x" + k, rows, kn, p.tileRows(), p.splits(), ub,
                            100 * wBytes / 1e9 / (ub * 1e-6) / readGBs));
                    double worst = 0;
                    for (int st : STAGGERS) {
                        double us = d.perLaunchUs(copies, c -> Wgemm.launch(kn, hopper, mod, stream, p, w[c], k, n, x, k, k, rows, y, n, false, st, false));
                        cu.fill32(y, 0x7fc00000, (long) rows * n, stream);
                        Wgemm.launch(kn, hopper, mod, stream, p, w[0], k, n, x, k, k, rows, y, n, false, st, false);
                        double rd = relDiff(a, d.download(y, (long) rows * n));
                        worst = Double.isNaN(rd) || Double.isNaN(worst) ? Double.NaN : Math.max(worst, rd);   // NaN: an output left unwritten
                        line.append(String.format(" %9.1f %6.2f", us, ub / us));
                    }
                    System.out.println(line + String.format("  %.1e", worst));
                }
            }
            free(o);
        }
    }

    /**
     * Part wgprobe: where the first form's time goes at 128 rows. Beside cuBLAS and wgemm_bf16 on the four llama-7b
     * shapes, its two probes: the same launch streaming every stage with no MMA, and running every MMA with no load
     * (Wgemm.PROBES). If the kernel takes about the sum of the two, the loads and the MMAs do not overlap; about the
     * loads alone, the stream is the limit; about the MMAs alone, the tensor cores are.
     */
    void wgemmProbe() { wgemmPart("wgprobe", this::wgemmProbe); }

    private void wgemmProbe(CudaModule hopper, Cublas blas) {
        int rows = 128;
        System.out.printf("%n== wgemm_bf16 at %d rows, taken apart: loads alone (no MMA), MMAs alone (no load); weights rotated > L2; read ceiling %.0f GB/s%n", rows, readGBs);
        System.out.printf("%-12s %7s %10s %10s %10s %7s %10s %10s %9s %9s %10s %3s%n", "N x K", "splits", "cuBLAS us", "wgemm us", "loads us", "% read", "mma us",
                "mma TF/s", "sum us", "wg / sum", "wgemm2 us", "sp");
        for (int[] nk : PROMPT_SHAPES) {
            int n = nk[0], k = nk[1];
            PromptOperands o = promptOperands(n, k, rows, 41, 9);
            long[] w = o.w();
            long wBytes = o.wBytes(), x = o.x(), y = o.y();
            int copies = w.length;
            Wgemm.Plan plan = Wgemm.plan(n, k, rows, cu.smCount(), 0);
            double ub = d.perLaunchUs(copies, c -> blas.gemmBf16(w[c], k, x, k, y, n, n, k, rows, false));
            double[] us = new double[3];
            String[] names = {Wgemm.KERNEL, Wgemm.PROBES.get(0), Wgemm.PROBES.get(1)};
            for (int i = 0; i < 3; i++) {
                String kn = names[i];
                us[i] = d.perLaunchUs(copies, c -> Wgemm.launch(kn, hopper, mod, stream, plan, w[c], k, n, x, k, k, rows, y, n, false));
            }
            Wgemm.Plan p2 = Wgemm.plan(Wgemm.WIDE_TILE, n, k, rows, cu.smCount(), 0);
            double us2 = d.perLaunchUs(copies, c -> Wgemm.launch(Wgemm.WIDE_TILE, hopper, mod, stream, p2, w[c], k, n, x, k, k, rows, y, n, false));
            double flops = 2.0 * n * k * Wgemm.BN;   // the MMAs run on whole 128-token tiles
            System.out.printf("%-12s %7d %10.1f %10.1f %10.1f %6.1f%% %10.1f %10.0f %9.1f %9.2f %10.1f %3d%n", n + "x" + k, plan.splits(), ub, us[0], us[1],
                    100 * wBytes / 1e9 / (us[1] * 1e-6) / readGBs, us[2], flops / (us[2] * 1e-6) / 1e12, us[1] + us[2], us[0] / (us[1] + us[2]), us2, p2.splits());
            free(o);
        }
    }

    /**
     * The prompt GEMMs of Llama-7B (QKV, out, gate+up stored together, down) through {@link Wgemm} (warpgroup MMA,
     * sm_90a) against cublasGemmEx on the same operands, weights rotated through copies larger than L2, at 64 to 4096
     * rows: µs (median of 9 × 20 launches), the weight bytes' GB/s and its share of the read ceiling, the split the plan
     * chose and the relative difference of the two products (both fp32 sums of bf16 products). {@code -Dfathom.cuda.wgemmSplits}
     * fixes the split as the model's setting does.
     */
    void wgemmTable() { wgemmPart("wgemm table", this::wgemmTable); }

    private void wgemmTable(CudaModule hopper, Cublas blas) {
        int forced = CudaSettings.integer("fathom.cuda.wgemmSplits", 0, 0, Wgemm.MAX_SPLITS);
        int[] rowsList = {64, 128, 256, 512, 1024, 4096};
        System.out.printf("%n== prompt GEMMs: wgemm_bf16 (warpgroup MMA + TMA) against cublasGemmEx (bf16 x bf16 -> fp32, weights rotated > L2; read ceiling %.0f GB/s)%n", readGBs);
        System.out.printf("   wgemm = a block per tile and K split; wgemmp = persistent (a block per multiprocessor); wgemmc = a tile's splits one cluster, summed in shared memory;%n");
        System.out.printf("   wgemm2 = the first form with 256-row weight tiles (4 stages of 48 KB); wgemmt = tokens as the M operand, weights as N (w: the tile's weight width), wgemmt64 = its 64-token tiles; sp = each form's K splits%n");
        StringBuilder head = new StringBuilder(String.format("%-12s %5s %10s %7s", "N x K", "rows", "cuBLAS us", "% read"));
        for (String kn : Wgemm.KERNELS) {
            String label = kn.replace("_bf16", "");
            if (Wgemm.swapped(kn)) head.append(String.format(" %4s", "w"));
            head.append(String.format(" %3s %10s %7s %7s %9s", "sp", label + " us", "% read", "x cuB", "rel diff"));
        }
        System.out.println(head);
        for (int[] nk : PROMPT_SHAPES) {
            int n = nk[0], k = nk[1];
            PromptOperands o = promptOperands(n, k, rowsList[rowsList.length - 1], 41, 9);
            long[] w = o.w();
            long wBytes = o.wBytes(), x = o.x(), y = o.y();
            int copies = w.length;
            for (int rows : rowsList) {
                double ub = d.perLaunchUs(copies, c -> blas.gemmBf16(w[c], k, x, k, y, n, n, k, rows, false));
                blas.gemmBf16(w[0], k, x, k, y, n, n, k, rows, false);
                float[] a = d.download(y, (long) rows * n);
                double gb = wBytes / 1e9;
                StringBuilder line = new StringBuilder(String.format("%-12s %5d %10.1f %6.1f%%", n + "x" + k, rows, ub, 100 * gb / (ub * 1e-6) / readGBs));
                for (String kn : Wgemm.KERNELS) {   // each kernel timed, then its product against cuBLAS's with y poisoned (NaN) first
                    Wgemm.Plan pk = Wgemm.plan(kn, n, k, rows, cu.smCount(), forced);
                    double us = d.perLaunchUs(copies, c -> Wgemm.launch(kn, hopper, mod, stream, pk, w[c], k, n, x, k, k, rows, y, n, false));
                    cu.fill32(y, 0x7fc00000, (long) rows * n, stream);
                    Wgemm.launch(kn, hopper, mod, stream, pk, w[0], k, n, x, k, k, rows, y, n, false);
                    float[] b = d.download(y, (long) rows * n);
                    if (Wgemm.swapped(kn)) line.append(String.format(" %4d", pk.tileRows()));
                    line.append(String.format(" %3d %10.1f %6.1f%% %7.2f %9.1e", pk.splits(), us, 100 * gb / (us * 1e-6) / readGBs, ub / us, relDiff(a, b)));   // NaN: an output left unwritten
                }
                System.out.println(line);
            }
            free(o);
        }
    }
}
