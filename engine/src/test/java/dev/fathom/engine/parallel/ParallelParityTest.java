package dev.fathom.engine.parallel;

import dev.fathom.engine.checkpoint.ReferenceOutputs;
import dev.fathom.engine.Engine;
import dev.fathom.engine.EngineException;
import dev.fathom.engine.Fixtures;
import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.model.ModelLoader;
import dev.fathom.engine.plan.ExecutionPlan;
import dev.fathom.engine.run.GenerationRequest;
import dev.fathom.engine.run.GenerationResult;
import dev.fathom.engine.run.InferenceSession;
import dev.fathom.engine.run.TokenListener;
import dev.fathom.engine.telemetry.PipelineStats;
import dev.fathom.engine.telemetry.TelemetryEvent;
import dev.fathom.engine.telemetry.TelemetryRecorder;
import dev.fathom.engine.telemetry.TelemetrySink;
import dev.fathom.profiles.RunProfile;
import dev.fathom.profiles.RunProfile.Parallelism;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every fixture reproduces Hugging Face (same tokens, logits within 1e-4 for F32 weights) and the
 * single-rank engine on CPU ranks: TP=2, TP=4 where the heads allow, PP=2, TP=2 x PP=2, and the MoE
 * fixture under EP=2, EP=4 and EP=2 x TP=2 with both all-to-all forms.
 */
class ParallelParityTest {
    static final double TOL = 1e-4;
    static final Map<String, LoadedModel> MODELS = new HashMap<>();
    static final Map<String, GenerationResult> SINGLE = new HashMap<>();

    @BeforeAll
    static void load() {
        for (String f : Fixtures.MODELS) MODELS.put(f, ModelLoader.load(Fixtures.model(f).toString()));
    }

    @AfterAll
    static void close() {
        MODELS.values().forEach(LoadedModel::close);
    }

    static Parallelism par(int tp, int pp, int ep, String a2a) { return new Parallelism(tp, pp, ep, 1, 0, 0, a2a); }

    static Stream<Arguments> layouts() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (String f : Fixtures.MODELS) {
            b.add(Arguments.of(f, "TP=2", par(2, 1, 1, "pcc")));
            if (!f.equals("llama-tiny") && !f.equals("mixtral-tiny")) b.add(Arguments.of(f, "TP=4", par(4, 1, 1, "pcc")));
            b.add(Arguments.of(f, "PP=2", par(1, 2, 1, "pcc")));
            b.add(Arguments.of(f, "TP=2xPP=2", par(2, 2, 1, "pcc")));
        }
        for (String a2a : List.of("pcc", "baseline")) {
            b.add(Arguments.of("mixtral-tiny", "EP=2 " + a2a, par(1, 1, 2, a2a)));
            b.add(Arguments.of("mixtral-tiny", "EP=4 " + a2a, par(1, 1, 4, a2a)));
            b.add(Arguments.of("mixtral-tiny", "EP=2xTP=2 " + a2a, par(2, 1, 2, a2a)));
        }
        b.add(Arguments.of("llama-tiny", "DP=2", new Parallelism(1, 1, 1, 2, 0, 0, "pcc")));
        b.add(Arguments.of("mixtral-tiny", "EP=2xPP=2 baseline", par(1, 2, 2, "baseline")));
        // more ranks than experts: each expert sliced over 2 ranks
        b.add(Arguments.of("mixtral-tiny", "EP=8 pcc (expert slicing)", par(1, 1, 8, "pcc")));
        b.add(Arguments.of("mixtral-tiny", "EP=8xTP=2 baseline (expert slicing)", par(2, 1, 8, "baseline")));
        return b.build();
    }

    static GenerationResult run(String fixture, Parallelism p, RunProfile.Placement placement, TelemetrySink sink, Boolean continuous) {
        var ref = Fixtures.reference(fixture);
        LoadedModel m = MODELS.get(fixture);
        int len = ref.inputIds()[0].length, n = ref.generatedIds()[0].length - len;
        RunProfile prof = RunProfile.defaults().withModel(fixture).withBackend("reference").withShape(ref.inputIds().length, len, n)
                .withParallel(p);
        if (placement != null) prof = prof.withPlacement(placement);
        Engine engine = Engine.discover();
        ExecutionPlan plan = engine.plan(m, prof, len + n);
        try (InferenceSession s = engine.open(m, plan, sink)) {
            if (continuous != null) ((ParallelRunner) s.runner()).setContinuous(continuous);
            return s.generate(new GenerationRequest(ref.inputIds(), n, RunProfile.Sampling.GREEDY.withStopOnEos(false), true, true),
                    TokenListener.NONE, null);
        }
    }

    static synchronized GenerationResult single(String fixture) {
        return SINGLE.computeIfAbsent(fixture, f -> run(f, Parallelism.NONE, null, TelemetrySink.NOOP, null));
    }

    static void assertMatches(String fixture, String what, GenerationResult r) {
        var ref = Fixtures.reference(fixture);
        GenerationResult one = single(fixture);
        double pe = ReferenceOutputs.relError(r.promptLogits(), ref.promptLogits());
        double se = ReferenceOutputs.relError(r.stepLogits(), ref.stepLogits());
        double pe1 = ReferenceOutputs.relError(r.promptLogits(), one.promptLogits());
        double se1 = ReferenceOutputs.relError(r.stepLogits(), one.stepLogits());
        System.out.printf("PARALLEL %s %s vs HF prompt %.3g step %.3g; vs 1 rank %.3g %.3g%n", fixture, what, pe, se, pe1, se1);
        boolean f32 = !fixture.endsWith("bf16");
        if (f32) {
            assertTrue(pe <= TOL, fixture + " " + what + " prompt logits rel error " + pe);
            assertTrue(se <= TOL, fixture + " " + what + " step logits rel error " + se);
        }
        assertTrue(pe1 <= 1e-5 && se1 <= 1e-5, fixture + " " + what + " differs from the single rank: " + pe1 + " / " + se1);
        for (int b = 0; b < ref.generatedIds().length; b++) {
            assertArrayEquals(one.tokens()[b], r.tokens()[b], fixture + " " + what + " sequence " + b + " vs 1 rank");
            if (f32) assertArrayEquals(ref.generatedIds()[b], r.tokens()[b], fixture + " " + what + " sequence " + b + " vs HF");
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("layouts")
    void reproduces(String fixture, String what, Parallelism p) {
        assertMatches(fixture, what, run(fixture, p, null, TelemetrySink.NOOP, null));
    }

    @Test
    void tp4RefusedWhereKvHeadsDoNotDivide() {
        EngineException e = assertThrows(EngineException.class, () -> run("llama-tiny", par(4, 1, 1, "pcc"), null, TelemetrySink.NOOP, null));
        assertTrue(e.getMessage().contains("KV heads") && e.getMessage().contains("--tp"), e.getMessage());
    }

    @Test
    void lockstepScheduleGivesTheSameTokens() {
        assertMatches("gpt2-tiny", "PP=2 lockstep", run("gpt2-tiny", par(1, 2, 1, "pcc"), null, TelemetrySink.NOOP, false));
    }

    @Test
    void kvOffloadMovesIdleSequencesAndKeepsResults() {
        TelemetryRecorder rec = new TelemetryRecorder();
        RunProfile.Placement pl = new RunProfile.Placement(RunProfile.Tier.DEVICE, RunProfile.Tier.DEVICE, null, 1, 0, 0, 1);
        // one micro-batch per sequence so a sequence is idle on a stage while the other is there
        Parallelism p = new Parallelism(1, 2, 1, 1, 2, 2, "pcc");
        GenerationResult r = run("llama-tiny", p, pl, rec, null);
        assertMatches("llama-tiny", "PP=2 KV offload", r);
        List<TelemetryEvent> ev = rec.events();
        long out = ev.stream().filter(e -> e instanceof TelemetryEvent.TransferSpan t && t.kind().equals("kv_offload")).count();
        long in = ev.stream().filter(e -> e instanceof TelemetryEvent.TransferSpan t && t.kind().equals("kv_fetch")).count();
        assertTrue(out > 0 && in > 0, "offloads " + out + ", fetches " + in);
        // stage 0 (rank 0) moves even layers only, stage 1 (rank 1) odd layers only
        assertTrue(ev.stream().allMatch(e -> !(e instanceof TelemetryEvent.TransferSpan t) || t.layer() % 2 == t.rank() % 2));
        double prompt = PipelineStats.bubbleFraction(ev, TelemetryEvent.Phase.PROMPT);
        double gen = PipelineStats.bubbleFraction(ev, TelemetryEvent.Phase.DECODE);
        assertTrue(prompt >= 0 && prompt < 1 && gen >= 0 && gen < 1, prompt + " " + gen);
        assertEquals(2, ev.stream().filter(e -> e instanceof TelemetryEvent.StageSpan s && s.phase() == TelemetryEvent.Phase.PROMPT).count() / 2);
    }
}
