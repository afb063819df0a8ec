package dev.fathom.app.ui;

import dev.fathom.app.vm.ModelViewModel;
import dev.fathom.engine.synthetic.SyntheticModels;
import dev.fathom.engine.synthetic.SyntheticPreset;
import javafx.beans.property.ReadOnlyObjectWrapper;
import javafx.geometry.Insets;
import javafx.scene.control.Button;
import javafx.scene.control.ComboBox;
import javafx.scene.control.Label;
import javafx.scene.control.ListView;
import javafx.scene.control.ProgressBar;
import javafx.scene.control.SplitPane;
import javafx.scene.control.TableColumn;
import javafx.scene.control.TableView;
import javafx.scene.control.TextField;
import javafx.scene.control.Tooltip;
import javafx.scene.layout.BorderPane;
import javafx.scene.layout.HBox;
import javafx.scene.layout.Priority;
import javafx.scene.layout.VBox;

/** Open a checkpoint folder or a synthetic preset; the summary and the layer list. Only binds to {@link ModelViewModel}. */
public final class ModelPane extends BorderPane {
    public ModelPane(ModelViewModel vm, Runnable chooseFolder) {
        TextField ref = new TextField();
        ref.setId("modelRef");
        ref.setPromptText("checkpoint folder or synthetic:preset");
        ref.textProperty().bindBidirectional(vm.referenceProperty());
        ref.setOnAction(e -> vm.loadReference());
        HBox.setHgrow(ref, Priority.ALWAYS);
        Button load = new Button("Load");
        load.setId("loadModel");
        load.setOnAction(e -> vm.loadReference());
        Button open = new Button("Open folder…");
        open.setId("openFolder");
        open.setTooltip(new Tooltip("Choose a Hugging Face checkpoint folder (Ctrl+O); you can also drop a folder on the window"));
        open.setOnAction(e -> chooseFolder.run());
        ComboBox<SyntheticPreset> presets = new ComboBox<>();
        presets.setId("presets");
        presets.getItems().setAll(SyntheticPreset.all());
        presets.setPromptText("synthetic preset…");
        presets.setConverter(new javafx.util.StringConverter<>() {
            @Override public String toString(SyntheticPreset p) { return p == null ? "" : p.name() + " — " + p.description(); }
            @Override public SyntheticPreset fromString(String s) { return null; }
        });
        presets.setOnAction(e -> {
            SyntheticPreset p = presets.getValue();
            if (p != null) {
                vm.load(SyntheticModels.PREFIX + p.name());
                // a menu rather than a state: choosing the same preset again reloads it
                javafx.application.Platform.runLater(() -> presets.getSelectionModel().clearSelection());
            }
        });
        HBox bar = new HBox(6, new Label("Model"), ref, load, open, presets);
        bar.setAlignment(javafx.geometry.Pos.CENTER_LEFT);

        ProgressBar progress = new ProgressBar();
        progress.setId("loadProgress");
        progress.progressProperty().bind(vm.progressProperty());
        progress.visibleProperty().bind(vm.loadingProperty());
        progress.setPrefWidth(220);
        Button cancel = new Button("Cancel load");
        cancel.setId("cancelLoad");
        cancel.visibleProperty().bind(vm.loadingProperty());
        cancel.setOnAction(e -> vm.cancelLoad());
        Label status = new Label();
        status.setId("modelStatus");
        status.textProperty().bind(vm.statusProperty());
        HBox state = new HBox(8, status, progress, cancel);
        state.setAlignment(javafx.geometry.Pos.CENTER_LEFT);

        TableView<ModelViewModel.Fact> facts = new TableView<>(vm.facts());
        facts.setId("modelFacts");
        TableColumn<ModelViewModel.Fact, String> k = new TableColumn<>("property");
        k.setCellValueFactory(c -> new ReadOnlyObjectWrapper<>(c.getValue().name()));
        k.setPrefWidth(130);
        TableColumn<ModelViewModel.Fact, String> v = new TableColumn<>("value");
        v.setCellValueFactory(c -> new ReadOnlyObjectWrapper<>(c.getValue().value()));
        facts.getColumns().add(k);
        facts.getColumns().add(v);
        facts.setColumnResizePolicy(TableView.CONSTRAINED_RESIZE_POLICY_FLEX_LAST_COLUMN);
        facts.setPlaceholder(new Label("Load a model to see its summary."));

        ListView<String> layers = new ListView<>(vm.layers());
        layers.setId("layerList");
        layers.setStyle("-fx-font-family: monospace;");
        ListView<String> recent = new ListView<>(vm.recent());
        recent.setId("recentList");
        recent.setPlaceholder(new Label("No recent models."));
        recent.setOnMouseClicked(e -> {
            if (e.getClickCount() == 2 && recent.getSelectionModel().getSelectedItem() != null)
                vm.load(recent.getSelectionModel().getSelectedItem());
        });
        VBox left = new VBox(4, section("Summary"), facts, section("Recent (double-click to load)"), recent);
        VBox.setVgrow(facts, Priority.ALWAYS);
        recent.setPrefHeight(160);
        VBox right = new VBox(4, section("Layers"), layers);
        VBox.setVgrow(layers, Priority.ALWAYS);
        SplitPane split = new SplitPane(left, right);
        split.setDividerPositions(0.55);
        Label drop = new Label("Drop a checkpoint folder anywhere on the window to open it.");
        drop.setStyle("-fx-text-fill: #666;");
        VBox top = new VBox(6, bar, state, drop);
        top.setPadding(new Insets(8));
        setTop(top);
        setCenter(split);
        setPadding(new Insets(0, 8, 8, 8));
    }

    static Label section(String s) {
        Label l = new Label(s);
        l.setStyle("-fx-font-weight: bold; -fx-padding: 4 0 0 0;");
        return l;
    }
}
