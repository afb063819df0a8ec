package dev.fathom.engine.model;

import java.util.List;

/**
 * A model's shape and recipe, normalised across families. Produced by a {@link ModelFamily} from
 * {@code config.json}; everything downstream (planning, backends, export) reads only this.
 *
 * @param family            family id: gpt2, gpt_neox, opt, llama, mixtral
 * @param modelType         {@code model_type} as written in config.json (e.g. mistral for the llama family)
 * @param hiddenSize        model width
 * @param numLayers         decoder layers
 * @param numHeads          attention heads
 * @param numKvHeads        key/value heads (== numHeads for multi-head attention)
 * @param headDim           width of one head
 * @param intermediateSize  MLP (or expert) inner width
 * @param vocabSize         rows of the embedding
 * @param maxPositions      longest context the model supports
 * @param norm              LayerNorm (with bias) or RMSNorm
 * @param normEps           epsilon of the norms
 * @param activation        MLP activation
 * @param gatedMlp          SwiGLU-style gate * up (llama, mixtral)
 * @param rotaryDim         dimensions of each head that RoPE rotates (0 = no RoPE)
 * @param rope              RoPE base and scaling (null when rotaryDim == 0)
 * @param parallelResidual  x + attn(ln1 x) + mlp(ln2 x) (GPT-NeoX)
 * @param learnedPositions  a learned position embedding is added to the token embedding
 * @param positionOffset    offset added to positions before the learned lookup (OPT: 2)
 * @param tiedEmbeddings    lm_head shares the token embedding
 * @param attnBias          q/k/v projections have biases
 * @param outBias           attention output projection has a bias
 * @param mlpBias           MLP projections have biases
 * @param numExperts        MoE experts per layer (0 = dense)
 * @param expertsPerToken   experts chosen per token (top-k)
 * @param bosTokenId        beginning-of-sequence id, or -1
 * @param eosTokenIds       end-of-sequence ids (empty = none)
 * @param torchDtype        dtype written in config.json (informational)
 */
public record ModelConfig(
        String family,
        String modelType,
        int hiddenSize,
        int numLayers,
        int numHeads,
        int numKvHeads,
        int headDim,
        int intermediateSize,
        int vocabSize,
        int maxPositions,
        Norm norm,
        float normEps,
        Activation activation,
        boolean gatedMlp,
        int rotaryDim,
        Rope rope,
        boolean parallelResidual,
        boolean learnedPositions,
        int positionOffset,
        boolean tiedEmbeddings,
        boolean attnBias,
        boolean outBias,
        boolean mlpBias,
        int numExperts,
        int expertsPerToken,
        int bosTokenId,
        List<Integer> eosTokenIds,
        String torchDtype) {

    public enum Norm { LAYER_NORM, RMS_NORM }

    public enum Activation { GELU, GELU_TANH, RELU, SILU }

    /**
     * RoPE frequencies.
     *
     * @param theta      base
     * @param type       default, linear or llama3
     * @param factor     scaling factor (linear, llama3)
     * @param lowFreqFactor   llama3
     * @param highFreqFactor  llama3
     * @param originalMaxPositions llama3
     */
    public record Rope(double theta, String type, double factor, double lowFreqFactor, double highFreqFactor,
                       int originalMaxPositions) {
        public static Rope plain(double theta) { return new Rope(theta, "default", 1, 1, 4, 8192); }

        /** Inverse frequencies for {@code rotaryDim} dimensions (rotaryDim/2 of them). */
        public double[] inverseFrequencies(int rotaryDim) {
            int half = rotaryDim / 2;
            double[] inv = new double[half];
            for (int i = 0; i < half; i++) {
                double f = 1.0 / Math.pow(theta, (2.0 * i) / rotaryDim);
                switch (type) {
                    case "linear" -> f /= factor;
                    case "llama3" -> {
                        double lowWavelen = originalMaxPositions / lowFreqFactor;
                        double highWavelen = originalMaxPositions / highFreqFactor;
                        double wavelen = 2 * Math.PI / f;
                        if (wavelen > lowWavelen) f = f / factor;
                        else if (wavelen >= highWavelen) {
                            double smooth = (originalMaxPositions / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
                            f = (1 - smooth) * f / factor + smooth * f;
                        }
                    }
                    default -> { }
                }
                inv[i] = f;
            }
            return inv;
        }
    }

    public int qDim() { return numHeads * headDim; }
    public int kvDim() { return numKvHeads * headDim; }
    public boolean isMoe() { return numExperts > 0; }

    /** Parameter count (weights that matter for memory), computed from the shape. */
    public long parameterCount() {
        long h = hiddenSize;
        long attn = h * qDim() + 2 * h * kvDim() + (long) qDim() * h;
        long mlpOne = (gatedMlp ? 3 : 2) * h * intermediateSize;
        long mlp = isMoe() ? numExperts * mlpOne + (long) numExperts * h : mlpOne;
        long perLayer = attn + mlp + 4 * h;
        long emb = (long) vocabSize * h * (tiedEmbeddings ? 1 : 2) + (learnedPositions ? (long) (maxPositions + positionOffset) * h : 0);
        return perLayer * numLayers + emb + 2 * h;
    }

    public String describe() {
        long n = parameterCount();
        String params = n >= 1e9 ? String.format("%.2fB", n / 1e9) : String.format("%.1fM", n / 1e6);
        return String.format("%s: %d layers, hidden %d, %d heads (%d kv, dim %d), ffn %d%s, vocab %d, %s params",
                family, numLayers, hiddenSize, numHeads, numKvHeads, headDim, intermediateSize,
                isMoe() ? ", " + numExperts + " experts top-" + expertsPerToken : "", vocabSize, params);
    }
}
