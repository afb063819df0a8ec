package dev.fathom.engine.run;

import dev.fathom.engine.Fixtures;
import dev.fathom.engine.backend.Backends;
import dev.fathom.engine.backend.ModelRunner;
import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.model.ModelConfig;
import dev.fathom.engine.model.ModelLoader;
import dev.fathom.engine.plan.ExecutionPlan;
import dev.fathom.engine.plan.PlanHeuristics;
import dev.fathom.engine.telemetry.TelemetrySink;
import dev.fathom.profiles.RunProfile;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Greedy generation without kept step logits lets the runner pick each token ({@link ModelRunner#decodeGreedy}: on one
 * GPU the argmax runs on the device and 4 bytes per sequence come back): same tokens as picking from copied logits,
 * the right sequences in each step after one stops, and sampled runs still get their logits.
 */
class GreedyOnRunnerTest {
    /** Passes every call through to {@code inner}, counting which token-phase call the session made and for how many sequences. */
    static class Recording implements ModelRunner {
        final ModelRunner inner;
        final List<Integer> decodes = new ArrayList<>(), greedy = new ArrayList<>();
        int prefills, greedyPrefills;

        Recording(ModelRunner inner) { this.inner = inner; }

        @Override public float[][][] prefill(int[] slots, int[][] tokens, boolean allPositions) {
            prefills++;
            return inner.prefill(slots, tokens, allPositions);
        }
        @Override public int[] prefillGreedy(int[] slots, int[][] tokens) {
            greedyPrefills++;
            return inner.prefillGreedy(slots, tokens);
        }
        @Override public float[][] decode(int[] slots, int[] tokens, int[] positions) {
            decodes.add(slots.length);
            return inner.decode(slots, tokens, positions);
        }
        @Override public int[] decodeGreedy(int[] slots, int[] tokens, int[] positions) {
            greedy.add(slots.length);
            return inner.decodeGreedy(slots, tokens, positions);
        }
        @Override public int maxSlots() { return inner.maxSlots(); }
        @Override public int maxSeqLen() { return inner.maxSeqLen(); }
        @Override public void close() { inner.close(); }
    }

    /** The cpu backend's runner of {@code m} planned for prompts {@code in} and {@code n} new tokens (2 threads). */
    static ModelRunner cpuRunner(LoadedModel m, int[][] in, int n) {
        int p = in[0].length;
        RunProfile prof = RunProfile.defaults().withModel("llama-tiny").withBackend("cpu").withThreads(2).withShape(in.length, p, n);
        ExecutionPlan plan = PlanHeuristics.plan(prof, m.config(), m.weights().bytes(), p + n);
        return Backends.discover().require("cpu").open(m, plan, TelemetrySink.NOOP);
    }

    @Test
    void argmaxIsTheFirstLargestAndNaNsNeverWin() {
        assertEquals(2, ModelRunner.argmax(new float[]{1, 3, 5, 5, 2}));
        assertEquals(0, ModelRunner.argmax(new float[]{7, 7, 7}));
        assertEquals(1, ModelRunner.argmax(new float[]{Float.NaN, 4, Float.NaN, 3}), "a NaN first does not stick");
        assertEquals(0, ModelRunner.argmax(new float[]{Float.NaN, Float.NaN}));
        assertEquals(0, ModelRunner.argmax(new float[]{Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY}));
        assertEquals(Sampler.argmax(new float[]{0, 9, 1}), ModelRunner.argmax(new float[]{0, 9, 1}));
    }

    @Test
    void greedyTokensPickedByTheRunnerMatchThosePickedFromLogits() {
        var ref = Fixtures.reference("llama-tiny");
        try (LoadedModel m = ModelLoader.load(Fixtures.model("llama-tiny").toString())) {
            int[][] in = ref.inputIds();
            int p = in[0].length, n = 6;
            int[][] kept, picked;
            Recording r = new Recording(cpuRunner(m, in, n));
            try (InferenceSession s = new InferenceSession(r, m.config(), TelemetrySink.NOOP)) {
                RunProfile.Sampling greedy = RunProfile.Sampling.GREEDY.withStopOnEos(false);
                kept = s.generate(new GenerationRequest(in, n, greedy, false, true), TokenListener.NONE, null).tokens();
                assertEquals(List.of(), r.greedy, "step logits kept: the session needs them");
                assertEquals(n - 1, r.decodes.size());
                assertEquals(1, r.prefills);
                r.decodes.clear();
                picked = s.generate(new GenerationRequest(in, n, greedy, false, false), TokenListener.NONE, null).tokens();
                assertEquals(List.of(), r.decodes, "greedy with no logits kept: the runner picks");
                assertEquals(n - 1, r.greedy.size());
                assertEquals(1, r.greedyPrefills, "the first token too");
                assertEquals(1, r.prefills);
                r.greedy.clear();
                var withPrompt = s.generate(new GenerationRequest(in, n, greedy, true, false), TokenListener.NONE, null);
                assertEquals(2, r.prefills, "prompt logits kept: the prompt returns them, the steps still pick on the runner");
                assertEquals(1, r.greedyPrefills);
                assertEquals(n - 1, r.greedy.size());
                assertArrayEquals(picked, withPrompt.tokens());
                assertEquals(in.length, withPrompt.promptLogits().length);
                r.greedy.clear();
                var sampled = new RunProfile.Sampling(false, 0.8, 0, 1.0, 7, false);
                s.generate(new GenerationRequest(in, n, sampled, false, false), TokenListener.NONE, null);
                assertEquals(List.of(), r.greedy, "sampling needs the logits");
                assertEquals(n - 1, r.decodes.size());
            }
            assertArrayEquals(kept, picked);
            for (int b = 0; b < in.length; b++)   // the fixture's own greedy tokens (F32 weights: the same ids)
                assertArrayEquals(Arrays.copyOf(ref.generatedIds()[b], p + n), picked[b], "sequence " + b);
        }
    }

    /** A runner over a vocabulary of {@code vocab}: the prompt's last logits peak at 7; steps of slot 0 peak at {@code eos}, others at 5. */
    static ModelRunner scripted(int vocab, int eos) {
        return new ModelRunner() {
            float[] peak(int at) {
                float[] l = new float[vocab];
                l[at] = 1;
                return l;
            }
            @Override public float[][][] prefill(int[] slots, int[][] tokens, boolean allPositions) {
                float[][][] out = new float[slots.length][1][];
                for (int i = 0; i < slots.length; i++) out[i][0] = peak(7);
                return out;
            }
            @Override public float[][] decode(int[] slots, int[] tokens, int[] positions) {
                float[][] out = new float[slots.length][];
                for (int i = 0; i < slots.length; i++) out[i] = peak(slots[i] == 0 ? eos : 5);
                return out;
            }
            @Override public int maxSlots() { return 4; }
            @Override public int maxSeqLen() { return 64; }
            @Override public void close() { }
        };
    }

    @Test
    void aSequenceThatStopsLeavesTheRunnerPickingForTheOthers() throws Exception {
        {
            ModelConfig c = configWithEos(3);
            assertEquals(List.of(3), c.eosTokenIds());
            int eos = 3;
            int[][] in = {{1, 2, 3}, {4, 5, 6}};
            int[][][] runs = new int[2][][];
            for (int keep = 0; keep < 2; keep++) {
                Recording r = new Recording(scripted(c.vocabSize(), eos));
                try (InferenceSession s = new InferenceSession(r, c, TelemetrySink.NOOP)) {
                    runs[keep] = s.generate(new GenerationRequest(in, 5, RunProfile.Sampling.GREEDY, false, keep == 1), TokenListener.NONE, null).tokens();
                    assertEquals(keep == 1 ? List.of() : List.of(2, 1, 1, 1), r.greedy, "sequence 0 stops after its end-of-sequence token");
                    assertEquals(keep == 1 ? 0 : 1, r.greedyPrefills);
                    assertTrue(keep == 0 ? r.decodes.isEmpty() : r.decodes.equals(List.of(2, 1, 1, 1)));
                }
            }
            assertArrayEquals(new int[]{1, 2, 3, 7, eos}, runs[0][0]);
            assertArrayEquals(new int[]{4, 5, 6, 7, 5, 5, 5, 5}, runs[0][1]);
            assertArrayEquals(runs[1], runs[0]);
        }
    }
    /**
     * A runner with a greedy queue as the GPU runner keeps it: each queued step is fed the picks of the call before it
     * (here computed at once through the inner runner's decodeGreedy), at most two steps are queued and not taken.
     */
    static final class Queued extends Recording {
        private int[] lastPicks;
        private final java.util.ArrayDeque<int[]> queue = new java.util.ArrayDeque<>();
        int enqueued, taken, drains, mostQueued;

        Queued(ModelRunner inner) { super(inner); }

        @Override public int[] prefillGreedy(int[] slots, int[][] tokens) {
            int[] p = super.prefillGreedy(slots, tokens);
            lastPicks = p.clone();
            return p;
        }

        @Override public GreedyQueue greedyQueue() {
            return new GreedyQueue() {
                @Override public void enqueue(int[] slots, int[] positions) {
                    if (queue.size() >= 2) fail("a third step queued before the oldest was taken");
                    if (slots.length != lastPicks.length) fail("a queued step must keep every row of the prompt");
                    lastPicks = inner.decodeGreedy(slots, lastPicks, positions);
                    queue.add(lastPicks.clone());
                    enqueued++;
                    mostQueued = Math.max(mostQueued, queue.size());
                }
                @Override public int[] take() {
                    taken++;
                    return queue.remove();
                }
                @Override public void drain() {
                    drains++;
                    queue.clear();
                }
            };
        }
    }

    @Test
    void stepsQueuedAheadGiveTheSameTokensAsStepsOneAtATime() {
        var ref = Fixtures.reference("llama-tiny");
        try (LoadedModel m = ModelLoader.load(Fixtures.model("llama-tiny").toString())) {
            int[][] in = ref.inputIds();
            int p = in[0].length, n = 6;
            RunProfile.Sampling greedy = RunProfile.Sampling.GREEDY.withStopOnEos(false);
            int[][] plain, queued;
            try (InferenceSession s = new InferenceSession(new Recording(cpuRunner(m, in, n)), m.config(), TelemetrySink.NOOP)) {
                plain = s.generate(new GenerationRequest(in, n, greedy, false, false), TokenListener.NONE, null).tokens();
            }
            Queued q = new Queued(cpuRunner(m, in, n));
            List<Integer> order = new ArrayList<>();
            try (InferenceSession s = new InferenceSession(q, m.config(), TelemetrySink.NOOP)) {
                var r = s.generate(new GenerationRequest(in, n, greedy, false, false), (seq, tok, step) -> order.add(step), null);
                queued = r.tokens();
                assertEquals(n - 1, r.decodeSteps());
            }
            assertEquals(List.of(), q.greedy, "every step through the queue");
            assertEquals(n - 1, q.enqueued);
            assertEquals(n - 1, q.taken);
            assertEquals(2, q.mostQueued, "the step after next is queued before this one's picks are awaited");
            assertEquals(0, q.drains, "nothing left to drop");
            assertEquals(in.length * n, order.size(), "every token reaches the listener");
            assertArrayEquals(plain, queued);
            for (int b = 0; b < in.length; b++)
                assertArrayEquals(Arrays.copyOf(ref.generatedIds()[b], p + n), queued[b], "sequence " + b);
        }
    }

    @Test
    void whenASequenceStopsTheQueuedStepIsDroppedAndTheOthersGoOnInLockstep() throws Exception {
        ModelConfig c = configWithEos(3);
        int eos = 3;
        int[][] in = {{1, 2, 3}, {4, 5, 6}};
        int[][] plain;
        try (InferenceSession s = new InferenceSession(new Recording(scripted(c.vocabSize(), eos)), c, TelemetrySink.NOOP)) {
            plain = s.generate(new GenerationRequest(in, 5, RunProfile.Sampling.GREEDY, false, false), TokenListener.NONE, null).tokens();
        }
        Queued q = new Queued(scripted(c.vocabSize(), eos));
        try (InferenceSession s = new InferenceSession(q, c, TelemetrySink.NOOP)) {
            assertArrayEquals(plain, s.generate(new GenerationRequest(in, 5, RunProfile.Sampling.GREEDY, false, false), TokenListener.NONE, null).tokens());
        }
        assertEquals(2, q.enqueued, "the second tokens' step, and the third's queued behind it");
        assertEquals(1, q.taken);
        assertEquals(1, q.drains, "sequence 0 stopped: the third tokens' step (both rows) dropped");
        assertEquals(List.of(1, 1, 1), q.greedy, "then sequence 1 alone, one step at a time");
        assertArrayEquals(new int[]{1, 2, 3, 7, eos}, plain[0]);
    }

    @Test
    void aCancelledRunDrainsTheQueue() throws Exception {
        int[][] in = {{1, 2, 3}};
        ModelConfig c = configWithEos(3);
        Queued q = new Queued(scripted(c.vocabSize(), 9));
        CancellationToken cancel = new CancellationToken();
        try (InferenceSession s = new InferenceSession(q, c, TelemetrySink.NOOP)) {
            var r = s.generate(new GenerationRequest(in, 6, RunProfile.Sampling.GREEDY.withStopOnEos(false), false, false),
                    (seq, tok, step) -> { if (step == 1) cancel.cancel(); }, cancel);
            assertTrue(r.cancelled());
            assertEquals(2, r.tokens()[0].length - 3, "the tokens before the cancel");
        }
        assertEquals(1, q.drains, "the step queued ahead is waited for and dropped");
        assertEquals(q.enqueued, q.taken + 1);
    }

    /** The llama fixture's config with an end-of-sequence id (the fixtures name none). */
    static ModelConfig configWithEos(int eos) throws java.io.IOException {
        var json = (com.fasterxml.jackson.databind.node.ObjectNode) new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(Fixtures.model("llama-tiny").resolve("config.json").toFile());
        json.put("eos_token_id", eos);
        return ModelLoader.parseConfig(Fixtures.model("llama-tiny").resolve("config.json"), json);
    }
}
