package dev.fathom.engine.model;

import dev.fathom.engine.checkpoint.Checkpoint;
import dev.fathom.engine.tokenizer.Tokenizer;

import java.lang.foreign.Arena;

/**
 * A model ready to plan and run: its normalised config, canonical weights (views of the checkpoint
 * or of repacked copies in {@link #arena()}), and tokenizer when one is present.
 */
public final class LoadedModel implements AutoCloseable {
    private final String source;
    private final boolean synthetic;
    private final ModelFamily family;
    private final ModelConfig config;
    private final ModelWeights weights;
    private final Checkpoint checkpoint;
    private final Tokenizer tokenizer;
    private final Arena arena;

    public LoadedModel(String source, boolean synthetic, ModelFamily family, ModelConfig config, ModelWeights weights,
                       Checkpoint checkpoint, Tokenizer tokenizer, Arena arena) {
        this.source = source;
        this.synthetic = synthetic;
        this.family = family;
        this.config = config;
        this.weights = weights;
        this.checkpoint = checkpoint;
        this.tokenizer = tokenizer;
        this.arena = arena;
    }

    /** The reference as given: a directory or {@code synthetic:<preset>}. */
    public String source() { return source; }
    /** True for random-weight models: label them so wherever they are shown. */
    public boolean synthetic() { return synthetic; }
    public ModelFamily family() { return family; }
    public ModelConfig config() { return config; }
    public ModelWeights weights() { return weights; }
    public Checkpoint checkpoint() { return checkpoint; }
    /** May be null (no tokenizer.json): prompts must then be ids. */
    public Tokenizer tokenizer() { return tokenizer; }
    public Arena arena() { return arena; }

    /** Display name, with "(random weights)" for synthetic models. */
    public String displayName() { return synthetic ? source + " (random weights)" : source; }

    /** dtype of the bulk of the weights. */
    public String weightDtype() { return weights.layers().getFirst().q().weight().dtype().name(); }

    @Override
    public void close() {
        if (tokenizer != null) tokenizer.close();
        checkpoint.close();
        arena.close();
    }
}
