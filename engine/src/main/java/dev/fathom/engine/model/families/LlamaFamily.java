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

/** Llama and Mistral: RMSNorm, RoPE, SwiGLU, grouped-query attention. */
public class LlamaFamily extends BaseFamily {
    static final WeightMap MAP = new WeightMap()
            .put(Slot.EMBED, "model.embed_tokens.weight")
            .put(Slot.FINAL_NORM_W, "model.norm.weight")
            .put(Slot.LM_HEAD, "lm_head.weight")
            .put(Slot.ATTN_NORM_W, "model.layers.{L}.input_layernorm.weight")
            .put(Slot.Q_W, "model.layers.{L}.self_attn.q_proj.weight")
            .put(Slot.Q_B, "model.layers.{L}.self_attn.q_proj.bias")
            .put(Slot.K_W, "model.layers.{L}.self_attn.k_proj.weight")
            .put(Slot.K_B, "model.layers.{L}.self_attn.k_proj.bias")
            .put(Slot.V_W, "model.layers.{L}.self_attn.v_proj.weight")
            .put(Slot.V_B, "model.layers.{L}.self_attn.v_proj.bias")
            .put(Slot.O_W, "model.layers.{L}.self_attn.o_proj.weight")
            .put(Slot.O_B, "model.layers.{L}.self_attn.o_proj.bias")
            .put(Slot.MLP_NORM_W, "model.layers.{L}.post_attention_layernorm.weight")
            .put(Slot.GATE_W, "model.layers.{L}.mlp.gate_proj.weight")
            .put(Slot.GATE_B, "model.layers.{L}.mlp.gate_proj.bias")
            .put(Slot.UP_W, "model.layers.{L}.mlp.up_proj.weight")
            .put(Slot.UP_B, "model.layers.{L}.mlp.up_proj.bias")
            .put(Slot.DOWN_W, "model.layers.{L}.mlp.down_proj.weight")
            .put(Slot.DOWN_B, "model.layers.{L}.mlp.down_proj.bias");

    @Override public String id() { return "llama"; }
    @Override public List<String> modelTypes() { return List.of("llama", "mistral"); }
    @Override public WeightMap weightMap() { return MAP; }

    @Override
    public ModelConfig parseConfig(ConfigReader r) {
        int hidden = r.requireInt("hidden_size");
        int heads = r.requireInt("num_attention_heads");
        int kv = r.optInt(heads, "num_key_value_heads");
        checkHeads(r, hidden, heads, kv);
        int headDim = r.optInt(hidden / heads, "head_dim");
        boolean attnBias = r.optBool(false, "attention_bias");
        boolean mlpBias = r.optBool(false, "mlp_bias");
        return new ModelConfig(id(), r.optString("llama", "model_type"), hidden, r.requireInt("num_hidden_layers"), heads, kv, headDim,
                r.requireInt("intermediate_size"), r.requireInt("vocab_size"), r.optInt(2048, "max_position_embeddings"),
                ModelConfig.Norm.RMS_NORM, (float) r.optDouble(1e-6, "rms_norm_eps"), r.activation("silu", "hidden_act"), true,
                headDim, r.rope(10000.0), false, false, 0, r.optBool(false, "tie_word_embeddings"),
                attnBias, attnBias, mlpBias, 0, 0, eosBos(r), r.intList("eos_token_id"), r.optString("float32", "torch_dtype", "dtype"));
    }

    @Override
    protected LayerWeights bindLayer(Checkpoint ck, ModelConfig c, WeightMap m, int l, Arena arena) {
        int h = c.hiddenSize();
        Linear q = linear(ck, m, Slot.Q_W, Slot.Q_B, l, c.qDim(), h, c.attnBias());
        Linear k = linear(ck, m, Slot.K_W, Slot.K_B, l, c.kvDim(), h, c.attnBias());
        Linear v = linear(ck, m, Slot.V_W, Slot.V_B, l, c.kvDim(), h, c.attnBias());
        Linear o = linear(ck, m, Slot.O_W, Slot.O_B, l, h, c.qDim(), c.outBias());
        var an = ck.require(m.name(Slot.ATTN_NORM_W, l), h);
        var mn = ck.require(m.name(Slot.MLP_NORM_W, l), h);
        return bindMlp(ck, c, m, l, an, q, k, v, o, mn);
    }

    protected LayerWeights bindMlp(Checkpoint ck, ModelConfig c, WeightMap m, int l, dev.fathom.engine.tensor.Tensor an,
                                   Linear q, Linear k, Linear v, Linear o, dev.fathom.engine.tensor.Tensor mn) {
        int h = c.hiddenSize(), f = c.intermediateSize();
        Linear gate = linear(ck, m, Slot.GATE_W, Slot.GATE_B, l, f, h, c.mlpBias());
        Linear up = linear(ck, m, Slot.UP_W, Slot.UP_B, l, f, h, c.mlpBias());
        Linear down = linear(ck, m, Slot.DOWN_W, Slot.DOWN_B, l, h, f, c.mlpBias());
        return new LayerWeights(an, null, q, k, v, o, mn, null, up, gate, down, null, List.of());
    }
}
