package dev.fathom.cuda;

import dev.fathom.engine.telemetry.TelemetryEvent;
import dev.fathom.engine.telemetry.TelemetrySink;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The bench's per-kernel tables: kernel spans summed by name while {@link #on}, step by step. {@link #endStep} closes a
 * step; {@link #table} gives each kernel's median over the closed steps (and the spread, fastest to slowest step), so one
 * slow step does not pass for the kernel's time. Until the twenty-fifth session these tables timed one step, the first
 * with graphs off in its JVM: across the variants of one run the same gate/up kernel read 1627 to 3978 µs a step, more
 * than the differences the tables were read for.
 */
final class KernelBreakdown implements TelemetrySink {
    volatile boolean on;
    /** Per kernel name: calls, ns, bytes, flops of the step still open. */
    private final Map<String, long[]> open = new TreeMap<>();
    /** Per kernel name: its {calls, ns, bytes, flops} in each closed step (a step where it did not run: absent). */
    private final Map<String, List<long[]>> steps = new TreeMap<>();
    private int closed;

    @Override public boolean enabled() { return on; }

    @Override
    public synchronized void emit(TelemetryEvent e) {
        if (e instanceof TelemetryEvent.KernelSpan k) {
            long[] v = open.computeIfAbsent(k.name(), x -> new long[4]);
            v[0]++;
            v[1] += k.durNs();
            v[2] += k.bytes();
            v[3] += k.flops();
        }
    }

    /** Closes the step now open: its sums become one sample per kernel name. A step with no span is not counted. */
    synchronized void endStep() {
        if (open.isEmpty()) return;
        open.forEach((name, v) -> steps.computeIfAbsent(name, x -> new ArrayList<>()).add(v.clone()));
        open.clear();
        closed++;
    }

    /** Mean microseconds of the spans named {@code name} so far, in closed steps and the open one (0 when none); forgets every span. */
    synchronized double meanUs(String name) {
        long n = 0, ns = 0;
        for (long[] v : steps.getOrDefault(name, List.of())) { n += v[0]; ns += v[1]; }
        long[] o = open.get(name);
        if (o != null) { n += o[0]; ns += o[1]; }
        clear();
        return n == 0 ? 0 : ns / 1e3 / n;
    }

    /** One kernel's row: calls a step, median µs a step, fastest and slowest step, and rates at the median step. */
    record Row(String name, long calls, double medianUs, double minUs, double maxUs, double gbs, double gflops) {}

    /** The rows over the closed steps (the open one closed first), slowest median first, and the sum of the medians last, named "sum". */
    synchronized List<Row> rows() {
        endStep();
        List<Row> rows = new ArrayList<>();
        steps.forEach((name, samples) -> {
            long[][] s = samples.toArray(long[][]::new);
            Arrays.sort(s, (a, b) -> Long.compare(a[1], b[1]));
            long[] mid = s[(s.length - 1) / 2];   // the lower median: a real step's bytes and flops stay with its time
            rows.add(new Row(name, mid[0], mid[1] / 1e3, s[0][1] / 1e3, s[s.length - 1][1] / 1e3,
                    mid[1] == 0 ? 0 : mid[2] / (double) mid[1], mid[1] == 0 ? 0 : mid[3] / (double) mid[1]));
        });
        rows.sort((a, b) -> Double.compare(b.medianUs(), a.medianUs()));
        double sum = rows.stream().mapToDouble(Row::medianUs).sum();
        rows.add(new Row("sum", 0, sum, Double.NaN, Double.NaN, Double.NaN, Double.NaN));
        return rows;
    }

    /** Steps closed so far. */
    synchronized int steps() { return closed; }

    /** The table of {@link #rows} under {@code title} (which gets ", median of N steps" where N > 1); forgets every span. */
    synchronized String table(String title) {
        List<Row> rows = rows();
        int n = closed;
        StringBuilder sb = new StringBuilder("\n== " + title + (n > 1 ? ", median of " + n + " steps" : "") + "\n");
        sb.append(String.format("%-20s %6s %10s %10s %10s%s%n", "kernel", "calls", n > 1 ? "median us" : "total us", "GB/s", "GFLOP/s",
                n > 1 ? "   fastest-slowest step us" : ""));
        for (Row r : rows) {
            if (r.name().equals("sum")) sb.append(String.format("%-20s %6s %10.1f%n", "sum", "", r.medianUs()));
            else sb.append(String.format("%-20s %6d %10.1f %10.0f %10.0f%s%n", r.name(), r.calls(), r.medianUs(), r.gbs(), r.gflops(),
                    n > 1 ? String.format("   %9.1f-%.1f", r.minUs(), r.maxUs()) : ""));
        }
        clear();
        return sb.toString();
    }

    private void clear() {
        open.clear();
        steps.clear();
        closed = 0;
    }
}
