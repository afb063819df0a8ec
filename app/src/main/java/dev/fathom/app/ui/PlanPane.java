package dev.fathom.app.ui;

import dev.fathom.app.vm.PlanViewModel;
import dev.fathom.profiles.Precision;
import dev.fathom.profiles.RunProfile.Tier;
import javafx.beans.property.DoubleProperty;
import javafx.beans.property.IntegerProperty;
import javafx.beans.property.ObjectProperty;
import javafx.collections.ListChangeListener;
import javafx.geometry.Insets;
import javafx.scene.Node;
import javafx.scene.control.Button;
import javafx.scene.control.CheckBox;
import javafx.scene.control.ComboBox;
import javafx.scene.control.Label;
import javafx.scene.control.ListCell;
import javafx.scene.control.ProgressBar;
import javafx.scene.control.ScrollPane;
import javafx.scene.control.Spinner;
import javafx.scene.control.SpinnerValueFactory;
import javafx.scene.control.SplitPane;
import javafx.scene.control.TextArea;
import javafx.scene.control.TextField;
import javafx.scene.control.Tooltip;
import javafx.scene.layout.BorderPane;
import javafx.scene.layout.ColumnConstraints;
import javafx.scene.layout.GridPane;
import javafx.scene.layout.HBox;
import javafx.scene.layout.Priority;
import javafx.scene.layout.StackPane;
import javafx.scene.layout.VBox;

import java.util.ArrayList;
import java.util.List;

/**
 * The plan form: backend, precision, shape, parallelism, placement and budgets on the left; the engine's
 * verdict (its sentence in red, the field marked), memory per tier and rank against capacity, the
 * hardware's peaks and the printed plan on the right. Only binds to {@link PlanViewModel}.
 */
public final class PlanPane extends BorderPane {
    private static final String ERROR_STYLE = "-fx-border-color: #d02020; -fx-border-width: 2; -fx-border-radius: 3;";
    /** Keeps the asObject() adapters alive: bidirectional bindings hold them only weakly. */
    private final List<Object> keep = new ArrayList<>();
    private final GridPane form = new GridPane();
    private int row;

    public PlanPane(PlanViewModel vm, Runnable save, Runnable open) {
        Label error = new Label();
        error.setId("planError");
        error.setWrapText(true);
        error.setStyle("-fx-text-fill: #c01818; -fx-font-weight: bold;");
        error.textProperty().bind(vm.errorProperty());
        error.visibleProperty().bind(vm.errorProperty().isNotEmpty());
        error.managedProperty().bind(error.visibleProperty());
        Label ok = new Label("The plan is valid: what you see below is what a run will do.");
        ok.setId("planOk");
        ok.setStyle("-fx-text-fill: #207030;");
        ok.visibleProperty().bind(vm.errorProperty().isEmpty());
        ok.managedProperty().bind(ok.visibleProperty());

        form.setHgap(8);
        form.setVgap(5);
        form.setPadding(new Insets(4));
        form.getColumnConstraints().addAll(new ColumnConstraints(185), new ColumnConstraints(230));

        ComboBox<PlanViewModel.BackendChoice> backend = new ComboBox<>(vm.backends());
        backend.setId("backend");
        backend.setMaxWidth(Double.MAX_VALUE);
        backend.setCellFactory(l -> new ListCell<>() {
            @Override
            protected void updateItem(PlanViewModel.BackendChoice c, boolean empty) {
                super.updateItem(c, empty);
                setText(empty || c == null ? null : c.toString());
                setStyle(c != null && !c.available() ? "-fx-text-fill: #888;" : "");
            }
        });
        backend.getSelectionModel().select(vm.backends().stream().filter(b -> b.id().equals(vm.backendProperty().get())).findFirst().orElse(null));
        backend.valueProperty().addListener((o, a, b) -> { if (b != null) vm.backendProperty().set(b.id()); });
        vm.backendProperty().addListener((o, a, b) -> vm.backends().stream().filter(c -> c.id().equals(b)).findFirst()
                .ifPresent(c -> backend.setValue(c)));
        Label unavailable = new Label();
        unavailable.setId("backendNote");
        unavailable.setWrapText(true);
        unavailable.setStyle("-fx-text-fill: #666; -fx-font-size: 11;");
        unavailable.setText(String.join("\n", vm.backends().stream().filter(b -> !b.available()).map(b -> b.id() + ": " + b.unavailableReason()).toList()));

        heading("Backend");
        add("backend", "backend", backend);
        if (!unavailable.getText().isEmpty()) add("", "backend", unavailable);
        ComboBox<Precision> precision = new ComboBox<>();
        precision.setId("precision");
        precision.getItems().setAll(Precision.values());
        precision.valueProperty().bindBidirectional(vm.precisionProperty());
        add("precision", "precision", precision);

        heading("Shape");
        add("batch (sequences)", "batch", spinner("batch", vm.batchProperty(), 0, 4096));
        add("prompt tokens", "length", spinner("promptLen", vm.promptLenProperty(), 0, 1 << 20));
        add("tokens to generate", "length", spinner("newTokens", vm.newTokensProperty(), 0, 1 << 20));
        CheckBox eos = new CheckBox("stop a sequence at end-of-sequence");
        eos.setId("stopOnEos");
        eos.selectedProperty().bindBidirectional(vm.stopOnEosProperty());
        form.add(eos, 0, row++, 2, 1);

        heading("Parallelism");
        add("tensor parallel (TP)", "parallel", spinner("tp", vm.tpProperty(), 0, 64));
        add("pipeline stages (PP)", "parallel", spinner("pp", vm.ppProperty(), 0, 64));
        add("expert parallel (EP)", "parallel", spinner("ep", vm.epProperty(), 0, 64));
        add("data parallel (DP)", "parallel", spinner("dp", vm.dpProperty(), 0, 64));
        add("prompt micro-batches", "parallel", spinner("promptMb", vm.promptMicroBatchesProperty(), 0, 256));
        add("generation micro-batches", "parallel", spinner("genMb", vm.genMicroBatchesProperty(), 0, 256));

        heading("Placement (ZeRO-Inference)");
        add("weights in", "placement", tiers("weightsTier", vm.weightsTierProperty()));
        add("KV cache in", "placement", tiers("kvTier", vm.kvTierProperty()));
        add("prefetch (layers ahead)", "placement", spinner("prefetch", vm.prefetchProperty(), 0, 64));
        add("device memory budget GB", "placement", gb("deviceMem", vm.deviceMemoryGbProperty()));
        add("host memory budget GB", "placement", gb("hostMem", vm.hostMemoryGbProperty()));
        TextField nvme = new TextField();
        nvme.setId("nvmeDir");
        nvme.setPromptText("temporary folder");
        nvme.textProperty().bindBidirectional(vm.nvmeDirProperty());
        add("NVMe folder", "placement", nvme);

        Button saveB = new Button("Save profile…");
        saveB.setId("saveProfile");
        saveB.setOnAction(e -> save.run());
        Button openB = new Button("Open profile…");
        openB.setId("openProfile");
        openB.setOnAction(e -> open.run());
        HBox buttons = new HBox(8, saveB, openB);
        buttons.setPadding(new Insets(8, 0, 0, 0));
        form.add(buttons, 0, row++, 2, 1);

        ScrollPane formScroll = new ScrollPane(form);
        formScroll.setFitToWidth(true);

        Label hw = new Label();
        hw.setId("hardware");
        hw.setWrapText(true);
        hw.textProperty().bind(vm.hardwareTextProperty());
        VBox memory = new VBox(4);
        memory.setId("memoryRows");
        vm.memory().addListener((ListChangeListener<PlanViewModel.MemoryRow>) c -> fill(memory, vm.memory()));
        fill(memory, vm.memory());
        TextArea planText = new TextArea();
        planText.setId("planText");
        planText.setEditable(false);
        planText.setStyle("-fx-font-family: monospace;");
        planText.textProperty().bind(vm.planTextProperty());
        VBox right = new VBox(6, ModelPane.section("Hardware"), hw, ModelPane.section("Memory per tier and rank (against capacity)"), memory,
                ModelPane.section("Execution plan"), planText);
        VBox.setVgrow(planText, Priority.ALWAYS);
        right.setPadding(new Insets(4, 8, 4, 8));
        SplitPane split = new SplitPane(formScroll, right);
        split.setDividerPositions(0.3);
        VBox top = new VBox(4, error, ok);
        top.setPadding(new Insets(8));
        setTop(top);
        setCenter(split);
        bindErrors(vm);
    }

    private void heading(String s) {
        Label l = ModelPane.section(s);
        form.add(l, 0, row++, 2, 1);
    }

    private void add(String label, String field, Node control) {
        if (!label.isEmpty()) form.add(new Label(label), 0, row);
        form.add(control, 1, row++);
        if (control instanceof javafx.scene.control.Control c) c.setMaxWidth(Double.MAX_VALUE);
        fields.add(new Object[]{field, control});
    }

    private final List<Object[]> fields = new ArrayList<>();

    /** Marks the controls of the field the engine's sentence is about. */
    private void bindErrors(PlanViewModel vm) {
        for (Object[] f : fields) {
            String field = (String) f[0];
            Node n = (Node) f[1];
            if (field.isEmpty() || n instanceof Label) continue;
            var marked = vm.errorOn(field);
            keep.add(marked);
            n.styleProperty().bind(marked.map(on -> on ? ERROR_STYLE : ""));
            Tooltip t = new Tooltip();
            t.textProperty().bind(vm.errorProperty());
            marked.addListener((o, a, on) -> {
                if (n instanceof javafx.scene.control.Control c) c.setTooltip(on ? t : null);
            });
        }
    }

    private Spinner<Integer> spinner(String id, IntegerProperty p, int min, int max) {
        Spinner<Integer> s = new Spinner<>(min, max, p.get());
        s.setId(id);
        s.setEditable(true);
        ObjectProperty<Integer> o = p.asObject();
        keep.add(o);
        s.getValueFactory().valueProperty().bindBidirectional(o);
        s.focusedProperty().addListener((x, was, is) -> { if (!is) commit(s); });
        return s;
    }

    /** Applies typed text to the value (Spinner only commits on Enter otherwise). */
    static void commit(Spinner<Integer> s) {
        try {
            int v = Integer.parseInt(s.getEditor().getText().trim());
            SpinnerValueFactory.IntegerSpinnerValueFactory f = (SpinnerValueFactory.IntegerSpinnerValueFactory) s.getValueFactory();
            s.getValueFactory().setValue(Math.max(f.getMin(), Math.min(f.getMax(), v)));
        } catch (NumberFormatException e) {
            s.getEditor().setText(String.valueOf(s.getValue()));
        }
    }

    private Spinner<Double> gb(String id, DoubleProperty p) {
        Spinner<Double> s = new Spinner<>(0.0, 1e6, p.get(), 1.0);
        s.setId(id);
        s.setEditable(true);
        ObjectProperty<Double> o = p.asObject();
        keep.add(o);
        s.getValueFactory().valueProperty().bindBidirectional(o);
        s.setTooltip(new Tooltip("0 = all of it"));
        return s;
    }

    private static ComboBox<Tier> tiers(String id, ObjectProperty<Tier> p) {
        ComboBox<Tier> c = new ComboBox<>();
        c.setId(id);
        c.getItems().setAll(Tier.values());
        c.valueProperty().bindBidirectional(p);
        return c;
    }

    private static void fill(VBox box, List<PlanViewModel.MemoryRow> rows) {
        box.getChildren().clear();
        for (PlanViewModel.MemoryRow r : rows) {
            ProgressBar bar = new ProgressBar(Math.min(1, r.fraction()));
            bar.setPrefWidth(220);
            if (r.over()) bar.setStyle("-fx-accent: #d02020;");
            Label what = new Label(r.where());
            what.setMinWidth(360);
            what.setMaxWidth(360);
            Label amount = new Label(r.text() + (r.over() ? " — exceeds capacity" : ""));
            if (r.over()) amount.setStyle("-fx-text-fill: #c01818;");
            HBox line = new HBox(8, what, new StackPane(bar), amount);
            line.setAlignment(javafx.geometry.Pos.CENTER_LEFT);
            box.getChildren().add(line);
        }
    }
}
