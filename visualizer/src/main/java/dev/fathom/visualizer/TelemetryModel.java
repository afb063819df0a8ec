package dev.fathom.visualizer;

import dev.fathom.engine.telemetry.KernelStats;
import dev.fathom.engine.telemetry.TelemetryEvent;
import dev.fathom.engine.telemetry.TelemetryRecorder;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the live views draw, folded incrementally from a {@link TelemetryRecorder}: the consumer calls
 * {@link #pull} at most ~30 times a second (from one thread, normally the FX thread), which reads only
 * the events added since the last pull. No JavaFX types here, so it is tested without a toolkit.
 *
 * <p>Bounded: bandwidth bins are merged pairwise past {@link #MAX_BINS}; spans kept for the timeline
 * stop at {@link #MAX_SPANS}; memory series halve past {@link #MAX_MEMORY_POINTS} (the recorder itself
 * is bounded too).
 */
public final class TelemetryModel {
    public static final int MAX_BINS = 1024;
    public static final int MAX_SPANS = 50_000;
    public static final int MAX_MEMORY_POINTS = 4096;

    /** Achieved bytes/s of one device/rank over time: bin i covers [i*binNs, (i+1)*binNs) after t0. */
    public static final class BandwidthSeries {
        private final String key;
        private long binNs;
        private double[] bytes = new double[64]; // [bins] bytes moved by kernels starting in the bin
        private int bins;

        BandwidthSeries(String key, long binNs) {
            this.key = key;
            this.binNs = binNs;
        }

        public String key() { return key; }
        public long binNs() { return binNs; }
        public int bins() { return bins; }
        /** Bytes/s in bin {@code i}. */
        public double rate(int i) { return bytes[i] / (binNs / 1e9); }
        public double binStartSeconds(int i) { return i * binNs / 1e9; }
        public double peakRate() {
            double m = 0;
            for (int i = 0; i < bins; i++) m = Math.max(m, rate(i));
            return m;
        }

        void add(long offsetNs, long b) {
            if (offsetNs < 0) offsetNs = 0;
            int i = (int) (offsetNs / binNs);
            while (i >= MAX_BINS) {
                merge();
                i = (int) (offsetNs / binNs);
            }
            if (i >= bytes.length) bytes = Arrays.copyOf(bytes, Math.max(i + 1, bytes.length * 2));
            bytes[i] += b;
            bins = Math.max(bins, i + 1);
        }

        private void merge() {
            int n = (bins + 1) / 2;
            for (int i = 0; i < n; i++) bytes[i] = bytes[2 * i] + (2 * i + 1 < bins ? bytes[2 * i + 1] : 0);
            Arrays.fill(bytes, n, bytes.length, 0);
            bins = n;
            binNs *= 2;
        }
    }

    /** Memory held in one device/tier at a moment. */
    public record MemoryPoint(double seconds, long usedBytes, long capacityBytes) {}

    private final long binNs;
    private long t0 = Long.MIN_VALUE;
    private long tEnd = Long.MIN_VALUE;
    private int consumed;
    private long revision;
    private long seenRecorderRevision = -1;
    private List<KernelStats> kernels = List.of();
    private final Map<String, KernelStats> ownKernels = new LinkedHashMap<>();
    private final Map<String, BandwidthSeries> bandwidth = new LinkedHashMap<>();
    private final Map<String, List<MemoryPoint>> memory = new LinkedHashMap<>();
    private final List<TelemetryEvent.StageSpan> stages = new ArrayList<>();
    private final List<TelemetryEvent.TransferSpan> transfers = new ArrayList<>();
    private final List<TelemetryEvent.PhaseSpan> phases = new ArrayList<>();
    private final List<TelemetryEvent.CollectiveSpan> collectives = new ArrayList<>();
    private int tokens;
    private long droppedSpans;

    public TelemetryModel() { this(10_000_000L); }

    /** @param binNs initial width of a bandwidth bin (bins double when a run grows long) */
    public TelemetryModel(long binNs) { this.binNs = binNs; }

    /** Sets the run's start (nanoTime); events before it count as at 0. Otherwise the first event's start. */
    public TelemetryModel startingAt(long nanoTime) {
        this.t0 = nanoTime;
        return this;
    }

    /** A model of a finished run's events (for the runs list and comparisons). */
    public static TelemetryModel of(List<TelemetryEvent> events, List<KernelStats> kernelStats) {
        TelemetryModel m = new TelemetryModel();
        m.t0 = events.stream().mapToLong(TelemetryEvent::startNs).min().orElse(0);
        m.fold(events);
        if (kernelStats != null && !kernelStats.isEmpty()) m.kernels = List.copyOf(kernelStats);
        m.revision++;
        return m;
    }

    /**
     * Reads what the recorder gained since the last call.
     *
     * @return true when anything changed (views redraw only then)
     */
    public boolean pull(TelemetryRecorder r) {
        long rev = r.revision();
        if (rev == seenRecorderRevision) return false;
        seenRecorderRevision = rev;
        if (r.eventCount() < consumed) reset();
        List<TelemetryEvent> fresh = r.eventsSince(consumed);
        consumed += fresh.size();
        fold(fresh);
        List<KernelStats> ks = r.kernelStats();
        if (!ks.isEmpty()) kernels = ks;
        revision++;
        return true;
    }

    private void reset() {
        consumed = 0;
        bandwidth.clear();
        memory.clear();
        stages.clear();
        transfers.clear();
        phases.clear();
        collectives.clear();
        ownKernels.clear();
        kernels = List.of();
        tokens = 0;
        tEnd = Long.MIN_VALUE;
    }

    private void fold(List<TelemetryEvent> events) {
        if (events.isEmpty()) return;
        if (t0 == Long.MIN_VALUE) t0 = events.stream().mapToLong(TelemetryEvent::startNs).min().orElse(0);
        for (TelemetryEvent e : events) {
            tEnd = Math.max(tEnd, e.startNs() + duration(e));
            switch (e) {
                case TelemetryEvent.KernelSpan k -> {
                    bandwidth.computeIfAbsent(k.device() + " rank " + k.rank(), key -> new BandwidthSeries(key, binNs))
                            .add(k.startNs() - t0, k.bytes());
                    ownKernels.merge(k.name(), new KernelStats(k.name(), 1, k.durNs(), k.bytes(), k.flops()),
                            (a, b) -> new KernelStats(a.name(), a.calls() + 1, a.totalNs() + b.totalNs(),
                                    a.bytes() + b.bytes(), a.flops() + b.flops()));
                }
                case TelemetryEvent.StageSpan s -> keep(stages, s);
                case TelemetryEvent.TransferSpan t -> keep(transfers, t);
                case TelemetryEvent.CollectiveSpan c -> keep(collectives, c);
                case TelemetryEvent.PhaseSpan p -> phases.add(p);
                case TelemetryEvent.TokenEvent t -> tokens++;
                case TelemetryEvent.MemorySample m -> {
                    List<MemoryPoint> l = memory.computeIfAbsent(m.device() + " · " + m.tier(), key -> new ArrayList<>());
                    if (l.size() >= MAX_MEMORY_POINTS) l.subList(0, l.size() / 2).clear();
                    l.add(new MemoryPoint(Math.max(0, m.startNs() - t0) / 1e9, m.usedBytes(), m.capacityBytes()));
                }
            }
        }
        if (kernels.size() < ownKernels.size()) {
            List<KernelStats> l = new ArrayList<>(ownKernels.values());
            l.sort((a, b) -> Long.compare(b.totalNs(), a.totalNs()));
            kernels = l;
        }
    }

    private <T> void keep(List<T> l, T e) {
        if (l.size() < MAX_SPANS) l.add(e);
        else droppedSpans++;
    }

    private static long duration(TelemetryEvent e) {
        return switch (e) {
            case TelemetryEvent.KernelSpan k -> k.durNs();
            case TelemetryEvent.StageSpan s -> s.durNs();
            case TelemetryEvent.TransferSpan t -> t.durNs();
            case TelemetryEvent.CollectiveSpan c -> c.durNs();
            case TelemetryEvent.PhaseSpan p -> p.durNs();
            default -> 0;
        };
    }

    /** Grows with every change. */
    public long revision() { return revision; }
    /** Start of the run, nanoTime. */
    public long t0() { return t0 == Long.MIN_VALUE ? 0 : t0; }
    /** Seconds from the start to the end of the last event. */
    public double spanSeconds() { return t0 == Long.MIN_VALUE || tEnd == Long.MIN_VALUE ? 0 : Math.max(0, tEnd - t0) / 1e9; }
    /** Kernel aggregates, largest total time first. */
    public List<KernelStats> kernels() { return kernels; }
    public Map<String, BandwidthSeries> bandwidth() { return bandwidth; }
    public Map<String, List<MemoryPoint>> memory() { return memory; }
    public List<TelemetryEvent.StageSpan> stages() { return stages; }
    public List<TelemetryEvent.TransferSpan> transfers() { return transfers; }
    public List<TelemetryEvent.PhaseSpan> phases() { return phases; }
    public List<TelemetryEvent.CollectiveSpan> collectives() { return collectives; }
    public int tokens() { return tokens; }
    public long droppedSpans() { return droppedSpans; }
    public long kernelNs() { return kernels.stream().mapToLong(KernelStats::totalNs).sum(); }
    public long kernelBytes() { return kernels.stream().mapToLong(KernelStats::bytes).sum(); }
}
