package dev.fathom.profiles.export;

import dev.fathom.profiles.ProfileException;

/**
 * A DeepSpeed release number, which decides config key names the release reads.
 *
 * @param major major number
 * @param minor minor number
 * @param patch patch number
 */
public record DeepSpeedVersion(int major, int minor, int patch) implements Comparable<DeepSpeedVersion> {
    /**
     * The first release whose {@code aio} section reads {@code intra_op_parallelism} instead of
     * {@code thread_count} (DeepSpeed PR #7056, "Rename aio_thread_count to intra_op_parallelism").
     */
    public static final DeepSpeedVersion INTRA_OP_RENAME = new DeepSpeedVersion(0, 16, 4);
    /** The release exports target unless told otherwise. */
    public static final DeepSpeedVersion DEFAULT = new DeepSpeedVersion(0, 16, 5);

    public DeepSpeedVersion {
        if (major < 0 || minor < 0 || patch < 0) {
            throw new ProfileException(null, null, "A DeepSpeed version cannot have negative parts, found "
                    + major + "." + minor + "." + patch + ".");
        }
    }

    /** Parses {@code 0.16.5}, {@code v0.16.5} or {@code 0.16} (patch 0); a suffix such as {@code +cu121} is ignored. */
    public static DeepSpeedVersion parse(String s) {
        String t = s == null ? "" : s.trim();
        if (t.startsWith("v")) t = t.substring(1);
        var m = java.util.regex.Pattern.compile("(\\d+)\\.(\\d+)(?:\\.(\\d+))?(?:[+.-].*)?").matcher(t);
        if (!m.matches()) {
            throw new ProfileException(null, null, "'" + s + "' is not a DeepSpeed version; write it like 0.16.5.");
        }
        return new DeepSpeedVersion(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)),
                m.group(3) == null ? 0 : Integer.parseInt(m.group(3)));
    }

    /** True when the {@code aio} thread setting is named {@code intra_op_parallelism} (0.16.4 and later). */
    public boolean usesIntraOpParallelism() { return compareTo(INTRA_OP_RENAME) >= 0; }

    /** The name of the {@code aio} thread setting this release reads. */
    public String aioThreadKey() { return usesIntraOpParallelism() ? "intra_op_parallelism" : "thread_count"; }

    @Override
    public int compareTo(DeepSpeedVersion o) {
        int c = Integer.compare(major, o.major);
        if (c == 0) c = Integer.compare(minor, o.minor);
        if (c == 0) c = Integer.compare(patch, o.patch);
        return c;
    }

    @Override
    public String toString() { return major + "." + minor + "." + patch; }
}
