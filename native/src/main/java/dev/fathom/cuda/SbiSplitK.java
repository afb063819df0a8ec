package dev.fathom.cuda;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Host side of the small-batch GEMM over the tensor-core tile layout that splits K over a thread-block cluster
 * ({@code sbimmc4_bf16_8}, sbi_tile.cuh): 2 to 8 activation rows, one block of 8 warps per 8 row tiles and K slice,
 * the {@code cluster} K slices of a row group in one cluster whose blocks add their partial sums through
 * distributed shared memory (sm_90). Each block stages its slice of the activations once in shared memory as
 * bf16 hi/lo mma fragments. The layout is the one {@link CudaModel} already stores for models with more than one
 * sequence slot; nothing about the weights changes.
 */
final class SbiSplitK {
    private SbiSplitK() {}

    /** The kernel the model runs (4 weight tiles in flight per warp; sbimmc_bf16_8, 8 per warp, measured slower). */
    static final String KERNEL = "sbimmc4_bf16_8";
    /** Activation rows per launch, at most. */
    static final int MAX_ROWS = 8;
    /** Dynamic shared memory a launch may use (the 227 KB opt-in of sm_90 less the kernel's 4 KB of static memory). */
    static final int MAX_SMEM = 227 * 1024 - 4096;
    /** Dynamic shared memory that needs no opt-in (48 KB with the kernel's 4 KB of static memory). */
    private static final int PLAIN_SMEM = 44 * 1024;

    /** Blocks per cluster (K slices of a row group), blocks in all, dynamic shared memory per block. */
    record Plan(int cluster, int blocks, int smem) {}

    /**
     * Dynamic shared memory for {@code rows} activation rows over {@code cluster} K slices: the block's slice of the
     * activations as mma B fragments, 16 bytes per lane per k tile (16 lanes for up to 4 rows, else 32).
     */
    static int smem(SbiLayout.Shape s, int rows, int cluster) {
        int per = (s.kChunks() + cluster - 1) / cluster;
        return per * (rows <= 4 ? 16 : 32) * 16;
    }

    /** The launch with a given cluster size (any of the sbimmc kernels). */
    static Plan fixed(SbiLayout.Shape s, int rows, int cluster) {
        return new Plan(cluster, (s.groups() + 7) / 8 * cluster, smem(s, rows, cluster));
    }

    /**
     * The cluster size for a shape: the smallest of 1, 2, 4, 8 that gives at least two blocks per multiprocessor
     * with the activation slice in 44 KB of shared memory (no opt-in); else the largest that fits; null when none fits
     * (K beyond ~56000 at 8 rows). On an H200 this picked the fastest cluster size of {@link #KERNEL} for all five
     * Llama-7B shapes at 2, 4 and 8 rows (docs/cuda-b48-bench.log): 8 for 4096 output rows, 4 for 11008 and 12288,
     * 2 for 32000 (4 at 8 rows, where 2 needs 64 KB).
     */
    static Plan plan(SbiLayout.Shape s, int rows, int sms) {
        Plan fit = null;
        for (int c = 1; c <= 8; c *= 2) {
            Plan p = fixed(s, rows, c);
            if (p.smem() <= PLAIN_SMEM && p.blocks() >= 2L * sms) return p;
            if (p.smem() <= MAX_SMEM) fit = p;
        }
        return fit;
    }

    /** Whether {@code rows} rows of a GEMM over this matrix run here: tile layout, 2..8 rows, sm_90 (clusters). */
    static boolean applies(Cuda cu, SbiLayout.Shape s, int rows) {
        return s.mma() && rows >= 2 && rows <= MAX_ROWS && cu.ccMajor() >= 9
                && !"false".equals(System.getProperty("fathom.cuda.splitK")) && plan(s, rows, cu.smCount()) != null;
    }

    /** The largest dynamic shared memory opted into, per function handle. */
    private static final Map<Long, Integer> OPTED = new ConcurrentHashMap<>();

    /** y[rows, ldy] = epilogue(x[rows, ldx] · Wᵀ), as the other SBI kernels (mode 0 plain + bias + res, 1 gated pairs, 2 activation). */
    static void launch(CudaModule mod, boolean pdl, String kernel, Plan p, long stream, long w, SbiLayout.Shape s, long x, int ldx,
                       long bias, long res, long y, int ldy, int rows, int mode, int act, int vec) {
        if (p.smem() > PLAIN_SMEM) {
            long fn = mod.fn(kernel);
            if (OPTED.getOrDefault(fn, 0) < p.smem()) {
                mod.cuda().setMaxDynamicShared(fn, p.smem());
                OPTED.merge(fn, p.smem(), Math::max);
            }
        }
        mod.launch(pdl, p.cluster(), kernel, p.blocks(), 1, 256, p.smem(), stream, w, x, ldx, s.k(), s.kChunks(), s.groups(), p.cluster(),
                bias, res, y, ldy, s.n(), rows, mode, act, vec);
    }
}
