package dev.fathom.engine.backend;

import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.plan.ExecutionPlan;
import dev.fathom.engine.telemetry.TelemetrySink;
import dev.fathom.profiles.Precision;

/**
 * A kind of device that can run a model. Implementations are found through {@link java.util.ServiceLoader}
 * (the CUDA one lives in the native module); selection happens in {@link Backends}, never in a singleton.
 */
public interface Backend {
    /** Stable id used by the CLI and profiles: reference, cpu, cuda. */
    String id();

    /** One line for people. */
    String description();

    /** Null when this backend can run here, else one sentence saying why not. */
    String unavailableReason();

    /** Null when this backend can run {@code plan}, else one sentence naming the setting to change. */
    default String cannotRun(ExecutionPlan plan) { return null; }

    /**
     * The device's memory read bandwidth in bytes/s, measured now, or 0 when the backend has no probe of
     * its own (the caller then measures host memory, which is the device of the CPU backends).
     */
    default double measureReadBandwidth() { return 0; }

    /**
     * Bytes of one cached key or value element this backend would keep for {@code model} run at {@code precision} (the
     * plan's KV cache size): 4 (float32) unless the backend says otherwise.
     */
    default int kvElementBytes(LoadedModel model, Precision precision) { return 4; }

    /** Loads what the plan needs and returns a runner. */
    ModelRunner open(LoadedModel model, ExecutionPlan plan, TelemetrySink sink);
}
