package dev.fathom.cuda;

import java.util.List;
import java.util.Map;

import dev.fathom.cuda.SbiSplitK.Plan;
import static dev.fathom.cuda.SbiSplitK.WIDE_KERNEL;
import static dev.fathom.cuda.SbiSplitK.fixed;
import static dev.fathom.cuda.SbiSplitK.kTiles;
import static dev.fathom.cuda.SbiSplitK.rowTiles;
import static dev.fathom.cuda.SbiSplitK.smem;

/**
 * The catalogue of the TMA-fed split-K kernels (tma.cuh) that {@link SbiSplitK} plans and launches: each kernel's shape
 * (pipeline stages, tiles, warps, chunks per stage, flags), what follows from it (stage bytes, threads, static and
 * dynamic shared memory, blocks per multiprocessor), its trace variant, and the stream-K kernels' partition of a matrix
 * over a grid (mirroring tma.cuh's smk_start / smk_block) and its fit in {@link StreamKSpace}.
 */
final class TmaKernels {
    private TmaKernels() {}

    /**
     * Experiments over row-major rows fed by the Tensor Memory Accelerator (tma.cuh): 128-row x 64-column weight boxes and
     * the activations beside them through a shared-memory pipeline of 4, 8 or 12 stages (18 KB each), one producer warp,
     * no staging pass; the split-K kernels' cluster reduction when C > 1. The sbimmh kernels take 64-row boxes with 4
     * consumer warps (10 KB a stage); sbimmd (128-row boxes) and sbimme (64-row boxes) put two consumer warps on each
     * 16-row tile, each multiplying half of every stage's 64 columns; sbimmw (128-row boxes) and sbimmv (64-row boxes)
     * wait on and free two 64-column chunks a stage; sbimmt4p and sbimmh8p prefetch their tensor maps at entry; the
     * sbimm*l kernels let the next kernel launch only after their last stage; sbimmb4 takes 256-row boxes (16 consumer warps).
     * CudaBench part tma. Each is a TmaShape: pipeline stages, 16-row tiles per block, consumer warps per tile, 64-column
     * chunks per stage, whether tma.cuh also builds its trace variant ({@link #traceName}), and its flags ({@link #tmaFlags}).
     */
    private record TmaShape(String name, int stages, int warps, int perTile, int chunks, boolean traced, int flags) {
        TmaShape(String name, int stages, int warps, int perTile, int chunks, boolean traced) { this(name, stages, warps, perTile, chunks, traced, 0); }
    }
    /**
     * TmaShape flags, tma.cuh's FL: the tensor maps prefetched at entry; the next kernel let in (PDL) after the last stage, not at entry;
     * and (no FL bit: a kernel of tma.cuh's sbi_mmk) the work cut evenly over a grid of blocks per multiprocessor, stream-K ({@link #streamK}),
     * with the pieces added by the block that owns each row group, flagged mid-run instead of ticketed at the end ({@link #streamKOwner});
     * and (tma.cuh's MMT_NOTRIG) no early launch of the next kernel at all: it enters once the grid has ended.
     */
    static final int MAPS_PREFETCHED = 1, LATE_TRIGGER = 2, STREAM_K = 4, OWNER = 8, NO_TRIGGER = 16;
    private static final List<TmaShape> TMA_SHAPES = List.of(
            new TmaShape("sbimmt4_bf16_8", 4, 8, 1, 1, true), new TmaShape("sbimmt8_bf16_8", 8, 8, 1, 1, true),
            new TmaShape("sbimmt12_bf16_8", 12, 8, 1, 1, false), new TmaShape("sbimmh8_bf16_8", 8, 4, 1, 1, true),
            new TmaShape("sbimmh12_bf16_8", 12, 4, 1, 1, false), new TmaShape("sbimmd4_bf16_8", 4, 8, 2, 1, true),
            new TmaShape("sbimmd8_bf16_8", 8, 8, 2, 1, false), new TmaShape("sbimme12_bf16_8", 12, 4, 2, 1, true),
            new TmaShape("sbimmw2_bf16_8", 2, 8, 1, 2, false), new TmaShape("sbimmw4_bf16_8", 4, 8, 1, 2, true),
            new TmaShape("sbimmv6_bf16_8", 6, 4, 1, 2, true),
            // the same never letting the next kernel in early (tma.cuh's MMT_NOTRIG): it launches when the grid has ended
            new TmaShape("sbimmv6n_bf16_8", 6, 4, 1, 2, false, NO_TRIGGER),
            // tma.cuh's flags: the tensor maps prefetched at entry; the next kernel let in after the last stage
            new TmaShape("sbimmt4p_bf16_8", 4, 8, 1, 1, true, MAPS_PREFETCHED), new TmaShape("sbimmh8p_bf16_8", 8, 4, 1, 1, false, MAPS_PREFETCHED),
            new TmaShape("sbimmt4l_bf16_8", 4, 8, 1, 1, false, LATE_TRIGGER), new TmaShape("sbimmh8l_bf16_8", 8, 4, 1, 1, false, LATE_TRIGGER),
            new TmaShape("sbimmh12l_bf16_8", 12, 4, 1, 1, false, LATE_TRIGGER),
            // the decode step's wide and gated kernels never letting the next kernel in early
            new TmaShape("sbimmt4pn_bf16_8", 4, 8, 1, 1, false, MAPS_PREFETCHED | NO_TRIGGER),
            new TmaShape("sbimmq4pn_bf16_8", 4, 12, 1, 1, false, MAPS_PREFETCHED | NO_TRIGGER),
            // 256-row boxes: 16 consumer warps, one block per multiprocessor
            new TmaShape("sbimmb4_bf16_8", 4, 16, 1, 1, true),
            // boxes sized to fill the multiprocessors in one wave: 96 rows (6 consumer warps), 192 (12), 256; maps prefetched
            new TmaShape("sbimms4p_bf16_8", 4, 6, 1, 1, false, MAPS_PREFETCHED), new TmaShape("sbimms6p_bf16_8", 6, 6, 1, 1, false, MAPS_PREFETCHED),
            new TmaShape("sbimmq4p_bf16_8", 4, 12, 1, 1, false, MAPS_PREFETCHED), new TmaShape("sbimmb4p_bf16_8", 4, 16, 1, 1, false, MAPS_PREFETCHED),
            // stream-K (tma.cuh's sbi_mmk): 128-row boxes in 4 stages (two blocks per multiprocessor) and 8 (one), 64-row in 8 (two)
            new TmaShape("sbimmk4p_bf16_8", 4, 8, 1, 1, true, MAPS_PREFETCHED | STREAM_K), new TmaShape("sbimmk8p_bf16_8", 8, 8, 1, 1, true, MAPS_PREFETCHED | STREAM_K),
            new TmaShape("sbimmkh8p_bf16_8", 8, 4, 1, 1, false, MAPS_PREFETCHED | STREAM_K),
            // stream-K with owners (sbi_mmk's OWN): one block per multiprocessor (132 registers a thread)
            new TmaShape("sbimmo4p_bf16_8", 4, 8, 1, 1, true, MAPS_PREFETCHED | STREAM_K | OWNER),
            new TmaShape("sbimmo8p_bf16_8", 8, 8, 1, 1, false, MAPS_PREFETCHED | STREAM_K | OWNER));
    static final List<String> TMA_KERNELS = TMA_SHAPES.stream().map(TmaShape::name).toList();
    /**
     * The TMA kernels writing a timeline of each block to fathom_tma_trace and fathom_tma_ring (tma.cuh; CudaBench parts
     * tmatrace and steptrace): the traced kernels of {@link #TMA_KERNELS} with the trace on, named by {@link #traceName}.
     */
    static final List<String> TMA_TRACE_KERNELS = TMA_SHAPES.stream().filter(TmaShape::traced).map(t -> traceName(t.name())).toList();
    /** Every TMA kernel and trace variant by name (a trace variant has its kernel's shape). */
    private static final Map<String, TmaShape> TMA = java.util.stream.Stream.concat(
                    TMA_SHAPES.stream().map(t -> Map.entry(t.name(), t)),
                    TMA_SHAPES.stream().filter(TmaShape::traced).map(t -> Map.entry(traceName(t.name()), t)))
            .collect(java.util.stream.Collectors.toUnmodifiableMap(Map.Entry::getKey, Map.Entry::getValue));

    /** The name of a TMA kernel's trace variant: sbimmt4_bf16_8 -> sbimmt4t_bf16_8. */
    static String traceName(String kernel) { return kernel.replace("_bf16_8", "t_bf16_8"); }

    /** Bytes of the 8 x 64 float activation box of a TMA stage (tma.cuh). */
    private static final int TMA_X_BYTES = 8 * 64 * 4;
    /** Shared memory of a multiprocessor that blocks can use (sm_90), and what the driver reserves for each block. */
    private static final int SM_SMEM = 228 * 1024, BLOCK_RESERVED = 1024;

    /** A field of TMA kernel {@code kernel}'s shape, {@code none} for any other kernel. */
    private static int tmaField(String kernel, java.util.function.ToIntFunction<TmaShape> field, int none) {
        TmaShape t = TMA.get(kernel);
        return t == null ? none : field.applyAsInt(t);
    }

    /** Pipeline stages of a TMA kernel, 0 for any other. */
    static int tmaStages(String kernel) { return tmaField(kernel, TmaShape::stages, 0); }

    /** 16-row weight tiles of a block: 4 for the sbimmh, sbimme and sbimmv kernels, 16 for sbimmb, 8 for every other split-K kernel. */
    static int tileWarps(String kernel) { return tmaField(kernel, TmaShape::warps, 8); }

    /** A TMA kernel's flags (tma.cuh's FL): {@link #MAPS_PREFETCHED}, {@link #LATE_TRIGGER}, {@link #NO_TRIGGER}, {@link #STREAM_K}; 0 for any other kernel. */
    static int tmaFlags(String kernel) { return tmaField(kernel, TmaShape::flags, 0); }

    /**
     * Whether {@code kernel} is a stream-K TMA kernel (tma.cuh's sbi_mmk): (row group, 64-column chunk) units cut evenly over
     * a grid without clusters, partial sums met in {@link StreamKSpace}. Its Plan's {@code cluster} is the blocks per
     * multiprocessor it was planned with (0: a grid given outright, {@link #streamKGrid}); the launch has no cluster.
     */
    static boolean streamK(String kernel) { return (tmaFlags(kernel) & STREAM_K) != 0; }

    /**
     * Whether a stream-K kernel adds each row group's pieces in the block that owns it (tma.cuh's sbi_mmk with OWN): the
     * block streaming the row group's first chunk, whose part of it ends its run ({@link #streamKOwner}). The later blocks
     * flag their pieces mid-run, one flag per workspace slot and consumer warp, and the owner spins on them, so every
     * block of its grid must be resident at once.
     */
    static boolean streamKOwnedPieces(String kernel) { return (tmaFlags(kernel) & OWNER) != 0; }

    /** The block owning row group {@code rg} of {@code nc} chunks: the one that streams its first chunk. */
    static long streamKOwner(long rg, long nc, long units, long grid) { return streamKBlock(rg * nc, units, grid); }

    /** A stream-K kernel's work units over {@code s}: row groups (16 x tileWarps rows) x 64-column chunks of K. */
    static long streamKUnits(String kernel, SbiLayout.Shape s) {
        int tw = tileWarps(kernel);
        return (long) ((rowTiles(s) + tw - 1) / tw) * (kTiles(s) / 4);
    }

    /** A stream-K kernel's launch over exactly {@code grid} blocks (at most one per unit): the checks' small grids. */
    static Plan streamKGrid(String kernel, SbiLayout.Shape s, int rows, int grid) {
        if (!streamK(kernel)) throw new IllegalArgumentException(kernel + " is no stream-K kernel");
        fixed(kernel, s, rows, 1, 1);   // the layout check
        return new Plan(kernel, 0, (int) Math.max(1, Math.min(grid, streamKUnits(kernel, s))), smem(kernel, s, rows, 1));
    }

    /** The first unit of block {@code b} of {@code grid} over {@code units} (tma.cuh's smk_start): blocks differ by at most one unit. */
    static long streamKStart(long b, long units, long grid) {
        long q = units / grid, r = units % grid;
        return b * q + Math.min(b, r);
    }

    /** The block of {@code grid} that streams unit {@code u} of {@code units} (tma.cuh's smk_block; grid <= units). */
    static long streamKBlock(long u, long units, long grid) {
        long q = units / grid, r = units % grid;
        return u < r * (q + 1) ? u / (q + 1) : r + (u - r * (q + 1)) / q;
    }

    /** Bytes of one workspace slot of a stream-K kernel (tma.cuh's SLOT floats): a block's sums of a row group, then 8 row sums of x^2. */
    static long streamKSlotBytes(String kernel) { return 4L * (tileWarps(kernel) * 128 + 8); }

    /**
     * Why a stream-K launch of {@code blocks} blocks over {@code s} does not fit {@link StreamKSpace} (it needs a slot per
     * row group and block, row groups + blocks in all, and a ticket per row group), or null when it does.
     */
    static String streamKRefusal(String kernel, SbiLayout.Shape s, int blocks) {
        int tw = tileWarps(kernel);
        long groups = (rowTiles(s) + tw - 1) / tw, slots = groups + blocks;
        long tickets = streamKOwnedPieces(kernel) ? slots * tw : groups;   // owners: a flag per slot and consumer warp
        if (slots * streamKSlotBytes(kernel) <= StreamKSpace.BYTES && tickets <= StreamKSpace.TICKETS) return null;
        return kernel + " over " + s.n() + " x " + s.k() + " in " + blocks + " blocks needs " + slots + " workspace slots of "
                + streamKSlotBytes(kernel) + " bytes and " + tickets + " tickets, beyond its " + (StreamKSpace.BYTES >> 20) + " MB and "
                + StreamKSpace.TICKETS + "; use " + WIDE_KERNEL + " for this shape";
    }

    /** 64-column chunks per pipeline stage of a TMA kernel (tma.cuh's CPS): 2 for sbimmw and sbimmv, else 1. */
    static int stageChunks(String kernel) { return tmaField(kernel, TmaShape::chunks, 1); }

    /** Bytes of one stage of a TMA kernel: per chunk, its 16 x tileWarps-row x 64-column BF16 weight box and the activation box. */
    static int tmaStageBytes(String kernel) { return stageChunks(kernel) * (tileWarps(kernel) * 16 * 64 * 2 + TMA_X_BYTES); }

    /** Consumer warps per 16-row tile of a TMA kernel (tma.cuh's KS): 2 for sbimmd and sbimme, else 1. */
    static int warpsPerTile(String kernel) { return tmaField(kernel, TmaShape::perTile, 1); }

    /**
     * Static shared memory of a TMA kernel, as ptxas reports it: sbi_mmt's 16 x 8 sums of at least 8 tiles and, with two
     * consumer warps per tile, the second k half's sums of each tile (512 bytes a tile each), and 1 KB for the rest.
     */
    static int tmaStaticSmem(String kernel) {
        int tw = tileWarps(kernel);
        return (Math.max(8, tw) + (warpsPerTile(kernel) > 1 ? tw : 0)) * 512 + 1024;
    }

    /** Threads of a TMA kernel's block: its consumer warps and the producer warp. */
    static int tmaThreads(String kernel) { return 32 * tileWarps(kernel) * warpsPerTile(kernel) + 32; }

    /**
     * Blocks of a TMA kernel that fit on one multiprocessor at once: shared memory bounds them, never their 160-544 threads,
     * except an owner stream-K kernel's registers.
     */
    static int tmaBlocksPerSm(String kernel) {
        if (streamKOwnedPieces(kernel)) return 1;   // 132 registers a thread (ptxas, sm_90): one block of 288 threads
        return Math.max(1, Math.min(7, SM_SMEM / (tmaStages(kernel) * tmaStageBytes(kernel) + 1024 + tmaStaticSmem(kernel) + BLOCK_RESERVED)));
    }
}
