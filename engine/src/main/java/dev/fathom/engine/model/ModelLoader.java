package dev.fathom.engine.model;

import com.fasterxml.jackson.databind.JsonNode;
import dev.fathom.engine.EngineException;
import dev.fathom.engine.checkpoint.Checkpoint;
import dev.fathom.engine.synthetic.SyntheticModels;
import dev.fathom.engine.synthetic.SyntheticPreset;
import dev.fathom.engine.tensor.DType;
import dev.fathom.engine.tensor.Tensor;
import dev.fathom.engine.tokenizer.Tokenizer;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.DoubleConsumer;

/** Opens a checkpoint directory or builds a synthetic model, and binds it to its family. */
public final class ModelLoader {
    private ModelLoader() {}

    /**
     * @param syntheticDtype dtype of synthetic weights (BF16 by default)
     * @param seed           seed of synthetic weights
     */
    public record Options(DType syntheticDtype, long seed) {
        public static final Options DEFAULT = new Options(DType.BF16, 42);
    }

    public static LoadedModel load(String ref) { return load(ref, Options.DEFAULT, null); }

    public static LoadedModel load(String ref, Options options, DoubleConsumer progress) {
        if (ref == null || ref.isBlank()) throw new EngineException("No model given: pass a checkpoint folder or synthetic:<preset>.");
        if (ref.startsWith(SyntheticModels.PREFIX)) return synthetic(ref.substring(SyntheticModels.PREFIX.length()), options, progress);
        return directory(Path.of(ref), progress);
    }

    public static ModelConfig parseConfig(Path configFile, JsonNode cfg) {
        JsonNode mt = cfg.get("model_type");
        if (mt == null || mt.isNull()) throw new EngineException(configFile + " lacks the required field 'model_type': add it (gpt2, gpt_neox, opt, llama, mistral or mixtral).");
        ModelFamily family = Families.forModelType(mt.asText(), configFile);
        return family.parseConfig(new ConfigReader(cfg, configFile));
    }

    private static LoadedModel directory(Path dir, DoubleConsumer progress) {
        Checkpoint ck = Checkpoint.open(dir);
        Arena arena = Arena.ofShared();
        Tokenizer tok = null;
        try {
            Path cfgFile = dir.resolve("config.json");
            ModelConfig c = parseConfig(cfgFile, ck.config());
            ModelFamily family = Families.byId(c.family());
            if (progress != null) progress.accept(0.5);
            ModelWeights w = family.bind(ck, c, arena);
            Path tj = dir.resolve("tokenizer.json");
            if (Files.exists(tj)) tok = Tokenizer.open(tj);
            if (progress != null) progress.accept(1.0);
            return new LoadedModel(dir.toString(), ck.config().has("fathom_synthetic"), family, c, w, ck, tok, arena);
        } catch (RuntimeException e) {
            if (tok != null) tok.close();
            ck.close();
            arena.close();
            throw e;
        }
    }

    private static LoadedModel synthetic(String preset, Options options, DoubleConsumer progress) {
        SyntheticPreset p = SyntheticPreset.byName(preset);
        JsonNode cfg = p.config();
        Path label = Path.of(SyntheticModels.PREFIX + preset);
        ModelConfig c = parseConfig(label.resolve("config.json"), cfg);
        ModelFamily family = Families.byId(c.family());
        Arena weightsArena = Arena.ofShared();
        Arena arena = Arena.ofShared();
        Tokenizer tok = null;
        try {
            Map<String, Tensor> tensors = SyntheticModels.generate(SyntheticModels.layout(c, family.weightMap()),
                    options.syntheticDtype(), options.seed(), weightsArena, progress);
            Checkpoint ck = Checkpoint.inMemory(label, cfg, tensors, weightsArena::close);
            ModelWeights w = family.bind(ck, c, arena);
            if (c.vocabSize() >= 256) {
                Path tmp = Files.createTempFile("fathom-byte-tokenizer", ".json");
                Files.writeString(tmp, SyntheticModels.byteTokenizerJson());
                try {
                    tok = Tokenizer.open(tmp);
                } finally {
                    Files.deleteIfExists(tmp);
                }
            }
            return new LoadedModel(SyntheticModels.PREFIX + preset, true, family, c, w, ck, tok, arena);
        } catch (IOException e) {
            weightsArena.close();
            arena.close();
            throw new EngineException("Cannot write a temporary tokenizer file: " + e.getMessage() + ".", e);
        } catch (RuntimeException e) {
            weightsArena.close();
            arena.close();
            throw e;
        }
    }
}
