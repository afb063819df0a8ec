package dev.fathom.app.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fathom.engine.util.TextTable;
import dev.fathom.profiles.HardwarePresets;
import dev.fathom.profiles.HardwareProfile;
import dev.fathom.profiles.HardwareStore;
import dev.fathom.profiles.ProfileCodec;
import dev.fathom.profiles.RunProfile;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;

/** {@code fathom profiles list|show}: the hardware profiles Fathom knows, and any profile file. */
@Command(name = "profiles", mixinStandardHelpOptions = true,
        description = "List hardware profiles (datasheet presets, this machine, your own files) or show one profile.",
        subcommands = {ProfilesCommand.List.class, ProfilesCommand.Show.class})
public final class ProfilesCommand implements Runnable {
    @Spec CommandSpec spec;

    @Override
    public void run() { spec.commandLine().usage(spec.commandLine().getOut()); }

    /** One hardware profile and where it comes from. */
    record Entry(String source, HardwareProfile profile, Path file) {}

    /** Presets, then this-machine, then the user's files in the hardware folder (broken files are reported, not fatal). */
    static java.util.List<Entry> entries(PrintWriter err) {
        java.util.List<Entry> out = new ArrayList<>();
        for (HardwareProfile h : HardwarePresets.all()) out.add(new Entry("preset", h, null));
        Map<String, Path> files = new TreeMap<>();
        Path dir = HardwareStore.hardwareDir();
        if (Files.isDirectory(dir)) {
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "*.json")) {
                for (Path f : ds) files.put(f.getFileName().toString(), f);
            } catch (IOException e) {
                err.println("fathom: cannot list " + dir + ": " + e.getMessage());
            }
        }
        Path tm = files.remove(HardwareStore.THIS_MACHINE + ".json");
        if (tm != null) add(out, "measured", tm, err);
        for (Path f : files.values()) add(out, "file", f, err);
        return out;
    }

    private static void add(java.util.List<Entry> out, String source, Path f, PrintWriter err) {
        try {
            out.add(new Entry(source, ProfileCodec.loadHardware(f), f));
        } catch (RuntimeException e) {
            err.println("fathom: skipping " + f + ": " + e.getMessage());
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true,
            description = "List the hardware profiles: presets, this machine (after 'fathom calibrate') and files in the hardware folder.")
    static final class List implements Callable<Integer> {
        @Option(names = "--json", description = "print as JSON") boolean json;
        @Spec CommandSpec spec;

        @Override
        public Integer call() {
            PrintWriter out = spec.commandLine().getOut(), err = spec.commandLine().getErr();
            java.util.List<Entry> es = entries(err);
            if (json) {
                ObjectMapper m = new ObjectMapper();
                var arr = m.createArrayNode();
                for (Entry e : es) {
                    var n = arr.addObject();
                    n.put("source", e.source());
                    if (e.file() != null) n.put("file", e.file().toString());
                    n.set("profile", ProfileCodec.toTree(e.profile()));
                }
                out.println(arr.toPrettyString());
            } else {
                TextTable t = new TextTable("name", "source", "kind", ">devices", ">memory/device", ">bandwidth", ">f32", ">bf16");
                for (Entry e : es) {
                    HardwareProfile h = e.profile();
                    Double bf16 = h.peakFlops().get("bf16");
                    t.row(h.name(), e.source(), h.deviceKind(), h.devices(), TextTable.bytes(h.memoryPerDevice()),
                            TextTable.gbps(h.memoryBandwidth()), TextTable.flops(h.flops("f32")), bf16 == null ? "-" : TextTable.flops(bf16));
                }
                out.print(t.render());
                if (es.stream().noneMatch(e -> e.source().equals("measured")))
                    out.println("(no this-machine profile yet: run 'fathom calibrate')");
                out.println("hardware folder: " + HardwareStore.hardwareDir());
            }
            out.flush();
            return 0;
        }
    }

    @Command(name = "show", mixinStandardHelpOptions = true,
            description = "Show a hardware profile by name (a preset, this-machine or a file in the hardware folder) or a profile file (run or hardware).")
    static final class Show implements Callable<Integer> {
        @Parameters(paramLabel = "NAME|FILE", description = "profile name or JSON file") String what;
        @Option(names = "--json", description = "print the profile's canonical JSON") boolean json;
        @Spec CommandSpec spec;

        @Override
        public Integer call() throws IOException {
            PrintWriter out = spec.commandLine().getOut();
            Path f = Path.of(what);
            if (what.endsWith(".json") || Files.isRegularFile(f)) {
                if (!Files.isRegularFile(f)) throw new IllegalArgumentException(what + " does not exist: give a profile file or a name from 'fathom profiles list'.");
                JsonNode n;
                try {
                    n = new ObjectMapper().readTree(f.toFile());
                } catch (IOException e) {
                    n = null; // the codec below gives the sentence with the position
                }
                if (n == null || !n.isObject() || n.has("model")) {
                    RunProfile p = ProfileCodec.loadRun(f); // bad JSON: the codec's sentence with the position
                    out.print(json ? ProfileCodec.writeRun(p) : runTable(p));
                } else if (!n.has("deviceKind") && !n.has("memoryBandwidth")) {
                    throw new IllegalArgumentException(f + " is neither a run profile (no 'model') nor a hardware profile (no 'deviceKind'): check the file.");
                } else {
                    HardwareProfile h = ProfileCodec.loadHardware(f);
                    out.print(json ? ProfileCodec.writeHardware(h) : hardwareTable(h, f.toString()));
                }
            } else {
                HardwareProfile h = HardwareStore.resolve(what);
                out.print(json ? ProfileCodec.writeHardware(h) : hardwareTable(h, sourceOf(what)));
            }
            out.flush();
            return 0;
        }
    }

    static String sourceOf(String name) {
        if (HardwareStore.THIS_MACHINE.equals(name)) return HardwareStore.thisMachineFile() + " (measured)";
        Path f = HardwareStore.hardwareDir().resolve(name + ".json");
        return Files.isRegularFile(f) ? f.toString() : "datasheet preset";
    }

    static String hardwareTable(HardwareProfile h, String source) {
        java.util.List<String[]> kv = new ArrayList<>();
        kv.add(new String[]{"name", h.name()});
        kv.add(new String[]{"source", source});
        kv.add(new String[]{"description", h.description()});
        kv.add(new String[]{"devices", h.devices() + " x " + h.deviceKind()});
        kv.add(new String[]{"memory/device", TextTable.bytes(h.memoryPerDevice()) + String.format(" (%.1f GiB)", h.memoryPerDevice() / (double) (1L << 30))});
        kv.add(new String[]{"memory bandwidth", TextTable.gbps(h.memoryBandwidth())});
        for (String p : ProfileCodec.FLOPS_KEYS)
            if (h.peakFlops().containsKey(p)) kv.add(new String[]{"peak " + p, TextTable.flops(h.peakFlops().get(p))});
        kv.add(new String[]{"host link", h.hostLink() == 0 ? "none" : TextTable.gbps(h.hostLink())});
        kv.add(new String[]{"NVMe read", TextTable.gbps(h.nvmeRead())});
        kv.add(new String[]{"interconnect", h.interconnect() == 0 ? "none" : TextTable.gbps(h.interconnect())});
        kv.add(new String[]{"measured", h.measured() ? "yes" : "no (datasheet)"});
        return TextTable.keyValues(kv);
    }

    static String runTable(RunProfile p) {
        java.util.List<String[]> kv = new ArrayList<>();
        kv.add(new String[]{"model", p.model()});
        kv.add(new String[]{"backend", p.backend()});
        kv.add(new String[]{"precision", p.precision().id()});
        kv.add(new String[]{"shape", p.batch() + " sequences x " + p.promptLen() + " prompt + " + p.newTokens() + " new tokens"});
        var par = p.parallel();
        kv.add(new String[]{"parallel", String.format("tp=%d pp=%d ep=%d dp=%d, micro-batches prompt %s / generation %s, all-to-all %s",
                par.tp(), par.pp(), par.ep(), par.dp(), auto(par.promptMicroBatches()), auto(par.genMicroBatches()), par.moeAllToAll())});
        var pl = p.placement();
        kv.add(new String[]{"placement", String.format("weights on %s, KV cache on %s, prefetch %d%s",
                pl.weights().name().toLowerCase(), pl.kvCache().name().toLowerCase(), pl.prefetch(),
                pl.nvmeDir() == null ? "" : ", NVMe folder " + pl.nvmeDir())});
        kv.add(new String[]{"budgets", String.format("device %s, host %s, KV offload past %s", budget(pl.deviceMemory()),
                budget(pl.hostMemory()), budget(pl.kvOffloadThreshold()))});
        var s = p.sampling();
        kv.add(new String[]{"sampling", s.greedy() ? "greedy" : String.format("temperature %.2f, top-k %d, top-p %.2f, seed %d",
                s.temperature(), s.topK(), s.topP(), s.seed()) + (s.stopOnEos() ? ", stops at EOS" : ", ignores EOS")});
        kv.add(new String[]{"threads", p.threads() == 0 ? "one per core" : String.valueOf(p.threads())});
        kv.add(new String[]{"hardware", p.hardware()});
        return TextTable.keyValues(kv);
    }

    private static String auto(int n) { return n == 0 ? "auto" : String.valueOf(n); }

    private static String budget(long b) { return b == 0 ? "none" : TextTable.bytes(b); }
}
