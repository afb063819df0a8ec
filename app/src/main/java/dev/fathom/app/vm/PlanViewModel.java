package dev.fathom.app.vm;

import dev.fathom.engine.Engine;
import dev.fathom.engine.EngineException;
import dev.fathom.engine.backend.Backend;
import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.plan.ExecutionPlan;
import dev.fathom.profiles.HardwareProfile;
import dev.fathom.profiles.Precision;
import dev.fathom.profiles.RunProfile;
import dev.fathom.profiles.RunProfile.Tier;
import dev.fathom.visualizer.Format;
import javafx.beans.Observable;
import javafx.beans.property.BooleanProperty;
import javafx.beans.property.DoubleProperty;
import javafx.beans.property.IntegerProperty;
import javafx.beans.property.ObjectProperty;
import javafx.beans.property.ReadOnlyObjectProperty;
import javafx.beans.property.ReadOnlyStringProperty;
import javafx.beans.property.SimpleBooleanProperty;
import javafx.beans.property.SimpleDoubleProperty;
import javafx.beans.property.SimpleIntegerProperty;
import javafx.beans.property.SimpleObjectProperty;
import javafx.beans.property.SimpleStringProperty;
import javafx.beans.property.StringProperty;
import javafx.beans.value.ObservableValue;
import javafx.collections.FXCollections;
import javafx.collections.ObservableList;

import java.io.File;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The plan form's state. Every field is a property the view binds; any change rebuilds the
 * {@link RunProfile}, asks the engine for the {@link ExecutionPlan} (the same call a run makes) and
 * publishes either the plan text and memory table or the engine's sentence and the field it names.
 */
public final class PlanViewModel {
    /** One bar of the memory table: what holds how much of which capacity. */
    public record MemoryRow(String where, long used, long capacity) {
        public double fraction() { return capacity <= 0 ? 0 : used / (double) capacity; }
        public boolean over() { return capacity > 0 && used > capacity; }
        public String text() { return Format.bytes(used) + " of " + (capacity > 0 ? Format.bytes(capacity) : "unknown"); }
    }

    /** A backend as the choice box shows it. */
    public record BackendChoice(String id, String description, String unavailableReason) {
        public boolean available() { return unavailableReason == null; }
        @Override public String toString() { return available() ? id + " — " + description : id + " — " + unavailableReason; }
    }

    private final Engine engine;
    private final ObjectProperty<LoadedModel> model = new SimpleObjectProperty<>();
    private final ObjectProperty<HardwareProfile> hardware = new SimpleObjectProperty<>();
    private final ObservableList<BackendChoice> backends = FXCollections.observableArrayList();
    private final StringProperty backend = new SimpleStringProperty("cpu");
    private final ObjectProperty<Precision> precision = new SimpleObjectProperty<>(Precision.AUTO);
    private final IntegerProperty batch = new SimpleIntegerProperty(1);
    private final IntegerProperty promptLen = new SimpleIntegerProperty(16);
    private final IntegerProperty newTokens = new SimpleIntegerProperty(32);
    private final IntegerProperty tp = new SimpleIntegerProperty(1);
    private final IntegerProperty pp = new SimpleIntegerProperty(1);
    private final IntegerProperty ep = new SimpleIntegerProperty(1);
    private final IntegerProperty dp = new SimpleIntegerProperty(1);
    private final IntegerProperty promptMicroBatches = new SimpleIntegerProperty(0);
    private final IntegerProperty genMicroBatches = new SimpleIntegerProperty(0);
    private final ObjectProperty<Tier> weightsTier = new SimpleObjectProperty<>(Tier.DEVICE);
    private final ObjectProperty<Tier> kvTier = new SimpleObjectProperty<>(Tier.DEVICE);
    private final IntegerProperty prefetch = new SimpleIntegerProperty(1);
    private final DoubleProperty deviceMemoryGb = new SimpleDoubleProperty(0);
    private final DoubleProperty hostMemoryGb = new SimpleDoubleProperty(0);
    private final StringProperty nvmeDir = new SimpleStringProperty("");
    private final BooleanProperty stopOnEos = new SimpleBooleanProperty(false);

    private final ObjectProperty<RunProfile> profile = new SimpleObjectProperty<>();
    private final ObjectProperty<ExecutionPlan> plan = new SimpleObjectProperty<>();
    private final StringProperty error = new SimpleStringProperty("");
    private final StringProperty errorField = new SimpleStringProperty("");
    private final StringProperty planText = new SimpleStringProperty("");
    private final StringProperty hardwareText = new SimpleStringProperty("");
    private final ObservableList<MemoryRow> memory = FXCollections.observableArrayList();
    private RunProfile base = RunProfile.defaults();
    private boolean applying;

    public PlanViewModel(Engine engine, HardwareProfile hw) {
        this.engine = engine;
        hardware.set(hw);
        for (Backend b : engine.backends().all()) backends.add(new BackendChoice(b.id(), b.description(), b.unavailableReason()));
        if (engine.backends().find("cuda") == null)
            backends.add(new BackendChoice("cuda", "NVIDIA GPU", "no CUDA backend in this build — running on CPU"));
        Observable[] deps = {model, hardware, backend, precision, batch, promptLen, newTokens, tp, pp, ep, dp, promptMicroBatches,
                genMicroBatches, weightsTier, kvTier, prefetch, deviceMemoryGb, hostMemoryGb, nvmeDir, stopOnEos};
        for (Observable o : deps) o.addListener(x -> { if (!applying) validate(); });
        validate();
    }

    public ObjectProperty<LoadedModel> modelProperty() { return model; }
    public ObjectProperty<HardwareProfile> hardwareProperty() { return hardware; }
    public ObservableList<BackendChoice> backends() { return backends; }
    public StringProperty backendProperty() { return backend; }
    public ObjectProperty<Precision> precisionProperty() { return precision; }
    public IntegerProperty batchProperty() { return batch; }
    public IntegerProperty promptLenProperty() { return promptLen; }
    public IntegerProperty newTokensProperty() { return newTokens; }
    public IntegerProperty tpProperty() { return tp; }
    public IntegerProperty ppProperty() { return pp; }
    public IntegerProperty epProperty() { return ep; }
    public IntegerProperty dpProperty() { return dp; }
    public IntegerProperty promptMicroBatchesProperty() { return promptMicroBatches; }
    public IntegerProperty genMicroBatchesProperty() { return genMicroBatches; }
    public ObjectProperty<Tier> weightsTierProperty() { return weightsTier; }
    public ObjectProperty<Tier> kvTierProperty() { return kvTier; }
    public IntegerProperty prefetchProperty() { return prefetch; }
    public DoubleProperty deviceMemoryGbProperty() { return deviceMemoryGb; }
    public DoubleProperty hostMemoryGbProperty() { return hostMemoryGb; }
    public StringProperty nvmeDirProperty() { return nvmeDir; }
    public BooleanProperty stopOnEosProperty() { return stopOnEos; }

    public ReadOnlyObjectProperty<RunProfile> profileProperty() { return profile; }
    public ReadOnlyObjectProperty<ExecutionPlan> planProperty() { return plan; }
    /** The engine's sentence when the plan is rejected, else empty. */
    public ReadOnlyStringProperty errorProperty() { return error; }
    /** Which field the sentence is about (batch, length, parallel, backend, placement, model) or empty. */
    public ReadOnlyStringProperty errorFieldProperty() { return errorField; }
    public ReadOnlyStringProperty planTextProperty() { return planText; }
    public ReadOnlyStringProperty hardwareTextProperty() { return hardwareText; }
    public ObservableList<MemoryRow> memory() { return memory; }

    /** The profile the form currently describes (model from the loaded model). */
    public RunProfile currentProfile() {
        RunProfile.Placement pl = new RunProfile.Placement(weightsTier.get(), kvTier.get(),
                nvmeDir.get() == null || nvmeDir.get().isBlank() ? null : nvmeDir.get().trim(), prefetch.get(),
                (long) (deviceMemoryGb.get() * 1e9), (long) (hostMemoryGb.get() * 1e9), base.placement().kvOffloadThreshold());
        RunProfile.Parallelism par = new RunProfile.Parallelism(tp.get(), pp.get(), ep.get(), dp.get(), promptMicroBatches.get(),
                genMicroBatches.get(), base.parallel().moeAllToAll());
        String m = model.get() != null ? model.get().source() : base.model();
        HardwareProfile hw = hardware.get();
        return base.withModel(m).withBackend(backend.get()).withPrecision(precision.get())
                .withShape(batch.get(), promptLen.get(), newTokens.get()).withParallel(par).withPlacement(pl)
                .withSampling(base.sampling().withStopOnEos(stopOnEos.get())).withHardware(hw == null ? base.hardware() : hw.name());
    }

    /** Fills the form from a profile (opening a saved one); the model field is returned for the caller to load. */
    public void setFrom(RunProfile p) {
        applying = true;
        try {
            base = p;
            backend.set(p.backend());
            precision.set(p.precision());
            batch.set(p.batch());
            promptLen.set(p.promptLen());
            newTokens.set(p.newTokens());
            tp.set(p.parallel().tp());
            pp.set(p.parallel().pp());
            ep.set(p.parallel().ep());
            dp.set(p.parallel().dp());
            promptMicroBatches.set(p.parallel().promptMicroBatches());
            genMicroBatches.set(p.parallel().genMicroBatches());
            weightsTier.set(p.placement().weights());
            kvTier.set(p.placement().kvCache());
            prefetch.set(p.placement().prefetch());
            deviceMemoryGb.set(p.placement().deviceMemory() / 1e9);
            hostMemoryGb.set(p.placement().hostMemory() / 1e9);
            nvmeDir.set(p.placement().nvmeDir() == null ? "" : p.placement().nvmeDir());
            stopOnEos.set(p.sampling().stopOnEos());
        } finally {
            applying = false;
        }
        validate();
    }

    /**
     * Plans {@code p} for the loaded model exactly as a run would; throws the engine's sentence.
     *
     * @param promptTokens prompt length to plan for (the typed prompt's, or the profile's)
     */
    public ExecutionPlan planFor(RunProfile p, int promptTokens) {
        LoadedModel m = model.get();
        if (m == null) throw new EngineException("No model is loaded: open a checkpoint folder or choose a synthetic preset first.");
        Backend b = engine.backends().find(p.backend());
        if (b == null)
            throw new EngineException("Backend '" + p.backend() + "' is not in this build (known: "
                    + String.join(", ", engine.backends().all().stream().map(Backend::id).toList()) + "): choose the cpu backend.");
        if (b.unavailableReason() != null)
            throw new EngineException("Backend '" + p.backend() + "' cannot run here: " + b.unavailableReason() + " (choose the cpu backend).");
        ExecutionPlan ep = engine.plan(m, p, promptTokens + p.newTokens());
        String why = b.cannotRun(ep);
        if (why != null) throw new EngineException(why);
        return ep;
    }

    /** Re-plans from the form; called on every edit. */
    public void validate() {
        RunProfile p = currentProfile();
        profile.set(p);
        HardwareProfile hw = hardware.get();
        hardwareText.set(hw == null ? "no hardware profile" : String.format(Locale.ROOT, "%s: %s; peak %s memory bandwidth, %s (%s)%s",
                hw.name(), hw.description(), Format.rate(hw.memoryBandwidth()), Format.flops(hw.flops(precisionId(p))), precisionId(p),
                hw.measured() ? "" : " — nominal, not measured"));
        try {
            ExecutionPlan ep = planFor(p, p.promptLen());
            plan.set(ep);
            error.set("");
            errorField.set("");
            planText.set(ep.describe() + sharingNote(p));
            memory.setAll(memoryRows(ep, hw));
        } catch (EngineException e) {
            plan.set(null);
            error.set(e.getMessage());
            errorField.set(fieldOf(e.getMessage()));
            planText.set("");
            memory.clear();
        }
    }

    static String precisionId(RunProfile p) {
        return p.precision() == Precision.AUTO ? "bf16" : p.precision().id();
    }

    private String sharingNote(RunProfile p) {
        int world = p.parallel().worldSize();
        if (world > 1 && !"cuda".equals(p.backend()))
            return "note      the " + world + " ranks share this CPU: they share its memory bandwidth and cores\n";
        return "";
    }

    /** The field a sentence is about, by the words the planner uses. */
    static String fieldOf(String msg) {
        String m = msg.toLowerCase(Locale.ROOT);
        if (m.startsWith("batch")) return "batch";
        if (m.contains("positions") || m.contains("prompt")) return "length";
        if (m.contains("parallel") || m.contains("tp=") || m.contains("tensor") || m.contains("pipeline") || m.contains("expert")) return "parallel";
        if (m.contains("backend")) return "backend";
        if (m.contains("nvme") || m.contains("memory") || m.contains("prefetch") || m.contains("tier")) return "placement";
        if (m.contains("model")) return "model";
        return "";
    }

    /** Memory each rank and tier will hold against its capacity. */
    static List<MemoryRow> memoryRows(ExecutionPlan ep, HardwareProfile hw) {
        RunProfile p = ep.profile();
        var par = p.parallel();
        int shards = Math.max(1, par.tp() * par.pp());
        long ram = hw == null ? 0 : hw.memoryPerDevice();
        long deviceCap = p.placement().deviceMemory() > 0 ? p.placement().deviceMemory() : ram;
        long hostCap = p.placement().hostMemory() > 0 ? p.placement().hostMemory() : ram;
        long nvmeCap = nvmeFree(p.placement().nvmeDir());
        List<MemoryRow> rows = new ArrayList<>();
        long[] tiers = new long[3];
        tiers[p.placement().weights().ordinal()] += ep.weightBytes() * par.dp();
        tiers[p.placement().kvCache().ordinal()] += ep.kvBytes() * par.dp();
        rows.add(new MemoryRow("device tier (all ranks)", tiers[0], deviceCap));
        rows.add(new MemoryRow("host tier (all ranks)", tiers[1], hostCap));
        rows.add(new MemoryRow("NVMe tier", tiers[2], nvmeCap));
        int world = par.worldSize();
        for (int r = 0; r < Math.min(world, 8); r++) {
            long w = ep.weightBytes() / shards, kv = ep.kvBytes() / shards;
            rows.add(new MemoryRow(String.format(Locale.ROOT, "rank %d: weights %s + KV %s", r, Format.bytes(w), Format.bytes(kv)),
                    w + kv, deviceCap));
        }
        if (world > 8) rows.add(new MemoryRow("… " + (world - 8) + " more ranks like these", 0, 0));
        return rows;
    }

    private static long nvmeFree(String dir) {
        File f = new File(dir == null || dir.isBlank() ? System.getProperty("java.io.tmpdir") : dir);
        while (f != null && !f.exists()) f = f.getParentFile();
        return f == null ? 0 : f.getUsableSpace();
    }

    /** For views: is this the field the current error is about? */
    public ObservableValue<Boolean> errorOn(String field) {
        return errorField.map(f -> f.equals(field));
    }
}
