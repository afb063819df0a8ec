package dev.fathom.cuda;

import dev.fathom.engine.telemetry.TelemetryEvent.Phase;

/**
 * Launch sizing and host-side choices of the two attention kernels (fathom_kernels.cu / prompt.cuh), kept apart from
 * the model so they are tested on the CPU: {@code attention_rows} (one block per head and row: decode steps) and
 * {@code attention_tiles_*} (a block per head and run of up to 64 query rows of one sequence: prompts).
 */
final class AttentionLaunch {
    private AttentionLaunch() {}

    /** Threads per block of attention_rows. */
    static final int ROWS_THREADS = 512;

    /** attention_rows: q, scores (padded to 16 bytes), per-group partial outputs (4 floats per thread). */
    static int rowsSmem(int hd, int maxLen) { return (hd + ((maxLen + 3) & ~3) + 4 * ROWS_THREADS) * 4; }

    /** attention_tiles: q [64][hd+1], k [32][hd+1], v [32][hd], p [64][33], 4 x 64 per-row values. */
    static int tilesSmem(int hd) { return (64 * (hd + 1) + 32 * (hd + 1) + 32 * hd + 64 * 33 + 4 * 64) * 4; }

    /** The attention_tiles instance for a head dim (64, 128 or 256 registers' worth of outputs per row). */
    static String tilesKernel(int hd) { return "attention_tiles_" + (hd <= 64 ? 64 : hd <= 128 ? 128 : 256); }

    /**
     * Splits rows into runs of one sequence (same slot, consecutive rows) of at most {@code max} rows:
     * [first row, count] pairs into {@code out}; returns the number of runs.
     */
    static int queryTiles(int[] slotOf, int max, int[] out) {
        int t = 0;
        for (int i = 0; i < slotOf.length; ) {
            int j = i + 1;
            while (j < slotOf.length && j - i < max && slotOf[j] == slotOf[i]) j++;
            out[2 * t] = i;
            out[2 * t + 1] = j - i;
            t++;
            i = j;
        }
        return t;
    }

    /** Tiled attention pays off where query rows share keys: the prompt phase with two or more rows per run on average. */
    static boolean useTiles(Phase ph, int rows, int runs, int headDim) {
        return ph == Phase.PROMPT && headDim <= 256 && rows >= 2 * runs && !"false".equals(System.getProperty("fathom.cuda.tiledAttention"));
    }
}
