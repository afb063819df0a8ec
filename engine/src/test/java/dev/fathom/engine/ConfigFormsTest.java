package dev.fathom.engine;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fathom.engine.model.ModelConfig;
import dev.fathom.engine.model.ModelLoader;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Legacy config keys and the transformers-5 rope_parameters form give the same model. */
class ConfigFormsTest {
    static final ObjectMapper JSON = new ObjectMapper();

    ModelConfig parse(String fixture, java.util.function.Consumer<ObjectNode> edit) throws Exception {
        ObjectNode c = (ObjectNode) JSON.readTree(Fixtures.model(fixture).resolve("config.json").toFile());
        edit.accept(c);
        return ModelLoader.parseConfig(Path.of(fixture, "config.json"), c);
    }

    @Test
    void neoxLegacyRotaryKeys() throws Exception {
        ModelConfig modern = parse("gpt-neox-tiny", c -> { });
        ModelConfig legacy = parse("gpt-neox-tiny", c -> {
            c.remove("rope_parameters");
            c.put("rotary_pct", 0.25).put("rotary_emb_base", 10000);
        });
        assertEquals(modern.rotaryDim(), legacy.rotaryDim());
        assertEquals(4, legacy.rotaryDim());
        assertArrayEquals(modern.rope().inverseFrequencies(4), legacy.rope().inverseFrequencies(4), 0);
    }

    @Test
    void llamaLegacyRopeThetaAndScaling() throws Exception {
        ModelConfig legacy = parse("llama-tiny", c -> {
            c.remove("rope_parameters");
            c.put("rope_theta", 500000.0);
            c.putObject("rope_scaling").put("rope_type", "llama3").put("factor", 8.0).put("low_freq_factor", 1.0)
                    .put("high_freq_factor", 4.0).put("original_max_position_embeddings", 8192);
        });
        assertEquals(500000.0, legacy.rope().theta());
        assertEquals("llama3", legacy.rope().type());
        double[] inv = legacy.rope().inverseFrequencies(16);
        double plain = 1.0 / Math.pow(500000.0, 14.0 / 16);
        assertEquals(plain / 8.0, inv[7], 1e-15, "the lowest frequency is divided by the factor");
        assertEquals(1.0, inv[0], 1e-15, "the highest frequency is kept");
    }

    @Test
    void gpt2LegacyNames() throws Exception {
        ModelConfig c = parse("gpt2-tiny", n -> { });
        assertEquals(64, c.hiddenSize());
        assertEquals(256, c.intermediateSize());
        assertEquals(ModelConfig.Activation.GELU_TANH, c.activation());
    }

    @Test
    void erfIsAccurate() {
        assertEquals(0.8427007929497149, dev.fathom.engine.cpu.Activations.erf(1.0), 1e-13);
        assertEquals(-0.9953222650189527, dev.fathom.engine.cpu.Activations.erf(-2.0), 1e-13);
        assertEquals(0.9999779095030014, dev.fathom.engine.cpu.Activations.erf(3.0), 1e-13);
        assertEquals(0.1124629160182849, dev.fathom.engine.cpu.Activations.erf(0.1), 1e-13);
    }
}
