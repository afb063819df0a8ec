package dev.fathom.app.cli;

import dev.fathom.engine.run.CancellationToken;
import dev.fathom.engine.run.ProfileRun;
import dev.fathom.engine.run.RunRecord;
import dev.fathom.engine.run.RunRecordJson;
import dev.fathom.engine.run.RunRecordText;
import dev.fathom.engine.telemetry.ChromeTrace;
import dev.fathom.profiles.ProfileCodec;
import dev.fathom.profiles.RunProfile;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code fathom run --profile FILE}: run a profile, print its figures, write a JSON report and optionally a trace. */
@Command(name = "run", mixinStandardHelpOptions = true,
        description = {"Run a saved profile (model, backend, shape, parallelism, placement, sampling) and report what it did.",
                "Prompts are synthetic: batch x promptLen token ids drawn from the sampling seed."})
public final class RunCommand implements Callable<Integer> {
    @Option(names = "--profile", required = true, paramLabel = "FILE", description = "run profile (JSON, as the workbench saves it)")
    Path profile;

    @Option(names = "--report", paramLabel = "FILE", description = "where to write the JSON report with its telemetry (default: <profile name>.report.json in the working directory)")
    Path report;

    @Option(names = "--trace", paramLabel = "FILE", description = "also write a Chrome Trace Event file (open it in ui.perfetto.dev or chrome://tracing)")
    Path trace;

    @Option(names = "--json", description = "print the report (without its events) as JSON instead of a table")
    boolean json;

    @Option(names = "--kernels", defaultValue = "12", paramLabel = "N", description = "kernels listed in the table (0 = all; default: ${DEFAULT-VALUE})")
    int kernels;

    @Spec CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut(), err = spec.commandLine().getErr();
        RunProfile p = ProfileCodec.loadRun(profile);
        RunRecord r = runWithProgress(p, profile.toAbsolutePath().getParent(), err);
        Path rep = report != null ? report : Path.of(defaultReportName(profile));
        RunRecordJson.save(r, rep);
        if (trace != null) ChromeTrace.write(trace, r.events(), traceMetadata(r));
        if (json) out.print(RunRecordJson.write(r.withoutEvents()));
        else {
            out.print(RunRecordText.render(r, kernels));
            out.println();
            out.println("report    " + rep);
            if (trace != null) out.println("trace     " + trace + " (open in ui.perfetto.dev)");
        }
        out.flush();
        if (r.model().synthetic() && !json) err.println("fathom: " + r.model().source() + " has random weights: the figures are real, the tokens are not.");
        return r.summary().cancelled() ? FathomCommand.EXIT_CANCELLED : 0;
    }

    static String defaultReportName(Path profile) {
        String n = profile.getFileName().toString();
        return (n.endsWith(".json") ? n.substring(0, n.length() - 5) : n) + ".report.json";
    }

    /** Runs with a progress bar on a terminal and Ctrl-C stopping the generation at the next token. */
    static RunRecord runWithProgress(RunProfile p, Path profileDir, PrintWriter err) {
        CancellationToken cancel = new CancellationToken();
        Thread hook = new Thread(cancel::cancel);
        Runtime.getRuntime().addShutdownHook(hook);
        try (ProgressBar bar = new ProgressBar(err)) {
            return ProfileRun.run(p, profileDir, bar::update, cancel);
        } finally {
            try { Runtime.getRuntime().removeShutdownHook(hook); } catch (IllegalStateException ignored) { }
        }
    }

    static Map<String, Object> traceMetadata(RunRecord r) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", r.model().source());
        m.put("backend", r.profile().backend());
        m.put("layout", r.layout());
        m.put("batch", r.summary().batch());
        m.put("promptTokens", r.summary().promptTokens());
        m.put("generatedTokens", r.summary().generatedTokens());
        m.put("createdAt", r.createdAt());
        m.put("droppedEvents", r.droppedEvents());
        return m;
    }
}
