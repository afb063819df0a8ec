package dev.fathom.cuda;

import dev.fathom.engine.tensor.DType;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import static dev.fathom.cuda.TmaKernels.*;

/**
 * Host side of the small-batch GEMMs over the tensor-core tile layout that split K over a thread-block cluster
 * (splitk.cuh): 2 to 8 activation rows, one block of 8 warps per 8 row tiles and K slice, the {@code cluster} K
 * slices of a row group in one cluster whose blocks add their partial sums through distributed shared memory (sm_90).
 * Each block stages its slice of the activations once in shared memory as bf16 hi/lo mma fragments, and each warp
 * streams its row tile's weights through a rolling pipeline of register slots. Two layouts: the tensor-core tile
 * layout ({@code sbimmc*}) and the plain row-major rows of the batch-1 GEMV ({@code sbimmr*}), which cuBLAS also
 * reads in place, so on sm_90 one copy of the weights serves every batch size with no unpacking.
 * With a norm weight the RMS norm before the projection runs inside the kernel. The TMA-fed kernels (tma.cuh) are
 * planned and launched here too; their catalogue and the stream-K partition live in {@link TmaKernels}.
 */
final class SbiSplitK {
    private SbiSplitK() {}

    /** Over the tile layout: 4 register slots per warp (the default), 8 slots per warp (2 blocks per multiprocessor). */
    static final List<String> KERNELS = List.of("sbimmc4_bf16_8", "sbimmc_bf16_8");
    /** Over plain row-major rows (256-byte L2 fetches): 2 pairs of k tiles per warp in flight (the default), 4 pairs. */
    static final List<String> ROW_MAJOR_KERNELS = List.of("sbimmr2p_bf16_8", "sbimmr4p_bf16_8");
    /**
     * Experiments over row-major rows (splitk.cuh's XR): no staging, each lane loads its own activations from L1 in
     * the loop (and with a norm, gamma beside them, the row sums of x^2 from warp 0); 2 pairs per warp (2 blocks per
     * multiprocessor) or 4 (1 block). CudaBench part stages.
     */
    static final List<String> XR_KERNELS = List.of("sbimmrx2_bf16_8", "sbimmrx4_bf16_8");
    /**
     * Experiments over row-major rows (splitk.cuh's sbi_mmra): the weights in flight through a per-warp ring of 4 or 8
     * one-KB slots in shared memory (cp.async) instead of registers, the fragments staged as the default kernel does.
     */
    static final List<String> RING_KERNELS = List.of("sbimmra4_bf16_8", "sbimmra8_bf16_8");
    private static final Map<String, Integer> RING_SLOTS = Map.of(RING_KERNELS.get(0), 4, RING_KERNELS.get(1), 8);
    /** Every experiment kernel, in the order CudaBench's stages part prints them. */
    static final List<String> EXPERIMENTS = java.util.stream.Stream.concat(XR_KERNELS.stream(), RING_KERNELS.stream()).toList();

    /** Ring slots per warp of a ring kernel (splitk.cuh's MMRA_KERNEL S), 0 for any other. */
    static int ringSlots(String kernel) { return RING_SLOTS.getOrDefault(kernel, 0); }
    /** What the model runs over each layout unless {@code -Dfathom.cuda.splitKKernel} names another for that layout. */
    static final String DEFAULT_KERNEL = "sbimmc4_bf16_8", DEFAULT_ROW_MAJOR_KERNEL = "sbimmr2p_bf16_8";
    /** Activation rows per launch, at most. */
    static final int MAX_ROWS = 8;
    /** Dynamic shared memory a launch may use (the 227 KB opt-in of sm_90 less the kernel's 4 KB of static memory). */
    static final int MAX_SMEM = 227 * 1024 - 4096;
    /** Dynamic shared memory that needs no opt-in (48 KB with the kernel's 4 KB of static memory). */
    private static final int PLAIN_SMEM = 44 * 1024;

    /**
     * Kernel, blocks per cluster (K slices of a row group; a stream-K kernel's blocks per multiprocessor, 0 where its grid
     * was given outright, and no cluster), blocks in all, dynamic shared memory per block.
     */
    record Plan(String kernel, int cluster, int blocks, int smem) {}

    /** Whether a kernel reads plain row-major rows (else the tile layout): the sbimmr family, timing variants included, and the TMA kernels. */
    static boolean rowMajor(String kernel) { return kernel.startsWith("sbimmr") || tmaStages(kernel) > 0; }

    /**
     * The split-K switches, read once per model: whether the kernels run at all ({@code -Dfathom.cuda.splitK=false}:
     * never), and the kernel for each layout ({@code -Dfathom.cuda.splitKKernel} names one for its layout, the other
     * keeps its default; a name that is no split-K kernel is one sentence naming the setting).
     */
    record Settings(boolean enabled, String tileKernel, String rowMajorKernel, int wideRows, String wideKernel, String narrowKernel, int narrowSmem,
                    String gatedKernel, int wideSmem, boolean narrowPdl, int narrowRows) {
        static Settings read() {
            boolean on = CudaSettings.flag("fathom.cuda.splitK", true);
            int wide = CudaSettings.integer("fathom.cuda.tmaWide", DEFAULT_WIDE_ROWS, 0, Integer.MAX_VALUE);
            // the trace variants too: CudaBench part steptrace runs the model on them
            String[] tma = java.util.stream.Stream.concat(TMA_KERNELS.stream(), TMA_TRACE_KERNELS.stream()).toArray(String[]::new);
            // or FIT for the wide and gated ones: each matrix through the box height that fills the multiprocessors best
            String[] tmaOrFit = java.util.Arrays.copyOf(tma, tma.length + 1);
            tmaOrFit[tma.length] = FIT;
            String wk = CudaSettings.choice("fathom.cuda.tmaWideKernel", WIDE_KERNEL, tmaOrFit);
            String narrow = CudaSettings.choice("fathom.cuda.tmaNarrowKernel", NARROW_KERNEL, tma);
            // -Dfathom.cuda.tmaNarrowSmemKb: the narrow kernel's launches ask for at least this much dynamic shared memory
            // (an experiment: above half a multiprocessor's, one of its blocks per multiprocessor)
            int narrowSmem = 1024 * CudaSettings.integer("fathom.cuda.tmaNarrowSmemKb", 0, 0, MAX_SMEM / 1024);
            // -Dfathom.cuda.tmaWideSmemKb: the same for the wide and gated kernels' launches (twenty-fourth session: back-to-back
            // programmatic dependent launches of a 73 KB kernel put the next grid's blocks two to a multiprocessor)
            int wideSmem = 1024 * CudaSettings.integer("fathom.cuda.tmaWideSmemKb", 0, 0, MAX_SMEM / 1024);
            // -Dfathom.cuda.tmaNarrowPdl=false: the narrow TMA kernel launched plainly, its blocks entering only after the kernel
            // before has ended (twenty-fourth session: through sbimmv6 the 4096-row GEMMs are faster alone, the graph slower)
            boolean narrowPdl = CudaSettings.flag("fathom.cuda.tmaNarrowPdl", true);
            // -Dfathom.cuda.tmaNarrowRows: the narrow kernel takes at most this many rows, more go to cuBLAS (twenty-sixth
            // session, H200: through sbimmv6n the decode graph was 3-5 % shorter at 4 rows, 1 % longer at 8)
            int narrowRows = CudaSettings.integer("fathom.cuda.tmaNarrowRows", DEFAULT_NARROW_ROWS, 2, MAX_ROWS);
            // -Dfathom.cuda.tmaGatedKernel: the wide gated pairs (gate/up, stored as twice their outputs) through another TMA
            // kernel than GATED_KERNEL; where only -Dfathom.cuda.tmaWideKernel is set, they follow it
            String gated = CudaSettings.choice("fathom.cuda.tmaGatedKernel",
                    System.getProperty("fathom.cuda.tmaWideKernel", "").isBlank() ? GATED_KERNEL : wk, tmaOrFit);
            String k = System.getProperty("fathom.cuda.splitKKernel");
            if (k == null || k.isBlank()) return new Settings(on, DEFAULT_KERNEL, DEFAULT_ROW_MAJOR_KERNEL, wide, wk, narrow, narrowSmem, gated, wideSmem, narrowPdl, narrowRows);
            k = k.trim();
            if (!KERNELS.contains(k) && !ROW_MAJOR_KERNELS.contains(k) && !TMA_KERNELS.contains(k))
                throw new IllegalArgumentException("-Dfathom.cuda.splitKKernel=" + k + ": use one of " + String.join(", ", KERNELS)
                        + " (tile layout) or " + String.join(", ", ROW_MAJOR_KERNELS) + ", " + String.join(", ", TMA_KERNELS) + " (row-major)");
            return rowMajor(k) ? new Settings(on, DEFAULT_KERNEL, k, wide, wk, narrow, narrowSmem, gated, wideSmem, narrowPdl, narrowRows) : new Settings(on, k, DEFAULT_ROW_MAJOR_KERNEL, wide, wk, narrow, narrowSmem, gated, wideSmem, narrowPdl, narrowRows);
        }

        /**
         * The kernel for {@code s}'s layout: a wide row-major matrix's is a TMA kernel ({@link #wide}): from {@link
         * #WIDE_OUTPUTS} outputs the wide kernel ({@code -Dfathom.cuda.tmaWideKernel}, default {@link #WIDE_KERNEL};
         * for gated pairs {@code -Dfathom.cuda.tmaGatedKernel}, default {@link #GATED_KERNEL}, or the wide kernel where only that is set), below that the narrow kernel ({@code -Dfathom.cuda.tmaNarrowKernel}, default {@link #NARROW_KERNEL}); a TMA
         * kernel chosen for row-major rows gives way to the default where K is no multiple of 4 (its activation map
         * cannot describe the rows). A wide or gated kernel set to {@link #FIT} is {@link #fitKernel} on {@code sms}
         * multiprocessors.
         */
        String kernel(SbiLayout.Shape s, int sms) {
            if (s.mma()) return tileKernel;
            if (wide(s)) {
                String k = tmaStages(rowMajorKernel) > 0 ? rowMajorKernel : s.n() < WIDE_OUTPUTS ? narrowKernel : gatedPairs(s) ? gatedKernel : wideKernel;
                return k.equals(FIT) ? fitKernel(s, sms) : k;
            }
            return outsideWide(s);
        }

        /**
         * The kernel for {@code rows} rows of {@code s}: {@link #kernel(SbiLayout.Shape, int)}, except that a matrix under
         * {@link #WIDE_OUTPUTS} outputs past {@code -Dfathom.cuda.tmaNarrowRows} rows takes what a matrix outside the
         * TMA routing takes (where cuBLAS cannot run them, as {@link #wideFor} sends those rows to cuBLAS).
         */
        String kernel(SbiLayout.Shape s, int sms, int rows) {
            return wide(s) && s.n() < WIDE_OUTPUTS && rows > narrowRows ? outsideWide(s) : kernel(s, sms);
        }

        /** The row-major kernel of a matrix the TMA routing does not take: a TMA kernel named for all of them needs K % 4 == 0. */
        private String outsideWide(SbiLayout.Shape s) {
            return tmaStages(rowMajorKernel) > 0 && s.k() % 4 != 0 ? DEFAULT_ROW_MAJOR_KERNEL : rowMajorKernel;
        }

        /** Whether any kernel these settings can choose is a stream-K kernel (which needs {@link StreamKSpace} before a graph is captured). */
        boolean usesStreamK() {
            return enabled && java.util.stream.Stream.of(rowMajorKernel, wideKernel, narrowKernel, gatedKernel).anyMatch(TmaKernels::streamK);
        }

        /** Whether {@code s} stores gated pairs: a gate and an up row for each output (MatPacker.gated), so twice its outputs. */
        static boolean gatedPairs(SbiLayout.Shape s) {
            return (long) s.groups() * s.groupRows() >= 2L * s.n();
        }

        /**
         * Whether 2..8 rows of {@code s} run through a TMA kernel in place of cuBLAS: row-major BF16 with at least
         * {@code wideRows} outputs ({@code -Dfathom.cuda.tmaWide}, default {@link #DEFAULT_WIDE_ROWS}; 0: never) and K a
         * multiple of 4, with the split-K kernels on. (Where it also needs sm_90: {@link #wideFor}.)
         */
        boolean wide(SbiLayout.Shape s) {
            return enabled && wideRows > 0 && !s.mma() && s.rowMajor() && s.dtype() == DType.BF16 && s.n() >= wideRows && s.k() % 4 == 0;
        }

        /** Whether plan {@code p} over {@code s} goes as a programmatic dependent launch where the pass's kernels do ({@code pdl}). */
        boolean pdl(boolean pdl, Plan p, SbiLayout.Shape s) {
            return pdl && (narrowPdl || tmaStages(p.kernel()) <= 0 || !wide(s) || s.n() >= WIDE_OUTPUTS);
        }

        /**
         * Which kernels take the 2..8 rows of row-major BF16 matrices under these settings, in one line for a table's
         * header (StepTrace: its configurations' labels say what they set, JVM options on top may change more).
         */
        String routing() {
            if (!enabled || wideRows == 0) return "2..8 rows through cuBLAS";
            boolean one = tmaStages(rowMajorKernel) > 0;   // -Dfathom.cuda.splitKKernel named a TMA kernel: it takes them all
            String r = "TMA from " + wideRows + " outputs: wide " + (one ? rowMajorKernel : wideKernel) + ", gate/up " + (one ? rowMajorKernel : gatedKernel);
            if (wideRows < WIDE_OUTPUTS)
                r += ", under " + WIDE_OUTPUTS + " outputs " + (one ? rowMajorKernel : narrowKernel) + (narrowPdl ? "" : " (plain launches, no PDL)")
                        + (narrowRows < MAX_ROWS ? " up to " + narrowRows + " rows, more through cuBLAS" : "");
            return wideRows > 1 ? r + "; fewer outputs through cuBLAS" : r;
        }
    }

    /**
     * The TMA kernel the model runs over wide row-major BF16 matrices at 2..8 rows ({@link Settings#wide}) unless
     * {@code -Dfathom.cuda.splitKKernel} names another TMA kernel. sbimmt4 with its tensor maps prefetched at entry: in two
     * llama-7b runs on an H100 (twentieth session) its decode steps at 2 / 4 / 8 rows were 2.1 / 0.2 / 1.8 % and 0.8 /
     * -0.6 / 1.0 % faster than sbimmt4's, about the noise between runs, and never slower on average; the prefetch costs
     * nothing and takes the descriptor fetch off the first copy's path.
     */
    static final String WIDE_KERNEL = "sbimmt4p_bf16_8";
    /**
     * The TMA kernel over the wide gated pairs (gate/up, stored as twice their outputs) at 2..8 rows unless {@code
     * -Dfathom.cuda.tmaGatedKernel} names another: 192-row boxes, so llama-7b's 22016 stored rows take 115 blocks in one
     * wave (the wide kernel's 128-row boxes take 172, two to a multiprocessor on 40 of them). Alone it read gate/up at
     * 1.08 / 1.06x cuBLAS at 4 / 8 rows (twenty-second session); in llama-7b decode graphs on an H100 it was 1.0-1.3 %
     * shorter than through the wide kernel at 2 rows, 1.0-1.2 % at 4 and 0.7-0.9 % at 8 in five runs over three calls,
     * four of them interleaved with the wide kernel's (twenty-third session). (sbimmb4, one wave of 86 256-row blocks, was within
     * 0.5 % of the wide kernel: twenty-first session.)
     */
    static final String GATED_KERNEL = "sbimmq4p_bf16_8";
    /**
     * {@code -Dfathom.cuda.tmaWideKernel} / {@code tmaGatedKernel} value: per matrix, {@link #fitKernel}. An experiment: on
     * an H100 (twenty-second session) its decode graphs were 1.2-1.8 % shorter than the default's at 2 and 4 rows and
     * 6.7 % longer at 8, where the QKV's 96-row boxes lose inside the step though alone they read it fastest.
     */
    static final String FIT = "fit";
    /** The TMA kernels {@link #FIT} chooses among, by box height: 96, 128, 192 and 256 rows, maps prefetched (tma.cuh). */
    static final List<String> FIT_KERNELS = List.of("sbimms6p_bf16_8", "sbimmt4p_bf16_8", "sbimmq4p_bf16_8", "sbimmb4p_bf16_8");

    /**
     * The kernel of {@link #FIT_KERNELS} whose blocks (one per box of rows, no K split) fill {@code sms} multiprocessors
     * best: the largest share of the multiprocessors busy over the waves, blocks / (waves x sms); on a tie the fewer waves,
     * then the larger box. On 132 multiprocessors: 12288 outputs (the llama-7b QKV) in 128 blocks of 96 rows, gate/up
     * (22016 stored rows) in 115 of 192, 32000 (the head) in 125 of 256.
     */
    static String fitKernel(SbiLayout.Shape s, int sms) {
        String best = null;
        double bestFill = -1;
        long bestWaves = 0;
        for (String k : FIT_KERNELS) {
            long blocks = (rowTiles(s) + tileWarps(k) - 1) / tileWarps(k), waves = (blocks + sms - 1) / sms;
            double fill = (double) blocks / (waves * sms);
            if (fill > bestFill + 1e-9 || Math.abs(fill - bestFill) <= 1e-9 && waves <= bestWaves) {
                best = k;
                bestFill = fill;
                bestWaves = waves;
            }
        }
        return best;
    }
    /**
     * The TMA kernel over row-major matrices of fewer than {@link #WIDE_OUTPUTS} outputs (the 4096-row outputs of
     * llama-7b: the attention output and the down projection) at 2..{@link #DEFAULT_NARROW_ROWS} rows: sbimmv6n, 64-row
     * boxes (a 4096-row output splits K in two for 128 blocks), two chunks a stage, and it never lets the next kernel in
     * early (it enters once the grid has ended, as after a cuBLAS node).
     *
     * <p>History: the eighteenth to twentieth sessions kept these matrices on cuBLAS (the 12-stage sbimmh12, the narrow
     * default then, took a batch-2 step to 5.92-5.99 ms against cuBLAS's 5.73-5.76 on an H100). The twenty-sixth session
     * found the loss was the early trigger (sbimmv6n: 3-5 % shorter steps at 4 rows on an H200, 1 % longer at 8). The
     * twenty-ninth (H100, {@code gpu-run.sh verdict}: llama-7b decode graphs, twice round) made it the default: with these
     * matrices through sbimmv6n up to 4 rows the step took 5.52 against 5.75 ms at 2 rows and 5.65 against 5.80 at 4,
     * every run ahead of every run of the earlier defaults, and level at 8 rows (6.13 against 6.11, cuBLAS there in both).
     */
    static final String NARROW_KERNEL = "sbimmv6n_bf16_8";
    /** Rows up to which the narrow kernel takes a matrix under {@link #WIDE_OUTPUTS} outputs by default; more go to cuBLAS (see {@link #NARROW_KERNEL}). */
    static final int DEFAULT_NARROW_ROWS = 4;
    /**
     * Output rows from which a row-major BF16 matrix is wide: its 2..8 rows go to {@link #WIDE_KERNEL} (or {@link
     * #GATED_KERNEL}), a narrower one's to {@link #NARROW_KERNEL}. Until the twenty-ninth session it was also the bound
     * below which cuBLAS kept them (now {@link #DEFAULT_WIDE_ROWS}). On an H100 (eighteenth session, llama-7b, batch 2, graphs
     * off, CUDA events over 32 layers) sbimmt4_bf16_8 took the QKV (12288 x 4096) in 1538 µs against cuBLAS's 1879 and
     * the gate/up pairs (22016 x 4096) in 2226 against 2691, but the output projection (4096 x 4096) in 1134 against 817
     * and the down projection (4096 x 11008) in 1685 against 1225: so the 11008-and-wider outputs, not the 4096-row ones.
     */
    static final int WIDE_OUTPUTS = 8192;
    /**
     * Outputs from which 2..8 rows of a row-major BF16 matrix leave cuBLAS for a TMA kernel ({@code -Dfathom.cuda.tmaWide}):
     * every matrix since the twenty-ninth session, those under {@link #WIDE_OUTPUTS} through {@link #NARROW_KERNEL} up to
     * {@link #DEFAULT_NARROW_ROWS} rows. Before it, {@link #WIDE_OUTPUTS}: the eighteenth session's kernels lost to cuBLAS on
     * the 4096-row outputs (below).
     */
    static final int DEFAULT_WIDE_ROWS = 1;

    /**
     * Whether {@code rows} rows of {@code s} run through a TMA kernel in place of cuBLAS on a GPU of {@code ccMajor}: 2..8
     * rows of a {@link Settings#wide} matrix, at most {@code -Dfathom.cuda.tmaNarrowRows} of one under {@link #WIDE_OUTPUTS} outputs.
     */
    static boolean wideFor(int ccMajor, Settings st, SbiLayout.Shape s, int rows) {
        return ccMajor >= 9 && rows >= 2 && rows <= (s.n() < WIDE_OUTPUTS ? st.narrowRows() : MAX_ROWS) && st.wide(s);
    }

    /** Row tiles (16 stored rows each) of a matrix in either layout. */
    static int rowTiles(SbiLayout.Shape s) {
        return s.mma() ? s.groups() : (s.groups() * SbiLayout.GROUP + 15) / 16;
    }

    /** k tiles (16 columns) of a row: the tile layout's, or whole 256-column chunks of a row-major row. */
    static int kTiles(SbiLayout.Shape s) {
        return s.mma() ? s.kChunks() : s.kChunks() * (SbiLayout.chunk(DType.BF16) / 16);
    }

    /** k tiles of one of {@code cluster} K slices (row-major: whole pairs of tiles). */
    static int sliceTiles(SbiLayout.Shape s, int cluster) {
        int kt = kTiles(s);
        return s.mma() ? (kt + cluster - 1) / cluster : 2 * ((kt / 2 + cluster - 1) / cluster);
    }

    /**
     * Shared memory for {@code rows} activation rows over {@code cluster} K slices: the block's slice of the
     * activations as mma B fragments, 16 bytes per lane per k tile (16 lanes for up to 4 rows, else 32).
     */
    static int smem(SbiLayout.Shape s, int rows, int cluster) {
        return sliceTiles(s, cluster) * (rows <= 4 ? 16 : 32) * 16;
    }

    /** Dynamic shared memory of a kernel's launch: the staged fragments (none for the XR kernels), after a ring kernel's ring of 8 warps x slots x 1 KB. */
    static int smem(String kernel, SbiLayout.Shape s, int rows, int cluster) {
        if (tmaStages(kernel) > 0) return tmaStages(kernel) * tmaStageBytes(kernel) + 1024;   // + 1 KB to align the boxes
        return XR_KERNELS.contains(kernel) ? 0 : ringSlots(kernel) * 8 * 1024 + smem(s, rows, cluster);
    }


    /**
     * A TMA kernel's cluster size: 1 where the row groups alone give at least one block per two multiprocessors, else the
     * smallest of 2, 4, 8 that does (so fewer than one block per multiprocessor: one wave, as a block streams its whole
     * slice from start to end and a second wave would start late). On an H100 this picked the fastest cluster size of
     * sbimmt4_bf16_8 for all five Llama shapes at 4 and 8 rows (eighteenth session): 4 for the 4096-row outputs, 1 for
     * the others. (The deeper sbimmt8 and sbimmt12 were fastest at 2 on the 4096-row outputs.) The first rule, the
     * largest cluster of one wave, took 8 there and read 20 % slower.
     */
    static Plan planTma(String kernel, SbiLayout.Shape s, int rows, int sms) {
        if (streamK(kernel)) return fixed(kernel, s, rows, tmaBlocksPerSm(kernel), sms);   // every block resident: one wave
        Plan best = fixed(kernel, s, rows, 1, sms);
        for (int c = 2; c <= 8 && 2L * best.blocks() < sms; c *= 2) best = fixed(kernel, s, rows, c, sms);
        return best;
    }

    /** The launch of {@code kernel} (of {@code s}'s layout, no stream-K kernel) with a given cluster size. */
    static Plan fixed(String kernel, SbiLayout.Shape s, int rows, int cluster) {
        if (streamK(kernel)) throw new IllegalArgumentException(kernel + " is a stream-K kernel: its launch needs the multiprocessor count");
        return fixed(kernel, s, rows, cluster, 0);
    }

    /**
     * The launch of {@code kernel} (of {@code s}'s layout) with a given cluster size; for a stream-K kernel ({@link
     * #streamK}) {@code cluster} blocks per each of {@code sms} multiprocessors, at most one per unit.
     */
    static Plan fixed(String kernel, SbiLayout.Shape s, int rows, int cluster, int sms) {
        if (rowMajor(kernel) != !s.mma())
            throw new IllegalArgumentException(kernel + " does not read the " + (s.mma() ? "tile" : "row-major") + " layout");
        int tw = tileWarps(kernel);
        if (streamK(kernel)) {   // an owner kernel's blocks spin on each other's flags: never more than fit at once
            long perSm = streamKOwnedPieces(kernel) ? Math.min(cluster, tmaBlocksPerSm(kernel)) : cluster;
            return new Plan(kernel, cluster, (int) Math.max(1, Math.min(perSm * sms, streamKUnits(kernel, s))), smem(kernel, s, rows, 1));
        }
        return new Plan(kernel, cluster, (rowTiles(s) + tw - 1) / tw * cluster, smem(kernel, s, rows, cluster));
    }

    /**
     * The cluster size for a shape: the smallest of 1, 2, 4, 8 that gives at least two blocks per multiprocessor
     * with the activation slice in 44 KB of shared memory (no opt-in); else the largest that fits; null when none fits
     * (K beyond ~56000 at 8 rows). On an H200 this picked the fastest cluster size of sbimmc4_bf16_8 for all five
     * Llama-7B shapes at 2, 4 and 8 rows (docs/cuda-b48-bench.log): 8 for 4096 output rows, 4 for 11008 and 12288,
     * 2 for 32000 (4 at 8 rows, where 2 needs 64 KB).
     */
    static Plan plan(String kernel, SbiLayout.Shape s, int rows, int sms) {
        if (tmaStages(kernel) > 0) return planTma(kernel, s, rows, sms);
        Plan fit = null;
        for (int c = 1; c <= 8; c *= 2) {
            Plan p = fixed(kernel, s, rows, c, sms);
            if (p.smem() <= PLAIN_SMEM && p.blocks() >= 2L * sms) return p;
            if (p.smem() <= MAX_SMEM) fit = p;
        }
        return fit;
    }

    /**
     * The launch for {@code rows} rows of a GEMM over this matrix, where the split-K kernels run it: tiles or row-major
     * BF16, 2..8 rows, sm_90 or later ({@code ccMajor}: thread-block clusters), switched on, and a plan that fits on
     * {@code sms} multiprocessors; else null.
     */
    static Plan planFor(int ccMajor, int sms, Settings st, SbiLayout.Shape s, int rows) {
        if (!st.enabled() || !(s.mma() || s.rowMajor() && s.dtype() == DType.BF16) || rows < 2 || rows > MAX_ROWS || ccMajor < 9)
            return null;
        Plan p = plan(st.kernel(s, sms, rows), s, rows, sms);
        // -Dfathom.cuda.tmaNarrowSmemKb / tmaWideSmemKb: the narrow / wide TMA kernels' launches padded to that much shared memory
        if (p == null || tmaStages(p.kernel()) <= 0 || !wideFor(ccMajor, st, s, rows)) return p;
        return withSmem(p, s.n() < WIDE_OUTPUTS ? st.narrowSmem() : st.wideSmem());
    }

    /** Dynamic shared memory above half a multiprocessor's: a launch asking for it gets one block on each ({@link #withSmem}). */
    static final int ONE_PER_SM_SMEM = 116 * 1024;

    /** {@code p} asking for at least {@code smem} bytes of dynamic shared memory (above half a multiprocessor's: one block on each). */
    static Plan withSmem(Plan p, int smem) {
        return p.smem() < smem ? new Plan(p.kernel(), p.cluster(), p.blocks(), smem) : p;
    }

    /** The largest dynamic shared memory opted into, per function handle. */
    private static final Map<Long, Integer> OPTED = new ConcurrentHashMap<>();

    /**
     * y[rows, ldy] = epilogue(x[rows, ldx] · Wᵀ), as the other SBI kernels (mode 0 plain + bias + res, 1 gated pairs,
     * 2 activation); {@code gamma} != 0: x is the un-normed residual stream and the RMS norm (gamma, eps) runs inside.
     */
    static void launch(CudaModule mod, boolean pdl, Plan p, long stream, long w, SbiLayout.Shape s, long x, int ldx,
                       long bias, long res, long y, int ldy, int rows, int mode, int act, int vec, long gamma, float eps) {
        if (p.smem() > PLAIN_SMEM) {
            long fn = mod.fn(p.kernel());
            if (OPTED.getOrDefault(fn, 0) < p.smem()) {
                mod.cuda().setMaxDynamicShared(fn, p.smem());
                OPTED.merge(fn, p.smem(), Math::max);
            }
        }
        if (tmaStages(p.kernel()) > 0)
            launchTma(mod, pdl, p, stream, w, s, x, ldx, bias, res, y, ldy, rows, mode, act, gamma, eps);
        else if (rowMajor(p.kernel()))
            mod.launch(pdl, p.cluster(), p.kernel(), p.blocks(), 1, 256, p.smem(), stream, w, x, ldx, s.k(), kTiles(s), rowTiles(s), p.cluster(),
                    s.groups() * SbiLayout.GROUP, bias, res, y, ldy, s.n(), rows, mode, act, vec, gamma, eps);
        else
            mod.launch(pdl, p.cluster(), p.kernel(), p.blocks(), 1, 256, p.smem(), stream, w, x, ldx, s.k(), s.kChunks(), s.groups(), p.cluster(),
                    bias, res, y, ldy, s.n(), rows, mode, act, vec, gamma, eps);
    }

    /** Tensor maps already encoded, by what they describe (the model's and a benchmark's buffers are few and fixed). */
    private static final Map<MapKey, MemorySegment> MAPS = new ConcurrentHashMap<>();
    private record MapKey(long cuda, long addr, int dtype, long cols, long rows, long stride, int boxCols, int boxRows) {}

    static MemorySegment tensorMap(Cuda cu, long addr, int dtype, long cols, long rows, long stride, int boxCols, int boxRows) {
        MapKey key = new MapKey(cu.ordinal(), addr, dtype, cols, rows, stride, boxCols, boxRows);
        MemorySegment m = MAPS.get(key);
        if (m != null) return m;
        if (MAPS.size() > 4096) MAPS.clear();
        m = Arena.ofAuto().allocate(Cuda.TENSOR_MAP_BYTES, 64);   // its own arena: a map dropped by the clear is freed with it
        cu.tensorMap2d(m, addr, dtype, cols, rows, stride, boxCols, boxRows, Cuda.SWIZZLE_128B, dtype == Cuda.TMAP_BF16);
        MAPS.put(key, m);
        return m;
    }

    /**
     * Why a TMA kernel cannot take this launch (its activation map needs rows 16 bytes apart, its fused norm reads gamma
     * in pairs, and both maps 16-byte aligned addresses), or null when it can.
     */
    static String tmaRefusal(String kernel, SbiLayout.Shape s, int ldx, long x, long w) {
        String what = s.k() % 4 != 0 || ldx % 4 != 0 ? "K and the activation row stride to be multiples of 4 (K=" + s.k() + ", ldx=" + ldx + ")"
                : (x & 15) != 0 ? "16-byte aligned activations (address 0x" + Long.toHexString(x) + ")"
                : (w & 15) != 0 ? "16-byte aligned weights (address 0x" + Long.toHexString(w) + ")" : null;
        return what == null ? null : kernel + " needs " + what + "; use " + DEFAULT_ROW_MAJOR_KERNEL + " for this shape";
    }

    /**
     * Why plan {@code p} of a TMA kernel cannot take this launch: {@link #tmaRefusal}, or for a stream-K kernel a grid the
     * workspace cannot hold ({@link TmaKernels#streamKRefusal}); null when it can. The model then runs the default row-major kernel.
     */
    static String tmaLaunchRefusal(Plan p, SbiLayout.Shape s, int ldx, long x, long w) {
        String why = tmaRefusal(p.kernel(), s, ldx, x, w);
        return why != null || !streamK(p.kernel()) ? why : streamKRefusal(p.kernel(), s, p.blocks());
    }

    /**
     * A TMA kernel's launch: the weight map (stored rows x the row length, 128 x 64 boxes) and the activation map
     * ({@code rows} x K floats, 8 x 32 boxes), both with the 128-byte swizzle tma.cuh reads them with.
     */
    private static void launchTma(CudaModule mod, boolean pdl, Plan p, long stream, long w, SbiLayout.Shape s, long x, int ldx,
                                  long bias, long res, long y, int ldy, int rows, int mode, int act, long gamma, float eps) {
        String why = tmaLaunchRefusal(p, s, ldx, x, w);
        if (why != null) throw new IllegalArgumentException(why);
        Cuda cu = mod.cuda();
        int kt = kTiles(s);
        long rowLen = 16L * kt;
        int tw = tileWarps(p.kernel());
        MemorySegment mw = tensorMap(cu, w, Cuda.TMAP_BF16, rowLen, (long) s.groups() * SbiLayout.GROUP, 2 * rowLen, 64, 16 * tw);
        MemorySegment mx = tensorMap(cu, x, Cuda.TMAP_F32, s.k(), rows, 4L * ldx, 32, 8);
        if (streamK(p.kernel())) {
            StreamKSpace ws = StreamKSpace.of(mod);
            mod.launch(pdl, 1, p.kernel(), p.blocks(), 1, tmaThreads(p.kernel()), p.smem(), stream, mw, mx, s.k(), kt, rowTiles(s),
                    bias, res, y, ldy, s.n(), rows, mode, act, gamma, eps, ws.slots(), ws.tickets());
            return;
        }
        mod.launch(pdl, p.cluster(), p.kernel(), p.blocks(), 1, tmaThreads(p.kernel()), p.smem(), stream, mw, mx, s.k(), kt, rowTiles(s), p.cluster(),
                bias, res, y, ldy, s.n(), rows, mode, act, gamma, eps);
    }

    /** {@link #launch} without a fused norm. */
    static void launch(CudaModule mod, boolean pdl, Plan p, long stream, long w, SbiLayout.Shape s, long x, int ldx,
                       long bias, long res, long y, int ldy, int rows, int mode, int act, int vec) {
        launch(mod, pdl, p, stream, w, s, x, ldx, bias, res, y, ldy, rows, mode, act, vec, 0L, 0f);
    }
}
