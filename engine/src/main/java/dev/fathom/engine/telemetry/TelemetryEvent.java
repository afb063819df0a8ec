package dev.fathom.engine.telemetry;

/**
 * What the engine reports while it runs. Times are {@link System#nanoTime()} values; consumers
 * subtract the run's start. Events are immutable and may be emitted from any worker thread.
 */
public sealed interface TelemetryEvent {
    long startNs();

    /**
     * One kernel (or fused region) on one device.
     *
     * @param name   kernel name, e.g. {@code attn.qkv} or {@code mlp.down}
     * @param device device id, e.g. {@code cpu}, {@code cuda:0}
     * @param rank   rank that ran it (0 without parallelism)
     * @param layer  decoder layer or -1
     * @param phase  prompt or decode
     * @param bytes  bytes moved (weights read + activations read/written)
     * @param flops  floating-point operations
     */
    record KernelSpan(String name, String device, int rank, int layer, Phase phase, long startNs, long durNs,
                      long bytes, long flops) implements TelemetryEvent {}

    /** A copy between tiers: an NVMe read, a host-to-device copy, a KV offload. */
    record TransferSpan(String kind, String from, String to, int rank, int layer, long startNs, long durNs, long bytes)
            implements TelemetryEvent {}

    /** One pipeline stage working on one micro-batch. */
    record StageSpan(int stage, int rank, int microBatch, int[] sequences, Phase phase, long startNs, long durNs)
            implements TelemetryEvent {}

    /** A collective on one rank (all-reduce, all-gather, all-to-all). */
    record CollectiveSpan(String op, int rank, int groupSize, long bytes, long startNs, long durNs) implements TelemetryEvent {}

    /** A token came out for sequence {@code sequence} at {@code position}. */
    record TokenEvent(int sequence, int token, int position, long startNs) implements TelemetryEvent {}

    /** Memory held in a tier of a device. */
    record MemorySample(String device, String tier, long usedBytes, long capacityBytes, long startNs) implements TelemetryEvent {}

    /** A phase started or ended (durNs == 0 at start). */
    record PhaseSpan(Phase phase, long startNs, long durNs, int tokens) implements TelemetryEvent {}

    enum Phase { PROMPT, DECODE }
}
