package dev.fathom.engine.synthetic;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fathom.engine.EngineException;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Named model shapes for random-weight models, written as the config.json their family reads. */
public final class SyntheticPreset {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Map<String, SyntheticPreset> PRESETS = new LinkedHashMap<>();

    private final String name;
    private final String description;
    private final ObjectNode config;

    private SyntheticPreset(String name, String description, ObjectNode config) {
        this.name = name;
        this.description = description;
        this.config = config;
    }

    public String name() { return name; }
    public String description() { return description; }
    /** A fresh copy of the config.json this preset writes. */
    public ObjectNode config() { return config.deepCopy(); }

    private static ObjectNode llama(int hidden, int layers, int heads, int kv, int ffn, int vocab, int maxPos) {
        ObjectNode c = JSON.createObjectNode();
        c.put("model_type", "llama").putArray("architectures").add("LlamaForCausalLM");
        c.put("hidden_size", hidden).put("num_hidden_layers", layers).put("num_attention_heads", heads)
                .put("num_key_value_heads", kv).put("intermediate_size", ffn).put("vocab_size", vocab)
                .put("max_position_embeddings", maxPos).put("rms_norm_eps", 1e-5).put("hidden_act", "silu")
                .put("rope_theta", 10000.0).put("tie_word_embeddings", false).put("bos_token_id", 1).put("eos_token_id", 2);
        return c;
    }

    private static ObjectNode gpt2(int hidden, int layers, int heads, int vocab, int pos) {
        ObjectNode c = JSON.createObjectNode();
        c.put("model_type", "gpt2").putArray("architectures").add("GPT2LMHeadModel");
        c.put("n_embd", hidden).put("n_layer", layers).put("n_head", heads).put("vocab_size", vocab).put("n_positions", pos)
                .put("activation_function", "gelu_new").put("layer_norm_epsilon", 1e-5).put("bos_token_id", 50256).put("eos_token_id", 50256);
        return c;
    }

    private static void add(String name, String description, ObjectNode config) {
        PRESETS.put(name, new SyntheticPreset(name, description, config));
    }

    static {
        add("gpt2-124m", "GPT-2 small shape (124M)", gpt2(768, 12, 12, 50257, 1024));
        add("gpt2-xl", "GPT-2 XL shape (1.5B)", gpt2(1600, 48, 25, 50257, 1024));
        add("llama-tiny", "a tiny Llama for quick checks (hidden 256, 4 layers, GQA)", llama(256, 4, 8, 4, 688, 2048, 2048));
        add("llama-1.1b", "TinyLlama-1.1B shape", llama(2048, 22, 32, 4, 5632, 32000, 2048));
        add("llama-7b", "Llama-2-7B shape", llama(4096, 32, 32, 32, 11008, 32000, 4096));
        ObjectNode neox = JSON.createObjectNode();
        neox.put("model_type", "gpt_neox").putArray("architectures").add("GPTNeoXForCausalLM");
        neox.put("hidden_size", 6144).put("num_hidden_layers", 2).put("num_attention_heads", 64).put("intermediate_size", 24576)
                .put("vocab_size", 50432).put("max_position_embeddings", 2048).put("rotary_pct", 0.25).put("rotary_emb_base", 10000)
                .put("use_parallel_residual", true).put("layer_norm_eps", 1e-5).put("hidden_act", "gelu").put("tie_word_embeddings", false)
                .put("bos_token_id", 0).put("eos_token_id", 0);
        add("neox-20b-2l", "GPT-NeoX-20B widths, 2 layers", neox);
        ObjectNode opt = JSON.createObjectNode();
        opt.put("model_type", "opt").putArray("architectures").add("OPTForCausalLM");
        opt.put("hidden_size", 2048).put("num_hidden_layers", 24).put("num_attention_heads", 32).put("ffn_dim", 8192)
                .put("vocab_size", 50272).put("max_position_embeddings", 2048).put("do_layer_norm_before", true)
                .put("word_embed_proj_dim", 2048).put("activation_function", "relu").put("enable_bias", true)
                .put("bos_token_id", 2).put("eos_token_id", 2);
        add("opt-1.3b", "OPT-1.3B shape", opt);
        ObjectNode mt = llama(128, 2, 4, 2, 256, 1024, 512);
        mt.put("model_type", "mixtral").put("num_local_experts", 4).put("num_experts_per_tok", 2).put("rope_theta", 1e6);
        add("mixtral-tiny", "a tiny Mixtral (4 experts, top-2)", mt);
        ObjectNode m1 = llama(1024, 16, 16, 4, 3584, 32000, 4096);
        m1.put("model_type", "mixtral").put("num_local_experts", 8).put("num_experts_per_tok", 2).put("rope_theta", 1e6);
        add("mixtral-8x-1b", "Mixtral layout, 8 experts top-2, about 1.5B parameters", m1);
    }

    public static List<SyntheticPreset> all() { return new ArrayList<>(PRESETS.values()); }

    public static SyntheticPreset byName(String name) {
        SyntheticPreset p = PRESETS.get(name);
        if (p == null) throw new EngineException("Unknown synthetic preset '" + name + "': use one of " + String.join(", ", PRESETS.keySet()) + ".");
        return p;
    }
}
