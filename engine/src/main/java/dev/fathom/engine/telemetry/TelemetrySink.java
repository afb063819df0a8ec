package dev.fathom.engine.telemetry;

/** Receives telemetry; implementations must be thread-safe and cheap (called on hot paths). */
@FunctionalInterface
public interface TelemetrySink {
    TelemetrySink NOOP = e -> { };

    void emit(TelemetryEvent event);

    /** True when events are wanted at all; hot paths may skip building events otherwise. */
    default boolean enabled() { return this != NOOP; }

    static TelemetrySink tee(TelemetrySink a, TelemetrySink b) {
        if (a == NOOP) return b;
        if (b == NOOP) return a;
        return e -> { a.emit(e); b.emit(e); };
    }
}
