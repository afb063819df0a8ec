package dev.fathom.app.vm;

import dev.fathom.app.support.TaskExecutor;
import dev.fathom.engine.Engine;
import dev.fathom.engine.EngineException;
import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.plan.ExecutionPlan;
import dev.fathom.engine.run.CancellationToken;
import dev.fathom.engine.run.GenerationRequest;
import dev.fathom.engine.run.GenerationResult;
import dev.fathom.engine.run.InferenceSession;
import dev.fathom.engine.telemetry.TelemetryEvent;
import dev.fathom.engine.telemetry.TelemetryRecorder;
import dev.fathom.profiles.HardwareProfile;
import dev.fathom.profiles.RunProfile;
import dev.fathom.visualizer.TelemetryModel;
import javafx.beans.property.BooleanProperty;
import javafx.beans.property.DoubleProperty;
import javafx.beans.property.IntegerProperty;
import javafx.beans.property.ObjectProperty;
import javafx.beans.property.ReadOnlyBooleanProperty;
import javafx.beans.property.ReadOnlyDoubleProperty;
import javafx.beans.property.ReadOnlyIntegerProperty;
import javafx.beans.property.ReadOnlyObjectProperty;
import javafx.beans.property.ReadOnlyStringProperty;
import javafx.beans.property.SimpleBooleanProperty;
import javafx.beans.property.SimpleDoubleProperty;
import javafx.beans.property.SimpleIntegerProperty;
import javafx.beans.property.SimpleObjectProperty;
import javafx.beans.property.SimpleStringProperty;
import javafx.beans.property.StringProperty;
import javafx.collections.FXCollections;
import javafx.collections.ObservableList;

import java.io.File;
import java.util.Arrays;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * The run pane's state and commands. {@link #run()} plans on the UI thread (cheap, and a rejected plan
 * is shown at once), then generates on the executor with a {@link TelemetryRecorder} as sink. The worker
 * only writes to its own buffers; {@link #tick()} (≤ 30 Hz) copies tokens, progress and telemetry into
 * properties. Cancel sets the {@link CancellationToken} and interrupts the worker; the engine stops at
 * the next token.
 */
public final class RunViewModel {
    public static final int MAX_RUNS = 20;
    public static final int RECORDER_BOUND = 100_000;
    /** Streamed text, token count and progress are updated at most this often. */
    public static final double TEXT_HZ = 10;

    private final TaskExecutor executor;
    private final Engine engine;
    private final ModelViewModel models;
    private final PlanViewModel plans;
    private final StringProperty prompt = new SimpleStringProperty("");
    private final BooleanProperty promptIsIds = new SimpleBooleanProperty(false);
    private final BooleanProperty running = new SimpleBooleanProperty();
    private final DoubleProperty progress = new SimpleDoubleProperty();
    private final StringProperty output = new SimpleStringProperty("");
    private final StringProperty status = new SimpleStringProperty("Ready.");
    private final IntegerProperty tokens = new SimpleIntegerProperty();
    private final ObjectProperty<TelemetryModel> telemetry = new SimpleObjectProperty<>(new TelemetryModel());
    private final ObservableList<RunRecord> runs = FXCollections.observableArrayList();
    private Consumer<String> onError = s -> { };
    private Live live;
    private int nextId = 1;
    private long cancelAt;
    private double lastCancelMs = Double.NaN;

    /** What the worker writes and the UI thread reads (synchronized on itself). */
    private static final class Live {
        final TelemetryRecorder recorder = new TelemetryRecorder(RECORDER_BOUND);
        final CancellationToken cancel = new CancellationToken();
        final int expected;
        final int batch;
        final int promptLen;
        final LoadedModel model;
        int[] seq0 = new int[64];
        int seq0Len;
        int count;
        int shownCount = -1;
        long shownAt;
        long startNs = System.nanoTime();
        TaskExecutor.Job job;

        Live(int expected, int batch, int promptLen, LoadedModel model) {
            this.expected = expected;
            this.batch = batch;
            this.promptLen = promptLen;
            this.model = model;
        }

        synchronized void token(int seq, int tok) {
            count++;
            if (seq == 0) {
                if (seq0Len == seq0.length) seq0 = Arrays.copyOf(seq0, seq0.length * 2);
                seq0[seq0Len++] = tok;
            }
        }

        synchronized int[] seq0() { return Arrays.copyOf(seq0, seq0Len); }
        synchronized int count() { return count; }
    }

    public RunViewModel(TaskExecutor executor, Engine engine, ModelViewModel models, PlanViewModel plans) {
        this.executor = executor;
        this.engine = engine;
        this.models = models;
        this.plans = plans;
    }

    public StringProperty promptProperty() { return prompt; }
    public BooleanProperty promptIsIdsProperty() { return promptIsIds; }
    public ReadOnlyBooleanProperty runningProperty() { return running; }
    public ReadOnlyDoubleProperty progressProperty() { return progress; }
    public ReadOnlyStringProperty outputProperty() { return output; }
    public ReadOnlyStringProperty statusProperty() { return status; }
    public ReadOnlyIntegerProperty tokensProperty() { return tokens; }
    /** The telemetry the live views draw (the current run's, or a kept run's). */
    public ReadOnlyObjectProperty<TelemetryModel> telemetryProperty() { return telemetry; }
    public ObservableList<RunRecord> runs() { return runs; }
    public void setOnError(Consumer<String> c) { onError = c; }
    /** Milliseconds from the last cancel() to the run being over (results shown, buttons back), or NaN. */
    public double lastCancelMs() { return lastCancelMs; }
    /** Lets the window report something it did (saving a profile) in the run status. */
    public void statusPropertyForWindow(String s) { if (!running.get()) status.set(s); }

    /** Builds the prompts from the prompt box: text (tokenizer), ids, or synthetic ids when empty. */
    int[][] prompts(LoadedModel m, RunProfile p) {
        String text = prompt.get() == null ? "" : prompt.get().strip();
        int[] one;
        if (text.isEmpty()) {
            one = new int[Math.max(1, p.promptLen())];
            int v = m.config().vocabSize();
            for (int i = 0; i < one.length; i++) one[i] = (int) ((1L + i * 7919L) % v);
        } else if (promptIsIds.get()) {
            String[] parts = text.split("[\\s,]+");
            one = new int[parts.length];
            for (int i = 0; i < parts.length; i++) {
                try {
                    one[i] = Integer.parseInt(parts[i]);
                } catch (NumberFormatException e) {
                    throw new EngineException("Prompt ids: '" + parts[i] + "' is not an integer token id; separate ids by commas or spaces.");
                }
            }
        } else {
            if (m.tokenizer() == null)
                throw new EngineException(m.source() + " has no tokenizer.json: tick 'token ids' and type ids such as 1, 2, 3.");
            one = m.tokenizer().encode(text);
            if (one.length == 0) throw new EngineException("The prompt encodes to no tokens: type some text.");
        }
        int[][] out = new int[Math.max(1, p.batch())][];
        for (int b = 0; b < out.length; b++) out[b] = one.clone();
        return out;
    }

    /** Starts a run of the plan form's profile with the prompt box's prompt. */
    public void run() {
        if (running.get()) return;
        LoadedModel m = models.model();
        try {
            if (m == null) throw new EngineException("No model is loaded: open a checkpoint folder or choose a synthetic preset first.");
            RunProfile p0 = plans.currentProfile();
            int[][] prompts = prompts(m, p0);
            RunProfile p = p0.withShape(p0.batch(), prompts[0].length, p0.newTokens());
            ExecutionPlan plan = plans.planFor(p, prompts[0].length);
            start(m, p, plan, prompts);
        } catch (EngineException e) {
            status.set("Not started.");
            onError.accept(e.getMessage());
        }
    }

    private void start(LoadedModel m, RunProfile p, ExecutionPlan plan, int[][] prompts) {
        Live l = new Live(p.batch() * p.newTokens(), p.batch(), prompts[0].length, m);
        live = l;
        telemetry.set(new TelemetryModel().startingAt(l.startNs));
        running.set(true);
        progress.set(0);
        tokens.set(0);
        output.set("");
        status.set("Running " + m.displayName() + " …");
        HardwareProfile hw = plans.hardwareProperty().get();
        GenerationRequest req = new GenerationRequest(prompts, p.newTokens(), p.sampling(), false, false);
        String planText = plan.describe();
        String[] layout = {"1 rank"};
        l.job = executor.submit("fathom-run", () -> {
            MemorySampler mem = new MemorySampler(l.recorder, plan, hw);
            mem.sample();
            try (InferenceSession s = engine.open(m, plan, l.recorder)) {
                layout[0] = s.runner().layout();
                mem.sample();
                GenerationResult r = s.generate(req, (seq, tok, step) -> {
                    l.token(seq, tok);
                    mem.maybeSample();
                }, l.cancel);
                mem.sample();
                return r;
            }
        }, r -> finish(l, p, planText, layout[0], r, null), e -> finish(l, p, planText, layout[0], null, e));
    }

    /** Stops the running generation at the next token; the app stays usable. */
    public void cancel() {
        Live l = live;
        if (l == null || !running.get()) return;
        cancelAt = System.nanoTime();
        l.cancel.cancel();
        if (l.job != null) l.job.cancel();
        status.set("Cancelling …");
    }

    private void finish(Live l, RunProfile p, String planText, String layout, GenerationResult r, Throwable e) {
        if (l != live) return;
        if (l.cancel.isCancelled()) lastCancelMs = (System.nanoTime() - cancelAt) / 1e6;
        l.shownAt = 0; // the final text and count are shown whatever the rate limit says
        tick();
        running.set(false);
        String outcome;
        if (e != null) {
            boolean cancelled = l.cancel.isCancelled() || e instanceof InterruptedException || e instanceof java.util.concurrent.CancellationException;
            outcome = cancelled ? "cancelled" : "failed";
            status.set(cancelled ? "Cancelled after " + l.count() + " tokens." : "Failed: " + Messages.sentence(e));
            if (!cancelled) onError.accept(Messages.sentence(e));
        } else {
            outcome = r.cancelled() ? "cancelled" : "finished";
            status.set(String.format(Locale.ROOT, "%s: %d tokens; prompt %.1f ms, %.2f ms per decode step (%s).",
                    r.cancelled() ? "Cancelled" : "Finished", l.count(), r.prefillNs() / 1e6, r.decodeMsPerStep(), layout));
            progress.set(r.cancelled() ? progress.get() : 1);
        }
        TelemetryModel tm = telemetry.get();
        double wallMs = (System.nanoTime() - l.startNs) / 1e6;
        RunRecord.Figures f = new RunRecord.Figures(r == null ? 0 : r.prefillNs() / 1e6, r == null ? 0 : r.decodeMsPerStep(),
                r == null || r.decodeNs() == 0 ? 0 : r.decodeSteps() * (double) p.batch() / (r.decodeNs() / 1e9),
                l.count(), tm.kernelNs() / 1e6, tm.kernelBytes(), wallMs);
        RunRecord rec = new RunRecord(nextId++, p, planText, layout, f, output.get(), l.recorder.events(), l.recorder.kernelStats(),
                outcome);
        runs.add(rec);
        while (runs.size() > MAX_RUNS) runs.removeFirst();
    }

    /** Copies the worker's progress into the properties (UI thread, ≤ 30 Hz). Returns true when telemetry changed. */
    public boolean tick() {
        Live l = live;
        if (l == null) return false;
        int c = l.count();
        long now = System.nanoTime();
        // the text box re-lays out on every change: at most TEXT_HZ, tokens keep coming in between
        if (c != l.shownCount && (now - l.shownAt >= 1e9 / TEXT_HZ || c == l.expected)) {
            l.shownCount = c;
            l.shownAt = now;
            tokens.set(c);
            progress.set(l.expected == 0 ? 0 : Math.min(1, c / (double) l.expected));
            output.set(render(l));
        }
        return telemetry.get().pull(l.recorder);
    }

    /** Tokens shown in the output box: the box is re-laid out on each refresh, so its size is bounded. */
    public static final int SHOWN_TOKENS = 120;

    private String render(Live l) {
        int[] all = l.seq0();
        int[] ids = all.length > SHOWN_TOKENS ? Arrays.copyOfRange(all, all.length - SHOWN_TOKENS, all.length) : all;
        String head = all.length > ids.length ? "… (" + (all.length - ids.length) + " earlier tokens not shown)\n" : "";
        var tok = l.model.tokenizer();
        // random weights give random bytes, which decode to replacement characters: show their ids
        String seq = tok != null && !l.model.synthetic() ? tok.decode(ids)
                : (l.model.synthetic() ? "token ids (random weights: the text would be noise)\n" : "") + idsText(ids);
        return head + (l.batch > 1 ? seq + "\n\n[sequence 0 of " + l.batch + " shown]" : seq);
    }

    private static String idsText(int[] ids) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < ids.length; i++) sb.append(i == 0 ? "" : " ").append(ids[i]);
        return sb.toString();
    }

    /** Shows a kept run's telemetry in the live views. */
    public void showRun(RunRecord r) {
        if (running.get() || r == null) return;
        live = null;
        telemetry.set(r.telemetry());
        output.set(r.output());
        status.set("Showing run " + r.label() + ".");
    }

    /** Emits memory samples: planned weights and KV per tier, and the Java heap, at most every 50 ms. */
    static final class MemorySampler {
        private final TelemetryRecorder rec;
        private final ExecutionPlan plan;
        private final long ram;
        private long last;

        MemorySampler(TelemetryRecorder rec, ExecutionPlan plan, HardwareProfile hw) {
            this.rec = rec;
            this.plan = plan;
            this.ram = hw == null ? Runtime.getRuntime().maxMemory() : hw.memoryPerDevice();
        }

        void maybeSample() {
            if (System.nanoTime() - last > 50_000_000L) sample();
        }

        void sample() {
            long now = System.nanoTime();
            last = now;
            var pl = plan.profile().placement();
            String dev = "cuda".equals(plan.backend()) ? "cuda:0" : "cpu";
            rec.emit(new TelemetryEvent.MemorySample(dev, "weights (" + tier(pl.weights()) + ")", plan.weightBytes(), capacity(pl.weights()), now));
            rec.emit(new TelemetryEvent.MemorySample(dev, "KV cache (" + tier(pl.kvCache()) + ")", plan.kvBytes(), capacity(pl.kvCache()), now));
            Runtime rt = Runtime.getRuntime();
            rec.emit(new TelemetryEvent.MemorySample("jvm", "heap in use", rt.totalMemory() - rt.freeMemory(), rt.maxMemory(), now));
        }

        private long capacity(RunProfile.Tier t) {
            if (t == RunProfile.Tier.NVME) {
                String d = plan.profile().placement().nvmeDir();
                return new File(d == null ? System.getProperty("java.io.tmpdir") : d).getUsableSpace();
            }
            return ram;
        }

        private static String tier(RunProfile.Tier t) { return t.name().toLowerCase(Locale.ROOT); }
    }
}
