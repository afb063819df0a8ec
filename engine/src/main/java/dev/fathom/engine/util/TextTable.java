package dev.fathom.engine.util;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A plain-text table for terminals: a header row, a rule, and columns padded to their widest cell.
 * Columns whose header starts with no letter or that are marked numeric are right-aligned.
 */
public final class TextTable {
    private final String[] headers;
    private final boolean[] right;
    private final List<String[]> rows = new ArrayList<>();

    /** @param headers column titles; prefix a title with {@code >} to right-align the column (the mark is not printed) */
    public TextTable(String... headers) {
        this.headers = new String[headers.length];
        this.right = new boolean[headers.length];
        for (int i = 0; i < headers.length; i++) {
            right[i] = headers[i].startsWith(">");
            this.headers[i] = right[i] ? headers[i].substring(1) : headers[i];
        }
    }

    public TextTable row(Object... cells) {
        String[] r = new String[headers.length];
        Arrays.fill(r, "");
        for (int i = 0; i < Math.min(cells.length, r.length); i++) r[i] = cells[i] == null ? "" : cells[i].toString();
        rows.add(r);
        return this;
    }

    public int size() { return rows.size(); }

    public String render() {
        int[] w = new int[headers.length];
        for (int i = 0; i < w.length; i++) w[i] = headers[i].length();
        for (String[] r : rows) for (int i = 0; i < w.length; i++) w[i] = Math.max(w[i], r[i].length());
        StringBuilder sb = new StringBuilder();
        line(sb, headers, w);
        int total = 0;
        for (int x : w) total += x;
        sb.append("-".repeat(total + 2 * (w.length - 1))).append('\n');
        for (String[] r : rows) line(sb, r, w);
        return sb.toString();
    }

    private void line(StringBuilder sb, String[] cells, int[] w) {
        StringBuilder l = new StringBuilder();
        for (int i = 0; i < w.length; i++) {
            if (i > 0) l.append("  ");
            String c = cells[i];
            if (right[i]) l.append(" ".repeat(w[i] - c.length())).append(c);
            else l.append(c).append(i == w.length - 1 ? "" : " ".repeat(w[i] - c.length()));
        }
        sb.append(l.toString().stripTrailing()).append('\n');
    }

    /** Two columns, key and value, without a header: for "show" views. */
    public static String keyValues(List<String[]> pairs) {
        int w = 0;
        for (String[] p : pairs) w = Math.max(w, p[0].length());
        StringBuilder sb = new StringBuilder();
        for (String[] p : pairs) sb.append(p[0]).append(" ".repeat(w - p[0].length() + 2)).append(p[1]).append('\n');
        return sb.toString();
    }

    /** Bytes for people: 1.23 GB, 456 MB, 789 kB, 12 B (decimal units). */
    public static String bytes(double b) {
        if (b >= 1e9) return String.format("%.2f GB", b / 1e9);
        if (b >= 1e6) return String.format("%.1f MB", b / 1e6);
        if (b >= 1e3) return String.format("%.1f kB", b / 1e3);
        return String.format("%.0f B", b);
    }

    /** A rate in bytes/s as GB/s. */
    public static String gbps(double bytesPerSecond) { return String.format("%.2f GB/s", bytesPerSecond / 1e9); }

    /** FLOP/s with a unit (GFLOP/s or TFLOP/s). */
    public static String flops(double f) {
        return f >= 1e12 ? String.format("%.1f TFLOP/s", f / 1e12) : String.format("%.1f GFLOP/s", f / 1e9);
    }
}
