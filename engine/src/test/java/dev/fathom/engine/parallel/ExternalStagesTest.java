package dev.fathom.engine.parallel;

import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.model.ModelConfig;
import dev.fathom.engine.model.ModelLoader;
import dev.fathom.engine.run.GenerationRequest;
import dev.fathom.engine.run.GenerationResult;
import dev.fathom.engine.run.InferenceSession;
import dev.fathom.engine.run.TokenListener;
import dev.fathom.engine.telemetry.TelemetryEvent;
import dev.fathom.engine.telemetry.TelemetryEvent.Phase;
import dev.fathom.engine.telemetry.TelemetryRecorder;
import dev.fathom.engine.telemetry.TelemetrySink;
import dev.fathom.profiles.RunProfile;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A {@link ParallelRunner} over stages another backend provides (the hook the GPU pipeline uses): a two-stage toy
 * model whose "KV cache" is a per-slot token count checked against the positions each pass brings, whose stage 0
 * hands a hidden state to stage 1 and whose head predicts token + 1. Both schedules must produce the same tokens,
 * one stage span per stage and micro-batch pass, and the stages' own description in the layout.
 */
class ExternalStagesTest {
    static final class ToyStages implements PipelineStages {
        final int vocab;
        final int[][] seen = new int[2][8];   // [stage][slot]: tokens the stage has cached
        final List<String> errors = java.util.Collections.synchronizedList(new ArrayList<>());
        final AtomicBoolean closed = new AtomicBoolean();

        ToyStages(int vocab) { this.vocab = vocab; }

        @Override public int count() { return 2; }
        @Override public int rank(int stage) { return 10 + stage; }
        @Override public String describe() { return "2 toy stages"; }
        @Override public void close() { closed.set(true); }

        @Override
        public Object run(int stage, StageStep s, Object input) {
            int b = s.slots().length, t = s.t();
            for (int i = 0; i < b; i++) {
                int slot = s.slots()[i];
                if (s.phase() == Phase.PROMPT) seen[stage][slot] = 0;
                if (s.start()[i] != seen[stage][slot]) errors.add("stage " + stage + " slot " + slot + " at " + s.start()[i] + " after " + seen[stage][slot]);
                seen[stage][slot] = s.start()[i] + t;
            }
            if (stage == 0) {   // hidden state: the token, offset by the slot
                float[] h = new float[b * t];
                for (int r = 0; r < b * t; r++) h[r] = s.tokens()[r] + 1000f * s.slots()[r / t];
                return h;
            }
            float[] h = (float[]) input;
            int per = s.allPositions() ? t : 1;
            float[] logits = new float[b * per * vocab];
            for (int i = 0; i < b; i++)
                for (int j = 0; j < per; j++) {
                    int row = i * t + (s.allPositions() ? j : t - 1);
                    int tok = Math.round(h[row] - 1000f * s.slots()[i]);
                    logits[(i * per + j) * vocab + (tok + 1) % vocab] = 1;
                }
            return logits;
        }
    }

    private static ModelConfig config() {
        try (LoadedModel m = ModelLoader.load("synthetic:llama-tiny")) {
            return m.config();
        }
    }

    @Test
    void bothSchedulesRunExternalStagesWithOneSpanPerStagePass() {
        ModelConfig cfg = config();
        int v = cfg.vocabSize(), batch = 4, p = 3, n = 5;
        int[][] prompts = new int[batch][p];
        for (int i = 0; i < batch; i++) for (int j = 0; j < p; j++) prompts[i][j] = (7 * i + j) % v;
        GenerationRequest req = new GenerationRequest(prompts, n, RunProfile.Sampling.GREEDY.withStopOnEos(false), true, false);
        for (boolean continuous : new boolean[]{true, false}) {
            ToyStages toy = new ToyStages(v);
            TelemetryRecorder rec = new TelemetryRecorder();
            ParallelLayout layout = new ParallelLayout(1, 2, 1, 1, 4, 2, "pcc");
            GenerationResult r;
            try (ParallelRunner pr = new ParallelRunner(cfg, layout, toy, batch, p + n, rec)) {
                pr.setContinuous(continuous);
                assertTrue(pr.layout().startsWith("2 toy stages"), pr.layout());
                r = new InferenceSession(pr, cfg, TelemetrySink.NOOP).generate(req, TokenListener.NONE, null);
            }
            assertTrue(toy.closed.get(), "the runner closes the stages it was given");
            assertEquals(List.of(), toy.errors);
            for (int i = 0; i < batch; i++) {
                int[] want = new int[p + n];
                System.arraycopy(prompts[i], 0, want, 0, p);
                for (int k = p; k < p + n; k++) want[k] = (want[k - 1] + 1) % v;
                assertArrayEquals(want, r.tokens()[i], "sequence " + i + (continuous ? " continuous" : " lockstep"));
                // prompt logits of every position: token + 1 at each
                for (int j = 0; j < p; j++) assertEquals(1f, r.promptLogits()[i][j][(prompts[i][j] + 1) % v]);
            }
            int promptSpans = 0, decodeSpans = 0;
            for (TelemetryEvent e : rec.events())
                if (e instanceof TelemetryEvent.StageSpan s) {
                    assertEquals(10 + s.stage(), s.rank());
                    if (s.phase() == Phase.PROMPT) promptSpans++;
                    else decodeSpans++;
                }
            assertEquals(2 * 4, promptSpans, "4 prompt micro-batches through 2 stages");
            assertEquals(2 * 2 * (n - 1), decodeSpans, "2 generation micro-batches, n-1 passes each, 2 stages");
        }
    }
}
