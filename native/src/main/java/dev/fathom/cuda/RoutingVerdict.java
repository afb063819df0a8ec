package dev.fathom.cuda;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The verdict of CudaBench part {@code graphsteps} over several row counts and rounds: which routing, if any, should
 * become the default. Device time is short and machines often do not come, so one call measures every candidate at
 * every row count, in one process on one loaded model, and this class reads the medians the way the sessions'
 * notes did by hand.
 *
 * <p>The first routing named is the baseline (the defaults, usually {@code llama48}); naming it again later gives it
 * more runs, so drift over the call shows in its spread. At each row count a candidate is
 * <ul>
 *   <li><b>ahead</b> when its slowest run is faster than the baseline's fastest: faster than every run of the
 *       defaults, the rule the sessions used;</li>
 *   <li><b>level</b> when not ahead and its median is within {@link #LEVEL} of the baseline's median;</li>
 *   <li><b>behind</b> otherwise.</li>
 * </ul>
 * A candidate <b>qualifies</b> when it is ahead at every row count but the largest, and ahead or level at the largest
 * (a routing for 2..8 rows must not cost the 8-row step); timed at one row count only, it must be ahead there. Of several, the one with the lowest geometric mean of its
 * median ratios is named.
 */
final class RoutingVerdict {
    /** Within this fraction of the baseline's median a candidate is level: the spread of one routing's medians across a call. */
    static final double LEVEL = 0.01;

    private final String baseline;
    /** What each run's figure is, for the table's title. */
    private final String measure;
    /** rows -> routing (in the order first named) -> the medians of its runs, in run order. */
    private final TreeMap<Integer, Map<String, List<Double>>> runs = new TreeMap<>();

    /** Decode routings: each run's figure the median of its 20 host step times. */
    RoutingVerdict(String baseline) { this(baseline, "host step ms, median of each run's 20 steps"); }

    /** Routings of another phase, each run's figure described by {@code measure} (PrefillSteps: prefill ms). */
    RoutingVerdict(String baseline, String measure) {
        this.baseline = baseline;
        this.measure = measure;
    }

    /** Records one run's median step time, in ms. */
    void add(int rows, String routing, double ms) {
        runs.computeIfAbsent(rows, r -> new LinkedHashMap<>()).computeIfAbsent(routing, v -> new ArrayList<>()).add(ms);
    }

    enum Standing { AHEAD, LEVEL, BEHIND }

    /** Where {@code routing} stands against the baseline at {@code rows}; null when either has no run there. */
    Standing standing(int rows, String routing) {
        Map<String, List<Double>> at = runs.get(rows);
        if (at == null || !at.containsKey(routing) || !at.containsKey(baseline)) return null;
        List<Double> c = at.get(routing), b = at.get(baseline);
        if (max(c) < min(b)) return Standing.AHEAD;
        return Math.abs(median(c) / median(b) - 1) <= LEVEL ? Standing.LEVEL : Standing.BEHIND;
    }

    /** The candidates, in the order first named, the baseline left out. */
    List<String> candidates() {
        List<String> out = new ArrayList<>();
        for (Map<String, List<Double>> at : runs.values())
            for (String v : at.keySet()) if (!v.equals(baseline) && !out.contains(v)) out.add(v);
        return out;
    }

    /** Whether {@code routing} qualifies (class comment): ahead at every row count but the largest, not behind at the largest. */
    boolean qualifies(String routing) {
        if (runs.isEmpty()) return false;
        int largest = runs.lastKey();
        for (int rows : runs.keySet()) {
            Standing s = standing(rows, routing);
            boolean aheadNeeded = rows != largest || runs.size() == 1;
            if (s == null || s == Standing.BEHIND || (aheadNeeded && s != Standing.AHEAD)) return false;
        }
        return true;
    }

    /** Geometric mean over the row counts of the routing's median ÷ the baseline's; NaN where a row count lacks either. */
    double meanRatio(String routing) {
        double logs = 0;
        for (Map.Entry<Integer, Map<String, List<Double>>> e : runs.entrySet()) {
            List<Double> c = e.getValue().get(routing), b = e.getValue().get(baseline);
            if (c == null || b == null) return Double.NaN;
            logs += Math.log(median(c) / median(b));
        }
        return Math.exp(logs / runs.size());
    }

    /** The best qualifying candidate, or null when none qualifies. */
    String winner() {
        String best = null;
        for (String v : candidates())
            if (qualifies(v) && (best == null || meanRatio(v) < meanRatio(best))) best = v;
        return best;
    }

    /** The table of every routing at every row count, each candidate's standing, and the verdict in one sentence. */
    String table() {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%n== routings side by side (%s; baseline %s; level = within %.0f %% of its median)%n",
                measure, baseline, LEVEL * 100));
        sb.append(String.format(Locale.ROOT, "%5s  %-10s  %-28s  %9s  %8s  %s%n", "rows", "routing", "runs", "median", "÷ base", "standing"));
        for (Map.Entry<Integer, Map<String, List<Double>>> e : runs.entrySet()) {
            List<Double> b = e.getValue().get(baseline);
            for (Map.Entry<String, List<Double>> v : e.getValue().entrySet()) {
                List<Double> c = v.getValue();
                Standing s = v.getKey().equals(baseline) ? null : standing(e.getKey(), v.getKey());
                sb.append(String.format(Locale.ROOT, "%5d  %-10s  %-28s  %9.3f  %8s  %s%n", e.getKey(), v.getKey(), list(c), median(c),
                        b == null ? "—" : String.format(Locale.ROOT, "%.4f", median(c) / median(b)),
                        s == null ? (b == null ? "no baseline run" : "baseline") : s.name().toLowerCase(Locale.ROOT)));
            }
        }
        String w = winner();
        List<Integer> rows = new ArrayList<>(runs.keySet());
        if (runs.isEmpty()) sb.append("verdict: no runs\n");
        else if (w != null)
            sb.append(String.format(Locale.ROOT, "verdict: make %s the default: ahead of every %s run at %s row%s%s, %.2f %% shorter on average%n", w, baseline,
                    rows.size() == 1 ? rows.get(0) : joined(rows.subList(0, rows.size() - 1)), rows.size() == 1 && rows.get(0) == 1 ? "" : "s",
                    rows.size() == 1 ? "" : " and not behind at " + rows.get(rows.size() - 1), (1 - meanRatio(w)) * 100));
        else sb.append("verdict: keep the defaults: no routing is ahead of every " + baseline + " run at " + (rows.size() == 1 ? rows.get(0) + " rows"
                : joined(rows.subList(0, rows.size() - 1)) + " rows and not behind at " + rows.get(rows.size() - 1)) + "\n");
        return sb.toString();
    }

    private static String joined(List<Integer> rows) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < rows.size(); i++) sb.append(i == 0 ? "" : i == rows.size() - 1 ? " and " : ", ").append(rows.get(i));
        return sb.toString();
    }

    private static String list(List<Double> v) {
        StringBuilder sb = new StringBuilder();
        for (double d : v) sb.append(sb.length() == 0 ? "" : " ").append(String.format(Locale.ROOT, "%.3f", d));
        return sb.toString();
    }

    private static double min(List<Double> v) { return v.stream().mapToDouble(Double::doubleValue).min().orElse(Double.NaN); }
    private static double max(List<Double> v) { return v.stream().mapToDouble(Double::doubleValue).max().orElse(Double.NaN); }
    private static double median(List<Double> v) { return BenchDevice.median(v.stream().mapToDouble(Double::doubleValue).toArray()); }
}
