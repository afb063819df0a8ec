package dev.fathom.cuda;

/**
 * Launch planning of the {@code pgemm_bf16_*} kernels (native/src/main/cuda/pgemm.cuh): y (+)= x · Wᵀ for bf16 x and
 * W over 8..128 rows, where a GEMM costs what it takes to read W once and cuBLAS leaves multiprocessors idle.
 *
 * <p>Each output tile (BM rows x {@link #BN} columns) has its K steps of {@link #BK} split into {@code splits}
 * consecutive ranges; a block computes one (tile, range) unit, and the units of a tile are summed in range order by
 * whichever finishes last (a ticket per tile), so the result is the same whatever the order the blocks ran in.
 * {@link #splits} picks the split that fills whole waves of the card: 32 tiles of a 4096-wide projection with K =
 * 4096 become 128 units of 16 K steps on a 132-SM H100, not 32 blocks of 64 steps.
 *
 * <p>Pure host logic, tested in CI ({@code PgemmTest}); {@link PromptGemm} launches.
 */
final class Pgemm {
    /** Output columns per tile, K per step, threads per block: fixed by the kernel. */
    static final int BN = 128, BK = 64, THREADS = 256;
    /** Most splits of one tile's K. */
    static final int MAX_SPLITS = 32;
    /** Tickets the caller allocates (one per output tile): at most this many tiles per launch. */
    static final int MAX_TICKETS = 1 << 14;

    private Pgemm() {}

    /** The compiled kernels: rows per tile and depth of the cp.async ring. */
    enum Kernel {
        R32x4(32, 4), R64x4(64, 4), R128x3(128, 3), R128x4(128, 4);

        final int bm, stages;

        Kernel(int bm, int stages) {
            this.bm = bm;
            this.stages = stages;
        }

        String symbol() { return "pgemm_bf16_" + bm + "x" + stages; }

        /** Dynamic shared memory of one block: the ring of x and W stage tiles (bf16). */
        int smem() { return stages * (bm + BN) * BK * 2; }

        /** The kernel named {@code s} ({@link #symbol()} or its suffix, e.g. "128x3"). */
        static Kernel of(String s) {
            for (Kernel k : values()) if (k.symbol().equals(s) || k.symbol().endsWith("_" + s)) return k;
            throw new IllegalArgumentException("no pgemm kernel '" + s + "': use 32x4, 64x4, 128x3 or 128x4");
        }
    }

    /** A launch: grid (tilesN * splits, tilesM), {@link #THREADS} threads, {@link Kernel#smem()} bytes of shared memory. */
    record Plan(Kernel kernel, int tilesN, int tilesM, int splits, int kIters) {
        int gridX() { return tilesN * splits; }

        /** Units (blocks) of the launch. */
        long units() { return (long) gridX() * tilesM; }

        /** Workspace bytes for the partial tiles (none when K is not split). */
        long wsBytes() { return splits == 1 ? 0 : 4L * units() * kernel.bm * BN; }

        int tickets() { return tilesN * tilesM; }

        /** K steps of the longest range. */
        int itersPerUnit() { return (kIters + splits - 1) / splits; }
    }

    /** The default kernel for {@code rows}: the smallest tile that holds them, 128 rows (4-stage ring) above 64. */
    static Kernel kernelFor(int rows) {
        return rows <= 32 ? Kernel.R32x4 : rows <= 64 ? Kernel.R64x4 : Kernel.R128x4;
    }

    /**
     * Whether the kernels can take these operands: K, the row strides and the addresses fit the 16-byte loads (K and
     * strides multiples of 8 elements, pointers of 16 bytes), and the output row stride holds n.
     */
    static boolean operandsFit(int n, int k, int rows, long w, int ldw, long x, int ldx, int ldy) {
        return n > 0 && k > 0 && rows > 0 && k % 8 == 0 && ldw % 8 == 0 && ldx % 8 == 0 && ldw >= k && ldx >= k && ldy >= n
                && (w & 15) == 0 && (x & 15) == 0;
    }

    /**
     * The split of {@code kIters} K steps for {@code tiles} output tiles on {@code slots} concurrent blocks (multiprocessors
     * x blocks per multiprocessor) that finishes first by the model: waves x (steps per unit + one for the partials'
     * write and sum when split), at most {@code maxSplits}. Ties go to the fewer splits.
     */
    static int splits(int tiles, int kIters, int slots, int maxSplits) {
        int best = 1;
        long bestCost = Long.MAX_VALUE;
        int top = Math.max(1, Math.min(Math.min(maxSplits, MAX_SPLITS), kIters));
        for (int s = 1; s <= top; s++) {
            long units = (long) tiles * s, waves = (units + slots - 1) / slots;
            long cost = waves * ((kIters + s - 1) / s + (s > 1 ? 1 : 0));
            if (cost < bestCost) {
                bestCost = cost;
                best = s;
            }
        }
        return best;
    }

    /**
     * The launch for y[rows, n] (+)= x[rows, k] · W[n, k]ᵀ on kernel {@code kn} with {@code slots} concurrent blocks,
     * the split capped so that the partials fit {@code wsCap} bytes; {@code forcedSplits} > 0 sets it (clamped to the K
     * steps). Null when the tiles would need more tickets than {@link #MAX_TICKETS}.
     */
    static Plan plan(Kernel kn, int n, int k, int rows, int slots, long wsCap, int forcedSplits) {
        int tilesN = (n + BN - 1) / BN, tilesM = (rows + kn.bm - 1) / kn.bm, kIters = (k + BK - 1) / BK;
        if ((long) tilesN * tilesM > MAX_TICKETS) return null;
        long perSplit = 4L * tilesN * tilesM * kn.bm * BN;   // workspace bytes per unit of split
        int maxByWs = (int) Math.max(1, Math.min(MAX_SPLITS, wsCap / perSplit));
        int s = forcedSplits > 0 ? Math.min(forcedSplits, kIters) : splits(tilesN * tilesM, kIters, Math.max(1, slots), maxByWs);
        if (s > 1 && perSplit * s > wsCap) s = 1;
        return new Plan(kn, tilesN, tilesM, s, kIters);
    }
}
