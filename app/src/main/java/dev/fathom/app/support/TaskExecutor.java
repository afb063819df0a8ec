package dev.fathom.app.support;

import java.util.concurrent.Callable;
import java.util.function.Consumer;

/**
 * Where background work runs. The workbench uses {@link UiTaskExecutor} (a worker thread, results back on
 * the FX thread); tests of view models use {@link SameThreadExecutor}. Nothing in the view models starts
 * threads itself, so the engine never runs on the FX thread.
 */
public interface TaskExecutor {
    /** A submitted piece of work. */
    interface Job {
        /** Interrupts the worker (the engine and loaders check interruption). */
        void cancel();

        boolean isDone();
    }

    /**
     * @param onSuccess called on the UI thread with the result
     * @param onFailure called on the UI thread with what was thrown
     */
    <T> Job submit(String name, Callable<T> work, Consumer<T> onSuccess, Consumer<Throwable> onFailure);

    /** Runs a short piece of UI work on the UI thread (once per completed job, never per event). */
    void onUi(Runnable r);
}
