package dev.fathom.visualizer;

import javafx.geometry.VPos;
import javafx.scene.canvas.Canvas;
import javafx.scene.canvas.GraphicsContext;
import javafx.scene.layout.Region;
import javafx.scene.paint.Color;
import javafx.scene.text.Font;
import javafx.scene.text.TextAlignment;

import java.util.Locale;

/**
 * The pipeline Gantt chart on a {@link Canvas}: a lane per stage/rank (micro-batches coloured by sequence,
 * idle gaps shaded as bubbles), transfer lanes under them, and the bubble fraction of each phase written
 * above. Redrawn only when {@link #show} gets a new layout or the size changes.
 */
public final class PipelineTimeline extends Region {
    private static final double LABEL_W = 150, HEADER_H = 34, LANE_H = 22, LANE_GAP = 6, AXIS_H = 18;
    private final Canvas canvas = new Canvas();
    private TimelineLayout layout = new TimelineLayout(java.util.List.of(), java.util.List.of(), 0, false);

    public PipelineTimeline() {
        getChildren().add(canvas);
        getStyleClass().add("pipeline-timeline");
        setMinHeight(120);
        setPrefHeight(220);
        widthProperty().addListener(o -> redraw());
        heightProperty().addListener(o -> redraw());
    }

    public void show(TimelineLayout l) {
        this.layout = l;
        redraw();
    }

    public TimelineLayout timelineLayout() { return layout; }

    @Override
    protected void layoutChildren() {
        canvas.setWidth(getWidth());
        canvas.setHeight(getHeight());
        redraw();
    }

    /** Distinct, readable colour of a sequence (or a phase on the phase lane). */
    public static Color sequenceColor(int key) {
        return Color.hsb((key * 67.0 + 200) % 360, 0.55, 0.88);
    }

    private void redraw() {
        double w = canvas.getWidth(), h = canvas.getHeight();
        if (w <= 0 || h <= 0) return;
        GraphicsContext g = canvas.getGraphicsContext2D();
        g.setFill(Color.WHITE);
        g.fillRect(0, 0, w, h);
        g.setFont(Font.font(11));
        g.setTextBaseline(VPos.CENTER);
        if (layout.lanes().isEmpty()) {
            g.setFill(Color.GRAY);
            g.setTextAlign(TextAlignment.CENTER);
            g.fillText("No timeline yet: run a model to see its phases, pipeline stages and transfers.", w / 2, h / 2);
            return;
        }
        double x0 = LABEL_W, x1 = w - 10, end = Math.max(layout.endSeconds(), 1e-6);
        double scale = (x1 - x0) / end;
        // phase headers
        g.setTextAlign(TextAlignment.LEFT);
        for (TimelineLayout.PhaseWindow p : layout.phases()) {
            double a = x0 + p.start() * scale, b = x0 + p.end() * scale;
            g.setFill(p.phase().ordinal() == 0 ? Color.rgb(230, 238, 250) : Color.rgb(236, 246, 236));
            g.fillRect(a, 4, Math.max(1, b - a), HEADER_H - 8);
            g.setFill(Color.rgb(40, 40, 40));
            String txt = p.phase().name().toLowerCase(Locale.ROOT)
                    + (Double.isNaN(p.bubbleFraction()) ? "" : String.format(Locale.ROOT, " — bubbles %.1f%%", 100 * p.bubbleFraction()));
            g.fillText(txt, a + 4, HEADER_H / 2, Math.max(20, b - a - 6));
        }
        double y = HEADER_H;
        for (TimelineLayout.Lane lane : layout.lanes()) {
            if (y + LANE_H > h - AXIS_H) break;
            g.setFill(Color.rgb(50, 50, 50));
            g.setTextAlign(TextAlignment.LEFT);
            g.fillText(lane.name(), 6, y + LANE_H / 2, LABEL_W - 10);
            g.setFill(Color.rgb(247, 247, 247));
            g.fillRect(x0, y, x1 - x0, LANE_H);
            // bubbles first, hatched grey
            for (TimelineLayout.Gap gap : lane.bubbles()) {
                double a = x0 + gap.start() * scale, bw = Math.max(1, (gap.end() - gap.start()) * scale);
                g.setFill(Color.rgb(205, 205, 205));
                g.fillRect(a, y, bw, LANE_H);
                g.setStroke(Color.rgb(170, 170, 170));
                g.setLineWidth(1);
                for (double hx = a - LANE_H; hx < a + bw; hx += 6) {
                    double sx = Math.max(hx, a), ex = Math.min(hx + LANE_H, a + bw);
                    if (ex > sx) g.strokeLine(sx, y + LANE_H - (sx - hx), ex, y + LANE_H - (ex - hx));
                }
            }
            // bars, merged when closer than a pixel so huge runs stay cheap to draw
            double lastEndPx = -1;
            for (TimelineLayout.Bar bar : lane.bars()) {
                double a = x0 + bar.start() * scale, b = x0 + bar.end() * scale;
                if (b - a < 1) b = a + 1;
                if (a < lastEndPx - 0.5 && b <= lastEndPx) continue;
                lastEndPx = b;
                g.setFill(switch (lane.kind()) {
                    case TRANSFER -> Color.rgb(240, 160, 60);
                    case PHASE -> bar.colorKey() == 0 ? Color.rgb(90, 130, 200) : Color.rgb(90, 170, 110);
                    case COMPUTE -> sequenceColor(bar.colorKey());
                });
                g.fillRect(a, y + 2, b - a, LANE_H - 4);
                if (b - a > 40) {
                    g.setFill(Color.rgb(20, 20, 20));
                    g.fillText(bar.label(), a + 3, y + LANE_H / 2, b - a - 6);
                }
            }
            y += LANE_H + LANE_GAP;
        }
        // time axis
        g.setStroke(Color.GRAY);
        g.strokeLine(x0, h - AXIS_H, x1, h - AXIS_H);
        g.setFill(Color.rgb(60, 60, 60));
        g.setTextAlign(TextAlignment.CENTER);
        double step = niceStep(end / Math.max(2, Math.floor((x1 - x0) / 90)));
        for (double t = 0; t <= end + 1e-12; t += step) {
            double x = x0 + t * scale;
            g.strokeLine(x, h - AXIS_H, x, h - AXIS_H + 4);
            g.fillText(formatSeconds(t), x, h - AXIS_H / 2 + 2);
        }
    }

    static double niceStep(double raw) {
        if (raw <= 0) return 1;
        double p = Math.pow(10, Math.floor(Math.log10(raw)));
        double m = raw / p;
        return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
    }

    static String formatSeconds(double s) {
        if (s == 0) return "0";
        if (s < 1e-3) return String.format(Locale.ROOT, "%.0f µs", s * 1e6);
        if (s < 1) return String.format(Locale.ROOT, "%.0f ms", s * 1e3);
        return String.format(Locale.ROOT, "%.2f s", s);
    }
}
