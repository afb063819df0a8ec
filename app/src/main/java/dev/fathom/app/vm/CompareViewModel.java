package dev.fathom.app.vm;

import dev.fathom.engine.telemetry.KernelStats;
import javafx.beans.property.ObjectProperty;
import javafx.beans.property.SimpleObjectProperty;
import javafx.collections.FXCollections;
import javafx.collections.ObservableList;

import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/** Two kept runs side by side: their figures, per-kernel times and the differences (B against A). */
public final class CompareViewModel {
    /** One compared figure. */
    public record Row(String metric, String a, String b, String delta) {}

    private final ObjectProperty<RunRecord> runA = new SimpleObjectProperty<>();
    private final ObjectProperty<RunRecord> runB = new SimpleObjectProperty<>();
    private final ObservableList<Row> rows = FXCollections.observableArrayList();

    public CompareViewModel() {
        runA.addListener(o -> update());
        runB.addListener(o -> update());
    }

    public ObjectProperty<RunRecord> runAProperty() { return runA; }
    public ObjectProperty<RunRecord> runBProperty() { return runB; }
    public ObservableList<Row> rows() { return rows; }

    private void update() {
        RunRecord a = runA.get(), b = runB.get();
        if (a == null || b == null) {
            rows.clear();
            return;
        }
        List<Row> l = new java.util.ArrayList<>();
        l.add(new Row("profile", summary(a), summary(b), a.profile().equals(b.profile()) ? "same" : "differs"));
        l.add(new Row("layout", a.layout(), b.layout(), a.layout().equals(b.layout()) ? "same" : "differs"));
        l.add(num("tokens generated", a.figures().generated(), b.figures().generated(), "%.0f"));
        l.add(num("prompt phase ms", a.figures().prefillMs(), b.figures().prefillMs(), "%.2f"));
        l.add(num("decode ms / step", a.figures().decodeMsStep(), b.figures().decodeMsStep(), "%.3f"));
        l.add(num("decode tokens / s", a.figures().tokensPerS(), b.figures().tokensPerS(), "%.1f"));
        l.add(num("kernel time ms", a.figures().kernelMs(), b.figures().kernelMs(), "%.2f"));
        l.add(num("kernel GB moved", a.figures().kernelBytes() / 1e9, b.figures().kernelBytes() / 1e9, "%.3f"));
        l.add(num("wall ms", a.figures().wallMs(), b.figures().wallMs(), "%.1f"));
        Map<String, KernelStats> ka = byName(a.kernels()), kb = byName(b.kernels());
        Set<String> names = new LinkedHashSet<>(ka.keySet());
        names.addAll(kb.keySet());
        for (String n : names) {
            KernelStats x = ka.get(n), y = kb.get(n);
            l.add(num("kernel " + n + " ms", x == null ? 0 : x.totalMs(), y == null ? 0 : y.totalMs(), "%.2f"));
        }
        rows.setAll(l);
    }

    private static String summary(RunRecord r) {
        var p = r.profile();
        return String.format(Locale.ROOT, "%s %s b%d p%d n%d tp%d pp%d", RunRecord.shortModel(p.model()), p.backend(), p.batch(),
                p.promptLen(), p.newTokens(), p.parallel().tp(), p.parallel().pp());
    }

    private static Map<String, KernelStats> byName(List<KernelStats> l) {
        Map<String, KernelStats> m = new LinkedHashMap<>();
        for (KernelStats k : l) m.put(k.name(), k);
        return m;
    }

    static Row num(String name, double a, double b, String fmt) {
        String d;
        if (a == b) d = "same";
        else if (a == 0) d = "new";
        else d = String.format(Locale.ROOT, "%+.1f%%", 100 * (b - a) / a);
        return new Row(name, String.format(Locale.ROOT, fmt, a), String.format(Locale.ROOT, fmt, b), d);
    }
}
