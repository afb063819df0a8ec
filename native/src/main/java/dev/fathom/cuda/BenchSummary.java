package dev.fathom.cuda;

import java.util.ArrayList;
import java.util.List;

/**
 * The closing table of a multi-GPU check-and-benchmark command (CudaTpBench, CudaPpBench): lines added by each part,
 * whether every check passed, a part that throws recorded as one failed line (its trace printed), and the exit status.
 */
final class BenchSummary {
    private final List<String> lines = new ArrayList<>();
    private boolean ok = true;

    void add(String line) { lines.add(line); }

    /** Records a failed check (the part goes on). */
    void fail() { ok = false; }

    /** Runs one part; an exception fails the command with one summary line instead of ending it. */
    void part(String name, Runnable part) {
        try {
            part.run();
        } catch (RuntimeException e) {
            ok = false;
            lines.add(name + " FAILED: " + e);
            e.printStackTrace(System.out);
        }
    }

    /** Prints the table and exits: 0 when every check passed, else 1. */
    void finish() {
        System.out.println("\n== summary");
        lines.forEach(System.out::println);
        System.out.println(ok ? "ALL OK" : "FAILURES");
        System.exit(ok ? 0 : 1);
    }
}
