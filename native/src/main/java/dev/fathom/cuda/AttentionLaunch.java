package dev.fathom.cuda;

import dev.fathom.engine.telemetry.TelemetryEvent.Phase;
import dev.fathom.engine.tensor.DType;

/**
 * Launch sizing and host-side choices of the two attention kernels (fathom_kernels.cu / prompt.cuh), kept apart from
 * the model so they are tested on the CPU: {@code attention_rows} (one block per head and row), {@code attention_decode}
 * (decode steps: RoPE + KV append + attention, positions split over blocks) and {@code attention_tiles_*} (a block per
 * head and run of up to 64 query rows of one sequence: prompts; {@code attention_mma_*}, the same on tensor cores for
 * models with BF16 weights).
 */
final class AttentionLaunch {
    private AttentionLaunch() {}

    /**
     * The (cos, sin) table the RoPE kernels read: [maxLen][frequencies] pairs of float, each angle p * invFreq[i]
     * computed in double as the CPU backend does.
     */
    static float[] ropeTable(double[] invFreq, int maxLen) {
        int f = invFreq.length;
        float[] t = new float[maxLen * f * 2];
        for (int p = 0; p < maxLen; p++)
            for (int i = 0; i < f; i++) {
                double ang = p * invFreq[i];
                t[(p * f + i) * 2] = (float) Math.cos(ang);
                t[(p * f + i) * 2 + 1] = (float) Math.sin(ang);
            }
        return t;
    }

    /** Threads per block of attention_rows. */
    static final int ROWS_THREADS = 512;

    /** attention_rows: q, scores (padded to 16 bytes), per-group partial outputs (4 floats per thread). */
    static int rowsSmem(int hd, int maxLen) { return (hd + ((maxLen + 3) & ~3) + 4 * ROWS_THREADS) * 4; }

    /** Threads per block of attention_decode. */
    static final int DECODE_THREADS = 512;

    /** Most position splits per (head, row) of attention_decode. */
    static final int MAX_SPLITS = 16;

    /**
     * Fewest positions per split (the kernel uses ceil(L / this) of its blocks at L positions, so short contexts run one
     * block per head and skip the merge); {@code -Dfathom.cuda.decodeChunk} overrides 256.
     */
    static int minChunk() { return CudaSettings.integer("fathom.cuda.decodeChunk", 256, 1, Integer.MAX_VALUE); }

    /**
     * Position splits (grid z) of attention_decode for {@code rows} decode rows: enough blocks for about two per SM
     * ({@code heads * rows * S ≈ 2 * sms}), no more than a full context needs at {@code minChunk} positions per split,
     * at least one, at most {@link #MAX_SPLITS}.
     */
    static int decodeSplits(int sms, int heads, int rows, int maxLen, int minChunk) {
        int want = (2 * sms + heads * rows - 1) / (heads * rows);
        int useful = (maxLen + minChunk - 1) / minChunk;
        return Math.max(1, Math.min(MAX_SPLITS, Math.min(want, useful)));
    }

    /**
     * Head ranges per row (grid y) of {@code rope_kv_rows} for a prompt pass of {@code rows} rows: one (a block walks
     * all of its row's q and k heads) once the rows alone give four blocks per SM, else enough ranges for that many
     * blocks, at most one per head, and no empty one: the kernel gives each range ceil(qkHeads / S) heads, so S is the
     * count of ranges that has; {@code -Dfathom.cuda.ropeSplit=false} keeps one.
     */
    static int ropeSplits(int sms, int rows, int qkHeads, boolean split) {
        if (!split || rows >= 4L * sms || qkHeads <= 1) return 1;
        int want = (int) Math.min(qkHeads, (4L * sms + rows - 1) / rows), per = (qkHeads + want - 1) / want;
        return (qkHeads + per - 1) / per;
    }

    /** Most positions one block of attention_decode scores: its share of a full context, or a short context whole. */
    static int scoreCap(int maxLen, int splits, int minChunk) {
        return Math.min(maxLen, Math.max(minChunk, (maxLen + splits - 1) / splits));
    }

    /** attention_decode: q and the new k, one block's scores (padded to 16 bytes), per-group partial outputs. */
    static int decodeSmem(int hd, int scoreCap) {
        return (2 * hd + ((scoreCap + 3) & ~3) + 4 * DECODE_THREADS) * 4;
    }

    /**
     * Most rows a decode step runs through attention_decode, beyond which it runs the separate kernels: read once per
     * model. {@code -Dfathom.cuda.fusedAttentionRows} sets it; {@code -Dfathom.cuda.fusedAttention=false} makes it 0.
     */
    static int maxDecodeRows() {
        if (!CudaSettings.flag("fathom.cuda.fusedAttention", true)) return 0;
        return CudaSettings.integer("fathom.cuda.fusedAttentionRows", Integer.MAX_VALUE, 0, Integer.MAX_VALUE);
    }

    /** Floats of attention_decode's partial results for up to {@code rows} rows: [rows][heads][S][hd + 2]. */
    static long decodePartFloats(int sms, int heads, int hd, int rows, int maxLen, int minChunk) {
        long most = 0;
        for (int n = 1; n <= rows; n++) most = Math.max(most, (long) n * decodeSplits(sms, heads, n, maxLen, minChunk));
        return most * heads * (hd + 2);
    }

    /**
     * Whether a pass runs attention_decode (RoPE + KV append + attention in one kernel): decode steps whose rows are
     * one new position each of distinct sequences (so no row reads a position another block is appending), a head dim
     * the kernel's block covers, its shared memory within the device limit, and at most {@code maxRows} rows
     * ({@link #maxDecodeRows}). Runs once per pass, so it reads no settings.
     */
    static boolean useDecode(Phase ph, int[] slotOf, int maxSlots, int hd, int smem, int smemLimit, int maxRows) {
        if (ph != Phase.DECODE || hd % 4 != 0 || hd > 4 * DECODE_THREADS || smem > smemLimit || slotOf.length > maxSlots) return false;
        if (slotOf.length > maxRows) return false;
        boolean[] seen = new boolean[maxSlots];
        for (int s : slotOf) {
            if (s < 0 || s >= maxSlots || seen[s]) return false;
            seen[s] = true;
        }
        return true;
    }

    /**
     * The fused decode kernel for a launch of {@code blocks} blocks on {@code sms} multiprocessors. {@code attention_decode}
     * loads its first cached keys and values before it waits for the QKV projection, which needs 110 registers a thread:
     * one 512-thread block per multiprocessor. So it runs where every block has a multiprocessor of its own (batch 1:
     * 32 heads; measured 3.846 against 3.951 ms per llama-7b step); larger launches run {@code attention_decode_late}
     * (all loads after the wait, two blocks per multiprocessor; at batch 32 the early kernel made the step 7 % slower).
     * {@code prefetch} false ({@link #decodePrefetch}) always takes the late one. Both give the same results bit for bit.
     */
    static String decodeKernel(long blocks, int sms, boolean prefetch) {
        return blocks <= sms && prefetch ? "attention_decode" : "attention_decode_late";
    }

    /** The same for a cache of {@code bf16} elements ({@link #kvKernel}). */
    static String decodeKernel(long blocks, int sms, boolean prefetch, boolean bf16) {
        return kvKernel(decodeKernel(blocks, sms, prefetch), bf16);
    }

    /**
     * The instance of a kernel that reads or writes the KV cache ({@code attention_rows}, {@code attention_decode(_late)},
     * {@code rope_kv_rows}, {@code rope_kv_append}) for a cache of bf16 elements ({@code _kb}) or float32 (the name as is).
     */
    static String kvKernel(String name, boolean bf16) { return bf16 ? name + "_kb" : name; }

    /**
     * The cache positions a pass's attention reads from memory at least once: for each sequence (slot) in the rows, its
     * highest row position + 1 (the positions up to the newest row; rows of one sequence share them). The telemetry
     * counts these times 2 x kvDim x element bytes as the kernels' cache bytes, so their GB/s is comparable with the
     * read ceiling (before: one position per row, which made a decode step's attention read "6 GB/s").
     */
    static long attendedPositions(int[] slotOf, int[] positions) {
        int slots = 0;
        for (int s : slotOf) slots = Math.max(slots, s + 1);
        int[] last = new int[slots];   // highest position + 1 of each slot (0: no row)
        for (int r = 0; r < slotOf.length; r++) last[slotOf[r]] = Math.max(last[slotOf[r]], positions[r] + 1);
        long sum = 0;
        for (int l : last) sum += l;
        return sum;
    }

    /** Query-key pairs of a pass's causal attention: each row attends over positions 0..its own (summed over rows). */
    static long attendedPairs(int[] positions) {
        long s = 0;
        for (int p : positions) s += p + 1L;
        return s;
    }

    /** Bytes of one cached key or value element. */
    static int kvElementBytes(boolean bf16) { return bf16 ? 2 : 4; }

    /** {@code -Dfathom.cuda.kvBf16} (default true): whether a model whose prompts run attention_mma keeps its KV cache in bf16. */
    static boolean kvBf16Enabled() { return CudaSettings.flag("fathom.cuda.kvBf16", true); }

    /**
     * Whether a model keeps its KV cache in bf16: when its prompt attention runs on tensor cores ({@link #useMma}: BF16
     * projections, whose attention inputs are rounded to bf16 there anyway) and {@code enabled}. As DeepSpeed and
     * transformers keep the cache in the model's dtype, this halves the cache and the bytes each decode step reads from
     * it. F32, F16 and INT8 models keep float32 (the F32 fixtures are checked to 1e-4).
     */
    static boolean useBf16Kv(int hd, DType weights, int ccMajor, boolean mmaEnabled, boolean enabled) {
        return enabled && useMma(hd, weights, ccMajor, mmaEnabled);
    }

    /** {@code -Dfathom.cuda.decodePrefetch} (default true): whether {@link #decodeKernel} may pick the early-loading kernel. */
    static boolean decodePrefetch() { return CudaSettings.flag("fathom.cuda.decodePrefetch", true); }

    /** attention_tiles: q [64][hd+1], k [32][hd+1], v [32][hd], p [64][33], 4 x 64 per-row values. */
    static int tilesSmem(int hd) { return tilesSmem(hd, 64); }

    /** The same for query tiles of {@code tq} (32 or 64) rows. */
    static int tilesSmem(int hd, int tq) { return (tq * (hd + 1) + 32 * (hd + 1) + 32 * hd + tq * 33 + 4 * tq) * 4; }

    /** The attention_tiles instance for a head dim (64, 128 or 256 registers' worth of outputs per row). */
    static String tilesKernel(int hd) { return tilesKernel(hd, 64); }

    /** The same for query tiles of {@code tq} rows: attention_tiles32_* (one query row per thread) for 32. */
    static String tilesKernel(int hd, int tq) {
        return "attention_tiles" + (tq == 32 ? "32_" : "_") + (hd <= 64 ? 64 : hd <= 128 ? 128 : 256);
    }

    /**
     * Query rows per tile of a prompt: 64, unless {@code heads} × its 64-row tiles ({@code tiles64}) give fewer than two
     * blocks per multiprocessor; then 32 (twice the blocks, each with half the work: one sequence of 128 rows and 32
     * heads is 64 blocks of 64 rows on 132 multiprocessors, but 128 blocks of 32). {@code forced} (32 or 64,
     * {@link #forcedTileRows}) overrides; 0 chooses.
     */
    static int tileRows(int heads, int tiles64, int sms, int forced) {
        if (forced != 0) return forced;
        return (long) heads * tiles64 < 2L * sms ? 32 : 64;
    }

    /** {@code -Dfathom.cuda.attTileRows}: 32 or 64 to force the prompt attention's tile height (comparisons), else 0. */
    static int forcedTileRows() {
        int forced = CudaSettings.integer("fathom.cuda.attTileRows", 0, 32, 64);
        if (forced != 0 && forced != 32 && forced != 64)
            throw new IllegalArgumentException("-Dfathom.cuda.attTileRows=" + forced + ": use 32 or 64");
        return forced;
    }

    /** Query tile rows at which {@link #mmaThreads} gives a warp per 16 rows: attention_mma takes 16, 32 or 64. */
    static boolean mmaTileRows(int tileRows) { return tileRows == 16 || tileRows == 32 || tileRows == 64; }

    /** Head dims attention_mma is built for (one instance each: its fragments are unrolled over the head dim). */
    static boolean mmaHeadDim(int hd) { return hd == 16 || hd == 32 || hd == 64 || hd == 128; }

    /** The attention_mma instance for a head dim ({@link #mmaHeadDim}) over a bf16 cache ({@code attention_mma_kb_*}) or a float32 one. */
    static String mmaKernel(int hd, boolean bf16Kv) { return mmaKernel(hd, bf16Kv, false); }

    /**
     * {@link #mmaKernel(int, boolean)}; {@code bf16Out}: the instance that writes its output rows in bf16 ({@code
     * attention_mma_kbo_*}, over a bf16 cache only), the output projection's input for cuBLAS or wgemm.
     */
    static String mmaKernel(int hd, boolean bf16Kv, boolean bf16Out) {
        if (!mmaHeadDim(hd)) throw new IllegalArgumentException("attention_mma has no instance for head dim " + hd + " (16, 32, 64, 128)");
        if (bf16Out && !bf16Kv) throw new IllegalArgumentException("attention_mma writes bf16 output only over a bf16 cache");
        return (bf16Out ? "attention_mma_kbo_" : bf16Kv ? "attention_mma_kb_" : "attention_mma_") + hd;
    }

    /**
     * {@code -Dfathom.cuda.ctxBf16}: prompts whose attention runs on tensor cores over a bf16 cache write its output in
     * bf16 for the output projection when cuBLAS / wgemm takes it, instead of fp32 that PromptGemm rounds in a pass of
     * its own (llama-7b, 128 rows: 2 MB read, 1 MB written and a launch per layer). Default false: written in the
     * thirty-first session with no GPU lent; comparison parts {@code ctxbf16}, {@code wgfused}.
     */
    static boolean ctxBf16Enabled() { return CudaSettings.flag("fathom.cuda.ctxBf16", false); }

    /** Threads of attention_mma for query tiles of {@code tileRows} rows: a warp per 16 rows. */
    static int mmaThreads(int tileRows) {
        if (!mmaTileRows(tileRows)) throw new IllegalArgumentException("attention_mma takes query tiles of 16, 32 or 64 rows, not " + tileRows);
        return 2 * tileRows;
    }

    /** Key positions attention_mma stages per step (ATTM_KT in attention_mma.cuh). */
    static final int MMA_KEYS = 32;

    /**
     * attention_mma's dynamic shared memory: two buffers of MMA_KEYS keys and values, fp32 keys [hd + 8] and values
     * [hd + 4], or over a bf16 cache keys and values [hd + 8] bf16 each (attention_mma.cuh, AttmStride).
     */
    static int mmaSmem(int hd, boolean bf16Kv) {
        return bf16Kv ? 2 * MMA_KEYS * 2 * (hd + 8) * 2 : 2 * MMA_KEYS * ((hd + 8) + (hd + 4)) * 4;
    }

    /** {@code -Dfathom.cuda.attMma} (default true): whether prompts of BF16 models may run their attention on tensor cores. */
    static boolean mmaEnabled() { return CudaSettings.flag("fathom.cuda.attMma", true); }

    /**
     * Whether the prompt attention of a model runs attention_mma: its projections are BF16 (its prompt GEMMs already take
     * bf16 activations; F32 and F16 models keep the fp32 attention_tiles, which the fixtures check to 1e-4), the GPU
     * has bf16 tensor cores (compute capability 8 or more), the head dim has an instance, and {@code enabled}.
     */
    static boolean useMma(int hd, DType weights, int ccMajor, boolean enabled) {
        return enabled && ccMajor >= 8 && weights == DType.BF16 && mmaHeadDim(hd);
    }

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
        return ph == Phase.PROMPT && headDim <= 256 && rows >= 2 * runs && CudaSettings.flag("fathom.cuda.tiledAttention", true);
    }
}
