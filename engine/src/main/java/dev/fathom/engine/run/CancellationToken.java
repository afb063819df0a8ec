package dev.fathom.engine.run;

/** Set from any thread to stop a generation at the next token boundary. */
public final class CancellationToken {
    private volatile boolean cancelled;

    public void cancel() { cancelled = true; }
    public boolean isCancelled() { return cancelled || Thread.currentThread().isInterrupted(); }
}
