package dev.fathom.profiles;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import dev.fathom.profiles.RunProfile.Parallelism;
import dev.fathom.profiles.RunProfile.Placement;
import dev.fathom.profiles.RunProfile.Sampling;
import dev.fathom.profiles.RunProfile.Tier;

/**
 * {@link RunProfile} and {@link HardwareProfile} as versioned JSON.
 *
 * <p>Reading is strict: unknown fields, wrong types, unknown enum values and out-of-range numbers
 * each throw a {@link ProfileException} whose message is one sentence naming the file and the JSON
 * path. Absent optional fields take the defaults of {@link RunProfile#defaults()}; {@code version}
 * and {@code model} (for a run) or {@code name} (for hardware) are required. Enum values are written
 * lowercase ({@code "bf16"}, {@code "nvme"}). Saves are atomic ({@link AtomicFiles}).
 */
public final class ProfileCodec {
    /** Backends a run profile may name. */
    public static final List<String> BACKENDS = List.of("reference", "cpu", "cuda");
    /** MoE all-to-all variants. */
    public static final List<String> MOE_ALL_TO_ALL = List.of("pcc", "baseline");
    /** Device kinds of a hardware profile. */
    public static final List<String> DEVICE_KINDS = List.of("cpu", "gpu");
    /** Precision ids a hardware profile lists peak FLOP/s for. */
    public static final List<String> FLOPS_KEYS = List.of("f32", "bf16", "f16", "int8");

    private ProfileCodec() {}

    // ---------------------------------------------------------------- run profiles

    /** The JSON text of a run profile (two-space indents, final newline). */
    public static String writeRun(RunProfile p) { return JsonText.pretty(toTree(p)); }

    /** The JSON tree of a run profile, fields in record order. */
    public static ObjectNode toTree(RunProfile p) {
        ObjectNode o = JsonText.object();
        o.put("version", RunProfile.CURRENT_VERSION);
        o.put("model", p.model());
        o.put("backend", p.backend());
        o.put("precision", p.precision().id());
        o.put("batch", p.batch());
        o.put("promptLen", p.promptLen());
        o.put("newTokens", p.newTokens());
        Parallelism par = p.parallel();
        ObjectNode po = o.putObject("parallel");
        po.put("tp", par.tp());
        po.put("pp", par.pp());
        po.put("ep", par.ep());
        po.put("dp", par.dp());
        po.put("promptMicroBatches", par.promptMicroBatches());
        po.put("genMicroBatches", par.genMicroBatches());
        po.put("moeAllToAll", par.moeAllToAll());
        Placement pl = p.placement();
        ObjectNode plo = o.putObject("placement");
        plo.put("weights", tierId(pl.weights()));
        plo.put("kvCache", tierId(pl.kvCache()));
        if (pl.nvmeDir() == null) plo.putNull("nvmeDir"); else plo.put("nvmeDir", pl.nvmeDir());
        plo.put("prefetch", pl.prefetch());
        plo.put("deviceMemory", pl.deviceMemory());
        plo.put("hostMemory", pl.hostMemory());
        plo.put("kvOffloadThreshold", pl.kvOffloadThreshold());
        Sampling s = p.sampling();
        ObjectNode so = o.putObject("sampling");
        so.put("greedy", s.greedy());
        so.put("temperature", s.temperature());
        so.put("topK", s.topK());
        so.put("topP", s.topP());
        so.put("seed", s.seed());
        so.put("stopOnEos", s.stopOnEos());
        o.put("threads", p.threads());
        o.put("hardware", p.hardware());
        return o;
    }

    /** Reads a run profile from JSON text; {@code source} names it in messages (e.g. the file name). */
    public static RunProfile readRun(String json, String source) {
        return fromTree(JsonText.parse(json, source), source);
    }

    /** Reads a run profile from a tree. */
    public static RunProfile fromTree(JsonNode tree, String source) {
        JsonFields f = JsonFields.root(tree, source);
        checkVersion(f, RunProfile.CURRENT_VERSION, "profiles");
        RunProfile d = RunProfile.defaults();
        String model = f.requiredString("model", "a checkpoint directory or synthetic:<preset>");
        String backend = f.choice("backend", d.backend(), BACKENDS);
        Precision precision = f.enumValue("precision", d.precision(), Precision.class);
        int batch = f.positiveInt("batch", d.batch());
        int promptLen = f.positiveInt("promptLen", d.promptLen());
        int newTokens = f.positiveInt("newTokens", d.newTokens());
        Parallelism parallel = readParallel(f.object("parallel"));
        Placement placement = readPlacement(f.object("placement"));
        Sampling sampling = readSampling(f.object("sampling"));
        int threads = f.nonNegativeInt("threads", d.threads());
        String hardware = f.string("hardware", d.hardware());
        if (hardware.isBlank()) throw f.error("hardware", "must name a hardware profile, found \"\".");
        f.rejectUnknown();
        return new RunProfile(RunProfile.CURRENT_VERSION, model, backend, precision, batch, promptLen, newTokens,
                parallel, placement, sampling, threads, hardware);
    }

    private static Parallelism readParallel(JsonFields f) {
        Parallelism d = Parallelism.NONE;
        if (f == null) return d;
        int tp = f.positiveInt("tp", d.tp());
        int pp = f.positiveInt("pp", d.pp());
        int ep = f.positiveInt("ep", d.ep());
        int dp = f.positiveInt("dp", d.dp());
        int pmb = f.nonNegativeInt("promptMicroBatches", d.promptMicroBatches());
        int gmb = f.nonNegativeInt("genMicroBatches", d.genMicroBatches());
        String a2a = f.choice("moeAllToAll", d.moeAllToAll(), MOE_ALL_TO_ALL);
        f.rejectUnknown();
        return new Parallelism(tp, pp, ep, dp, pmb, gmb, a2a);
    }

    private static Placement readPlacement(JsonFields f) {
        Placement d = Placement.DEFAULT;
        if (f == null) return d;
        Tier weights = f.enumValue("weights", d.weights(), Tier.class);
        Tier kv = f.enumValue("kvCache", d.kvCache(), Tier.class);
        String nvmeDir = f.string("nvmeDir", d.nvmeDir());
        int prefetch = f.nonNegativeInt("prefetch", d.prefetch());
        long deviceMemory = f.nonNegativeLong("deviceMemory", d.deviceMemory());
        long hostMemory = f.nonNegativeLong("hostMemory", d.hostMemory());
        long kvOff = f.nonNegativeLong("kvOffloadThreshold", d.kvOffloadThreshold());
        f.rejectUnknown();
        return new Placement(weights, kv, nvmeDir, prefetch, deviceMemory, hostMemory, kvOff);
    }

    private static Sampling readSampling(JsonFields f) {
        Sampling d = Sampling.GREEDY;
        if (f == null) return d;
        boolean greedy = f.bool("greedy", d.greedy());
        double temperature = f.number("temperature", d.temperature(), 0, true);
        int topK = f.nonNegativeInt("topK", d.topK());
        double topP = f.number("topP", d.topP(), 0, true);
        if (topP > 1) throw f.error("topP", "must be a number above 0 and at most 1, found " + topP + ".");
        long seed = f.anyLong("seed", d.seed());
        boolean stop = f.bool("stopOnEos", d.stopOnEos());
        f.rejectUnknown();
        return new Sampling(greedy, temperature, topK, topP, seed, stop);
    }

    /** Loads a run profile from a file; messages name the file. */
    public static RunProfile loadRun(Path file) { return readRun(readFile(file), file.getFileName().toString()); }

    /** Saves a run profile atomically (temp file in the same directory, then rename). */
    public static void saveRun(RunProfile p, Path file) { AtomicFiles.writeString(file, writeRun(p)); }

    // ---------------------------------------------------------------- hardware profiles

    /** The JSON text of a hardware profile. */
    public static String writeHardware(HardwareProfile h) { return JsonText.pretty(toTree(h)); }

    /** The JSON tree of a hardware profile, peak FLOP/s in the order f32, bf16, f16, int8. */
    public static ObjectNode toTree(HardwareProfile h) {
        ObjectNode o = JsonText.object();
        o.put("version", HardwareProfile.CURRENT_VERSION);
        o.put("name", h.name());
        o.put("description", h.description() == null ? "" : h.description());
        o.put("deviceKind", h.deviceKind());
        o.put("devices", h.devices());
        o.put("memoryPerDevice", h.memoryPerDevice());
        o.put("memoryBandwidth", h.memoryBandwidth());
        ObjectNode fl = o.putObject("peakFlops");
        List<String> keys = new ArrayList<>(h.peakFlops().keySet());
        keys.sort((a, b) -> Integer.compare(rank(a), rank(b)) != 0 ? Integer.compare(rank(a), rank(b)) : a.compareTo(b));
        for (String k : keys) fl.put(k, h.peakFlops().get(k));
        o.put("hostLink", h.hostLink());
        o.put("nvmeRead", h.nvmeRead());
        o.put("interconnect", h.interconnect());
        o.put("measured", h.measured());
        return o;
    }

    private static int rank(String key) {
        int i = FLOPS_KEYS.indexOf(key);
        return i < 0 ? FLOPS_KEYS.size() : i;
    }

    /** Reads a hardware profile from JSON text. */
    public static HardwareProfile readHardware(String json, String source) {
        return hardwareFromTree(JsonText.parse(json, source), source);
    }

    /** Reads a hardware profile from a tree. */
    public static HardwareProfile hardwareFromTree(JsonNode tree, String source) {
        JsonFields f = JsonFields.root(tree, source);
        checkVersion(f, HardwareProfile.CURRENT_VERSION, "hardware profiles");
        String name = f.requiredString("name", "an identifier such as h100-sxm");
        String description = f.string("description", "");
        String kind = f.choice("deviceKind", "gpu", DEVICE_KINDS);
        int devices = f.positiveInt("devices", 1);
        long memory = f.positiveLong("memoryPerDevice", 0);
        if (memory == 0) throw f.error("memoryPerDevice", "is required (bytes of memory per device).");
        double bandwidth = f.number("memoryBandwidth", 0, 0, true);
        if (!f.has("memoryBandwidth")) throw f.error("memoryBandwidth", "is required (bytes/s per device).");
        Map<String, Double> flops = f.numberMap("peakFlops", FLOPS_KEYS);
        double hostLink = f.number("hostLink", 0, 0, false);
        double nvme = f.number("nvmeRead", 0, 0, false);
        double interconnect = f.number("interconnect", 0, 0, false);
        boolean measured = f.bool("measured", false);
        f.rejectUnknown();
        return new HardwareProfile(HardwareProfile.CURRENT_VERSION, name, description, kind, devices, memory,
                bandwidth, flops, hostLink, nvme, interconnect, measured);
    }

    /** Loads a hardware profile from a file. */
    public static HardwareProfile loadHardware(Path file) {
        return readHardware(readFile(file), file.getFileName().toString());
    }

    /** Saves a hardware profile atomically. */
    public static void saveHardware(HardwareProfile h, Path file) { AtomicFiles.writeString(file, writeHardware(h)); }

    // ---------------------------------------------------------------- shared

    private static void checkVersion(JsonFields f, int current, String what) {
        int v = f.requiredInt("version", 1, "the schema version, " + current + " for this Fathom");
        if (v > current) {
            throw f.error("version", "is " + v + " but this Fathom reads " + what + " up to version " + current
                    + "; update Fathom to open it.");
        }
    }

    static String tierId(Tier t) { return t.name().toLowerCase(Locale.ROOT); }

    private static String readFile(Path file) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new ProfileException(file.toString(), null, "the file does not exist.", e);
        } catch (IOException e) {
            throw new UncheckedIOException("Could not read " + file + ": " + e.getMessage(), e);
        }
    }
}
