package dev.fathom.cuda;

import dev.fathom.engine.backend.ModelRunner;
import dev.fathom.engine.model.ModelConfig;
import dev.fathom.engine.model.ModelWeights;
import dev.fathom.engine.telemetry.TelemetryEvent.Phase;
import dev.fathom.engine.telemetry.TelemetrySink;

/** A single-GPU runner: prompt and token phases of one {@link CudaModel}. */
public final class CudaRunner implements ModelRunner {
    private final CudaModel model;
    private final int vocab;
    private final int slots;
    private final int maxLen;

    public CudaRunner(ModelConfig cfg, ModelWeights w, int slots, int maxLen, TelemetrySink sink) {
        this.model = new CudaModel(cfg, w, slots, maxLen, sink);
        this.vocab = cfg.vocabSize();
        this.slots = slots;
        this.maxLen = maxLen;
    }

    /** CUDA graphs for decode steps (on by default; -Dfathom.cuda.graphs=false turns them off). */
    public void setGraphs(boolean on) { model.setGraphs(on); }

    public long weightBytes() { return model.weightBytes(); }

    @Override
    public float[][][] prefill(int[] slotIds, int[][] tokens, boolean allPositions) {
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
        float[] logits = model.forward(tok, pos, sl, head, Phase.PROMPT);
        int per = allPositions ? t : 1;
        float[][][] out = new float[b][per][vocab];
        for (int i = 0; i < b; i++)
            for (int j = 0; j < per; j++) System.arraycopy(logits, (i * per + j) * vocab, out[i][j], 0, vocab);
        return out;
    }

    @Override
    public float[][] decode(int[] slotIds, int[] tokens, int[] positions) {
        int b = slotIds.length;
        float[] logits = model.forward(tokens, positions, slotIds, null, Phase.DECODE);
        float[][] out = new float[b][vocab];
        for (int i = 0; i < b; i++) System.arraycopy(logits, i * vocab, out[i], 0, vocab);
        return out;
    }

    @Override public int maxSlots() { return slots; }
    @Override public int maxSeqLen() { return maxLen; }
    @Override public String layout() { return "1 rank on " + Cuda.get().name() + " (cuda:0, SBI-GEMM + fused kernels)"; }

    @Override
    public void close() { model.close(); }
}
