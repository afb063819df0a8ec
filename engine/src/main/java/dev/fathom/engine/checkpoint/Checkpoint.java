package dev.fathom.engine.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fathom.engine.EngineException;
import dev.fathom.engine.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * A Hugging Face checkpoint directory: {@code config.json} plus {@code model.safetensors} or the shards
 * listed by {@code model.safetensors.index.json}. Tensors are zero-copy views by their HF names.
 */
public final class Checkpoint implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path dir;
    private final JsonNode config;
    private final List<SafetensorsFile> files;
    private final Map<String, Tensor> tensors;

    private final Runnable onClose;

    private Checkpoint(Path dir, JsonNode config, List<SafetensorsFile> files, Map<String, Tensor> tensors, Runnable onClose) {
        this.dir = dir;
        this.config = config;
        this.files = files;
        this.tensors = tensors;
        this.onClose = onClose;
    }

    /** A checkpoint whose tensors live in memory (synthetic models); {@code onClose} frees them. */
    public static Checkpoint inMemory(Path label, JsonNode config, Map<String, Tensor> tensors, Runnable onClose) {
        return new Checkpoint(label, config, List.of(), Collections.unmodifiableMap(new LinkedHashMap<>(tensors)), onClose);
    }

    public static Checkpoint open(Path dir) {
        if (!Files.isDirectory(dir)) throw new EngineException(dir + " is not a directory: pass a checkpoint folder holding config.json and *.safetensors, or synthetic:<preset>.");
        JsonNode config = readConfig(dir.resolve("config.json"));
        Path single = dir.resolve("model.safetensors");
        Path index = dir.resolve("model.safetensors.index.json");
        List<SafetensorsFile> files = new ArrayList<>();
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        try {
            if (Files.exists(index)) {
                JsonNode idx;
                try {
                    idx = JSON.readTree(index.toFile());
                } catch (IOException e) {
                    throw new EngineException(index + " is not valid JSON: fix or re-download it.");
                }
                JsonNode map = idx.get("weight_map");
                if (map == null || !map.isObject()) throw new EngineException(index + " lacks the 'weight_map' object: fix or re-download it.");
                TreeSet<String> shards = new TreeSet<>();
                map.properties().forEach(e -> shards.add(e.getValue().asText()));
                Map<String, SafetensorsFile> byName = new LinkedHashMap<>();
                for (String s : shards) {
                    Path p = dir.resolve(s);
                    if (!Files.exists(p)) throw new EngineException(index + " names shard '" + s + "', which is missing from "
                            + dir + ": download that file or fix the index.");
                    SafetensorsFile f = SafetensorsFile.open(p);
                    files.add(f);
                    byName.put(s, f);
                }
                for (var e : map.properties()) {
                    SafetensorsFile f = byName.get(e.getValue().asText());
                    Tensor t = f.get(e.getKey());
                    if (t == null) throw new EngineException(index + " places tensor '" + e.getKey() + "' in " + e.getValue().asText()
                            + ", but that shard does not hold it: fix the index or re-download the shard.");
                    tensors.put(e.getKey(), t);
                }
            } else if (Files.exists(single)) {
                SafetensorsFile f = SafetensorsFile.open(single);
                files.add(f);
                tensors.putAll(f.tensors());
            } else {
                throw new EngineException(dir + " has neither model.safetensors nor model.safetensors.index.json: Fathom reads safetensors checkpoints only.");
            }
        } catch (RuntimeException e) {
            files.forEach(SafetensorsFile::close);
            throw e;
        }
        return new Checkpoint(dir, config, files, Collections.unmodifiableMap(tensors), () -> { });
    }

    public static JsonNode readConfig(Path p) {
        if (!Files.exists(p)) throw new EngineException(p + " is missing: a checkpoint folder needs its config.json.");
        try {
            JsonNode n = JSON.readTree(p.toFile());
            if (n == null || !n.isObject()) throw new EngineException(p + " is not a JSON object: fix or re-download it.");
            return n;
        } catch (IOException e) {
            throw new EngineException(p + " is not valid JSON (" + firstLine(e.getMessage()) + "): fix or re-download it.");
        }
    }

    private static String firstLine(String s) {
        if (s == null) return "unreadable";
        int i = s.indexOf('\n');
        return i < 0 ? s : s.substring(0, i);
    }

    public Path dir() { return dir; }
    public JsonNode config() { return config; }
    public Map<String, Tensor> tensors() { return tensors; }
    public boolean has(String name) { return tensors.containsKey(name); }

    /** The tensor called {@code name}; a clear error when it is missing. */
    public Tensor require(String name) {
        Tensor t = tensors.get(name);
        if (t == null) throw new EngineException(dir + " lacks tensor '" + name + "', which this model's config requires: the checkpoint is incomplete or of another architecture.");
        return t;
    }

    /** The tensor called {@code name}, checked to have exactly {@code shape}. */
    public Tensor require(String name, long... shape) {
        Tensor t = require(name);
        checkShape(t, shape);
        return t;
    }

    public void checkShape(Tensor t, long... shape) {
        if (!java.util.Arrays.equals(t.shape(), shape))
            throw new EngineException(dir + ": tensor '" + t.name() + "' has shape " + java.util.Arrays.toString(t.shape())
                    + " but config.json implies " + java.util.Arrays.toString(shape) + ": the config does not match the weights.");
    }

    public long totalBytes() {
        long b = 0;
        for (Tensor t : tensors.values()) b += t.byteSize();
        return b;
    }

    @Override
    public void close() {
        files.forEach(SafetensorsFile::close);
        onClose.run();
    }
}
