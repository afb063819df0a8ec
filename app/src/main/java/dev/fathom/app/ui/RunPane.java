package dev.fathom.app.ui;

import dev.fathom.app.vm.RunViewModel;
import dev.fathom.visualizer.TelemetryDashboard;
import javafx.geometry.Insets;
import javafx.geometry.Orientation;
import javafx.geometry.Pos;
import javafx.scene.control.Button;
import javafx.scene.control.CheckBox;
import javafx.scene.control.Label;
import javafx.scene.control.ProgressBar;
import javafx.scene.control.SplitPane;
import javafx.scene.control.TextArea;
import javafx.scene.layout.BorderPane;
import javafx.scene.layout.HBox;
import javafx.scene.layout.Priority;
import javafx.scene.layout.VBox;

/** Prompt, run/cancel, the streamed tokens and the live telemetry views. Only binds to {@link RunViewModel}. */
public final class RunPane extends BorderPane {
    private final TelemetryDashboard dashboard = new TelemetryDashboard();

    public RunPane(RunViewModel vm) {
        Button run = new Button("Run  (Ctrl+R)");
        run.setId("runButton");
        run.setDefaultButton(false);
        run.disableProperty().bind(vm.runningProperty());
        run.setOnAction(e -> vm.run());
        Button cancel = new Button("Cancel  (Esc)");
        cancel.setId("cancelButton");
        cancel.disableProperty().bind(vm.runningProperty().not());
        cancel.setOnAction(e -> vm.cancel());
        ProgressBar progress = new ProgressBar();
        progress.setId("runProgress");
        progress.setPrefWidth(260);
        progress.progressProperty().bind(vm.progressProperty());
        Label count = new Label();
        count.setId("tokenCount");
        count.textProperty().bind(vm.tokensProperty().asString("%d tokens"));
        Label status = new Label();
        status.setId("runStatus");
        status.textProperty().bind(vm.statusProperty());
        HBox bar = new HBox(8, run, cancel, progress, count, status);
        bar.setAlignment(Pos.CENTER_LEFT);
        bar.setPadding(new Insets(6, 8, 6, 8));

        TextArea prompt = new TextArea();
        prompt.setId("prompt");
        prompt.setPromptText("Prompt text (or token ids with the box ticked). Empty: the plan's prompt length of fixed ids.");
        prompt.setWrapText(true);
        prompt.textProperty().bindBidirectional(vm.promptProperty());
        CheckBox ids = new CheckBox("token ids");
        ids.setId("promptIds");
        ids.selectedProperty().bindBidirectional(vm.promptIsIdsProperty());
        VBox promptBox = new VBox(4, new HBox(8, ModelPane.section("Prompt"), ids), prompt);
        VBox.setVgrow(prompt, Priority.ALWAYS);
        TextArea output = new TextArea();
        output.setId("output");
        output.setEditable(false);
        output.setWrapText(true);
        output.textProperty().bind(vm.outputProperty());
        output.textProperty().addListener((o, a, b) -> output.positionCaret(b == null ? 0 : b.length()));
        VBox outBox = new VBox(4, ModelPane.section("Generated (sequence 0)"), output);
        VBox.setVgrow(output, Priority.ALWAYS);
        SplitPane io = new SplitPane(promptBox, outBox);
        io.setDividerPositions(0.4);
        io.setPadding(new Insets(0, 8, 0, 8));
        dashboard.setId("liveDashboard");
        SplitPane all = new SplitPane(io, dashboard);
        all.setOrientation(Orientation.VERTICAL);
        all.setDividerPositions(0.2);
        setTop(bar);
        setCenter(all);
    }

    public TelemetryDashboard dashboard() { return dashboard; }
}
