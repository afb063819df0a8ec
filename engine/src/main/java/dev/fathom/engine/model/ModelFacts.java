package dev.fathom.engine.model;

import com.fasterxml.jackson.databind.JsonNode;
import dev.fathom.engine.checkpoint.Checkpoint;
import dev.fathom.engine.synthetic.SyntheticModels;
import dev.fathom.engine.synthetic.SyntheticPreset;
import dev.fathom.engine.tensor.DType;
import dev.fathom.engine.tensor.Tensor;
import dev.fathom.profiles.export.ExportModel;

import java.nio.file.Path;

/**
 * The facts a DeepSpeed export needs about a model ({@link ExportModel}), read from its
 * {@code config.json} and safetensors headers (memory-mapped, not read) or from a synthetic preset's
 * config — without loading weights.
 */
public final class ModelFacts {
    private ModelFacts() {}

    /**
     * @param ref    checkpoint folder or {@code synthetic:<preset>}
     * @param hfName the model name the deployment loads (null: the folder, or the preset's name)
     */
    public static ExportModel exportModel(String ref, String hfName) {
        if (ref.startsWith(SyntheticModels.PREFIX)) {
            String preset = ref.substring(SyntheticModels.PREFIX.length());
            JsonNode cfg = SyntheticPreset.byName(preset).config();
            ModelConfig c = ModelLoader.parseConfig(Path.of(ref).resolve("config.json"), cfg);
            return of(c, hfName == null ? preset : hfName, c.parameterCount() * 2, "bf16");
        }
        Path dir = Path.of(ref);
        try (Checkpoint ck = Checkpoint.open(dir)) {
            ModelConfig c = ModelLoader.parseConfig(dir.resolve("config.json"), ck.config());
            String dtype = "f32";
            long biggest = -1;
            for (Tensor t : ck.tensors().values()) {
                if (t.byteSize() > biggest && (t.dtype() == DType.F32 || t.dtype() == DType.F16 || t.dtype() == DType.BF16)) {
                    biggest = t.byteSize();
                    dtype = t.dtype().name().toLowerCase(java.util.Locale.ROOT);
                }
            }
            return of(c, hfName == null ? dir.toAbsolutePath().normalize().toString() : hfName, ck.totalBytes(), dtype);
        }
    }

    static ExportModel of(ModelConfig c, String name, long weightBytes, String dtype) {
        return new ExportModel(c.modelType() == null ? c.family() : c.modelType(), name, c.numLayers(), c.hiddenSize(),
                c.numHeads(), c.numKvHeads(), Math.max(1, c.numExperts()), c.isMoe() ? c.expertsPerToken() : 1,
                c.maxPositions(), weightBytes, dtype, c.vocabSize(), c.intermediateSize());
    }
}
