package dev.fathom.engine.run;

import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.model.ModelConfig;
import dev.fathom.engine.plan.ExecutionPlan;
import dev.fathom.engine.telemetry.KernelStats;
import dev.fathom.engine.telemetry.TelemetryEvent;
import dev.fathom.profiles.RunProfile;

import java.time.Instant;
import java.util.List;

/**
 * What one run did, as immutable data built by {@link #of}; {@link RunRecordJson} and
 * {@link RunRecordText} render it (report.json, the CLI table, the workbench's summary), and the
 * events it keeps are what a Chrome trace is written from.
 *
 * @param version   schema version of the JSON form ({@link #CURRENT_VERSION})
 * @param createdAt when the run finished (ISO-8601, UTC)
 * @param profile   the profile that ran
 * @param plan      the plan as printed ({@link ExecutionPlan#describe()})
 * @param layout    the runner's layout line (ranks, stages)
 * @param model     what model ran
 * @param summary   the headline figures
 * @param kernels   per-kernel aggregates, largest total time first
 * @param events    the recorded telemetry (may be empty, may have been cut at the recorder's bound)
 * @param droppedEvents events the recorder had to drop
 */
public record RunRecord(int version, String createdAt, RunProfile profile, String plan, String layout, ModelSummary model,
                        Summary summary, List<KernelStats> kernels, List<TelemetryEvent> events, long droppedEvents) {

    public static final int CURRENT_VERSION = 1;

    public RunRecord {
        kernels = List.copyOf(kernels);
        events = List.copyOf(events);
    }

    /** The same record without its events (for {@code --json} on a terminal, previews). */
    public RunRecord withoutEvents() {
        return new RunRecord(version, createdAt, profile, plan, layout, model, summary, kernels, List.of(), droppedEvents);
    }

    /**
     * The model that ran.
     *
     * @param source      checkpoint folder or {@code synthetic:<preset>}
     * @param synthetic   random weights (outputs are meaningless)
     * @param family      family id
     * @param shape       {@link ModelConfig#describe()}
     * @param parameters  parameter count
     * @param weightBytes bytes of the loaded weights
     * @param weightDtype dtype of the bulk of the weights
     */
    public record ModelSummary(String source, boolean synthetic, String family, String shape, long parameters,
                               long weightBytes, String weightDtype) {
        public static ModelSummary of(LoadedModel m) {
            ModelConfig c = m.config();
            return new ModelSummary(m.source(), m.synthetic(), c.family(), c.describe(), c.parameterCount(),
                    m.weights().bytes(), m.weightDtype());
        }
    }

    /**
     * Headline figures of a run.
     *
     * @param batch            sequences
     * @param promptTokens     prompt tokens per sequence
     * @param generatedTokens  tokens generated over all sequences
     * @param decodeSteps      token-phase steps (the first token of each sequence comes from the prompt phase)
     * @param prefillMs        prompt phase wall time
     * @param decodeMs         token phase wall time
     * @param decodeMsPerToken token phase time per step (one token for every running sequence)
     * @param tokensPerSecond  generated tokens over prompt + token phase time (end to end)
     * @param bytesPerToken    bytes the kernels moved per token-phase step (weights + KV + activations); 0 without telemetry
     * @param achievedGBps     token-phase kernel bytes over token-phase wall time; 0 without telemetry
     * @param cancelled        stopped before the end
     */
    public record Summary(int batch, int promptTokens, int generatedTokens, int decodeSteps, double prefillMs,
                          double decodeMs, double decodeMsPerToken, double tokensPerSecond, double bytesPerToken,
                          double achievedGBps, boolean cancelled) {}

    /**
     * Builds the record of a finished generation.
     *
     * @param promptLen prompt tokens per sequence
     * @param events  the recorder's events (kernel spans give bytes per token and achieved bandwidth)
     * @param kernels the recorder's per-kernel aggregates
     */
    public static RunRecord of(RunProfile profile, ExecutionPlan plan, String layout, LoadedModel model, int promptLen,
                               GenerationResult r, List<KernelStats> kernels, List<TelemetryEvent> events, long dropped) {
        int batch = r.tokens().length, prompt = promptLen;
        int generated = 0;
        for (int[] t : r.tokens()) generated += t.length - prompt;
        long decodeBytes = 0;
        for (TelemetryEvent e : events)
            if (e instanceof TelemetryEvent.KernelSpan k && k.phase() == TelemetryEvent.Phase.DECODE) decodeBytes += k.bytes();
        double prefillMs = r.prefillNs() / 1e6, decodeMs = r.decodeNs() / 1e6;
        double totalS = (r.prefillNs() + r.decodeNs()) / 1e9;
        Summary s = new Summary(batch, prompt, generated, r.decodeSteps(), prefillMs, decodeMs, r.decodeMsPerStep(),
                totalS > 0 ? generated / totalS : 0,
                r.decodeSteps() > 0 ? decodeBytes / (double) r.decodeSteps() : 0,
                r.decodeNs() > 0 ? decodeBytes / (double) r.decodeNs() : 0,
                r.cancelled());
        return new RunRecord(CURRENT_VERSION, Instant.now().toString(), profile, plan.describe(), layout,
                ModelSummary.of(model), s, kernels, events, dropped);
    }
}
