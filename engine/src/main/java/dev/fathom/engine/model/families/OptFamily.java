package dev.fathom.engine.model.families;

import dev.fathom.engine.checkpoint.Checkpoint;
import dev.fathom.engine.model.ConfigReader;
import dev.fathom.engine.model.LayerWeights;
import dev.fathom.engine.model.Linear;
import dev.fathom.engine.model.ModelConfig;
import dev.fathom.engine.model.Slot;
import dev.fathom.engine.model.WeightMap;

import java.lang.foreign.Arena;
import java.util.List;

/** OPT: learned positions offset by 2, pre-LayerNorm, ReLU MLP, biases everywhere. */
public final class OptFamily extends BaseFamily {
    private static final WeightMap MAP = new WeightMap()
            .put(Slot.EMBED, "model.decoder.embed_tokens.weight")
            .put(Slot.POS_EMBED, "model.decoder.embed_positions.weight")
            .put(Slot.FINAL_NORM_W, "model.decoder.final_layer_norm.weight")
            .put(Slot.FINAL_NORM_B, "model.decoder.final_layer_norm.bias")
            .put(Slot.LM_HEAD, "lm_head.weight")
            .put(Slot.ATTN_NORM_W, "model.decoder.layers.{L}.self_attn_layer_norm.weight")
            .put(Slot.ATTN_NORM_B, "model.decoder.layers.{L}.self_attn_layer_norm.bias")
            .put(Slot.Q_W, "model.decoder.layers.{L}.self_attn.q_proj.weight")
            .put(Slot.Q_B, "model.decoder.layers.{L}.self_attn.q_proj.bias")
            .put(Slot.K_W, "model.decoder.layers.{L}.self_attn.k_proj.weight")
            .put(Slot.K_B, "model.decoder.layers.{L}.self_attn.k_proj.bias")
            .put(Slot.V_W, "model.decoder.layers.{L}.self_attn.v_proj.weight")
            .put(Slot.V_B, "model.decoder.layers.{L}.self_attn.v_proj.bias")
            .put(Slot.O_W, "model.decoder.layers.{L}.self_attn.out_proj.weight")
            .put(Slot.O_B, "model.decoder.layers.{L}.self_attn.out_proj.bias")
            .put(Slot.MLP_NORM_W, "model.decoder.layers.{L}.final_layer_norm.weight")
            .put(Slot.MLP_NORM_B, "model.decoder.layers.{L}.final_layer_norm.bias")
            .put(Slot.UP_W, "model.decoder.layers.{L}.fc1.weight")
            .put(Slot.UP_B, "model.decoder.layers.{L}.fc1.bias")
            .put(Slot.DOWN_W, "model.decoder.layers.{L}.fc2.weight")
            .put(Slot.DOWN_B, "model.decoder.layers.{L}.fc2.bias");

    @Override public String id() { return "opt"; }
    @Override public List<String> modelTypes() { return List.of("opt"); }
    @Override public WeightMap weightMap() { return MAP; }

    @Override
    public ModelConfig parseConfig(ConfigReader r) {
        int hidden = r.requireInt("hidden_size");
        int heads = r.requireInt("num_attention_heads");
        if (hidden % heads != 0) throw r.unsupported("hidden_size (" + hidden + ") must be a multiple of num_attention_heads (" + heads + "): fix config.json.");
        if (!r.optBool(true, "do_layer_norm_before"))
            throw r.unsupported("do_layer_norm_before=false (post-LayerNorm OPT, e.g. opt-350m) is not supported yet: use another OPT size.");
        if (r.optInt(hidden, "word_embed_proj_dim") != hidden)
            throw r.unsupported("word_embed_proj_dim differs from hidden_size (project_in/project_out) and is not supported yet: use another OPT size.");
        boolean bias = r.optBool(true, "enable_bias");
        return new ModelConfig(id(), "opt", hidden, r.requireInt("num_hidden_layers"), heads, heads, hidden / heads,
                r.requireInt("ffn_dim"), r.requireInt("vocab_size"), r.requireInt("max_position_embeddings"),
                ModelConfig.Norm.LAYER_NORM, 1e-5f, r.activation("relu", "activation_function"), false, 0, null, false,
                true, 2, r.optBool(true, "tie_word_embeddings"), bias, bias, bias, 0, 0, eosBos(r), r.intList("eos_token_id"),
                r.optString("float32", "torch_dtype", "dtype"));
    }

    @Override
    protected LayerWeights bindLayer(Checkpoint ck, ModelConfig c, WeightMap m, int l, Arena arena) {
        int h = c.hiddenSize(), f = c.intermediateSize();
        boolean b = c.attnBias();
        return new LayerWeights(vec(ck, m, Slot.ATTN_NORM_W, l, h), vec(ck, m, Slot.ATTN_NORM_B, l, h),
                linear(ck, m, Slot.Q_W, Slot.Q_B, l, h, h, b), linear(ck, m, Slot.K_W, Slot.K_B, l, h, h, b),
                linear(ck, m, Slot.V_W, Slot.V_B, l, h, h, b), linear(ck, m, Slot.O_W, Slot.O_B, l, h, h, b),
                vec(ck, m, Slot.MLP_NORM_W, l, h), vec(ck, m, Slot.MLP_NORM_B, l, h),
                linear(ck, m, Slot.UP_W, Slot.UP_B, l, f, h, c.mlpBias()), null,
                linear(ck, m, Slot.DOWN_W, Slot.DOWN_B, l, h, f, c.mlpBias()), null, List.of());
    }
}
