package dev.fathom.engine.telemetry;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Keeps a run's telemetry: per-kernel aggregates always, and the individual events up to a bound
 * (the oldest kernel spans are dropped past it, so memory stays bounded on long runs).
 */
public final class TelemetryRecorder implements TelemetrySink {
    private final int maxEvents;
    private final Map<String, KernelStats> kernels = new LinkedHashMap<>();
    private final ArrayList<TelemetryEvent> events = new ArrayList<>();
    private long dropped;
    private long revision;

    public TelemetryRecorder(int maxEvents) { this.maxEvents = maxEvents; }

    public TelemetryRecorder() { this(200_000); }

    @Override
    public synchronized void emit(TelemetryEvent e) {
        revision++;
        if (e instanceof TelemetryEvent.KernelSpan k)
            kernels.merge(k.name(), new KernelStats(k.name(), 1, k.durNs(), k.bytes(), k.flops()),
                    (a, b) -> a.plus(b.totalNs(), b.bytes(), b.flops()));
        if (events.size() >= maxEvents) {
            dropped++;
            if (e instanceof TelemetryEvent.KernelSpan) return;
        }
        events.add(e);
    }

    /** Kernel aggregates, largest total time first. */
    public synchronized List<KernelStats> kernelStats() {
        List<KernelStats> l = new ArrayList<>(kernels.values());
        l.sort(Comparator.comparingLong(KernelStats::totalNs).reversed());
        return l;
    }

    public synchronized List<TelemetryEvent> events() { return List.copyOf(events); }

    /** Events from index {@code from} on (for incremental consumers). */
    public synchronized List<TelemetryEvent> eventsSince(int from) {
        return from >= events.size() ? List.of() : List.copyOf(events.subList(from, events.size()));
    }

    public synchronized int eventCount() { return events.size(); }
    public synchronized long dropped() { return dropped; }
    /** Grows with every event; a consumer redraws when it changed. */
    public synchronized long revision() { return revision; }

    public synchronized void clear() {
        kernels.clear();
        events.clear();
        dropped = 0;
        revision++;
    }
}
