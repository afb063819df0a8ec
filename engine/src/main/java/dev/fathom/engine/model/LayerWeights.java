package dev.fathom.engine.model;

import java.util.List;

/**
 * One decoder layer's weights in canonical form (every projection [out, in]).
 *
 * @param attnNormW  [hidden]
 * @param attnNormB  [hidden] or null (RMSNorm)
 * @param q          [heads*headDim, hidden]
 * @param k          [kvHeads*headDim, hidden]
 * @param v          [kvHeads*headDim, hidden]
 * @param o          [hidden, heads*headDim]
 * @param mlpNormW   [hidden]
 * @param mlpNormB   [hidden] or null
 * @param up         [ffn, hidden] (dense MLP; null for MoE)
 * @param gate       [ffn, hidden] (gated MLP) or null
 * @param down       [hidden, ffn] (null for MoE)
 * @param router     [experts, hidden] or null
 * @param experts    per expert (gate, up, down), empty for dense layers
 */
public record LayerWeights(
        dev.fathom.engine.tensor.Tensor attnNormW,
        dev.fathom.engine.tensor.Tensor attnNormB,
        Linear q, Linear k, Linear v, Linear o,
        dev.fathom.engine.tensor.Tensor mlpNormW,
        dev.fathom.engine.tensor.Tensor mlpNormB,
        Linear up, Linear gate, Linear down,
        dev.fathom.engine.tensor.Tensor router,
        List<Expert> experts) {

    /** One MoE expert: down(act(gate x) * up x). */
    public record Expert(Linear gate, Linear up, Linear down) {
        public long bytes() { return gate.bytes() + up.bytes() + down.bytes(); }
    }

    /** Bytes of all weights of this layer. */
    public long bytes() {
        long b = q.bytes() + k.bytes() + v.bytes() + o.bytes() + attnNormW.byteSize() + mlpNormW.byteSize();
        if (attnNormB != null) b += attnNormB.byteSize();
        if (mlpNormB != null) b += mlpNormB.byteSize();
        if (up != null) b += up.bytes();
        if (gate != null) b += gate.bytes();
        if (down != null) b += down.bytes();
        if (router != null) b += router.byteSize();
        for (Expert e : experts) b += e.bytes();
        return b;
    }
}
