package dev.fathom.engine.model;

import dev.fathom.engine.EngineException;
import dev.fathom.engine.model.families.Gpt2Family;
import dev.fathom.engine.model.families.GptNeoXFamily;
import dev.fathom.engine.model.families.LlamaFamily;
import dev.fathom.engine.model.families.MixtralFamily;
import dev.fathom.engine.model.families.OptFamily;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The registry of supported families. */
public final class Families {
    private static final List<ModelFamily> ALL = List.of(new Gpt2Family(), new GptNeoXFamily(), new OptFamily(),
            new LlamaFamily(), new MixtralFamily());

    private Families() {}

    public static List<ModelFamily> all() { return ALL; }

    public static ModelFamily forModelType(String modelType, Path configFile) {
        for (ModelFamily f : ALL) if (f.modelTypes().contains(modelType)) return f;
        List<String> known = new ArrayList<>();
        ALL.forEach(f -> known.addAll(f.modelTypes()));
        throw new EngineException(configFile + " has model_type '" + modelType + "', which Fathom does not support: supported are "
                + String.join(", ", known) + ".");
    }

    public static ModelFamily byId(String id) {
        for (ModelFamily f : ALL) if (f.id().equals(id)) return f;
        throw new EngineException("Unknown model family '" + id + "'.");
    }
}
