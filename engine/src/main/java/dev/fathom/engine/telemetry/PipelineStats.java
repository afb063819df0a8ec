package dev.fathom.engine.telemetry;

import dev.fathom.engine.telemetry.TelemetryEvent.Phase;
import dev.fathom.engine.telemetry.TelemetryEvent.StageSpan;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** Pipeline figures computed from measured {@link StageSpan}s. */
public final class PipelineStats {
    private PipelineStats() {}

    /**
     * Bubble fraction of a phase: the share of stage-time left idle between the first stage span of the
     * phase and the last, {@code 1 - sum(busy) / (stages * window)}. NaN when the phase has no spans.
     *
     * <p>For equal stage times t, P stages and M micro-batches run once, this is (P-1)/(M+P-1); for the
     * paper's generation schedule over N tokens, (P-1)/(N*M+P-1).
     */
    public static double bubbleFraction(List<? extends TelemetryEvent> events, Phase phase) {
        long first = Long.MAX_VALUE, last = Long.MIN_VALUE, busy = 0;
        Set<Integer> stages = new HashSet<>();
        for (TelemetryEvent e : events) {
            if (!(e instanceof StageSpan s) || s.phase() != phase) continue;
            first = Math.min(first, s.startNs());
            last = Math.max(last, s.startNs() + s.durNs());
            busy += s.durNs();
            stages.add(s.stage());
        }
        if (stages.isEmpty() || last <= first) return Double.NaN;
        return 1.0 - busy / ((double) stages.size() * (last - first));
    }

    /** Analytic bubble fraction of P stages over {@code microBatchRuns} equal micro-batch passes with no gaps: (P-1)/(runs+P-1). */
    public static double analytic(int stages, int microBatchRuns) {
        return (stages - 1) / (double) (microBatchRuns + stages - 1);
    }
}
