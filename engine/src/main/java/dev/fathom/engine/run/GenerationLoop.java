package dev.fathom.engine.run;

/**
 * A runner that schedules whole generations itself, e.g. a pipeline that queues a sequence's next
 * token the moment its last one leaves the last stage instead of stepping the batch in lockstep.
 * {@link InferenceSession} hands validated requests to it when {@link #ownsLoop()} is true; results
 * must equal the step-synchronous loop's for greedy sampling.
 */
public interface GenerationLoop {
    boolean ownsLoop();

    GenerationResult generate(GenerationRequest req, TokenListener listener, CancellationToken cancel);
}
