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
    private double recentGapNs = 16e6;

    public SnapshotPoller(double hz, Runnable refresh) {
        this.refresh = refresh;
        this.periodNs = (long) (1e9 / hz);
    }

    @Override
    public void handle(long now) {
        if (firstFrame == 0) firstFrame = now;
        if (lastFrame != 0) {
            long gap = now - lastFrame;
            maxGapNs = Math.max(maxGapNs, gap);
            recentGapNs = 0.8 * recentGapNs + 0.2 * gap;
        }
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
    /** Moving average of recent frame gaps: how long the scene currently takes to render. */
    public double recentGapNs() { return recentGapNs; }
    public long refreshes() { return refreshes; }
    public long maxGapNs() { return maxGapNs; }
    /** Frame callbacks per second since the last reset. */
    public double framesPerSecond() {
        return lastFrame <= firstFrame ? 0 : (frames - 1) / ((lastFrame - firstFrame) / 1e9);
    }
}
