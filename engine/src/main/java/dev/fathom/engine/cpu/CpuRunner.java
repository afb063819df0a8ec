package dev.fathom.engine.cpu;

import dev.fathom.engine.backend.ModelRunner;
import dev.fathom.engine.telemetry.TelemetryEvent.Phase;

/** A single-rank CPU runner over one {@link CpuModel} holding every layer. */
public final class CpuRunner implements ModelRunner {
    private final CpuModel model;
    private final int vocab;
    private final int slots;
    private final int maxLen;
    private final String layout;

    public CpuRunner(CpuModel model, int vocab, int slots, int maxLen, String layout) {
        this.model = model;
        this.vocab = vocab;
        this.slots = slots;
        this.maxLen = maxLen;
        this.layout = layout;
    }

    @Override
    public float[][][] prefill(int[] slotIds, int[][] tokens, boolean allPositions) {
        int b = slotIds.length, t = tokens[0].length;
        int[] flat = new int[b * t];
        for (int i = 0; i < b; i++) System.arraycopy(tokens[i], 0, flat, i * t, t);
        CpuModel.Batch batch = new CpuModel.Batch(slotIds, new int[b], t, Phase.PROMPT);
        float[] x = model.embed(flat, batch);
        model.layers(x, batch);
        int[] rows = null;
        if (!allPositions) {
            rows = new int[b];
            for (int i = 0; i < b; i++) rows[i] = i * t + t - 1;
        }
        float[] logits = model.logits(x, b * t, rows, Phase.PROMPT);
        int per = allPositions ? t : 1;
        float[][][] out = new float[b][per][vocab];
        for (int i = 0; i < b; i++)
            for (int j = 0; j < per; j++) System.arraycopy(logits, (i * per + j) * vocab, out[i][j], 0, vocab);
        return out;
    }

    @Override
    public float[][] decode(int[] slotIds, int[] tokens, int[] positions) {
        int b = slotIds.length;
        CpuModel.Batch batch = new CpuModel.Batch(slotIds, positions, 1, Phase.DECODE);
        float[] x = model.embed(tokens, batch);
        model.layers(x, batch);
        float[] logits = model.logits(x, b, null, Phase.DECODE);
        float[][] out = new float[b][vocab];
        for (int i = 0; i < b; i++) System.arraycopy(logits, i * vocab, out[i], 0, vocab);
        return out;
    }

    @Override public int maxSlots() { return slots; }
    @Override public int maxSeqLen() { return maxLen; }
    @Override public String layout() { return layout; }
    public CpuModel model() { return model; }

    @Override
    public void close() {
        try {
            model.layerSource().close();
        } finally {
            model.kernels().close();
        }
    }
}
