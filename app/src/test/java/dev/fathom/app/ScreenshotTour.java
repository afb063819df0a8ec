package dev.fathom.app;

import dev.fathom.app.support.AppSettings;
import dev.fathom.app.support.CodecProfileStore;
import dev.fathom.app.support.ThisMachine;
import dev.fathom.app.support.UiTaskExecutor;
import dev.fathom.app.ui.WorkbenchWindow;
import dev.fathom.engine.Engine;
import javafx.application.Application;
import javafx.application.Platform;
import javafx.stage.Stage;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import java.util.function.BooleanSupplier;

/**
 * Not a test: takes the README screenshots of the real window under Xvfb and measures responsiveness.
 * <pre>
 *   Xvfb :99 -screen 0 1600x1000x24 &amp;
 *   DISPLAY=:99 java -cp "app/target/test-classes:app/target/classes:$(cat /tmp/cp.txt)" dev.fathom.app.ScreenshotTour docs/screenshots
 * </pre>
 * Steps: plan view (TP=2, PP=2), a run in progress, the comparison of two runs; then a 1,000-token run
 * while counting frame callbacks (see docs/workbench.md). Each shot is {@code import -window root}.
 */
public final class ScreenshotTour extends Application {
    static Path out;
    static WorkbenchWindow w;
    static final CountDownLatch started = new CountDownLatch(1);

    public static void main(String[] args) throws Exception {
        out = Path.of(args.length > 0 ? args[0] : "docs/screenshots");
        Files.createDirectories(out);
        Thread driver = new Thread(ScreenshotTour::tour, "tour");
        driver.setDaemon(true);
        driver.start();
        Application.launch(ScreenshotTour.class);
    }

    @Override
    public void start(Stage stage) {
        w = new WorkbenchWindow(new UiTaskExecutor(), Engine.discover(), ThisMachine.profile(),
                new WorkbenchWindow.AppSettingsHolder(AppSettings.defaults(), false), new CodecProfileStore());
        stage.setX(0);
        stage.setY(0);
        stage.setWidth(1600);
        stage.setHeight(1000);
        w.show(stage);
        started.countDown();
    }

    static void fx(Runnable r) {
        CountDownLatch l = new CountDownLatch(1);
        Platform.runLater(() -> {
            try { r.run(); } finally { l.countDown(); }
        });
        try { l.await(); } catch (InterruptedException e) { throw new RuntimeException(e); }
    }

    static void until(double s, BooleanSupplier c) throws InterruptedException {
        long end = System.nanoTime() + (long) (s * 1e9);
        while (System.nanoTime() < end) {
            boolean[] ok = {false};
            fx(() -> ok[0] = c.getAsBoolean());
            if (ok[0]) return;
            Thread.sleep(100);
        }
        throw new IllegalStateException("timed out");
    }

    static void shot(String name) throws Exception {
        Thread.sleep(2500);
        Process p = new ProcessBuilder("import", "-window", "root", out.resolve(name).toString()).inheritIO().start();
        p.waitFor();
        System.out.println("tour: wrote " + out.resolve(name));
    }

    static void tour() {
        try {
            started.await();
            String model = System.getProperty("tour.model", "synthetic:llama-tiny");
            fx(() -> w.model().load(model));
            until(120, () -> w.model().model() != null);
            // warm the JIT with a short run so the shots show steady-state kernels, not the interpreter
            fx(() -> { w.plan().newTokensProperty().set(16); w.run().run(); });
            until(300, () -> !w.run().runningProperty().get() && !w.run().runs().isEmpty());
            fx(() -> w.run().runs().clear());
            if (Boolean.getBoolean("tour.measureOnly")) {
                fx(() -> { w.plan().newTokensProperty().set(1000); w.run().promptProperty().set(""); w.tabs().getSelectionModel().select(2); });
                idle();
                measure("Run tab shown");
                fx(() -> w.tabs().getSelectionModel().select(0));
                measure("Model tab shown");
                fx(Platform::exit);
                return;
            }
            fx(() -> {
                w.plan().tpProperty().set(2);
                w.plan().ppProperty().set(2);
                w.plan().newTokensProperty().set(Integer.getInteger("tour.tokens", 600));
                w.tabs().getSelectionModel().select(1);
            });
            shot("plan.png");
            fx(() -> {
                w.tabs().getSelectionModel().select(2);
                w.run().promptProperty().set("The pipeline keeps every stage busy");
                w.run().run();
            });
            until(120, () -> w.run().progressProperty().get() > 0.35);
            shot("run.png");
            until(600, () -> !w.run().runningProperty().get());
            fx(() -> {
                w.plan().tpProperty().set(1);
                w.plan().ppProperty().set(1);
                w.plan().batchProperty().set(2);
                w.plan().newTokensProperty().set(200);
                w.run().run();
            });
            until(600, () -> !w.run().runningProperty().get() && w.run().runs().size() == 2);
            fx(() -> {
                w.compare().runAProperty().set(w.run().runs().get(0));
                w.compare().runBProperty().set(w.run().runs().get(1));
                w.tabs().getSelectionModel().select(3);
            });
            shot("compare.png");
            if (Boolean.getBoolean("tour.shotsOnly")) { fx(Platform::exit); return; }
            fx(() -> {
                w.plan().batchProperty().set(1);
                w.plan().newTokensProperty().set(1000);
                w.plan().tpProperty().set(1);
                w.plan().ppProperty().set(1);
                w.run().promptProperty().set("");
                w.tabs().getSelectionModel().select(2);
            });
            idle();
            measure("Run tab shown");
            fx(() -> w.tabs().getSelectionModel().select(0));
            measure("Model tab shown");
            fx(Platform::exit);
        } catch (Exception e) {
            e.printStackTrace();
            Platform.exit();
        }
    }

    /** Baseline: frame callbacks of the idle window over 10 s. */
    static void idle() throws Exception {
        fx(() -> w.poller().resetStats());
        Thread.sleep(10_000);
        double[] r = new double[2];
        fx(() -> { r[0] = w.poller().framesPerSecond(); r[1] = w.poller().maxGapNs() / 1e6; });
        System.out.printf("tour: idle window (Run tab): %.1f frame callbacks per s, max gap %.1f ms%n", r[0], r[1]);
    }

    /** 1,000 tokens streaming: frame callbacks per second and the longest gap between two, and heap after. */
    static void measure(String what) throws Exception {
        fx(() -> {
            w.poller().resetStats();
            w.run().run();
        });
        long t0 = System.nanoTime();
        if (System.getProperty("tour.shotDuring") != null) {
            Thread.sleep(8000);
            shot(System.getProperty("tour.shotDuring"));
        }
        until(900, () -> !w.run().runningProperty().get());
        double s = (System.nanoTime() - t0) / 1e9;
        long[] f = new long[3];
        double[] fps = new double[1];
        fx(() -> {
            f[0] = w.poller().frames();
            f[1] = w.poller().maxGapNs();
            f[2] = w.poller().refreshes();
            fps[0] = w.poller().framesPerSecond();
        });
        System.gc();
        Runtime rt = Runtime.getRuntime();
        var last = w.run().runs().getLast();
        System.out.printf("tour: " + what + ": 1000-token run: %d tokens in %.1f s (%s); %d frame callbacks, %.1f per s, max gap %.1f ms; %d view refreshes (%.1f/s); %d events kept; heap after GC %.0f MB%n",
                last.figures().generated(), s, last.outcome(), f[0], fps[0], f[1] / 1e6, f[2], f[2] / s, last.events().size(),
                (rt.totalMemory() - rt.freeMemory()) / 1e6);
    }
}
