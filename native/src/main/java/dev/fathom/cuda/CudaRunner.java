package dev.fathom.cuda;

import dev.fathom.engine.backend.ModelRunner;
import dev.fathom.engine.model.ModelConfig;
import dev.fathom.engine.model.ModelWeights;
import dev.fathom.engine.plan.WeightPlacement;
import dev.fathom.profiles.Precision;
import dev.fathom.profiles.RunProfile.Tier;
import dev.fathom.engine.telemetry.TelemetryEvent.Phase;
import dev.fathom.engine.telemetry.TelemetrySink;

/** A single-GPU runner: prompt and token phases of one {@link CudaModel}. */
public final class CudaRunner implements ModelRunner {
    private final CudaModel model;
    private final int slots;
    private final int maxLen;
    /** The forward pass prefill and decode go through (forwardRows, or the flat copy for comparison). */
    private final Forward forward;
    /** Greedy steps pick on the GPU ({@link #decodeGreedy}; -Dfathom.cuda.gpuArgmax=false: on the host). */
    private final boolean gpuArgmax = CudaSettings.flag("fathom.cuda.gpuArgmax", true);
    /** Greedy steps queued ahead of the host ({@link #greedyQueue}; -Dfathom.cuda.queueSteps=false: none). */
    private final boolean queueSteps = CudaSettings.flag("fathom.cuda.queueSteps", true);

    public CudaRunner(ModelConfig cfg, ModelWeights w, int slots, int maxLen, TelemetrySink sink) {
        this(cfg, w, slots, maxLen, sink, null);
    }

    /**
     * @param placement per-layer weight tiers (ZeRO-Inference); null or nothing streaming = all resident.
     *                  HOST and NVME layers stream through a device ring of prefetch + 1 layer buffers
     *                  (CUDA graphs are off for such a model: every pass is launched kernel by kernel).
     */
    public CudaRunner(ModelConfig cfg, ModelWeights w, int slots, int maxLen, TelemetrySink sink, WeightPlacement placement) {
        this(cfg, w, slots, maxLen, sink, placement, false);
    }

    /** Same; {@code kvHost}: the KV cache in pinned host memory that the kernels read over the bus ({@code --kv-cache host}). */
    public CudaRunner(ModelConfig cfg, ModelWeights w, int slots, int maxLen, TelemetrySink sink, WeightPlacement placement, boolean kvHost) {
        this(cfg, w, slots, maxLen, sink, placement, kvHost, Precision.AUTO);
    }

    /** Same; {@code precision}: the weights' precision on the device (AUTO: the checkpoint's dtype; INT8: {@link Int8Layout}). */
    public CudaRunner(ModelConfig cfg, ModelWeights w, int slots, int maxLen, TelemetrySink sink, WeightPlacement placement, boolean kvHost,
                      Precision precision) {
        Tier[] tiers = null;
        if (placement != null && placement.streaming()) {
            tiers = new Tier[w.layers().size()];
            for (int i = 0; i < tiers.length; i++) tiers[i] = placement.tier(i);
        }
        this.model = tiers == null ? new CudaModel(cfg, w, slots, maxLen, sink, null, 0, null, kvHost, precision)
                : new CudaModel(cfg, w, slots, maxLen, sink, tiers, placement.prefetch(), placement.nvmeDir(), kvHost, precision);
        this.slots = slots;
        this.maxLen = maxLen;
        int vocab = cfg.vocabSize();
        // -Dfathom.cuda.flatLogits=true: the logits copied into one array and then split per row, as before forwardRows
        // (kept for the bench's same-run comparison)
        this.forward = CudaSettings.flag("fathom.cuda.flatLogits", false) ? (t, p, s, hr, ph) -> {
            float[] flat = model.forward(t, p, s, hr, ph);
            float[][] rows = new float[flat.length / vocab][vocab];
            for (int i = 0; i < rows.length; i++) System.arraycopy(flat, i * vocab, rows[i], 0, vocab);
            return rows;
        } : model::forwardRows;
    }

    /** Whether the model keeps its KV cache in bf16 (else float32). */
    boolean kvCacheBf16() { return model.kvCacheBf16(); }

    /** CUDA graphs for decode steps (on by default; -Dfathom.cuda.graphs=false turns them off). */
    public void setGraphs(boolean on) { model.setGraphs(on); }

    public long weightBytes() { return model.weightBytes(); }

    @Override public long weightBytesPerStep() { return model.weightBytes(); }

    /** The layer streamer, or null when every layer is resident. */
    DeviceStreamer streamer() { return model.streamer(); }

    /** The forward pass the prefill and decode calls go through: CudaModel.forwardRows's signature. */
    interface Forward { float[][] run(int[] tokens, int[] positions, int[] slotOf, int[] headRows, Phase phase); }

    /**
     * A prompt of {@code tokens[b][t]} for slots {@code slotIds} as one forward's rows (sequence-major): token, position
     * and slot of each row, and {@code head}, the row of each sequence's last position (null when every position's
     * logits are wanted).
     */
    record PromptRows(int[] tokens, int[] positions, int[] slots, int[] head) {
        static PromptRows of(int[] slotIds, int[][] tokens, boolean allPositions) {
            int b = slotIds.length, t = tokens[0].length, n = b * t;
            int[] tok = new int[n], pos = new int[n], sl = new int[n];
            for (int i = 0; i < b; i++)
                for (int j = 0; j < t; j++) {
                    tok[i * t + j] = tokens[i][j];
                    pos[i * t + j] = j;
                    sl[i * t + j] = slotIds[i];
                }
            int[] head = null;
            if (!allPositions) {
                head = new int[b];
                for (int i = 0; i < b; i++) head[i] = i * t + t - 1;
            }
            return new PromptRows(tok, pos, sl, head);
        }
    }

    /**
     * A prompt of {@code tokens[b][t]} for slots {@code slotIds} as one forward over b x t rows, the logits of every
     * position or of each sequence's last one, split per sequence. Shared by the one- and multi-GPU runners.
     */
    static float[][][] prefill(Forward f, int[] slotIds, int[][] tokens, boolean allPositions) {
        int b = slotIds.length, t = tokens[0].length;
        PromptRows r = PromptRows.of(slotIds, tokens, allPositions);
        float[][] logits = f.run(r.tokens(), r.positions(), r.slots(), r.head(), Phase.PROMPT);
        int per = allPositions ? t : 1;
        if (logits.length != b * per) throw new IllegalStateException(logits.length + " logit rows for " + b * per + " prompt rows");
        float[][][] out = new float[b][per][];
        for (int i = 0; i < b; i++)
            for (int j = 0; j < per; j++) out[i][j] = logits[i * per + j];
        return out;
    }

    /** One decode step of one token per slot through {@code f}, the logits split per sequence. */
    static float[][] decode(Forward f, int[] slotIds, int[] tokens, int[] positions) {
        float[][] logits = f.run(tokens, positions, slotIds, null, Phase.DECODE);
        if (logits.length != slotIds.length) throw new IllegalStateException(logits.length + " logit rows for " + slotIds.length + " sequences");
        return logits;
    }

    @Override
    public float[][][] prefill(int[] slotIds, int[][] tokens, boolean allPositions) {
        return prefill(forward, slotIds, tokens, allPositions);
    }

    @Override
    public float[][] decode(int[] slotIds, int[] tokens, int[] positions) {
        return decode(forward, slotIds, tokens, positions);
    }

    /**
     * The first greedy token of each prompt picked on the GPU ({@code argmax_rows} over the last positions' logits), 4
     * bytes per sequence copied back instead of its logits; {@code -Dfathom.cuda.gpuArgmax=false}: on the host.
     */
    @Override
    public int[] prefillGreedy(int[] slotIds, int[][] tokens) {
        if (!gpuArgmax) return ModelRunner.super.prefillGreedy(slotIds, tokens);
        PromptRows r = PromptRows.of(slotIds, tokens, false);
        int[] ids = model.forwardArgmax(r.tokens(), r.positions(), r.slots(), r.head(), Phase.PROMPT);
        if (ids.length != slotIds.length) throw new IllegalStateException(ids.length + " tokens for " + slotIds.length + " prompts");
        return ids;
    }

    /**
     * Greedy decode steps pick each sequence's token on the GPU ({@code argmax_rows}) and copy back 4 bytes per sequence
     * instead of its logits (128 KB at a 32000-token vocabulary); {@code -Dfathom.cuda.gpuArgmax=false} takes the
     * argmax of the copied logits on the host instead (the bench's same-run comparison).
     */
    @Override
    public int[] decodeGreedy(int[] slotIds, int[] tokens, int[] positions) {
        if (!gpuArgmax) return ModelRunner.super.decodeGreedy(slotIds, tokens, positions);
        int[] ids = model.forwardArgmax(tokens, positions, slotIds, null, Phase.DECODE);
        if (ids.length != slotIds.length) throw new IllegalStateException(ids.length + " tokens for " + slotIds.length + " sequences");
        return ids;
    }

    /**
     * Greedy steps queued one ahead ({@link CudaModel#enqueueGreedy}: each fed with the previous picks on the GPU, so the
     * GPU runs step after step without waiting for the host), where the model allows it ({@link CudaModel#canQueueGreedy})
     * and the picks are made on the GPU; {@code -Dfathom.cuda.queueSteps=false}: none (every step waits for the last).
     */
    @Override
    public GreedyQueue greedyQueue() {
        if (!gpuArgmax || !queueSteps || !model.canQueueGreedy()) return null;
        return new GreedyQueue() {
            @Override public void enqueue(int[] slotIds, int[] positions) { model.enqueueGreedy(positions, slotIds); }
            @Override public int[] take() { return model.takeGreedy(); }
            @Override public void drain() { model.drainGreedy(); }
        };
    }

    @Override public int maxSlots() { return slots; }
    @Override public int maxSeqLen() { return maxLen; }
    @Override public String layout() {
        DeviceStreamer s = model.streamer();
        String z = s == null ? "" : String.format("; %d layers streamed through a ring of %d (prefetch %d)", s.count(), s.slots(), s.prefetch());
        if (model.kvOnHost()) z += "; KV cache in host memory";
        return "1 rank on " + Cuda.get().name() + " (cuda:0, SBI-GEMM + fused kernels" + z + ")";
    }

    @Override
    public void close() { model.close(); }
}
