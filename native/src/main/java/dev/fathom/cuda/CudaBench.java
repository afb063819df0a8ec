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
import dev.fathom.engine.tensor.DType;
import dev.fathom.engine.tensor.Tensor;
import dev.fathom.profiles.Precision;
import dev.fathom.profiles.RunProfile;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * GPU benchmarks: measured read bandwidth, the kernel tables ({@link KernelTables}: SBI-GEMM vs that ceiling and vs
 * cuBLAS on the Llama-7B shapes, split-K, INT8, prompt GEMM; {@link ReadTables}: the same against a plain read of each
 * shape's bytes, where the split-K kernel's time goes, launches to profile),
 * decode latency of synthetic models against the weights/bandwidth floor, CUDA graphs on/off, a leak check, and
 * same-run comparisons with one switch changed. Usage:
 * {@code java -cp ... dev.fathom.cuda.CudaBench [gemm] [sizes] [stages] [tma] [tmatrace] [tmaprobe] [steptrace] [prof] [splitk] [int8] [llama] [graphs] [leak] ...} (see main
 * for the parts run when none is given).
 */
public final class CudaBench {
    private final BenchDevice dev = new BenchDevice();
    private final Cuda cu = dev.cu;
    private double readGBs;

    // ------------------------------------------------------------------ models

    /**
     * Decode step latency (median of 20 steps after 3 warm-ups) at the given batch; prompt of 128 tokens, or
     * {@code -Dfathom.bench.prompt} (the long-context comparisons).
     */
    void decode(String preset, int[] batches, boolean graphsToo) { decode(preset, batches, graphsToo, Precision.AUTO); }

    /** Same with the weights in {@code precision} on the device (INT8: quantized at load, the floor counts int8 bytes and scales). */
    void decode(String preset, int[] batches, boolean graphsToo, Precision precision) {
        boolean int8 = precision == Precision.INT8;
        int prompt = CudaSettings.integer("fathom.bench.prompt", 128, 1, 1 << 20), newTok = 8;
        String e2eName = prompt + "in/" + newTok + "out";
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
            KernelBreakdown agg = new KernelBreakdown();
            try (InferenceSession s = engine.open(m, plan, agg)) {
                CudaRunner r = (CudaRunner) s.runner();
                long perToken = int8 ? int8StepBytes(m.weights(), Int8Layout.group()) : m.weights().bytesPerToken();
                double floorMs = perToken / (readGBs * 1e9) * 1e3;
                if (header) {
                    System.out.printf("%n== %s (%s, random weights): %.2f GB read per step, floor %.3f ms at %.0f GB/s; load+upload %.1f s%n",
                            preset, int8 ? "INT8 weights, scale groups of " + Int8Layout.group() + ", kernels " + Int8Layout.kernelPrefix() + "*" : "BF16", perToken / 1e9, floorMs, readGBs,
                            (System.nanoTime() - t0) / 1e9);
                    System.out.printf("   KV cache in %s (%.2f GB at batch %d); prefill TFLOP/s counts 2 x decoder weights x rows + 2 x lm_head x batch (attention not counted)%n",
                            r.kvCacheBf16() ? "bf16" : "float32", plan.kvBytes() / 1e9, b);
                    System.out.printf("%-6s %-7s %-6s %12s %9s %12s %8s %14s %16s%n", "batch", "graphs", "layout", "prefill ms", "TFLOP/s", "step ms", "x floor", "tokens/s", e2eName + " ms");
                    header = false;
                }
                {
                    for (boolean g : graphsToo ? new boolean[]{true, false} : new boolean[]{true}) {
                        r.setGraphs(g);
                        int[][] toks = new int[b][prompt];
                        for (int[] row : toks) for (int i = 0; i < prompt; i++) row[i] = rnd.nextInt(m.config().vocabSize());
                        int[] slots = new int[b], ids = new int[b], pos = new int[b];
                        for (int i = 0; i < b; i++) { slots[i] = i; ids[i] = rnd.nextInt(m.config().vocabSize()); pos[i] = prompt; }
                        // after 3 warm-up prefills, median of 5: with one warm-up the first model of a process once measured
                        // its prefill at 8.42 ms against 7.27 for the next (thirtieth session, H100)
                        double[] pt = new double[5];
                        for (int i = -PREFILL_WARMUPS; i < pt.length; i++) {
                            long p0 = System.nanoTime();
                            r.prefill(slots, toks, false);
                            if (i >= 0) pt[i] = (System.nanoTime() - p0) / 1e6;
                        }
                        double prefillMs = BenchDevice.median(pt);
                        double[] t = new double[20];
                        for (int i = -3; i < t.length; i++) {
                            long d0 = System.nanoTime();
                            r.decode(slots, ids, pos);
                            if (i >= 0) t[i] = (System.nanoTime() - d0) / 1e6;
                        }
                        double step = BenchDevice.median(t);
                        double[] tg = new double[20];   // the same step with greedy sampling (argmax on the GPU by default)
                        for (int i = -3; i < tg.length; i++) {
                            long d0 = System.nanoTime();
                            r.decodeGreedy(slots, ids, pos);
                            if (i >= 0) tg[i] = (System.nanoTime() - d0) / 1e6;
                        }
                        // end to end through the session: prompt + 8 new tokens, median of 3 after two warm-ups (the session's
                        // own code compiled, as in a workbench that has run before)
                        double[] e2e = new double[3], e2ePrefill = new double[3], e2eStep = new double[3];
                        long[] tokenAt = new long[newTok];   // when sequence 0's tokens reached the listener (the last call's)
                        TokenListener stamp = (seq, tok, k) -> { if (seq == 0) tokenAt[k] = System.nanoTime(); };
                        for (int i = -2; i < e2e.length; i++) {
                            long g0 = System.nanoTime();
                            var res = s.generate(new GenerationRequest(toks, newTok, RunProfile.Sampling.GREEDY.withStopOnEos(false), false, false), stamp, null);
                            if (i < 0) continue;
                            e2e[i] = (System.nanoTime() - g0) / 1e6;
                            e2ePrefill[i] = res.prefillNs() / 1e6;
                            e2eStep[i] = res.decodeMsPerStep();
                        }
                        // generate's pattern without the session: a prefill, then greedy steps at advancing positions, each timed
                        double[] after = new double[newTok - 1];
                        r.prefill(slots, toks, false);
                        int[] p2 = pos.clone();
                        for (int k = 0; k < after.length; k++) {
                            long d0 = System.nanoTime();
                            r.decodeGreedy(slots, ids, p2);
                            after[k] = (System.nanoTime() - d0) / 1e6;
                            for (int i = 0; i < b; i++) p2[i]++;
                        }
                        double pf = 2.0 * (decoderBytes / 2.0 * b * prompt + (double) headParams * b) / (prefillMs * 1e-3) / 1e12;
                        System.out.printf("%-6d %-7s %-6s %12.2f %9.1f %12.3f %8.2f %14.0f %16.1f%n", b, g ? "on" : "off",
                                int8 ? "int8" : MatPacker.useMma(DType.BF16, b, cu.ccMajor()) ? "tile" : "rowmaj", prefillMs, pf, step, step / floorMs, b * 1000 / step, BenchDevice.median(e2e));
                        System.out.printf("       (%s: prefill %.2f ms, %.3f ms per decode step in generate, medians; a greedy step alone %.3f ms)%n",
                                e2eName, BenchDevice.median(e2ePrefill), BenchDevice.median(e2eStep), BenchDevice.median(tg));
                        System.out.printf("       (generate's tokens, ms after the one before (last call): %s)%n",
                                String.join(" ", java.util.stream.IntStream.range(1, newTok).mapToObj(k -> String.format("%.3f", (tokenAt[k] - tokenAt[k - 1]) / 1e6)).toList()));
                        System.out.printf("       (greedy steps right after a prefill, ms: %s)%n",
                                String.join(" ", Arrays.stream(after).mapToObj(v -> String.format("%.3f", v)).toList()));
                        if (g) {
                            agg.on = true;   // the graph's own time (CUDA events around its launch) against the host's step
                            for (int i = 0; i < 10; i++) r.decode(slots, ids, pos);
                            agg.on = false;
                            double graphUs = agg.meanUs("decode.graph");
                            if (graphUs > 0)   // under the table row it explains
                                System.out.printf("       (decode graph %.3f ms on the GPU, CUDA events, mean of 10: %.0f us of the step outside the graph)%n",
                                        graphUs / 1e3, step * 1e3 - graphUs);
                        }
                        if (b == batches[0] && g) {
                            r.setGraphs(false);
                            for (int i = 0; i < 2; i++) r.decode(slots, ids, pos);   // the first steps without graphs, untimed
                            agg.on = true;
                            for (int i = 0; i < BREAKDOWN_STEPS; i++) {
                                r.decode(slots, ids, pos);
                                agg.endStep();
                            }
                            agg.on = false;
                            r.setGraphs(true);
                            breakdown.add(agg.table(preset + (int8 ? " INT8 (" + Int8Layout.kernelPrefix() + "*)" : "") + " batch " + b + " decode step, per kernel (CUDA events, graphs off, after 2 untimed steps)"));
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
    /** Decode steps the graphs-off per-kernel table takes the median of. */
    static final int BREAKDOWN_STEPS = 5;
    /** Untimed prefills before the decode table's timed ones (one left the first model of a process measuring slow). */
    static final int PREFILL_WARMUPS = 3;

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
                KernelBreakdown agg = new KernelBreakdown();
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

    /**
     * A same-run comparison: the preset at {@code batches} with {@code switches} ("name=value" system properties) set
     * for that part only, under a line naming them.
     */
    record Variant(String part, String what, String preset, int[] batches, String... switches) {}

    /** The settings of comparison part {@code part} (parts graphsteps and prefillsteps run them in one process); one sentence for a name that is none. */
    static List<String> variantSwitches(String part) {
        for (Variant v : variants()) if (v.part().equals(part)) return List.of(v.switches());
        throw new IllegalArgumentException("no comparison part " + part + "; use some of "
                + String.join(", ", variants().stream().map(Variant::part).toList()));
    }

    /** The comparison parts, in the order they run. */
    static List<Variant> variants() {
        List<Variant> v = new ArrayList<>(List.of(
                new Variant("pdl", "decode graphs without programmatic dependent launch", "llama-7b", new int[]{1}, "fathom.cuda.pdl=false"),
                new Variant("late", "decode attention loading the cache after the wait", "llama-7b", new int[]{1}, "fathom.cuda.decodePrefetch=false"),
                new Variant("rope1", "prompt RoPE + KV append in one block per row", "llama-7b", new int[]{1, 8}, "fathom.cuda.ropeSplit=false"),
                new Variant("tiles64", "prompt attention in 64-row query tiles", "llama-7b", new int[]{1}, "fathom.cuda.attTileRows=64"),
                new Variant("attfp32", "prompt attention on the fp32 SIMT kernel (attention_tiles), not tensor cores", "llama-7b", new int[]{1, 8, 32},
                        "fathom.cuda.attMma=false"),
                new Variant("nohandoff", "prompt GEMM inputs rounded to bf16 in passes of their own (no norm / gated-output handoff)", "llama-7b",
                        new int[]{1, 8, 32}, "fathom.cuda.bf16Handoff=false"),
                new Variant("llama48", "", "llama-7b", new int[]{2, 4, 8}),
                new Variant("old48", "the decode routing before the twenty-ninth session: the 4096-row outputs' 2..8 rows through cuBLAS, the wider ones through the TMA kernels",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWide=8192"),
                new Variant("nowgemm", "prompt GEMMs all through cuBLAS (the default before the twenty-ninth session and in the thirtieth)", "llama-7b", new int[]{1},
                        "fathom.cuda.wgemm=false"),
                new Variant("wgon", "the default, set outright (the twenty-ninth session's, again since the thirty-first): prompt GEMMs of 64..128 rows whose blocks stream at least 64 K blocks through wgemmt_bf16",
                        "llama-7b", new int[]{1}, "fathom.cuda.wgemm=true"),
                new Variant("wggated", "as wgon, with the gated pairs (gate/up) written as act(gate) * up in bf16 by wgemmt's gated epilogue: no fp32 product, no rows_gated pass",
                        "llama-7b", new int[]{1}, "fathom.cuda.wgemm=true", "fathom.cuda.wgemmGated=true"),
                new Variant("ctxbf16", "as wgon, with the prompt attention writing its output in bf16 for the output projection (no rounding pass before it)",
                        "llama-7b", new int[]{1}, "fathom.cuda.wgemm=true", "fathom.cuda.ctxBf16=true"),
                new Variant("wgfused", "as wgon, with all three: the gated epilogue (wggated), the attention's bf16 output (ctxbf16) and PDL (wgpdl)",
                        "llama-7b", new int[]{1}, "fathom.cuda.wgemm=true", "fathom.cuda.wgemmGated=true", "fathom.cuda.ctxBf16=true", "fathom.cuda.wgemmPdl=true"),
                new Variant("wgpdl", "as wgon, with wgemmt launched as a programmatic dependent launch: its first stages' weights stream while the kernel before ends",
                        "llama-7b", new int[]{1}, "fathom.cuda.wgemm=true", "fathom.cuda.wgemmPdl=true"),
                new Variant("nowgemm2", "nowgemm again, after wgon, so that cuBLAS, wgemmt, cuBLAS run in one process (llama1, first, carries the process's warm-up)",
                        "llama-7b", new int[]{1}, "fathom.cuda.wgemm=false"),
                new Variant("wgemm", "prompt GEMMs of 64..512 rows through wgemm_bf16 (warpgroup MMA, sm_90a, the weights as the M operand), not cuBLAS", "llama-7b",
                        new int[]{1}, "fathom.cuda.wgemm=true", "fathom.cuda.wgemmKernel=wgemm_bf16", "fathom.cuda.wgemmMaxRows=512", "fathom.cuda.wgemmMinStream=0"),
                new Variant("wgemmt", "every prompt GEMM of 64..128 rows through wgemmt_bf16, the output projection too (wgon leaves it on cuBLAS)", "llama-7b",
                        new int[]{1}, "fathom.cuda.wgemm=true", "fathom.cuda.wgemmMinStream=0"),
                new Variant("wgemmt64", "as wgon, the output projection (too short a stream for wgemmt_bf16) through wgemmt64_bf16: 64-token tiles, whole K",
                        "llama-7b", new int[]{1}, "fathom.cuda.wgemm=true", "fathom.cuda.wgemmShortKernel=wgemmt64_bf16"),
                new Variant("wgstag1", "as wgon, wgemmt's weight slabs starting their K walks one block apart",
                        "llama-7b", new int[]{1}, "fathom.cuda.wgemm=true", "fathom.cuda.wgemmStagger=1"),
                new Variant("wgemmall", "prompt GEMMs of every row count from 64 through wgemmt_bf16, batch 8 and 32 prompts too", "llama-7b",
                        new int[]{1, 8, 32}, "fathom.cuda.wgemm=true", "fathom.cuda.wgemmMaxRows=4096", "fathom.cuda.wgemmMinStream=0"),
                new Variant("notma", "decode GEMMs of 2..8 rows all through cuBLAS, the wide ones too (no TMA kernel)", "llama-7b", new int[]{2, 4, 8},
                        "fathom.cuda.tmaWide=0"),
                new Variant("tmaall", "decode GEMMs of 2..8 rows all through the TMA kernels, the 4096-row outputs too (" + SbiSplitK.NARROW_KERNEL + ")",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowRows=8"),
                new Variant("tmah8", "decode GEMMs of 2..8 rows all through the TMA kernels, the 4096-row outputs through sbimmh8_bf16_8",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowRows=8", "fathom.cuda.tmaNarrowKernel=sbimmh8_bf16_8"),
                new Variant("wd4", "the wide matrices' 2..8 rows through sbimmd4_bf16_8 (two consumer warps per tile)", "llama-7b", new int[]{2, 4, 8},
                        "fathom.cuda.tmaWideKernel=sbimmd4_bf16_8"),
                new Variant("wd8", "the wide matrices' 2..8 rows through sbimmd8_bf16_8 (two consumer warps per tile, 8 stages)", "llama-7b",
                        new int[]{2, 4, 8}, "fathom.cuda.tmaWideKernel=sbimmd8_bf16_8"),
                new Variant("alld", "decode GEMMs of 2..8 rows all through the two-warps-per-tile TMA kernels (sbimmd4 wide, sbimme12 narrow)", "llama-7b",
                        new int[]{2, 4, 8}, "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowRows=8", "fathom.cuda.tmaWideKernel=sbimmd4_bf16_8", "fathom.cuda.tmaNarrowKernel=sbimme12_bf16_8"),
                new Variant("ww2", "the wide matrices' 2..8 rows through sbimmw2_bf16_8 (two chunks a stage, 2 stages)", "llama-7b", new int[]{2, 4, 8},
                        "fathom.cuda.tmaWideKernel=sbimmw2_bf16_8"),
                new Variant("ww4", "the wide matrices' 2..8 rows through sbimmw4_bf16_8 (two chunks a stage, 4 stages)", "llama-7b", new int[]{2, 4, 8},
                        "fathom.cuda.tmaWideKernel=sbimmw4_bf16_8"),
                new Variant("allw", "decode GEMMs of 2..8 rows all through the two-chunk TMA kernels (sbimmw4 wide, sbimmv6 narrow)", "llama-7b",
                        new int[]{2, 4, 8}, "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowRows=8", "fathom.cuda.tmaWideKernel=sbimmw4_bf16_8", "fathom.cuda.tmaNarrowKernel=sbimmv6_bf16_8"),
                new Variant("carve100", "every kernel of ours preferring all of the L1/shared storage as shared memory", "llama-7b", new int[]{2, 4, 8},
                        "fathom.cuda.carveout=100"),
                new Variant("allw100", "all-TMA (sbimmw4 wide, sbimmv6 narrow) with every kernel of ours preferring all shared memory", "llama-7b",
                        new int[]{2, 4, 8}, "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowRows=8", "fathom.cuda.tmaWideKernel=sbimmw4_bf16_8", "fathom.cuda.tmaNarrowKernel=sbimmv6_bf16_8",
                        "fathom.cuda.carveout=100"),
                new Variant("pf", "the wide matrices' 2..8 rows through sbimmt4p_bf16_8 (tensor maps prefetched at entry)", "llama-7b", new int[]{2, 4, 8},
                        "fathom.cuda.tmaWideKernel=sbimmt4p_bf16_8"),
                new Variant("pfall", "decode GEMMs of 2..8 rows all through the TMA kernels with tensor maps prefetched (sbimmt4p wide, sbimmh8p narrow)",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowRows=8", "fathom.cuda.tmaWideKernel=sbimmt4p_bf16_8", "fathom.cuda.tmaNarrowKernel=sbimmh8p_bf16_8"),
                new Variant("gub4", "gate/up's 2..8 rows through sbimmb4_bf16_8 (256-row boxes: 86 blocks, one wave), the other wide ones as before",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaGatedKernel=sbimmb4_bf16_8"),
                new Variant("gub4p", "gate/up's 2..8 rows through sbimmb4p_bf16_8 (256-row boxes, maps prefetched), the other wide ones as before",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaGatedKernel=sbimmb4p_bf16_8"),
                new Variant("gut4p", "gate/up's 2..8 rows through the wide kernel " + SbiSplitK.WIDE_KERNEL + " (128-row boxes: 172 blocks), the default before the twenty-third session",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaGatedKernel=" + SbiSplitK.WIDE_KERNEL),
                new Variant("fit6", "QKV and the head through sbimms6p_bf16_8 (96-row boxes: QKV in 128 blocks), gate/up through sbimmb4p_bf16_8",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWideKernel=sbimms6p_bf16_8", "fathom.cuda.tmaGatedKernel=sbimmb4p_bf16_8"),
                new Variant("fit4", "QKV and the head through sbimms4p_bf16_8 (96-row boxes, 4 stages), gate/up through sbimmb4p_bf16_8",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWideKernel=sbimms4p_bf16_8", "fathom.cuda.tmaGatedKernel=sbimmb4p_bf16_8"),
                new Variant("fit", "every wide matrix through the box height that fills the multiprocessors best (QKV sbimms6p, gate/up sbimmq4p, head sbimmb4p)",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWideKernel=fit", "fathom.cuda.tmaGatedKernel=fit"),
                new Variant("sk4", "the wide matrices' 2..8 rows through the stream-K sbimmk4p_bf16_8 (units cut evenly over two blocks per multiprocessor)",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWideKernel=sbimmk4p_bf16_8"),
                new Variant("skall", "decode GEMMs of 2..8 rows all through the stream-K sbimmk4p_bf16_8, the 4096-row outputs too", "llama-7b",
                        new int[]{2, 4, 8}, "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowRows=8", "fathom.cuda.tmaWideKernel=sbimmk4p_bf16_8", "fathom.cuda.tmaNarrowKernel=sbimmk4p_bf16_8"),
                new Variant("so4", "the wide matrices' 2..8 rows through the stream-K sbimmo4p_bf16_8 (row groups owned by one block, pieces flagged mid-run)",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWideKernel=sbimmo4p_bf16_8"),
                new Variant("wpad", "the wide and gated TMA kernels' launches asking for 116 KB of shared memory (one block per multiprocessor: the next grid, let in early by PDL, cannot double up)",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWideSmemKb=116"),
                new Variant("nv6", "decode GEMMs of 2..8 rows all through the TMA kernels, the 4096-row outputs through sbimmv6_bf16_8 (the fastest there in a CUDA graph, twenty-fourth session)",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowRows=8", "fathom.cuda.tmaNarrowKernel=sbimmv6_bf16_8"),
                new Variant("nv6plain", "as nv6, the 4096-row outputs' TMA kernel launched plainly (not PDL: its blocks enter after the kernel before ends)",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowRows=8", "fathom.cuda.tmaNarrowKernel=sbimmv6_bf16_8", "fathom.cuda.tmaNarrowPdl=false"),
                new Variant("nv6n", "as nv6 through sbimmv6n_bf16_8, which never lets the next kernel in early (it enters once the grid has ended, as after a cuBLAS node)",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowRows=8", "fathom.cuda.tmaNarrowKernel=sbimmv6n_bf16_8"),
                new Variant("nv6n4", "as nv6n up to 4 rows; the 4096-row outputs' 5..8 rows through cuBLAS (twenty-sixth session: nv6n 3-5 % shorter at 4 rows, 1 % longer at 8)",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowKernel=sbimmv6n_bf16_8", "fathom.cuda.tmaNarrowRows=4"),
                new Variant("widen", "the wide and gated matrices' 2..8 rows through sbimmt4pn_bf16_8 / sbimmq4pn_bf16_8, the defaults' kernels never letting the next kernel in early",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWideKernel=sbimmt4pn_bf16_8", "fathom.cuda.tmaGatedKernel=sbimmq4pn_bf16_8"),
                new Variant("alln4", "widen and nv6n4 together: no TMA kernel lets the next one in early, the 4096-row outputs through sbimmv6n_bf16_8 up to 4 rows",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowKernel=sbimmv6n_bf16_8", "fathom.cuda.tmaNarrowRows=4",
                        "fathom.cuda.tmaWideKernel=sbimmt4pn_bf16_8", "fathom.cuda.tmaGatedKernel=sbimmq4pn_bf16_8"),
                new Variant("nopdl48", "decode graphs at 2..8 rows without programmatic dependent launch (the baseline for nv6nopdl)", "llama-7b",
                        new int[]{2, 4, 8}, "fathom.cuda.pdl=false"),
                new Variant("nv6nopdl", "as nv6, the graph without programmatic dependent launch: whether the 4096-row outputs through sbimmv6, faster per kernel, lose only where kernels overlap",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowRows=8", "fathom.cuda.tmaNarrowKernel=sbimmv6_bf16_8", "fathom.cuda.pdl=false"),
                new Variant("again", "the defaults again, after the variants above, so that drift over the run shows beside llama48's figures",
                        "llama-7b", new int[]{2, 4, 8}),
                new Variant("wideb4", "the wide matrices' 2..8 rows through sbimmb4_bf16_8 (256-row boxes)", "llama-7b",
                        new int[]{2, 4, 8}, "fathom.cuda.tmaWideKernel=sbimmb4_bf16_8"),
                new Variant("t4late", "the wide matrices' 2..8 rows through sbimmt4l_bf16_8 (the next kernel let in after the last stage)", "llama-7b",
                        new int[]{2, 4, 8}, "fathom.cuda.tmaWideKernel=sbimmt4l_bf16_8"),
                new Variant("h8late", "all TMA, the 4096-row outputs through sbimmh8l_bf16_8 (the next kernel let in after the last stage)", "llama-7b",
                        new int[]{2, 4, 8}, "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowRows=8", "fathom.cuda.tmaNarrowKernel=sbimmh8l_bf16_8"),
                new Variant("alllate", "all TMA, every launch letting the next kernel in after its last stage (sbimmt4l wide, sbimmh12l narrow)", "llama-7b",
                        new int[]{2, 4, 8}, "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowRows=8", "fathom.cuda.tmaWideKernel=sbimmt4l_bf16_8", "fathom.cuda.tmaNarrowKernel=sbimmh12l_bf16_8"),
                new Variant("h8pad", "all TMA, the 4096-row outputs through sbimmh8_bf16_8 padded to 116 KB of shared memory (one block per multiprocessor)",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowRows=8", "fathom.cuda.tmaNarrowKernel=sbimmh8_bf16_8", "fathom.cuda.tmaNarrowSmemKb=116"),
                new Variant("tmat4", "decode GEMMs of 2..8 rows all through sbimmt4_bf16_8, the 4096-row outputs too", "llama-7b", new int[]{2, 4, 8},
                        "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowRows=8", "fathom.cuda.tmaNarrowKernel=sbimmt4_bf16_8"),
                new Variant("tmanorm", "the norms fused into the TMA kernel over the wide matrices", "llama-7b", new int[]{2, 4, 8},
                        "fathom.cuda.tmaFuseNorm=true"),
                new Variant("splitk48", "decode GEMMs of 2..8 rows through the split-K cluster kernels, not cuBLAS", "llama-7b", new int[]{2, 4, 8},
                        "fathom.cuda.blasRows=8"),
                new Variant("sknorm", "split-K kernels with separate norm kernels", "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.blasRows=8",
                        "fathom.cuda.fuseNorm=false"),
                new Variant("tiles", "tensor-core tile layout at 2..8 rows", "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.mma=true"),
                new Variant("rmsimt", "row-major rows through the SIMT kernels at 2..4 rows", "llama-7b", new int[]{2, 4}, "fathom.cuda.blasRows=8",
                        "fathom.cuda.splitK=false")));
        for (String kn : java.util.stream.Stream.concat(SbiSplitK.ROW_MAJOR_KERNELS.stream(), TmaKernels.TMA_KERNELS.stream()).toList())   // part = the kernel's name
            v.add(new Variant(kn, "row-major split-K kernel", "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.blasRows=8", "fathom.cuda.splitKKernel=" + kn));
        v.addAll(List.of(
                new Variant("rowsattn", "separate RoPE + KV append and attention kernels", "llama-7b", new int[]{8, 32}, "fathom.cuda.fusedAttention=false"),
                new Variant("split", "decode attention over blocks of at least 16 positions", "llama-7b", new int[]{1}, "fathom.cuda.decodeChunk=16"),
                new Variant("unfused", "separate norm, RoPE and attention kernels", "llama-7b", new int[]{1, 8, 32},
                        "fathom.cuda.fuseNorm=false", "fathom.cuda.fusedAttention=false"),
                new Variant("tile32", "decode GEMMs of up to 32 rows through the small-batch kernels, not cuBLAS", "llama-7b", new int[]{16, 32},
                        "fathom.cuda.blasRows=32"),
                new Variant("simt", "tensor-core tile layout at batch 1", "llama-7b", new int[]{1}, "fathom.cuda.mma=true"),
                new Variant("pageable", "pageable host buffers for the row metadata and the logits", "llama-7b", new int[]{1, 8, 32}, "fathom.cuda.pinnedHost=false"),
                new Variant("flatlogits", "logits copied into one array, then split per sequence", "llama-7b", new int[]{1, 8, 32},
                        "fathom.cuda.flatLogits=true"),
                new Variant("noqueue", "greedy steps in generate one at a time (each waits for the last), not queued ahead", "llama-7b",
                        new int[]{1, 8, 32}, "fathom.cuda.queueSteps=false"),
                new Variant("hostargmax", "greedy tokens picked on the host from copied logits, not on the GPU", "llama-7b", new int[]{1, 8, 32},
                        "fathom.cuda.gpuArgmax=false"),
                new Variant("kvf32", "KV cache in float32, not bf16", "llama-7b", new int[]{1, 8, 32}, "fathom.cuda.kvBf16=false"),
                new Variant("ctx1k", "1024-token prompts, bf16 KV cache", "llama-7b", new int[]{1, 32}, "fathom.bench.prompt=1024"),
                new Variant("ctx1kf32", "1024-token prompts, KV cache in float32", "llama-7b", new int[]{1, 32}, "fathom.bench.prompt=1024",
                        "fathom.cuda.kvBf16=false")));
        return v;
    }

    private void run(Variant v) {
        if (!v.what().isEmpty())
            System.out.println("\n(" + v.what() + (v.switches().length == 0 ? "" : ": ")
                    + String.join(" ", Arrays.stream(v.switches()).map(s -> "-D" + s).toList()) + ")");
        CudaSettings.with(List.of(v.switches()), () -> {
            decode(v.preset(), v.batches(), false);
            return null;
        });
    }

    /** The parts main runs itself (the comparison parts are {@link #variants()}'s). */
    static final List<String> TABLE_PARTS = List.of("gemm", "sizes", "stages", "tma", "tmatrace", "tmaprobe", "steptrace", "prof", "splitk",
            "lt", "wgtable", "wgprobe", "wgstag", "profwg", "int8", "prompt", "llama", "graphs", "llama1", "graphs7b", "leak", "graphsteps", "prefillsteps");

    /** One sentence naming the parts that are none of CudaBench's, or null when all are (a typo used to run nothing, silently). */
    static String partsRefusal(List<String> parts) {
        List<String> known = new ArrayList<>(TABLE_PARTS);
        for (Variant v : variants()) known.add(v.part());
        List<String> unknown = parts.stream().filter(p -> !known.contains(p)).toList();
        return unknown.isEmpty() ? null : "CudaBench: no part " + String.join(", ", unknown) + "; parts are " + String.join(", ", known);
    }

    /**
     * The sentence of a bad bench setting ({@code -Dfathom.bench.shapes}, {@code -Dfathom.bench.traceKernels},
     * {@code -Dfathom.bench.tmaKernels}, {@code -Dfathom.bench.clusters}, the graph and prefill parts' settings, {@code
     * -Dfathom.bench.out}), or null: checked before the GPU is opened.
     */
    static String settingsRefusal() {
        try {
            BenchTables.shapes();
            TmaTrace.kernels();
            ReadTables.tmaKernels();
            ReadTables.clusters();
            GraphGaps.rows();
            GraphGaps.rounds();
            GraphGaps.variants();
            PrefillSteps.variants();
            String out = System.getProperty("fathom.bench.out", "").trim();
            if (!out.isEmpty() && !java.nio.file.Files.isDirectory(java.nio.file.Path.of(out)))
                return "-Dfathom.bench.out=" + out + ": no such folder; create it, or leave the setting out to write no trace files";
            return null;
        } catch (IllegalArgumentException e) {
            return e.getMessage();
        }
    }

    public static void main(String[] args) {
        List<String> parts = args.length == 0 ? List.of("gemm", "prompt", "llama", "graphs", "leak", "simt", "pdl", "tile32", "int8") : List.of(args);
        String refusal = partsRefusal(parts);
        if (refusal == null) refusal = settingsRefusal();
        if (refusal != null) {
            System.err.println(refusal);
            System.exit(2);
        }
        String why = new CudaBackend().unavailableReason();
        if (why != null) {
            System.out.println("SKIP: " + why);
            return;
        }
        try {
            run(parts);
        } catch (IllegalArgumentException e) {   // a -D setting out of range or unknown: its one sentence, not a stack trace
            System.err.println(e.getMessage());
            System.exit(2);
        }
    }

    private static void run(List<String> parts) {
        CudaBench b = new CudaBench();
        Cuda cu = b.cu;
        System.out.printf("device: %s (sm %s, %d SMs), %.1f GB total%n", cu.name(), cu.computeCapability(), cu.smCount(), cu.memInfo()[1] / 1e9);
        if (parts.stream().allMatch(p -> p.startsWith("prof"))) {   // launches to profile, nothing else (the profiler would replay every probe launch)
            b.readGBs = Double.NaN;
            System.out.println("read bandwidth: not measured (profiling parts alone)");
        } else {
            b.readGBs = b.dev.readBandwidth();
            System.out.printf("read bandwidth (read_probe over 4 GiB, median of 20): %.0f GB/s%n", b.readGBs);
        }
        KernelTables tables = new KernelTables(b.dev, b.readGBs);
        if (parts.contains("gemm")) tables.gemmTable();
        ReadTables reads = new ReadTables(b.dev, b.readGBs);
        if (parts.contains("sizes")) reads.sizesTable();
        if (parts.contains("stages")) reads.stagesTable();
        if (parts.contains("tma")) reads.tmaTable();
        if (parts.contains("tmatrace")) new TmaTrace(b.dev, b.readGBs).table();
        if (parts.contains("tmaprobe")) new TmaTrace(b.dev, b.readGBs).probeTable();
        if (parts.contains("steptrace")) StepTrace.table(4);
        if (parts.contains("graphsteps")) GraphGaps.steps();
        if (parts.contains("prefillsteps")) PrefillSteps.run();
        if (parts.contains("prof")) reads.profLaunches();
        if (parts.contains("splitk")) tables.splitkTable();
        if (parts.contains("lt")) tables.ltTable();
        if (parts.contains("wgtable")) tables.wgemmTable();
        if (parts.contains("profwg")) tables.profWgemm();
        if (parts.contains("wgprobe")) tables.wgemmProbe();
        if (parts.contains("wgstag")) tables.wgemmStaggerTable();
        if (parts.contains("int8")) {   // the INT8 kernels, then a llama-7b decode step with INT8 weights (register, then pipelined kernels)
            tables.int8Table();
            b.decode("llama-7b", new int[]{1}, false, Precision.INT8);
            System.setProperty("fathom.cuda.int8.kernel", "pipe");
            System.out.println("\n(pipelined INT8 kernels: -Dfathom.cuda.int8.kernel=pipe)");
            b.decode("llama-7b", new int[]{1}, false, Precision.INT8);
            System.clearProperty("fathom.cuda.int8.kernel");
        }
        if (parts.contains("prompt")) tables.promptTable();
        if (parts.contains("llama")) b.decode("llama-7b", new int[]{1, 8, 32}, false);
        if (parts.contains("graphs")) b.decode("gpt2-xl", new int[]{1}, true);
        if (parts.contains("llama1")) b.decode("llama-7b", new int[]{1}, false);
        if (parts.contains("graphs7b")) b.decode("llama-7b", new int[]{1}, true);
        if (parts.contains("leak")) b.leak();
        for (Variant v : variants()) if (parts.contains(v.part())) b.run(v);
        b.breakdown.forEach(System.out::print);
    }
}
