package dev.fathom.engine;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fathom.engine.checkpoint.SafetensorsFile;
import dev.fathom.engine.checkpoint.SafetensorsWriter;
import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.model.ModelLoader;
import dev.fathom.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** A checkpoint split into shards with an index loads the same weights as the single file. */
class ShardedCheckpointTest {
    @TempDir Path tmp;

    @Test
    void shardsLoadLikeTheSingleFile() throws Exception {
        Path src = Fixtures.model("mixtral-tiny");
        Files.copy(src.resolve("config.json"), tmp.resolve("config.json"));
        ObjectNode idx = new ObjectMapper().createObjectNode();
        ObjectNode map = idx.putObject("weight_map");
        try (SafetensorsFile f = SafetensorsFile.open(src.resolve("model.safetensors"))) {
            Map<String, Tensor> a = new LinkedHashMap<>(), b = new LinkedHashMap<>();
            int i = 0;
            for (var e : f.tensors().entrySet()) {
                boolean first = i++ % 3 != 0;
                (first ? a : b).put(e.getKey(), e.getValue());
                map.put(e.getKey(), first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors");
            }
            SafetensorsWriter.write(tmp.resolve("model-00001-of-00002.safetensors"), a, Map.of());
            SafetensorsWriter.write(tmp.resolve("model-00002-of-00002.safetensors"), b, Map.of());
        }
        Files.writeString(tmp.resolve("model.safetensors.index.json"), idx.toString());
        try (LoadedModel sharded = ModelLoader.load(tmp.toString()); LoadedModel single = ModelLoader.load(src.toString())) {
            assertEquals(single.weights().bytes(), sharded.weights().bytes());
            for (int l = 0; l < single.config().numLayers(); l++) {
                var x = single.weights().layers().get(l);
                var y = sharded.weights().layers().get(l);
                assertArrayEquals(x.q().weight().toFloatArray(), y.q().weight().toFloatArray());
                assertArrayEquals(x.experts().get(3).down().weight().toFloatArray(), y.experts().get(3).down().weight().toFloatArray());
            }
        }
    }
}
