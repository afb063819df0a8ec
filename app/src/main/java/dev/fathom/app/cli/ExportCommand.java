package dev.fathom.app.cli;

import dev.fathom.engine.model.ModelFacts;
import dev.fathom.engine.run.ProfileRun;
import dev.fathom.engine.run.RunRecord;
import dev.fathom.engine.run.RunRecordJson;
import dev.fathom.engine.telemetry.ChromeTrace;
import dev.fathom.profiles.HardwareProfile;
import dev.fathom.profiles.HardwareStore;
import dev.fathom.profiles.ProfileCodec;
import dev.fathom.profiles.RunProfile;
import dev.fathom.profiles.export.ExportModel;
import dev.fathom.profiles.export.ExportOptions;
import dev.fathom.profiles.export.ExportResult;
import dev.fathom.profiles.export.Exporter;
import dev.fathom.profiles.export.Target;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code fathom export}: a profile as a DeepSpeed deployment (init_inference, ZeRO-Inference, MII) or
 * a run as a Chrome trace. The DeepSpeed targets read only the model's config.json and tensor headers.
 */
@Command(name = "export", mixinStandardHelpOptions = true,
        description = {"Export a profile as DeepSpeed deployment files, or a run as a Chrome trace.",
                "deepspeed | zero-inference | mii write the config, hostfile, launch.sh, run_inference.py and EXPORT_NOTES.md;",
                "trace writes trace.json from --run-record (a report from 'fathom run'), or runs the profile to record one;",
                "all writes the three DeepSpeed targets into DIR/<target>/ (and DIR/trace.json when --run-record is given)."})
public final class ExportCommand implements Callable<Integer> {
    @Option(names = "--target", required = true, paramLabel = "deepspeed|zero-inference|mii|trace|all", description = "what to write")
    String target;

    @Option(names = "--profile", paramLabel = "FILE", description = "run profile (JSON); optional for trace with --run-record")
    Path profile;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "folder to write into (created if needed)")
    Path out;

    @Option(names = "--deepspeed-version", paramLabel = "V", description = "DeepSpeed version the configs are for (default: 0.16.5; before 0.16.4 the aio thread key is thread_count)")
    String deepspeedVersion;

    @Option(names = "--hosts", split = ",", paramLabel = "HOST", description = "host names for the hostfile, comma-separated (default: localhost, or node1..N)")
    List<String> hosts;

    @Option(names = "--gpus-per-node", paramLabel = "N", description = "GPUs per host (default: the hardware profile's device count)")
    Integer gpusPerNode;

    @Option(names = "--hardware", paramLabel = "NAME", description = "hardware profile to plan the deployment for (default: the profile's own; e.g. a100-80gb)")
    String hardware;

    @Option(names = "--hf-model", paramLabel = "NAME", description = "Hugging Face model name the deployment loads (default: the checkpoint folder)")
    String hfModel;

    @Option(names = "--nvme-path", paramLabel = "DIR", description = "NVMe folder on the cluster for ZeRO-Inference offload")
    String nvmePath;

    @Option(names = "--run-record", paramLabel = "FILE", description = "for trace: a report written by 'fathom run --report'")
    Path runRecord;

    @Option(names = "--json", description = "print what was written as JSON")
    boolean json;

    @Spec CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter o = spec.commandLine().getOut(), err = spec.commandLine().getErr();
        String t = target.trim().toLowerCase(Locale.ROOT).replace('_', '-');
        List<ExportResult> results = new ArrayList<>();
        Path traceFile = null;
        switch (t) {
            case "trace" -> traceFile = trace(out.resolve("trace.json"), err);
            case "all" -> {
                RunProfile p = load();
                results.addAll(Exporter.exportAll(p, model(p), hardware(p), options(), out));
                if (runRecord != null) traceFile = trace(out.resolve("trace.json"), err);
                else err.println("fathom: no --run-record given, so no trace was written (run 'fathom run --report FILE' first, or export --target trace to run the profile).");
            }
            default -> {
                Target tg = Target.parse(t);
                RunProfile p = load();
                results.add(Exporter.export(tg, p, model(p), hardware(p), options(), out));
            }
        }
        if (json) printJson(o, results, traceFile);
        else {
            for (ExportResult r : results) {
                o.println(r.target().title() + " → " + r.outDir());
                for (Path f : r.files()) o.println("  wrote " + f);
                for (String w : r.warnings()) o.println("  warning: " + w);
            }
            if (traceFile != null) o.println("Chrome trace → " + traceFile + " (open in ui.perfetto.dev or chrome://tracing)");
        }
        o.flush();
        if (json) for (ExportResult r : results) for (String w : r.warnings()) err.println("fathom: warning (" + r.target().id() + "): " + w);
        return 0;
    }

    private RunProfile load() {
        if (profile == null) throw new IllegalArgumentException("--target " + target + " needs --profile FILE: give the run profile to export.");
        return ProfileCodec.loadRun(profile);
    }

    private ExportModel model(RunProfile p) {
        Path dir = profile.toAbsolutePath().getParent();
        return ModelFacts.exportModel(ProfileRun.resolveModel(p.model(), dir), hfModel);
    }

    private HardwareProfile hardware(RunProfile p) { return HardwareStore.resolve(hardware != null ? hardware : p.hardware()); }

    private ExportOptions options() {
        ExportOptions opts = ExportOptions.defaults();
        if (deepspeedVersion != null) opts = opts.withDeepspeedVersion(deepspeedVersion);
        if (hosts != null) opts = opts.withHosts(hosts);
        if (gpusPerNode != null) opts = opts.withGpusPerNode(gpusPerNode);
        if (nvmePath != null) opts = opts.withNvmePath(nvmePath);
        return opts;
    }

    private Path trace(Path file, PrintWriter err) {
        RunRecord r;
        if (runRecord != null) r = RunRecordJson.load(runRecord);
        else {
            RunProfile p = load();
            err.println("fathom: no --run-record given: running " + profile + " to record a trace…");
            r = RunCommand.runWithProgress(p, profile.toAbsolutePath().getParent(), err);
        }
        if (r.events().isEmpty())
            throw new IllegalArgumentException((runRecord != null ? runRecord : profile) + " holds no telemetry events: write the report with 'fathom run --report FILE' (events are kept in it).");
        ChromeTrace.write(file, r.events(), RunCommand.traceMetadata(r));
        return file;
    }

    private static void printJson(PrintWriter o, List<ExportResult> results, Path trace) {
        var m = new com.fasterxml.jackson.databind.ObjectMapper();
        var root = m.createObjectNode();
        var arr = root.putArray("exports");
        for (ExportResult r : results) {
            var n = arr.addObject();
            n.put("target", r.target().id());
            n.put("dir", r.outDir().toString());
            var fs = n.putArray("files");
            r.files().forEach(f -> fs.add(f.toString()));
            var ws = n.putArray("warnings");
            r.warnings().forEach(ws::add);
        }
        if (trace != null) root.put("trace", trace.toString());
        o.println(root.toPrettyString());
    }
}
