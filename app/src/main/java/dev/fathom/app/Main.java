package dev.fathom.app;

import dev.fathom.app.cli.FathomCommand;

/**
 * Entry point of the jar: with no arguments it opens the workbench; with a sub-command it runs the
 * command line (the same engine, headless).
 */
public final class Main {
    private Main() {}

    public static void main(String[] args) {
        if (args.length == 0 || (args.length == 1 && args[0].equals("gui"))) {
            Workbench.open(args);
            return;
        }
        System.exit(FathomCommand.run(args));
    }
}
