package dev.fathom.engine.offload;

import dev.fathom.engine.checkpoint.ReferenceOutputs;
import dev.fathom.engine.Fixtures;
import dev.fathom.engine.backend.Backends;
import dev.fathom.engine.cpu.CpuRunner;
import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.model.ModelLoader;
import dev.fathom.engine.plan.ExecutionPlan;
import dev.fathom.engine.plan.PlanHeuristics;
import dev.fathom.engine.plan.WeightPlacement;
import dev.fathom.engine.run.GenerationRequest;
import dev.fathom.engine.run.GenerationResult;
import dev.fathom.engine.run.InferenceSession;
import dev.fathom.engine.run.TokenListener;
import dev.fathom.engine.telemetry.TelemetryEvent;
import dev.fathom.engine.telemetry.TelemetrySink;
import dev.fathom.profiles.RunProfile;
import dev.fathom.profiles.RunProfile.Tier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** Streamed weights (host tier, NVMe tier, mixed) give bit-identical logits to resident weights. */
class WeightStreamerTest {
    @TempDir Path tmp;

    record Run(GenerationResult result, WeightStreamer.Stats stats, List<TelemetryEvent> events) {}

    static final WeightPlacement.Links LINKS = new WeightPlacement.Links(1e9, 5e9, 1e9, "test");

    Run run(LoadedModel m, int[][] prompts, int n, RunProfile.Placement pl) { return run("reference", m, prompts, n, pl); }

    Run run(String backend, LoadedModel m, int[][] prompts, int n, RunProfile.Placement pl) {
        int p = prompts[0].length;
        RunProfile prof = RunProfile.defaults().withModel(m.source()).withBackend(backend).withShape(prompts.length, p, n).withPlacement(pl);
        ExecutionPlan plan = PlanHeuristics.plan(prof, m.config(), WeightPlacement.WeightSizes.of(m.weights()), p + n, LINKS);
        List<TelemetryEvent> ev = Collections.synchronizedList(new ArrayList<>());
        TelemetrySink sink = ev::add;
        GenerationResult r;
        WeightStreamer w = null;
        try (InferenceSession s = new InferenceSession(Backends.discover().require(backend).open(m, plan, sink), m.config(), TelemetrySink.NOOP)) {
            r = s.generate(new GenerationRequest(prompts, n, RunProfile.Sampling.GREEDY.withStopOnEos(false), true, true), TokenListener.NONE, null);
            if (((CpuRunner) s.runner()).model().layerSource() instanceof WeightStreamer ws) w = ws;
        }
        assertEquals(plan.streaming(), w != null, "streamer installed iff the plan streams");
        // after close: the reader has stopped, counters and spans are final
        return new Run(r, w == null ? null : w.stats(), List.copyOf(ev));
    }

    static void assertSameLogits(GenerationResult a, GenerationResult b, String what) { assertSameLogits(a, b, what, 0f); }

    /** {@code tol} = 0: bit-identical logits and tokens. */
    static void assertSameLogits(GenerationResult a, GenerationResult b, String what, float tol) {
        if (tol > 0) {
            double pe = ReferenceOutputs.relError(b.promptLogits(), a.promptLogits()), se = ReferenceOutputs.relError(b.stepLogits(), a.stepLogits());
            assertTrue(pe <= tol && se <= tol, what + " rel error prompt " + pe + " step " + se);
            return;
        }
        for (int i = 0; i < a.promptLogits().length; i++)
            for (int j = 0; j < a.promptLogits()[i].length; j++)
                assertArrayEquals(a.promptLogits()[i][j], b.promptLogits()[i][j], 0f, what + " prompt logits seq " + i + " pos " + j);
        for (int i = 0; i < a.stepLogits().length; i++)
            for (int j = 0; j < a.stepLogits()[i].length; j++)
                assertArrayEquals(a.stepLogits()[i][j], b.stepLogits()[i][j], 0f, what + " step logits seq " + i + " step " + j);
        for (int i = 0; i < a.tokens().length; i++) assertArrayEquals(a.tokens()[i], b.tokens()[i], what + " tokens");
    }

    @ParameterizedTest
    @ValueSource(strings = {"reference", "cpu"})
    void everyFixtureStreamsExactlyFromHostAndNvme(String backend) {
        for (String fx : Fixtures.MODELS) {
            var ref = Fixtures.reference(fx);
            int n = Math.min(3, ref.generatedIds()[0].length - ref.inputIds()[0].length);
            try (LoadedModel m = ModelLoader.load(Fixtures.model(fx).toString())) {
                Run resident = run(backend, m, ref.inputIds(), n, RunProfile.Placement.DEFAULT);
                assertNull(resident.stats());
                int layers = m.config().numLayers();
                for (Tier t : new Tier[]{Tier.HOST, Tier.NVME})
                    for (int k : new int[]{0, 1, 3}) {
                        String what = backend + " " + fx + " " + t + " prefetch " + k;
                        Run s = run(backend, m, ref.inputIds(), n, new RunProfile.Placement(t, Tier.DEVICE, tmp.toString(), k, 0, 0, 0));
                        // the reference kernels are deterministic, so streamed logits must be bit-identical; the fast
                        // kernels' rounding may change once the JIT compiles the Vector API code (1 ulp between two
                        // resident runs), so for them the bound is a relative 1e-6
                        assertSameLogits(resident.result(), s.result(), what, backend.equals("reference") ? 0f : 1e-6f);
                        // every layer once per forward pass (prompt + decode steps); prefetch may run up to k + 1 layers past the end
                        long forwards = 1 + s.result().decodeSteps();
                        long f = s.stats().fetches();
                        if (k == 0) assertEquals(layers * forwards, f, what + " fetches");
                        else assertTrue(f >= layers * forwards && f <= layers * forwards + k + 1, what + " fetched " + f);
                        assertEquals(Math.min(k + 1, layers), s.stats().slots(), what);
                        assertTrue(s.stats().maxOccupied() <= k + 1, what + " ring held " + s.stats().maxOccupied() + " layers");
                        String kind = t == Tier.NVME ? "nvme-read" : "h2d";
                        long spans = s.events().stream().filter(e -> e instanceof TelemetryEvent.TransferSpan ts && ts.kind().equals(kind)
                                && ts.bytes() > 0 && ts.durNs() >= 0).count();
                        assertEquals(s.stats().fetches(), spans, what + " transfer spans");
                        assertTrue(s.events().stream().anyMatch(e -> e instanceof TelemetryEvent.MemorySample ms && ms.tier().equals(t.name().toLowerCase())), what + " memory sample");
                    }
            }
        }
        try (Stream<Path> left = Files.list(tmp)) {
            assertEquals(0, left.count(), "NVMe layer folders are deleted on close");
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void modelLargerThanItsBudgetRunsFromNvme() {
        // synthetic:llama-tiny is vocabulary-heavy, so the budget is lm_head + the ring + one resident layer, well below its weights
        try (LoadedModel m = ModelLoader.load("synthetic:llama-tiny")) {
            int[][] prompt = {{1, 5, 9, 200, 7, 33}};
            Run resident = run(m, prompt, 4, RunProfile.Placement.DEFAULT);
            WeightPlacement.WeightSizes sz = WeightPlacement.WeightSizes.of(m.weights());
            for (int k : new int[]{0, 1}) {
                long budget = sz.headBytes() + (k + 2L) * sz.layerBytes()[0] + 1000;
                assertTrue(budget < sz.total() * 3 / 4, "budget " + budget + " vs weights " + sz.total());
                var pl = new RunProfile.Placement(Tier.NVME, Tier.DEVICE, tmp.toString(), k, budget, 0, 0);
                RunProfile prof = RunProfile.defaults().withShape(1, 6, 4).withPlacement(pl);
                ExecutionPlan plan = PlanHeuristics.plan(prof, m.config(), sz, 10, LINKS);
                assertTrue(plan.placement().deviceBytes() <= budget, "plan stays within the budget");
                assertEquals(1, plan.placement().count(Tier.DEVICE), plan.describe());
                assertEquals(m.config().numLayers() - 1, plan.placement().count(Tier.NVME), plan.describe());
                Run s = run(m, prompt, 4, pl);
                assertSameLogits(resident.result(), s.result(), "llama-tiny budget/4 prefetch " + k);
                assertTrue(s.stats().maxOccupied() <= k + 1);
                long once = plan.placement().count(Tier.NVME) * (1 + s.result().decodeSteps());
                if (k == 0) assertEquals(once, s.stats().fetches(), "each streamed layer is read once per forward pass");
                else assertTrue(s.stats().fetches() >= once && s.stats().fetches() <= once + k + 1);
            }
        }
    }

    @Test
    void hostBudgetSpillsToNvmeAndStaysExact() {
        try (LoadedModel m = ModelLoader.load("synthetic:llama-tiny")) {
            int[][] prompt = {{3, 1, 4, 1, 5}, {9, 2, 6, 5, 3}};
            Run resident = run(m, prompt, 3, RunProfile.Placement.DEFAULT);
            WeightPlacement.WeightSizes sz = WeightPlacement.WeightSizes.of(m.weights());
            // host memory holds the untied embedding and two layers; the other two stream from NVMe
            long host = sz.embedBytes() + 2 * sz.layerBytes()[0] + 100;
            var pl = new RunProfile.Placement(Tier.HOST, Tier.DEVICE, tmp.toString(), 1, 0, host, 0);
            ExecutionPlan plan = PlanHeuristics.plan(RunProfile.defaults().withShape(2, 5, 3).withPlacement(pl), m.config(), sz, 8, LINKS);
            assertEquals(2, plan.placement().count(Tier.HOST), plan.describe());
            assertEquals(2, plan.placement().count(Tier.NVME), plan.describe());
            Run s = run(m, prompt, 3, pl);
            assertSameLogits(resident.result(), s.result(), "llama-tiny host+nvme");
            assertTrue(s.events().stream().anyMatch(e -> e instanceof TelemetryEvent.TransferSpan t && t.kind().equals("h2d")));
            assertTrue(s.events().stream().anyMatch(e -> e instanceof TelemetryEvent.TransferSpan t && t.kind().equals("nvme-read")));
        }
    }

    @Test
    void closeWhileWaitingCancelsAndFreesTheRing() throws Exception {
        try (LoadedModel m = ModelLoader.load("synthetic:llama-tiny")) {
            var layers = m.weights().layers();
            Tier[] t = new Tier[layers.size()];
            java.util.Arrays.fill(t, Tier.NVME);
            WeightStreamer s = new WeightStreamer(layers, 0, t, 1, tmp.toString(), TelemetrySink.NOOP);
            var w = s.acquire(0);
            assertEquals(layers.get(0).q().weight().get(3, 5), w.q().weight().get(3, 5));
            // out of order: restarts the window
            s.release(0);
            var w2 = s.acquire(2);
            assertEquals(layers.get(2).down().weight().get(1, 2), w2.down().weight().get(1, 2));
            s.release(2);
            s.close();
            // views are stable per (slot, layer), so kernels caching per tensor identity stay bounded
            try (WeightStreamer one = new WeightStreamer(layers, 0, t, 0, tmp.toString(), TelemetrySink.NOOP)) {
                var a = one.acquire(1);
                one.release(1);
                one.acquire(2);
                one.release(2);
                assertSame(a, one.acquire(1));
                one.release(1);
            }
            assertThrows(java.util.concurrent.CancellationException.class, () -> s.acquire(1));
            try (Stream<Path> left = Files.list(tmp)) {
                assertEquals(0, left.count());
            }
        }
    }
}
