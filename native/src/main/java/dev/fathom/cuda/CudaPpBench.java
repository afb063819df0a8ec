package dev.fathom.cuda;

import dev.fathom.engine.Engine;
import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.model.ModelConfig;
import dev.fathom.engine.model.ModelLoader;
import dev.fathom.engine.parallel.ParallelLayout;
import dev.fathom.engine.parallel.ParallelRunner;
import dev.fathom.engine.parallel.PipelineStages;
import dev.fathom.engine.parallel.StageStep;
import dev.fathom.engine.plan.ExecutionPlan;
import dev.fathom.engine.run.GenerationRequest;
import dev.fathom.engine.run.GenerationResult;
import dev.fathom.engine.run.InferenceSession;
import dev.fathom.engine.run.TokenListener;
import dev.fathom.engine.telemetry.PipelineStats;
import dev.fathom.engine.telemetry.TelemetryEvent;
import dev.fathom.engine.telemetry.TelemetryEvent.Phase;
import dev.fathom.engine.telemetry.TelemetrySink;
import dev.fathom.profiles.Precision;
import dev.fathom.profiles.RunProfile;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Pipeline parallelism on the GPUs of one host: every dense fixture under PP=2 (both schedules) against its
 * Hugging Face reference, and {@code synthetic:llama-7b} BF16 (batch 8, prompt 128, 32 new tokens) PP=1 vs PP=2
 * with the bubble fraction of each phase from the stage spans against the schedule's analytic value. Usage:
 * {@code java -cp ... dev.fathom.cuda.CudaPpBench [fixtures DIR] [llama]} (both when none given; fixtures from
 * ./fixtures). Prints a summary table last; exits 1 when a check fails.
 */
public final class CudaPpBench {
    private final BenchSummary summary = new BenchSummary();

    private CudaPpBench() {}

    static RunProfile.Parallelism pp(int pp, int promptMb, int genMb) {
        RunProfile.Parallelism z = RunProfile.Parallelism.NONE;
        return new RunProfile.Parallelism(z.tp(), pp, z.ep(), z.dp(), promptMb, genMb, z.moeAllToAll());
    }

    // ------------------------------------------------------------------ fixtures under PP=2

    void fixtures(Path dir) {
        System.out.println("\n== fixtures through Engine + InferenceSession, --backend cuda --pp 2, against the Hugging Face references");
        System.out.printf("%-18s %-14s %-11s %12s %12s %8s %s%n", "fixture", "weights", "schedule", "prompt rel", "step rel", "tokens", "result");
        int passed = 0, total = 0;
        for (String f : FixtureCheck.DENSE)
            for (boolean bf : new boolean[]{false, true})
                for (boolean cont : new boolean[]{true, false}) {
                    total++;
                    String sched = cont ? "continuous" : "lockstep";
                    try {
                        FixtureCheck.FixtureResult r = fixture(dir.resolve(f), bf, 2, cont);
                        if (r.ok()) passed++;
                        else summary.fail();
                        System.out.printf("%-18s %-14s %-11s %12.3e %12.3e %8s %s%n", f, r.weights(), sched, r.promptErr(), r.stepErr(), r.sameTokens(),
                                r.ok() ? "ok" : "FAIL");
                    } catch (RuntimeException e) {
                        summary.fail();
                        System.out.printf("%-18s %-14s %-11s FAIL %s%n", f, bf ? "bf16" : "", sched, e);
                        e.printStackTrace(System.out);
                    }
                }
        try (LoadedModel m = ModelLoader.load(dir.resolve("mixtral-tiny").toString())) {
            Engine engine = Engine.discover();
            ExecutionPlan plan = engine.plan(m, RunProfile.defaults().withModel("mixtral-tiny").withBackend("cuda").withShape(1, 4, 4)
                    .withParallel(pp(2, 0, 0)), 8);
            System.out.println("mixtral-tiny       (MoE) rejected as expected: " + engine.backends().require("cuda").cannotRun(plan));
        } catch (RuntimeException e) {
            System.out.println("mixtral-tiny       " + e.getMessage());
        }
        summary.add(String.format("%-46s %d/%d ok", "fixtures under PP=2, both schedules (F32 1e-4 + tokens, BF16 2e-2)", passed, total));
    }

    /** FixtureCheck.fixture with {@code pp} GPU stages and the continuous or lockstep schedule. */
    static FixtureCheck.FixtureResult fixture(Path dir, boolean bf16, int pp, boolean continuous) {
        return FixtureCheck.fixture(dir, bf16, pp(pp, 0, 0), runner -> {
            if (!(runner instanceof ParallelRunner pr) || !pr.layout().contains("GPU stages"))
                throw new IllegalStateException("not a GPU pipeline: " + runner.layout());
            pr.setContinuous(continuous);
        });
    }

    // ------------------------------------------------------------------ llama-7b PP=1 vs PP=2

    /** Keeps the stage spans (the only events the pipeline runner's sink is asked to record here). */
    static final class Spans implements TelemetrySink {
        final List<TelemetryEvent> events = java.util.Collections.synchronizedList(new ArrayList<>());
        @Override public boolean enabled() { return true; }
        @Override public void emit(TelemetryEvent e) { if (e instanceof TelemetryEvent.StageSpan || e instanceof TelemetryEvent.TransferSpan) events.add(e); }
        List<TelemetryEvent> take() {
            synchronized (events) {
                List<TelemetryEvent> l = new ArrayList<>(events);
                events.clear();
                return l;
            }
        }
    }

    /** The stages of one open pipeline, lent to several runners (their close does not close the stages). */
    record Lent(CudaPpStages s) implements PipelineStages {
        @Override public int count() { return s.count(); }
        @Override public int rank(int stage) { return s.rank(stage); }
        @Override public Object run(int stage, StageStep step, Object input) throws Exception { return s.run(stage, step, input); }
        @Override public String describe() { return s.describe(); }
        @Override public void close() { }
    }

    record Row(String label, double prefillMs, double stepMs, double tokS, double decodeTokS, double bubbleP, double analyticP,
               double bubbleG, double analyticG, double stage0Ms, double stage1Ms, String same) {}

    void llama(int batch, int prompt, int newTok, int runs) {
        String model = "synthetic:llama-7b";
        long t0 = System.nanoTime();
        try (LoadedModel m = ModelLoader.load(model)) {
            ModelConfig cfg = m.config();
            System.out.printf("%n== %s BF16, batch %d, prompt %d, %d new tokens (greedy): PP=1 vs PP=2 over two GPUs; median of %d runs after 1 warm-up; load %.1f s%n",
                    model, batch, prompt, newTok, runs, (System.nanoTime() - t0) / 1e9);
            Random rnd = new Random(7);
            int[][] toks = new int[batch][prompt];
            for (int[] r : toks) for (int i = 0; i < prompt; i++) r[i] = rnd.nextInt(cfg.vocabSize());
            GenerationRequest req = new GenerationRequest(toks, newTok, RunProfile.Sampling.GREEDY.withStopOnEos(false), false, false);
            int maxLen = prompt + newTok;
            List<Row> rows = new ArrayList<>();
            int[][] ref;
            long o0 = System.nanoTime();
            try (InferenceSession s = new InferenceSession(new CudaRunner(cfg, m.weights(), batch, maxLen, TelemetrySink.NOOP), cfg, TelemetrySink.NOOP)) {
                System.out.printf("PP=1 open %.1f s: %s%n", (System.nanoTime() - o0) / 1e9, s.runner().layout());
                GenerationResult[] rs = repeat(s, req, runs);
                ref = rs[0].tokens();
                rows.add(row("pp=1", rs, Double.NaN, Double.NaN, Double.NaN, Double.NaN, new double[]{Double.NaN, Double.NaN}, "-", batch, newTok));
            }
            o0 = System.nanoTime();
            CudaPpStages stages = new CudaPpStages(cfg, m.weights(), 2, batch, maxLen, TelemetrySink.NOOP, Precision.AUTO);
            try {
                System.out.printf("PP=2 open %.1f s: %s%n", (System.nanoTime() - o0) / 1e9, stages.describe());
                // {prompt micro-batches, generation micro-batches, continuous?}
                int[][] configs = {{2, 2, 1}, {4, 4, 1}, {8, 2, 1}, {2, 2, 0}};
                for (int[] c : configs) {
                    Spans spans = new Spans();
                    ParallelLayout layout = ParallelLayout.of(pp(2, c[0], c[1]), cfg);
                    stages.transferSink(spans);
                    List<TelemetryEvent> transfers = new ArrayList<>();
                    try (ParallelRunner pr = new ParallelRunner(cfg, layout, new Lent(stages), batch, maxLen, spans)) {
                        boolean cont = c[2] == 1;
                        pr.setContinuous(cont);
                        InferenceSession s = new InferenceSession(pr, cfg, TelemetrySink.NOOP);
                        GenerationResult[] rs = new GenerationResult[runs];
                        double[] bp = new double[runs], bg = new double[runs], s0 = new double[runs], s1 = new double[runs];
                        for (int i = -1; i < runs; i++) {
                            spans.take();
                            GenerationResult r = s.generate(req, TokenListener.NONE, null);
                            List<TelemetryEvent> ev = spans.take();
                            if (i < 0) continue;
                            for (TelemetryEvent e : ev) if (e instanceof TelemetryEvent.TransferSpan) transfers.add(e);
                            rs[i] = r;
                            bp[i] = PipelineStats.bubbleFraction(ev, Phase.PROMPT);
                            bg[i] = PipelineStats.bubbleFraction(ev, Phase.DECODE);
                            s0[i] = medianSpanMs(ev, 0);
                            s1[i] = medianSpanMs(ev, 1);
                        }
                        int mp = Math.min(c[0], batch), mg = Math.min(c[1], batch);
                        int passes = newTok - 1;   // the first new token comes out of the prompt pass
                        double aP = PipelineStats.analytic(2, mp);
                        double aG = cont ? PipelineStats.analytic(2, passes * mg) : PipelineStats.analytic(2, mg);
                        int same = 0;
                        for (int b = 0; b < batch; b++) if (Arrays.equals(ref[b], rs[0].tokens()[b])) same++;
                        String label = "pp=2 " + c[0] + "/" + c[1] + (cont ? " cont" : " lockstep");
                        rows.add(row(label, rs, BenchDevice.median(bp), aP, BenchDevice.median(bg), aG,
                                new double[]{BenchDevice.median(s0), BenchDevice.median(s1)}, same + "/" + batch, batch, newTok));
                        if (c[2] == 1 && c[0] == 2) System.out.println("layout: " + pr.layout());
                        System.out.println(label + " hand-over GPU0 -> GPU1 (peer copy + wait, host clock, median): " + transfers(transfers));
                    }
                }
            } finally {
                stages.close();
            }
            System.out.printf("%n%-20s %10s %9s %9s %10s %15s %15s %16s %s%n", "config (mb p/g)", "prefill ms", "step ms", "tok/s", "dec tok/s",
                    "bubble prompt", "(analytic)", "bubble gen", "decode pass ms s0/s1, same tokens as PP=1");
            for (Row r : rows)
                System.out.printf("%-20s %10.1f %9.3f %9.1f %10.1f %15s %15s %16s %s%n", r.label(), r.prefillMs(), r.stepMs(), r.tokS(), r.decodeTokS(),
                        pct(r.bubbleP()), pct(r.analyticP()), pct(r.bubbleG()) + " (" + pct(r.analyticG()) + ")",
                        Double.isNaN(r.stage0Ms()) ? "-" : String.format("%.3f / %.3f, %s", r.stage0Ms(), r.stage1Ms(), r.same()));
            Row one = rows.getFirst();
            for (Row r : rows) {
                if (r == one) continue;
                summary.add(String.format("%-30s %7.1f tok/s (PP=1 %.1f), step %.3f ms (PP=1 %.3f), bubble prompt %s (analytic %s), gen %s (analytic %s)",
                        "llama-7b " + r.label(), r.tokS(), one.tokS(), r.stepMs(), one.stepMs(), pct(r.bubbleP()), pct(r.analyticP()),
                        pct(r.bubbleG()), pct(r.analyticG())));
            }
        }
    }

    /** Median duration and rate of the hand-overs, per message size. */
    private static String transfers(List<TelemetryEvent> ev) {
        java.util.TreeMap<Long, List<Double>> by = new java.util.TreeMap<>();
        for (TelemetryEvent e : ev)
            if (e instanceof TelemetryEvent.TransferSpan t) by.computeIfAbsent(t.bytes(), k -> new ArrayList<>()).add(t.durNs() / 1e3);
        StringBuilder sb = new StringBuilder();
        by.forEach((bytes, us) -> {
            double med = BenchDevice.median(us.stream().mapToDouble(Double::doubleValue).toArray());
            sb.append(sb.isEmpty() ? "" : "; ").append(String.format("%d KB x%d: %.1f us (%.1f GB/s)", bytes >> 10, us.size(), med, bytes / (med * 1e3)));
        });
        return sb.isEmpty() ? "none" : sb.toString();
    }

    private static String pct(double f) { return Double.isNaN(f) ? "-" : String.format("%.1f %%", 100 * f); }

    private static double medianSpanMs(List<TelemetryEvent> ev, int stage) {
        List<Double> d = new ArrayList<>();
        for (TelemetryEvent e : ev)
            if (e instanceof TelemetryEvent.StageSpan s && s.stage() == stage && s.phase() == Phase.DECODE) d.add(s.durNs() / 1e6);
        return d.isEmpty() ? Double.NaN : BenchDevice.median(d.stream().mapToDouble(Double::doubleValue).toArray());
    }

    private static GenerationResult[] repeat(InferenceSession s, GenerationRequest req, int runs) {
        GenerationResult[] rs = new GenerationResult[runs];
        for (int i = -1; i < runs; i++) {
            GenerationResult r = s.generate(req, TokenListener.NONE, null);
            if (i >= 0) rs[i] = r;
        }
        return rs;
    }

    private static Row row(String label, GenerationResult[] rs, double bp, double ap, double bg, double ag, double[] stageMs, String same,
                           int batch, int newTok) {
        double[] pre = new double[rs.length], step = new double[rs.length], tok = new double[rs.length], dec = new double[rs.length];
        for (int i = 0; i < rs.length; i++) {
            GenerationResult r = rs[i];
            pre[i] = r.prefillNs() / 1e6;
            step[i] = r.decodeMsPerStep();
            tok[i] = batch * newTok / ((r.prefillNs() + r.decodeNs()) / 1e9);
            dec[i] = batch * (newTok - 1) / (r.decodeNs() / 1e9);
        }
        return new Row(label, BenchDevice.median(pre), BenchDevice.median(step), BenchDevice.median(tok), BenchDevice.median(dec), bp, ap, bg, ag,
                stageMs[0], stageMs[1], same);
    }

    public static void main(String[] args) {
        String why = CudaBackend.twoGpusMissing("pipeline parallelism over GPUs");
        if (why != null) {
            System.out.println("SKIP: " + why);
            return;
        }
        System.out.println(CudaBackend.twoGpusLine());
        List<String> parts = args.length == 0 ? List.of("fixtures", "llama") : List.of(args);
        CudaPpBench b = new CudaPpBench();
        Path fx = Path.of("fixtures");
        int fi = parts.indexOf("fixtures");
        if (fi >= 0 && fi + 1 < args.length && !"llama".equals(args[fi + 1])) fx = Path.of(args[fi + 1]);
        if (parts.contains("fixtures")) b.fixtures(fx);
        if (parts.contains("llama"))
            b.summary.part("llama", () -> b.llama(CudaSettings.integer("fathom.pp.batch", 8, 1, 4096), 128,
                    CudaSettings.integer("fathom.pp.newTokens", 32, 2, 4096), CudaSettings.integer("fathom.pp.runs", 3, 1, 1000)));
        b.summary.finish();
    }
}
