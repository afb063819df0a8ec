package dev.fathom.engine.model.families;

import dev.fathom.engine.checkpoint.Checkpoint;
import dev.fathom.engine.model.ConfigReader;
import dev.fathom.engine.model.LayerWeights;
import dev.fathom.engine.model.Linear;
import dev.fathom.engine.model.ModelConfig;
import dev.fathom.engine.model.Slot;
import dev.fathom.engine.model.WeightMap;
import dev.fathom.engine.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/** Mixtral: the Llama layer with a top-k routed mixture of SwiGLU experts in place of the MLP. */
public final class MixtralFamily extends LlamaFamily {
    /** Llama's attention names; the MLP slots give way to the router and the experts. */
    private static final WeightMap MAP = LlamaFamily.MAP.copy()
            .remove(Slot.GATE_W, Slot.GATE_B, Slot.UP_W, Slot.UP_B, Slot.DOWN_W, Slot.DOWN_B)
            .put(Slot.ROUTER_W, "model.layers.{L}.block_sparse_moe.gate.weight")
            .put(Slot.EXPERT_GATE_W, "model.layers.{L}.block_sparse_moe.experts.{E}.w1.weight")
            .put(Slot.EXPERT_DOWN_W, "model.layers.{L}.block_sparse_moe.experts.{E}.w2.weight")
            .put(Slot.EXPERT_UP_W, "model.layers.{L}.block_sparse_moe.experts.{E}.w3.weight");

    @Override public String id() { return "mixtral"; }
    @Override public List<String> modelTypes() { return List.of("mixtral"); }
    @Override public WeightMap weightMap() { return MAP; }

    @Override
    public ModelConfig parseConfig(ConfigReader r) {
        ModelConfig b = super.parseConfig(r);
        int experts = r.requireInt("num_local_experts");
        int topK = r.requireInt("num_experts_per_tok");
        if (topK > experts) throw r.unsupported("num_experts_per_tok (" + topK + ") exceeds num_local_experts (" + experts + "): fix config.json.");
        return new ModelConfig(id(), "mixtral", b.hiddenSize(), b.numLayers(), b.numHeads(), b.numKvHeads(), b.headDim(),
                b.intermediateSize(), b.vocabSize(), b.maxPositions(), b.norm(), (float) r.optDouble(1e-5, "rms_norm_eps"),
                b.activation(), true, b.rotaryDim(), r.rope(1e6), false, false, 0, b.tiedEmbeddings(), false, false, false,
                experts, topK, b.bosTokenId(), b.eosTokenIds(), b.torchDtype());
    }

    @Override
    protected LayerWeights bindMlp(Checkpoint ck, ModelConfig c, WeightMap m, int l, Tensor an,
                                   Linear q, Linear k, Linear v, Linear o, Tensor mn) {
        int h = c.hiddenSize(), f = c.intermediateSize();
        Tensor router = ck.require(m.name(Slot.ROUTER_W, l), c.numExperts(), h);
        List<LayerWeights.Expert> experts = new ArrayList<>();
        for (int e = 0; e < c.numExperts(); e++) {
            experts.add(new LayerWeights.Expert(
                    new Linear(ck.require(m.name(Slot.EXPERT_GATE_W, l, e), f, h), null),
                    new Linear(ck.require(m.name(Slot.EXPERT_UP_W, l, e), f, h), null),
                    new Linear(ck.require(m.name(Slot.EXPERT_DOWN_W, l, e), h, f), null)));
        }
        return new LayerWeights(an, null, q, k, v, o, mn, null, null, null, null, router, List.copyOf(experts));
    }
}
