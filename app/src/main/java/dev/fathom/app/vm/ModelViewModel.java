package dev.fathom.app.vm;

import dev.fathom.app.support.TaskExecutor;
import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.model.ModelConfig;
import dev.fathom.engine.model.ModelLoader;
import dev.fathom.engine.tensor.DType;
import dev.fathom.visualizer.Format;
import javafx.beans.property.BooleanProperty;
import javafx.beans.property.DoubleProperty;
import javafx.beans.property.ObjectProperty;
import javafx.beans.property.ReadOnlyBooleanProperty;
import javafx.beans.property.ReadOnlyDoubleProperty;
import javafx.beans.property.ReadOnlyObjectProperty;
import javafx.beans.property.ReadOnlyStringProperty;
import javafx.beans.property.SimpleBooleanProperty;
import javafx.beans.property.SimpleDoubleProperty;
import javafx.beans.property.SimpleObjectProperty;
import javafx.beans.property.SimpleStringProperty;
import javafx.beans.property.StringProperty;
import javafx.collections.FXCollections;
import javafx.collections.ObservableList;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CancellationException;
import java.util.function.Consumer;

/**
 * The model pane's state: the loaded model, its summary and layers, loading progress and cancel, and the
 * recent list. Loading runs on the executor; progress is written to a volatile field by the loader and
 * copied to {@link #progressProperty()} by {@link #tick()} (called ≤ 30 times a second by the window).
 */
public final class ModelViewModel {
    /** One summary line: what and its value. */
    public record Fact(String name, String value) {}

    private final TaskExecutor executor;
    private final ObjectProperty<LoadedModel> model = new SimpleObjectProperty<>();
    private final BooleanProperty loading = new SimpleBooleanProperty();
    private final DoubleProperty progress = new SimpleDoubleProperty();
    private final StringProperty status = new SimpleStringProperty("No model loaded.");
    private final StringProperty reference = new SimpleStringProperty("");
    private final ObservableList<Fact> facts = FXCollections.observableArrayList();
    private final ObservableList<String> layers = FXCollections.observableArrayList();
    private final ObservableList<String> recent = FXCollections.observableArrayList();
    private volatile double loaderProgress;
    private TaskExecutor.Job job;
    private String loadingRef;
    private Consumer<String> onError = s -> { };
    private Consumer<String> onLoaded = s -> { };

    public ModelViewModel(TaskExecutor executor) { this.executor = executor; }

    public ReadOnlyObjectProperty<LoadedModel> modelProperty() { return model; }
    public LoadedModel model() { return model.get(); }
    public ReadOnlyBooleanProperty loadingProperty() { return loading; }
    public ReadOnlyDoubleProperty progressProperty() { return progress; }
    public ReadOnlyStringProperty statusProperty() { return status; }
    /** The text field: a checkpoint folder or synthetic:preset. */
    public StringProperty referenceProperty() { return reference; }
    public ObservableList<Fact> facts() { return facts; }
    public ObservableList<String> layers() { return layers; }
    public ObservableList<String> recent() { return recent; }

    public void setOnError(Consumer<String> c) { onError = c; }
    /** Called with the reference after each successful load (recent list, settings). */
    public void setOnLoaded(Consumer<String> c) { onLoaded = c; }

    /** Loads what the reference field names. */
    public void loadReference() { load(reference.get()); }

    /** Starts loading {@code ref} (a folder or synthetic:preset) off the UI thread; the previous model stays until it succeeds. */
    public void load(String ref) {
        if (ref == null || ref.isBlank()) {
            onError.accept("No model given: type a checkpoint folder or choose a synthetic preset.");
            return;
        }
        String r = ref.trim();
        if (job != null && !job.isDone()) job.cancel();
        reference.set(r);
        loadingRef = r;
        loaderProgress = 0;
        progress.set(0);
        loading.set(true);
        status.set("Loading " + r + " …");
        job = executor.submit("fathom-load", () -> ModelLoader.load(r, new ModelLoader.Options(DType.BF16, 42), p -> loaderProgress = p),
                m -> {
                    if (!r.equals(loadingRef)) { m.close(); return; }
                    loading.set(false);
                    progress.set(1);
                    LoadedModel old = model.get();
                    model.set(m);
                    describe(m);
                    status.set("Loaded " + m.displayName() + ".");
                    if (old != null) old.close();
                    recent.remove(r);
                    recent.addFirst(r);
                    while (recent.size() > 10) recent.removeLast();
                    onLoaded.accept(r);
                },
                e -> {
                    if (!r.equals(loadingRef)) return;
                    loading.set(false);
                    progress.set(0);
                    if (e instanceof CancellationException || e instanceof InterruptedException) {
                        status.set("Loading " + r + " cancelled.");
                    } else {
                        status.set("Could not load " + r + ".");
                        onError.accept(Messages.sentence(e));
                    }
                });
    }

    /** Interrupts a load in progress; the previous model stays. */
    public void cancelLoad() {
        if (job != null && !job.isDone()) {
            job.cancel();
            status.set("Cancelling the load …");
        }
    }

    /** Copies loader progress into the property (UI thread, ≤ 30 Hz). */
    public void tick() {
        if (loading.get()) progress.set(loaderProgress);
    }

    private void describe(LoadedModel m) {
        ModelConfig c = m.config();
        List<Fact> f = new ArrayList<>();
        f.add(new Fact("model", m.displayName()));
        f.add(new Fact("family", c.family() + (c.modelType().equals(c.family()) ? "" : " (" + c.modelType() + ")")));
        f.add(new Fact("parameters", Format.count(c.parameterCount())));
        f.add(new Fact("layers", Integer.toString(c.numLayers())));
        f.add(new Fact("heads", c.numHeads() + " (" + c.numKvHeads() + " kv, dim " + c.headDim() + ")"));
        f.add(new Fact("hidden / ffn", c.hiddenSize() + " / " + c.intermediateSize()));
        if (c.isMoe()) f.add(new Fact("experts", c.numExperts() + ", top-" + c.expertsPerToken()));
        f.add(new Fact("vocabulary", Integer.toString(c.vocabSize())));
        f.add(new Fact("max positions", Integer.toString(c.maxPositions())));
        f.add(new Fact("dtype", m.weightDtype()));
        f.add(new Fact("weight bytes", Format.bytes(m.weights().bytes())));
        f.add(new Fact("tokenizer", m.tokenizer() == null ? "none (prompts must be token ids)"
                : m.source().startsWith("synthetic:") ? "byte-level, one token per byte (built in)" : m.tokenizer().file().toString()));
        if (m.synthetic()) f.add(new Fact("weights", "random weights — outputs are meaningless; use for profiling"));
        facts.setAll(f);
        List<String> l = new ArrayList<>();
        for (int i = 0; i < m.weights().layers().size(); i++) {
            var lw = m.weights().layers().get(i);
            l.add(String.format(Locale.ROOT, "layer %2d  %s  %s", i, lw.experts().isEmpty() ? "attention + MLP" : "attention + " + lw.experts().size() + " experts",
                    Format.bytes(lw.bytes())));
        }
        layers.setAll(l);
    }
}
