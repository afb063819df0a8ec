package dev.fathom.engine.parallel;

/**
 * The stages a {@link ParallelRunner} drives through its {@link PipelineScheduler}: CPU rank groups
 * ({@link StageGroup}) or, on another backend, e.g. one GPU per stage. Each stage runs on the scheduler's
 * worker thread for that stage only, one micro-batch at a time.
 */
public interface PipelineStages extends AutoCloseable {
    /** Number of stages. */
    int count();

    /** Global rank shown for {@code stage} in telemetry (its first rank). */
    int rank(int stage);

    /**
     * Runs {@code stage} on {@code step}: {@code input} is the previous stage's output (null on the first
     * stage). The last stage returns float[] logits, [sequences x (t or 1) x vocab] row-major in the order of
     * {@code step.slots()}; other stages return whatever the next stage takes as input.
     */
    Object run(int stage, StageStep step, Object input) throws Exception;

    /** {@code step} was queued for {@code stage}. */
    default void arriving(int stage, StageStep step) { }

    /** {@code step} finished {@code stage}. */
    default void left(int stage, StageStep step) { }

    /** Where the stages run, for {@link ParallelRunner#layout()}; null for the CPU ranks' own description. */
    default String describe() { return null; }

    @Override void close();
}
