package dev.fathom.visualizer;

import javafx.animation.AnimationTimer;

/**
 * Calls {@code refresh} on the FX thread at most {@code hz} times a second (an {@link AnimationTimer},
 * so never more than one update per frame and never one {@code Platform.runLater} per event). It also
 * counts frame callbacks and the longest gap between two, which is how responsiveness is measured.
 */
public final class SnapshotPoller extends AnimationTimer {
    private final Runnable refresh;
    private final long periodNs;
    private long lastRefresh;
    private long lastFrame;
    private long frames;
    private long refreshes;
    private long maxGapNs;
    private long firstFrame;

    public SnapshotPoller(double hz, Runnable refresh) {
        this.refresh = refresh;
        this.periodNs = (long) (1e9 / hz);
    }

    @Override
    public void handle(long now) {
        if (firstFrame == 0) firstFrame = now;
        if (lastFrame != 0) maxGapNs = Math.max(maxGapNs, now - lastFrame);
        lastFrame = now;
        frames++;
        if (now - lastRefresh >= periodNs) {
            lastRefresh = now;
            refreshes++;
            refresh.run();
        }
    }

    /** Clears the frame statistics. */
    public void resetStats() {
        frames = 0;
        refreshes = 0;
        maxGapNs = 0;
        firstFrame = 0;
        lastFrame = 0;
    }

    public long frames() { return frames; }
    public long refreshes() { return refreshes; }
    public long maxGapNs() { return maxGapNs; }
    /** Frame callbacks per second since the last reset. */
    public double framesPerSecond() {
        return lastFrame <= firstFrame ? 0 : (frames - 1) / ((lastFrame - firstFrame) / 1e9);
    }
}
