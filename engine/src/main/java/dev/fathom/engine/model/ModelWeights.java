package dev.fathom.engine.model;

import dev.fathom.engine.tensor.Tensor;

import java.util.List;

/**
 * All weights of a model in canonical form.
 *
 * @param embed      [vocab, hidden]
 * @param posEmbed   [maxPositions + offset, hidden] or null
 * @param finalNormW [hidden]
 * @param finalNormB [hidden] or null
 * @param lmHead     [vocab, hidden] (the embedding itself when tied)
 * @param layers     decoder layers
 */
public record ModelWeights(Tensor embed, Tensor posEmbed, Tensor finalNormW, Tensor finalNormB, Tensor lmHead,
                           List<LayerWeights> layers) {
    public long bytes() {
        long b = embed.byteSize() + finalNormW.byteSize() + (finalNormB == null ? 0 : finalNormB.byteSize());
        if (posEmbed != null) b += posEmbed.byteSize();
        if (lmHead != embed) b += lmHead.byteSize();
        for (LayerWeights l : layers) b += l.bytes();
        return b;
    }

    /** Bytes read per decode token: everything but the embedding tables (one row each is negligible). */
    public long bytesPerToken() {
        long b = lmHead.byteSize() + finalNormW.byteSize();
        for (LayerWeights l : layers) b += l.bytes();
        return b;
    }
}
