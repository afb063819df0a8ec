package dev.fathom.app.cli;

import dev.fathom.profiles.RunProfile;
import picocli.CommandLine;
import picocli.CommandLine.Option;

import java.util.Locale;

/** Parallel layout options shared by the commands that run a model ({@code generate}, {@code bench}). */
public final class ParallelOptions {
    @Option(names = "--tp", defaultValue = "1", paramLabel = "N", description = "tensor-parallel ranks: attention heads and MLP columns split N ways (default: ${DEFAULT-VALUE})")
    public int tp;

    @Option(names = "--pp", defaultValue = "1", paramLabel = "N", description = "pipeline stages: layers split into N stages fed by micro-batch queues (default: ${DEFAULT-VALUE})")
    public int pp;

    @Option(names = "--ep", defaultValue = "1", paramLabel = "N", description = "expert-parallel ranks for mixture-of-experts models; non-expert layers use tp x (N/tp) ranks (default: ${DEFAULT-VALUE})")
    public int ep;

    @Option(names = "--dp", defaultValue = "1", paramLabel = "N", description = "data-parallel replicas; sequences are split among them (default: ${DEFAULT-VALUE})")
    public int dp;

    @Option(names = "--prompt-microbatches", defaultValue = "0", paramLabel = "N", description = "micro-batches of the prompt phase (0 = as many as stages)")
    public int promptMicroBatches;

    @Option(names = "--gen-microbatches", defaultValue = "0", paramLabel = "N", description = "micro-batches of the generation phase (0 = as many as stages)")
    public int genMicroBatches;

    @Option(names = "--moe-a2a", defaultValue = "pcc", paramLabel = "pcc|baseline",
            description = "MoE all-to-all: pcc (among ranks of the same tensor rank, then all-gather) or baseline (over all expert ranks) (default: ${DEFAULT-VALUE})")
    public String moeAllToAll;

    @Option(names = "--kv-offload-threshold", defaultValue = "0", paramLabel = "SIZE", converter = SizeConverter.class,
            description = "move idle sequences' KV cache to host memory once the KV cache exceeds SIZE (e.g. 64M, 2G; 0 = never)")
    public long kvOffloadThreshold;

    public RunProfile applyTo(RunProfile p) {
        String a2a = moeAllToAll == null ? "pcc" : moeAllToAll.toLowerCase(Locale.ROOT);
        RunProfile.Placement pl = p.placement();
        RunProfile.Placement placement = new RunProfile.Placement(pl.weights(), pl.kvCache(), pl.nvmeDir(), pl.prefetch(),
                pl.deviceMemory(), pl.hostMemory(), kvOffloadThreshold);
        return p.withParallel(new RunProfile.Parallelism(tp, pp, ep, dp, promptMicroBatches, genMicroBatches, a2a)).withPlacement(placement);
    }

    /** Parses sizes like {@code 64M} or {@code 2GiB}; see {@link PlacementOptions#parseSize(String, String)}. */
    public static long parseSize(String s) {
        try {
            return PlacementOptions.parseSize("--kv-offload-threshold", s);
        } catch (dev.fathom.engine.EngineException e) {
            throw new IllegalArgumentException(e.getMessage());
        }
    }

    public static final class SizeConverter implements CommandLine.ITypeConverter<Long> {
        @Override
        public Long convert(String value) {
            try {
                return parseSize(value);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }
}
