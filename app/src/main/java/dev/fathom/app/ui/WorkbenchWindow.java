package dev.fathom.app.ui;

import dev.fathom.app.support.AppSettings;
import dev.fathom.app.support.ProfileStore;
import dev.fathom.app.support.TaskExecutor;
import dev.fathom.app.vm.CompareViewModel;
import dev.fathom.app.vm.Messages;
import dev.fathom.app.vm.ModelViewModel;
import dev.fathom.app.vm.PlanViewModel;
import dev.fathom.app.vm.RunRecord;
import dev.fathom.app.vm.RunViewModel;
import dev.fathom.engine.Engine;
import dev.fathom.engine.EngineException;
import dev.fathom.profiles.HardwareProfile;
import dev.fathom.profiles.RunProfile;
import dev.fathom.visualizer.SnapshotPoller;
import dev.fathom.visualizer.TelemetryDashboard;
import javafx.beans.property.ReadOnlyStringProperty;
import javafx.beans.property.SimpleStringProperty;
import javafx.beans.property.StringProperty;
import javafx.scene.Scene;
import javafx.scene.control.Label;
import javafx.scene.control.Tab;
import javafx.scene.control.TabPane;
import javafx.scene.input.KeyCode;
import javafx.scene.input.KeyCodeCombination;
import javafx.scene.input.KeyCombination;
import javafx.scene.input.TransferMode;
import javafx.scene.layout.BorderPane;
import javafx.stage.DirectoryChooser;
import javafx.stage.FileChooser;
import javafx.stage.Stage;
import org.controlsfx.control.NotificationPane;
import org.controlsfx.control.StatusBar;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The workbench window: Model, Plan, Run and Runs tabs over one set of view models, a status bar, engine
 * errors as a notification bar (the engine's sentence, no trace), shortcuts, drag-and-drop of checkpoint
 * folders, and the one {@link SnapshotPoller} that refreshes everything live at ≤ 30 Hz.
 */
public final class WorkbenchWindow {
    /** Tokens, progress and telemetry are read at most this often. */
    public static final double REFRESH_HZ = 30;
    /** The charts and the timeline redraw at most this often. */
    public static final double CHART_HZ = 5;

    private final AppSettingsHolder settings;
    private final ProfileStore profiles;
    private final ModelViewModel model;
    private final PlanViewModel plan;
    private final RunViewModel run;
    private final CompareViewModel compare = new CompareViewModel();
    private final TabPane tabs = new TabPane();
    private final NotificationPane notifications;
    private final StatusBar statusBar = new StatusBar();
    private final RunPane runPane;
    private final RunsPane runsPane;
    private final PlanPane planPane;
    private final StringProperty lastError = new SimpleStringProperty("");
    private final SnapshotPoller poller;
    private final Scene scene;
    private Stage stage;

    /** Mutable holder so the window can update settings as the user works. */
    public static final class AppSettingsHolder {
        private AppSettings value;
        private final boolean persist;

        public AppSettingsHolder(AppSettings s, boolean persist) {
            this.value = s;
            this.persist = persist;
        }

        public AppSettings get() { return value; }

        public void set(AppSettings s) {
            value = s;
            if (persist) s.save();
        }
    }

    public WorkbenchWindow(TaskExecutor executor, Engine engine, HardwareProfile hw, AppSettingsHolder settings, ProfileStore profiles) {
        this.settings = settings;
        this.profiles = profiles;
        model = new ModelViewModel(executor);
        plan = new PlanViewModel(engine, hw);
        run = new RunViewModel(executor, engine, model, plan);
        model.recent().setAll(settings.get().recent());
        plan.modelProperty().bind(model.modelProperty());
        model.setOnError(this::showError);
        run.setOnError(this::showError);
        model.setOnLoaded(ref -> settings.set(settings.get().withRecent(ref)));

        planPane = new PlanPane(plan, this::saveProfileDialog, this::openProfileDialog);
        runPane = new RunPane(run);
        runPane.dashboard().setHardware(hw, "bf16");
        runsPane = new RunsPane(run, compare, hw, r -> {
            run.showRun(r);
            tabs.getSelectionModel().select(2);
        });
        tabs.getTabs().addAll(tab("Model", new ModelPane(model, this::openFolderDialog)), tab("Plan", planPane), tab("Run", runPane),
                tab("Runs", runsPane));
        tabs.setId("tabs");
        notifications = new NotificationPane(tabs);
        notifications.setId("notifications");
        notifications.setShowFromTop(true);
        statusBar.setId("statusBar");
        statusBar.textProperty().bind(javafx.beans.binding.Bindings.when(run.runningProperty()).then(run.statusProperty())
                .otherwise(model.statusProperty().concat("   ").concat(run.statusProperty())));
        statusBar.progressProperty().bind(javafx.beans.binding.Bindings.when(run.runningProperty()).then(run.progressProperty())
                .otherwise(javafx.beans.binding.Bindings.when(model.loadingProperty()).then(model.progressProperty()).otherwise(0.0)));
        Label planState = new Label();
        planState.textProperty().bind(plan.errorProperty().map(e -> e.isEmpty() ? "plan ok" : "plan rejected"));
        statusBar.getRightItems().add(planState);

        BorderPane root = new BorderPane(notifications);
        root.setBottom(statusBar);
        scene = new Scene(root, settings.get().width(), settings.get().height());
        installShortcuts();
        installDragAndDrop();
        run.telemetryProperty().addListener((o, a, t) -> runPane.dashboard().show(t));
        run.runningProperty().addListener((o, a, now) -> { if (!now) runPane.dashboard().show(run.telemetryProperty().get()); });
        long[] lastCharts = {0};
        poller = new SnapshotPoller(REFRESH_HZ, () -> {
            model.tick();
            run.tick();
            // charts redraw at most CHART_HZ and only while the Run tab shows them; when frames take long (software
            // rendering on a busy CPU repaints most of the window after a chart change) they back off so that
            // at least three quarters of the frames stay free for input and the token stream
            long now = System.nanoTime();
            // one view per step, round robin, so a frame carries at most one chart's repaint
            double interval = Math.min(2e9, Math.max(1e9 / (CHART_HZ * TelemetryDashboard.VIEWS), 4 * poller().recentGapNs()));
            if (tabs.getSelectionModel().getSelectedIndex() == 2 && now - lastCharts[0] >= interval) {
                lastCharts[0] = now;
                runPane.dashboard().showNext(run.telemetryProperty().get());
            }
        });
        tabs.getSelectionModel().selectedIndexProperty().addListener((o, a, i) -> {
            if (i.intValue() == 2) runPane.dashboard().show(run.telemetryProperty().get());
        });
        poller.start();
    }

    private static Tab tab(String name, javafx.scene.Node content) {
        Tab t = new Tab(name, content);
        t.setClosable(false);
        t.setId("tab" + name);
        return t;
    }

    private void installShortcuts() {
        var acc = scene.getAccelerators();
        acc.put(new KeyCodeCombination(KeyCode.R, KeyCombination.SHORTCUT_DOWN), () -> {
            tabs.getSelectionModel().select(2);
            run.run();
        });
        acc.put(new KeyCodeCombination(KeyCode.ESCAPE), this::cancelAll);
        acc.put(new KeyCodeCombination(KeyCode.PERIOD, KeyCombination.SHORTCUT_DOWN), this::cancelAll);
        acc.put(new KeyCodeCombination(KeyCode.O, KeyCombination.SHORTCUT_DOWN), this::openFolderDialog);
        acc.put(new KeyCodeCombination(KeyCode.S, KeyCombination.SHORTCUT_DOWN), this::saveProfileDialog);
    }

    private void cancelAll() {
        run.cancel();
        model.cancelLoad();
        notifications.hide();
    }

    private void installDragAndDrop() {
        scene.setOnDragOver(e -> {
            if (e.getDragboard().hasFiles() && e.getDragboard().getFiles().size() == 1) e.acceptTransferModes(TransferMode.COPY_OR_MOVE);
            e.consume();
        });
        scene.setOnDragDropped(e -> {
            boolean ok = false;
            if (e.getDragboard().hasFiles()) {
                File f = e.getDragboard().getFiles().getFirst();
                File dir = f.isDirectory() ? f : f.getParentFile();
                if (dir != null) {
                    tabs.getSelectionModel().select(0);
                    model.load(dir.getAbsolutePath());
                    ok = true;
                }
            }
            e.setDropCompleted(ok);
            e.consume();
        });
    }

    /** Shows the engine's sentence in the notification bar (and keeps it for tests). */
    public void showError(String sentence) {
        lastError.set(sentence);
        notifications.show(sentence);
    }

    private File lastDir() {
        String d = settings.get().lastDir();
        File f = d == null ? null : new File(d);
        return f != null && f.isDirectory() ? f : null;
    }

    private void openFolderDialog() {
        DirectoryChooser ch = new DirectoryChooser();
        ch.setTitle("Open a checkpoint folder (config.json + *.safetensors)");
        if (lastDir() != null) ch.setInitialDirectory(lastDir());
        File f = ch.showDialog(stage);
        if (f == null) return;
        settings.set(settings.get().withLastDir(f.getParent()));
        tabs.getSelectionModel().select(0);
        model.load(f.getAbsolutePath());
    }

    private void saveProfileDialog() {
        FileChooser ch = profileChooser("Save the run profile");
        ch.setInitialFileName("profile.json");
        File f = ch.showSaveDialog(stage);
        if (f != null) saveProfile(f.toPath());
    }

    private void openProfileDialog() {
        File f = profileChooser("Open a run profile").showOpenDialog(stage);
        if (f != null) openProfile(f.toPath());
    }

    private FileChooser profileChooser(String title) {
        FileChooser ch = new FileChooser();
        ch.setTitle(title);
        ch.getExtensionFilters().add(new FileChooser.ExtensionFilter("Fathom profile (*.json)", "*.json"));
        if (lastDir() != null) ch.setInitialDirectory(lastDir());
        return ch;
    }

    /** Saves the plan form's profile (what the Save button does after its chooser). */
    public void saveProfile(Path file) {
        try {
            profiles.save(file, plan.currentProfile());
            settings.set(settings.get().withLastDir(file.toAbsolutePath().getParent().toString()));
            run.statusPropertyForWindow("Saved the profile to " + file + ".");
        } catch (EngineException e) {
            showError(e.getMessage());
        }
    }

    /** Opens a profile into the plan form and loads its model when it differs from the loaded one. */
    public void openProfile(Path file) {
        try {
            RunProfile p = profiles.load(file);
            plan.setFrom(p);
            String current = model.model() == null ? null : model.model().source();
            if (!p.model().equals(current) && (p.model().startsWith("synthetic:") || Files.isDirectory(Path.of(p.model()))))
                model.load(p.model());
            tabs.getSelectionModel().select(1);
        } catch (EngineException e) {
            showError(e.getMessage());
        } catch (RuntimeException e) {
            showError(Messages.sentence(e));
        }
    }

    /** Places the window where it was and remembers geometry on close. */
    public void show(Stage s) {
        this.stage = s;
        AppSettings a = settings.get();
        s.setTitle("Fathom workbench");
        s.setScene(scene);
        if (!Double.isNaN(a.x()) && !Double.isNaN(a.y())) {
            s.setX(a.x());
            s.setY(a.y());
        }
        s.setMaximized(a.maximized());
        s.setOnCloseRequest(e -> {
            settings.set(settings.get().withGeometry(s.getX(), s.getY(), s.getWidth(), s.getHeight(), s.isMaximized()));
            poller.stop();
            run.cancel();
        });
        s.show();
    }

    public Scene scene() { return scene; }
    public ModelViewModel model() { return model; }
    public PlanViewModel plan() { return plan; }
    public RunViewModel run() { return run; }
    public CompareViewModel compare() { return compare; }
    public RunPane runPane() { return runPane; }
    public RunsPane runsPane() { return runsPane; }
    public TabPane tabs() { return tabs; }
    public NotificationPane notifications() { return notifications; }
    public SnapshotPoller poller() { return poller; }
    public ReadOnlyStringProperty lastErrorProperty() { return lastError; }
    public void clearLastError() { lastError.set(""); }
}
