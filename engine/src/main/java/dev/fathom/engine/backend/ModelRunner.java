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

    /**
     * Prompt phase with greedy sampling: the same pass as {@link #prefill} (last positions only), returning for each
     * sequence the index of its last position's largest logit ({@link #argmax}): the first generated token.
     */
    default int[] prefillGreedy(int[] slots, int[][] tokens) {
        float[][][] logits = prefill(slots, tokens, false);
        int[] ids = new int[logits.length];
        for (int i = 0; i < ids.length; i++) ids[i] = argmax(logits[i][logits[i].length - 1]);
        return ids;
    }

    /**
     * Token phase with greedy sampling: the same step as {@link #decode}, returning for each sequence the index of its
     * largest logit ({@link #argmax}) instead of the logits. Runners that can pick it where the logits are (on the GPU)
     * override this and skip copying the logits back.
     */
    default int[] decodeGreedy(int[] slots, int[] tokens, int[] positions) {
        float[][] logits = decode(slots, tokens, positions);
        int[] ids = new int[logits.length];
        for (int i = 0; i < ids.length; i++) ids[i] = argmax(logits[i]);
        return ids;
    }

    /**
     * Greedy steps queued ahead of the host, or null (the default) where the runner has no such queue. A queued step takes
     * its input tokens from the picks of the call before it where they are (on the GPU), so the session can queue the
     * next step before it waits for this one's picks, and the device never waits for the host between steps.
     */
    default GreedyQueue greedyQueue() { return null; }

    /**
     * {@link #greedyQueue()}: greedy token steps of every sequence of the last {@link #prefillGreedy} call (same slots,
     * same order), each fed with the picks of the step before it (the first with the prompt's) on the runner's device.
     * Holds two steps not yet taken.
     */
    interface GreedyQueue {
        /** Queues the step at {@code positions} (the sequence lengths before it) for {@code slots}; returns at once. */
        void enqueue(int[] slots, int[] positions);

        /** The picks of the oldest queued step not yet taken, waiting for it. */
        int[] take();

        /** Waits for every queued step and drops the picks not taken. */
        void drain();
    }

    /** The index of the largest logit, the first such index on ties (NaNs never win; 0 when every logit is NaN). */
    static int argmax(float[] logits) {
        int best = 0;
        float bv = logits[0];
        for (int i = 1; i < logits.length; i++) {
            float v = logits[i];
            if (v > bv || bv != bv && v == v) {   // (x != x: NaN) a NaN best gives way to the first number
                best = i;
                bv = v;
            }
        }
        return best;
    }

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
