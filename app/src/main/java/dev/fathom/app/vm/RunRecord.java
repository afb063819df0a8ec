package dev.fathom.app.vm;

import dev.fathom.engine.telemetry.KernelStats;
import dev.fathom.engine.telemetry.TelemetryEvent;
import dev.fathom.profiles.RunProfile;
import dev.fathom.visualizer.TelemetryModel;

import java.util.List;
import java.util.Locale;

/**
 * One finished (or cancelled, or failed) run as the runs list keeps it: what was run, the plan, the
 * figures, the text and the telemetry (the recorder's bounded event list and kernel aggregates).
 *
 * @param outcome finished, cancelled or the error sentence
 */
public record RunRecord(int id, RunProfile profile, String planText, String layout, Figures figures, String output,
                        List<TelemetryEvent> events, List<KernelStats> kernels, String outcome) {

    /**
     * Summary figures.
     *
     * @param prefillMs     prompt phase wall time
     * @param decodeMsStep  mean token-phase step
     * @param tokensPerS    generated tokens per second in the token phase (all sequences)
     * @param generated     tokens generated (all sequences)
     * @param kernelMs      summed kernel time
     * @param kernelBytes   summed kernel bytes
     * @param wallMs        whole run wall time
     */
    public record Figures(double prefillMs, double decodeMsStep, double tokensPerS, int generated, double kernelMs,
                          long kernelBytes, double wallMs) {}

    public TelemetryModel telemetry() { return TelemetryModel.of(events, kernels); }

    public String label() {
        var p = profile.parallel();
        return String.format(Locale.ROOT, "#%d %s · %s · b%d p%d n%d · tp%d pp%d · %s", id, shortModel(profile.model()), profile.backend(),
                profile.batch(), profile.promptLen(), profile.newTokens(), p.tp(), p.pp(), outcome);
    }

    static String shortModel(String m) {
        int i = Math.max(m.lastIndexOf('/'), m.lastIndexOf('\\'));
        return i >= 0 ? m.substring(i + 1) : m;
    }

    @Override
    public String toString() { return label(); }
}
