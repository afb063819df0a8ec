package dev.fathom.app.cli;

import dev.fathom.engine.EngineException;
import dev.fathom.profiles.RunProfile;
import dev.fathom.profiles.RunProfile.Tier;
import picocli.CommandLine.Option;

import java.util.Locale;

/** Where weights live and how they stream (ZeRO-Inference); a mixin for the commands that plan a run. */
public final class PlacementOptions {
    @Option(names = "--weights", paramLabel = "device|host|nvme",
            description = "where the weights live: device (resident; CPU: in RAM), host (streamed from host memory) or nvme (streamed from files under --nvme-dir)")
    public String weights;

    @Option(names = "--kv-cache", paramLabel = "device|host",
            description = "where the KV cache lives: device (default) or host (cuda backend: pinned host memory the kernels read over the bus; CPU: RAM either way)")
    public String kvCache;

    @Option(names = "--nvme-dir", paramLabel = "DIR", description = "directory for NVMe-tier weight files (default: a temp folder, deleted after the run)")
    public String nvmeDir;

    @Option(names = "--prefetch", paramLabel = "K", description = "layers fetched ahead while streaming; the ring holds K+1 layers (default: 1; 0 = fetch when needed)")
    public Integer prefetch;

    @Option(names = "--device-memory", paramLabel = "SIZE", description = "memory budget for resident weights, e.g. 512M or 2G (CPU backend: RAM; default: all of it)")
    public String deviceMemory;

    @Option(names = "--host-memory", paramLabel = "SIZE", description = "host memory budget for streamed weights, e.g. 8G; layers past it stream from NVMe (default: no limit)")
    public String hostMemory;

    public RunProfile applyTo(RunProfile p) { return p.withPlacement(applyTo(p.placement())); }

    public RunProfile.Placement applyTo(RunProfile.Placement b) {
        Tier w = weights == null ? b.weights() : parseTier("--weights", weights, "device, host or nvme");
        Tier kv = kvCache == null ? b.kvCache() : parseTier("--kv-cache", kvCache, "device or host");
        if (kv == Tier.NVME) throw new EngineException("--kv-cache 'nvme' is not supported: keep the KV cache on the device or in host memory (device or host).");
        return new RunProfile.Placement(w, kv, nvmeDir != null ? nvmeDir : b.nvmeDir(),
                prefetch != null ? prefetch : b.prefetch(),
                deviceMemory != null ? parseSize("--device-memory", deviceMemory) : b.deviceMemory(),
                hostMemory != null ? parseSize("--host-memory", hostMemory) : b.hostMemory(), b.kvOffloadThreshold());
    }

    static Tier parseTier(String s) { return parseTier("--weights", s, "device, host or nvme"); }

    static Tier parseTier(String option, String s, String choices) {
        try {
            return Tier.valueOf(s.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new EngineException(option + " '" + s + "' is not a tier: use " + choices + ".");
        }
    }

    private static final java.util.regex.Pattern SIZE = java.util.regex.Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*([KMGT]?)(?:I?B)?");

    /** Parses {@code 512M}, {@code 2G}, {@code 1.5G}, {@code 64K}, {@code 1T}, {@code 2GiB} or plain bytes (powers of 1024); 0 = unlimited. */
    public static long parseSize(String option, String s) {
        var m = SIZE.matcher(s.trim().toUpperCase(Locale.ROOT));
        double v = m.matches() ? Double.parseDouble(m.group(1)) : -1;
        long mul = !m.matches() ? 1 : switch (m.group(2)) {
            case "K" -> 1L << 10;
            case "M" -> 1L << 20;
            case "G" -> 1L << 30;
            case "T" -> 1L << 40;
            default -> 1L;
        };
        if (v < 0 || v * mul >= Long.MAX_VALUE)
            throw new EngineException(option + " '" + s + "' is not a size: write a number of bytes with an optional K, M, G or T suffix, e.g. 512M or 2G.");
        return (long) Math.ceil(v * mul);
    }
}
