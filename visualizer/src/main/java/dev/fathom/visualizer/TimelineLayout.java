package dev.fathom.visualizer;

import dev.fathom.engine.telemetry.TelemetryEvent;
import dev.fathom.engine.telemetry.TelemetryEvent.Phase;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The pipeline timeline as pure data: one compute lane per stage/rank from {@code StageSpan}s, one
 * transfer lane per rank from {@code TransferSpan}s, the idle gaps (bubbles) of each compute lane inside
 * each phase, and the bubble fraction per phase: idle lane-time / (lanes x phase length). Times are
 * seconds from the run's start. Without stage spans (a single-rank run) the phases form one lane and no
 * bubbles are claimed.
 */
public record TimelineLayout(List<Lane> lanes, List<PhaseWindow> phases, double endSeconds, boolean pipelined) {

    public enum Kind { COMPUTE, TRANSFER, PHASE }

    /** @param colorKey sequence of the micro-batch (colour), or the phase ordinal on a phase lane */
    public record Bar(double start, double end, int colorKey, String label) {}

    public record Gap(double start, double end) {}

    public record Lane(String name, Kind kind, List<Bar> bars, List<Gap> bubbles) {}

    /** @param bubbleFraction idle share of the compute lanes in this phase, 0..1 (NaN without stages) */
    public record PhaseWindow(Phase phase, double start, double end, double bubbleFraction) {}

    public static TimelineLayout of(TelemetryModel m) {
        return of(m.stages(), m.transfers(), m.phases(), m.t0(), m.spanSeconds());
    }

    public static TimelineLayout of(List<TelemetryEvent.StageSpan> stages, List<TelemetryEvent.TransferSpan> transfers,
                                    List<TelemetryEvent.PhaseSpan> phaseSpans, long t0) {
        return of(stages, transfers, phaseSpans, t0, 0);
    }

    /**
     * @param liveEnd seconds of the latest event seen; while a run streams, the token phase (whose span
     *                is only reported at its end) is drawn open from the prompt phase's end up to here
     */
    public static TimelineLayout of(List<TelemetryEvent.StageSpan> stages, List<TelemetryEvent.TransferSpan> transfers,
                                    List<TelemetryEvent.PhaseSpan> phaseSpans, long t0, double liveEnd) {
        double end = 0;
        Map<Phase, double[]> windows = new EnumMap<>(Phase.class);
        for (TelemetryEvent.PhaseSpan p : phaseSpans) {
            if (p.durNs() <= 0) continue;
            double s = sec(p.startNs(), t0), e = sec(p.startNs() + p.durNs(), t0);
            windows.merge(p.phase(), new double[]{s, e}, (a, b) -> new double[]{Math.min(a[0], b[0]), Math.max(a[1], b[1])});
            end = Math.max(end, e);
        }
        if (windows.containsKey(Phase.PROMPT) && !windows.containsKey(Phase.DECODE) && liveEnd > windows.get(Phase.PROMPT)[1]) {
            windows.put(Phase.DECODE, new double[]{windows.get(Phase.PROMPT)[1], liveEnd});
            end = Math.max(end, liveEnd);
        }
        Map<String, List<Bar>> compute = new TreeMap<>(LANE_ORDER);
        Map<Phase, double[]> stageWindows = new EnumMap<>(Phase.class);
        for (TelemetryEvent.StageSpan s : stages) {
            double a = sec(s.startNs(), t0), b = sec(s.startNs() + s.durNs(), t0);
            int seq = s.sequences() != null && s.sequences().length > 0 ? s.sequences()[0] : s.microBatch();
            compute.computeIfAbsent("stage " + s.stage() + " · rank " + s.rank(), k -> new ArrayList<>())
                    .add(new Bar(a, b, seq, "mb " + s.microBatch()));
            stageWindows.merge(s.phase(), new double[]{a, b}, (x, y) -> new double[]{Math.min(x[0], y[0]), Math.max(x[1], y[1])});
            end = Math.max(end, b);
        }
        Map<String, List<Bar>> xfer = new TreeMap<>(LANE_ORDER);
        for (TelemetryEvent.TransferSpan t : transfers) {
            double a = sec(t.startNs(), t0), b = sec(t.startNs() + t.durNs(), t0);
            xfer.computeIfAbsent("transfers · rank " + t.rank(), k -> new ArrayList<>())
                    .add(new Bar(a, b, t.layer(), t.kind() + " " + t.from() + "→" + t.to()));
            end = Math.max(end, b);
        }
        boolean pipelined = !compute.isEmpty();
        // stage spans define where each phase's pipeline work is, when there are any
        if (pipelined) windows = stageWindows.isEmpty() ? windows : stageWindows;
        List<Lane> lanes = new ArrayList<>();
        List<PhaseWindow> pw = new ArrayList<>();
        if (pipelined) {
            Map<Phase, double[]> idle = new EnumMap<>(Phase.class);
            for (var e : compute.entrySet()) {
                List<Bar> bars = e.getValue();
                bars.sort(Comparator.comparingDouble(Bar::start));
                List<Gap> gaps = new ArrayList<>();
                for (var w : windows.entrySet()) {
                    double idleSum = gapsInside(bars, w.getValue()[0], w.getValue()[1], gaps);
                    idle.merge(w.getKey(), new double[]{idleSum}, (x, y) -> new double[]{x[0] + y[0]});
                }
                lanes.add(new Lane(e.getKey(), Kind.COMPUTE, List.copyOf(bars), List.copyOf(gaps)));
            }
            for (var w : windows.entrySet()) {
                double len = w.getValue()[1] - w.getValue()[0];
                double frac = len <= 0 ? 0 : idle.getOrDefault(w.getKey(), new double[]{0})[0] / (len * compute.size());
                pw.add(new PhaseWindow(w.getKey(), w.getValue()[0], w.getValue()[1], Math.max(0, Math.min(1, frac))));
            }
        } else {
            List<Bar> bars = new ArrayList<>();
            for (var w : windows.entrySet()) {
                bars.add(new Bar(w.getValue()[0], w.getValue()[1], w.getKey().ordinal(), w.getKey().name().toLowerCase()));
                pw.add(new PhaseWindow(w.getKey(), w.getValue()[0], w.getValue()[1], Double.NaN));
            }
            if (!bars.isEmpty()) lanes.add(new Lane("rank 0 (no pipeline stages)", Kind.PHASE, bars, List.of()));
        }
        for (var e : xfer.entrySet()) {
            e.getValue().sort(Comparator.comparingDouble(Bar::start));
            lanes.add(new Lane(e.getKey(), Kind.TRANSFER, List.copyOf(e.getValue()), List.of()));
        }
        pw.sort(Comparator.comparingDouble(PhaseWindow::start));
        return new TimelineLayout(List.copyOf(lanes), List.copyOf(pw), end, pipelined);
    }

    /** Adds the idle gaps of {@code bars} (sorted by start) inside [from, to] to {@code out}; returns their total. */
    static double gapsInside(List<Bar> bars, double from, double to, List<Gap> out) {
        double cursor = from, idle = 0;
        for (Bar b : bars) {
            if (b.end() <= cursor) continue;
            if (b.start() >= to) break;
            if (b.start() > cursor) {
                out.add(new Gap(cursor, b.start()));
                idle += b.start() - cursor;
            }
            cursor = Math.max(cursor, b.end());
            if (cursor >= to) break;
        }
        if (cursor < to) {
            out.add(new Gap(cursor, to));
            idle += to - cursor;
        }
        return idle;
    }

    private static double sec(long ns, long t0) { return Math.max(0, ns - t0) / 1e9; }

    /** "stage 2 · rank 10" after "stage 2 · rank 9": compares the numbers, not the text. */
    static final Comparator<String> LANE_ORDER = (a, b) -> {
        int[] x = numbers(a), y = numbers(b);
        for (int i = 0; i < Math.min(x.length, y.length); i++) if (x[i] != y[i]) return Integer.compare(x[i], y[i]);
        if (x.length != y.length) return Integer.compare(x.length, y.length);
        return a.compareTo(b);
    };

    private static int[] numbers(String s) {
        return java.util.regex.Pattern.compile("\\d+").matcher(s).results().mapToInt(r -> Integer.parseInt(r.group())).toArray();
    }

    public PhaseWindow phase(Phase p) {
        return phases.stream().filter(w -> w.phase() == p).findFirst().orElse(null);
    }
}
