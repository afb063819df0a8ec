package dev.fathom.app.cli;

import dev.fathom.engine.Engine;
import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.parallel.CommGroup;
import dev.fathom.engine.model.ModelLoader;
import dev.fathom.engine.plan.ExecutionPlan;
import dev.fathom.engine.run.GenerationRequest;
import dev.fathom.engine.run.InferenceSession;
import dev.fathom.engine.run.TokenListener;
import dev.fathom.engine.telemetry.PipelineStats;
import dev.fathom.engine.telemetry.TelemetryEvent;
import dev.fathom.engine.telemetry.TelemetrySink;
import dev.fathom.engine.tensor.DType;
import dev.fathom.profiles.RunProfile;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * {@code fathom bench-parallel}: the parallel engine on CPU ranks. Table 1: prompt-phase latency of a
 * pipeline with hybrid scheduling (more prompt micro-batches) against one micro-batch count for both
 * phases. Table 2: MoE all-to-all time, PCC against baseline, at EP=4 and EP=8 with TP=2.
 */
@Command(name = "bench-parallel", mixinStandardHelpOptions = true,
        description = "Benchmark the parallel engine on CPU ranks: hybrid pipeline scheduling and PCC vs baseline MoE all-to-all.")
public final class BenchParallelCommand implements Callable<Integer> {
    @Option(names = "--backend", defaultValue = "cpu", description = "reference or cpu (default: ${DEFAULT-VALUE})")
    String backend;
    @Option(names = "--dense-model", defaultValue = "synthetic:llama-tiny", description = "model of the pipeline table (default: ${DEFAULT-VALUE})")
    String denseModel;
    @Option(names = "--moe-model", defaultValue = "synthetic:mixtral-tiny", description = "model of the all-to-all table (default: ${DEFAULT-VALUE})")
    String moeModel;
    @Option(names = "--batch", defaultValue = "8", description = "sequences (default: ${DEFAULT-VALUE})")
    int batch;
    @Option(names = "--prompt-len", defaultValue = "64", description = "prompt tokens per sequence (default: ${DEFAULT-VALUE})")
    int promptLen;
    @Option(names = "--new-tokens", defaultValue = "8", description = "tokens generated per sequence in the MoE runs (default: ${DEFAULT-VALUE})")
    int newTokens;
    @Option(names = "--runs", defaultValue = "5", description = "measured runs after one warm-up (default: ${DEFAULT-VALUE})")
    int runs;
    @Option(names = "--only", paramLabel = "pipeline|moe|a2a", description = "run one table only")
    String only;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        out.printf("CPU ranks are threads sharing this machine's %d cores; timings include waiting for ranks that share a core.%n%n",
                Runtime.getRuntime().availableProcessors());
        if (only == null || only.equals("pipeline")) pipelineTable(out);
        if (only == null || only.equals("moe")) moeTable(out);
        if (only == null || only.equals("a2a")) collectiveTable(out);
        out.flush();
        return 0;
    }

    private int[][] prompts(int vocab) {
        SplittableRandom r = new SplittableRandom(7);
        int[][] p = new int[batch][promptLen];
        for (int[] s : p) for (int i = 0; i < s.length; i++) s[i] = 3 + r.nextInt(vocab - 3);
        return p;
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    private RunProfile profile(String model, RunProfile.Parallelism par, int n) {
        return RunProfile.defaults().withModel(model).withBackend(backend).withShape(batch, promptLen, n).withParallel(par);
    }

    private void pipelineTable(PrintWriter out) {
        int[][] cfgs = {{1, 1}, {2, 2}, {2, 4}, {2, 8}, {4, 4}, {4, 8}};   // {pp, prompt micro-batches}
        out.printf("Prompt phase, %s, batch %d x %d tokens, %s kernels (generation micro-batches = pp)%n", denseModel, batch, promptLen, backend);
        out.println("| pp | prompt micro-batches | prompt ms (median) | min | bubble measured | bubble analytic (P-1)/(M+P-1) | vs one count |");
        out.println("|---|---|---|---|---|---|---|");
        try (LoadedModel m = ModelLoader.load(denseModel, new ModelLoader.Options(DType.F32, 42), null)) {
            int[][] prompts = prompts(m.config().vocabSize());
            int[] slots = new int[batch];
            for (int i = 0; i < batch; i++) slots[i] = i;
            Engine engine = Engine.discover();
            double oneCount = Double.NaN;
            int lastPp = -1;
            for (int[] c : cfgs) {
                int pp = c[0], mb = c[1];
                if (pp > m.config().numLayers()) continue;
                RunProfile.Parallelism par = new RunProfile.Parallelism(1, pp, 1, 1, mb, pp, "pcc");
                ExecutionPlan plan = engine.plan(m, profile(denseModel, par, 1), promptLen + 1);
                ConcurrentLinkedQueue<TelemetryEvent> spans = new ConcurrentLinkedQueue<>();
                TelemetrySink sink = pp > 1 ? e -> { if (e instanceof TelemetryEvent.StageSpan) spans.add(e); } : TelemetrySink.NOOP;
                double[] ms = new double[runs];
                double[] bubble = new double[runs];
                try (InferenceSession s = engine.open(m, plan, sink)) {
                    s.runner().prefill(slots, prompts, false);
                    for (int r = 0; r < runs; r++) {
                        spans.clear();
                        long t0 = System.nanoTime();
                        s.runner().prefill(slots, prompts, false);
                        ms[r] = (System.nanoTime() - t0) / 1e6;
                        bubble[r] = pp > 1 ? PipelineStats.bubbleFraction(new ArrayList<>(spans), TelemetryEvent.Phase.PROMPT) : 0;
                    }
                }
                double med = median(ms);
                if (pp != lastPp) {
                    oneCount = med;
                    lastPp = pp;
                }
                out.printf(Locale.ROOT, "| %d | %d | %.1f | %.1f | %.2f | %.2f | %.2fx |%n", pp, Math.min(mb, batch), med,
                        Arrays.stream(ms).min().orElse(0), median(bubble), PipelineStats.analytic(pp, Math.min(mb, batch)), oneCount / med);
                out.flush();
            }
        }
        out.println();
    }

    private void moeTable(PrintWriter out) {
        out.printf("MoE all-to-all, %s, batch %d, prompt %d + %d new tokens, %s kernels; exchange = dispatch + combine all-to-all (+ PCC all-gather) per MoE layer per rank%n",
                moeModel, batch, promptLen, newTokens, backend);
        out.println("| EP x TP | all-to-all | ranks per all-to-all | exchange µs/layer (median) | KiB received per rank per layer (all-to-all) | decode ms/step | baseline / PCC exchange time |");
        out.println("|---|---|---|---|---|---|---|");
        try (LoadedModel m = ModelLoader.load(moeModel, new ModelLoader.Options(DType.F32, 42), null)) {
            int[][] prompts = prompts(m.config().vocabSize());
            Engine engine = Engine.discover();
            for (int ep : new int[]{4, 8}) {
                double base = Double.NaN;
                for (String a2a : List.of("baseline", "pcc")) {
                    RunProfile.Parallelism par = new RunProfile.Parallelism(2, 1, ep, 1, 0, 0, a2a);
                    ExecutionPlan plan = engine.plan(m, profile(moeModel, par, newTokens), promptLen + newTokens);
                    ConcurrentLinkedQueue<TelemetryEvent.CollectiveSpan> spans = new ConcurrentLinkedQueue<>();
                    TelemetrySink sink = e -> {
                        if (e instanceof TelemetryEvent.CollectiveSpan c && !c.op().equals("all_reduce")) spans.add(c);
                    };
                    double[] us = new double[runs], kib = new double[runs], step = new double[runs];
                    int group = 0;
                    try (InferenceSession s = engine.open(m, plan, sink)) {
                        GenerationRequest req = new GenerationRequest(prompts, newTokens, RunProfile.Sampling.GREEDY.withStopOnEos(false), false, false);
                        s.generate(req, TokenListener.NONE, null);
                        for (int r = 0; r < runs; r++) {
                            spans.clear();
                            var res = s.generate(req, TokenListener.NONE, null);
                            step[r] = res.decodeMsPerStep();
                            long ns = 0, bytes = 0, a2aCalls = 0;
                            for (var c : spans) {
                                ns += c.durNs();
                                if (c.op().equals("all_to_all")) {
                                    a2aCalls++;
                                    bytes += c.bytes();
                                    group = c.groupSize();
                                }
                            }
                            double layerCalls = a2aCalls / 2.0;   // dispatch + combine per MoE layer per rank
                            us[r] = ns / 1e3 / layerCalls;
                            kib[r] = bytes / 1024.0 / layerCalls;
                        }
                    }
                    double med = median(us);
                    if (a2a.equals("baseline")) base = med;
                    out.printf(Locale.ROOT, "| %d x 2 | %s | %d | %.0f | %.1f | %.1f | %s |%n", ep, a2a, group, med, median(kib), median(step),
                            a2a.equals("pcc") ? String.format(Locale.ROOT, "%.2fx", base / med) : "");
                    out.flush();
                }
            }
        }
        out.println();
    }

    // ------------------------------------------------------------------ the all-to-all alone

    private void collectiveTable(PrintWriter out) {
        int h = 256, experts = 4, topK = 2, iters = Math.max(50, runs * 40);
        out.printf("MoE token exchange alone (no expert math): hidden %d, %d experts top-%d, uniform routing, %d exchanges per row after warm-up; median per exchange over ranks and iterations%n",
                h, experts, topK, iters);
        out.println("| EP x TP | rows per replica | baseline µs | PCC µs | baseline / PCC | baseline KiB in per rank | PCC KiB in per rank (incl. all-gather) |");
        out.println("|---|---|---|---|---|---|---|");
        for (int ep : new int[]{4, 8})
            for (int rows : new int[]{batch, batch * promptLen}) {
                double[] b = exchange(ep, 2, false, rows, h, experts, topK, iters);
                double[] p = exchange(ep, 2, true, rows, h, experts, topK, iters);
                out.printf(Locale.ROOT, "| %d x 2 | %d | %.0f | %.0f | %.2fx | %.1f | %.1f |%n", ep, rows, b[0], p[0], b[0] / p[0], b[1], p[1]);
                out.flush();
            }
        out.println();
    }

    /** Runs the dispatch + combine exchange on {@code ep} rank threads; returns {median µs, KiB received per rank per exchange}. */
    private static double[] exchange(int ep, int tp, boolean pcc, int rows, int h, int experts, int topK, int iters) {
        int dp = ep / tp;
        var world = new CommGroup("world", range(0, 1, ep), TelemetrySink.NOOP);
        CommGroup[] sameTp = new CommGroup[tp];
        for (int j = 0; j < tp; j++) sameTp[j] = new CommGroup("tp-rank " + j, range(j, tp, dp), TelemetrySink.NOOP);
        CommGroup[] tpGroup = new CommGroup[dp];
        for (int d = 0; d < dp; d++) tpGroup[d] = new CommGroup("replica " + d, range(d * tp, 1, tp), TelemetrySink.NOOP);
        double[][] times = new double[ep][iters];
        long[] bytes = new long[ep];
        Thread[] ts = new Thread[ep];
        for (int w = 0; w < ep; w++) {
            int d = w / tp, j = w % tp, rank = w;
            ts[w] = Thread.ofPlatform().start(() -> {
                var a2a = pcc ? sameTp[j].member(d) : world.member(rank);
                var tpm = tpGroup[d].member(j);
                int members = a2a.size();
                int r0 = pcc ? rows * j / tp : 0, r1 = pcc ? rows * (j + 1) / tp : rows, m = r1 - r0;
                SplittableRandom rnd = new SplittableRandom(11 + d);
                float[] x = new float[rows * h];
                for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextDouble();
                int[] owner = new int[m * topK];
                for (int i = 0; i < owner.length; i++) {
                    int e = rnd.nextInt(experts);
                    owner[i] = members >= experts ? e * (members / experts) + (i % (members / experts)) : e / (experts / members);
                }
                float[] gathered = new float[rows * h];
                for (int it = -10; it < iters; it++) {
                    long t0 = System.nanoTime();
                    int[] cnt = new int[members];
                    for (int o : owner) cnt[o]++;
                    var send = new CommGroup.Parcel[members];
                    float[][] data = new float[members][];
                    int[][] meta = new int[members][];
                    for (int o = 0; o < members; o++) {
                        data[o] = new float[cnt[o] * h];
                        meta[o] = new int[cnt[o]];
                    }
                    int[] at = new int[members];
                    for (int i = 0; i < owner.length; i++) {
                        int o = owner[i], k = at[o]++;
                        System.arraycopy(x, (r0 + i / topK) * h, data[o], k * h, h);
                    }
                    for (int o = 0; o < members; o++) send[o] = new CommGroup.Parcel(data[o], cnt[o] * h, meta[o], cnt[o]);
                    var got = a2a.allToAll(send, "all_to_all");
                    var reply = new CommGroup.Parcel[members];
                    long in = 0;
                    for (int s = 0; s < members; s++) {
                        reply[s] = new CommGroup.Parcel(got[s].data(), got[s].dataLen(), new int[0], 0);
                        in += 4L * (got[s].dataLen() + got[s].metaLen());
                    }
                    var back = a2a.allToAll(reply, "all_to_all");
                    float[] y = new float[m * h];
                    Arrays.fill(at, 0);
                    for (int i = 0; i < owner.length; i++) {
                        int o = owner[i], k = at[o]++;
                        float[] b = back[o].data();
                        int row = i / topK;
                        for (int c = 0; c < h; c++) y[row * h + c] += 0.5f * b[k * h + c];
                    }
                    if (pcc) {
                        tpm.allGatherV(y, m * h, gathered);
                        in += 4L * (rows - m) * h;
                    }
                    if (it >= 0) {
                        times[rank][it] = (System.nanoTime() - t0) / 1e3;
                        for (var b : back) in += 4L * b.dataLen();
                        bytes[rank] += in;
                    }
                }
            });
        }
        for (Thread t : ts) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return new double[]{Double.NaN, Double.NaN};
            }
        }
        double[] all = new double[ep * iters];
        for (int w = 0; w < ep; w++) System.arraycopy(times[w], 0, all, w * iters, iters);
        return new double[]{median(all), Arrays.stream(bytes).average().orElse(0) / 1024.0 / iters};
    }

    private static int[] range(int start, int stride, int n) {
        int[] r = new int[n];
        for (int i = 0; i < n; i++) r[i] = start + i * stride;
        return r;
    }
}
