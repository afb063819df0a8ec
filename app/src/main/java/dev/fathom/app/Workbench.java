package dev.fathom.app;

import dev.fathom.app.support.AppSettings;
import dev.fathom.app.support.CodecProfileStore;
import dev.fathom.app.support.ThisMachine;
import dev.fathom.app.support.UiTaskExecutor;
import dev.fathom.app.ui.WorkbenchWindow;
import dev.fathom.engine.Engine;
import javafx.application.Application;
import javafx.stage.Stage;

/**
 * Launches the JavaFX workbench. It opens on {@code -Dfathom.model} if given, else on
 * {@code synthetic:llama-tiny} (random weights, loads in a moment, runs at once on the CPU backend).
 */
public final class Workbench extends Application {
    public static final String DEFAULT_MODEL = "synthetic:llama-tiny";

    public static void open(String[] args) {
        Application.launch(Workbench.class, args);
    }

    @Override
    public void start(Stage stage) {
        WorkbenchWindow w = new WorkbenchWindow(new UiTaskExecutor(), Engine.discover(), ThisMachine.profile(),
                new WorkbenchWindow.AppSettingsHolder(AppSettings.load(), true), new CodecProfileStore());
        w.show(stage);
        w.model().load(System.getProperty("fathom.model", DEFAULT_MODEL));
        if (Boolean.getBoolean("fathom.autorun")) w.model().modelProperty().addListener((o, a, m) -> {
            if (m != null && a == null) w.run().run();
        });
    }
}
