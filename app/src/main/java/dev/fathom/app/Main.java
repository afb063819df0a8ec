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
            try {
                Workbench.open(args);
            } catch (UnsupportedOperationException e) {   // JavaFX: "Unable to open DISPLAY" (DISPLAY set, no server there)
                String why = displayError(e, System.getenv("DISPLAY"));
                if (why == null) throw e;
                System.err.println(why);
                System.exit(2);
            }
            return;
        }
        System.exit(FathomCommand.run(args));
    }

    /**
     * The one sentence for a workbench that JavaFX could not open because no display server answers at {@code display}
     * (the launcher already refuses an unset DISPLAY; java run directly does not), or null when {@code e} is some
     * other failure.
     */
    static String displayError(UnsupportedOperationException e, String display) {
        if (e.getMessage() == null || !e.getMessage().contains("DISPLAY")) return null;
        String where = display == null || display.isBlank() ? ": DISPLAY is unset" : " on DISPLAY=" + display + ": no X server answers there";
        return "fathom: cannot open the workbench" + where + "; start an X server (or run under xvfb-run), or use './fathom --help' for the command line.";
    }
}
