package dev.fathom.app.support;

import dev.fathom.profiles.HardwareProfile;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * The "this machine" hardware profile: the one {@code fathom calibrate} measured, or else one from what the OS says (cores, RAM from /proc/meminfo) and nominal
 * peaks, until {@code fathom calibrate} measures them: bandwidth 20 GB/s, and FLOP/s = cores x 2.5 GHz x
 * 32 (two 512-bit FMA pipes on fp32). Marked not measured so the views say "nominal".
 */
public final class ThisMachine {
    private ThisMachine() {}

    public static final double NOMINAL_BANDWIDTH = 20e9;

    /** The measured profile when {@code fathom calibrate} has saved one, else the nominal one below. */
    public static HardwareProfile profile() {
        try {
            var measured = dev.fathom.profiles.HardwareStore.loadThisMachine();
            if (measured.isPresent()) return measured.get();
        } catch (RuntimeException e) {
            System.err.println("fathom: ignoring the saved this-machine profile (" + e.getMessage() + "); using nominal peaks.");
        }
        return nominal();
    }

    /** Nominal peaks from the core count and RAM. */
    public static HardwareProfile nominal() {
        int cores = Runtime.getRuntime().availableProcessors();
        long ram = totalRam();
        double flops = cores * 2.5e9 * 32;
        return new HardwareProfile(HardwareProfile.CURRENT_VERSION, "this-machine",
                cores + " CPU cores, " + String.format(java.util.Locale.ROOT, "%.1f GB", ram / 1e9) + " RAM (nominal peaks, not measured)",
                "cpu", 1, ram, NOMINAL_BANDWIDTH, Map.of("f32", flops, "bf16", flops, "f16", flops, "int8", 2 * flops),
                0, 2e9, 0, false);
    }

    /** MemTotal from /proc/meminfo, else the JVM's max heap. */
    public static long totalRam() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemTotal:")) {
                    String[] p = line.trim().split("\\s+");
                    return Long.parseLong(p[1]) * 1024;
                }
            }
        } catch (IOException | RuntimeException ignored) {
            // not Linux: fall through
        }
        return Runtime.getRuntime().maxMemory();
    }
}
