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
 * GPT-NeoX / Pythia: partial rotary, parallel residual, fused query_key_value interleaved per head
 * ([q_h, k_h, v_h] for each head h); binding regroups it into separate q, k, v copies.
 */
public final class GptNeoXFamily extends BaseFamily {
    private static final WeightMap MAP = new WeightMap()
            .put(Slot.EMBED, "gpt_neox.embed_in.weight")
            .put(Slot.FINAL_NORM_W, "gpt_neox.final_layer_norm.weight")
            .put(Slot.FINAL_NORM_B, "gpt_neox.final_layer_norm.bias")
            .put(Slot.LM_HEAD, "embed_out.weight")
            .put(Slot.ATTN_NORM_W, "gpt_neox.layers.{L}.input_layernorm.weight")
            .put(Slot.ATTN_NORM_B, "gpt_neox.layers.{L}.input_layernorm.bias")
            .put(Slot.QKV_W, "gpt_neox.layers.{L}.attention.query_key_value.weight")
            .put(Slot.QKV_B, "gpt_neox.layers.{L}.attention.query_key_value.bias")
            .put(Slot.O_W, "gpt_neox.layers.{L}.attention.dense.weight")
            .put(Slot.O_B, "gpt_neox.layers.{L}.attention.dense.bias")
            .put(Slot.MLP_NORM_W, "gpt_neox.layers.{L}.post_attention_layernorm.weight")
            .put(Slot.MLP_NORM_B, "gpt_neox.layers.{L}.post_attention_layernorm.bias")
            .put(Slot.UP_W, "gpt_neox.layers.{L}.mlp.dense_h_to_4h.weight")
            .put(Slot.UP_B, "gpt_neox.layers.{L}.mlp.dense_h_to_4h.bias")
            .put(Slot.DOWN_W, "gpt_neox.layers.{L}.mlp.dense_4h_to_h.weight")
            .put(Slot.DOWN_B, "gpt_neox.layers.{L}.mlp.dense_4h_to_h.bias");

    @Override public String id() { return "gpt_neox"; }
    @Override public List<String> modelTypes() { return List.of("gpt_neox"); }
    @Override public WeightMap weightMap() { return MAP; }

    @Override
    public ModelConfig parseConfig(ConfigReader r) {
        int hidden = r.requireInt("hidden_size");
        int heads = r.requireInt("num_attention_heads");
        if (hidden % heads != 0) throw r.unsupported("hidden_size (" + hidden + ") must be a multiple of num_attention_heads (" + heads + "): fix config.json.");
        int hd = hidden / heads;
        int rot = (int) (hd * r.partialRotary(0.25));
        boolean bias = r.optBool(true, "attention_bias");
        return new ModelConfig(id(), "gpt_neox", hidden, r.requireInt("num_hidden_layers"), heads, heads, hd,
                r.requireInt("intermediate_size"), r.requireInt("vocab_size"), r.optInt(2048, "max_position_embeddings"),
                ModelConfig.Norm.LAYER_NORM, (float) r.optDouble(1e-5, "layer_norm_eps"), r.activation("gelu", "hidden_act"), false,
                rot, r.rope(10000.0), r.optBool(true, "use_parallel_residual"), false, 0, r.optBool(false, "tie_word_embeddings"),
                bias, bias, true, 0, 0, eosBos(r), r.intList("eos_token_id"), r.optString("float32", "torch_dtype", "dtype"));
    }

    @Override
    protected LayerWeights bindLayer(Checkpoint ck, ModelConfig c, WeightMap m, int l, Arena arena) {
        int h = c.hiddenSize(), f = c.intermediateSize(), nh = c.numHeads(), hd = c.headDim();
        Tensor qkvW = ck.require(m.name(Slot.QKV_W, l), 3L * h, h);
        Tensor qkvB = c.attnBias() ? ck.require(m.name(Slot.QKV_B, l), 3L * h) : null;
        Linear[] parts = new Linear[3];
        String[] names = {"q", "k", "v"};
        for (int p = 0; p < 3; p++) {
            int[] rows = new int[h];
            for (int head = 0; head < nh; head++)
                for (int d = 0; d < hd; d++) rows[head * hd + d] = head * 3 * hd + p * hd + d;
            String n = "layers." + l + "." + names[p];
            parts[p] = new Linear(gatherRows(qkvW, rows, n + ".weight", arena), qkvB == null ? null : gatherRows(qkvB.reshape(3L * h, 1), rows, n + ".bias", arena).reshape(h));
        }
        Linear o = linear(ck, m, Slot.O_W, Slot.O_B, l, h, h, c.outBias());
        Linear up = linear(ck, m, Slot.UP_W, Slot.UP_B, l, f, h, true);
        Linear down = linear(ck, m, Slot.DOWN_W, Slot.DOWN_B, l, h, f, true);
        return new LayerWeights(vec(ck, m, Slot.ATTN_NORM_W, l, h), vec(ck, m, Slot.ATTN_NORM_B, l, h), parts[0], parts[1], parts[2], o,
                vec(ck, m, Slot.MLP_NORM_W, l, h), vec(ck, m, Slot.MLP_NORM_B, l, h), up, null, down, null, List.of());
    }
}
