package dev.fathom.engine.calibrate;

import dev.fathom.engine.EngineException;
import dev.fathom.profiles.HardwareProfile;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;

/**
 * Measures this machine for {@code fathom calibrate}: memory read bandwidth (1 and N threads), F32
 * GEMM rate, and disk read speed; the host-to-device link is 0 on a CPU. {@link Calibration#toProfile()}
 * turns the figures into the "this machine" {@link HardwareProfile}.
 */
public final class Calibrator {
    private Calibrator() {}

    /**
     * What to measure and how much.
     *
     * @param memoryBytes buffer for the bandwidth test (at least 1 GiB for a real figure)
     * @param gemmN       matrix size of the GEMM test
     * @param diskBytes   temporary file size for the disk test (0 = skip)
     * @param diskDir     folder the temporary file goes in
     * @param threads     threads for the N-thread figures (0 = one per core)
     * @param passes      timed passes (the best counts)
     */
    public record Options(long memoryBytes, int gemmN, long diskBytes, Path diskDir, int threads, int passes) {
        /** The full measurement: 1 GiB buffer, 1024^2 GEMM, 1 GiB file. */
        public static Options full(Path diskDir) { return new Options(1L << 30, 1024, 1L << 30, diskDir, 0, 3); }
        /** A quick look (a few seconds, small buffers that caches distort): for tests and first impressions. */
        public static Options quick(Path diskDir) { return new Options(32L << 20, 160, 8L << 20, diskDir, 0, 2); }
    }

    /**
     * The measured figures.
     *
     * @param threads         threads used for the N-thread figures
     * @param memoryBytes     RAM of the machine
     * @param bandwidth1      memory read bandwidth on one thread, bytes/s
     * @param bandwidthN      memory read bandwidth on {@code threads} threads, bytes/s
     * @param gemm1           F32 GEMM rate on one thread, FLOP/s
     * @param gemmN           F32 GEMM rate on {@code threads} threads, FLOP/s
     * @param disk            disk read (null when skipped)
     * @param hostLink        host-to-device bandwidth (0: no accelerator)
     * @param quick           measured with the quick (cache-distorted) sizes
     * @param notes           how each figure was obtained
     */
    public record Calibration(int threads, long memoryBytes, double bandwidth1, double bandwidthN, double gemm1,
                              double gemmN, DiskRead disk, double hostLink, boolean quick, List<String> notes) {
        public Calibration { notes = List.copyOf(notes); }

        /** The "this machine" hardware profile: one CPU device with the N-thread figures. */
        public HardwareProfile toProfile() {
            String host;
            try {
                host = InetAddress.getLocalHost().getHostName();
            } catch (IOException e) {
                host = "this machine";
            }
            String desc = String.format("Measured by fathom calibrate%s on %s, %s, %d threads, %s: memory read %.1f GB/s "
                            + "(%.1f GB/s on one thread), F32 GEMM %.1f GFLOP/s, disk read %s.",
                    quick ? " --quick (small buffers; caches inflate the figures)" : "", host, cpuModel(), threads, LocalDate.now(),
                    bandwidthN / 1e9, bandwidth1 / 1e9, gemmN / 1e9,
                    disk == null ? "not measured" : String.format("%.2f GB/s%s", disk.bytesPerSecond() / 1e9, disk.direct() ? " (O_DIRECT)" : " (page cache)"));
            return new HardwareProfile(HardwareProfile.CURRENT_VERSION, "this-machine", desc, "cpu", 1, memoryBytes,
                    bandwidthN, Map.of("f32", gemmN), hostLink, disk == null ? 0 : disk.bytesPerSecond(), 0, true);
        }
    }

    /**
     * Runs the measurements; {@code progress} gets a step name and the fraction done (0..1).
     */
    public static Calibration run(Options o, BiConsumer<String, Double> progress) {
        BiConsumer<String, Double> p = progress == null ? (s, f) -> { } : progress;
        int threads = o.threads() > 0 ? o.threads() : Runtime.getRuntime().availableProcessors();
        List<String> notes = new ArrayList<>();
        p.accept("memory bandwidth", 0.0);
        double bw1, bwN;
        try (var arena = java.lang.foreign.Arena.ofShared()) {
            var seg = arena.allocate(o.memoryBytes(), 4096);
            MemoryBandwidth.fill(seg);
            p.accept("memory bandwidth", 0.15);
            bw1 = MemoryBandwidth.measure(seg, 1, o.passes());
            p.accept("memory bandwidth", 0.3);
            bwN = MemoryBandwidth.measure(seg, threads, o.passes());
        } catch (OutOfMemoryError e) {
            throw new EngineException("Cannot allocate " + (o.memoryBytes() >> 20) + " MiB for the bandwidth test: free some memory or use --quick.");
        }
        notes.add(String.format("memory: Vector API sum over a %d MiB off-heap buffer, best of %d passes", o.memoryBytes() >> 20, o.passes()));
        p.accept("GEMM", 0.45);
        double g1 = GemmRate.measure(Math.min(o.gemmN(), 512), 1, o.passes());
        p.accept("GEMM", 0.55);
        double gN = GemmRate.measure(o.gemmN(), threads, o.passes());
        notes.add(String.format("GEMM: blocked F32 %dx%d Vector API FMA (one thread: %dx%d), best of %d passes",
                o.gemmN(), o.gemmN(), Math.min(o.gemmN(), 512), Math.min(o.gemmN(), 512), o.passes()));
        DiskRead disk = null;
        if (o.diskBytes() > 0) {
            p.accept("disk read", 0.7);
            try {
                disk = DiskRead.measure(o.diskDir(), o.diskBytes());
                notes.add("disk: " + disk.note());
            } catch (IOException e) {
                throw new EngineException("Cannot measure disk reads in " + o.diskDir() + " (" + e.getMessage()
                        + "): choose a writable folder on the disk to measure with --disk-dir.");
            }
        }
        notes.add("host link: 0 (the CPU backend has no accelerator to copy to)");
        p.accept("done", 1.0);
        return new Calibration(threads, totalMemory(), bw1, bwN, g1, gN, disk, 0, o.memoryBytes() < (1L << 30), notes);
    }

    /** Physical memory from /proc/meminfo, or the JVM's maximum heap where that file is missing. */
    static long totalMemory() {
        try {
            for (String l : Files.readAllLines(Path.of("/proc/meminfo")))
                if (l.startsWith("MemTotal:")) return Long.parseLong(l.replaceAll("[^0-9]", "")) * 1024;
        } catch (IOException | RuntimeException ignored) { }
        return Runtime.getRuntime().maxMemory();
    }

    static String cpuModel() {
        try {
            for (String l : Files.readAllLines(Path.of("/proc/cpuinfo")))
                if (l.startsWith("model name")) return l.substring(l.indexOf(':') + 1).trim();
        } catch (IOException | RuntimeException ignored) { }
        return System.getProperty("os.arch");
    }
}
