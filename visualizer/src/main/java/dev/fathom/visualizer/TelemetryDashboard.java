package dev.fathom.visualizer;

import dev.fathom.profiles.HardwareProfile;
import javafx.geometry.Insets;
import javafx.geometry.Orientation;
import javafx.scene.control.Label;
import javafx.scene.control.SplitPane;
import javafx.scene.layout.BorderPane;
import javafx.scene.layout.VBox;

import java.util.Locale;

/**
 * All live views of one run: the kernel table and top-kernel bars, bandwidth over time against the peak,
 * memory per tier, and the pipeline timeline. {@link #show} refreshes everything from one snapshot; it is
 * called by a {@link SnapshotPoller} at most ~30 times a second while a run streams, or once for a kept run.
 */
public final class TelemetryDashboard extends BorderPane {
    private final KernelTable table = new KernelTable();
    private final Charts.TopKernels top = new Charts.TopKernels("Top kernels (total time)");
    private final Charts.Bandwidth bandwidth = new Charts.Bandwidth("Memory bandwidth over time");
    private final Charts.Memory memory = new Charts.Memory("Memory per tier");
    private final PipelineTimeline timeline = new PipelineTimeline();
    private final Label footer = new Label();
    private HardwareProfile hardware;
    private String precision = "f32";
    private long shownRevision = -1;

    public TelemetryDashboard() {
        SplitPane kernels = new SplitPane(table, top.viewer());
        kernels.setDividerPositions(0.55);
        SplitPane series = new SplitPane(bandwidth.viewer(), memory.viewer());
        Label tl = new Label("Pipeline timeline");
        tl.setStyle("-fx-font-weight: bold;");
        VBox tlBox = new VBox(2, tl, timeline);
        VBox.setVgrow(timeline, javafx.scene.layout.Priority.ALWAYS);
        tlBox.setPadding(new Insets(2, 4, 2, 4));
        SplitPane all = new SplitPane(kernels, series, tlBox);
        all.setOrientation(Orientation.VERTICAL);
        all.setDividerPositions(0.36, 0.68);
        setCenter(all);
        footer.setPadding(new Insets(2, 6, 2, 6));
        footer.getStyleClass().add("dashboard-footer");
        setBottom(footer);
        table.setId("kernelTable");
        timeline.setId("pipelineTimeline");
    }

    /** Side-by-side use: the kernel table keeps only name, total, mean and GB/s. */
    public void setCompact(boolean compact) { table.setCompact(compact); }

    /** What the peaks and % columns are measured against. */
    public void setHardware(HardwareProfile hw, String precisionId) {
        this.hardware = hw;
        this.precision = precisionId == null ? "f32" : precisionId;
        shownRevision = -1;
        java.util.Arrays.fill(viewRevision, -1);
    }

    /** Views refreshed one at a time by {@link #showNext}: 0 table, 1 top kernels, 2 bandwidth, 3 memory, 4 timeline + footer. */
    public static final int VIEWS = 5;
    private final long[] viewRevision = {-1, -1, -1, -1, -1};
    private int nextView;

    /**
     * Redraws the next view that is behind {@code m} (round robin), so that one frame carries at most one
     * chart's repaint while a run streams; returns whether it redrew anything.
     */
    public boolean showNext(TelemetryModel m) {
        for (int i = 0; i < VIEWS; i++) {
            int v = (nextView + i) % VIEWS;
            if (viewRevision[v] != m.revision()) {
                showView(v, m);
                nextView = (v + 1) % VIEWS;
                return true;
            }
        }
        return false;
    }

    /** Redraws everything from {@code m} when it changed since the last call; returns whether it redrew. */
    public boolean show(TelemetryModel m) {
        if (m.revision() == shownRevision) return false;
        shownRevision = m.revision();
        for (int v = 0; v < VIEWS; v++) showView(v, m);
        return true;
    }

    private void showView(int v, TelemetryModel m) {
        viewRevision[v] = m.revision();
        double peakBw = hardware == null ? 0 : hardware.memoryBandwidth();
        double peakFlops = hardware == null ? 0 : hardware.flops(precision);
        switch (v) {
            case 0 -> table.show(m.kernels(), peakBw, peakFlops);
            case 1 -> top.show(m.kernels(), 10);
            case 2 -> bandwidth.show(m.bandwidth(), peakBw, hardware == null ? null : "(" + hardware.name() + ")");
            case 3 -> memory.show(m.memory(), m.spanSeconds());
            default -> showTimeline(m);
        }
    }

    private void showTimeline(TelemetryModel m) {
        TimelineLayout layout = TimelineLayout.of(m);
        timeline.show(layout);
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%d kernels, %s moved in %.1f ms of kernel time; %d tokens",
                m.kernels().size(), Format.bytes(m.kernelBytes()), m.kernelNs() / 1e6, m.tokens()));
        if (!layout.pipelined()) sb.append("; single rank (no pipeline stage spans)");
        if (m.droppedSpans() > 0) sb.append("; ").append(m.droppedSpans()).append(" spans past the view's bound not drawn");
        footer.setText(sb.toString());
    }

    public KernelTable table() { return table; }
    public Charts.TopKernels topKernels() { return top; }
    public Charts.Bandwidth bandwidth() { return bandwidth; }
    public Charts.Memory memory() { return memory; }
    public PipelineTimeline timeline() { return timeline; }
}
