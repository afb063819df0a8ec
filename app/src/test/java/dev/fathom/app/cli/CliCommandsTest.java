package dev.fathom.app.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fathom.profiles.HardwarePresets;
import dev.fathom.profiles.HardwareProfile;
import dev.fathom.profiles.HardwareStore;
import dev.fathom.profiles.Precision;
import dev.fathom.profiles.ProfileCodec;
import dev.fathom.profiles.RunProfile;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;

import static dev.fathom.app.cli.CliContractTest.run;
import static dev.fathom.app.cli.CliContractTest.shared;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** run, export, calibrate and profiles, through the same entry point scripts use. */
class CliCommandsTest {
    @TempDir Path tmp;
    private String savedConfigDir;
    private static final ObjectMapper JSON = new ObjectMapper();

    @BeforeEach
    void isolateConfig() {
        savedConfigDir = System.getProperty(HardwareStore.CONFIG_DIR_PROPERTY);
        System.setProperty(HardwareStore.CONFIG_DIR_PROPERTY, tmp.resolve("config").toString());
    }

    @AfterEach
    void restoreConfig() {
        if (savedConfigDir == null) System.clearProperty(HardwareStore.CONFIG_DIR_PROPERTY);
        else System.setProperty(HardwareStore.CONFIG_DIR_PROPERTY, savedConfigDir);
    }

    private Path profile(String name, RunProfile p) {
        Path f = tmp.resolve(name);
        ProfileCodec.saveRun(p, f);
        return f;
    }

    private static RunProfile llamaTiny() {
        return RunProfile.defaults().withModel(shared().resolve("fixtures/llama-tiny").toString()).withBackend("reference")
                .withPrecision(Precision.AUTO).withShape(2, 5, 4).withSampling(RunProfile.Sampling.GREEDY.withStopOnEos(false))
                .withThreads(1).withHardware("a100-80gb");
    }

    @Test
    void runWritesAReportAndAChromeTrace() throws Exception {
        Path prof = profile("tiny.json", llamaTiny());
        Path report = tmp.resolve("out/report.json"), trace = tmp.resolve("out/trace.json");
        var r = run("run", "--profile", prof.toString(), "--report", report.toString(), "--trace", trace.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("ms/token") && r.out().contains("kernel"), r.out());

        JsonNode rep = JSON.readTree(report.toFile());
        JsonNode s = rep.get("summary");
        assertEquals(2, s.get("batch").asInt());
        assertEquals(5, s.get("promptTokens").asInt());
        assertEquals(8, s.get("generatedTokens").asInt(), "2 sequences x 4 tokens, EOS ignored");
        assertEquals(3, s.get("decodeSteps").asInt());
        assertTrue(s.get("prefillMs").asDouble() > 0 && s.get("decodeMsPerToken").asDouble() > 0);
        assertTrue(s.get("bytesPerToken").asDouble() > 0 && s.get("achievedGBps").asDouble() > 0, s.toString());
        assertTrue(rep.get("kernels").size() > 3);
        assertEquals("llama", rep.get("model").get("family").asText());
        assertEquals(llamaTiny(), ProfileCodec.fromTree(rep.get("profile"), "report"), "the report carries the profile");

        JsonNode tr = JSON.readTree(trace.toFile());
        checkChromeTrace(tr);
        int tokens = 0, kernels = 0;
        for (JsonNode e : tr.get("traceEvents")) {
            if (e.get("ph").asText().equals("i")) tokens++;
            if (e.get("ph").asText().equals("X") && e.path("cat").asText().equals("kernel")) {
                kernels++;
                assertTrue(e.get("args").has("bytes") && e.get("args").has("flops") && e.get("args").has("GB/s"));
            }
        }
        assertEquals(8, tokens, "one instant per generated token");
        assertTrue(kernels > 10);

        // the same report exports to the same kind of trace
        Path outDir = tmp.resolve("traceexp");
        var x = run("export", "--target", "trace", "--run-record", report.toString(), "--out", outDir.toString());
        assertEquals(0, x.code(), x.err());
        checkChromeTrace(JSON.readTree(outDir.resolve("trace.json").toFile()));
    }

    @Test
    void runJsonPrintsTheSummaryWithoutEvents() throws Exception {
        Path prof = profile("tiny.json", llamaTiny().withShape(1, 3, 2));
        var r = run("run", "--profile", prof.toString(), "--report", tmp.resolve("r.json").toString(), "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode j = JSON.readTree(r.out());
        assertEquals(2, j.get("summary").get("generatedTokens").asInt());
        assertFalse(j.has("events"));
        assertTrue(JSON.readTree(tmp.resolve("r.json").toFile()).get("events").size() > 0);
    }

    @Test
    void brokenProfilesGiveTheSentenceWithTheJsonPath() throws Exception {
        String good = ProfileCodec.writeRun(llamaTiny());
        record Case(String json, String path) {}
        for (Case c : new Case[]{
                new Case(good.replace("\"tp\" : 1", "\"tp\" : \"two\"").replace("\"tp\": 1", "\"tp\": \"two\""), "$.parallel.tp"),
                new Case(good.replace("\"auto\"", "\"fp7\""), "$.precision"),
                new Case(good.substring(0, good.length() / 2), null),
                new Case(good.replace("\"batch\"", "\"batchSize\""), "$.batchSize")}) {
            Path f = tmp.resolve("bad.json");
            Files.writeString(f, c.json());
            var r = run("run", "--profile", f.toString(), "--report", tmp.resolve("never.json").toString());
            assertEquals(FathomCommand.EXIT_INPUT, r.code(), c.json() + "\n" + r.err());
            assertTrue(r.err().startsWith("fathom: bad.json"), r.err());
            if (c.path() != null) assertTrue(r.err().contains(c.path()), c.path() + " in " + r.err());
            assertEquals(1, r.err().strip().lines().count(), "one sentence: " + r.err());
            assertFalse(Files.exists(tmp.resolve("never.json")));
        }
        // TP that does not divide the 4 heads: the export names $.parallel.tp
        Path f = profile("tp3.json", llamaTiny().withParallel(new RunProfile.Parallelism(3, 1, 1, 1, 0, 0, "pcc")));
        var r = run("export", "--target", "deepspeed", "--profile", f.toString(), "--out", tmp.resolve("x").toString());
        assertEquals(FathomCommand.EXIT_INPUT, r.code(), r.err());
        assertTrue(r.err().contains("$.parallel.tp") && r.err().contains("4 attention heads"), r.err());
    }

    @Test
    void exportWritesEachTargetsFiles() throws Exception {
        Path prof = profile("tp2.json", llamaTiny().withParallel(new RunProfile.Parallelism(2, 1, 1, 1, 0, 0, "pcc")));
        Path out = tmp.resolve("ds");
        var r = run("export", "--target", "deepspeed", "--profile", prof.toString(), "--out", out.toString(),
                "--hf-model", "org/llama-tiny");
        assertEquals(0, r.code(), r.err());
        for (String n : new String[]{"ds_inference_config.json", "hostfile", "launch.sh", "run_inference.py", "EXPORT_NOTES.md"}) {
            assertTrue(Files.isRegularFile(out.resolve(n)), n);
            assertTrue(r.out().contains(out.resolve(n).toString()), "printed " + n);
        }
        JsonNode cfg = JSON.readTree(out.resolve("ds_inference_config.json").toFile());
        assertEquals(2, cfg.get("tensor_parallel").get("tp_size").asInt());
        assertEquals("fp32", cfg.get("dtype").asText(), "the fixture's f32 weights, read from the safetensors header");
        assertTrue(Files.readString(out.resolve("run_inference.py")).contains("org/llama-tiny"));

        Path all = tmp.resolve("all");
        var a = run("export", "--target", "all", "--profile", prof.toString(), "--out", all.toString(), "--deepspeed-version", "0.16.3",
                "--hosts", "gpu1,gpu2", "--gpus-per-node", "1", "--json");
        assertEquals(0, a.code(), a.err());
        assertTrue(Files.isRegularFile(all.resolve("zero-inference/ds_config.json")));
        assertTrue(Files.isRegularFile(all.resolve("mii/mii_config.json")));
        assertEquals("gpu1 slots=1\ngpu2 slots=1\n", Files.readString(all.resolve("deepspeed/hostfile")));
        assertEquals(3, JSON.readTree(a.out()).get("exports").size());

        // synthetic presets export from their config alone
        Path syn = profile("syn.json", RunProfile.defaults().withHardware("h100-sxm"));
        var s = run("export", "--target", "mii", "--profile", syn.toString(), "--out", tmp.resolve("mii").toString());
        assertEquals(0, s.code(), s.err());
        assertTrue(Files.readString(tmp.resolve("mii/mii_config.json")).contains("max_length"));
    }

    @Test
    void profilesListAndShow() throws Exception {
        var l = run("profiles", "list");
        assertEquals(0, l.code(), l.err());
        for (String n : HardwarePresets.names()) assertTrue(l.out().contains(n), n + " in\n" + l.out());
        assertTrue(l.out().contains("fathom calibrate"), "says how to get this-machine");

        HardwareProfile mine = HardwarePresets.A6000.withName("lab-box", "our lab box");
        ProfileCodec.saveHardware(mine, HardwareStore.hardwareDir().resolve("lab-box.json"));
        var lj = run("profiles", "list", "--json");
        assertEquals(0, lj.code(), lj.err());
        JsonNode arr = JSON.readTree(lj.out());
        assertEquals(HardwarePresets.all().size() + 1, arr.size());
        assertEquals("lab-box", arr.get(arr.size() - 1).get("profile").get("name").asText());

        var sh = run("profiles", "show", "h100-sxm");
        assertEquals(0, sh.code(), sh.err());
        assertTrue(sh.out().contains("3350.00 GB/s") && sh.out().contains("datasheet"), sh.out());
        var sj = run("profiles", "show", "lab-box", "--json");
        assertEquals(mine, ProfileCodec.readHardware(sj.out(), "out"));

        Path prof = profile("p.json", llamaTiny());
        var sp = run("profiles", "show", prof.toString());
        assertEquals(0, sp.code(), sp.err());
        assertTrue(sp.out().contains("tp=1 pp=1") && sp.out().contains("a100-80gb"), sp.out());
        var bad = run("profiles", "show", "no-such-gpu");
        assertEquals(FathomCommand.EXIT_INPUT, bad.code());
        assertTrue(bad.err().contains("a100-40gb"), "lists the known names: " + bad.err());
    }

    @Test
    void calibrateQuickSavesThisMachine() throws Exception {
        long t0 = System.nanoTime();
        var r = run("calibrate", "--quick", "--json", "--disk-dir", tmp.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(System.nanoTime() - t0 < 20e9, "quick mode stays quick (a few seconds; 20 s allows for a loaded CI machine)");
        HardwareProfile h = ProfileCodec.loadHardware(HardwareStore.thisMachineFile());
        assertEquals(h, ProfileCodec.readHardware(r.out(), "stdout"));
        assertEquals("this-machine", h.name());
        assertTrue(h.measured());
        assertEquals("cpu", h.deviceKind());
        assertTrue(h.memoryBandwidth() > 1e8, "memory reads faster than 100 MB/s: " + h.memoryBandwidth());
        assertTrue(h.flops("f32") > 1e7, "GEMM faster than 10 MFLOP/s: " + h.flops("f32"));
        assertTrue(h.nvmeRead() > 0);
        assertEquals(0, h.hostLink());
        assertTrue(h.memoryPerDevice() > 1L << 28);
        try (var s = Files.list(tmp)) {
            assertTrue(s.noneMatch(p -> p.getFileName().toString().startsWith(".fathom-calibrate")), "temp file removed");
        }
        // now this-machine shows up in the list and resolves
        var l = run("profiles", "list");
        assertTrue(l.out().contains("this-machine") && l.out().contains("measured"), l.out());
        assertTrue(Set.of(0).contains(run("profiles", "show", "this-machine").code()));
    }

    /** The Chrome Trace Event fields Perfetto and chrome://tracing need, on every event. */
    static void checkChromeTrace(JsonNode root) {
        assertEquals("ms", root.path("displayTimeUnit").asText());
        assertTrue(root.path("metadata").isObject());
        JsonNode evs = root.path("traceEvents");
        assertTrue(evs.isArray() && !evs.isEmpty());
        boolean named = false;
        for (JsonNode e : evs) {
            for (String f : new String[]{"name", "ph", "ts", "pid", "tid"}) assertTrue(e.has(f), f + " in " + e);
            assertTrue(e.get("ts").isNumber() && e.get("pid").isInt() && e.get("tid").isInt(), e.toString());
            String ph = e.get("ph").asText();
            assertTrue(Set.of("X", "C", "M", "i").contains(ph), ph);
            if (ph.equals("X")) assertTrue(e.path("dur").isNumber(), "dur in " + e);
            if (ph.equals("C")) assertTrue(e.path("args").isObject() && !e.get("args").isEmpty(), "args in " + e);
            if (ph.equals("M") && e.get("name").asText().equals("process_name")) named = true;
        }
        assertTrue(named, "processes are named");
    }
}
