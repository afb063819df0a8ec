package dev.fathom.profiles;

import java.util.Objects;

/**
 * What to run and how: the one thing the GUI edits, the CLI reads and export writes. Immutable;
 * use the {@code with*} methods to derive changed copies.
 *
 * @param version    schema version of the JSON form ({@link #CURRENT_VERSION})
 * @param model      a checkpoint directory or {@code synthetic:<preset>}
 * @param backend    {@code reference}, {@code cpu} (fastest CPU path) or {@code cuda}
 * @param precision  weight precision
 * @param batch      sequences per batch
 * @param promptLen  prompt tokens per sequence (for synthetic prompts / benchmarks)
 * @param newTokens  tokens to generate per sequence
 * @param parallel   tensor / pipeline / expert / data parallel degrees and micro-batching
 * @param placement  where weights and KV cache live, prefetch, memory budgets
 * @param sampling   greedy or seeded sampling
 * @param threads    CPU worker threads (0 = one per core)
 * @param hardware   name of the hardware profile the plan is checked against ({@code this-machine} by default)
 */
public record RunProfile(
        int version,
        String model,
        String backend,
        Precision precision,
        int batch,
        int promptLen,
        int newTokens,
        Parallelism parallel,
        Placement placement,
        Sampling sampling,
        int threads,
        String hardware) {

    public static final int CURRENT_VERSION = 1;
    public static final String DEFAULT_MODEL = "synthetic:llama-1.1b";

    public RunProfile {
        Objects.requireNonNull(model, "model");
        backend = backend == null ? "cpu" : backend;
        precision = precision == null ? Precision.AUTO : precision;
        parallel = parallel == null ? Parallelism.NONE : parallel;
        placement = placement == null ? Placement.DEFAULT : placement;
        sampling = sampling == null ? Sampling.GREEDY : sampling;
        hardware = hardware == null ? "this-machine" : hardware;
    }

    /** The embedded default: a random-weight TinyLlama-shaped model on the CPU backend. */
    public static RunProfile defaults() {
        return new RunProfile(CURRENT_VERSION, DEFAULT_MODEL, "cpu", Precision.AUTO, 1, 16, 32,
                Parallelism.NONE, Placement.DEFAULT, Sampling.GREEDY, 0, "this-machine");
    }

    public RunProfile withModel(String m) { return new RunProfile(version, m, backend, precision, batch, promptLen, newTokens, parallel, placement, sampling, threads, hardware); }
    public RunProfile withBackend(String b) { return new RunProfile(version, model, b, precision, batch, promptLen, newTokens, parallel, placement, sampling, threads, hardware); }
    public RunProfile withPrecision(Precision p) { return new RunProfile(version, model, backend, p, batch, promptLen, newTokens, parallel, placement, sampling, threads, hardware); }
    public RunProfile withShape(int b, int p, int n) { return new RunProfile(version, model, backend, precision, b, p, n, parallel, placement, sampling, threads, hardware); }
    public RunProfile withParallel(Parallelism p) { return new RunProfile(version, model, backend, precision, batch, promptLen, newTokens, p, placement, sampling, threads, hardware); }
    public RunProfile withPlacement(Placement p) { return new RunProfile(version, model, backend, precision, batch, promptLen, newTokens, parallel, p, sampling, threads, hardware); }
    public RunProfile withSampling(Sampling s) { return new RunProfile(version, model, backend, precision, batch, promptLen, newTokens, parallel, placement, s, threads, hardware); }
    public RunProfile withThreads(int t) { return new RunProfile(version, model, backend, precision, batch, promptLen, newTokens, parallel, placement, sampling, t, hardware); }
    public RunProfile withHardware(String h) { return new RunProfile(version, model, backend, precision, batch, promptLen, newTokens, parallel, placement, sampling, threads, h); }

    /**
     * Parallel layout.
     *
     * @param tp tensor-parallel degree (attention heads and MLP columns split across ranks)
     * @param pp pipeline stages
     * @param ep expert-parallel degree (MoE)
     * @param dp data-parallel replicas
     * @param promptMicroBatches micro-batches for the prompt phase (0 = choose: at least pp)
     * @param genMicroBatches micro-batches for the generation phase (0 = choose: pp)
     * @param moeAllToAll {@code pcc} or {@code baseline}
     */
    public record Parallelism(int tp, int pp, int ep, int dp, int promptMicroBatches, int genMicroBatches,
                              String moeAllToAll) {
        public static final Parallelism NONE = new Parallelism(1, 1, 1, 1, 0, 0, "pcc");

        public Parallelism {
            moeAllToAll = moeAllToAll == null ? "pcc" : moeAllToAll;
        }

        /** Ranks the layout needs: tensor x pipeline x data (expert ranks reuse the tensor and data ranks, as in the paper). */
        public int worldSize() { return tp * pp * dp; }
    }

    /** Where a tier lives. */
    public enum Tier { DEVICE, HOST, NVME }

    /**
     * Placement of weights and KV cache (ZeRO-Inference).
     *
     * @param weights      tier of the weights
     * @param kvCache      tier of the KV cache
     * @param nvmeDir      directory for NVMe-tier files (null = a temp dir)
     * @param prefetch     layers prefetched ahead when streaming (0 = none)
     * @param deviceMemory device (or, on the CPU backend, RAM) budget in bytes for weights; 0 = all of it
     * @param hostMemory   pinned host memory budget in bytes; 0 = no limit
     * @param kvOffloadThreshold KV bytes past which idle sequences' KV moves to host; 0 = never
     */
    public record Placement(Tier weights, Tier kvCache, String nvmeDir, int prefetch, long deviceMemory,
                            long hostMemory, long kvOffloadThreshold) {
        public static final Placement DEFAULT = new Placement(Tier.DEVICE, Tier.DEVICE, null, 1, 0, 0, 0);

        public Placement {
            weights = weights == null ? Tier.DEVICE : weights;
            kvCache = kvCache == null ? Tier.DEVICE : kvCache;
        }
    }

    /**
     * Token selection.
     *
     * @param greedy      argmax when true; the other fields are then ignored
     * @param temperature softmax temperature (&gt; 0)
     * @param topK        keep the k most likely tokens (0 = all)
     * @param topP        nucleus mass (1 = all)
     * @param seed        random seed
     * @param stopOnEos   stop a sequence at the model's end-of-sequence token
     */
    public record Sampling(boolean greedy, double temperature, int topK, double topP, long seed, boolean stopOnEos) {
        public static final Sampling GREEDY = new Sampling(true, 1.0, 0, 1.0, 0, true);

        public Sampling withStopOnEos(boolean stop) { return new Sampling(greedy, temperature, topK, topP, seed, stop); }
    }
}
