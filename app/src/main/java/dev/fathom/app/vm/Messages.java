package dev.fathom.app.vm;

import dev.fathom.engine.EngineException;

/** Turns what a worker threw into the one sentence the user sees (never a stack trace). */
public final class Messages {
    private Messages() {}

    public static String sentence(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) if (t instanceof EngineException) return t.getMessage();
        if (e instanceof OutOfMemoryError)
            return "Out of Java heap while running: choose a smaller model or batch, or start Fathom with a larger -Xmx.";
        String m = e.getMessage();
        String kind = e.getClass().getSimpleName();
        return "Unexpected " + kind + (m == null ? "" : ": " + m.lines().findFirst().orElse("")) + " (run the CLI with --debug for details).";
    }
}
