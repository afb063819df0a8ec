package dev.fathom.app.cli;

import java.io.PrintWriter;

/**
 * A one-line progress bar on stderr, drawn only when Fathom runs on a terminal
 * ({@code System.console()} is a terminal); otherwise silent, so logs and pipes stay clean.
 */
final class ProgressBar implements AutoCloseable {
    private static final int WIDTH = 30;
    private final PrintWriter err;
    private final boolean on;
    private String stage = "";
    private int lastPermille = -1;
    private long lastDraw;

    ProgressBar(PrintWriter err) { this(err, onTerminal()); }

    /** Since JDK 22 {@code System.console()} is non-null even when redirected: ask whether it is a terminal. */
    static boolean onTerminal() {
        java.io.Console c = System.console();
        return c != null && c.isTerminal();
    }

    ProgressBar(PrintWriter err, boolean on) {
        this.err = err;
        this.on = on;
    }

    /** Redraws at most every 50 ms, and always when the stage changes or it reaches the end. */
    synchronized void update(String stage, double fraction) {
        if (!on) return;
        double f = Math.max(0, Math.min(1, fraction));
        int pm = (int) Math.round(f * 1000);
        long now = System.nanoTime();
        boolean changed = !stage.equals(this.stage);
        if (!changed && (pm == lastPermille || (now - lastDraw < 50_000_000 && pm < 1000))) return;
        this.stage = stage;
        lastPermille = pm;
        lastDraw = now;
        int fill = (int) Math.round(f * WIDTH);
        err.print(String.format("\r%-12s [%s%s] %3d%%", stage, "#".repeat(fill), ".".repeat(WIDTH - fill), pm / 10));
        err.flush();
    }

    @Override
    public synchronized void close() {
        if (on && lastPermille >= 0) {
            err.print("\r" + " ".repeat(12 + WIDTH + 8) + "\r");
            err.flush();
        }
    }
}
