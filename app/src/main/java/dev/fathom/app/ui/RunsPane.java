package dev.fathom.app.ui;

import dev.fathom.app.vm.CompareViewModel;
import dev.fathom.app.vm.RunRecord;
import dev.fathom.app.vm.RunViewModel;
import dev.fathom.profiles.HardwareProfile;
import dev.fathom.visualizer.TelemetryDashboard;
import javafx.beans.property.ReadOnlyObjectWrapper;
import javafx.geometry.Insets;
import javafx.geometry.Orientation;
import javafx.geometry.Pos;
import javafx.scene.control.Button;
import javafx.scene.control.ComboBox;
import javafx.scene.control.Label;
import javafx.scene.control.ListView;
import javafx.scene.control.SelectionMode;
import javafx.scene.control.SplitPane;
import javafx.scene.control.TableColumn;
import javafx.scene.control.TableView;
import javafx.scene.control.TextArea;
import javafx.scene.layout.BorderPane;
import javafx.scene.layout.HBox;
import javafx.scene.layout.Priority;
import javafx.scene.layout.VBox;

import java.util.function.Consumer;
import java.util.function.Function;

/** The kept runs, and two of them compared side by side: a table of figures with differences, and the same charts for each. */
public final class RunsPane extends BorderPane {
    private final TelemetryDashboard dashA = new TelemetryDashboard();
    private final TelemetryDashboard dashB = new TelemetryDashboard();

    public RunsPane(RunViewModel runs, CompareViewModel compare, HardwareProfile hw, Consumer<RunRecord> showInRunTab) {
        ListView<RunRecord> list = new ListView<>(runs.runs());
        list.setId("runsList");
        list.getSelectionModel().setSelectionMode(SelectionMode.MULTIPLE);
        list.setPlaceholder(new Label("Each run you make is kept here."));
        TextArea plan = new TextArea();
        plan.setId("runPlan");
        plan.setEditable(false);
        plan.setStyle("-fx-font-family: monospace; -fx-font-size: 11;");
        list.getSelectionModel().selectedItemProperty().addListener((o, a, r) -> plan.setText(r == null ? "" : r.planText()));
        Button compareSel = new Button("Compare the two selected");
        compareSel.setId("compareSelected");
        compareSel.disableProperty().bind(javafx.beans.binding.Bindings.size(list.getSelectionModel().getSelectedItems()).isNotEqualTo(2));
        compareSel.setOnAction(e -> {
            var sel = list.getSelectionModel().getSelectedItems();
            compare.runAProperty().set(sel.get(0));
            compare.runBProperty().set(sel.get(1));
        });
        Button show = new Button("Show in Run tab");
        show.setId("showRun");
        show.setOnAction(e -> showInRunTab.accept(list.getSelectionModel().getSelectedItem()));
        VBox left = new VBox(6, ModelPane.section("Runs"), list, new HBox(6, compareSel, show), ModelPane.section("Plan of the selected run"), plan);
        VBox.setVgrow(list, Priority.ALWAYS);
        left.setPadding(new Insets(6));
        left.setMinWidth(300);

        ComboBox<RunRecord> a = new ComboBox<>(runs.runs());
        a.setId("compareA");
        a.valueProperty().bindBidirectional(compare.runAProperty());
        ComboBox<RunRecord> b = new ComboBox<>(runs.runs());
        b.setId("compareB");
        b.valueProperty().bindBidirectional(compare.runBProperty());
        a.setMaxWidth(420);
        b.setMaxWidth(420);
        HBox pick = new HBox(8, new Label("A"), a, new Label("B"), b);
        pick.setAlignment(Pos.CENTER_LEFT);

        TableView<CompareViewModel.Row> table = new TableView<>(compare.rows());
        table.setId("compareTable");
        table.getColumns().add(col("figure", CompareViewModel.Row::metric, 200));
        table.getColumns().add(col("A", CompareViewModel.Row::a, 220));
        table.getColumns().add(col("B", CompareViewModel.Row::b, 220));
        TableColumn<CompareViewModel.Row, String> d = col("B vs A", CompareViewModel.Row::delta, 90);
        table.getColumns().add(d);
        table.setColumnResizePolicy(TableView.CONSTRAINED_RESIZE_POLICY_FLEX_LAST_COLUMN);
        table.setPlaceholder(new Label("Choose runs A and B (or select two runs and press Compare)."));

        dashA.setId("dashA");
        dashB.setId("dashB");
        dashA.setCompact(true);
        dashB.setCompact(true);
        dashA.setHardware(hw, "bf16");
        dashB.setHardware(hw, "bf16");
        Label la = new Label();
        la.textProperty().bind(compare.runAProperty().map(r -> "A: " + r.label()).orElse("A: —"));
        Label lb = new Label();
        lb.textProperty().bind(compare.runBProperty().map(r -> "B: " + r.label()).orElse("B: —"));
        VBox ca = new VBox(2, la, dashA), cb = new VBox(2, lb, dashB);
        VBox.setVgrow(dashA, Priority.ALWAYS);
        VBox.setVgrow(dashB, Priority.ALWAYS);
        SplitPane side = new SplitPane(ca, cb);
        compare.runAProperty().addListener((o, x, r) -> { if (r != null) dashA.show(r.telemetry()); });
        compare.runBProperty().addListener((o, x, r) -> { if (r != null) dashB.show(r.telemetry()); });
        SplitPane right = new SplitPane(new VBox(6, pick, table), side);
        VBox.setVgrow(table, Priority.ALWAYS);
        right.setOrientation(Orientation.VERTICAL);
        right.setDividerPositions(0.3);
        SplitPane all = new SplitPane(left, right);
        all.setDividerPositions(0.2);
        setCenter(all);
    }

    public TelemetryDashboard dashA() { return dashA; }
    public TelemetryDashboard dashB() { return dashB; }

    private static TableColumn<CompareViewModel.Row, String> col(String t, Function<CompareViewModel.Row, String> f, double w) {
        TableColumn<CompareViewModel.Row, String> c = new TableColumn<>(t);
        c.setCellValueFactory(cd -> new ReadOnlyObjectWrapper<>(f.apply(cd.getValue())));
        c.setPrefWidth(w);
        c.setSortable(false);
        return c;
    }
}
