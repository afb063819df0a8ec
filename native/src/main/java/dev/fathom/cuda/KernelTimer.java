package dev.fathom.cuda;

import dev.fathom.engine.telemetry.TelemetryEvent;
import dev.fathom.engine.telemetry.TelemetryEvent.Phase;
import dev.fathom.engine.telemetry.TelemetrySink;

import java.util.ArrayList;
import java.util.List;

/**
 * Per-kernel telemetry of one stream: a pair of CUDA events around each launch (pooled, reused every pass), turned into
 * {@code KernelSpan}s once the pass has finished — times from the events, placed on the host clock of the first launch.
 * Nothing is recorded while the sink is off.
 */
final class KernelTimer implements AutoCloseable {
    private record Pending(String name, int layer, Phase phase, long hostNs, long bytes, long flops) {}

    private final Cuda cu;
    private final TelemetrySink sink;
    private final long stream;
    private final List<long[]> events = new ArrayList<>();
    private final List<Pending> pending = new ArrayList<>();

    KernelTimer(Cuda cu, TelemetrySink sink, long stream) {
        this.cu = cu;
        this.sink = sink;
        this.stream = stream;
    }

    /** Whether launches are timed (the sink is on). */
    boolean on() { return sink.enabled(); }

    /** Runs {@code launch} between two events when the sink is on; plainly otherwise. */
    void time(String name, int layer, Phase phase, long bytes, long flops, Runnable launch) {
        if (!sink.enabled()) {
            launch.run();
            return;
        }
        int i = pending.size();
        while (events.size() <= i) events.add(new long[]{cu.eventCreate(), cu.eventCreate()});
        long[] ev = events.get(i);
        long t0 = System.nanoTime();
        cu.eventRecord(ev[0], stream);
        launch.run();
        cu.eventRecord(ev[1], stream);
        pending.add(new Pending(name, layer, phase, t0, bytes, flops));
    }

    /**
     * After the stream finished: one KernelSpan per timed launch on {@code device} for {@code rank}, layers shifted by
     * {@code firstLayer}; launches whose name contains "allreduce" also give a CollectiveSpan over {@code groupSize}
     * ranks ({@code groupSize} > 1) of {@code bytes / (groupSize + 2)} bytes, the message the timed bytes count.
     */
    void flush(String device, int rank, int firstLayer, int groupSize) {
        if (pending.isEmpty()) return;
        long base = pending.getFirst().hostNs();
        for (int i = 0; i < pending.size(); i++) {
            Pending p = pending.get(i);
            long[] ev = events.get(i);
            long start = base + (long) (cu.elapsedMs(events.getFirst()[0], ev[0]) * 1e6);
            long dur = (long) (cu.elapsedMs(ev[0], ev[1]) * 1e6);
            sink.emit(new TelemetryEvent.KernelSpan(p.name(), device, rank, p.layer() < 0 ? p.layer() : firstLayer + p.layer(), p.phase(),
                    start, dur, p.bytes(), p.flops()));
            if (groupSize > 1 && p.name().contains("allreduce"))   // the workbench's collective views read these
                sink.emit(new TelemetryEvent.CollectiveSpan("all_reduce", rank, groupSize, p.bytes() / (groupSize + 2), start, dur));
        }
        pending.clear();
    }

    @Override
    public void close() {
        for (long[] ev : events) { cu.eventDestroy(ev[0]); cu.eventDestroy(ev[1]); }
        events.clear();
    }
}
