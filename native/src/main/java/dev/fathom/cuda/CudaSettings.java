package dev.fathom.cuda;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The {@code -Dfathom.*} switches of the CUDA backend (checks, benchmarks, tuning), read so that a bad value is one
 * sentence naming the setting and what it takes, not a NumberFormatException, a kernel that divides by zero, or a
 * mistyped {@code =off} that silently leaves a switch at its default.
 */
final class CudaSettings {
    private CudaSettings() {}

    /** {@code -Dname}: a whole number in [min, max], or {@code def} when unset. */
    static int integer(String name, int def, int min, int max) {
        String v = System.getProperty(name);
        if (v == null || v.isBlank()) return def;
        int n;
        try {
            n = Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(message(name, v, min, max), e);
        }
        if (n < min || n > max) throw new IllegalArgumentException(message(name, v, min, max));
        return n;
    }

    /** {@code -Dname}: one whole number or a comma-separated list of them, each min..max, repeats dropped; {@code def} when unset. */
    static List<Integer> integers(String name, int def, int min, int max) {
        String v = System.getProperty(name);
        if (v == null || v.isBlank()) return List.of(def);
        List<Integer> out = new java.util.ArrayList<>();
        for (String t : v.split(",", -1)) {
            int n;
            try {
                n = Integer.parseInt(t.trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(message(name, v, min, max) + ", or a list of them separated by commas", e);
            }
            if (n < min || n > max) throw new IllegalArgumentException(message(name, v, min, max) + ", or a list of them separated by commas");
            if (!out.contains(n)) out.add(n);
        }
        return List.copyOf(out);
    }

    /** {@code -Dname}: true or false (any case), or {@code def} when unset. */
    static boolean flag(String name, boolean def) {
        String v = System.getProperty(name);
        if (v == null || v.isBlank()) return def;
        String t = v.trim();
        if (t.equalsIgnoreCase("true")) return true;
        if (t.equalsIgnoreCase("false")) return false;
        throw new IllegalArgumentException("-D" + name + "=" + t + ": use true or false");
    }

    /**
     * {@code -Dname}: one of {@code allowed} (any case; returned lower-case), or {@code def} when unset; anything else is
     * one sentence naming the switch and its values (before, a mistyped {@code -Dfathom.cuda.weights=bf61} silently
     * checked the checkpoint's own dtype).
     */
    static String choice(String name, String def, String... allowed) {
        String v = System.getProperty(name);
        if (v == null || v.isBlank()) return def;
        String t = v.trim().toLowerCase(java.util.Locale.ROOT);
        for (String a : allowed) if (a.equals(t)) return t;
        throw new IllegalArgumentException("-D" + name + "=" + v.trim() + ": use " + String.join(", ", allowed));
    }

    /**
     * {@code -Dname=a,b,...}: some of {@code all} (comma-separated, blanks and repeats dropped), or all of them when
     * unset; a name not among them, or commas naming none, is one sentence naming the setting and the choices.
     */
    static List<String> subset(String name, List<String> all) {
        String v = System.getProperty(name, "").trim();
        if (v.isEmpty()) return all;
        List<String> named = java.util.Arrays.stream(v.split(",")).map(String::trim).filter(t -> !t.isEmpty()).distinct().toList();
        if (named.isEmpty())
            throw new IllegalArgumentException("-D" + name + "=" + v + ": name at least one of " + String.join(", ", all) + ", or leave the setting out for all");
        for (String t : named)
            if (!all.contains(t))
                throw new IllegalArgumentException("-D" + name + "=" + v + ": use some of " + String.join(", ", all) + " (" + t + " is none of them)");
        return named;
    }

    /**
     * {@code body} with the system properties {@code switches} ("name=value" each) set, every one restored to what it was
     * after (cleared where it was unset): how benchmarks and checks run the model under other settings.
     */
    static <T> T with(List<String> switches, java.util.function.Supplier<T> body) {
        for (String sw : switches)   // all checked before any is set
            if (sw.indexOf('=') <= 0) throw new IllegalArgumentException("setting '" + sw + "': write it as name=value");
        Map<String, String> old = new LinkedHashMap<>();
        for (String sw : switches) {
            String name = sw.substring(0, sw.indexOf('='));
            old.putIfAbsent(name, System.getProperty(name));
            System.setProperty(name, sw.substring(sw.indexOf('=') + 1));
        }
        try {
            return body.get();
        } finally {
            old.forEach((k, v) -> {
                if (v == null) System.clearProperty(k);
                else System.setProperty(k, v);
            });
        }
    }

    /**
     * {@code -Dfathom.cuda.carveout}: the shared-memory carveout (percent, 0-100) every kernel of ours prefers, read per
     * model; unset or -1: the driver's default. An experiment for decode steps (100 changed nothing measurable on an H100,
     * twentieth session: {@link CudaModule#setCarveout}).
     */
    static int carveout() { return integer("fathom.cuda.carveout", -1, -1, 100); }

    /** {@code -Dname}: a split-K warp count the SBI kernels take (1, 2, 4 or 8), or 0 when unset (the plan chooses). */
    static int splitK(String name) {
        int ks = integer(name, 0, 1, SbiLayout.WARPS);
        if (ks != 0 && Integer.bitCount(ks) != 1)
            throw new IllegalArgumentException("-D" + name + "=" + ks + ": use 1, 2, 4 or 8 warps per row group");
        return ks;
    }

    private static String message(String name, String v, int min, int max) {
        return "-D" + name + "=" + v.trim() + ": use a whole number" + (max == Integer.MAX_VALUE ? " of at least " + min
                : " from " + min + " to " + max);
    }
}
