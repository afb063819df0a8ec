package dev.fathom.engine.run;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fathom.engine.EngineException;
import dev.fathom.engine.telemetry.KernelStats;
import dev.fathom.engine.telemetry.TelemetryEvent;
import dev.fathom.engine.telemetry.TelemetryEvent.CollectiveSpan;
import dev.fathom.engine.telemetry.TelemetryEvent.KernelSpan;
import dev.fathom.engine.telemetry.TelemetryEvent.MemorySample;
import dev.fathom.engine.telemetry.TelemetryEvent.Phase;
import dev.fathom.engine.telemetry.TelemetryEvent.PhaseSpan;
import dev.fathom.engine.telemetry.TelemetryEvent.StageSpan;
import dev.fathom.engine.telemetry.TelemetryEvent.TokenEvent;
import dev.fathom.engine.telemetry.TelemetryEvent.TransferSpan;
import dev.fathom.profiles.AtomicFiles;
import dev.fathom.profiles.ProfileCodec;
import dev.fathom.profiles.ProfileException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The JSON form of a {@link RunRecord} ({@code report.json}): the profile (in its own codec's form),
 * the plan text, model, summary, kernel table and — unless left out — the telemetry events, with
 * times in nanoseconds from the first event. {@link #read} turns it back into a record, so a trace
 * can be exported from a saved report.
 */
public final class RunRecordJson {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private RunRecordJson() {}

    public static ObjectNode toTree(RunRecord r) {
        ObjectNode o = JSON.createObjectNode();
        o.put("version", r.version());
        o.put("createdAt", r.createdAt());
        o.set("profile", ProfileCodec.toTree(r.profile()));
        o.put("plan", r.plan());
        o.put("layout", r.layout());
        ObjectNode m = o.putObject("model");
        var ms = r.model();
        m.put("source", ms.source());
        m.put("synthetic", ms.synthetic());
        m.put("family", ms.family());
        m.put("shape", ms.shape());
        m.put("parameters", ms.parameters());
        m.put("weightBytes", ms.weightBytes());
        m.put("weightDtype", ms.weightDtype());
        ObjectNode s = o.putObject("summary");
        var su = r.summary();
        s.put("batch", su.batch());
        s.put("promptTokens", su.promptTokens());
        s.put("generatedTokens", su.generatedTokens());
        s.put("decodeSteps", su.decodeSteps());
        s.put("prefillMs", su.prefillMs());
        s.put("decodeMs", su.decodeMs());
        s.put("decodeMsPerToken", su.decodeMsPerToken());
        s.put("tokensPerSecond", su.tokensPerSecond());
        s.put("bytesPerToken", su.bytesPerToken());
        s.put("achievedGBps", su.achievedGBps());
        s.put("cancelled", su.cancelled());
        ArrayNode ks = o.putArray("kernels");
        for (KernelStats k : r.kernels()) {
            ObjectNode kn = ks.addObject();
            kn.put("name", k.name());
            kn.put("calls", k.calls());
            kn.put("totalNs", k.totalNs());
            kn.put("bytes", k.bytes());
            kn.put("flops", k.flops());
            kn.put("meanUs", k.meanUs());
            kn.put("GBps", k.gbPerS());
            kn.put("GFLOPps", k.gflopPerS());
        }
        o.put("droppedEvents", r.droppedEvents());
        if (!r.events().isEmpty()) o.set("events", events(r.events()));
        return o;
    }

    public static String write(RunRecord r) {
        try {
            return JSON.writeValueAsString(toTree(r)) + "\n";
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Saves the record atomically. */
    public static void save(RunRecord r, Path file) {
        try {
            AtomicFiles.write(file, out -> JSON.writeValue(new NoClose(out), toTree(r)));
        } catch (IOException e) {
            throw new EngineException("Cannot write the report " + file + " (" + e.getMessage() + "): check the folder exists and is writable.", e);
        }
    }

    /** Reads a report written by {@link #save}; a sentence naming the file and field otherwise. */
    public static RunRecord load(Path file) {
        if (!Files.isRegularFile(file)) throw new EngineException(file + " does not exist: give a report written by 'fathom run --report'.");
        JsonNode t;
        try {
            t = JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new EngineException(file + " is not valid JSON (" + (e instanceof com.fasterxml.jackson.core.JsonProcessingException j ? j.getOriginalMessage() : e.getMessage()) + "): give a report written by 'fathom run --report'.");
        }
        return read(t, file.getFileName().toString());
    }

    public static RunRecord read(JsonNode t, String source) {
        if (t == null || !t.isObject() || !t.has("summary") || !t.has("profile"))
            throw new EngineException(source + " is not a Fathom run report (no 'profile' or 'summary'): give a report written by 'fathom run --report'.");
        JsonNode m = t.path("model"), s = t.path("summary");
        var ms = new RunRecord.ModelSummary(m.path("source").asText(), m.path("synthetic").asBoolean(), m.path("family").asText(),
                m.path("shape").asText(), m.path("parameters").asLong(), m.path("weightBytes").asLong(), m.path("weightDtype").asText());
        var su = new RunRecord.Summary(s.path("batch").asInt(), s.path("promptTokens").asInt(), s.path("generatedTokens").asInt(),
                s.path("decodeSteps").asInt(), s.path("prefillMs").asDouble(), s.path("decodeMs").asDouble(),
                s.path("decodeMsPerToken").asDouble(), s.path("tokensPerSecond").asDouble(), s.path("bytesPerToken").asDouble(),
                s.path("achievedGBps").asDouble(), s.path("cancelled").asBoolean());
        List<KernelStats> ks = new ArrayList<>();
        for (JsonNode k : t.path("kernels"))
            ks.add(new KernelStats(k.path("name").asText(), k.path("calls").asLong(), k.path("totalNs").asLong(),
                    k.path("bytes").asLong(), k.path("flops").asLong()));
        List<TelemetryEvent> ev = new ArrayList<>();
        int i = 0;
        for (JsonNode e : t.path("events")) ev.add(readEvent(e, source, i++));
        try {
            return new RunRecord(t.path("version").asInt(RunRecord.CURRENT_VERSION), t.path("createdAt").asText(),
                    ProfileCodec.fromTree(t.get("profile"), source + " $.profile"), t.path("plan").asText(), t.path("layout").asText(),
                    ms, su, ks, ev, t.path("droppedEvents").asLong());
        } catch (ProfileException e) {
            throw new EngineException(e.getMessage(), e);
        }
    }

    // ------------------------------------------------------------------ events

    /** Events as a JSON array, times in ns from the first event. */
    public static ArrayNode events(List<TelemetryEvent> events) {
        long t0 = Long.MAX_VALUE;
        for (TelemetryEvent e : events) t0 = Math.min(t0, e.startNs());
        ArrayNode a = JSON.createArrayNode();
        for (TelemetryEvent e : events) {
            ObjectNode o = a.addObject();
            long t = e.startNs() - t0;
            switch (e) {
                case KernelSpan k -> {
                    o.put("type", "kernel").put("name", k.name()).put("device", k.device()).put("rank", k.rank())
                            .put("layer", k.layer()).put("phase", k.phase().name()).put("t", t).put("dur", k.durNs())
                            .put("bytes", k.bytes()).put("flops", k.flops());
                }
                case TransferSpan x -> o.put("type", "transfer").put("kind", x.kind()).put("from", x.from()).put("to", x.to())
                        .put("rank", x.rank()).put("layer", x.layer()).put("t", t).put("dur", x.durNs()).put("bytes", x.bytes());
                case StageSpan x -> {
                    o.put("type", "stage").put("stage", x.stage()).put("rank", x.rank()).put("microBatch", x.microBatch())
                            .put("phase", x.phase().name()).put("t", t).put("dur", x.durNs());
                    ArrayNode sq = o.putArray("sequences");
                    if (x.sequences() != null) for (int q : x.sequences()) sq.add(q);
                }
                case CollectiveSpan x -> o.put("type", "collective").put("op", x.op()).put("rank", x.rank())
                        .put("group", x.groupSize()).put("bytes", x.bytes()).put("t", t).put("dur", x.durNs());
                case TokenEvent x -> o.put("type", "token").put("sequence", x.sequence()).put("token", x.token())
                        .put("position", x.position()).put("t", t);
                case MemorySample x -> o.put("type", "memory").put("device", x.device()).put("tier", x.tier())
                        .put("used", x.usedBytes()).put("capacity", x.capacityBytes()).put("t", t);
                case PhaseSpan x -> o.put("type", "phase").put("phase", x.phase().name()).put("t", t).put("dur", x.durNs())
                        .put("tokens", x.tokens());
            }
        }
        return a;
    }

    /** One event of {@link #events}; {@code i} is its index, for the message when it cannot be read. */
    public static TelemetryEvent readEvent(JsonNode o, String source, int i) {
        String type = o.path("type").asText();
        long t = o.path("t").asLong(), d = o.path("dur").asLong();
        try {
            return switch (type) {
                case "kernel" -> new KernelSpan(o.path("name").asText(), o.path("device").asText(), o.path("rank").asInt(),
                        o.path("layer").asInt(), Phase.valueOf(o.path("phase").asText()), t, d, o.path("bytes").asLong(), o.path("flops").asLong());
                case "transfer" -> new TransferSpan(o.path("kind").asText(), o.path("from").asText(), o.path("to").asText(),
                        o.path("rank").asInt(), o.path("layer").asInt(), t, d, o.path("bytes").asLong());
                case "stage" -> {
                    int[] sq = new int[o.path("sequences").size()];
                    for (int j = 0; j < sq.length; j++) sq[j] = o.path("sequences").get(j).asInt();
                    yield new StageSpan(o.path("stage").asInt(), o.path("rank").asInt(), o.path("microBatch").asInt(), sq,
                            Phase.valueOf(o.path("phase").asText()), t, d);
                }
                case "collective" -> new CollectiveSpan(o.path("op").asText(), o.path("rank").asInt(), o.path("group").asInt(),
                        o.path("bytes").asLong(), t, d);
                case "token" -> new TokenEvent(o.path("sequence").asInt(), o.path("token").asInt(), o.path("position").asInt(), t);
                case "memory" -> new MemorySample(o.path("device").asText(), o.path("tier").asText(), o.path("used").asLong(),
                        o.path("capacity").asLong(), t);
                case "phase" -> new PhaseSpan(Phase.valueOf(o.path("phase").asText()), t, d, o.path("tokens").asInt());
                default -> throw new IllegalArgumentException("type");
            };
        } catch (IllegalArgumentException e) {
            throw new EngineException(source + ": $.events[" + i + "] is not a telemetry event this version reads (type '" + type
                    + "', phase '" + o.path("phase").asText() + "'): write the report again with this version of Fathom.");
        }
    }

    /** Keeps Jackson from closing the atomic writer's stream. */
    private static final class NoClose extends java.io.FilterOutputStream {
        NoClose(java.io.OutputStream out) { super(out); }
        @Override public void write(byte[] b, int off, int len) throws IOException { out.write(b, off, len); }
        @Override public void close() throws IOException { out.flush(); }
    }
}
