package dev.fathom.app.support;

import java.util.concurrent.Callable;
import java.util.function.Consumer;

/** Runs work inline on the calling thread (tests of view models). */
public final class SameThreadExecutor implements TaskExecutor {
    @Override
    public <T> Job submit(String name, Callable<T> work, Consumer<T> onSuccess, Consumer<Throwable> onFailure) {
        try {
            onSuccess.accept(work.call());
        } catch (Throwable e) {
            onFailure.accept(e);
        }
        return new Job() {
            @Override public void cancel() { }
            @Override public boolean isDone() { return true; }
        };
    }

    @Override
    public void onUi(Runnable r) { r.run(); }
}
