package dev.fathom.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.List;

/**
 * Where a TMA kernel launch spends its time, block by block (CudaBench part {@code tmatrace}): the trace variants
 * ({@link TmaKernels#TMA_TRACE_KERNELS}) write, per block, its multiprocessor and the global timer at entry, when its
 * first and last pipeline stages arrived, and once the block is done. The table sets that beside the launch's GB/s, so
 * a slow shape shows whether its time goes to blocks starting late, the first bytes arriving late, a slow stream, the
 * reduction after it, or the gap between one launch's end and the next one's start.
 */
final class TmaTrace extends BenchTables {
    /** Words per block in fathom_tma_trace (tma.cuh). */
    static final int WORDS = 8;
    /** Blocks a trace region holds (tma.cuh's TMA_TRACE_BLOCKS; two regions, one per launch parity). */
    static final int MAX_BLOCKS = 4096;

    TmaTrace(BenchDevice d, double readGBs) {
        super(d, readGBs);
    }

    /**
     * One launch's timeline, in µs from the first block's entry: blocks, multiprocessors used and the most blocks one of
     * them ran, the span to the last block's end, and per block the entry offset, the wait for the first stage, the
     * stream to the last stage, the tail after it (reduction and epilogue), as median / maximum, and the spread of the
     * ends; {@code ghz}: the multiprocessor clock the blocks' cycle counts imply (NaN when the timer did not move).
     */
    record Timeline(int blocks, int sms, int maxPerSm, double span, double[] entry, double[] first, double[] stream, double[] tail,
                    double endSpread, double ghz, long startNs, long endNs) {
        /** µs from this launch's last block end to {@code next}'s first block entry. */
        double gapTo(Timeline next) { return (next.startNs - endNs) / 1e3; }
    }

    /** The timeline of {@code blocks} blocks' trace words ({@link #WORDS} each, as tma.cuh writes them). */
    static Timeline summarize(long[] words, int blocks) {
        if (blocks <= 0 || words.length < (long) blocks * WORDS)
            throw new IllegalArgumentException("a trace of " + blocks + " blocks needs " + (long) blocks * WORDS + " words, got " + words.length);
        long t0 = Long.MAX_VALUE, tEnd = Long.MIN_VALUE, minEnd = Long.MAX_VALUE;
        int[] perSm = new int[1024];
        double[] entry = new double[blocks], first = new double[blocks], stream = new double[blocks], tail = new double[blocks];
        double cycles = 0, ns = 0;
        for (int b = 0; b < blocks; b++) {
            int o = b * WORDS;
            t0 = Math.min(t0, words[o + 1]);
            tEnd = Math.max(tEnd, words[o + 4]);
            minEnd = Math.min(minEnd, words[o + 4]);
            perSm[(int) Math.min(perSm.length - 1, Math.max(0, words[o]))]++;
            cycles += words[o + 7];
            ns += words[o + 4] - words[o + 1];
        }
        for (int b = 0; b < blocks; b++) {
            int o = b * WORDS;
            entry[b] = (words[o + 1] - t0) / 1e3;
            first[b] = (words[o + 2] - words[o + 1]) / 1e3;
            stream[b] = (words[o + 3] - words[o + 2]) / 1e3;
            tail[b] = (words[o + 4] - words[o + 3]) / 1e3;
        }
        int sms = 0, most = 0;
        for (int c : perSm) {
            if (c > 0) sms++;
            most = Math.max(most, c);
        }
        return new Timeline(blocks, sms, most, (tEnd - t0) / 1e3, medMax(entry), medMax(first), medMax(stream), medMax(tail),
                (tEnd - minEnd) / 1e3, ns > 0 ? cycles / ns : Double.NaN, t0, tEnd);
    }

    /** {median, maximum} of {@code v}. */
    private static double[] medMax(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return new double[]{s[s.length / 2], s[s.length - 1]};
    }

    /**
     * For three Llama shapes at 4 rows (and 4096 x 4096 at 8), each trace kernel at C = 1, 2, 4, 8 (where that is at
     * most two blocks per multiprocessor): GB/s of back-to-back launches, plain and as PDL, then the timelines of two
     * plain launches in a row (after warm-up): the second's, and the gap between them.
     */
    void table() {
        System.out.printf("%n== TMA kernel timelines (the trace variants of %s; two back-to-back launches traced; µs; read ceiling %.0f GB/s)%n",
                String.join(", ", TmaKernels.TMA_TRACE_KERNELS.stream().map(k -> k.replace("t_bf16_8", "")).toList()), readGBs);
        if (lacksSm90(cu, "the TMA kernels need")) return;
        System.out.println("   GB/s: 20 back-to-back launches on rotating copies, median of 9 (plain / as PDL); SMs: multiprocessors used, most blocks on one;");
        System.out.println("   entry: block start after the first block's (median/max); first: entry to the first stage; stream: first to last stage;");
        System.out.println("   tail: last stage to the block's end (reduction, epilogue); ends: spread of the block ends; gap: the previous launch's");
        System.out.println("   last block end to this launch's first entry; blk GB/s: a block's bytes / its stream (median)");
        System.out.printf("%-12s %4s %-7s %2s %6s %7s %6s %11s %9s %11s %11s %11s %6s %6s %7s %5s%n", "N x K", "rows", "kernel", "C", "blocks", "SMs/max",
                "span", "GB/s", "entry", "first", "stream", "tail", "ends", "gap", "blkGB/s", "GHz");
        long trace = mod.global("fathom_tma_trace");
        long region = (long) MAX_BLOCKS * WORDS * 8;
        Cublas blas = openBlas();
        int[][] shapes = System.getProperty("fathom.bench.shapes", "").isBlank() ? new int[][]{{4096, 4096, 4}, {4096, 4096, 8}, {4096, 11008, 4}, {11008, 4096, 4}}
                : java.util.Arrays.stream(shapes()).map(nk -> new int[]{nk[0], nk[1], 4}).toArray(int[][]::new);   // -Dfathom.bench.shapes: each at 4 rows
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(2 * region, 8);
            for (int[] nkb : shapes) {
                int n = nkb[0], k = nkb[1], b = nkb[2];
                SbiLayout.Shape sr = rowMajorShape(n, k);
                long bytes = 2L * n * k;
                int copies = rotation(bytes);
                long[] w = d.copies(copies, sr.bytes(), 71), wp = blas != null ? d.copies(copies, bytes, 101) : new long[0];
                Acts acts = Acts.of(d, 8, k, n);
                if (blas != null) {
                    double us = d.perLaunchUs(copies, c -> blas.gemm(wp[c], acts.xb(), acts.y(), n, k, b, Cublas.R_16BF, Cublas.COMPUTE_32F));
                    System.out.printf("%-12s %4d cuBLAS %.0f GB/s%n", n + "x" + k, b, bytes / (us * 1e3));
                }
                for (String kn : kernels())
                    for (int cl = 1; cl <= 8; cl *= 2) {
                        SbiSplitK.Plan p = SbiSplitK.fixed(kn, sr, b, cl, cu.smCount());   // stream-K: cl blocks per multiprocessor
                        if (p.blocks() > Math.min(MAX_BLOCKS, 2 * cu.smCount())) continue;
                        double us = d.perLaunchUs(copies, c -> SbiSplitK.launch(mod, false, p, stream, w[c], sr, acts.x(), k, 0L, 0L, acts.y(), n, b, 0, 0, 1));
                        double pdlUs = d.perLaunchUs(copies, c -> SbiSplitK.launch(mod, true, p, stream, w[c], sr, acts.x(), k, 0L, 0L, acts.y(), n, b, 0, 0, 1));
                        for (int c = 0; c < 4; c++)   // act = launch parity: the trace region it writes
                            SbiSplitK.launch(mod, false, p, stream, w[c % copies], sr, acts.x(), k, 0L, 0L, acts.y(), n, b, 0, c & 1, 1);
                        cu.copyToHost(host, trace, 2 * region, stream);
                        cu.synchronize(stream);
                        long words = (long) p.blocks() * WORDS * 8;
                        Timeline first = summarize(host.asSlice(0, words).toArray(ValueLayout.JAVA_LONG), p.blocks());
                        Timeline t = summarize(host.asSlice(region, words).toArray(ValueLayout.JAVA_LONG), p.blocks());
                        System.out.printf("%-12s %4d %-7s %2d %6d %7s %6.1f %11s %9s %11s %11s %11s %6.1f %6.1f %7.1f %5.2f%n", n + "x" + k, b,
                                kn.replace("t_bf16_8", "").replace("sbimm", ""), cl, p.blocks(), t.sms() + "/" + t.maxPerSm(), t.span(),
                                String.format("%.0f/%.0f", bytes / (us * 1e3), bytes / (pdlUs * 1e3)), mm(t.entry()), mm(t.first()), mm(t.stream()),
                                mm(t.tail()), t.endSpread(), first.gapTo(t), (double) bytes / p.blocks() / (t.stream()[0] * 1e3), t.ghz());
                    }
                d.free(w, wp);
                acts.close();
            }
        }
        if (blas != null) blas.close();
    }

    /**
     * How fast TMA copies alone stream weights by box shape (tma.cuh's tma_probe_w64/128/256: 128 KB in flight per block,
     * one block per 128 rows, nothing multiplied), with and without the 256-byte L2 promotion, beside a plain read of
     * the same bytes: whether the GEMM kernels' 128-byte box rows cost DRAM efficiency.
     */
    void probeTable() {
        System.out.printf("%n== TMA copies alone by box shape (GB/s; 20 back-to-back launches on rotating copies, median of 9; read ceiling %.0f GB/s)%n", readGBs);
        if (lacksSm90(cu, "TMA needs")) return;
        System.out.println("   wN = stages of 128 rows x N columns (N x 2 contiguous bytes per row; 64: the GEMM kernels' swizzled 128-row boxes), / = L2 promotion none / 256 B");
        System.out.printf("%-12s %6s %13s %13s %13s%n", "N x K", "read", "w64", "w128", "w256");
        long out = cu.malloc(4096);
        try (Arena arena = Arena.ofConfined()) {
            for (int[] nk : new int[][]{{12288, 4096}, {11008, 4096}}) {
                int n = nk[0], k = nk[1];
                long bytes = 2L * n * k;
                int copies = rotation(bytes);
                long[] w = d.copies(copies, bytes, 71);
                double readUs = bestReadUs(w, bytes, out, false);
                StringBuilder line = new StringBuilder(String.format("%-12s %6.0f", n + "x" + k, bytes / (readUs * 1e3)));
                for (int wc : PROBE_WIDTHS) {
                    double none = probeUs(arena, w, n, k, wc, false, n / 128, out), promoted = probeUs(arena, w, n, k, wc, true, n / 128, out);
                    line.append(String.format(" %13s", String.format("%.0f/%.0f", bytes / (none * 1e3), bytes / (promoted * 1e3))));
                }
                System.out.println(line);
                if (n == 12288) {   // fewer blocks than SMs: what one block's copies alone stream (the GEMM kernels reach 24-37 GB/s a block)
                    for (int blocks : new int[]{16, 32, 64}) {
                        StringBuilder per = new StringBuilder(String.format("%-12s %6s", "  " + blocks + " blocks", "GB/s/b"));
                        long part = 2L * 128 * blocks * k;
                        for (int wc : PROBE_WIDTHS)
                            per.append(String.format(" %13.1f", part / (probeUs(arena, w, n, k, wc, true, blocks, out) * 1e3) / blocks));
                        System.out.println(per);
                    }
                }
                d.free(w);
            }
        }
        cu.free(out);
    }

    /** Columns per stage row of the TMA probes (tma.cuh's tma_probe_w64/128/256). */
    private static final int[] PROBE_WIDTHS = {64, 128, 256};

    /**
     * µs per launch of tma_probe_w{@code wc} over the first {@code blocks} x 128 rows of each N x K copy in {@code w}
     * (128 KB in flight per block; the 128-byte swizzle for 64 columns, none for wider rows).
     */
    private double probeUs(Arena arena, long[] w, int n, int k, int wc, boolean promote, int blocks, long out) {
        String fn = "tma_probe_w" + wc;
        int smem = 128 * 1024 + 1024;
        cu.setMaxDynamicShared(mod.fn(fn), smem);
        MemorySegment[] maps = new MemorySegment[w.length];
        for (int c = 0; c < w.length; c++) {
            maps[c] = arena.allocate(Cuda.TENSOR_MAP_BYTES, 64);
            cu.tensorMap2d(maps[c], w[c], Cuda.TMAP_BF16, k, n, 2L * k, wc, 128 * 64 / wc, wc == 64 ? Cuda.SWIZZLE_128B : 0, promote);
        }
        return d.perLaunchUs(w.length, c -> mod.launch(fn, blocks, 1, 64, smem, stream, maps[c], k, out));
    }

    /** The trace kernels to run: {@code -Dfathom.bench.traceKernels} (a comma-separated subset), else all of them. */
    static List<String> kernels() { return CudaSettings.subset("fathom.bench.traceKernels", TmaKernels.TMA_TRACE_KERNELS); }

    private static String mm(double[] v) { return String.format("%.1f/%.1f", v[0], v[1]); }
}
