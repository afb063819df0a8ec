package dev.fathom.app.support;

import javafx.application.Platform;

import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/** Runs each job on its own daemon thread and hands the outcome back to the JavaFX thread. */
public final class UiTaskExecutor implements TaskExecutor {
    @Override
    public <T> Job submit(String name, Callable<T> work, Consumer<T> onSuccess, Consumer<Throwable> onFailure) {
        AtomicBoolean done = new AtomicBoolean();
        Thread t = Thread.ofPlatform().daemon().name(name).unstarted(() -> {
            try {
                T r = work.call();
                done.set(true);
                Platform.runLater(() -> onSuccess.accept(r));
            } catch (Throwable e) {
                done.set(true);
                Platform.runLater(() -> onFailure.accept(e));
            }
        });
        t.start();
        return new Job() {
            @Override public void cancel() { t.interrupt(); }
            @Override public boolean isDone() { return done.get(); }
        };
    }

    @Override
    public void onUi(Runnable r) {
        if (Platform.isFxApplicationThread()) r.run();
        else Platform.runLater(r);
    }
}
