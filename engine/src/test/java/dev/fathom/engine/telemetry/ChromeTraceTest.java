package dev.fathom.engine.telemetry;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fathom.engine.run.RunRecordJson;
import dev.fathom.engine.telemetry.TelemetryEvent.Phase;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ChromeTraceTest {
    @TempDir Path tmp;

    /** Two ranks on two devices, a pipeline, a copy, a collective, tokens, memory: every kind of event. */
    static List<TelemetryEvent> sample() {
        long t0 = 5_000_000_000L;
        List<TelemetryEvent> ev = new ArrayList<>();
        ev.add(new TelemetryEvent.PhaseSpan(Phase.PROMPT, t0, 3_000_000, 8));
        for (int r = 0; r < 2; r++)
            for (int l = 0; l < 3; l++)
                ev.add(new TelemetryEvent.KernelSpan("attn.qkv", "cuda:" + r, r, l, Phase.PROMPT, t0 + l * 1_000_000L, 400_000,
                        2_000_000, 8_000_000));
        ev.add(new TelemetryEvent.StageSpan(0, 0, 1, new int[]{0, 1}, Phase.DECODE, t0 + 3_000_000, 500_000));
        ev.add(new TelemetryEvent.StageSpan(1, 1, 1, new int[]{0, 1}, Phase.DECODE, t0 + 3_500_000, 500_000));
        ev.add(new TelemetryEvent.TransferSpan("h2d", "host", "cuda:1", 1, 2, t0 + 100_000, 2_000_000, 64_000_000));
        ev.add(new TelemetryEvent.CollectiveSpan("all_reduce", 1, 2, 4096, t0 + 450_000, 20_000));
        ev.add(new TelemetryEvent.TokenEvent(0, 42, 8, t0 + 3_000_001));
        ev.add(new TelemetryEvent.TokenEvent(1, 43, 8, t0 + 3_000_002));
        ev.add(new TelemetryEvent.MemorySample("cuda:0", "device", 1_000_000_000L, 4_000_000_000L, t0 + 10));
        ev.add(new TelemetryEvent.PhaseSpan(Phase.DECODE, t0 + 3_000_000, 1_000_000, 2));
        return ev;
    }

    static void checkChromeTrace(JsonNode root) {
        assertTrue(root.isObject());
        assertEquals("ms", root.path("displayTimeUnit").asText());
        assertTrue(root.path("metadata").isObject());
        JsonNode evs = root.path("traceEvents");
        assertTrue(evs.isArray() && !evs.isEmpty());
        Set<String> phs = Set.of("X", "C", "M", "i");
        for (JsonNode e : evs) {
            for (String f : new String[]{"name", "ph", "ts", "pid", "tid"}) assertTrue(e.has(f), "field " + f + " in " + e);
            assertTrue(e.get("name").isTextual() && e.get("ph").isTextual(), e.toString());
            assertTrue(e.get("ts").isNumber() && e.get("ts").asDouble() >= 0, e.toString());
            assertTrue(e.get("pid").isInt() && e.get("tid").isInt(), e.toString());
            String ph = e.get("ph").asText();
            assertTrue(phs.contains(ph), "phase " + ph);
            if (ph.equals("X")) assertTrue(e.path("dur").isNumber() && e.get("dur").asDouble() >= 0, e.toString());
            if (ph.equals("C")) {
                assertTrue(e.path("args").isObject() && !e.get("args").isEmpty(), e.toString());
                e.get("args").elements().forEachRemaining(v -> assertTrue(v.isNumber(), "counter values are numbers: " + e));
            }
            if (ph.equals("M")) assertTrue(e.path("args").isObject(), e.toString());
            if (ph.equals("i")) assertTrue(Set.of("t", "p", "g").contains(e.path("s").asText()), e.toString());
        }
    }

    @Test
    void everyEventHasTheFieldsChromeAndPerfettoNeed() throws Exception {
        Path f = tmp.resolve("sub/trace.json");
        ChromeTrace.write(f, sample(), Map.of("model", "test", "batch", 2));
        JsonNode root = new ObjectMapper().readTree(f.toFile());
        checkChromeTrace(root);
        assertEquals("test", root.path("metadata").path("model").asText());
        JsonNode evs = root.get("traceEvents");

        Map<Integer, String> processNames = new HashMap<>();
        Set<String> threadNames = new HashSet<>();
        int kernels = 0, tokens = 0, stages = 0, bandwidth = 0, memory = 0;
        double firstTs = Double.MAX_VALUE;
        for (JsonNode e : evs) {
            String ph = e.get("ph").asText();
            if (!ph.equals("M")) firstTs = Math.min(firstTs, e.get("ts").asDouble());
            if (ph.equals("M") && e.get("name").asText().equals("process_name")) processNames.put(e.get("pid").asInt(), e.get("args").get("name").asText());
            if (ph.equals("M") && e.get("name").asText().equals("thread_name")) threadNames.add(e.get("pid").asInt() + "/" + e.get("tid").asInt());
            if (ph.equals("X") && "kernel".equals(e.path("cat").asText())) {
                kernels++;
                JsonNode a = e.get("args");
                assertEquals(2_000_000, a.get("bytes").asLong());
                assertEquals(8_000_000, a.get("flops").asLong());
                assertEquals(5.0, a.get("GB/s").asDouble(), 1e-9, "2 MB in 400 us");
                assertEquals(400.0, e.get("dur").asDouble(), 1e-9, "dur in microseconds");
                assertTrue(a.has("layer") && a.has("phase"));
                // pid names the device, tid the rank
                assertEquals("device cuda:" + a.get("rank").asInt(), processNames.get(e.get("pid").asInt()));
                assertEquals(a.get("rank").asInt(), e.get("tid").asInt());
            }
            if (ph.equals("X") && "stage".equals(e.path("cat").asText())) {
                stages++;
                assertEquals(1, e.get("args").get("micro-batch").asInt());
                assertEquals(e.get("args").get("stage").asInt(), e.get("tid").asInt());
            }
            if (ph.equals("i")) tokens++;
            if (ph.equals("C") && e.get("name").asText().equals("bandwidth")) bandwidth++;
            if (ph.equals("C") && e.get("name").asText().startsWith("memory")) memory++;
        }
        assertEquals(6, kernels);
        assertEquals(2, stages);
        assertEquals(2, tokens);
        assertEquals(1, memory);
        assertTrue(bandwidth >= 4, "bandwidth counters per device over time: " + bandwidth);
        assertEquals(0.0, firstTs, 1e-9, "times are relative to the first event");
        assertTrue(processNames.values().containsAll(List.of("run", "device cuda:0", "device cuda:1", "pipeline stages")), processNames.toString());
        // every non-metadata event sits on a named thread
        for (JsonNode e : evs)
            if (!e.get("ph").asText().equals("M") && !e.get("ph").asText().equals("C"))
                assertTrue(threadNames.contains(e.get("pid").asInt() + "/" + e.get("tid").asInt()), "unnamed thread for " + e);
        assertFalse(Files.list(f.getParent()).anyMatch(p -> p.getFileName().toString().endsWith(".tmp")), "no temp file left");
    }

    @Test
    void bandwidthCounterAddsUpToTheBytesMoved() throws Exception {
        // one 10 MB kernel over 2 ms: 5 GB/s in both 1 ms buckets
        List<TelemetryEvent> ev = List.of(new TelemetryEvent.KernelSpan("mlp.up", "cpu", 0, 0, Phase.DECODE, 1_000, 2_000_000, 10_000_000, 0));
        Path f = tmp.resolve("bw.json");
        ChromeTrace.write(f, ev, null);
        double integral = 0, lastTs = -1, lastV = 0;
        for (JsonNode e : new ObjectMapper().readTree(f.toFile()).get("traceEvents")) {
            if (!e.get("ph").asText().equals("C")) continue;
            double ts = e.get("ts").asDouble();
            if (lastTs >= 0) integral += lastV * (ts - lastTs) * 1e3; // GB/s x ns = bytes
            lastTs = ts;
            lastV = e.get("args").get("GB/s").asDouble();
            assertTrue(lastV == 0 || Math.abs(lastV - 5.0) < 1e-9, "GB/s " + lastV);
        }
        assertEquals(10_000_000, integral, 1);
    }

    @Test
    void eventsSurviveTheReportJson() {
        List<TelemetryEvent> ev = sample();
        var arr = RunRecordJson.events(ev);
        assertEquals(ev.size(), arr.size());
        Path f = tmp.resolve("t1.json"), g = tmp.resolve("t2.json");
        ChromeTrace.write(f, ev, Map.of());
        // read back through the report form: same trace bytes (times were already relative)
        List<TelemetryEvent> back = new ArrayList<>();
        int i = 0;
        for (JsonNode n : arr) back.add(RunRecordJson.readEvent(n, "test", i++));
        ChromeTrace.write(g, back, Map.of());
        try {
            assertEquals(Files.readString(f), Files.readString(g));
        } catch (java.io.IOException e) {
            throw new RuntimeException(e);
        }
    }
}
