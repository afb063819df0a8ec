package dev.fathom.engine.telemetry;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fathom.engine.telemetry.TelemetryEvent.CollectiveSpan;
import dev.fathom.engine.telemetry.TelemetryEvent.KernelSpan;
import dev.fathom.engine.telemetry.TelemetryEvent.MemorySample;
import dev.fathom.engine.telemetry.TelemetryEvent.PhaseSpan;
import dev.fathom.engine.telemetry.TelemetryEvent.StageSpan;
import dev.fathom.engine.telemetry.TelemetryEvent.TokenEvent;
import dev.fathom.engine.telemetry.TelemetryEvent.TransferSpan;
import dev.fathom.profiles.AtomicFiles;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Writes recorded telemetry as Chrome Trace Event JSON (the "JSON object format" that
 * {@code chrome://tracing} and Perfetto's UI open):
 * <pre>{"traceEvents":[...], "displayTimeUnit":"ms", "metadata":{...}}</pre>
 *
 * <ul>
 *   <li>{@code X} complete events for kernels, pipeline stages, transfers and collectives;
 *       {@code ts}/{@code dur} in microseconds from the first event;</li>
 *   <li>one process ({@code pid}) per device, one thread ({@code tid}) per rank, plus lanes for
 *       collectives and transfers; pipeline stages get a process of their own with one lane per stage;
 *       the run itself (phases, tokens) is process 1;</li>
 *   <li>{@code C} counters: achieved bandwidth per device (bytes of kernels and transfers spread over
 *       fixed buckets of at least 1 ms) and memory per device and tier;</li>
 *   <li>{@code i} instant events for tokens; {@code M} events naming processes and threads.</li>
 * </ul>
 */
public final class ChromeTrace {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Lane offsets inside a device process. */
    static final int TID_COLLECTIVE = 1000, TID_TRANSFER = 2000;
    static final int PID_RUN = 1, PID_PIPELINE = 2, PID_FIRST_DEVICE = 10;
    /** Buckets of the bandwidth counter: at least this long, at most {@link #MAX_BUCKETS} of them. */
    static final long MIN_BUCKET_NS = 1_000_000;
    static final int MAX_BUCKETS = 5_000;

    private ChromeTrace() {}

    /** Writes the trace of {@code events} to {@code file} atomically; {@code metadata} values are strings or numbers. */
    public static void write(Path file, List<TelemetryEvent> events, Map<String, ?> metadata) {
        try {
            AtomicFiles.write(file, out -> write(out, events, metadata));
        } catch (IOException e) {
            throw new dev.fathom.engine.EngineException("Cannot write the trace " + file + " (" + e.getMessage() + "): check the folder exists and is writable.", e);
        }
    }

    /** Streams the trace JSON to {@code out} (not closed). */
    public static void write(OutputStream out, List<TelemetryEvent> events, Map<String, ?> metadata) throws IOException {
        Layout lay = new Layout(events);
        try (JsonGenerator g = JSON.getFactory().createGenerator(out, JsonEncoding.UTF8)) {
            g.disable(JsonGenerator.Feature.AUTO_CLOSE_TARGET);
            g.writeStartObject();
            g.writeArrayFieldStart("traceEvents");
            lay.writeNames(g);
            List<TelemetryEvent> sorted = new ArrayList<>(events);
            sorted.sort(Comparator.comparingLong(TelemetryEvent::startNs));
            for (TelemetryEvent e : sorted) lay.writeEvent(g, e);
            lay.writeBandwidth(g, sorted);
            g.writeEndArray();
            g.writeStringField("displayTimeUnit", "ms");
            g.writeObjectFieldStart("metadata");
            g.writeStringField("generator", "Fathom");
            g.writeNumberField("events", events.size());
            if (metadata != null)
                for (var m : metadata.entrySet()) {
                    if (m.getValue() instanceof Number n) {
                        if (n instanceof Double || n instanceof Float) g.writeNumberField(m.getKey(), n.doubleValue());
                        else g.writeNumberField(m.getKey(), n.longValue());
                    } else g.writeStringField(m.getKey(), String.valueOf(m.getValue()));
                }
            g.writeEndObject();
            g.writeEndObject();
        }
        out.flush();
    }

    /** The process and thread numbering of one trace. */
    private static final class Layout {
        final long t0;
        final Map<String, Integer> devicePid = new LinkedHashMap<>();
        /** rank → device it ran kernels on (for collectives, which carry no device). */
        final Map<Integer, String> rankDevice = new TreeMap<>();
        /** pid → tid → thread name. */
        final Map<Integer, Map<Integer, String>> threads = new TreeMap<>();
        final Map<String, Integer> transferLanes = new LinkedHashMap<>();

        Layout(List<TelemetryEvent> events) {
            long min = Long.MAX_VALUE;
            for (TelemetryEvent e : events) min = Math.min(min, e.startNs());
            t0 = events.isEmpty() ? 0 : min;
            for (TelemetryEvent e : events) if (e instanceof KernelSpan k) rankDevice.putIfAbsent(k.rank(), k.device());
            thread(PID_RUN, 0, "phases");
            thread(PID_RUN, 1, "tokens");
            for (TelemetryEvent e : events) {
                switch (e) {
                    case KernelSpan k -> thread(pid(k.device()), k.rank(), "rank " + k.rank());
                    case CollectiveSpan c -> thread(pid(deviceOfRank(c.rank())), TID_COLLECTIVE + c.rank(), "rank " + c.rank() + " collectives");
                    case TransferSpan t -> thread(pid(transferDevice(t)), transferTid(t), "copy " + t.from() + " → " + t.to());
                    case StageSpan s -> thread(PID_PIPELINE, s.stage(), "stage " + s.stage());
                    case MemorySample m -> pid(m.device());
                    default -> { }
                }
            }
        }

        int pid(String device) {
            return devicePid.computeIfAbsent(device == null ? "cpu" : device, d -> PID_FIRST_DEVICE + devicePid.size());
        }

        void thread(int pid, int tid, String name) { threads.computeIfAbsent(pid, p -> new TreeMap<>()).putIfAbsent(tid, name); }

        String deviceOfRank(int rank) {
            String d = rankDevice.get(rank);
            if (d != null) return d;
            return rankDevice.isEmpty() ? "cpu" : rankDevice.values().iterator().next();
        }

        /** A transfer is drawn on the device end of the copy (the side that is not host or disk). */
        static String transferDevice(TransferSpan t) {
            return isStorage(t.to()) && !isStorage(t.from()) ? t.from() : t.to();
        }

        static boolean isStorage(String s) {
            String n = s == null ? "" : s.toLowerCase(Locale.ROOT);
            return n.equals("host") || n.equals("nvme") || n.equals("disk") || n.startsWith("host") || n.startsWith("nvme");
        }

        int transferTid(TransferSpan t) {
            return TID_TRANSFER + transferLanes.computeIfAbsent(t.from() + "\u0000" + t.to() + "\u0000" + t.rank(), k -> transferLanes.size());
        }

        double us(long ns) { return (ns - t0) / 1e3; }

        void writeNames(JsonGenerator g) throws IOException {
            meta(g, "process_name", PID_RUN, 0, "run");
            meta(g, "process_sort_index", PID_RUN, 0, 0);
            if (threads.containsKey(PID_PIPELINE)) {
                meta(g, "process_name", PID_PIPELINE, 0, "pipeline stages");
                meta(g, "process_sort_index", PID_PIPELINE, 0, 1);
            }
            for (var d : devicePid.entrySet()) {
                meta(g, "process_name", d.getValue(), 0, "device " + d.getKey());
                meta(g, "process_sort_index", d.getValue(), 0, d.getValue());
            }
            for (var p : threads.entrySet())
                for (var t : p.getValue().entrySet()) {
                    meta(g, "thread_name", p.getKey(), t.getKey(), t.getValue());
                    meta(g, "thread_sort_index", p.getKey(), t.getKey(), t.getKey());
                }
        }

        static void meta(JsonGenerator g, String what, int pid, int tid, Object value) throws IOException {
            g.writeStartObject();
            g.writeStringField("name", what);
            g.writeStringField("ph", "M");
            g.writeNumberField("ts", 0);
            g.writeNumberField("pid", pid);
            g.writeNumberField("tid", tid);
            g.writeObjectFieldStart("args");
            if (value instanceof Integer i) g.writeNumberField("sort_index", i);
            else g.writeStringField("name", String.valueOf(value));
            g.writeEndObject();
            g.writeEndObject();
        }

        void head(JsonGenerator g, String name, String cat, String ph, long startNs, int pid, int tid) throws IOException {
            g.writeStartObject();
            g.writeStringField("name", name);
            if (cat != null) g.writeStringField("cat", cat);
            g.writeStringField("ph", ph);
            g.writeNumberField("ts", us(startNs));
            g.writeNumberField("pid", pid);
            g.writeNumberField("tid", tid);
        }

        static void traffic(JsonGenerator g, long bytes, long durNs) throws IOException {
            g.writeNumberField("bytes", bytes);
            g.writeNumberField("GB/s", durNs <= 0 ? 0 : round3(bytes / (double) durNs));
        }

        void writeEvent(JsonGenerator g, TelemetryEvent e) throws IOException {
            switch (e) {
                case KernelSpan k -> {
                    head(g, k.name(), "kernel", "X", k.startNs(), pid(k.device()), k.rank());
                    g.writeNumberField("dur", k.durNs() / 1e3);
                    g.writeObjectFieldStart("args");
                    traffic(g, k.bytes(), k.durNs());
                    g.writeNumberField("flops", k.flops());
                    g.writeNumberField("GFLOP/s", k.durNs() <= 0 ? 0 : round3(k.flops() / (double) k.durNs()));
                    g.writeNumberField("layer", k.layer());
                    g.writeStringField("phase", phase(k.phase()));
                    g.writeNumberField("rank", k.rank());
                    g.writeEndObject();
                    g.writeEndObject();
                }
                case TransferSpan t -> {
                    head(g, t.kind(), "transfer", "X", t.startNs(), pid(transferDevice(t)), transferTid(t));
                    g.writeNumberField("dur", t.durNs() / 1e3);
                    g.writeObjectFieldStart("args");
                    traffic(g, t.bytes(), t.durNs());
                    g.writeStringField("from", t.from());
                    g.writeStringField("to", t.to());
                    g.writeNumberField("layer", t.layer());
                    g.writeNumberField("rank", t.rank());
                    g.writeEndObject();
                    g.writeEndObject();
                }
                case StageSpan s -> {
                    head(g, phase(s.phase()) + " mb" + s.microBatch(), "stage", "X", s.startNs(), PID_PIPELINE, s.stage());
                    g.writeNumberField("dur", s.durNs() / 1e3);
                    g.writeObjectFieldStart("args");
                    g.writeNumberField("stage", s.stage());
                    g.writeNumberField("rank", s.rank());
                    g.writeNumberField("micro-batch", s.microBatch());
                    g.writeStringField("phase", phase(s.phase()));
                    g.writeStringField("sequences", java.util.Arrays.toString(s.sequences() == null ? new int[0] : s.sequences()));
                    g.writeEndObject();
                    g.writeEndObject();
                }
                case CollectiveSpan c -> {
                    head(g, c.op(), "collective", "X", c.startNs(), pid(deviceOfRank(c.rank())), TID_COLLECTIVE + c.rank());
                    g.writeNumberField("dur", c.durNs() / 1e3);
                    g.writeObjectFieldStart("args");
                    traffic(g, c.bytes(), c.durNs());
                    g.writeNumberField("rank", c.rank());
                    g.writeNumberField("group", c.groupSize());
                    g.writeEndObject();
                    g.writeEndObject();
                }
                case PhaseSpan p -> {
                    if (p.durNs() <= 0) return;
                    head(g, phase(p.phase()), "phase", "X", p.startNs(), PID_RUN, 0);
                    g.writeNumberField("dur", p.durNs() / 1e3);
                    g.writeObjectFieldStart("args");
                    g.writeNumberField("tokens", p.tokens());
                    g.writeEndObject();
                    g.writeEndObject();
                }
                case TokenEvent t -> {
                    head(g, "token", "token", "i", t.startNs(), PID_RUN, 1);
                    g.writeStringField("s", "t");
                    g.writeObjectFieldStart("args");
                    g.writeNumberField("sequence", t.sequence());
                    g.writeNumberField("token", t.token());
                    g.writeNumberField("position", t.position());
                    g.writeEndObject();
                    g.writeEndObject();
                }
                case MemorySample m -> {
                    head(g, "memory " + m.tier(), "memory", "C", m.startNs(), pid(m.device()), 0);
                    g.writeObjectFieldStart("args");
                    g.writeNumberField("used MB", round3(m.usedBytes() / 1e6));
                    g.writeNumberField("free MB", round3(Math.max(0, m.capacityBytes() - m.usedBytes()) / 1e6));
                    g.writeEndObject();
                    g.writeEndObject();
                }
            }
        }

        /** Bytes moved per device spread evenly over each span's time, summed into buckets, as GB/s counters. */
        void writeBandwidth(JsonGenerator g, List<TelemetryEvent> sorted) throws IOException {
            long end = t0;
            for (TelemetryEvent e : sorted) end = Math.max(end, e.startNs() + dur(e));
            long total = end - t0;
            if (total <= 0) return;
            long bucket = Math.max(MIN_BUCKET_NS, (total + MAX_BUCKETS - 1) / MAX_BUCKETS);
            int n = (int) ((total + bucket - 1) / bucket);
            Map<String, double[]> perDevice = new LinkedHashMap<>();
            for (TelemetryEvent e : sorted) {
                String dev;
                long bytes;
                switch (e) {
                    case KernelSpan k -> { dev = k.device(); bytes = k.bytes(); }
                    case TransferSpan t -> { dev = transferDevice(t); bytes = t.bytes(); }
                    default -> { continue; }
                }
                if (bytes <= 0) continue;
                double[] b = perDevice.computeIfAbsent(dev, d -> new double[n]);
                long s = e.startNs() - t0, d = Math.max(1, dur(e));
                for (long at = s; at < s + d; ) {
                    int i = (int) Math.min(n - 1, at / bucket);
                    long upto = Math.min(s + d, (i + 1L) * bucket);
                    if (upto <= at) upto = s + d;
                    b[i] += bytes * (double) (upto - at) / d;
                    at = upto;
                }
            }
            for (var p : perDevice.entrySet()) {
                int pid = pid(p.getKey());
                double[] b = p.getValue();
                double last = -1;
                for (int i = 0; i < n; i++) {
                    double gbs = round3(b[i] / bucket);
                    if (gbs == last) continue;
                    counter(g, pid, t0 + i * bucket, gbs);
                    last = gbs;
                }
                counter(g, pid, t0 + n * bucket, 0);
            }
        }

        void counter(JsonGenerator g, int pid, long atNs, double gbs) throws IOException {
            head(g, "bandwidth", "bandwidth", "C", atNs, pid, 0);
            g.writeObjectFieldStart("args");
            g.writeNumberField("GB/s", gbs);
            g.writeEndObject();
            g.writeEndObject();
        }

        static long dur(TelemetryEvent e) {
            return switch (e) {
                case KernelSpan k -> k.durNs();
                case TransferSpan t -> t.durNs();
                case StageSpan s -> s.durNs();
                case CollectiveSpan c -> c.durNs();
                case PhaseSpan p -> p.durNs();
                default -> 0;
            };
        }
    }

    static String phase(TelemetryEvent.Phase p) { return p == null ? "unknown" : p.name().toLowerCase(Locale.ROOT); }

    static double round3(double v) { return Math.round(v * 1000.0) / 1000.0; }
}
