package dev.fathom.cuda;

import dev.fathom.engine.Engine;
import dev.fathom.engine.model.LayerWeights;
import dev.fathom.engine.model.Linear;
import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.model.ModelLoader;
import dev.fathom.engine.model.ModelWeights;
import dev.fathom.engine.plan.ExecutionPlan;
import dev.fathom.engine.run.GenerationRequest;
import dev.fathom.engine.run.InferenceSession;
import dev.fathom.engine.run.TokenListener;
import dev.fathom.engine.telemetry.TelemetrySink;
import dev.fathom.engine.tensor.DType;
import dev.fathom.engine.tensor.Tensor;
import dev.fathom.profiles.Precision;
import dev.fathom.profiles.RunProfile;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * GPU benchmark tables: measured read bandwidth, SBI-GEMM vs that ceiling and vs cuBLAS on the Llama-7B
 * shapes, decode latency of synthetic models against the weights/bandwidth floor, CUDA graphs on/off.
 * Usage: {@code java -cp ... dev.fathom.cuda.CudaBench [gemm] [splitk] [int8] [llama] [graphs] [leak] ...} (see main for the
 * parts run when none is given).
 */
public final class CudaBench {
    private final CudaModule mod = CudaModule.get();
    private final Cuda cu = mod.cuda();
    private final long stream;
    private final long e0, e1;
    private double readGBs;

    private CudaBench() {
        cu.makeCurrent();
        stream = cu.streamCreate();
        e0 = cu.eventCreate();
        e1 = cu.eventCreate();
    }

    private float timeMs(Runnable r) {
        cu.eventRecord(e0, stream);
        r.run();
        cu.eventRecord(e1, stream);
        cu.eventSynchronize(e1);
        return cu.elapsedMs(e0, e1);
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    private void fill(long p, long halves, int seed) {
        mod.launch("fill_bf16", cu.smCount() * 8, 1, 256, 0, stream, p, halves, seed);
    }

    /** The device's read bandwidth in bytes/s (for {@link CudaBackend#measureReadBandwidth()}). */
    static double deviceReadBandwidth() {
        CudaBench b = new CudaBench();
        return b.readBandwidth() * 1e9;
    }

    /** Median over 20 timed read passes of a 4 GiB buffer (after 3 warm-ups), in GB/s. */
    double readBandwidth() {
        long bytes = 4L << 30;
        long p = cu.malloc(bytes);
        long out = cu.malloc(4L * 65536);
        try {
            fill(p, bytes / 2, 7);
            int blocks = cu.smCount() * 16;
            double[] t = new double[20];
            for (int i = -3; i < t.length; i++) {
                double ms = timeMs(() -> mod.launch("read_probe", blocks, 1, 256, 0, stream, p, bytes / 16, out));
                if (i >= 0) t[i] = ms;
            }
            return bytes / (median(t) * 1e-3) / 1e9;
        } finally {
            cu.free(p);
            cu.free(out);
        }
    }

    // ------------------------------------------------------------------ SBI-GEMM table

    /** {@code n} device buffers of {@code bytes} random bf16 values each (seeds {@code seed}, seed + 1, ...). */
    private long[] copies(int n, long bytes, int seed) {
        long[] p = new long[n];
        for (int c = 0; c < n; c++) {
            p[c] = cu.malloc(bytes);
            fill(p[c], bytes / 2, seed + c);
        }
        return p;
    }

    private void free(long[]... sets) {
        for (long[] set : sets) for (long p : set) cu.free(p);
    }

    void gemmTable() {
        int[][] shapes = {{4096, 4096}, {11008, 4096}, {4096, 11008}, {12288, 4096}, {32000, 4096}};
        int[] batches = {1, 2, 4, 8, 16, 32};
        String[] why = new String[1];
        Cublas blas = Cublas.open(stream, why);
        if (blas == null) System.out.println("cuBLAS: " + why[0]);
        System.out.printf("%n== SBI-GEMM, BF16 weights [N x K], fp32 activations in/out; read ceiling %.0f GB/s%n", readGBs);
        System.out.println("   us = median over 9 repeats of (20 back-to-back launches on rotating weight copies, > L2) / 20, CUDA events");
        System.out.println("   tile = the tensor-core tile layout (batch 1: FMA GEMV over it; batch > 1: mma.m16n8k16); simt = the 4-row SIMT layout");
        System.out.println("   rm = the SIMT kernels over plain row-major rows (the batch-1 layout: cuBLAS reads it in place for the prompt)");
        System.out.println("   sk = " + SbiSplitK.DEFAULT_ROW_MAJOR_KERNEL + " over the row-major rows (2..8 rows: K split over a thread-block cluster of C blocks, SbiSplitK.plan), what the model runs there on sm_90");
        System.out.printf("%-12s %5s %8s %9s %7s %7s %9s %7s %9s %7s %8s %9s %9s %7s %8s %7s %3s %7s%n", "N x K", "batch", "tile us", "tile GB/s", "% ceil",
                "ks/best", "simt GB/s", "% ceil", "rm GB/s", "% ceil", "blas us", "blas GB/s", "blas/tile", "sk us", "sk GB/s", "% ceil", "C", "blas/sk");
        Random rnd = new Random(1);
        for (int[] nk : shapes) {
            int n = nk[0], k = nk[1];
            SbiLayout.Shape sm = SbiLayout.Shape.of(n, k, (n + 15) / 16 * 16, DType.BF16, true);
            SbiLayout.Shape ss = SbiLayout.Shape.of(n, k, (n + 3) / 4 * 4, DType.BF16, false);
            long wBytes = 2L * n * k;
            int copies = (int) Math.max(2, (768L << 20) / wBytes + 1);   // rotate so the 50-60 MB L2 cannot hold them
            long[] wm = copies(copies, sm.bytes(), 11), ws = copies(copies, ss.bytes(), 51), wr = copies(copies, ss.bytes(), 71);
            long[] wp = blas != null ? copies(copies, wBytes, 101) : new long[copies];
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
                    double us = perLaunchUs(copies, c -> {
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
                double simtUs = perLaunchUs(copies, c -> {
                    for (int t = 0; t < b; t += 8) {
                        int nb = Math.min(8, b - t);
                        mod.launch("sbi_bf16_" + (nb == 1 ? 1 : nb <= 2 ? 2 : nb <= 4 ? 4 : 8), planS.blocks(), 1, 256, 0, stream, ws[c],
                                x + 4L * t * k, k, k, ss.kChunks(), ss.groups(), planS.ks(), 0L, 0L, y + 4L * t * n, n, n, nb, 0, 0, 1);
                    }
                });
                double rmUs = perLaunchUs(copies, c -> {
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
                    double us = perLaunchUs(copies, c -> blas.gemm(wp[c], xb, y, n, k, b, Cublas.R_16BF, Cublas.COMPUTE_32F));
                    blasUsD = us;
                    blasUs = String.format("%.1f", us);
                    blasGbs = String.format("%.0f", wBytes / (us * 1e-6) / 1e9);
                    ratio = String.format("%.2f", us / planUs);
                }
                String skUs = "-", skGbs = "-", skPct = "-", skC = "-", skRatio = "-";
                SbiLayout.Shape srm = SbiLayout.Shape.of(n, k, (n + 3) / 4 * 4, DType.BF16, false, true);
                SbiSplitK.Plan skPlan = b >= 2 && b <= SbiSplitK.MAX_ROWS && cu.ccMajor() >= 9 ? SbiSplitK.plan(srm, b, cu.smCount()) : null;
                if (skPlan != null) {
                    double us = perLaunchUs(copies, c -> SbiSplitK.launch(mod, false, skPlan, stream, wr[c], srm, x, k, 0L, 0L, y, n, b, 0, 0, 1));
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
            free(wm, ws, wr, wp);
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
        int[][] shapes = {{4096, 4096}, {11008, 4096}, {4096, 11008}, {12288, 4096}, {32000, 4096}};
        int[] batches = {2, 4, 8};
        String[] why = new String[1];
        Cublas blas = Cublas.open(stream, why);
        if (blas == null) System.out.println("cuBLAS: " + why[0]);
        System.out.printf("%n== split-K cluster kernels (tile layout, BF16 weights [N x K], fp32 activations in/out); read ceiling %.0f GB/s%n", readGBs);
        System.out.println("   GB/s = weight bytes / (median over 9 repeats of 20 back-to-back launches on rotating copies > L2, / 20); C = blocks per cluster (K slices)");
        System.out.println("   plan = SbiSplitK.plan's C; pdl = the plan as programmatic dependent launches (decode graphs)");
        System.out.printf("%-12s %5s %-16s %7s %7s %7s %7s %5s %9s %7s %9s %9s %9s%n", "N x K", "batch", "kernel", "C=1", "C=2", "C=4", "C=8",
                "plan", "plan GB/s", "% ceil", "pdl GB/s", "blas GB/s", "plan/blas");
        for (int[] nk : shapes) {
            int n = nk[0], k = nk[1];
            SbiLayout.Shape st = SbiLayout.Shape.of(n, k, (n + 15) / 16 * 16, DType.BF16, true),
                    sr = SbiLayout.Shape.of(n, k, (n + 3) / 4 * 4, DType.BF16, false, true);
            long wBytes = 2L * n * k;
            int copies = (int) Math.max(2, (768L << 20) / wBytes + 1);
            long[] wt = copies(copies, st.bytes(), 11), wr = copies(copies, sr.bytes(), 71), wp = blas != null ? copies(copies, wBytes, 101) : new long[copies];
            int maxB = 8;
            long x = cu.malloc(4L * maxB * k), xb = cu.malloc(2L * maxB * k), y = cu.malloc(4L * maxB * n);
            fill(x, 2L * maxB * k, 23);   // random bf16 bit pairs: finite floats
            mod.launch("f32_to_bf16", 256, 1, 256, 0, stream, x, xb, (long) maxB * k);
            for (int b : batches) {
                double blasUs = blas == null ? Double.NaN : perLaunchUs(copies, c -> blas.gemm(wp[c], xb, y, n, k, b, Cublas.R_16BF, Cublas.COMPUTE_32F));
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
                                double us = perLaunchUs(copies, c -> SbiSplitK.launch(mod, false, p, stream, wm[c], sm, x, k, 0L, 0L, y, n, b, 0, 0, 1));
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
                        double us = perLaunchUs(copies, c -> SbiSplitK.launch(mod, true, plan, stream, wm[c], sm, x, k, 0L, 0L, y, n, b, 0, 0, 1));
                        pdl = String.format("%.0f", wBytes / (us * 1e-6) / 1e9);
                    }
                    double pg = wBytes / (planUs * 1e-6) / 1e9;
                    System.out.printf("%-12s %5d %-16s%s %5s %9.0f %6.1f%% %9s %9.0f %9.2f%n", n + "x" + k, b, kn, cols, plan == null ? "-" : plan.cluster(),
                            pg, 100 * pg / readGBs, pdl, wBytes / (blasUs * 1e-6) / 1e9, blasUs / planUs);
                }
            }
            free(wt, wr, wp);
            cu.free(x);
            cu.free(xb);
            cu.free(y);
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
        int[][] shapes = {{4096, 4096}, {11008, 4096}, {4096, 11008}, {12288, 4096}, {32000, 4096}};
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
            int copies = (int) Math.max(2, (768L << 20) / read8 + 1);
            long[] w8 = new long[copies], wb = new long[copies];
            for (int c = 0; c < copies; c++) {   // random bytes; the scales are pairs of random bf16 in [-1, 1): finite floats
                w8[c] = cu.malloc(bytes8);
                fill(w8[c], bytes8 / 2, 131 + c);
                wb[c] = cu.malloc(sb.bytes());
                fill(wb[c], sb.bytes() / 2, 171 + c);
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
                    for (int i = 0; i < 20; i++) perLaunchUs(copies, c -> one.run(Int8Layout.PREFIX, plan.ks(), c));
                    warm = true;
                }
                for (int ks : new int[]{1, 2, 4, 8}) {
                    byKs[ks] = perLaunchUs(copies, c -> one.run(Int8Layout.PREFIX, ks, c));
                    if (byKs[ks] < byKs[best]) best = ks;
                }
                double us = byKs[plan.ks()];
                double rUs = perLaunchUs(copies, c -> one.run(Int8Layout.REGS_PREFIX, plan.ks(), c));
                double wUs = perLaunchUs(copies, c -> one.run(Int8Layout.SCALED_PREFIX, plan.ks(), c));
                String nb = String.valueOf(b);
                double bfUs = perLaunchUs(copies, c -> mod.launch("sbirm_bf16_" + nb, planB.blocks(), 1, 256, 0, stream, wb[c], x, k, k,
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
        String[] why = new String[1];
        Cublas blas = Cublas.open(stream, why);
        int[][] shapes = {{4096, 4096}, {11008, 4096}, {4096, 11008}, {32000, 4096}};
        int[] rowsList = {128, 512, 1024, 4096};
        long big = 8192;
        double ceilTf = 0;
        if (blas != null) {
            long a = cu.malloc(2 * big * big), b = cu.malloc(2 * big * big), c = cu.malloc(4 * big * big);
            fill(a, big * big, 3);
            fill(b, big * big, 4);
            double us = perLaunchUs(1, cc -> blas.gemm(a, b, c, (int) big, (int) big, (int) big, Cublas.R_16BF, Cublas.COMPUTE_32F));
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
            fill(w, sm.bytes() / 2, 21);
            fill(wp, (long) n * k, 22);
            int maxR = 4096;
            // fp32 activations from random bf16 bit pairs: the high half is a bf16 in [-1, 1), so every float is finite
            long x = cu.malloc(4L * maxR * k), xb = cu.malloc(2L * maxR * k), y = cu.malloc(4L * maxR * n);
            fill(x, 2L * maxR * k, 23);
            fill(xb, (long) maxR * k, 24);
            for (int rows : rowsList) {
                int warps = CudaModel.tileGemmWarps(rows), gx = (rows + 63) / 64, gy = (sm.groups() + warps - 1) / warps;
                double us = perLaunchUs(1, c -> mod.launch("tilegemm_bf16", gx, gy, 32 * warps, 0, stream, w, x, k, k, sm.kChunks(), sm.groups(), 1,
                        0L, 0L, y, n, n, rows, 0, 0, 1));
                double flop = 2.0 * rows * n * k, tf = flop / (us * 1e-6) / 1e12;
                String bu = "-", bt = "-", pct = "-", ou = "-", uu = "-", ot = "-";
                if (blas != null) {
                    double ub = perLaunchUs(1, c -> blas.gemm(wp, xb, y, n, k, rows, Cublas.R_16BF, Cublas.COMPUTE_32F));
                    bu = String.format("%.1f", ub);
                    bt = String.format("%.0f", flop / (ub * 1e-6) / 1e12);
                }
                if (pg.available()) {
                    double uo = perLaunchUs(1, c -> { pg.unpack(w, sm); pg.multiply(sm, 0L, x, k, rows, y, n, 0L, 0, 0); });
                    double un = perLaunchUs(1, c -> pg.unpack(w, sm));
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

    interface Body { void run(int copy); }

    /** Median over 9 repeats of 20 back-to-back runs (each on the next weight copy) timed by one event pair; µs per run. */
    private double perLaunchUs(int copies, Body body) {
        for (int i = 0; i < 5; i++) body.run(i % copies);
        double[] t = new double[9];
        int[] next = {0};
        for (int i = 0; i < t.length; i++) {
            t[i] = timeMs(() -> {
                for (int j = 0; j < 20; j++) body.run(next[0]++ % copies);
            }) * 1e3 / 20;
        }
        return median(t);
    }

    // ------------------------------------------------------------------ models

    /** Decode step latency (median of 20 steps after 3 warm-ups) at the given batch; prompt of 128. */
    void decode(String preset, int[] batches, boolean graphsToo) { decode(preset, batches, graphsToo, Precision.AUTO); }

    /** Same with the weights in {@code precision} on the device (INT8: quantized at load, the floor counts int8 bytes and scales). */
    void decode(String preset, int[] batches, boolean graphsToo, Precision precision) {
        boolean int8 = precision == Precision.INT8;
        int prompt = 128, newTok = 8;
        boolean header = true;
        try (LoadedModel m = ModelLoader.load("synthetic:" + preset)) {
            Engine engine = Engine.discover();
            long decoderBytes = 0;
            for (var lw : m.weights().layers()) decoderBytes += lw.bytes();
            long headParams = (long) m.config().vocabSize() * m.config().hiddenSize();
            Random rnd = new Random(5);
            for (int b : batches) {   // one model per batch: the BF16 layout follows the batch and GPU (MatPacker.useMma)
            RunProfile prof = RunProfile.defaults().withModel("synthetic:" + preset).withBackend("cuda").withShape(b, prompt, newTok)
                    .withPrecision(precision);
            ExecutionPlan plan = engine.plan(m, prof, prompt + 32);
            long t0 = System.nanoTime();
            Breakdown agg = new Breakdown();
            try (InferenceSession s = engine.open(m, plan, agg)) {
                CudaRunner r = (CudaRunner) s.runner();
                long perToken = int8 ? int8StepBytes(m.weights(), Int8Layout.group()) : m.weights().bytesPerToken();
                double floorMs = perToken / (readGBs * 1e9) * 1e3;
                if (header) {
                    System.out.printf("%n== %s (%s, random weights): %.2f GB read per step, floor %.3f ms at %.0f GB/s; load+upload %.1f s%n",
                            preset, int8 ? "INT8 weights, scale groups of " + Int8Layout.group() + ", kernels " + Int8Layout.kernelPrefix() + "*" : "BF16", perToken / 1e9, floorMs, readGBs,
                            (System.nanoTime() - t0) / 1e9);
                    System.out.println("   prefill TFLOP/s counts 2 x decoder weights x rows + 2 x lm_head x batch (attention not counted)");
                    System.out.printf("%-6s %-7s %-6s %12s %9s %12s %8s %14s %16s%n", "batch", "graphs", "layout", "prefill ms", "TFLOP/s", "step ms", "x floor", "tokens/s", "128in/8out ms");
                    header = false;
                }
                {
                    for (boolean g : graphsToo ? new boolean[]{true, false} : new boolean[]{true}) {
                        r.setGraphs(g);
                        int[][] toks = new int[b][prompt];
                        for (int[] row : toks) for (int i = 0; i < prompt; i++) row[i] = rnd.nextInt(m.config().vocabSize());
                        int[] slots = new int[b], ids = new int[b], pos = new int[b];
                        for (int i = 0; i < b; i++) { slots[i] = i; ids[i] = rnd.nextInt(m.config().vocabSize()); pos[i] = prompt; }
                        double[] pt = new double[3];   // after one warm-up prefill, median of 3
                        for (int i = -1; i < pt.length; i++) {
                            long p0 = System.nanoTime();
                            r.prefill(slots, toks, false);
                            if (i >= 0) pt[i] = (System.nanoTime() - p0) / 1e6;
                        }
                        double prefillMs = median(pt);
                        double[] t = new double[20];
                        for (int i = -3; i < t.length; i++) {
                            long d0 = System.nanoTime();
                            r.decode(slots, ids, pos);
                            if (i >= 0) t[i] = (System.nanoTime() - d0) / 1e6;
                        }
                        double step = median(t);
                        // end to end through the session: prompt + 8 new tokens, median of 3
                        double[] e2e = new double[3];
                        for (int i = 0; i < e2e.length; i++) {
                            long g0 = System.nanoTime();
                            s.generate(new GenerationRequest(toks, newTok, RunProfile.Sampling.GREEDY.withStopOnEos(false), false, false), TokenListener.NONE, null);
                            e2e[i] = (System.nanoTime() - g0) / 1e6;
                        }
                        double pf = 2.0 * (decoderBytes / 2.0 * b * prompt + (double) headParams * b) / (prefillMs * 1e-3) / 1e12;
                        System.out.printf("%-6d %-7s %-6s %12.2f %9.1f %12.3f %8.2f %14.0f %16.1f%n", b, g ? "on" : "off",
                                int8 ? "int8" : MatPacker.useMma(DType.BF16, b, cu.ccMajor()) ? "tile" : "rowmaj", prefillMs, pf, step, step / floorMs, b * 1000 / step, median(e2e));
                        if (b == batches[0] && g) {
                            r.setGraphs(false);
                            agg.on = true;
                            r.decode(slots, ids, pos);
                            agg.on = false;
                            r.setGraphs(true);
                            breakdown.add(agg.table(preset + (int8 ? " INT8 (" + Int8Layout.kernelPrefix() + "*)" : "") + " batch " + b + " decode step, per kernel (CUDA events, graphs off)"));
                        }
                        if (g && (b == batches[batches.length - 1] && b > 1 || b == 1)) {
                            agg.on = true;
                            r.prefill(slots, toks, false);
                            agg.on = false;
                            breakdown.add(agg.table(preset + " batch " + b + " x " + prompt + " prefill, per kernel (CUDA events)"));
                        }
                    }
                }
            }
            }
        }
    }

    /**
     * Bytes a decode step reads with INT8 projections in scale groups of {@code group}: what {@link ModelWeights#bytesPerToken()}
     * counts, with every dense projection and the LM head as int8 elements plus float32 scales.
     */
    static long int8StepBytes(ModelWeights w, int group) {
        long b = w.bytesPerToken() + int8Delta(w.lmHead(), group);
        for (LayerWeights l : w.layers())
            for (Linear x : new Linear[]{l.q(), l.k(), l.v(), l.o(), l.gate(), l.up(), l.down()})
                if (x != null) b += int8Delta(x.weight(), group);
        return b;
    }

    private static long int8Delta(Tensor t, int group) {
        return Int8Layout.readBytes(Int8Layout.shape(t.rows(), t.cols(), (t.rows() + 3) / 4 * 4), group) - t.byteSize();
    }

    private final List<String> breakdown = new ArrayList<>();

    /** Sums kernel spans by name while {@code on}. */
    static final class Breakdown implements TelemetrySink {
        volatile boolean on;
        private final java.util.Map<String, long[]> byName = new java.util.TreeMap<>();

        @Override public boolean enabled() { return on; }

        @Override
        public synchronized void emit(dev.fathom.engine.telemetry.TelemetryEvent e) {
            if (e instanceof dev.fathom.engine.telemetry.TelemetryEvent.KernelSpan k) {
                long[] v = byName.computeIfAbsent(k.name(), x -> new long[4]);
                v[0]++;
                v[1] += k.durNs();
                v[2] += k.bytes();
                v[3] += k.flops();
            }
        }

        synchronized String table(String title) {
            StringBuilder sb = new StringBuilder("\n== " + title + "\n");
            sb.append(String.format("%-20s %6s %10s %10s %10s%n", "kernel", "calls", "total us", "GB/s", "GFLOP/s"));
            long total = byName.values().stream().mapToLong(v -> v[1]).sum();
            byName.entrySet().stream().sorted((a, b) -> Long.compare(b.getValue()[1], a.getValue()[1])).forEach(en -> {
                long[] v = en.getValue();
                sb.append(String.format("%-20s %6d %10.1f %10.0f %10.0f%n", en.getKey(), v[0], v[1] / 1e3, v[2] / (double) v[1], v[3] / (double) v[1]));
            });
            sb.append(String.format("%-20s %6s %10.1f%n", "sum", "", total / 1e3));
            byName.clear();
            return sb.toString();
        }
    }

    /** 200 open/generate/close cycles on a small model; device memory must come back to where it was. */
    void leak() {
        try (LoadedModel m = ModelLoader.load("synthetic:llama-tiny")) {
            Engine engine = Engine.discover();
            RunProfile prof = RunProfile.defaults().withModel("synthetic:llama-tiny").withBackend("cuda").withShape(2, 16, 8);
            ExecutionPlan plan = engine.plan(m, prof, 24);
            int[][] toks = new int[2][16];
            long before = 0;
            List<Long> free = new ArrayList<>();
            for (int i = 0; i < 200; i++) {
                Breakdown agg = new Breakdown();
            try (InferenceSession s = engine.open(m, plan, agg)) {
                    s.generate(new GenerationRequest(toks, 8, RunProfile.Sampling.GREEDY.withStopOnEos(false), false, false), TokenListener.NONE, null);
                }
                long f = cu.memInfo()[0];
                if (i == 0) before = f;
                if (i % 50 == 49) free.add(f);
            }
            System.out.printf("%n== leak check: free device memory after call 1: %d MB; after 50/100/150/200: %s MB -> %s%n", before >> 20,
                    free.stream().map(v -> String.valueOf(v >> 20)).toList(), free.getLast() >= before - (1 << 20) ? "flat" : "LEAK");
        }
    }

    public static void main(String[] args) {
        String why = new CudaBackend().unavailableReason();
        if (why != null) {
            System.out.println("SKIP: " + why);
            return;
        }
        List<String> parts = args.length == 0 ? List.of("gemm", "prompt", "llama", "graphs", "leak", "simt", "pdl", "tile32", "int8") : List.of(args);
        CudaBench b = new CudaBench();
        Cuda cu = b.cu;
        System.out.printf("device: %s (sm %s, %d SMs), %.1f GB total%n", cu.name(), cu.computeCapability(), cu.smCount(), cu.memInfo()[1] / 1e9);
        b.readGBs = b.readBandwidth();
        System.out.printf("read bandwidth (read_probe over 4 GiB, median of 20): %.0f GB/s%n", b.readGBs);
        if (parts.contains("gemm")) b.gemmTable();
        if (parts.contains("splitk")) b.splitkTable();
        if (parts.contains("int8")) {   // the INT8 kernels, then a llama-7b decode step with INT8 weights (register, then pipelined kernels)
            b.int8Table();
            b.decode("llama-7b", new int[]{1}, false, Precision.INT8);
            System.setProperty("fathom.cuda.int8.kernel", "pipe");
            System.out.println("\n(pipelined INT8 kernels: -Dfathom.cuda.int8.kernel=pipe)");
            b.decode("llama-7b", new int[]{1}, false, Precision.INT8);
            System.clearProperty("fathom.cuda.int8.kernel");
        }
        if (parts.contains("prompt")) b.promptTable();
        if (parts.contains("llama")) b.decode("llama-7b", new int[]{1, 8, 32}, false);
        if (parts.contains("graphs")) b.decode("gpt2-xl", new int[]{1}, true);
        if (parts.contains("llama1")) b.decode("llama-7b", new int[]{1}, false);
        if (parts.contains("graphs7b")) b.decode("llama-7b", new int[]{1}, true);
        if (parts.contains("leak")) b.leak();
        if (parts.contains("pdl")) {   // programmatic dependent launch off, for comparison
            System.setProperty("fathom.cuda.pdl", "false");
            System.out.println("\n(decode graphs without programmatic dependent launch: -Dfathom.cuda.pdl=false)");
            b.decode("llama-7b", new int[]{1}, false);
            System.clearProperty("fathom.cuda.pdl");
        }
        if (parts.contains("late")) {   // batch 1 with every cache load of the decode attention after the PDL wait
            System.setProperty("fathom.cuda.decodePrefetch", "false");
            System.out.println("\n(decode attention loading the cache after the wait: -Dfathom.cuda.decodePrefetch=false)");
            b.decode("llama-7b", new int[]{1}, false);
            System.clearProperty("fathom.cuda.decodePrefetch");
        }
        if (parts.contains("tiles64")) {   // batch 1 with 64-row prompt attention tiles, for comparison in the same run
            System.setProperty("fathom.cuda.attTileRows", "64");
            System.out.println("\n(prompt attention in 64-row query tiles: -Dfathom.cuda.attTileRows=64)");
            b.decode("llama-7b", new int[]{1}, false);
            System.clearProperty("fathom.cuda.attTileRows");
        }
        if (parts.contains("llama48")) b.decode("llama-7b", new int[]{2, 4, 8}, false);
        if (parts.contains("sknorm")) {   // 2..8 rows with the norms as their own kernels, for comparison
            System.setProperty("fathom.cuda.fuseNorm", "false");
            System.out.println("\n(separate norm kernels: -Dfathom.cuda.fuseNorm=false)");
            b.decode("llama-7b", new int[]{2, 4, 8}, false);
            System.clearProperty("fathom.cuda.fuseNorm");
        }
        if (parts.contains("tiles")) {   // 2..8 sequences over the tensor-core tile layout (the default before row-major split-K)
            System.setProperty("fathom.cuda.mma", "true");
            System.out.println("\n(tensor-core tile layout at 2..8 rows: -Dfathom.cuda.mma=true)");
            b.decode("llama-7b", new int[]{2, 4, 8}, false);
            System.clearProperty("fathom.cuda.mma");
        }
        if (parts.contains("rmsimt")) {   // 2..4 sequences over the row-major rows through the SIMT kernels (no split-K)
            System.setProperty("fathom.cuda.splitK", "false");
            System.out.println("\n(row-major rows through the SIMT kernels at 2..4 rows: -Dfathom.cuda.splitK=false)");
            b.decode("llama-7b", new int[]{2, 4}, false);
            System.clearProperty("fathom.cuda.splitK");
        }
        for (String kn : SbiSplitK.ROW_MAJOR_KERNELS)   // parts sbimmr4p_bf16_8 ...: 2..8 rows through that row-major split-K kernel
            if (parts.contains(kn)) {
                System.setProperty("fathom.cuda.splitKKernel", kn);
                System.out.println("\n(row-major split-K kernel -Dfathom.cuda.splitKKernel=" + kn + ")");
                b.decode("llama-7b", new int[]{2, 4, 8}, false);
                System.clearProperty("fathom.cuda.splitKKernel");
            }
        if (parts.contains("rowsattn")) {   // batches 8 and 32 with the separate RoPE and attention kernels only
            System.setProperty("fathom.cuda.fusedAttention", "false");
            System.out.println("\n(separate RoPE + KV append and attention kernels: -Dfathom.cuda.fusedAttention=false)");
            b.decode("llama-7b", new int[]{8, 32}, false);
            System.clearProperty("fathom.cuda.fusedAttention");
        }
        if (parts.contains("split")) {   // the decode attention split into blocks of >= 16 positions even for short contexts
            System.setProperty("fathom.cuda.decodeChunk", "16");
            System.out.println("\n(decode attention over blocks of at least 16 positions: -Dfathom.cuda.decodeChunk=16)");
            b.decode("llama-7b", new int[]{1}, false);
            System.clearProperty("fathom.cuda.decodeChunk");
        }
        if (parts.contains("unfused")) {   // the norms and RoPE + KV append as their own kernels, attention_rows, for comparison
            System.setProperty("fathom.cuda.fuseNorm", "false");
            System.setProperty("fathom.cuda.fusedAttention", "false");
            System.out.println("\n(separate norm, RoPE and attention kernels: -Dfathom.cuda.fuseNorm=false -Dfathom.cuda.fusedAttention=false)");
            b.decode("llama-7b", new int[]{1, 8, 32}, false);
            System.clearProperty("fathom.cuda.fuseNorm");
            System.clearProperty("fathom.cuda.fusedAttention");
        }
        if (parts.contains("tile32")) {   // batch 16/32 decode GEMMs through the tile kernels instead of unpack + cuBLAS
            System.setProperty("fathom.cuda.blasRows", "32");
            System.out.println("\n(decode GEMMs of up to 32 rows through the tile kernels: -Dfathom.cuda.blasRows=32)");
            b.decode("llama-7b", new int[]{16, 32}, false);
            System.clearProperty("fathom.cuda.blasRows");
        }
        if (parts.contains("simt")) {   // the other layout at batch 1, for comparison
            System.setProperty("fathom.cuda.mma", "true");
            System.out.println("\n(tensor-core tile layout at batch 1: -Dfathom.cuda.mma=true)");
            b.decode("llama-7b", new int[]{1}, false);
            System.clearProperty("fathom.cuda.mma");
        }
        b.breakdown.forEach(System.out::print);
    }
}
