package dev.fathom.engine.model;

import dev.fathom.engine.checkpoint.Checkpoint;

import java.lang.foreign.Arena;
import java.util.List;

/** One architecture: how to read its config.json and where its weights are. */
public interface ModelFamily {
    /** Family id (gpt2, gpt_neox, opt, llama, mixtral). */
    String id();

    /** {@code model_type} values this family reads. */
    List<String> modelTypes();

    /** Normalised configuration from config.json. */
    ModelConfig parseConfig(ConfigReader config);

    /** HF name table. */
    WeightMap weightMap();

    /**
     * Canonical weights, zero-copy where the checkpoint's layout allows; {@code arena} holds any repacked
     * copies (GPT-2's transposed Conv1D weights, GPT-NeoX's interleaved fused QKV).
     */
    ModelWeights bind(Checkpoint ckpt, ModelConfig config, Arena arena);
}
