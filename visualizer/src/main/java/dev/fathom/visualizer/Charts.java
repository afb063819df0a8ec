package dev.fathom.visualizer;

import org.jfree.chart.ChartFactory;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.fx.ChartViewer;
import org.jfree.chart.plot.CategoryPlot;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.ValueMarker;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.category.BarRenderer;
import org.jfree.chart.renderer.category.StandardBarPainter;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.chart.renderer.xy.XYStepRenderer;
import org.jfree.chart.ui.RectangleAnchor;
import org.jfree.chart.ui.TextAnchor;
import org.jfree.data.category.DefaultCategoryDataset;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The JFreeChart views: top kernels (bars), memory bandwidth over time against the device's peak, and
 * memory per tier over time. Each is updated in place with notifications off until the whole snapshot
 * is in, so one refresh draws once.
 */
public final class Charts {
    private Charts() {}

    private static final Font TITLE = new Font("SansSerif", Font.BOLD, 12);

    private static void style(JFreeChart c) {
        c.getTitle().setFont(TITLE);
        c.setBackgroundPaint(Color.WHITE);
        c.setAntiAlias(true);
        if (c.getLegend() != null) c.getLegend().setItemFont(new Font("SansSerif", Font.PLAIN, 10));
    }

    /** Top kernels by total time. */
    public static final class TopKernels {
        private final DefaultCategoryDataset data = new DefaultCategoryDataset();
        private final ChartViewer viewer;
        private final JFreeChart c;
        private int points;

        public TopKernels(String title) {
            c = ChartFactory.createBarChart(title, null, "total ms", data, PlotOrientation.HORIZONTAL, false, true, false);
            style(c);
            CategoryPlot p = c.getCategoryPlot();
            p.setBackgroundPaint(new Color(250, 250, 250));
            BarRenderer r = (BarRenderer) p.getRenderer();
            r.setBarPainter(new StandardBarPainter());
            r.setShadowVisible(false);
            r.setSeriesPaint(0, new Color(70, 120, 190));
            p.getDomainAxis().setTickLabelFont(new Font("SansSerif", Font.PLAIN, 10));
            viewer = new ChartViewer(c);
            viewer.getStyleClass().add("top-kernels-chart");
        }

        public ChartViewer viewer() { return viewer; }
        /** Bars currently shown (tests read it). */
        public int points() { return points; }

        public void show(List<dev.fathom.engine.telemetry.KernelStats> kernels, int top) {
            c.setNotify(false);
            data.setNotify(false);
            data.clear();
            int n = 0;
            for (var k : kernels) {
                if (n++ >= top) break;
                data.addValue(k.totalMs(), "total ms", k.name());
            }
            points = Math.min(top, kernels.size());
            data.setNotify(true);
            c.setNotify(true);
        }
    }

    /** Achieved memory bandwidth per device/rank over time, with the peak as a reference line. */
    public static final class Bandwidth {
        private final XYSeriesCollection data = new XYSeriesCollection();
        private final Map<String, XYSeries> series = new LinkedHashMap<>();
        private final XYPlot plot;
        private final ChartViewer viewer;
        private final JFreeChart c;
        private ValueMarker peak;
        private int points;

        public Bandwidth(String title) {
            c = ChartFactory.createXYLineChart(title, "seconds", "GB/s", data, PlotOrientation.VERTICAL, true, true, false);
            style(c);
            plot = c.getXYPlot();
            plot.setBackgroundPaint(new Color(250, 250, 250));
            XYLineAndShapeRenderer r = new XYLineAndShapeRenderer(true, false);
            plot.setRenderer(r);
            // log scale: a small model on a CPU reaches a few % of the peak; the peak line must stay on the chart
            LogAxis y = new LogAxis("GB/s (log scale)");
            y.setSmallestValue(1e-4);
            y.setLabelFont(new Font("SansSerif", Font.BOLD, 11));
            y.setTickLabelFont(new Font("SansSerif", Font.PLAIN, 10));
            plot.setRangeAxis(y);
            viewer = new ChartViewer(c);
            viewer.getStyleClass().add("bandwidth-chart");
        }

        public ChartViewer viewer() { return viewer; }
        public int points() { return points; }

        /** @param peakBytesPerS the device's peak (0 = unknown, no line) */
        public void show(Map<String, TelemetryModel.BandwidthSeries> lanes, double peakBytesPerS, String peakLabel) {
            c.setNotify(false); // one redraw per refresh, not one per series, marker and axis change
            data.setNotify(false);
            int n = 0;
            double max = 0, min = Double.MAX_VALUE;
            for (var e : lanes.entrySet()) {
                XYSeries s = series.computeIfAbsent(e.getKey(), k -> {
                    XYSeries x = new XYSeries(k, true, false);
                    data.addSeries(x);
                    return x;
                });
                TelemetryModel.BandwidthSeries b = e.getValue();
                s.setNotify(false);
                s.clear();
                for (int i = 0; i < b.bins(); i++) {
                    double v = b.rate(i) / 1e9;
                    if (v <= 0) continue; // idle bins have no point on a log axis
                    s.add(b.binStartSeconds(i), v, false);
                    max = Math.max(max, v);
                    min = Math.min(min, v);
                }
                n += b.bins();
                s.setNotify(true);
            }
            if (lanes.isEmpty() && !series.isEmpty()) {
                data.removeAllSeries();
                series.clear();
            }
            points = n;
            if (peak != null && peak.getValue() != peakBytesPerS / 1e9) {
                plot.removeRangeMarker(peak);
                peak = null;
            }
            if (peakBytesPerS > 0) {
                if (peak == null) addPeak(peakBytesPerS, peakLabel);
                LogAxis y = (LogAxis) plot.getRangeAxis();
                y.setAutoRange(false);
                double lo = min == Double.MAX_VALUE ? peakBytesPerS / 1e9 / 1000 : Math.min(min, peakBytesPerS / 1e9) / 2;
                y.setRange(lo, Math.max(max, peakBytesPerS / 1e9) * 2);
            } else {
                plot.getRangeAxis().setAutoRange(true);
            }
            data.setNotify(true);
            c.setNotify(true);
        }

        private void addPeak(double peakBytesPerS, String peakLabel) {
            {
                peak = new ValueMarker(peakBytesPerS / 1e9, new Color(200, 40, 40), new BasicStroke(1.5f, BasicStroke.CAP_BUTT,
                        BasicStroke.JOIN_MITER, 1, new float[]{6, 4}, 0));
                peak.setLabel(String.format(Locale.ROOT, "peak %.0f GB/s%s", peakBytesPerS / 1e9, peakLabel == null ? "" : " " + peakLabel));
                peak.setLabelFont(new Font("SansSerif", Font.PLAIN, 10));
                peak.setLabelAnchor(RectangleAnchor.BOTTOM_LEFT);
                peak.setLabelTextAnchor(TextAnchor.TOP_LEFT);
                plot.addRangeMarker(peak);
            }
        }
    }

    /** Memory held per device and tier over time (steps). */
    public static final class Memory {
        private final XYSeriesCollection data = new XYSeriesCollection();
        private final Map<String, XYSeries> series = new LinkedHashMap<>();
        private final ChartViewer viewer;
        private final JFreeChart c;
        private int points;

        public Memory(String title) {
            c = ChartFactory.createXYLineChart(title, "seconds", "GB", data, PlotOrientation.VERTICAL, true, true, false);
            style(c);
            XYPlot plot = c.getXYPlot();
            plot.setBackgroundPaint(new Color(250, 250, 250));
            XYStepRenderer r = new XYStepRenderer();
            r.setDefaultStroke(new BasicStroke(2f));
            r.setAutoPopulateSeriesStroke(false);
            plot.setRenderer(r);
            viewer = new ChartViewer(c);
            viewer.getStyleClass().add("memory-chart");
        }

        public ChartViewer viewer() { return viewer; }
        public int points() { return points; }

        public void show(Map<String, List<TelemetryModel.MemoryPoint>> tiers, double endSeconds) {
            c.setNotify(false);
            data.setNotify(false);
            int n = 0;
            for (var e : tiers.entrySet()) {
                List<TelemetryModel.MemoryPoint> pts = e.getValue();
                String name = e.getKey() + (pts.isEmpty() || pts.getLast().capacityBytes() <= 0 ? ""
                        : " (of " + Format.bytes(pts.getLast().capacityBytes()) + ")");
                XYSeries s = series.computeIfAbsent(e.getKey(), k -> {
                    XYSeries x = new XYSeries(name, true, true);
                    data.addSeries(x);
                    return x;
                });
                s.setKey(name);
                s.setNotify(false);
                s.clear();
                for (var p : pts) s.add(p.seconds(), p.usedBytes() / 1e9, false);
                if (!pts.isEmpty() && endSeconds > pts.getLast().seconds()) s.add(endSeconds, pts.getLast().usedBytes() / 1e9, false);
                n += pts.size();
                s.setNotify(true);
            }
            if (tiers.isEmpty() && !series.isEmpty()) {
                data.removeAllSeries();
                series.clear();
            }
            points = n;
            data.setNotify(true);
            c.setNotify(true);
        }
    }
}
