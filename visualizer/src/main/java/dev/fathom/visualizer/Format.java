package dev.fathom.visualizer;

import java.util.Locale;

/** Number formats shared by the views. */
public final class Format {
    private Format() {}

    public static String bytes(long b) {
        double v = Math.abs(b);
        if (v >= 1e12) return String.format(Locale.ROOT, "%.2f TB", b / 1e12);
        if (v >= 1e9) return String.format(Locale.ROOT, "%.2f GB", b / 1e9);
        if (v >= 1e6) return String.format(Locale.ROOT, "%.1f MB", b / 1e6);
        if (v >= 1e3) return String.format(Locale.ROOT, "%.1f kB", b / 1e3);
        return b + " B";
    }

    public static String rate(double bytesPerS) {
        return String.format(Locale.ROOT, "%.1f GB/s", bytesPerS / 1e9);
    }

    public static String flops(double f) {
        if (f >= 1e12) return String.format(Locale.ROOT, "%.1f TFLOP/s", f / 1e12);
        return String.format(Locale.ROOT, "%.1f GFLOP/s", f / 1e9);
    }

    public static String count(long n) {
        if (n >= 1_000_000_000L) return String.format(Locale.ROOT, "%.2f B", n / 1e9);
        if (n >= 1_000_000L) return String.format(Locale.ROOT, "%.1f M", n / 1e6);
        if (n >= 1_000L) return String.format(Locale.ROOT, "%.1f k", n / 1e3);
        return Long.toString(n);
    }
}
