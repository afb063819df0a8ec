package dev.fathom.engine.run;

import dev.fathom.engine.EngineException;
import dev.fathom.engine.backend.ModelRunner;
import dev.fathom.engine.model.ModelConfig;
import dev.fathom.engine.telemetry.TelemetryEvent;
import dev.fathom.engine.telemetry.TelemetrySink;

import java.util.Arrays;

/**
 * Runs generations on a {@link ModelRunner}: the prompt phase for the whole batch, then one token phase
 * step per new token for the sequences still running, with sampling and stopping.
 */
public final class InferenceSession implements AutoCloseable {
    private final ModelRunner runner;
    private final ModelConfig config;
    private final TelemetrySink sink;

    public InferenceSession(ModelRunner runner, ModelConfig config, TelemetrySink sink) {
        this.runner = runner;
        this.config = config;
        this.sink = sink;
    }

    public ModelRunner runner() { return runner; }

    /** Checks prompt ids against the vocabulary and the KV capacity; a sentence naming the id otherwise. */
    public void validate(GenerationRequest req) {
        if (req.batch() == 0 || req.promptLen() == 0) throw new EngineException("The prompt is empty: give at least one token.");
        if (req.batch() > runner.maxSlots())
            throw new EngineException("Batch of " + req.batch() + " exceeds the " + runner.maxSlots() + " sequences the plan was made for: raise the batch size in the profile.");
        for (int b = 0; b < req.batch(); b++) {
            if (req.prompts()[b].length != req.promptLen())
                throw new EngineException("Prompt " + b + " has " + req.prompts()[b].length + " tokens but prompt 0 has " + req.promptLen() + ": prompts in one batch must have equal length.");
            for (int id : req.prompts()[b])
                if (id < 0 || id >= config.vocabSize())
                    throw new EngineException("Prompt id " + id + " (sequence " + b + ") is outside the vocabulary of " + config.vocabSize() + " tokens: use ids 0.." + (config.vocabSize() - 1) + ".");
        }
        if (req.promptLen() + req.maxNewTokens() > runner.maxSeqLen())
            throw new EngineException("Prompt (" + req.promptLen() + ") plus new tokens (" + req.maxNewTokens() + ") exceed the planned " + runner.maxSeqLen() + " positions: plan a longer context or generate fewer tokens.");
    }

    public GenerationResult generate(GenerationRequest req, TokenListener listener, CancellationToken cancel) {
        validate(req);
        if (runner instanceof GenerationLoop g && g.ownsLoop()) return g.generate(req, listener, cancel);
        int b = req.batch(), p = req.promptLen(), n = req.maxNewTokens();
        Sampler sampler = new Sampler(req.sampling());
        int[] slots = new int[b];
        for (int i = 0; i < b; i++) slots[i] = i;
        int[][] seqs = new int[b][p + n];
        int[] len = new int[b];
        for (int i = 0; i < b; i++) {
            System.arraycopy(req.prompts()[i], 0, seqs[i], 0, p);
            len[i] = p;
        }
        float[][][] stepLogits = req.keepStepLogits() ? new float[b][n][] : null;
        // greedy and no step logits kept: the runner picks each next token itself (on the GPU: 4 bytes per sequence
        // come back instead of its logits); picked[i] is sequence i's next token. With no prompt logits kept either,
        // the first token too.
        boolean onRunner = sampler.greedy() && stepLogits == null, firstOnRunner = onRunner && !req.keepPromptLogits();
        int[] picked = new int[b];
        float[][] last = new float[b][];
        long t0 = System.nanoTime();
        float[][][] pl = null;
        if (firstOnRunner) {
            int[] first = runner.prefillGreedy(slots, req.prompts());
            if (first.length != b) throw new IllegalStateException(first.length + " tokens for " + b + " prompts");
            System.arraycopy(first, 0, picked, 0, b);
        } else {
            pl = runner.prefill(slots, req.prompts(), req.keepPromptLogits());
            for (int i = 0; i < b; i++) last[i] = pl[i][pl[i].length - 1];
        }
        long prefillNs = System.nanoTime() - t0;
        if (sink.enabled()) sink.emit(new TelemetryEvent.PhaseSpan(TelemetryEvent.Phase.PROMPT, t0, prefillNs, b * p));
        float[][][] promptLogits = req.keepPromptLogits() ? pl : null;
        boolean[] done = new boolean[b];
        boolean cancelled = false;
        int steps = 0;
        long d0 = System.nanoTime();
        // Greedy steps queued one ahead (runners that feed each step the picks of the one before on their device): while
        // every sequence runs, the step after next is queued before this one's picks are awaited. When one stops, the
        // queued step is dropped and the loop below steps the others in lockstep, redoing that step as it always would.
        ModelRunner.GreedyQueue queue = firstOnRunner && n > 1 ? runner.greedyQueue() : null;
        int queued = 0;
        if (queue != null) {
            queue.enqueue(slots, len.clone());   // the step whose picks are the second tokens
            queued = 1;
        }
        try {
            for (int step = 0; step < n; step++) {
                if (cancel != null && cancel.isCancelled()) { cancelled = true; break; }
                int active = 0;
                for (int i = 0; i < b; i++) {
                    if (done[i]) continue;
                    int tok = onRunner && (step > 0 || firstOnRunner) ? picked[i] : sampler.next(last[i]);
                    if (stepLogits != null) stepLogits[i][step] = last[i];
                    seqs[i][len[i]++] = tok;
                    listener.onToken(i, tok, step);
                    if (sink.enabled()) sink.emit(new TelemetryEvent.TokenEvent(i, tok, len[i] - 1, System.nanoTime()));
                    if (req.sampling().stopOnEos() && config.eosTokenIds().contains(tok)) done[i] = true;
                    else active++;
                }
                if (step == n - 1 || active == 0) break;
                if (queue != null && active == b) {   // every sequence runs: the step after next into the queue, then this one's picks
                    if (step + 2 < n) {
                        queue.enqueue(slots, len.clone());   // its input: the token the step in flight picks, at position len
                        queued++;
                    }
                    int[] next = queue.take();
                    queued--;
                    if (next.length != b) throw new IllegalStateException(next.length + " tokens for " + b + " sequences");
                    System.arraycopy(next, 0, picked, 0, b);
                    steps++;
                    continue;
                }
                if (queue != null) {   // a sequence stopped: the rest in lockstep from here
                    queue.drain();
                    queued = 0;
                    queue = null;
                }
                int[] ids = new int[active], sl = new int[active], pos = new int[active];
                int j = 0;
                for (int i = 0; i < b; i++) {
                    if (done[i]) continue;
                    ids[j] = seqs[i][len[i] - 1];
                    sl[j] = slots[i];
                    pos[j] = len[i] - 1;
                    j++;
                }
                if (onRunner) {
                    int[] next = runner.decodeGreedy(sl, ids, pos);
                    if (next.length != active) throw new IllegalStateException(next.length + " tokens for " + active + " sequences");
                    j = 0;
                    for (int i = 0; i < b; i++) if (!done[i]) picked[i] = next[j++];
                } else {
                    float[][] out = runner.decode(sl, ids, pos);
                    j = 0;
                    for (int i = 0; i < b; i++) if (!done[i]) last[i] = out[j++];
                }
                steps++;
            }
        } finally {
            if (queue != null && queued > 0) queue.drain();
        }
        long decodeNs = System.nanoTime() - d0;
        if (sink.enabled()) sink.emit(new TelemetryEvent.PhaseSpan(TelemetryEvent.Phase.DECODE, d0, decodeNs, steps * b));
        int[][] tokens = new int[b][];
        for (int i = 0; i < b; i++) tokens[i] = Arrays.copyOf(seqs[i], len[i]);
        if (stepLogits != null)
            for (int i = 0; i < b; i++) {
                int made = len[i] - p;
                stepLogits[i] = Arrays.copyOf(stepLogits[i], made);
            }
        return new GenerationResult(tokens, promptLogits, stepLogits, prefillNs, decodeNs, steps, cancelled);
    }

    @Override
    public void close() { runner.close(); }
}
