package dev.fathom.engine.cpu;

import dev.fathom.engine.model.LayerWeights;
import dev.fathom.engine.model.Linear;
import dev.fathom.engine.model.ModelConfig;
import dev.fathom.engine.model.ModelWeights;
import dev.fathom.engine.telemetry.TelemetryEvent;
import dev.fathom.engine.telemetry.TelemetryEvent.Phase;
import dev.fathom.engine.telemetry.TelemetrySink;
import dev.fathom.engine.tensor.Tensor;

import java.util.Arrays;
import java.util.List;

/**
 * The transformer forward pass on the CPU for one shard: decoder layers {@code [firstLayer, lastLayer)},
 * optionally the embedding (first pipeline stage) and the final norm + lm_head (last stage), with
 * weights that may be tensor-parallel slices (then {@link Comm} all-reduces after the attention output
 * and MLP down projections). The same code runs the reference and the fast kernels.
 *
 * <p>Activations are float32 rows: a {@link Batch} of B sequences with T new tokens each has B*T rows,
 * sequence-major.
 */
public final class CpuModel {
    /**
     * B sequences with T tokens each.
     *
     * @param slots KV-cache slot of each sequence
     * @param start position of each sequence's first new token
     * @param t     new tokens per sequence
     */
    public record Batch(int[] slots, int[] start, int t, Phase phase) {
        public int rows() { return slots.length * t; }
        public int position(int row) { return start[row / t] + row % t; }
    }

    private final ModelConfig cfg;
    private final ModelWeights weights;
    private final List<LayerWeights> layers;
    private LayerSource source;
    private final int firstLayer;
    private final int lastLayer;
    private final boolean hasEmbed;
    private final boolean hasHead;
    private final CpuKernels k;
    private final Comm comm;
    private final KvCache cache;
    private final TelemetrySink sink;
    private final String device;
    private final double[] invFreq;
    private final int heads;
    private final int kvHeads;
    private final int hd;
    private final int h;
    /** experts owned by this rank (null = all); expert parallel engines set this */
    private final boolean[] ownedExperts;

    /**
     * Replaces the whole MoE block of a layer (router, dispatch, experts, combine), e.g. with an
     * expert-parallel exchange between ranks. {@code out} [rows, hidden] must be fully written.
     */
    public interface MoeLayer {
        void forward(CpuModel model, LayerWeights w, float[] in, int rows, int layer, Phase phase, float[] out);
    }

    private MoeLayer moeLayer;

    private float[] xn = new float[0], q = new float[0], kb = new float[0], vb = new float[0], ctx = new float[0],
            attnOut = new float[0], mlpA = new float[0], mlpB = new float[0], mlpOut = new float[0], tmp = new float[0];

    /**
     * @param layers        weights of this shard's layers (index 0 = {@code firstLayer}), possibly TP slices
     * @param ownedExperts  which experts this shard computes (null = all); the engine combines the rest
     */
    public CpuModel(ModelConfig cfg, ModelWeights weights, List<LayerWeights> layers, int firstLayer, int lastLayer,
                    boolean hasEmbed, boolean hasHead, CpuKernels kernels, Comm comm, int slots, int maxLen,
                    TelemetrySink sink, String device, boolean[] ownedExperts) {
        this.cfg = cfg;
        this.weights = weights;
        this.layers = layers;
        this.firstLayer = firstLayer;
        this.lastLayer = lastLayer;
        this.hasEmbed = hasEmbed;
        this.hasHead = hasHead;
        this.k = kernels;
        this.comm = comm;
        this.sink = sink;
        this.device = device;
        this.ownedExperts = ownedExperts;
        this.hd = cfg.headDim();
        this.h = cfg.hiddenSize();
        LayerWeights l0 = layers.isEmpty() ? null : layers.getFirst();
        this.heads = l0 == null ? cfg.numHeads() : l0.q().out() / hd;
        this.kvHeads = l0 == null ? cfg.numKvHeads() : l0.k().out() / hd;
        this.cache = new KvCache(lastLayer - firstLayer, slots, maxLen, kvHeads * hd);
        this.source = LayerSource.resident(layers, firstLayer);
        this.invFreq = cfg.rotaryDim() > 0 ? cfg.rope().inverseFrequencies(cfg.rotaryDim()) : new double[0];
    }

    /** Single-rank model of all layers. */
    public static CpuModel whole(ModelConfig cfg, ModelWeights w, CpuKernels k, int slots, int maxLen, TelemetrySink sink) {
        return new CpuModel(cfg, w, w.layers(), 0, cfg.numLayers(), true, true, k, Comm.SINGLE, slots, maxLen, sink, "cpu", null);
    }

    public KvCache cache() { return cache; }

    /** Replaces where layer weights come from (e.g. a ZeRO-Inference streamer); shapes must match. */
    public void setLayerSource(LayerSource s) { this.source = s; }
    public LayerSource layerSource() { return source; }
    /** Installs an expert-parallel MoE block (null = the local table-gated one). */
    public void setMoeLayer(MoeLayer m) { this.moeLayer = m; }
    public ModelConfig config() { return cfg; }
    public CpuKernels kernels() { return k; }
    public int firstLayer() { return firstLayer; }
    public int lastLayer() { return lastLayer; }

    private static float[] grow(float[] a, int n) { return a.length >= n ? a : new float[n]; }

    // ------------------------------------------------------------------ embedding

    /** Token (+ learned position) embeddings: [rows, hidden]. */
    public float[] embed(int[] tokens, Batch b) {
        long t0 = System.nanoTime();
        int n = b.rows();
        float[] x = new float[n * h];
        Tensor e = weights.embed();
        for (int r = 0; r < n; r++) {
            e.readRow(tokens[r], x, r * h);
            if (cfg.learnedPositions()) {
                Tensor p = weights.posEmbed();
                int pos = b.position(r) + cfg.positionOffset();
                for (int i = 0; i < h; i++) x[r * h + i] += p.get(pos, i);
            }
        }
        span("embed", -1, b.phase(), t0, (long) n * h * weights.embed().dtype().size * (cfg.learnedPositions() ? 2 : 1), 0);
        return x;
    }

    // ------------------------------------------------------------------ layers

    /** Runs this shard's layers over {@code x} in place. */
    public void layers(float[] x, Batch b) {
        for (int l = firstLayer; l < lastLayer; l++) layer(l, x, b);
    }

    private void norm(Tensor w, Tensor bias, float[] in, int rows, float[] out, String name, int layer, Phase ph) {
        long t0 = System.nanoTime();
        if (cfg.norm() == ModelConfig.Norm.RMS_NORM) k.rmsNorm(in, rows, h, w, cfg.normEps(), out);
        else k.layerNorm(in, rows, h, w, bias, cfg.normEps(), out);
        span(name, layer, ph, t0, 2L * rows * h * 4 + w.byteSize(), 4L * rows * h);
    }

    private void linear(float[] in, int rows, Linear w, boolean bias, float[] out, String name, int layer, Phase ph) {
        long t0 = System.nanoTime();
        k.linear(in, rows, w, bias, out);
        span(name, layer, ph, t0, w.weight().byteSize() + (long) rows * (w.in() + w.out()) * 4, 2L * rows * w.in() * w.out());
    }

    public void layer(int l, float[] x, Batch b) {
        LayerWeights w = source.acquire(l);
        try {
            layer(l, w, x, b);
        } finally {
            source.release(l);
        }
    }

    private void layer(int l, LayerWeights w, float[] x, Batch b) {
        Phase ph = b.phase();
        int n = b.rows();
        int qDim = heads * hd, kvDim = kvHeads * hd;
        xn = grow(xn, n * h);
        q = grow(q, n * qDim);
        kb = grow(kb, n * kvDim);
        vb = grow(vb, n * kvDim);
        ctx = grow(ctx, n * qDim);
        attnOut = grow(attnOut, n * h);

        norm(w.attnNormW(), w.attnNormB(), x, n, xn, "attn.norm", l, ph);
        linear(xn, n, w.q(), true, q, "attn.q", l, ph);
        linear(xn, n, w.k(), true, kb, "attn.k", l, ph);
        linear(xn, n, w.v(), true, vb, "attn.v", l, ph);

        long t0 = System.nanoTime();
        if (cfg.rotaryDim() > 0) {
            rope(q, n, heads, b);
            rope(kb, n, kvHeads, b);
        }
        int li = l - firstLayer;
        for (int r = 0; r < n; r++) {
            int slot = b.slots()[r / b.t()];
            int pos = b.position(r);
            System.arraycopy(kb, r * kvDim, cache.keys(li, slot), pos * kvDim, kvDim);
            System.arraycopy(vb, r * kvDim, cache.values(li, slot), pos * kvDim, kvDim);
        }
        span("attn.rope_kv", l, ph, t0, (long) n * (qDim + 4 * kvDim) * 4, (long) n * (qDim + kvDim) * 3);

        t0 = System.nanoTime();
        long attnBytes = 0, attnFlops = 0;
        for (int s = 0; s < b.slots().length; s++) {
            int slot = b.slots()[s];
            k.attention(q, s * b.t(), b.t(), b.start()[s], cache.keys(li, slot), cache.values(li, slot), heads, kvHeads, hd, ctx);
            long ctxLen = b.start()[s] + b.t();
            attnBytes += 2L * ctxLen * kvDim * 4;
            attnFlops += 4L * b.t() * ctxLen * qDim;
        }
        span("attn.core", l, ph, t0, attnBytes + 2L * n * qDim * 4, attnFlops);

        linear(ctx, n, w.o(), false, attnOut, "attn.o", l, ph);
        reduce(attnOut, n * h, l);
        addBias(attnOut, n, w.o().bias());

        if (cfg.parallelResidual()) {
            norm(w.mlpNormW(), w.mlpNormB(), x, n, xn, "mlp.norm", l, ph);
            mlp(w, xn, n, l, ph);
            for (int i = 0; i < n * h; i++) x[i] += attnOut[i] + mlpOut[i];
        } else {
            for (int i = 0; i < n * h; i++) x[i] += attnOut[i];
            norm(w.mlpNormW(), w.mlpNormB(), x, n, xn, "mlp.norm", l, ph);
            mlp(w, xn, n, l, ph);
            for (int i = 0; i < n * h; i++) x[i] += mlpOut[i];
        }
    }

    private void reduce(float[] buf, int len, int layer) {
        if (comm.size() == 1) return;
        long t0 = System.nanoTime();
        comm.allReduceSum(buf, len);
        if (sink.enabled())
            sink.emit(new TelemetryEvent.CollectiveSpan("all_reduce", comm.rank(), comm.size(), (long) len * 4, t0, System.nanoTime() - t0));
    }

    private static void addBias(float[] y, int rows, Tensor bias) {
        if (bias == null) return;
        int n = bias.cols();
        for (int i = 0; i < n; i++) {
            float bv = bias.getFloat(i);
            for (int r = 0; r < rows; r++) y[r * n + i] += bv;
        }
    }

    private void rope(float[] v, int rows, int nHeads, Batch b) {
        int rot = cfg.rotaryDim(), half = rot / 2, width = nHeads * hd;
        for (int r = 0; r < rows; r++) {
            int pos = b.position(r);
            for (int i = 0; i < half; i++) {
                double ang = pos * invFreq[i];
                float c = (float) Math.cos(ang), s = (float) Math.sin(ang);
                for (int hh = 0; hh < nHeads; hh++) {
                    int o = r * width + hh * hd;
                    float x1 = v[o + i], x2 = v[o + i + half];
                    v[o + i] = x1 * c - x2 * s;
                    v[o + i + half] = x2 * c + x1 * s;
                }
            }
        }
    }

    private void mlp(LayerWeights w, float[] in, int n, int l, Phase ph) {
        mlpOut = grow(mlpOut, n * h);
        if (cfg.isMoe()) {
            if (moeLayer != null) moeLayer.forward(this, w, in, n, l, ph, mlpOut);
            else moe(w, in, n, l, ph);
            return;
        }
        int f = w.up().out();
        mlpA = grow(mlpA, n * f);
        linear(in, n, w.up(), true, mlpA, "mlp.up", l, ph);
        long t0 = System.nanoTime();
        if (w.gate() != null) {
            mlpB = grow(mlpB, n * f);
            linear(in, n, w.gate(), true, mlpB, "mlp.gate", l, ph);
            t0 = System.nanoTime();
            for (int i = 0; i < n * f; i++) mlpA[i] *= Activations.apply(cfg.activation(), mlpB[i]);
        } else {
            Activations.apply(cfg.activation(), mlpA, n * f);
        }
        span("mlp.act", l, ph, t0, (long) n * f * 4 * (w.gate() != null ? 3 : 2), (long) n * f * 8);
        linear(mlpA, n, w.down(), false, mlpOut, "mlp.down", l, ph);
        reduce(mlpOut, n * h, l);
        addBias(mlpOut, n, w.down().bias());
    }

    /**
     * Mixture of experts with table gating: the router picks top-k experts per row; rows are grouped per
     * expert through a token-to-expert table and its inverse (no one-hot tensors), each expert runs on its
     * gathered rows, and results are scattered back weighted.
     */
    private void moe(LayerWeights w, float[] in, int n, int l, Phase ph) {
        int e = cfg.numExperts(), topK = cfg.expertsPerToken();
        tmp = grow(tmp, n * e);
        linear(in, n, new Linear(w.router(), null), false, tmp, "moe.router", l, ph);
        long t0 = System.nanoTime();
        int[] choice = new int[n * topK];
        float[] weight = new float[n * topK];
        int[] count = new int[e];
        for (int r = 0; r < n; r++) route(tmp, r * e, e, topK, choice, weight, r * topK, count);
        // inverse table: for each expert, the (row, k) entries that chose it
        int[][] rowsOf = new int[e][];
        int[] fill = new int[e];
        for (int x = 0; x < e; x++) rowsOf[x] = new int[count[x]];
        for (int i = 0; i < n * topK; i++) rowsOf[choice[i]][fill[choice[i]]++] = i;
        span("moe.gate", l, ph, t0, (long) n * e * 4, (long) n * e * 4);
        Arrays.fill(mlpOut, 0, n * h, 0f);
        for (int x = 0; x < e; x++) {
            if (rowsOf[x].length == 0 || (ownedExperts != null && !ownedExperts[x])) continue;
            moeExpert(w.experts().get(x), rowsOf[x], in, weight, topK, n, l, ph, mlpOut);
        }
        reduce(mlpOut, n * h, l);
    }

    /** Router logits [rows, experts] of {@code in} [rows, hidden]. */
    public float[] routerLogits(LayerWeights w, float[] in, int n, int l, Phase ph) {
        float[] out = new float[n * cfg.numExperts()];
        linear(in, n, new Linear(w.router(), null), false, out, "moe.router", l, ph);
        return out;
    }

    /** Runs one expert on the rows listed in {@code entries} (row*topK+k) and adds its weighted output into {@code out}. */
    public void moeExpert(LayerWeights.Expert ex, int[] entries, float[] in, float[] weight, int topK, int n, int l, Phase ph, float[] out) {
        int m = entries.length, f = ex.up().out();
        float[] xin = new float[m * h];
        for (int j = 0; j < m; j++) System.arraycopy(in, (entries[j] / topK) * h, xin, j * h, h);
        float[] a = new float[m * f], g = new float[m * f], y = new float[m * h];
        linear(xin, m, ex.gate(), false, g, "moe.expert.gate", l, ph);
        linear(xin, m, ex.up(), false, a, "moe.expert.up", l, ph);
        for (int i = 0; i < m * f; i++) a[i] *= Activations.apply(cfg.activation(), g[i]);
        linear(a, m, ex.down(), false, y, "moe.expert.down", l, ph);
        for (int j = 0; j < m; j++) {
            int row = entries[j] / topK;
            float wt = weight[entries[j]];
            for (int i = 0; i < h; i++) out[row * h + i] += wt * y[j * h + i];
        }
    }

    /** Softmax over all router logits, keep the top-k, renormalise them to sum to one. */
    public static void route(float[] logits, int off, int e, int topK, int[] choice, float[] weight, int outOff, int[] count) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < e; i++) max = Math.max(max, logits[off + i]);
        double[] p = new double[e];
        double sum = 0;
        for (int i = 0; i < e; i++) sum += p[i] = Math.exp(logits[off + i] - max);
        boolean[] used = new boolean[e];
        double chosen = 0;
        for (int kk = 0; kk < topK; kk++) {
            int best = -1;
            for (int i = 0; i < e; i++) if (!used[i] && (best < 0 || p[i] > p[best])) best = i;
            used[best] = true;
            choice[outOff + kk] = best;
            weight[outOff + kk] = (float) (p[best] / sum);
            chosen += p[best] / sum;
            if (count != null) count[best]++;
        }
        for (int kk = 0; kk < topK; kk++) weight[outOff + kk] = (float) (weight[outOff + kk] / chosen);
    }

    // ------------------------------------------------------------------ head

    /** Final norm and lm_head on the rows listed (or all rows when {@code rows} is null): [k, vocab]. */
    public float[] logits(float[] x, int totalRows, int[] rows, Phase ph) {
        int m = rows == null ? totalRows : rows.length;
        float[] sel = new float[m * h];
        for (int j = 0; j < m; j++) System.arraycopy(x, (rows == null ? j : rows[j]) * h, sel, j * h, h);
        float[] normed = new float[m * h];
        norm(weights.finalNormW(), weights.finalNormB(), sel, m, normed, "final.norm", -1, ph);
        float[] out = new float[m * cfg.vocabSize()];
        linear(normed, m, new Linear(weights.lmHead(), null), false, out, "lm_head", -1, ph);
        return out;
    }

    public boolean hasEmbed() { return hasEmbed; }
    public boolean hasHead() { return hasHead; }

    private void span(String name, int layer, Phase ph, long t0, long bytes, long flops) {
        if (!sink.enabled()) return;
        sink.emit(new TelemetryEvent.KernelSpan(name, device, comm.rank(), layer, ph, t0, System.nanoTime() - t0, bytes, flops));
    }
}
