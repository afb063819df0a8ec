package dev.fathom.engine.model.families;

import dev.fathom.engine.checkpoint.Checkpoint;
import dev.fathom.engine.model.ConfigReader;
import dev.fathom.engine.model.LayerWeights;
import dev.fathom.engine.model.Linear;
import dev.fathom.engine.model.ModelConfig;
import dev.fathom.engine.model.Slot;
import dev.fathom.engine.model.WeightMap;
import dev.fathom.engine.tensor.Tensor;

import java.lang.foreign.Arena;
import java.util.List;

/**
 * GPT-2: learned positions, LayerNorm, GELU(tanh). Its Conv1D weights are stored [in, out] and the
 * q/k/v projections fused in c_attn; binding transposes them once into [out, in] copies.
 */
public final class Gpt2Family extends BaseFamily {
    private static final WeightMap MAP = new WeightMap()
            .put(Slot.EMBED, "transformer.wte.weight")
            .put(Slot.POS_EMBED, "transformer.wpe.weight")
            .put(Slot.FINAL_NORM_W, "transformer.ln_f.weight")
            .put(Slot.FINAL_NORM_B, "transformer.ln_f.bias")
            .put(Slot.LM_HEAD, "lm_head.weight")
            .put(Slot.ATTN_NORM_W, "transformer.h.{L}.ln_1.weight")
            .put(Slot.ATTN_NORM_B, "transformer.h.{L}.ln_1.bias")
            .put(Slot.QKV_W, "transformer.h.{L}.attn.c_attn.weight")
            .put(Slot.QKV_B, "transformer.h.{L}.attn.c_attn.bias")
            .put(Slot.O_W, "transformer.h.{L}.attn.c_proj.weight")
            .put(Slot.O_B, "transformer.h.{L}.attn.c_proj.bias")
            .put(Slot.MLP_NORM_W, "transformer.h.{L}.ln_2.weight")
            .put(Slot.MLP_NORM_B, "transformer.h.{L}.ln_2.bias")
            .put(Slot.UP_W, "transformer.h.{L}.mlp.c_fc.weight")
            .put(Slot.UP_B, "transformer.h.{L}.mlp.c_fc.bias")
            .put(Slot.DOWN_W, "transformer.h.{L}.mlp.c_proj.weight")
            .put(Slot.DOWN_B, "transformer.h.{L}.mlp.c_proj.bias");

    @Override public String id() { return "gpt2"; }
    @Override public List<String> modelTypes() { return List.of("gpt2"); }
    @Override public WeightMap weightMap() { return MAP; }

    @Override
    public ModelConfig parseConfig(ConfigReader r) {
        int hidden = r.requireInt("n_embd", "hidden_size");
        int heads = r.requireInt("n_head", "num_attention_heads");
        if (hidden % heads != 0) throw r.unsupported("n_embd (" + hidden + ") must be a multiple of n_head (" + heads + "): fix config.json.");
        if (r.optBool(false, "scale_attn_by_inverse_layer_idx"))
            throw r.unsupported("scale_attn_by_inverse_layer_idx=true is not supported: Fathom runs standard GPT-2 attention.");
        int inner = r.optInt(4 * hidden, "n_inner");
        return new ModelConfig(id(), "gpt2", hidden, r.requireInt("n_layer", "num_hidden_layers"), heads, heads, hidden / heads, inner,
                r.requireInt("vocab_size"), r.requireInt("n_positions", "max_position_embeddings"), ModelConfig.Norm.LAYER_NORM,
                (float) r.optDouble(1e-5, "layer_norm_epsilon"), r.activation("gelu_new", "activation_function"), false,
                0, null, false, true, 0, r.optBool(true, "tie_word_embeddings"), true, true, true, 0, 0,
                eosBos(r), r.intList("eos_token_id"), r.optString("float32", "torch_dtype", "dtype"));
    }

    @Override
    protected LayerWeights bindLayer(Checkpoint ck, ModelConfig c, WeightMap m, int l, Arena arena) {
        int h = c.hiddenSize(), f = c.intermediateSize();
        Tensor qkvW = transpose(ck.require(m.name(Slot.QKV_W, l), h, 3L * h), "h." + l + ".qkv", arena);
        Tensor qkvB = ck.require(m.name(Slot.QKV_B, l), 3L * h);
        Linear q = new Linear(qkvW.sliceRows(0, h), qkvB.slice1d(0, h));
        Linear k = new Linear(qkvW.sliceRows(h, 2 * h), qkvB.slice1d(h, 2 * h));
        Linear v = new Linear(qkvW.sliceRows(2 * h, 3 * h), qkvB.slice1d(2 * h, 3 * h));
        Linear o = new Linear(transpose(ck.require(m.name(Slot.O_W, l), h, h), "h." + l + ".o", arena), ck.require(m.name(Slot.O_B, l), h));
        Linear up = new Linear(transpose(ck.require(m.name(Slot.UP_W, l), h, f), "h." + l + ".fc", arena), ck.require(m.name(Slot.UP_B, l), f));
        Linear down = new Linear(transpose(ck.require(m.name(Slot.DOWN_W, l), f, h), "h." + l + ".proj", arena), ck.require(m.name(Slot.DOWN_B, l), h));
        return new LayerWeights(vec(ck, m, Slot.ATTN_NORM_W, l, h), vec(ck, m, Slot.ATTN_NORM_B, l, h), q, k, v, o,
                vec(ck, m, Slot.MLP_NORM_W, l, h), vec(ck, m, Slot.MLP_NORM_B, l, h), up, null, down, null, List.of());
    }
}
