package dev.fathom.cuda;

import dev.fathom.engine.cpu.CpuModel;
import dev.fathom.engine.model.LayerWeights;
import dev.fathom.engine.model.ModelConfig;
import dev.fathom.engine.model.ModelWeights;
import dev.fathom.engine.telemetry.TelemetryEvent.Phase;
import dev.fathom.engine.telemetry.TelemetrySink;
import dev.fathom.engine.tensor.DType;
import dev.fathom.engine.tensor.Tensor;
import dev.fathom.profiles.Precision;
import dev.fathom.profiles.RunProfile.Tier;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * The whole model resident on one GPU: weights in the SBI layout, a KV cache (bf16 for BF16 models whose prompt
 * attention runs on tensor cores, else float32: {@link AttentionLaunch#useBf16Kv}), float32 activation buffers, and the
 * forward pass as a fixed sequence of fused kernels per layer (same math as {@link CpuModel}):
 * <ol>
 *   <li>norm_rows (attention norm; an RMS norm runs inside the next SBI-GEMM instead where that GEMM is SIMT, row-major
 *       or split-K over 2..8 rows; before cuBLAS the norm writes its bf16 input)</li>
 *   <li>SBI-GEMM QKV (q, k, v stacked) + bias (cuBLAS over many rows: {@link PromptGemm})</li>
 *   <li>RoPE (partial rotary) + KV-cache append + causal MHA/GQA attention: one kernel for decode steps
 *       ({@code attention_decode}), else rope_kv_rows / rope_kv_append then attention_tiles (prompts) or attention_rows</li>
 *   <li>SBI-GEMM out-projection + bias + residual</li>
 *   <li>norm_rows (MLP norm; fused like the first)</li>
 *   <li>SBI-GEMM gate/up + activation (gated pairs) or up + bias + activation</li>
 *   <li>SBI-GEMM down + bias + residual (GPT-NeoX: residual of the attention branch, parallel form)</li>
 * </ol>
 * MoE layers replace 7–8 with {@link CudaMoe}: the router GEMM, top-k gating on the host into an expert→rows table, and
 * per expert gather → gated GEMM → down GEMM → weighted scatter-add. Decode steps of dense models are
 * captured once per batch size into a CUDA graph and replayed.
 */
final class CudaModel implements AutoCloseable {
    /**
     * A packed projection on the device. bias: device float[stored rows] or 0. scales: INT8 weights ({@link Int8Layout}):
     * the device address of their scales (inside the buffer at w), else 0.
     */
    record Mat(long w, SbiLayout.Shape shape, long bias, SbiLayout.Launch launch, String kernelPrefix, long scales) {
        Mat(long w, SbiLayout.Shape shape, long bias, SbiLayout.Launch launch, String kernelPrefix) { this(w, shape, bias, launch, kernelPrefix, 0); }
        Mat at(long base) { return new Mat(rb(w, base), shape, rb(bias, base), launch, kernelPrefix, rb(scales, base)); }
    }

    /** A layer's device pointers; for a streamed layer they are offsets into its blob until {@link #at} rebases them. */
    record Layer(long attnW, long attnB, Mat qkv, Mat o, long mlpW, long mlpB, Mat up, boolean gated, Mat down,
                 Mat router, List<Mat[]> experts) {
        Layer at(long base) {
            List<Mat[]> ex = new ArrayList<>();
            for (Mat[] e : experts) ex.add(new Mat[]{e[0].at(base), e[1].at(base)});
            return new Layer(rb(attnW, base), rb(attnB, base), qkv.at(base), o.at(base), rb(mlpW, base), rb(mlpB, base),
                    up == null ? null : up.at(base), gated, down == null ? null : down.at(base), router == null ? null : router.at(base), ex);
        }
    }

    private static long rb(long p, long base) { return p == 0 ? 0 : p + base; }

    private final ModelConfig cfg;
    private final CudaModule mod;
    private final Cuda cu;
    private final long stream;
    private final TelemetrySink sink;
    private final List<Long> allocations = new ArrayList<>();
    private final List<Layer> layers = new ArrayList<>();
    private final int h, heads, kvHeads, hd, qkvDim, ffn, vocab, slots, maxLen, maxRows;
    private final long embed, posEmbed, finalW, finalB, invFreq, kCache, vCache;
    private final Mat head;
    private final long weightBytes;
    // activation buffers, float32 rows
    private final long x, x2, xn, qkv, ctx, mlp, meta, idx, logits;
    /** The MoE block of every layer (null: a dense model). */
    private final CudaMoe moe;
    private final MemorySegment hostMeta;
    private MemorySegment hostLogits = MemorySegment.NULL;
    private final Arena hostArena = Arena.ofShared();
    /** Decode steps captured as CUDA graphs (off: -Dfathom.cuda.graphs=false). */
    private final DecodeGraphs graphs;
    private boolean useGraphs = CudaSettings.flag("fathom.cuda.graphs", true);
    // per-kernel timing
    private final KernelTimer timer;
    private Phase phase = Phase.PROMPT;
    private int curLayer = -1;
    /** Streamed layers (ZeRO-Inference), null when every layer is resident. */
    private final DeviceStreamer streamer;
    /** Non-null while a streamed layer is being packed: uploads go into it as offsets. */
    private DeviceStreamer.Blob blob;
    /** cuBLAS for GEMMs over many rows of BF16 / INT8 weights; null when the model has none or cuBLAS is missing. */
    private PromptGemm prompt;
    /** The attention of every layer: its kernels, their launches and buffers. */
    private final CudaAttention attention;
    /** Tensor parallelism: this rank's side of the all-reduce (null: one GPU, whole layers). */
    private final PeerAllReduce.Rank tp;
    /** TP: per layer the whole o and down biases as plain device float[h] (0: none), added once after the all-reduce. */
    private final List<long[]> tpBias = new ArrayList<>();
    /** TP: [rows, h] partial output of o / down before the all-reduce (0 without TP). */
    private long part;
    /** False on TP ranks other than 0: the final norm, LM head and logits copy are skipped (rank 0 returns them). */
    private final boolean head0;
    /** Pipeline stage: whether the pass starts with the embedding (else from {@link #hidden()}); index of its first layer. */
    private final boolean embedStage;
    private final int firstLayer;
    /** TP: the previous all-reduce already wrote this layer's attention norm into xn. */
    private boolean attnNormDone;
    /**
     * Whether the prompt path hands cuBLAS its bf16 inputs from the kernels that make them (the norms, the gated
     * epilogue) instead of a rounding pass each ({@code -Dfathom.cuda.bf16Handoff}, default true).
     */
    private final boolean bf16Handoff = CudaSettings.flag("fathom.cuda.bf16Handoff", true);
    /** bf16 [maxRows][ffn]: the gated MLP output as the down projection's cuBLAS input (0: none). */
    private long mlpBf16;
    /**
     * bf16 [maxRows][heads × hd]: the prompt attention's output as the output projection's cuBLAS / wgemm input (0: none;
     * {@link AttentionLaunch#ctxBf16Enabled}).
     */
    private long ctxBf16;
    /** Packs and uploads the projections in the run's precision and layout (INT8: scale groups of columns). */
    private final MatPacker packer;
    /** The projections' kernel choice and launches (made last in the constructor, once cuBLAS is known). */
    private final CudaGemms gemms;

    CudaModel(ModelConfig cfg, ModelWeights w, int slots, int maxLen, TelemetrySink sink) {
        this(cfg, w, slots, maxLen, sink, null, 0, null, CudaModule.get(), null, 0, true, true, false, Precision.AUTO);
    }

    /**
     * One tensor-parallel rank: {@code w}'s layers are this rank's Megatron slices (TensorSlicer) whose o and
     * down biases are whole; the model runs on {@code tp}'s device and all-reduces after o and down.
     */
    CudaModel(ModelConfig cfg, ModelWeights w, int slots, int maxLen, TelemetrySink sink, PeerAllReduce.Rank tp, Precision precision) {
        this(cfg, w, slots, maxLen, sink, null, 0, null, tp.module(), tp, 0, true, true, false, precision);
    }

    CudaModel(ModelConfig cfg, ModelWeights w, int slots, int maxLen, TelemetrySink sink, Tier[] tiers, int prefetch, String nvmeDir) {
        this(cfg, w, slots, maxLen, sink, tiers, prefetch, nvmeDir, false, Precision.AUTO);
    }

    /** A data-parallel replica on {@code module}'s GPU, with streamed layers per {@code tiers} (null: all resident). */
    CudaModel(ModelConfig cfg, ModelWeights w, int slots, int maxLen, TelemetrySink sink, Tier[] tiers, int prefetch, String nvmeDir,
              CudaModule module, Precision precision) {
        this(cfg, w, slots, maxLen, sink, tiers, prefetch, nvmeDir, module, null, 0, true, true, false, precision);
    }

    /** Same; {@code kvHost}: the KV cache lives in pinned host memory mapped into the device's address space. */
    CudaModel(ModelConfig cfg, ModelWeights w, int slots, int maxLen, TelemetrySink sink, Tier[] tiers, int prefetch, String nvmeDir,
              boolean kvHost, Precision precision) {
        this(cfg, w, slots, maxLen, sink, tiers, prefetch, nvmeDir, CudaModule.get(), null, 0, true, true, kvHost, precision);
    }

    /**
     * One pipeline stage on {@code module}'s GPU: {@code w}'s layers are the stage's, model layers
     * [firstLayer, firstLayer + w.layers().size()); the embedding runs only when {@code embed} (otherwise the pass
     * starts from the hidden state put in {@link #hidden()} by {@link #loadHidden}), the final norm and LM head only
     * when {@code head} (otherwise the pass ends with the hidden state in {@link #hidden()} and returns no logits).
     * The KV cache holds the stage's layers only.
     */
    CudaModel(ModelConfig cfg, ModelWeights w, int slots, int maxLen, TelemetrySink sink, CudaModule module, int firstLayer,
              boolean embed, boolean head, Precision precision) {
        this(cfg, w, slots, maxLen, sink, null, 0, null, module, null, firstLayer, embed, head, false, precision);
    }

    /**
     * @param tiers    tier of each decoder layer (null: all on the device); HOST and NVME layers stream through a ring
     * @param prefetch layers fetched ahead of the one computing (ring of prefetch + 1 layer buffers)
     * @param nvmeDir  parent directory of the NVMe-tier files (null: java.io.tmpdir)
     * @param kvHost   KV cache in pinned, device-mapped host memory (the kernels read and append it over the bus)
     * @param precision the run's weight precision: AUTO keeps the checkpoint's dtype, F32/BF16/F16 convert, INT8 quantizes
     *                  ({@link Int8Layout}); {@code -Dfathom.cuda.weights=bf16|f16|int8} overrides it (checks, benchmarks)
     */
    private CudaModel(ModelConfig cfg, ModelWeights w, int slots, int maxLen, TelemetrySink sink, Tier[] tiers, int prefetch, String nvmeDir,
                      CudaModule module, PeerAllReduce.Rank tp, int firstLayer, boolean embedStage, boolean headStage, boolean kvHost,
                      Precision precision) {
        this.cfg = cfg;
        this.tp = tp;
        this.head0 = headStage && (tp == null || tp.rank() == 0);
        this.embedStage = embedStage;
        this.firstLayer = firstLayer;
        if (tp != null && (tiers != null || cfg.isMoe()))
            throw new IllegalArgumentException("tensor parallelism on the cuda backend takes resident dense models only");
        this.mod = module;
        this.cu = mod.cuda();
        cu.makeCurrent();
        mod.setCarveout(CudaSettings.carveout());
        this.stream = cu.streamCreate();
        this.packer = new MatPacker(this::upload, precision, slots, cu.smCount(), cu.ccMajor());
        this.sink = sink;
        this.timer = new KernelTimer(cu, sink, stream);
        this.graphs = new DecodeGraphs(cu);
        this.h = cfg.hiddenSize();
        this.hd = cfg.headDim();
        LayerWeights l0 = w.layers().getFirst();
        this.heads = l0.q().out() / hd;
        this.kvHeads = l0.k().out() / hd;
        this.qkvDim = (heads + 2 * kvHeads) * hd;
        this.ffn = l0.up() != null ? l0.up().out() : cfg.intermediateSize();   // a TP slice holds 1/tp of it
        this.vocab = cfg.vocabSize();
        this.slots = slots;
        this.maxLen = maxLen;
        this.maxRows = Math.max(1, slots * maxLen);
        long bytes = 0;
        int streamed = 0;
        if (tiers != null) for (Tier t : tiers) if (t != Tier.DEVICE) streamed++;
        this.streamer = streamed == 0 ? null : new DeviceStreamer(cu, prefetch, nvmeDir, sink);
        try {
            for (int i = 0; i < w.layers().size(); i++) {
                LayerWeights lw = w.layers().get(i);
                Tier t = tiers == null ? Tier.DEVICE : tiers[i];
                if (t == Tier.DEVICE) layers.add(uploadLayer(lw));
                else {
                    try (DeviceStreamer.Blob b = new DeviceStreamer.Blob()) {
                        blob = b;
                        layers.add(uploadLayer(lw));   // offsets into the blob
                        streamer.add(i, b, t == Tier.NVME, streamed--);
                    } finally {
                        blob = null;
                    }
                }
                bytes += lw.bytes();
            }
            if (streamer != null) streamer.finish();
            PromptGemm.Sizes blasSizes = packer.blasSizes;
            long layerMax = blasSizes.weightBytes;   // the head (next) only goes through cuBLAS if it fits this scratch
            embed = embedStage ? upload(w.embed().toFloatArray()) : 0;
            posEmbed = !embedStage || w.posEmbed() == null ? 0 : upload(w.posEmbed().toFloatArray());
            finalW = headStage ? upload(w.finalNormW().toFloatArray()) : 0;
            finalB = !headStage || w.finalNormB() == null ? 0 : upload(w.finalNormB().toFloatArray());
            head = headStage ? packer.mat(new Tensor[]{w.lmHead()}, MatPacker.STACKED, vocab, h, null) : null;
            blasSizes.weightBytes = layerMax;
            if (headStage) bytes += w.lmHead().byteSize();
            invFreq = cfg.rotaryDim() > 0 ? upload(AttentionLaunch.ropeTable(cfg.rope().inverseFrequencies(cfg.rotaryDim()), maxLen)) : 0;
            DType qkvType = layers.isEmpty() ? null : layers.get(0).qkv().shape().dtype();
            kvBf16 = CudaAttention.bf16Cache(hd, qkvType, cu.ccMajor());
            long kv = (long) layers.size() * slots * maxLen * kvHeads * hd * AttentionLaunch.kvElementBytes(kvBf16);
            kCache = kvHost ? mappedHost(kv) : alloc(kv);
            vCache = kvHost ? mappedHost(kv) : alloc(kv);
            this.kvHost = kvHost;
            x = alloc(4L * maxRows * h);
            x2 = alloc(4L * maxRows * h);
            xn = alloc(4L * maxRows * h);
            qkv = alloc(4L * maxRows * qkvDim);
            ctx = alloc(4L * maxRows * heads * hd);
            mlp = alloc(4L * maxRows * Math.max(ffn, 1));
            meta = alloc(4L * 3 * maxRows);
            idx = alloc(4L * maxRows);
            moe = cfg.isMoe() ? new CudaMoe(this, cu, stream, sink, this::alloc, maxRows, h, ffn, cfg.numExperts(), cfg.expertsPerToken()) : null;
            logits = headStage ? alloc(4L * maxRows * vocab) : 0;
            part = tp == null ? 0 : alloc(4L * maxRows * h);
            hostMeta = hostBuffer(4L * 3 * maxRows);
            attention = new CudaAttention(this, mod, stream, this::alloc, hostArena, heads, kvHeads, hd, qkvDim, cfg.rotaryDim(), slots, maxLen,
                    maxRows, qkv, meta, ctx, invFreq, qkvType, kvBf16);
            if (blasSizes.weightBytes > 0 && maxRows > PromptGemm.lowestThreshold()) {
                prompt = new PromptGemm(cu, mod, stream);
                if (prompt.available()) prompt.reserve(blasSizes, maxRows);
                if (prompt.wgemmUnavailableReason() != null) System.err.println("fathom: prompt GEMMs on cuBLAS, not wgemm (-Dfathom.cuda.wgemm): " + prompt.wgemmUnavailableReason());
                if (prompt.available() && bf16Handoff && !cfg.isMoe() && ffn > 0 && blasSizes.gatedStored > 0) mlpBf16 = alloc(2L * maxRows * ffn);
                if (prompt.available() && bf16Handoff && AttentionLaunch.ctxBf16Enabled() && attention.bf16OutputPossible())
                    ctxBf16 = alloc(2L * maxRows * heads * hd);
            }
            if (packer.int8) Int8Layout.optIn(mod);
            gemms = new CudaGemms(this, mod, stream, cfg, prompt, packer.int8Group);
            cu.synchronize(stream);
        } catch (RuntimeException ex) {
            close();
            throw ex;
        }
        this.weightBytes = bytes + packer.convertedDelta();
    }

    /** Bytes of the weights as stored on the device: the checkpoint's, with converted or INT8 projections counted as stored (no padding). */
    long weightBytes() { return weightBytes; }

    int maxRows() { return maxRows; }
    void setGraphs(boolean on) { useGraphs = on; }
    Cuda cuda() { return cu; }
    int hiddenSize() { return h; }
    /** The hidden state [maxRows, h] float32 on this model's GPU: a pass's output on a stage without the head. */
    long hidden() { return x; }
    /** Pipeline: puts {@code rows} hidden-state rows from {@code src} (this GPU) into {@link #hidden()} for the next pass, on the pass's stream. */
    void loadHidden(long src, int rows) {
        cu.makeCurrent();
        cu.copyDeviceToDevice(x, src, 4L * rows * h, stream);
    }
    /** Pipeline: copies {@code rows} rows of {@link #hidden()} to {@code dst} on {@code peer}'s GPU and waits for the copy. */
    void sendHidden(Cuda peer, long dst, int rows) {
        cu.makeCurrent();
        cu.copyPeer(dst, peer, x, 4L * rows * h, stream);
        cu.synchronize(stream);
    }
    /** The streamer of the non-resident layers, or null. */
    DeviceStreamer streamer() { return streamer; }

    // ------------------------------------------------------------------ upload

    /** Pinned host memory mapped into the device's address space; freed with the model. Returns the device address. */
    private long mappedHost(long bytes) {
        MemorySegment m = cu.hostAllocMapped(bytes);
        hostAllocations.add(m);
        return cu.devicePointer(m);
    }

    private final List<MemorySegment> hostAllocations = new ArrayList<>();

    /**
     * Host staging for what every pass copies (row metadata in, logits out): page-locked unless
     * -Dfathom.cuda.pinnedHost=false, so the copies are one DMA each instead of a staged copy through a driver buffer
     * (the logits of a decode step are 128 KB at Llama's vocabulary). Freed with the model.
     */
    private MemorySegment hostBuffer(long bytes) {
        if (!pinnedHost) return hostArena.allocate(bytes, 16);
        MemorySegment m = cu.hostAlloc(bytes);
        hostAllocations.add(m);
        return m;
    }

    private final boolean pinnedHost = CudaSettings.flag("fathom.cuda.pinnedHost", true);
    /** The KV cache is in host memory ({@code --kv-cache host}). */
    private boolean kvHost;

    boolean kvOnHost() { return kvHost; }

    /** Whether the KV cache holds bf16 elements (else float32). */
    private boolean kvBf16;

    boolean kvCacheBf16() { return kvBf16; }

    private long alloc(long bytes) {
        long p = cu.malloc(bytes);
        allocations.add(p);
        return p;
    }

    private long upload(float[] v) {
        try (Arena a = Arena.ofConfined()) {
            return upload(SbiLayout.floats(v, a));
        }
    }

    private long upload(MemorySegment host) {
        if (blob != null) return blob.add(host);
        long p = alloc(host.byteSize());
        cu.copyToDevice(p, host, host.byteSize(), stream);
        cu.synchronize(stream);
        return p;
    }

    private Layer uploadLayer(LayerWeights lw) {
        Mat qkvM = packer.mat(new Tensor[]{lw.q().weight(), lw.k().weight(), lw.v().weight()},
                MatPacker.STACKED, qkvDim, h,
                new Tensor[]{lw.q().bias(), lw.k().bias(), lw.v().bias()});
        Mat o = packer.plain(lw.o(), tp == null);
        long aW = upload(lw.attnNormW().toFloatArray()), aB = lw.attnNormB() == null ? 0 : upload(lw.attnNormB().toFloatArray());
        long mW = upload(lw.mlpNormW().toFloatArray()), mB = lw.mlpNormB() == null ? 0 : upload(lw.mlpNormB().toFloatArray());
        if (cfg.isMoe()) {
            Mat router = packer.mat(new Tensor[]{lw.router()}, MatPacker.STACKED, cfg.numExperts(), h, null);
            List<Mat[]> ex = new ArrayList<>();
            for (LayerWeights.Expert e : lw.experts()) ex.add(new Mat[]{packer.gated(e.gate(), e.up()), packer.plain(e.down(), true)});
            return new Layer(aW, aB, qkvM, o, mW, mB, null, true, null, router, ex);
        }
        boolean isGated = lw.gate() != null;
        Mat up = isGated ? packer.gated(lw.gate(), lw.up()) : packer.plain(lw.up(), true);
        if (tp != null) tpBias.add(new long[]{lw.o().bias() == null ? 0 : upload(lw.o().bias().toFloatArray()),
                lw.down().bias() == null ? 0 : upload(lw.down().bias().toFloatArray())});
        return new Layer(aW, aB, qkvM, o, mW, mB, up, isGated, packer.plain(lw.down(), tp == null), null, List.of());
    }

    // ------------------------------------------------------------------ kernel wrappers

    /** The projections' GEMMs ({@link CudaGemms}; CudaMoe's expert and router multiplies go through it too). */
    CudaGemms gemms() { return gemms; }

    /** The norm before a cuBLAS multiply, as its input: x normed and rounded to bf16 in one pass ({@code norm_rows_bf16}). */
    private PromptGemm.Input normedInput(long w, long b) {
        return PromptGemm.Input.normed(x, h, w, b, cfg.norm() == ModelConfig.Norm.RMS_NORM, cfg.normEps());
    }

    /** Programmatic dependent launches for the kernels of this pass (dense decode steps on sm_90, captured in graphs). */
    private boolean pdl;

    /** Whether this pass's kernels are launched as programmatic dependent launches. */
    boolean pdl() { return pdl; }

    void launch(String name, int gx, int gy, int bx, int smem, long stream, Object... args) {
        mod.launch(pdl, name, gx, gy, bx, smem, stream, args);
    }

    /** Threads of argmax_rows (ARGMAX_THREADS in fathom_kernels.cu). */
    static final int ARGMAX_THREADS = 1024;

    /** PDL for decode graphs unless -Dfathom.cuda.pdl=false; needs sm_90. */
    private boolean pdlWanted() { return cu.ccMajor() >= 9 && CudaSettings.flag("fathom.cuda.pdl", true); }

    private void norm(String name, long in, long rowIdx, long out, int rows, long w, long b) {
        timed(name, 8L * rows * h, 8L * rows * h, () -> launch("norm_rows", rows, 1, 1024, 0, stream,
                in, rowIdx, out, h, w, b, cfg.normEps(), cfg.norm() == ModelConfig.Norm.RMS_NORM ? 1 : 0));
    }

    // ------------------------------------------------------------------ forward

    /**
     * Runs rows (token, position, slot) through the model and returns float32 logits of the head rows:
     * {@code headRows} (indices into the rows) or all rows when null. [headRows, vocab] row-major.
     */
    float[] forward(int[] tokens, int[] positions, int[] slotOf, int[] headRows, Phase ph) {
        int rows = pass(tokens, positions, slotOf, headRows, ph);
        float[] out = new float[rows * vocab];
        MemorySegment.copy(hostLogits, ValueLayout.JAVA_FLOAT, 0, out, 0, out.length);
        return out;
    }

    /**
     * {@link #forward} with the logits as one array per head row, copied straight from the host staging buffer (one
     * copy of 4 MB at batch 32 instead of a flat copy and a split).
     */
    float[][] forwardRows(int[] tokens, int[] positions, int[] slotOf, int[] headRows, Phase ph) {
        int rows = pass(tokens, positions, slotOf, headRows, ph);
        float[][] out = new float[rows][vocab];
        for (int i = 0; i < rows; i++) MemorySegment.copy(hostLogits, ValueLayout.JAVA_FLOAT, 4L * i * vocab, out[i], 0, vocab);
        return out;
    }

    /**
     * {@link #forwardRows} with greedy sampling on the device: the index of each head row's largest logit
     * ({@code argmax_rows}, the first on ties), copied back instead of the logits.
     */
    int[] forwardArgmax(int[] tokens, int[] positions, int[] slotOf, int[] headRows, Phase ph) {
        if (!head0) throw new IllegalStateException("this stage has no LM head");
        int rows = pass(tokens, positions, slotOf, headRows, ph, true);
        int[] out = new int[rows];
        MemorySegment.copy(hostMeta, ValueLayout.JAVA_INT, 0, out, 0, rows);
        return out;
    }

    private int pass(int[] tokens, int[] positions, int[] slotOf, int[] headRows, Phase ph) {
        return pass(tokens, positions, slotOf, headRows, ph, false);
    }

    // ------------------------------------------------------------------ greedy steps queued ahead

    /** Greedy steps that may be queued and not taken ({@link #enqueueGreedy}): the one awaited and the one behind it. */
    static final int QUEUE_DEPTH = 2;
    /** Per queue slot: positions + slots going up, picks coming down (page-locked), and an event after the picks' copy. */
    private MemorySegment[] queueUp, queueDown;
    private long[] queueDone;
    private final int[] queueRows = new int[QUEUE_DEPTH];
    /** Steps queued and steps taken since the model was made. */
    private long queueHead, queueTail;

    /**
     * Whether greedy decode steps can be queued ahead ({@link #enqueueGreedy}): CUDA graphs on, every layer resident, a
     * dense model on one GPU (embedding and head here), per-kernel telemetry off (its events are read after each pass).
     */
    boolean canQueueGreedy() {
        return useGraphs && streamer == null && !cfg.isMoe() && tp == null && embedStage && head0 && !timer.on();
    }

    /**
     * Queues one greedy decode step of {@code slotOf.length} rows at {@code positions} whose tokens are the picks of the
     * pass before it, still in {@code idx} on the device (argmax_rows of {@link #forwardArgmax} or of the step queued
     * before): the picks are copied into the step's token row on the stream, then its positions and slots go up, the
     * decode graph runs, argmax_rows picks, and the picks come down into this queue slot's page-locked buffer, with an
     * event after them. Nothing waits on the host. At most {@link #QUEUE_DEPTH} steps may be queued and not taken.
     */
    void enqueueGreedy(int[] positions, int[] slotOf) {
        int n = slotOf.length;
        if (n > maxRows) throw new IllegalArgumentException(n + " rows exceed the " + maxRows + " the buffers hold");
        if (queueHead - queueTail >= QUEUE_DEPTH) throw new IllegalStateException("take the oldest queued step first");
        if (!canQueueGreedy()) throw new IllegalStateException("greedy steps cannot be queued on this model");
        cu.makeCurrent();
        if (queueUp == null) {
            queueUp = new MemorySegment[QUEUE_DEPTH];
            queueDown = new MemorySegment[QUEUE_DEPTH];
            queueDone = new long[QUEUE_DEPTH];
            for (int r = 0; r < QUEUE_DEPTH; r++) {
                queueUp[r] = hostBuffer(8L * maxRows);
                queueDown[r] = hostBuffer(4L * maxRows);
                queueDone[r] = cu.eventCreate();
            }
        }
        int r = (int) (queueHead % QUEUE_DEPTH);
        MemorySegment up = queueUp[r];   // free: the step that used slot r was taken, so its copies are done
        for (int i = 0; i < n; i++) {
            up.setAtIndex(ValueLayout.JAVA_INT, i, positions[i]);
            up.setAtIndex(ValueLayout.JAVA_INT, n + i, slotOf[i]);
        }
        this.phase = Phase.DECODE;
        cu.copyDeviceToDevice(meta, idx, 4L * n, stream);   // tokens: the last picks
        cu.copyToDevice(meta + 4L * n, up, 8L * n, stream);   // positions, slots
        attention.prepare(Phase.DECODE, slotOf, positions);
        cu.graphLaunch(decodeGraph(n, n).exec(), stream);
        launch("argmax_rows", n, 1, ARGMAX_THREADS, 0, stream, logits, vocab, idx);
        cu.copyToHost(queueDown[r], idx, 4L * n, stream);
        cu.eventRecord(queueDone[r], stream);
        queueRows[r] = n;
        queueHead++;
    }

    /** The picks of the oldest queued step not yet taken, waiting for its event. */
    int[] takeGreedy() {
        if (queueTail == queueHead) throw new IllegalStateException("no greedy step is queued");
        int r = (int) (queueTail % QUEUE_DEPTH);
        cu.makeCurrent();
        cu.eventSynchronize(queueDone[r]);
        int[] out = new int[queueRows[r]];
        MemorySegment.copy(queueDown[r], ValueLayout.JAVA_INT, 0, out, 0, out.length);
        queueTail++;
        return out;
    }

    /** Waits for every queued step and drops the picks not taken. */
    void drainGreedy() {
        if (queueTail == queueHead) return;
        cu.makeCurrent();
        cu.synchronize(stream);
        queueTail = queueHead;
    }

    /** The decode step's graph for {@code n} rows ({@code hRows} head rows), captured on first use. */
    private DecodeGraphs.Graph decodeGraph(int n, int hRows) {
        int key = 2 * n + (attention.fusedDecode() ? 1 : 0);   // one graph per batch size and attention kernel
        return graphs.get(key, stream, () -> {
            pdl = pdlWanted();
            try {
                body(n, hRows, false);
            } finally {
                pdl = false;
            }
        });
    }

    /**
     * One pass: the logits of its head rows (none on a stage without the head) left in hostLogits, or with {@code argmax}
     * their argmax indices in hostMeta's first ints; returns their count.
     */
    private int pass(int[] tokens, int[] positions, int[] slotOf, int[] headRows, Phase ph, boolean argmax) {
        cu.makeCurrent();
        drainGreedy();   // steps still queued write idx and the row metadata
        int n = tokens.length;
        if (n > maxRows) throw new IllegalArgumentException(n + " rows exceed the " + maxRows + " the buffers hold");
        this.phase = ph;
        for (int i = 0; i < n; i++) {
            hostMeta.setAtIndex(ValueLayout.JAVA_INT, i, tokens[i]);
            hostMeta.setAtIndex(ValueLayout.JAVA_INT, n + i, positions[i]);
            hostMeta.setAtIndex(ValueLayout.JAVA_INT, 2L * n + i, slotOf[i]);
        }
        cu.copyToDevice(meta, hostMeta, 12L * n, stream);
        attention.prepare(ph, slotOf, positions);
        int hRows = headRows == null ? n : headRows.length;
        if (headRows != null) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment m = a.allocateFrom(ValueLayout.JAVA_INT, headRows);
                cu.copyToDevice(idx, m, 4L * hRows, stream);
                cu.synchronize(stream);
            }
        }
        // streaming: no graphs (the ring slot of a layer and the fetch order differ between passes)
        boolean graph = useGraphs && streamer == null && ph == Phase.DECODE && headRows == null && !cfg.isMoe();
        if (graph) {
            DecodeGraphs.Graph g = decodeGraph(n, hRows);
            curLayer = -1;
            timedRaw("decode.graph", g.bytes(), g.flops(), () -> cu.graphLaunch(g.exec(), stream));
        } else {
            body(n, hRows, headRows != null);
        }
        if (argmax && head0) {   // the picks into idx (free after the head), then 4 bytes per row back through hostMeta
            timed("sample.argmax", 4L * hRows * vocab, 0, () -> launch("argmax_rows", hRows, 1, ARGMAX_THREADS, 0, stream, logits, vocab, idx));
            cu.copyToHost(hostMeta, idx, 4L * hRows, stream);
        } else {
            long lb = head0 ? 4L * hRows * vocab : 0;
            if (hostLogits.byteSize() < lb) {
                if (hostAllocations.remove(hostLogits)) cu.hostFree(hostLogits);
                hostLogits = hostBuffer(lb);
            }
            if (lb > 0) cu.copyToHost(hostLogits, logits, lb, stream);
        }
        cu.synchronize(stream);
        if (streamer != null) streamer.end();
        timer.flush("cuda:" + cu.ordinal(), tp == null ? 0 : tp.rank(), firstLayer, tp == null ? 1 : tp.size());
        return head0 ? hRows : 0;
    }

    private void body(int n, int hRows, boolean gatherHead) {
        curLayer = -1;
        attnNormDone = false;
        if (embedStage) timed("embed", 4L * n * h * (posEmbed != 0 ? 3 : 2), 0, () -> launch("embed_rows", n, 1, 256, 0, stream,
                embed, posEmbed, cfg.positionOffset(), meta, n, x, h));
        if (streamer != null) streamer.begin();
        for (int l = 0; l < layers.size(); l++) {
            curLayer = l;
            boolean s = streamer != null && streamer.streams(l);
            Layer w = s ? layers.get(l).at(streamer.acquire(l, stream)) : layers.get(l);
            layer(l, n, w);
            if (s) streamer.release(l, stream);
        }
        curLayer = -1;
        if (!head0) return;
        boolean fuse = !gatherHead && gemms.fusesNorm(head, hRows, 0, finalB);
        if (!fuse) norm("final.norm", x, gatherHead ? idx : 0, xn, hRows, finalW, finalB);
        gemms.gemm("lm_head", head, fuse ? x : xn, h, hRows, logits, vocab, 0, 0, fuse ? finalW : 0);
    }

    private void layer(int l, int n, Layer w) {
        int kvDim = kvHeads * hd;
        long layerKv = (long) AttentionLaunch.kvElementBytes(kvBf16) * slots * maxLen * kvDim;
        long kc = kCache + l * layerKv, vc = vCache + l * layerKv;
        boolean fuseA = !attnNormDone && gemms.fusesNorm(w.qkv(), n, 0, w.attnB());
        boolean blasA = !attnNormDone && !fuseA && bf16Handoff && gemms.blasTakes(w.qkv(), n, 0);   // the norm feeds cuBLAS in bf16
        if (!attnNormDone && !fuseA && !blasA) norm("attn.norm", x, 0, xn, n, w.attnW(), w.attnB());
        attnNormDone = false;
        if (blasA) gemms.blasGemm("attn.qkv", w.qkv(), normedInput(w.attnW(), w.attnB()), n, qkv, qkvDim, 0, 0, false);
        else gemms.gemm("attn.qkv", w.qkv(), fuseA ? x : xn, h, n, qkv, qkvDim, 0, 0, fuseA ? w.attnW() : 0);
        // the attention leaves its output in bf16 where the output projection goes to cuBLAS / wgemm and it can
        boolean ctxH = attention.run(n, kc, vc, ctxBf16 != 0 && gemms.blasTakes(w.o(), n, 0) ? ctxBf16 : 0);
        long resid = cfg.parallelResidual() ? x2 : x;
        boolean mlpNormDone = false;
        if (tp != null) {   // partial product of this rank's heads, then resid = x + (bias + Σ partials) [+ the MLP norm]
            if (ctxH) gemms.blasGemm("attn.o", w.o(), PromptGemm.Input.bf16(ctxBf16, heads * hd), n, part, h, 0, 0, false);
            else gemms.gemm("attn.o", w.o(), ctx, heads * hd, n, part, h, 0, 0);
            mlpNormDone = allReduce("attn.allreduce", resid, x, tpBias.get(l)[0], n, cfg.parallelResidual() ? 0 : w.mlpW(), w.mlpB());
        } else if (ctxH) gemms.blasGemm("attn.o", w.o(), PromptGemm.Input.bf16(ctxBf16, heads * hd), n, resid, h, x, 0, false);
        else gemms.gemm("attn.o", w.o(), ctx, heads * hd, n, resid, h, x, 0);
        int upMode = w.gated() ? 1 : 2;
        boolean fuseM = !mlpNormDone && !cfg.isMoe() && gemms.fusesNorm(w.up(), n, upMode, w.mlpB());
        boolean blasM = !mlpNormDone && !fuseM && !cfg.isMoe() && bf16Handoff && gemms.blasTakes(w.up(), n, upMode);
        // gate/up and down both through cuBLAS: the gated epilogue writes the down projection's bf16 input itself
        boolean handoff = !cfg.isMoe() && mlpBf16 != 0 && w.gated() && gemms.blasTakes(w.up(), n, 1) && gemms.blasTakes(w.down(), n, 0);
        if (!mlpNormDone && !fuseM && !blasM) norm("mlp.norm", x, 0, xn, n, w.mlpW(), w.mlpB());
        if (cfg.isMoe()) {
            moe.run(w, n, x, xn, curLayer, phase);
            return;
        }
        String upName = w.gated() ? "mlp.gate_up" : "mlp.up";
        if (blasM || handoff)
            gemms.blasGemm(upName, w.up(), blasM ? normedInput(w.mlpW(), w.mlpB()) : PromptGemm.Input.f32(xn, h), n, handoff ? mlpBf16 : mlp, ffn, 0, upMode, handoff);
        else gemms.gemm(upName, w.up(), fuseM ? x : xn, h, n, mlp, ffn, 0, upMode, fuseM ? w.mlpW() : 0);
        if (handoff) {
            if (tp != null) gemms.blasGemm("mlp.down", w.down(), PromptGemm.Input.bf16(mlpBf16, ffn), n, part, h, 0, 0, false);
            else gemms.blasGemm("mlp.down", w.down(), PromptGemm.Input.bf16(mlpBf16, ffn), n, x, h, resid, 0, false);
        }
        if (tp != null) {
            if (!handoff) gemms.gemm("mlp.down", w.down(), mlp, ffn, n, part, h, 0, 0);
            Layer next = l + 1 < layers.size() ? layers.get(l + 1) : null;   // its attention norm rides along
            attnNormDone = allReduce("mlp.allreduce", x, resid, tpBias.get(l)[1], n, next == null ? 0 : next.attnW(), next == null ? 0 : next.attnB());
        } else if (!handoff)
        gemms.gemm("mlp.down", w.down(), mlp, ffn, n, x, h, resid, 0);
    }

    /**
     * TP: out[n, h] = res + (bias + Σ over ranks of {@link #part}), over peer-mapped memory; when the kernel can and
     * {@code normW} != 0, also xn = norm(out) with (normW, normB). Returns whether it wrote xn.
     */
    private boolean allReduce(String name, long out, long res, long bias, int n, long normW, long normB) {
        long bytes = 4L * n * h;
        boolean fuse = normW != 0 && tp.fusesNorm();
        boolean rms = cfg.norm() == ModelConfig.Norm.RMS_NORM;
        timed(fuse ? name + "+norm" : name, bytes * (tp.size() + 2), (long) n * h * tp.size(), () -> {
            if (fuse) tp.allReduceNorm(part, out, res, bias, h, (long) n * h, stream, normW, normB, xn, cfg.normEps(), rms);
            else tp.allReduce(part, out, res, bias, h, (long) n * h, stream);
        });
        return fuse;
    }

    // ------------------------------------------------------------------ timing

    void timed(String name, long bytes, long flops, Runnable launch) {
        if (graphs.capturing()) {
            graphs.count(bytes, flops);
            launch.run();
            return;
        }
        timedRaw(name, bytes, flops, launch);
    }

    private void timedRaw(String name, long bytes, long flops, Runnable launch) {
        timer.time(name, curLayer, phase, bytes, flops, launch);
    }

    @Override
    public void close() {
        cu.makeCurrent();
        try {
            cu.synchronize(stream);
        } catch (RuntimeException ignored) {
            // free what we can
        }
        graphs.close();
        timer.close();
        if (queueDone != null) for (long ev : queueDone) cu.eventDestroy(ev);
        if (streamer != null) streamer.close();
        if (prompt != null) prompt.close();
        for (long p : allocations) cu.free(p);
        for (MemorySegment m : hostAllocations) cu.hostFree(m);
        hostAllocations.clear();
        allocations.clear();
        cu.streamDestroy(stream);
        hostArena.close();
    }
}
