package dev.fathom.engine.model;

import com.fasterxml.jackson.databind.JsonNode;
import dev.fathom.engine.EngineException;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Typed access to config.json fields, with one-sentence errors that name the file and field. */
public final class ConfigReader {
    private final JsonNode node;
    private final Path file;
    private final String modelType;

    public ConfigReader(JsonNode node, Path file) {
        this.node = node;
        this.file = file;
        this.modelType = node.path("model_type").asText("?");
    }

    public JsonNode node() { return node; }

    private JsonNode find(String... keys) {
        for (String k : keys) {
            JsonNode v = node.get(k);
            if (v != null && !v.isNull()) return v;
        }
        return null;
    }

    private EngineException missing(String... keys) {
        return new EngineException(file + " lacks the required field '" + keys[0] + "' for model_type " + modelType
                + (keys.length > 1 ? " (also looked for " + String.join(", ", java.util.Arrays.copyOfRange(keys, 1, keys.length)) + ")" : "")
                + ": add it to config.json.");
    }

    public int requireInt(String... keys) {
        JsonNode v = find(keys);
        if (v == null) throw missing(keys);
        if (!v.canConvertToInt() || !v.isNumber()) throw new EngineException(file + ": field '" + keys[0] + "' must be an integer, found " + v + ".");
        int i = v.asInt();
        if (i <= 0) throw new EngineException(file + ": field '" + keys[0] + "' must be positive, found " + i + ".");
        return i;
    }

    public int optInt(int dflt, String... keys) {
        JsonNode v = find(keys);
        if (v == null) return dflt;
        if (!v.isNumber()) throw new EngineException(file + ": field '" + keys[0] + "' must be a number, found " + v + ".");
        return v.asInt();
    }

    public double optDouble(double dflt, String... keys) {
        JsonNode v = find(keys);
        if (v == null) return dflt;
        if (!v.isNumber()) throw new EngineException(file + ": field '" + keys[0] + "' must be a number, found " + v + ".");
        return v.asDouble();
    }

    public boolean optBool(boolean dflt, String... keys) {
        JsonNode v = find(keys);
        return v == null ? dflt : v.asBoolean(dflt);
    }

    public String optString(String dflt, String... keys) {
        JsonNode v = find(keys);
        return v == null ? dflt : v.asText();
    }

    public List<Integer> intList(String key) {
        JsonNode v = node.get(key);
        List<Integer> out = new ArrayList<>();
        if (v == null || v.isNull()) return out;
        if (v.isArray()) v.forEach(x -> out.add(x.asInt()));
        else out.add(v.asInt());
        return out;
    }

    /**
     * RoPE settings from either form: transformers-5 {@code rope_parameters} or the legacy
     * {@code rope_theta} / {@code rotary_emb_base} / {@code rope_scaling} keys.
     */
    public ModelConfig.Rope rope(double defaultTheta) {
        JsonNode rp = node.get("rope_parameters");
        JsonNode scaling = node.get("rope_scaling");
        double theta = optDouble(defaultTheta, "rope_theta", "rotary_emb_base");
        JsonNode sc = null;
        if (rp != null && rp.isObject()) {
            if (rp.has("rope_theta")) theta = rp.get("rope_theta").asDouble();
            sc = rp;
        }
        if (scaling != null && scaling.isObject()) sc = scaling;
        String type = "default";
        double factor = 1, low = 1, high = 4;
        int orig = 8192;
        if (sc != null) {
            type = sc.path("rope_type").asText(sc.path("type").asText("default"));
            factor = sc.path("factor").asDouble(1);
            low = sc.path("low_freq_factor").asDouble(1);
            high = sc.path("high_freq_factor").asDouble(4);
            orig = sc.path("original_max_position_embeddings").asInt(8192);
            if (!List.of("default", "linear", "llama3").contains(type))
                throw new EngineException(file + ": rope type '" + type + "' is not supported; Fathom supports default, linear and llama3 RoPE.");
        }
        return new ModelConfig.Rope(theta, type, factor, low, high, orig);
    }

    /** partial rotary factor from {@code rope_parameters.partial_rotary_factor}, {@code partial_rotary_factor} or {@code rotary_pct}. */
    public double partialRotary(double dflt) {
        JsonNode rp = node.get("rope_parameters");
        if (rp != null && rp.has("partial_rotary_factor")) return rp.get("partial_rotary_factor").asDouble();
        return optDouble(dflt, "partial_rotary_factor", "rotary_pct");
    }

    public ModelConfig.Activation activation(String dflt, String... keys) {
        String a = optString(dflt, keys);
        return switch (a) {
            case "gelu", "gelu_python" -> ModelConfig.Activation.GELU;
            case "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu_tanh" -> ModelConfig.Activation.GELU_TANH;
            case "relu" -> ModelConfig.Activation.RELU;
            case "silu", "swish" -> ModelConfig.Activation.SILU;
            default -> throw new EngineException(file + ": activation '" + a + "' in field '" + keys[0]
                    + "' is not supported; use gelu, gelu_new, relu or silu.");
        };
    }

    public EngineException unsupported(String what) {
        return new EngineException(file + ": " + what);
    }
}
