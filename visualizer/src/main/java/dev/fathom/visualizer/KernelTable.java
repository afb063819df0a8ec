package dev.fathom.visualizer;

import dev.fathom.engine.telemetry.KernelStats;
import javafx.beans.property.ReadOnlyObjectWrapper;
import javafx.collections.FXCollections;
import javafx.collections.ObservableList;
import javafx.collections.transformation.SortedList;
import javafx.scene.control.Label;
import javafx.scene.control.TableCell;
import javafx.scene.control.TableColumn;
import javafx.scene.control.TableView;
import javafx.scene.control.Tooltip;

import java.util.List;
import java.util.Locale;
import java.util.function.Function;

/**
 * Per-kernel latency table: name, calls, total ms, mean µs, bytes, GB/s and % of the device's peak.
 * Sortable by any column; the sort survives refreshes (rows are replaced under a {@link SortedList}).
 */
public final class KernelTable extends TableView<KernelTable.Row> {
    /**
     * One kernel's figures.
     *
     * @param pctPeak the larger of bandwidth / peak bandwidth and FLOP/s / peak FLOP/s (roofline share), in %
     */
    public record Row(String name, long calls, double totalMs, double meanUs, long bytes, double gbPerS, double pctPeak) {}

    private final ObservableList<Row> rows = FXCollections.observableArrayList();

    public KernelTable() {
        SortedList<Row> sorted = new SortedList<>(rows);
        sorted.comparatorProperty().bind(comparatorProperty());
        setItems(sorted);
        getColumns().add(text("kernel", Row::name, 150));
        getColumns().add(number("calls", r -> (double) r.calls(), "%.0f", 60));
        getColumns().add(number("total ms", Row::totalMs, "%.2f", 75));
        getColumns().add(number("mean µs", Row::meanUs, "%.1f", 70));
        getColumns().add(number("bytes", r -> (double) r.bytes(), null, 80));
        getColumns().add(number("GB/s", Row::gbPerS, "%.2f", 65));
        TableColumn<Row, Double> pct = number("% of peak", Row::pctPeak, "%.1f", 75);
        Label head = new Label("% of peak");
        head.setTooltip(new Tooltip("the larger of achieved GB/s over peak bandwidth and achieved FLOP/s over peak FLOP/s"));
        pct.setText(null);
        pct.setGraphic(head);
        getColumns().add(pct);
        setColumnResizePolicy(TableView.CONSTRAINED_RESIZE_POLICY_FLEX_LAST_COLUMN);
        setPlaceholder(new Label("No kernels yet: run a model."));
        getStyleClass().add("kernel-table");
    }

    /** Replaces the rows (keeps the user's sort). */
    public void show(List<KernelStats> stats, double peakBytesPerS, double peakFlops) {
        List<Row> l = stats.stream().map(k -> new Row(k.name(), k.calls(), k.totalMs(), k.meanUs(), k.bytes(), k.gbPerS(),
                100 * Math.max(peakBytesPerS > 0 ? k.gbPerS() * 1e9 / peakBytesPerS : 0,
                        peakFlops > 0 ? k.gflopPerS() * 1e9 / peakFlops : 0))).toList();
        rows.setAll(l);
    }

    public List<Row> rows() { return List.copyOf(rows); }

    /** Hides calls, bytes and % of peak (for narrow side-by-side tables). */
    public void setCompact(boolean compact) {
        for (int i : new int[]{1, 4, 6}) getColumns().get(i).setVisible(!compact);
    }

    private static TableColumn<Row, String> text(String title, Function<Row, String> f, double w) {
        TableColumn<Row, String> c = new TableColumn<>(title);
        c.setCellValueFactory(cd -> new ReadOnlyObjectWrapper<>(f.apply(cd.getValue())));
        c.setPrefWidth(w);
        return c;
    }

    private static TableColumn<Row, Double> number(String title, Function<Row, Double> f, String fmt, double w) {
        TableColumn<Row, Double> c = new TableColumn<>(title);
        c.setCellValueFactory(cd -> new ReadOnlyObjectWrapper<>(f.apply(cd.getValue())));
        c.setPrefWidth(w);
        c.setCellFactory(col -> new TableCell<>() {
            @Override
            protected void updateItem(Double v, boolean empty) {
                super.updateItem(v, empty);
                setText(empty || v == null ? null : fmt == null ? Format.bytes(v.longValue()) : String.format(Locale.ROOT, fmt, v));
                setStyle("-fx-alignment: CENTER-RIGHT;");
            }
        });
        return c;
    }
}
