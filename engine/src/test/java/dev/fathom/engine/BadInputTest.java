package dev.fathom.engine;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fathom.engine.checkpoint.SafetensorsFile;
import dev.fathom.engine.checkpoint.SafetensorsWriter;
import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.model.ModelLoader;
import dev.fathom.engine.run.GenerationRequest;
import dev.fathom.engine.run.InferenceSession;
import dev.fathom.engine.run.TokenListener;
import dev.fathom.engine.telemetry.TelemetrySink;
import dev.fathom.engine.tensor.Tensor;
import dev.fathom.profiles.RunProfile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Each kind of bad input ends in one sentence naming the file and the tensor or field. */
class BadInputTest {
    static final ObjectMapper JSON = new ObjectMapper();
    @TempDir Path tmp;

    static void assertSentence(EngineException e, String... mustContain) {
        String m = e.getMessage();
        assertFalse(m.contains("\n"), "one line: " + m);
        assertTrue(m.endsWith("."), "a sentence: " + m);
        for (String s : mustContain) assertTrue(m.contains(s), "'" + s + "' in: " + m);
    }

    /** A raw safetensors file from a header JSON and a data length. */
    Path raw(String header, int dataBytes, long declaredLen) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(declaredLen < 0 ? h.length : declaredLen).put(h);
        Path p = tmp.resolve("bad.safetensors");
        Files.write(p, b.array());
        return p;
    }

    @Test
    void truncatedFile() throws IOException {
        Path p = tmp.resolve("short.safetensors");
        Files.write(p, new byte[]{1, 2, 3});
        assertSentence(assertThrows(EngineException.class, () -> SafetensorsFile.open(p)), p.toString(), "truncated");
        // data shorter than the header promises
        Path q = raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, -1);
        assertSentence(assertThrows(EngineException.class, () -> SafetensorsFile.open(q)), q.toString(), "'w'", "data_offsets");
    }

    @Test
    void headerLengthPastEnd() throws IOException {
        Path p = raw("{}", 0, 1 << 20);
        assertSentence(assertThrows(EngineException.class, () -> SafetensorsFile.open(p)), p.toString(), "header");
    }

    @Test
    void overlappingAndOutOfRangeOffsets() throws IOException {
        Path p = raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, -1);
        assertSentence(assertThrows(EngineException.class, () -> SafetensorsFile.open(p)), p.toString(), "'a'", "'b'", "overlapping");
        Path q = raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, -1);
        assertSentence(assertThrows(EngineException.class, () -> SafetensorsFile.open(q)), "'a'", "data_offsets");
    }

    @Test
    void unknownDtype() throws IOException {
        Path p = raw("{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, -1);
        assertSentence(assertThrows(EngineException.class, () -> SafetensorsFile.open(p)), p.toString(), "'w'", "F8_E4M3");
    }

    /** A copy of a fixture whose tensors and config can be edited. */
    Path copyFixture(String name, java.util.function.Consumer<Map<String, Tensor>> editTensors,
                     java.util.function.Consumer<ObjectNode> editConfig) throws IOException {
        Path src = Fixtures.model(name), dst = tmp.resolve(name);
        Files.createDirectories(dst);
        ObjectNode cfg = (ObjectNode) JSON.readTree(src.resolve("config.json").toFile());
        if (editConfig != null) editConfig.accept(cfg);
        Files.writeString(dst.resolve("config.json"), cfg.toPrettyString());
        try (SafetensorsFile f = SafetensorsFile.open(src.resolve("model.safetensors"))) {
            Map<String, Tensor> t = new LinkedHashMap<>(f.tensors());
            if (editTensors != null) editTensors.accept(t);
            SafetensorsWriter.write(dst.resolve("model.safetensors"), t, Map.of());
        }
        return dst;
    }

    @Test
    void missingTensor() throws IOException {
        Path d = copyFixture("llama-tiny", t -> t.remove("model.layers.1.mlp.up_proj.weight"), null);
        assertSentence(assertThrows(EngineException.class, () -> ModelLoader.load(d.toString())), d.toString(), "model.layers.1.mlp.up_proj.weight");
    }

    @Test
    void shapeNotMatchingConfig() throws IOException {
        Path d = copyFixture("llama-tiny", null, c -> c.put("intermediate_size", 100));
        assertSentence(assertThrows(EngineException.class, () -> ModelLoader.load(d.toString())), d.toString(), "mlp", "shape");
    }

    @Test
    void indexNamingMissingShard() throws IOException {
        Path d = copyFixture("gpt2-tiny", null, null);
        Files.move(d.resolve("model.safetensors"), d.resolve("model-00001-of-00002.safetensors"));
        ObjectNode idx = JSON.createObjectNode();
        ObjectNode map = idx.putObject("weight_map");
        try (SafetensorsFile f = SafetensorsFile.open(d.resolve("model-00001-of-00002.safetensors"))) {
            int i = 0;
            for (String n : f.tensors().keySet()) map.put(n, (i++ % 2 == 0) ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors");
        }
        Files.writeString(d.resolve("model.safetensors.index.json"), idx.toString());
        assertSentence(assertThrows(EngineException.class, () -> ModelLoader.load(d.toString())), "model.safetensors.index.json", "model-00002-of-00002.safetensors");
    }

    @Test
    void unknownModelType() throws IOException {
        Path d = copyFixture("opt-tiny", null, c -> c.put("model_type", "bloom"));
        assertSentence(assertThrows(EngineException.class, () -> ModelLoader.load(d.toString())), "config.json", "bloom");
    }

    @Test
    void configMissingRequiredField() throws IOException {
        Path d = copyFixture("gpt-neox-tiny", null, c -> c.remove("num_attention_heads"));
        assertSentence(assertThrows(EngineException.class, () -> ModelLoader.load(d.toString())), "config.json", "num_attention_heads");
    }

    @Test
    void promptIdOutsideVocabulary() {
        try (LoadedModel m = ModelLoader.load(Fixtures.model("llama-tiny").toString())) {
            Engine e = Engine.discover();
            var plan = e.plan(m, RunProfile.defaults().withModel("x").withBackend("reference").withShape(1, 3, 2), 5);
            try (InferenceSession s = e.open(m, plan, TelemetrySink.NOOP)) {
                var req = new GenerationRequest(new int[][]{{1, 512, 3}}, 2, RunProfile.Sampling.GREEDY, false, false);
                assertSentence(assertThrows(EngineException.class, () -> s.generate(req, TokenListener.NONE, null)), "512", "vocabulary");
            }
        }
    }
}
