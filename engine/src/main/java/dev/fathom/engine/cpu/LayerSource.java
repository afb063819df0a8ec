package dev.fathom.engine.cpu;

import dev.fathom.engine.model.LayerWeights;

import java.util.List;

/**
 * Where a shard's layer weights come from when a layer runs. The resident source hands out views of
 * the mapped checkpoint; a streaming source (ZeRO-Inference) fetches layers from host memory or NVMe
 * into a bounded ring, {@link #acquire} blocking until the layer is there and {@link #release} letting
 * the ring reuse its buffer and prefetch further ahead.
 */
public interface LayerSource extends AutoCloseable {
    /** Weights of global layer {@code layer}, valid until {@link #release}. */
    LayerWeights acquire(int layer);

    /** The caller is done with {@code layer}'s weights. */
    default void release(int layer) { }

    @Override
    default void close() { }

    /** Layers held in memory all the time; {@code layers.get(0)} is global layer {@code first}. */
    static LayerSource resident(List<LayerWeights> layers, int first) {
        return layer -> layers.get(layer - first);
    }
}
