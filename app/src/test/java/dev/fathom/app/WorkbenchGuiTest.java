package dev.fathom.app;

import dev.fathom.app.support.AppSettings;
import dev.fathom.app.support.CodecProfileStore;
import dev.fathom.app.support.ThisMachine;
import dev.fathom.app.support.UiTaskExecutor;
import dev.fathom.app.ui.WorkbenchWindow;
import dev.fathom.app.vm.CompareViewModel;
import dev.fathom.app.vm.RunRecord;
import dev.fathom.engine.Engine;
import dev.fathom.profiles.RunProfile;
import dev.fathom.visualizer.TelemetryDashboard;
import javafx.scene.control.ComboBox;
import javafx.scene.control.Label;
import javafx.scene.control.ListView;
import javafx.scene.control.Spinner;
import javafx.scene.control.TableView;
import javafx.scene.control.TextArea;
import javafx.scene.input.KeyCode;
import javafx.stage.Stage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.testfx.api.FxRobot;
import org.testfx.framework.junit5.ApplicationExtension;
import org.testfx.framework.junit5.Start;
import org.testfx.util.WaitForAsyncUtils;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Drives the real workbench window on headless Monocle: opens the llama-tiny fixture, plans TP=2 PP=2,
 * runs, cancels a long run, hits plan errors, saves and reopens a profile, compares two runs.
 */
@ExtendWith(ApplicationExtension.class)
class WorkbenchGuiTest {
    /** One window for all tests: a cold JavaFX start costs seconds on a busy machine; each test resets the state it uses. */
    private static WorkbenchWindow shared;
    private WorkbenchWindow w;

    @Start
    void start(Stage stage) {
        mark("start");
        if (shared == null)
            shared = new WorkbenchWindow(new UiTaskExecutor(), Engine.discover(), ThisMachine.profile(),
                    new WorkbenchWindow.AppSettingsHolder(AppSettings.defaults(), false), new CodecProfileStore());
        w = shared;
        if (w.scene().getWindow() instanceof Stage old && old != stage) old.setScene(null);
        stage.setWidth(1400);
        stage.setHeight(900);
        w.show(stage);
        w.run().cancel();
        w.plan().setFrom(RunProfile.defaults());
        w.run().runs().clear();
        w.run().promptProperty().set("");
        w.run().promptIsIdsProperty().set(false);
        w.notifications().hide();
        w.clearLastError();
        mark("shown");
    }

    static Path fixture(String name) {
        String shared = System.getProperty("fathom.shared", "../../shared");
        return Path.of(shared, "fixtures", name).toAbsolutePath().normalize();
    }

    static long T0 = System.nanoTime();
    static void mark(String s) { System.err.printf("[%.2f] %s%n", (System.nanoTime() - T0) / 1e9, s); }

    private static void waitFor(double seconds, BooleanSupplier c) {
        mark("waitFor start");
        try {
            WaitForAsyncUtils.waitFor((long) (seconds * 1000), TimeUnit.MILLISECONDS, c::getAsBoolean);
        } catch (java.util.concurrent.TimeoutException e) {
            throw new AssertionError("condition not met within " + seconds + " s", e);
        }
        WaitForAsyncUtils.waitForFxEvents();
        mark("waitFor end");
    }

    private void load(FxRobot r, String ref) {
        r.clickOn("#tabModel");
        // a long path typed key by key takes seconds on a busy machine: put it in the field, then press Load
        r.interact(() -> r.lookup("#modelRef").queryAs(javafx.scene.control.TextField.class).setText(ref));
        r.clickOn("#loadModel");
        waitUntilLoaded(ref);
    }

    private void waitUntilLoaded(String ref) {
        try {
            waitFor(60, () -> w.model().model() != null && w.model().model().source().equals(ref) && !w.model().loadingProperty().get());
        } catch (AssertionError e) {
            throw new AssertionError("not loaded: " + ref + "; status: " + w.model().statusProperty().get() + "; error: " + w.lastErrorProperty().get(), e);
        }
    }

    /** Picks a synthetic preset from the combo box, as a user would. */
    private void preset(FxRobot r, String name) {
        mark("preset");
        r.clickOn("#tabModel");
        r.clickOn("#presets");
        mark("popup");
        r.clickOn((javafx.scene.Node) r.lookup(n -> n instanceof javafx.scene.control.ListCell<?> c && c.getText() != null
                && c.getText().startsWith(name + " ")).query());
        waitUntilLoaded("synthetic:" + name);
    }

    /** Types a value into a spinner's editor and presses Enter, as a user would. */
    private static void setSpinner(FxRobot r, String id, int v) {
        mark("spinner " + id);
        Spinner<?> s = r.lookup("#" + id).queryAs(Spinner.class);
        r.clickOn(s.getEditor()).press(KeyCode.CONTROL, KeyCode.A).release(KeyCode.A, KeyCode.CONTROL).write(Integer.toString(v)).type(KeyCode.ENTER);
        WaitForAsyncUtils.waitForFxEvents();
        assertEquals(v, s.getValue(), "spinner " + id);
    }

    private void runAndWait(FxRobot r) {
        r.clickOn("#tabRun");
        r.clickOn("#runButton");
        waitFor(30, () -> !w.run().runningProperty().get() && !w.run().runs().isEmpty());
    }

    @Test
    void opensFixturePlansTp2Pp2RunsAndEveryViewGetsData(FxRobot r) {
        load(r, fixture("llama-tiny").toString());
        TableView<?> facts = r.lookup("#modelFacts").queryAs(TableView.class);
        assertTrue(facts.getItems().toString().contains("llama"), "summary names the family");
        assertEquals(2, r.lookup("#layerList").queryAs(ListView.class).getItems().size(), "the fixture has 2 layers");

        r.clickOn("#tabPlan");
        setSpinner(r, "tp", 2);
        setSpinner(r, "pp", 2);
        setSpinner(r, "newTokens", 8);
        // the plan says what it will do with TP=2 PP=2: either it accepts and prints the degrees, or it says why not
        String planText = r.lookup("#planText").queryAs(TextArea.class).getText();
        String error = r.lookup("#planError").queryAs(Label.class).getText();
        assertTrue(planText.contains("tp=2 pp=2") || !error.isEmpty(), "plan: " + planText + " / error: " + error);
        if (error.isEmpty()) assertTrue(planText.contains("ranks share this CPU"), planText);

        r.clickOn("#tabRun");
        r.clickOn("#prompt");
        r.clickOn("#promptIds");
        r.clickOn("#prompt").write("1, 2, 3, 4, 5");
        if (!error.isEmpty()) {
            r.clickOn("#runButton");
            waitFor(5, () -> w.lastErrorProperty().get().equals(error));
            return;
        }
        runAndWait(r);
        RunRecord rec = w.run().runs().getFirst();
        assertEquals("finished", rec.outcome(), w.run().statusProperty().get());
        assertEquals(8, rec.figures().generated());
        assertEquals(8, r.lookup("#output").queryAs(TextArea.class).getText().trim().split("\\s+").length, "8 ids streamed");
        assertEquals("8 tokens", r.lookup("#tokenCount").queryAs(Label.class).getText());
        TelemetryDashboard d = w.runPane().dashboard();
        assertFalse(d.table().rows().isEmpty(), "kernel table has rows");
        assertTrue(d.table().rows().stream().anyMatch(k -> k.name().startsWith("attn")), "attention kernels listed");
        assertTrue(d.topKernels().points() > 0, "top-kernel chart has bars");
        assertTrue(d.bandwidth().points() > 0, "bandwidth chart has points");
        assertTrue(d.memory().points() > 0, "memory chart has points");
        assertFalse(d.timeline().timelineLayout().lanes().isEmpty(), "timeline has a lane");
        // with the parallel engine the 4 ranks report stage spans: one lane per stage/rank and a bubble figure
        if (rec.layout().contains("ranks")) {
            assertTrue(d.timeline().timelineLayout().pipelined(), rec.layout());
            assertTrue(d.timeline().timelineLayout().lanes().stream().filter(l -> l.kind() == dev.fathom.visualizer.TimelineLayout.Kind.COMPUTE).count() >= 2);
            double f = d.timeline().timelineLayout().phases().getFirst().bubbleFraction();
            assertTrue(f >= 0 && f < 1, "bubble fraction " + f);
        }
        assertEquals(2, rec.profile().parallel().pp());
    }

    @Test
    void cancelsALongRunWithinASecondAndStaysUsable(FxRobot r) {
        preset(r, "llama-tiny");
        r.clickOn("#tabPlan");
        setSpinner(r, "newTokens", 2000);
        r.clickOn("#tabRun");
        r.clickOn("#runButton");
        waitFor(20, () -> w.run().tokensProperty().get() >= 5);
        assertTrue(w.run().runningProperty().get(), "still running after a few tokens");
        long t0 = System.nanoTime();
        r.type(KeyCode.ESCAPE);
        waitFor(5, () -> !w.run().runningProperty().get());
        double ms = (System.nanoTime() - t0) / 1e6;
        // the app's own measure: from cancel() to the run being over (the robot's key press and polling add to ms)
        assertTrue(w.run().lastCancelMs() < 1000, "cancelled in " + w.run().lastCancelMs() + " ms (robot saw " + ms + " ms)");
        mark("cancel took " + w.run().lastCancelMs() + " ms in the app, " + ms + " ms as the robot saw it");
        assertTrue(ms < 5000, "robot saw the run end " + ms + " ms after Esc");
        assertTrue(w.run().statusProperty().get().startsWith("Cancelled"), w.run().statusProperty().get());
        assertEquals("cancelled", w.run().runs().getLast().outcome());
        assertTrue(w.run().tokensProperty().get() < 2000);
        // usable afterwards: a short run completes
        r.clickOn("#tabPlan");
        setSpinner(r, "newTokens", 3);
        runAndWait(r);
        waitFor(5, () -> w.run().runs().size() == 2);
        assertEquals("finished", w.run().runs().getLast().outcome());
    }

    @Test
    void showsThePlannersSentenceNextToTheFieldAndOnRun(FxRobot r) {
        load(r, fixture("llama-tiny").toString());
        r.clickOn("#tabPlan");
        setSpinner(r, "batch", 0);
        Label err = r.lookup("#planError").queryAs(Label.class);
        assertEquals("Batch size 0 is invalid: set batch to 1 or more.", err.getText());
        assertTrue(err.isVisible());
        assertTrue(r.lookup("#batch").queryAs(Spinner.class).getStyle().contains("border-color"), "batch field marked");
        setSpinner(r, "batch", 1);
        assertEquals("", err.getText());
        setSpinner(r, "newTokens", 100); // the fixture has 64 positions
        assertTrue(err.getText().contains("exceed the model's 64 positions"), err.getText());
        assertTrue(r.lookup("#newTokens").queryAs(Spinner.class).getStyle().contains("border-color"), "length field marked");
        r.clickOn("#tabRun");
        r.clickOn("#prompt");
        r.clickOn("#promptIds");
        r.clickOn("#prompt").write("1 2 3");
        r.clickOn("#runButton");
        waitFor(5, () -> w.notifications().isShowing());
        assertTrue(w.notifications().getText().contains("positions"), w.notifications().getText());
        assertFalse(w.run().runningProperty().get());
    }

    @Test
    void savesAndReopensAProfile(FxRobot r, @TempDir Path dir) throws Exception {
        preset(r, "llama-tiny");
        r.clickOn("#tabPlan");
        setSpinner(r, "tp", 2);
        setSpinner(r, "batch", 3);
        setSpinner(r, "prefetch", 4);
        r.interact(() -> r.lookup("#weightsTier").queryAs(ComboBox.class).getSelectionModel().select(RunProfile.Tier.HOST));
        Path f = dir.resolve("saved-profile.json");
        r.interact(() -> w.saveProfile(f));
        RunProfile saved = dev.fathom.profiles.ProfileCodec.loadRun(f);
        assertEquals(RunProfile.Tier.HOST, saved.placement().weights(), Files.readString(f));
        assertEquals(2, saved.parallel().tp());
        setSpinner(r, "tp", 1);
        setSpinner(r, "batch", 1);
        setSpinner(r, "prefetch", 0);
        r.interact(() -> w.openProfile(f));
        WaitForAsyncUtils.waitForFxEvents();
        assertEquals(2, r.lookup("#tp").queryAs(Spinner.class).getValue());
        assertEquals(3, r.lookup("#batch").queryAs(Spinner.class).getValue());
        assertEquals(4, r.lookup("#prefetch").queryAs(Spinner.class).getValue());
        assertEquals(RunProfile.Tier.HOST, r.lookup("#weightsTier").queryAs(ComboBox.class).getValue());
        // a broken file gives a sentence, not a trace
        Path bad = dir.resolve("bad.json");
        Files.writeString(bad, "{ \"model\": 3, ");
        r.interact(() -> w.openProfile(bad));
        String err = w.lastErrorProperty().get();
        assertTrue(err.contains("bad.json") && !err.contains("Exception") && !err.contains("\tat "), err);
    }

    @Test
    void comparesTwoRunsSideBySide(FxRobot r) {
        preset(r, "llama-tiny");
        r.clickOn("#tabPlan");
        setSpinner(r, "newTokens", 4);
        runAndWait(r);
        r.clickOn("#tabPlan");
        setSpinner(r, "newTokens", 12);
        r.clickOn("#tabRun").clickOn("#runButton");
        waitFor(30, () -> w.run().runs().size() == 2);
        r.clickOn("#tabRuns");
        ListView<?> list = r.lookup("#runsList").queryAs(ListView.class);
        r.interact(() -> list.getSelectionModel().selectAll());
        r.clickOn("#compareSelected");
        WaitForAsyncUtils.waitForFxEvents();
        TableView<?> table = r.lookup("#compareTable").queryAs(TableView.class);
        CompareViewModel.Row tokens = w.compare().rows().stream().filter(x -> x.metric().equals("tokens generated")).findFirst().orElseThrow();
        assertEquals("4", tokens.a());
        assertEquals("12", tokens.b());
        assertEquals("+200.0%", tokens.delta());
        assertTrue(table.getItems().size() > 8, "figures and per-kernel rows");
        assertFalse(w.runsPane().dashA().table().rows().isEmpty());
        assertFalse(w.runsPane().dashB().table().rows().isEmpty());
        assertTrue(w.runsPane().dashB().bandwidth().points() > 0);
    }
}
