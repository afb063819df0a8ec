package dev.fathom.app.cli;

import dev.fathom.engine.EngineException;
import dev.fathom.profiles.ProfileException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintWriter;

/**
 * {@code fathom} — the command line. Exit codes: 0 success, 1 the engine rejected the input (the
 * message says which file, tensor, field or setting, and what to do), 2 bad command-line usage,
 * 3 cancelled or interrupted, 4 an internal error (a bug: rerun with --debug and report the trace).
 * A profile that cannot be used (bad JSON, a wrong type, an unknown precision, a TP degree that does not
 * divide the heads) is exit 1 with one sentence that names the file and the JSON path, e.g.
 * {@code fathom: p.json: $.parallel.tp must be a positive integer, found "two".}
 */
@Command(name = "fathom", mixinStandardHelpOptions = true, version = "Fathom 0.1.0",
        description = "Run and profile transformer inference the DeepSpeed-Inference way.",
        subcommands = {
                GenerateCommand.class,
                PlanCommand.class,
                BenchParallelCommand.class,
                RunCommand.class,
                ExportCommand.class,
                CalibrateCommand.class,
                ProfilesCommand.class,
                CommandLine.HelpCommand.class},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:success", "1:bad input (the message names the file, field or setting)", "2:bad usage",
                "3:cancelled", "4:internal error (rerun with --debug)"})
public final class FathomCommand implements Runnable {
    public static final int EXIT_INPUT = 1;
    public static final int EXIT_USAGE = 2;
    public static final int EXIT_CANCELLED = 3;
    public static final int EXIT_INTERNAL = 4;

    @Option(names = "--debug", scope = CommandLine.ScopeType.INHERIT, description = "print stack traces of errors")
    boolean debug;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new FathomCommand());
        cl.setExecutionExceptionHandler((ex, cmd, parse) -> {
            boolean dbg = cmd.getCommandSpec().root().userObject() instanceof FathomCommand f && f.debug;
            PrintWriter err = cmd.getErr();
            if (ex instanceof EngineException || ex instanceof IllegalArgumentException || ex instanceof ProfileException) {
                err.println("fathom: " + ex.getMessage());
                if (dbg) ex.printStackTrace(err);
                return EXIT_INPUT;
            }
            if (ex instanceof java.util.concurrent.CancellationException) {
                err.println("fathom: cancelled.");
                return EXIT_CANCELLED;
            }
            err.println("fathom: internal error: " + ex + (dbg ? "" : " (rerun with --debug for the trace)"));
            if (dbg) ex.printStackTrace(err);
            return EXIT_INTERNAL;
        });
        cl.setParameterExceptionHandler((ex, args) -> {
            PrintWriter err = ex.getCommandLine().getErr();
            err.println("fathom: " + ex.getMessage());
            err.println("Run '" + ex.getCommandLine().getCommandSpec().qualifiedName() + " --help' for the options.");
            return EXIT_USAGE;
        });
        return cl;
    }

    public static int run(String... args) { return commandLine().execute(args); }
}
