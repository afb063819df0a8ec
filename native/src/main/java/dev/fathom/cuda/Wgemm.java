package dev.fathom.cuda;

import java.lang.foreign.MemorySegment;

/**
 * The prompt-phase GEMM on Hopper's warpgroup MMA ({@code wgemm_sm90a.cu}, the sm_90a image): {@code y[t][o] (+)= x[t] · W[o]}
 * for bf16 row-major weights and activations, fp32 out, as {@link Cublas#gemmBf16} computes it, 64 columns of K a stage
 * (TMA, 128-byte swizzle), K split when the tiles are too few to fill the machine (the splits meet in y through vector
 * reductions onto what y holds: zeros, or the residual when accumulating).
 * <ul>
 *   <li>{@link #SWAPPED}, the default form, and {@link #SWAPPED64}: the tokens as wgmma's M operand (128- or 64-token tiles),
 *       the weights as N at a width the planner picks per matrix, so a 128-row multiply runs as one wave of blocks that
 *       each stream a whole K where a width gives one.
 *   <li>With the weights as the M operand (128 weight rows × 128 tokens): {@link #KERNEL} (a block per tile and split),
 *       {@link #PERSISTENT} (a block per multiprocessor walking the tiles), {@link #CLUSTER} (a tile's splits one
 *       cluster, summed in shared memory) and {@link #WIDE_TILE} (256-row tiles). Slower than cuBLAS at 128 rows
 *       (twenty-ninth session: their loads alone took as long as they did).
 * </ul>
 *
 * <p>This class plans the grid and checks what the kernels need; {@link PromptGemm} decides where they run instead of
 * cuBLAS ({@code -Dfathom.cuda.wgemm}, on by default again since the thirty-first session; {@code wgemmKernel}, {@code
 * wgemmShortKernel}, {@code wgemmMinRows}, {@code wgemmMaxRows}, {@code wgemmMinStream}, {@code wgemmStagger}, {@code
 * wgemmSplits}, {@code wgemmGated}).
 *
 * <p>The swapped forms also take the MLP's gated pairs whole ({@link #launchGated}): act(gate) · up computed from the
 * accumulators and written as the down projection's input, without the fp32 product and the pass that reads it back.
 */
final class Wgemm {
    /** A block per unit (tile × split). */
    static final String KERNEL = "wgemm_bf16";
    /** Persistent: a block per multiprocessor walks the units, its epilogue overlapping the next unit's loads. */
    static final String PERSISTENT = "wgemmp_bf16";
    /** A block per unit, a tile's K splits one thread-block cluster that sums them in distributed shared memory. */
    static final String CLUSTER = "wgemmc_bf16";
    /**
     * The first form with 256-row weight tiles: each consumer warpgroup keeps two 64-row accumulators, and 4 stages of
     * 48 KB put twice the weight bytes in flight per multiprocessor for the same token bytes.
     */
    static final String WIDE_TILE = "wgemm2_bf16";
    /**
     * Tokens as the M operand, weights as the N operand: tiles of 128 tokens × a weight width the planner picks from
     * {@link #SWAPPED_WIDTHS} (the function {@code wgemmt_bf16_<width>}), so that a 128-row multiply runs as one wave of
     * blocks that each stream a whole K, as cuBLAS runs it (twenty-ninth session).
     */
    static final String SWAPPED = "wgemmt_bf16";
    /**
     * {@link #SWAPPED} with 64-token tiles and one consumer warpgroup (256 threads): a narrow matrix gets a wave of
     * whole-K blocks from its token tiles (the 4096 × 4096 output projection at 128 rows: 64 slabs 64 wide × 2 token
     * tiles = 128 blocks, as cuBLAS's 64 × 64 tiles). Correct on its first run (thirtieth session, H100) and 0.89× cuBLAS on
     * that multiply alone, 0.97–1.04× on the others; through it the model's output projections took 1010 against 818 µs.
     */
    static final String SWAPPED64 = "wgemmt64_bf16";
    /** The weight widths of {@link #SWAPPED}'s and {@link #SWAPPED64}'s tiles, widest first (each a multiple of 8, wgmma's N step). */
    static final int[] SWAPPED_WIDTHS = {192, 176, 128, 96, 64};
    static final java.util.List<String> KERNELS = java.util.List.of(KERNEL, PERSISTENT, CLUSTER, WIDE_TILE, SWAPPED, SWAPPED64);

    /** Whether {@code kernel} is a swapped form (tokens as the M operand; its function carries the weight width). */
    static boolean swapped(String kernel) { return kernel.equals(SWAPPED) || kernel.equals(SWAPPED64); }

    /** Tokens of {@code kernel}'s tile: 64 for {@link #SWAPPED64}, else {@link #BN}. */
    static int tileTokens(String kernel) { return kernel.equals(SWAPPED64) ? 64 : BN; }

    /** Threads of {@code kernel}'s blocks: a producer warpgroup and one consumer warpgroup per 64 tokens of its tile. */
    static int threads(String kernel) { return kernel.equals(SWAPPED64) ? 256 : THREADS; }
    /**
     * Timing probes of {@link #KERNEL} (their output is garbage; CudaBench part wgprobe only): its loads with no MMAs,
     * and its MMAs over stages never loaded.
     */
    static final java.util.List<String> PROBES = java.util.List.of("wgemm_probe_loads", "wgemm_probe_mma");
    /** The largest portable cluster: the most K splits {@link #CLUSTER} takes. */
    static final int MAX_CLUSTER = 8;
    /** Weight rows, tokens and K columns of a block's tile, and the stages in flight (wgemm_sm90a.cu's WG_*, WGP_STAGES). */
    static final int BM = 128, BN = 128, BK = 64, STAGES = 6, PERSISTENT_STAGES = 4, THREADS = 384;
    /** Floats per staged token row of the epilogue (64 outputs + 4). */
    static final int EPI_LD = 68;
    /** Dynamic shared memory of {@link #KERNEL}: 1 KB of alignment, the stages, a full and an empty barrier per stage. */
    static final int SMEM = smem(KERNEL);
    /** The fewest 64-column K blocks a split takes (fewer leave the pipeline filling and draining). */
    static final int MIN_SPLIT_BLOCKS = 4;
    static final int MAX_SPLITS = 16;
    /** Wave efficiency below which the planner splits K further. */
    static final double GOOD_WAVES = 0.9;

    /**
     * Stages of a swapped form of {@code tokens}-token tiles at weight width {@code nw} (wgemm_sm90a.cu's wgt_stages): as
     * many as {@link SbiSplitK#MAX_SMEM} less 1.25 KB holds, at most 8 (12 with 64-token tiles).
     */
    static int swappedStages(int nw, int tokens) {
        return Math.min(tokens == BN ? 8 : 12, (SbiSplitK.MAX_SMEM - 1280) / ((tokens + nw) * BK * 2));
    }

    /** Dynamic shared memory of a launch of {@code kernel} with weight tiles of {@code tileRows} rows. */
    static int smem(String kernel, int tileRows) {
        if (!swapped(kernel)) return smem(kernel);
        int tokens = tileTokens(kernel), stages = swappedStages(tileRows, tokens);
        return 1024 + stages * (tokens + tileRows) * BK * 2 + 2 * stages * 8;
    }

    /** The kernel function a launch of {@code kernel} under {@code p} runs: a swapped form's carries its weight width. */
    static String function(String kernel, Plan p) { return swapped(kernel) ? kernel + "_" + p.tileRows() : kernel; }

    /**
     * Dynamic shared memory of {@code kernel}: the persistent one keeps its epilogue's 2 × 128 × 68 floats beside fewer
     * stages; for {@link #SWAPPED} the most of its widths.
     */
    static int smem(String kernel) {
        if (swapped(kernel)) return java.util.Arrays.stream(SWAPPED_WIDTHS).map(w -> smem(kernel, w)).max().orElseThrow();
        int stages = stages(kernel);
        return 1024 + stages * (bm(kernel) + BN) * BK * 2 + (kernel.equals(PERSISTENT) ? 2 * BN * EPI_LD * 4 : 0) + 2 * stages * 8;
    }

    /** Weight rows of {@code kernel}'s tile: 256 for {@link #WIDE_TILE}, else {@link #BM}. */
    static int bm(String kernel) { return kernel.equals(WIDE_TILE) ? 2 * BM : BM; }

    /** Stages in flight of {@code kernel} (wgemm_sm90a.cu's WG_STAGES, WGP_STAGES, WG2_STAGES). */
    static int stages(String kernel) { return kernel.equals(PERSISTENT) || kernel.equals(WIDE_TILE) ? PERSISTENT_STAGES : STAGES; }

    /** Bytes of {@code kernel}'s shared memory that its epilogue stages the accumulators in: 128 tokens × 68 floats per 64-row slab. */
    static int epilogueBytes(String kernel) { return bm(kernel) / 64 * BN * EPI_LD * 4; }

    /**
     * The fewest 64-column blocks of K each block of a multiply streams for {@link PromptGemm} to send it here by default
     * ({@code -Dfathom.cuda.wgemmMinStream}): shorter streams (the 4096 x 4096 output projection split in halves at 128
     * rows: 0.74x cuBLAS) stay on cuBLAS.
     */
    static final int MIN_STREAM_BLOCKS = 64;

    /** The kernel {@code -Dfathom.cuda.wgemmKernel} names (default {@link #SWAPPED}, since the twenty-ninth session). */
    static String kernel() { return CudaSettings.choice("fathom.cuda.wgemmKernel", SWAPPED, KERNELS.toArray(String[]::new)); }

    /**
     * The form {@code -Dfathom.cuda.wgemmShortKernel} names for the multiplies whose plan under {@link #kernel()} streams
     * too little K a block (PromptGemm's {@code wgemmMinStream}), or null (default: those stay on cuBLAS). {@link
     * #SWAPPED64} is the candidate: it gives the 4096 × 4096 output projection whole-K blocks from two token tiles.
     */
    static String shortKernel() { return CudaSettings.choice("fathom.cuda.wgemmShortKernel", null, KERNELS.toArray(String[]::new)); }

    /** The most {@link #stagger()} takes: 64-column K blocks between neighbouring slabs' starting points. */
    static final int MAX_STAGGER = 64;

    /**
     * How many 64-column K blocks apart neighbouring weight slabs of a swapped form start their walk along K ({@code
     * -Dfathom.cuda.wgemmStagger}, 0..{@link #MAX_STAGGER}, default 0: all at K = 0). Without it every block of a wave
     * reads the same 128 bytes of each of its rows at once, rows 2·K bytes apart; with it the wave reads spread columns
     * (thirtieth session's experiment: whether that pattern keeps the 128-row multiplies at 2.0–2.4 TB/s against a 3.1
     * TB/s read ceiling; no stagger of 1, 3, 8 or 21 moved any shape beyond noise, so it does not). The first forms
     * ignore it.
     */
    static int stagger() { return CudaSettings.integer("fathom.cuda.wgemmStagger", 0, 0, MAX_STAGGER); }

    /**
     * The 64-column K block that weight slab {@code wTile}'s {@code g}-th stage loads, of a split covering blocks
     * [{@code kb0}, {@code kb1}), under {@code stagger} (wgemm_sm90a.cu's wgemmt producer, mirrored for the tests).
     */
    static int staggeredBlock(int wTile, int stagger, int kb0, int kb1, int g) {
        int nkb = kb1 - kb0, rot = stagger > 0 && nkb > 0 ? (int) ((long) wTile * stagger % nkb) : 0;
        return kb0 + (g + rot < nkb ? g + rot : g + rot - nkb);
    }

    private Wgemm() {}

    /** Blocks of a launch of {@code kernel}: one per unit, or for the persistent kernel at most one per multiprocessor. */
    static int grid(String kernel, Plan p, int sms) { return kernel.equals(PERSISTENT) ? Math.min(p.blocks(), sms) : p.blocks(); }

    /**
     * A launch: weight tiles (of {@code tileRows} weight rows) × token tiles × K splits blocks, {@code kBlocks} 64-column
     * blocks of K divided among the splits.
     */
    record Plan(int wTiles, int tTiles, int kBlocks, int splits, int tileRows) {
        Plan(int wTiles, int tTiles, int kBlocks, int splits) { this(wTiles, tTiles, kBlocks, splits, BM); }

        int blocks() { return wTiles * tTiles * splits; }

        /** Blocks over the blocks that full waves of {@code sms} (one block per multiprocessor) could hold. */
        double waveEfficiency(int sms) { return efficiency(blocks(), sms); }
    }

    static double efficiency(int blocks, int sms) {
        int waves = (blocks + sms - 1) / sms;
        return blocks / (double) (waves * sms);
    }

    /**
     * The plan for {@code n} outputs, K = {@code k}, {@code rows} tokens on {@code sms} multiprocessors: the fewest K splits
     * (each at least {@link #MIN_SPLIT_BLOCKS} blocks of K) whose blocks fill their waves to {@link #GOOD_WAVES}, else the
     * best filled; {@code forceSplits} > 0 takes that many (capped to what K allows).
     */
    static Plan plan(int n, int k, int rows, int sms, int forceSplits) { return plan(n, k, rows, sms, forceSplits, MAX_SPLITS); }

    /**
     * The plan for {@code kernel}: at most {@link #MAX_CLUSTER} splits for {@link #CLUSTER}, whose splits are a cluster;
     * 256-row weight tiles for {@link #WIDE_TILE}.
     */
    static Plan plan(String kernel, int n, int k, int rows, int sms, int forceSplits) {
        if (swapped(kernel)) return swappedPlan(n, k, rows, sms, forceSplits, tileTokens(kernel));
        return plan(n, k, rows, sms, forceSplits, kernel.equals(CLUSTER) ? MAX_CLUSTER : MAX_SPLITS, bm(kernel));
    }

    /**
     * {@link #SWAPPED}'s plan: the fewest K splits, and at that split the widest of {@link #SWAPPED_WIDTHS}, whose blocks
     * fill their waves to {@link #GOOD_WAVES} (else the best filled, fewest splits and widest first); {@code forceSplits}
     * > 0 fixes the split and picks the width alone. llama-7b at 128 rows on 132 multiprocessors: QKV 96 wide, no split
     * (128 blocks); gate/up pairs 176 wide, no split (126); the 4096-row outputs 64 wide, 2 splits (128).
     */
    static Plan swappedPlan(int n, int k, int rows, int sms, int forceSplits, int tokens) {
        if (n < 1 || k < 1 || rows < 1 || sms < 1) throw new IllegalArgumentException("wgemm plan: n, k, rows and sms must be positive (" + n + ", " + k + ", " + rows + ", " + sms + ")");
        int tt = (rows + tokens - 1) / tokens, kb = (k + BK - 1) / BK;
        int lo = 1, hi = Math.max(1, Math.min(MAX_SPLITS, kb / MIN_SPLIT_BLOCKS));
        if (forceSplits > 0) lo = hi = Math.min(Math.min(forceSplits, MAX_SPLITS), Math.max(1, kb));
        Plan best = null;
        double bestEff = -1;
        for (int s = lo; s <= hi; s++)
            for (int nw : SWAPPED_WIDTHS) {
                int wt = (n + nw - 1) / nw;
                double e = efficiency(wt * tt * s, sms);
                if (e >= GOOD_WAVES) return new Plan(wt, tt, kb, s, nw);
                if (e > bestEff + 1e-9) { bestEff = e; best = new Plan(wt, tt, kb, s, nw); }
            }
        return best;
    }

    /** {@link #plan(int, int, int, int, int)} with at most {@code maxSplits} splits. */
    static Plan plan(int n, int k, int rows, int sms, int forceSplits, int maxSplits) { return plan(n, k, rows, sms, forceSplits, maxSplits, BM); }

    private static Plan plan(int n, int k, int rows, int sms, int forceSplits, int maxSplits, int bm) {
        if (n < 1 || k < 1 || rows < 1 || sms < 1) throw new IllegalArgumentException("wgemm plan: n, k, rows and sms must be positive (" + n + ", " + k + ", " + rows + ", " + sms + ")");
        int wt = (n + bm - 1) / bm, tt = (rows + BN - 1) / BN, kb = (k + BK - 1) / BK;
        int most = Math.max(1, Math.min(maxSplits, kb / MIN_SPLIT_BLOCKS));
        if (forceSplits > 0) return new Plan(wt, tt, kb, Math.min(Math.min(forceSplits, maxSplits), Math.max(1, kb)));
        int best = 1;
        double bestEff = -1;
        for (int s = 1; s <= most; s++) {
            double e = efficiency(wt * tt * s, sms);
            if (e >= GOOD_WAVES) return new Plan(wt, tt, kb, s);
            if (e > bestEff + 1e-9) { bestEff = e; best = s; }
        }
        return new Plan(wt, tt, kb, best);
    }

    /**
     * Why the kernel cannot take these operands, or null when it can: the tensor maps need 16-byte row strides and
     * addresses (bf16 strides a multiple of 8 elements), the epilogue 16-byte fp32 vectors of y.
     */
    static String refusal(long w, int ldw, long x, int ldx, long y, int ldy) {
        String why = inputRefusal(w, ldw, x, ldx);
        if (why != null) return why;
        if (ldy % 4 != 0) return "wgemm needs an output row stride that is a multiple of 4 floats (" + ldy + ")";
        if ((y & 15) != 0) return "wgemm needs 16-byte aligned weights, activations and output";
        return null;
    }

    /** {@link #refusal}'s part for the operands the tensor maps read. */
    static String inputRefusal(long w, int ldw, long x, int ldx) {
        if (ldw % 8 != 0 || ldx % 8 != 0) return "wgemm needs bf16 row strides that are multiples of 8 (weights " + ldw + ", activations " + ldx + ")";
        if ((w & 15) != 0 || (x & 15) != 0) return "wgemm needs 16-byte aligned weights, activations and output";
        return null;
    }

    /**
     * y[rows, ldy] (+)= x[rows, ldx] · W[n, ldw]ᵀ over K = {@code k} through {@code kernel} ({@link #KERNELS}). With several
     * splits and no accumulation y is zeroed first ({@code rows_prefill} of the main image), since the splits add into it
     * (not for {@link #CLUSTER}, which writes each output once).
     */
    static void launch(String kernel, CudaModule hopper, CudaModule main, long stream, Plan p, long w, int ldw, int n, long x, int ldx, int k,
                       int rows, long y, int ldy, boolean accumulate) {
        launch(kernel, hopper, main, stream, p, w, ldw, n, x, ldx, k, rows, y, ldy, accumulate, 0, false);
    }

    /**
     * {@link #launch(String, CudaModule, CudaModule, long, Plan, long, int, int, long, int, int, int, long, int, boolean)} with
     * the swapped forms' slabs {@code stagger} K blocks apart ({@link #stagger()}) and, with {@code pdl}, a swapped form
     * launched as a programmatic dependent launch ({@link #pdlEnabled()}).
     */
    static void launch(String kernel, CudaModule hopper, CudaModule main, long stream, Plan p, long w, int ldw, int n, long x, int ldx, int k,
                       int rows, long y, int ldy, boolean accumulate, int stagger, boolean pdl) {
        if (stagger < 0 || stagger > MAX_STAGGER) throw new IllegalArgumentException("wgemm stagger must be 0.." + MAX_STAGGER + " K blocks, not " + stagger);
        String why = refusal(w, ldw, x, ldx, y, ldy);
        if (why != null) throw new IllegalArgumentException(why);
        Cuda cu = hopper.cuda();
        boolean cluster = kernel.equals(CLUSTER);
        if (cluster && p.splits() > MAX_CLUSTER)
            throw new IllegalArgumentException(CLUSTER + " takes at most " + MAX_CLUSTER + " K splits (a cluster), not " + p.splits());
        if (p.splits() > 1 && !accumulate && !cluster) {
            long el = (long) rows * n;
            main.launch("rows_prefill", (int) Math.max(1, Math.min((el + 255) / 256, cu.smCount() * 16L)), 1, 256, 0, stream, y, ldy, n, rows, 0L, 0L);
        }
        MemorySegment mw = SbiSplitK.tensorMap(cu, w, Cuda.TMAP_BF16, k, n, 2L * ldw, BK, swapped(kernel) ? p.tileRows() : bm(kernel));
        MemorySegment mx = SbiSplitK.tensorMap(cu, x, Cuda.TMAP_BF16, k, rows, 2L * ldx, BK, tileTokens(kernel));
        if (swapped(kernel))   // the swapped forms take the stagger, the gated epilogue's bias, group, act, outBf16, nOut (none here), then whether launched PDL
            hopper.launch(pdl, 1, function(kernel, p), grid(kernel, p, cu.smCount()), 1, threads(kernel), smem(kernel, p.tileRows()), stream, mw, mx, n, rows,
                    p.kBlocks(), p.splits(), p.wTiles(), p.tTiles(), y, ldy, accumulate ? 1 : 0, stagger, 0L, 0, 0, 0, 0, pdl ? 1 : 0);
        else
            hopper.launch(false, cluster ? p.splits() : 1, function(kernel, p), grid(kernel, p, cu.smCount()), 1, threads(kernel), smem(kernel, p.tileRows()), stream, mw, mx, n, rows,
                    p.kBlocks(), p.splits(), p.wTiles(), p.tTiles(), y, ldy, accumulate ? 1 : 0);
    }

    /**
     * Whether {@code -Dfathom.cuda.wgemmPdl} launches the swapped forms as programmatic dependent launches (default false:
     * written in the thirty-first session with no GPU lent): their producer puts the first stages' weights in flight
     * before the kernel before ends (wgemm_sm90a.cu), so the pipeline fills during the norm before QKV and gate/up, and
     * during gate/up's tail before down. Comparison part {@code wgpdl}.
     */
    static boolean pdlEnabled() { return CudaSettings.flag("fathom.cuda.wgemmPdl", false); }

    /** Stored-row groups of gated pairs the swapped forms' gated epilogue takes: the row-major / SIMT layouts' and the tile layout's. */
    static final java.util.List<Integer> GATED_GROUPS = java.util.List.of(SbiLayout.GROUP, SbiLayout.MMA_GROUP);

    /**
     * Whether {@code -Dfathom.cuda.wgemmGated} has {@link PromptGemm} send the MLP's gated pairs that {@link Wgemm} takes
     * through {@link #launchGated} (default false: written in the thirty-first session with no GPU to run it on; checked
     * by {@code gpu-run.sh checkwg}, timed by {@code pverdict:wgon,wggated}).
     */
    static boolean gatedEnabled() { return CudaSettings.flag("fathom.cuda.wgemmGated", false); }

    /**
     * Why {@code kernel} under {@code p} cannot compute {@code n} gated outputs from {@code stored} stored rows in groups
     * of {@code group} into an output of row stride {@code ldy} (elements), or null: a swapped form, one K split (the
     * pairs' nonlinearity needs the whole sum), a group of {@link #GATED_GROUPS} that divides the stored rows, an even
     * count and stride (pairs of outputs are written together).
     */
    static String gatedRefusal(String kernel, Plan p, int group, int stored, int n, int ldy) {
        if (!swapped(kernel)) return kernel + " has no gated epilogue (the swapped forms do)";
        if (p.splits() != 1) return "the gated epilogue needs one K split, not " + p.splits();
        if (!GATED_GROUPS.contains(group)) return "the gated epilogue takes groups of " + GATED_GROUPS + " stored rows, not " + group;
        if (stored % group != 0) return "the gated epilogue needs whole groups: " + stored + " stored rows in groups of " + group;
        if (p.tileRows() % group != 0) return "a weight slab of " + p.tileRows() + " rows splits a group of " + group;
        if (n % 2 != 0 || ldy % 2 != 0) return "the gated epilogue writes pairs: the outputs and their row stride must be even, not " + n + " and " + ldy;
        if (n > stored / 2) return n + " gated outputs need " + 2 * n + " stored rows, not " + stored;
        return null;
    }

    /**
     * The output column the gated epilogue writes for gate row {@code o} of the stored order (groups of {@code group}:
     * gate rows, then the up rows they pair with), or -1 for an up row; its up row is {@code o + group / 2} (the
     * kernel's wgt_gated2 indices, mirrored for the tests: the inverse of {@code rows_gated}'s).
     */
    static int gatedOutput(int o, int group) {
        int half = group / 2, r = o % group;
        return r < half ? o / group * half + r : -1;
    }

    /**
     * y[rows, ldy] = act(gate + bias) · (up + bias), {@code n} outputs, over the gated pairs of W[stored, ldw] (groups of {@code group}), fp32
     * or bf16 ({@code bf16Out}), through swapped form {@code kernel} under {@code p}: {@code rows_gated}'s result straight
     * from the accumulators. Throws where {@link #refusal} or {@link #gatedRefusal} refuses.
     */
    static void launchGated(String kernel, CudaModule hopper, long stream, Plan p, long w, int ldw, int stored, long x, int ldx, int k,
                            int rows, long y, int n, int ldy, long bias, int group, int act, boolean bf16Out, int stagger, boolean pdl) {
        if (stagger < 0 || stagger > MAX_STAGGER) throw new IllegalArgumentException("wgemm stagger must be 0.." + MAX_STAGGER + " K blocks, not " + stagger);
        String why = inputRefusal(w, ldw, x, ldx);
        if (why == null) why = gatedRefusal(kernel, p, group, stored, n, ldy);
        if (why == null && (y & 7) != 0) why = "the gated epilogue needs an 8-byte aligned output";
        if (why != null) throw new IllegalArgumentException(why);
        Cuda cu = hopper.cuda();
        MemorySegment mw = SbiSplitK.tensorMap(cu, w, Cuda.TMAP_BF16, k, stored, 2L * ldw, BK, p.tileRows());
        MemorySegment mx = SbiSplitK.tensorMap(cu, x, Cuda.TMAP_BF16, k, rows, 2L * ldx, BK, tileTokens(kernel));
        hopper.launch(pdl, 1, function(kernel, p), grid(kernel, p, cu.smCount()), 1, threads(kernel), smem(kernel, p.tileRows()), stream, mw, mx, stored, rows,
                p.kBlocks(), p.splits(), p.wTiles(), p.tTiles(), y, ldy, 0, stagger, bias, group, act, bf16Out ? 1 : 0, n, pdl ? 1 : 0);
    }

    /** Opens the kernels' shared memory beyond 48 KB (once per image). */
    static void prepare(CudaModule hopper) {
        for (String kn : KERNELS)
            if (swapped(kn)) for (int nw : SWAPPED_WIDTHS) hopper.cuda().setMaxDynamicShared(hopper.fn(kn + "_" + nw), smem(kn, nw));
            else hopper.cuda().setMaxDynamicShared(hopper.fn(kn), smem(kn));
        for (String kn : PROBES) hopper.cuda().setMaxDynamicShared(hopper.fn(kn), smem(kn));
    }
}
