package dev.fathom.profiles;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import dev.fathom.profiles.RunProfile.Parallelism;
import dev.fathom.profiles.RunProfile.Placement;
import dev.fathom.profiles.RunProfile.Sampling;
import dev.fathom.profiles.RunProfile.Tier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ProfileCodecTest {

    static RunProfile full() {
        return new RunProfile(1, "/models/llama-2-7b", "cuda", Precision.BF16, 8, 512, 128,
                new Parallelism(2, 2, 1, 3, 4, 2, "baseline"),
                new Placement(Tier.NVME, Tier.HOST, "/mnt/nvme0/fathom", 3, 40L << 30, 200L << 30, 1L << 30),
                new Sampling(false, 0.7, 40, 0.95, -12345L, false), 12, "a100-80gb");
    }

    @Test
    void runProfileRoundTrips() {
        for (RunProfile p : new RunProfile[]{RunProfile.defaults(), full()}) {
            String json = ProfileCodec.writeRun(p);
            assertEquals(p, ProfileCodec.readRun(json, "profile.json"));
            assertEquals(json, ProfileCodec.writeRun(ProfileCodec.readRun(json, "profile.json")));
        }
    }

    @Test
    void hardwareRoundTrips() {
        for (HardwareProfile h : HardwarePresets.all()) {
            assertEquals(h, ProfileCodec.readHardware(ProfileCodec.writeHardware(h), "hw.json"));
        }
        HardwareProfile cpu = new HardwareProfile(1, "this-machine", "measured", "cpu", 1, 64L << 30, 41.5e9,
                Map.of("f32", 1.2e12, "bf16", 2.4e12), 0, 2.1e9, 0, true);
        assertEquals(cpu, ProfileCodec.readHardware(ProfileCodec.writeHardware(cpu), "hw.json"));
    }

    @Test
    void enumsAreWrittenLowercase() {
        String json = ProfileCodec.writeRun(full());
        assertTrue(json.contains("\"precision\": \"bf16\""), json);
        assertTrue(json.contains("\"weights\": \"nvme\""), json);
        assertTrue(json.contains("\"kvCache\": \"host\""), json);
        assertTrue(json.contains("\"version\": 1"), json);
    }

    @Test
    void absentOptionalFieldsTakeDefaults() {
        RunProfile p = ProfileCodec.readRun("{\"version\": 1, \"model\": \"synthetic:gpt2\", \"parallel\": {\"tp\": 2}}", "p.json");
        assertEquals(RunProfile.defaults().withModel("synthetic:gpt2").withParallel(new Parallelism(2, 1, 1, 1, 0, 0, "pcc")), p);
    }

    @Test
    void uppercaseEnumValuesAreAccepted() {
        RunProfile p = ProfileCodec.readRun("{\"version\": 1, \"model\": \"m\", \"precision\": \"BF16\"}", "p.json");
        assertEquals(Precision.BF16, p.precision());
    }

    private static ProfileException broken(String json) {
        return assertThrows(ProfileException.class, () -> ProfileCodec.readRun(json, "profile.json"));
    }

    private static String base(String extra) {
        return "{\"version\": 1, \"model\": \"synthetic:llama-1.1b\"" + (extra.isEmpty() ? "" : ", " + extra) + "}";
    }

    private static void assertOneSentence(ProfileException e) {
        String m = e.getMessage();
        assertTrue(m.endsWith("."), m);
        assertFalse(m.contains("\n"), m);
    }

    @Test
    void wrongTypeNamesThePath() {
        var e = broken(base("\"parallel\": {\"tp\": \"two\"}"));
        assertEquals("profile.json: $.parallel.tp must be a positive integer, found \"two\".", e.getMessage());
        assertEquals("$.parallel.tp", e.jsonPath());
    }

    @Test
    void unknownPrecision() {
        var e = broken(base("\"precision\": \"fp7\""));
        assertEquals("profile.json: $.precision must be one of auto, f32, bf16, f16, int8, found \"fp7\".", e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"0", "-3", "1.5", "\"8\"", "true"})
    void nonPositiveOrNonIntegerBatch(String v) {
        var e = broken(base("\"batch\": " + v));
        assertEquals("profile.json: $.batch must be a positive integer, found " + v + ".", e.getMessage());
    }

    @ParameterizedTest
    @CsvSource({"tp,0", "pp,0", "ep,-1", "dp,0"})
    void parallelDegreesBelowOne(String field, int v) {
        var e = broken(base("\"parallel\": {\"" + field + "\": " + v + "}"));
        assertEquals("profile.json: $.parallel." + field + " must be a positive integer, found " + v + ".", e.getMessage());
    }

    @Test
    void missingModel() {
        var e = broken("{\"version\": 1, \"batch\": 2}");
        assertEquals("profile.json: $.model is required (a checkpoint directory or synthetic:<preset>).", e.getMessage());
    }

    @Test
    void unknownTopLevelField() {
        var e = broken(base("\"batchSize\": 4"));
        assertTrue(e.getMessage().startsWith("profile.json: $.batchSize is not a known field (known: version, model, backend,"), e.getMessage());
        assertOneSentence(e);
    }

    @Test
    void unknownNestedField() {
        var e = broken(base("\"placement\": {\"weights\": \"host\", \"prefetchLayers\": 2}"));
        assertTrue(e.getMessage().startsWith("profile.json: $.placement.prefetchLayers is not a known field"), e.getMessage());
        assertEquals("$.placement.prefetchLayers", e.jsonPath());
        assertOneSentence(e);
    }

    @Test
    void unknownTier() {
        var e = broken(base("\"placement\": {\"weights\": \"ssd\"}"));
        assertEquals("profile.json: $.placement.weights must be one of device, host, nvme, found \"ssd\".", e.getMessage());
    }

    @Test
    void nestedObjectOfWrongType() {
        var e = broken(base("\"sampling\": [1, 2]"));
        assertEquals("profile.json: $.sampling must be an object, found an array.", e.getMessage());
    }

    @Test
    void samplingRanges() {
        assertEquals("profile.json: $.sampling.temperature must be a number above 0, found 0.",
                broken(base("\"sampling\": {\"temperature\": 0}")).getMessage());
        assertEquals("profile.json: $.sampling.topP must be a number above 0 and at most 1, found 1.5.",
                broken(base("\"sampling\": {\"topP\": 1.5}")).getMessage());
        assertEquals("profile.json: $.sampling.greedy must be true or false, found \"yes\".",
                broken(base("\"sampling\": {\"greedy\": \"yes\"}")).getMessage());
    }

    @Test
    void unknownBackendAndAllToAll() {
        assertEquals("profile.json: $.backend must be one of reference, cpu, cuda, found \"tpu\".",
                broken(base("\"backend\": \"tpu\"")).getMessage());
        assertEquals("profile.json: $.parallel.moeAllToAll must be one of pcc, baseline, found \"ring\".",
                broken(base("\"parallel\": {\"moeAllToAll\": \"ring\"}")).getMessage());
    }

    @Test
    void newerVersionIsRejectedWithASentence() {
        var e = broken("{\"version\": 2, \"model\": \"m\"}");
        assertEquals("profile.json: $.version is 2 but this Fathom reads profiles up to version 1; update Fathom to open it.",
                e.getMessage());
    }

    @Test
    void missingOrBadVersion() {
        assertEquals("profile.json: $.version is required (the schema version, 1 for this Fathom).",
                broken("{\"model\": \"m\"}").getMessage());
        assertEquals("profile.json: $.version must be the schema version, 1 for this Fathom, found 0.",
                broken("{\"version\": 0, \"model\": \"m\"}").getMessage());
    }

    @Test
    void badJsonGivesLineAndColumn() {
        var e = broken("{\"version\": 1,\n \"model\": \"m\",,\n}");
        assertTrue(e.getMessage().startsWith("profile.json: not valid JSON at line 2, column "), e.getMessage());
        assertOneSentence(e);
        var dup = broken("{\"version\": 1, \"model\": \"a\", \"model\": \"b\"}");
        assertTrue(dup.getMessage().contains("not valid JSON"), dup.getMessage());
        assertTrue(dup.getMessage().contains("model"), dup.getMessage());
        assertEquals("profile.json: the file is empty; expected a JSON object.", broken("  ").getMessage());
        assertEquals("profile.json: $ must be a JSON object, found an array.", broken("[]").getMessage());
    }

    @Test
    void brokenHardwareProfiles() {
        String ok = ProfileCodec.writeHardware(HardwarePresets.H100_SXM);
        var e = assertThrows(ProfileException.class,
                () -> ProfileCodec.readHardware(ok.replace("\"int8\"", "\"fp8\""), "h100.json"));
        assertEquals("h100.json: $.peakFlops.fp8 is not a known field (known: f32, bf16, f16, int8).", e.getMessage());
        e = assertThrows(ProfileException.class,
                () -> ProfileCodec.readHardware(ok.replace("\"gpu\"", "\"tpu\""), "h100.json"));
        assertEquals("h100.json: $.deviceKind must be one of cpu, gpu, found \"tpu\".", e.getMessage());
        e = assertThrows(ProfileException.class,
                () -> ProfileCodec.readHardware(ok.replace("\"memoryBandwidth\": 3.35E12", "\"memoryBandwidth\": -1"), "h100.json"));
        assertEquals("h100.json: $.memoryBandwidth must be a number above 0, found -1.", e.getMessage());
        e = assertThrows(ProfileException.class,
                () -> ProfileCodec.readHardware("{\"version\": 1, \"name\": \"x\", \"memoryBandwidth\": 1e9}", "x.json"));
        assertEquals("x.json: $.memoryPerDevice is required (bytes of memory per device).", e.getMessage());
    }

    @Test
    void saveIsAtomicAndLoadNamesTheFile(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("sub/profile.json");
        ProfileCodec.saveRun(full(), f);
        ProfileCodec.saveRun(full().withModel("other"), f);
        assertEquals("other", ProfileCodec.loadRun(f).model());
        try (var s = Files.list(f.getParent())) {
            assertEquals(1, s.count(), "no temporary files are left behind");
        }
        Files.writeString(f, "{\"version\": 1, \"model\": \"m\", \"batch\": 0}");
        var e = assertThrows(ProfileException.class, () -> ProfileCodec.loadRun(f));
        assertEquals("profile.json: $.batch must be a positive integer, found 0.", e.getMessage());
        var missing = assertThrows(ProfileException.class, () -> ProfileCodec.loadRun(dir.resolve("nope.json")));
        assertTrue(missing.getMessage().endsWith("nope.json: the file does not exist."), missing.getMessage());
    }
}
