package dev.fathom.engine.backend;

/**
 * A model loaded on a backend, holding a KV cache of {@code slots} sequences. The prompt phase and the
 * token phase are distinct calls. Not thread-safe: one generation at a time.
 */
public interface ModelRunner extends AutoCloseable {
    /**
     * Prompt phase: runs {@code tokens[b]} (all of equal length) for the sequences in {@code slots}
     * starting at position 0, filling their KV cache.
     *
     * @param allPositions when true, returns logits for every prompt position, else only the last
     * @return logits [batch][positions][vocab]
     */
    float[][][] prefill(int[] slots, int[][] tokens, boolean allPositions);

    /**
     * Token phase: one new token per sequence at {@code positions[b]} (the sequence length before it).
     *
     * @return logits [batch][vocab]
     */
    float[][] decode(int[] slots, int[] tokens, int[] positions);

    /** Largest batch (number of slots) the KV cache was sized for. */
    int maxSlots();

    /** Longest sequence (prompt + generated) the KV cache was sized for. */
    int maxSeqLen();

    /**
     * Weight bytes one decode step reads as this runner stores them (converted or INT8-quantized projections counted
     * as stored), or 0 when the runner does not say; callers then count the checkpoint's bytes.
     */
    default long weightBytesPerStep() { return 0; }

    /** Human description of how the work is laid out (ranks, devices, tiers). */
    default String layout() { return "1 rank"; }

    @Override
    void close();
}
