package dev.fathom.cuda;

import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;

/**
 * Waiting for the per-GPU work of the multi-GPU runners ({@link CudaTpRunner} ranks, {@link CudaDpRunner} replicas):
 * every future is waited for, even after one failed, so no GPU is still working on shared buffers when the caller
 * throws; the first failure is the one reported.
 */
final class RankFutures {
    private RankFutures() {}

    /**
     * {@code f}'s result, or null after keeping its failure in {@code failure[0]} unless one is there already (a runtime
     * exception as thrown, anything else wrapped with {@code who} named; an interrupt restores the thread's flag).
     */
    static <T> T await(Future<T> f, String who, RuntimeException[] failure) {
        try {
            return f.get();
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (failure[0] == null) failure[0] = c instanceof RuntimeException re ? re : new IllegalStateException(who + ": " + c, c);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            if (failure[0] == null) failure[0] = new IllegalStateException("interrupted while waiting for " + who);
        }
        return null;
    }
}
