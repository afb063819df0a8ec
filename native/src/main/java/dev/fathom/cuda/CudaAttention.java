package dev.fathom.cuda;

import dev.fathom.engine.telemetry.TelemetryEvent.Phase;
import dev.fathom.engine.tensor.DType;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.function.LongUnaryOperator;

/**
 * The attention of a {@link CudaModel} pass: which kernel runs it and with what launch, its buffers, and the RoPE +
 * KV-cache append before it. Decode steps of distinct sequences run {@code attention_decode} (RoPE, append and attention
 * in one kernel, positions split over blocks); prompts run query tiles ({@code attention_mma_*} on tensor cores for
 * BF16 models, else {@code attention_tiles_*}) after {@code rope_kv_rows}; anything else runs {@code rope_kv_append} and
 * {@code attention_rows}. The choices themselves are {@link AttentionLaunch}'s, tested in CI; this class holds a pass's
 * state ({@link #prepare}) and launches ({@link #run}) through the model's timing and PDL setting.
 */
final class CudaAttention {
    /** Shared memory a kernel may opt into on the GPUs this runs on (A100 163 KB, H100/H200 227 KB). */
    static final int SMEM_LIMIT = 160 * 1024;

    private final CudaModel model;
    private final CudaModule mod;
    private final Cuda cu;
    private final long stream;
    private final int heads, kvHeads, hd, qkvDim, rotaryDim, slots, maxLen;
    /** The model's buffers the kernels read and write: q/k/v rows, per-row metadata, the output rows, the RoPE table. */
    private final long qkv, meta, ctx, invFreq;
    /** Query-row tiles of the prompt attention: [first row, count] pairs; device and host copies. */
    private final long tiles;
    private final MemorySegment hostTiles;
    /** attention_decode: partial results [rows][heads][splits][hd + 2] and per (row, head) counters. */
    private final long decPart, decCounters;
    /** rope_kv_rows splits a short prompt's heads over blocks ({@link AttentionLaunch#ropeSplits}). */
    private final boolean ropeSplit = CudaSettings.flag("fathom.cuda.ropeSplit", true);
    /** The attention switches, read once per model (see {@link AttentionLaunch}). */
    private final int decChunk = AttentionLaunch.minChunk(), decodeRowsMax = AttentionLaunch.maxDecodeRows();
    private final boolean decodePrefetch = AttentionLaunch.decodePrefetch();
    private final int forcedTileRows = AttentionLaunch.forcedTileRows();
    /** Whether prompts run attention_mma (BF16 projections, tensor cores). */
    private final boolean mma;
    /** Whether the KV cache holds bf16 ({@link AttentionLaunch#useBf16Kv}): the kernels' {@code _kb} instances. */
    private final boolean kvBf16;
    // this pass
    private Phase phase = Phase.PROMPT;
    private int tileCount;
    /** Query rows per tile of this prompt ({@link AttentionLaunch#tileRows}). */
    private int tileRows = 64;
    private boolean tiledAttention, decodeAttn;
    /** This pass's cache positions read ({@link AttentionLaunch#attendedPositions}) and query-key pairs, for the telemetry. */
    private long cachePositions, pairs;

    /**
     * Allocates the attention's buffers ({@code alloc}: the model's, freed with it) and opts its kernels into the shared
     * memory they need. {@code weights}: the dtype of the QKV projection, which decides {@link AttentionLaunch#useMma};
     * {@code kvBf16}: whether the model allocated its KV cache in bf16 ({@link #bf16Cache}).
     */
    CudaAttention(CudaModel model, CudaModule mod, long stream, LongUnaryOperator alloc, Arena hostArena, int heads, int kvHeads, int hd,
                  int qkvDim, int rotaryDim, int slots, int maxLen, int maxRows, long qkv, long meta, long ctx, long invFreq, DType weights, boolean kvBf16) {
        if (hd % 4 != 0 || hd > 1024)
            throw new IllegalArgumentException("head dim " + hd + " is not supported by the attention kernel (needs a multiple of 4, at most 1024)");
        this.model = model;
        this.mod = mod;
        this.cu = mod.cuda();
        this.stream = stream;
        this.heads = heads;
        this.kvHeads = kvHeads;
        this.hd = hd;
        this.qkvDim = qkvDim;
        this.rotaryDim = rotaryDim;
        this.slots = slots;
        this.maxLen = maxLen;
        this.qkv = qkv;
        this.meta = meta;
        this.ctx = ctx;
        this.invFreq = invFreq;
        this.kvBf16 = kvBf16;
        tiles = alloc.applyAsLong(8L * maxRows);
        hostTiles = hostArena.allocate(8L * maxRows, 16);
        decPart = alloc.applyAsLong(4L * AttentionLaunch.decodePartFloats(cu.smCount(), heads, hd, slots, maxLen, decChunk));
        decCounters = alloc.applyAsLong(4L * slots * heads);
        cu.fill32(decCounters, 0, (long) slots * heads, stream);
        int dsm = AttentionLaunch.decodeSmem(hd, maxLen);   // the most any split count needs
        if (dsm > 48 * 1024 && dsm <= SMEM_LIMIT)
            for (String kn : new String[]{"attention_decode", "attention_decode_late"})
                cu.setMaxDynamicShared(mod.fn(AttentionLaunch.kvKernel(kn, kvBf16)), dsm);
        mma = weights != null && AttentionLaunch.useMma(hd, weights, cu.ccMajor(), AttentionLaunch.mmaEnabled());
        if (kvBf16 && !mma)
            throw new IllegalStateException("a bf16 KV cache needs the tensor-core prompt attention (AttentionLaunch.useBf16Kv)");
        if (mma && AttentionLaunch.mmaSmem(hd, kvBf16) > 48 * 1024) {
            cu.setMaxDynamicShared(mod.fn(AttentionLaunch.mmaKernel(hd, kvBf16)), AttentionLaunch.mmaSmem(hd, kvBf16));
            if (kvBf16) cu.setMaxDynamicShared(mod.fn(AttentionLaunch.mmaKernel(hd, true, true)), AttentionLaunch.mmaSmem(hd, true));
        }
        if (hd <= 256) {
            for (int tq : new int[]{32, 64}) {
                int ts = AttentionLaunch.tilesSmem(hd, tq);
                if (ts > 48 * 1024) cu.setMaxDynamicShared(mod.fn(AttentionLaunch.tilesKernel(hd, tq)), ts);
            }
        }
        int smem = rowsSmem();
        if (smem > 48 * 1024) cu.setMaxDynamicShared(mod.fn(AttentionLaunch.kvKernel("attention_rows", kvBf16)), smem);
    }

    /**
     * Whether a model with these heads and QKV projection dtype keeps its KV cache in bf16 on {@code cu}'s GPU
     * ({@link AttentionLaunch#useBf16Kv} with the switches {@code -Dfathom.cuda.attMma} and {@code -Dfathom.cuda.kvBf16}).
     */
    static boolean bf16Cache(int hd, DType weights, int ccMajor) {
        return weights != null && AttentionLaunch.useBf16Kv(hd, weights, ccMajor, AttentionLaunch.mmaEnabled(), AttentionLaunch.kvBf16Enabled());
    }

    private int rowsSmem() { return AttentionLaunch.rowsSmem(hd, maxLen); }
    private int decodeSplits(int rows) { return AttentionLaunch.decodeSplits(cu.smCount(), heads, rows, maxLen, decChunk); }
    private int decodeSmem(int rows) { return AttentionLaunch.decodeSmem(hd, AttentionLaunch.scoreCap(maxLen, decodeSplits(rows), decChunk)); }

    /**
     * Chooses this pass's kernels for rows of sequences {@code slotOf} at {@code positions}; for a tiled prompt, uploads
     * its query tiles (on the stream, before the pass's kernels).
     */
    void prepare(Phase ph, int[] slotOf, int[] positions) {
        int n = slotOf.length;
        phase = ph;
        cachePositions = AttentionLaunch.attendedPositions(slotOf, positions);
        pairs = AttentionLaunch.attendedPairs(positions);
        tiledAttention = false;
        decodeAttn = AttentionLaunch.useDecode(ph, slotOf, slots, hd, decodeSmem(n), SMEM_LIMIT, decodeRowsMax);
        if (ph == Phase.PROMPT) {   // query tiles only matter for prompts; decode steps skip the work
            int[] tl = new int[2 * n];
            tileCount = AttentionLaunch.queryTiles(slotOf, 64, tl);
            tileRows = AttentionLaunch.tileRows(heads, tileCount, cu.smCount(), forcedTileRows);
            if (tileRows != 64) tileCount = AttentionLaunch.queryTiles(slotOf, tileRows, tl);
            tiledAttention = AttentionLaunch.useTiles(ph, n, tileCount, hd);
            if (tiledAttention) {
                MemorySegment.copy(tl, 0, hostTiles, ValueLayout.JAVA_INT, 0, 2 * tileCount);
                cu.copyToDevice(tiles, hostTiles, 8L * tileCount, stream);
            }
        }
    }

    /** Whether this pass runs the fused decode kernel (a decode graph is kept per batch size and this choice). */
    boolean fusedDecode() { return decodeAttn; }

    /** Whether prompts can leave their output rows in bf16 ({@link #run(int, long, long, long)}): tensor cores over a bf16 cache. */
    boolean bf16OutputPossible() { return mma && kvBf16; }

    /** RoPE, KV append and attention of {@code n} rows for the layer whose caches are {@code kc} and {@code vc}: ctx rows. */
    void run(int n, long kc, long vc) { run(n, kc, vc, 0); }

    /**
     * {@link #run(int, long, long)}; {@code ctxBf16} != 0: where the pass runs the tiled tensor-core attention over a
     * bf16 cache, its output goes there as bf16 rows (stride heads × hd) instead of into ctx; whether it did.
     */
    boolean run(int n, long kc, long vc, long ctxBf16) {
        int kvDim = kvHeads * hd;
        long kvb = AttentionLaunch.kvElementBytes(kvBf16);
        float scale = (float) (1.0 / Math.sqrt(hd));
        // telemetry: the cache positions the pass attends over, each read once (the new rows' keys and values written),
        // the q (qkv) rows read and the output rows written; flops 4 x heads x hd per query-key pair (q·k and p·v).
        // A decode graph keeps the figures of the step it was captured at.
        long cacheBytes = 2 * kvb * kvDim * cachePositions, flops = 4L * heads * hd * pairs, outBytes = 4L * n * heads * hd;
        if (decodeAttn) {   // RoPE, KV append and attention in one kernel, positions split over blocks
            int sp = decodeSplits(n), cap = AttentionLaunch.scoreCap(maxLen, sp, decChunk), dsm = AttentionLaunch.decodeSmem(hd, cap);
            String kn = AttentionLaunch.decodeKernel((long) heads * n * sp, cu.smCount(), decodePrefetch, kvBf16);
            model.timed("attn.rope_kv+core", cacheBytes + 4L * n * qkvDim + outBytes, flops,
                    () -> mod.launch3(model.pdl(), kn, heads, n, sp, AttentionLaunch.DECODE_THREADS, dsm, stream,
                            qkv, qkvDim, n, meta, heads, kvHeads, hd, rotaryDim, invFreq, kc, vc, maxLen, scale,
                            decChunk, cap, decPart, decCounters, ctx, heads * hd));
            return false;
        }
        model.timed("attn.rope_kv", 4L * n * qkvDim + kvb * 2L * n * kvDim, 6L * n * (heads + kvHeads) * rotaryDim / 2,
                () -> {
                    if (phase == Phase.PROMPT)   // many rows: blocks per row over ranges of its heads (one range at many rows)
                        model.launch(AttentionLaunch.kvKernel("rope_kv_rows", kvBf16), n,
                                AttentionLaunch.ropeSplits(cu.smCount(), n, heads + kvHeads, ropeSplit), 256, 0, stream, qkv, qkvDim, n, meta, heads, kvHeads, hd,
                                rotaryDim, invFreq, kc, vc, maxLen);
                    else
                        model.launch(AttentionLaunch.kvKernel("rope_kv_append", kvBf16), n, heads + kvHeads, 64, 0, stream, qkv, qkvDim, n, meta, heads, kvHeads, hd,
                                rotaryDim, invFreq, kc, vc, maxLen);
                });
        if (tiledAttention) {
            boolean bf16Out = ctxBf16 != 0 && bf16OutputPossible();
            int ts = mma ? AttentionLaunch.mmaSmem(hd, kvBf16) : AttentionLaunch.tilesSmem(hd, tileRows), tc = tileCount;
            String kn = mma ? AttentionLaunch.mmaKernel(hd, kvBf16, bf16Out) : AttentionLaunch.tilesKernel(hd, tileRows);
            int threads = mma ? AttentionLaunch.mmaThreads(tileRows) : 256;
            long out = bf16Out ? ctxBf16 : ctx, io = cacheBytes + outBytes + (bf16Out ? outBytes / 2 : outBytes);
            model.timed("attn.core", io, flops, () -> model.launch(kn, heads, tc, threads, ts, stream,
                    qkv, qkvDim, n, meta, tiles, heads, kvHeads, hd, kc, vc, maxLen, scale, out, heads * hd));
            return bf16Out;
        } else {
            int smem = rowsSmem();
            String kn = AttentionLaunch.kvKernel("attention_rows", kvBf16);
            model.timed("attn.core", cacheBytes + 2 * outBytes, flops, () -> model.launch(kn, heads, n, AttentionLaunch.ROWS_THREADS,
                    smem, stream, qkv, qkvDim, n, meta, heads, kvHeads, hd, kc, vc, maxLen, scale, ctx, heads * hd));
            return false;
        }
    }
}
