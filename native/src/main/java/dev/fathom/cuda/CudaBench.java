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

    private void run(ComparisonParts.Variant v) {
        if (!v.what().isEmpty())
            System.out.println("\n(" + v.what() + (v.switches().length == 0 ? "" : ": ")
                    + String.join(" ", Arrays.stream(v.switches()).map(s -> "-D" + s).toList()) + ")");
        CudaSettings.with(List.of(v.switches()), () -> {
            decode(v.preset(), v.batches(), false);
            return null;
        });
    }

    /** The parts main runs itself (the comparison parts are {@link ComparisonParts#all()}). */
    static final List<String> TABLE_PARTS = List.of("gemm", "sizes", "stages", "tma", "tmatrace", "tmaprobe", "steptrace", "prof", "splitk",
            "lt", "wgtable", "wgprobe", "wgstag", "profwg", "int8", "prompt", "llama", "graphs", "llama1", "graphs7b", "leak", "graphsteps", "prefillsteps");

    /** One sentence naming the parts that are none of CudaBench's, or null when all are (a typo used to run nothing, silently). */
    static String partsRefusal(List<String> parts) {
        List<String> known = new ArrayList<>(TABLE_PARTS);
        for (ComparisonParts.Variant v : ComparisonParts.all()) known.add(v.part());
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
        for (ComparisonParts.Variant v : ComparisonParts.all()) if (parts.contains(v.part())) b.run(v);
        b.breakdown.forEach(System.out::print);
    }
}
