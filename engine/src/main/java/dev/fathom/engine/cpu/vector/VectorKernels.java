package dev.fathom.engine.cpu.vector;

import dev.fathom.engine.cpu.ReferenceKernels;

import dev.fathom.engine.cpu.Activations;
import dev.fathom.engine.cpu.CpuKernels;
import dev.fathom.engine.model.LayerWeights;
import dev.fathom.engine.model.Linear;
import dev.fathom.engine.model.ModelConfig;
import dev.fathom.engine.model.ModelWeights;
import dev.fathom.engine.tensor.Tensor;
import dev.fathom.profiles.Precision;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

import static dev.fathom.engine.cpu.vector.Dots.F;
import static dev.fathom.engine.cpu.vector.Dots.L;

/**
 * CPU kernels on the Java Vector API: weights read in place from the mapped checkpoint (F32, BF16,
 * F16) or from INT8 copies quantized at load, a persistent {@link WorkerPool} splitting projections
 * by output rows (batch 1–32: each weight row is read once and dotted with every activation row;
 * longer prompts: a cache-blocked 2x4 register tile over float rows), and attention over the KV cache
 * split by (query, head). Nothing is allocated per call once buffers have grown to the run's shapes.
 */
public final class VectorKernels implements CpuKernels, AutoCloseable {
    /** Rows up to which projections stream weights in place; more rows (batches past 8, prompts) take the blocked tile, measured 2x the FLOP rate at batch 16. */
    static final int SMALL_BATCH = 8;
    /** Below this many multiply-adds a projection runs on the calling thread alone. */
    static final long PARALLEL_MIN_MACS = 1 << 15;

    private final WorkerPool pool;
    private final WeightStore store;
    private final LinearTask lt = new LinearTask();
    private final AttentionTask at = new AttentionTask();
    private final float[][] scratch;     // per worker: converted weight rows / attention scores
    private final Linear[] one = new Linear[1];
    private final float[][] oneOut = new float[1][];
    private float[] xp = new float[0], xq = new float[0];   // activations permuted for BF16 / INT8 rows

    /** @param threads worker threads including the caller (0 = one per core) */
    public VectorKernels(int threads, Precision precision) {
        this.pool = new WorkerPool(threads);
        this.store = new WeightStore(precision);
        this.scratch = new float[pool.size()][0];
    }

    @Override public String id() { return "vector"; }
    public int threads() { return pool.size(); }
    public Precision precision() { return store.precision(); }
    public WorkerPool pool() { return pool; }

    /** Converts or quantizes every projection of {@code w} now (instead of at first use). */
    public void prepare(ModelWeights w) {
        for (LayerWeights l : w.layers()) {
            for (Linear x : new Linear[]{l.q(), l.k(), l.v(), l.o(), l.up(), l.gate(), l.down()}) if (x != null) packed(x);
            if (l.router() != null) store.get(l.router(), pool);
            for (LayerWeights.Expert e : l.experts()) {
                packed(e.gate());
                packed(e.up());
                packed(e.down());
            }
        }
        store.get(w.lmHead(), pool);
    }

    private PackedWeight packed(Linear w) { return store.get(w.weight(), pool); }

    @Override
    public long weightBytes(Linear w) {
        return packed(w).bytes() + (w.bias() == null ? 0 : w.bias().byteSize());
    }

    // ------------------------------------------------------------------ projections

    @Override
    public void linear(float[] x, int rows, Linear w, boolean addBias, float[] y) {
        one[0] = w;
        oneOut[0] = y;
        linearGroup(x, rows, one, 1, addBias, oneOut);
        one[0] = null;
        oneOut[0] = null;
    }

    @Override
    public void linearGroup(float[] x, int rows, Linear[] ws, int count, boolean addBias, float[][] ys) {
        LinearTask t = lt;
        t.count = count;
        t.rows = rows;
        t.x = x;
        t.blocked = rows > SMALL_BATCH;
        boolean bf16 = false, int8 = false;
        long macs = 0;
        int total = 0;
        for (int m = 0; m < count; m++) {
            PackedWeight p = packed(ws[m]);
            t.pw[m] = p;
            t.ys[m] = ys[m];
            t.bias[m] = addBias && ws[m].bias() != null ? store.floats(ws[m].bias()) : null;
            t.start[m] = total;
            total += p.rows();
            macs += (long) p.rows() * p.cols() * rows;
            bf16 |= p.format() == PackedWeight.Format.BF16;
            int8 |= p.format() == PackedWeight.Format.INT8;
        }
        t.start[count] = total;
        t.chunkRows = Math.max(4, Math.min(64, total / (8 * pool.size())));
        int n = t.pw[0].cols();
        t.xp = t.xq = x;
        if (bf16) {
            if (xp.length < rows * n) xp = new float[rows * n];
            Dots.permuteForBf16(x, rows, n, xp);
            t.xp = xp;
        }
        if (int8) {
            if (xq.length < rows * n) xq = new float[rows * n];
            Dots.permuteForInt8(x, rows, n, xq);
            t.xq = xq;
        }
        if (macs < PARALLEL_MIN_MACS) WorkerPool.runInline(t);
        else pool.run(t);
        t.x = t.xp = t.xq = null;
        for (int m = 0; m < count; m++) t.ys[m] = null;
    }

    private float[] scratch(int w, int n) {
        if (scratch[w].length < n) scratch[w] = new float[n];
        return scratch[w];
    }

    private final class LinearTask implements WorkerPool.Task {
        final PackedWeight[] pw = new PackedWeight[8];
        final float[][] ys = new float[8][];
        final float[][] bias = new float[8][];
        final int[] start = new int[9];
        int count, rows, chunkRows;
        float[] x, xp, xq;
        boolean blocked;

        @Override
        public int chunks() { return (start[count] + chunkRows - 1) / chunkRows; }

        @Override
        public void run(int chunk, int w) {
            int from = chunk * chunkRows, to = Math.min(start[count], from + chunkRows);
            for (int m = 0; m < count; m++) {
                int a = Math.max(from, start[m]), b = Math.min(to, start[m + 1]);
                if (a >= b) continue;
                if (blocked) blockedRows(w, m, a - start[m], b - start[m]);
                else streamRows(w, m, a - start[m], b - start[m]);
            }
        }

        private float[] input(PackedWeight p) {
            return switch (p.format()) {
                case BF16 -> xp;
                case INT8 -> xq;
                default -> x;
            };
        }

        /** Each weight row read once from memory, dotted with every activation row. */
        private void streamRows(int worker, int m, int o0, int o1) {
            PackedWeight p = pw[m];
            float[] y = ys[m], bs = bias[m];
            int out = p.rows(), in = p.cols(), rows = this.rows;
            float[] xx = input(p);
            var seg = p.data();
            int o = o0;
            if (rows == 1 && p.format() != PackedWeight.Format.F16 && o1 - o0 >= 4) {
                // one sequence: four weight rows per pass (four memory streams and dependency chains per thread)
                long rs = p.ldBytes();
                for (; o + 4 <= o1; o += 4) {
                    long wo = p.rowOffset(o);
                    switch (p.format()) {
                        case BF16 -> Dots.bf16r4(seg, wo, rs, xx, 0, in, y, o, bs, o);
                        case F32 -> Dots.f32r4(seg, wo, rs, xx, 0, in, y, o, bs, o);
                        default -> Dots.int8r4(seg, wo, rs, p.scales(), o * p.groups(), p.groups(), xx, 0, in, y, o, bs, o);
                    }
                }
            }
            for (; o < o1; o++) {
                long wo = p.rowOffset(o);
                float b = bs == null ? 0f : bs[o];
                int r = 0;
                switch (p.format()) {
                    case F32 -> {
                        for (; r + 4 <= rows; r += 4) Dots.f32x4(seg, wo, xx, r * in, in, y, r * out + o, out, b);
                        for (; r < rows; r++) y[r * out + o] = Dots.f32x1(seg, wo, xx, r * in, in) + b;
                    }
                    case BF16 -> {
                        for (; r + 4 <= rows; r += 4) Dots.bf16x4(seg, wo, xx, r * in, in, y, r * out + o, out, b);
                        for (; r < rows; r++) y[r * out + o] = Dots.bf16x1(seg, wo, xx, r * in, in) + b;
                    }
                    case INT8 -> {
                        int so = o * p.groups();
                        for (; r + 4 <= rows; r += 4) Dots.int8x4(seg, wo, p.scales(), so, xx, r * in, in, y, r * out + o, out, b);
                        for (; r < rows; r++) y[r * out + o] = Dots.int8x1(seg, wo, p.scales(), so, xx, r * in, in) + b;
                    }
                    case F16 -> {
                        float[] row = scratch(worker, in);
                        Dots.rowToFloat(p, o, row, 0);
                        for (; r < rows; r++) y[r * out + o] = Dots.dot(row, 0, xx, r * in, in) + b;
                    }
                }
            }
        }

        /** Prompt phase: activation rows in L2-sized blocks, two converted weight rows x four activation rows per tile. */
        private void blockedRows(int worker, int m, int o0, int o1) {
            PackedWeight p = pw[m];
            float[] y = ys[m], bs = bias[m];
            int out = p.rows(), in = p.cols(), rows = this.rows;
            float[] xx = input(p);
            float[] wb = scratch(worker, 2 * in);
            int rb = Math.max(4, (131072 / Math.max(1, in)) & ~3);
            for (int r0 = 0; r0 < rows; r0 += rb) {
                int r1 = Math.min(rows, r0 + rb);
                for (int o = o0; o < o1; o += 2) {
                    boolean pair = o + 1 < o1;
                    Dots.rowToFloatBlocked(p, o, wb, 0);
                    if (pair) Dots.rowToFloatBlocked(p, o + 1, wb, in);
                    float b0 = bs == null ? 0f : bs[o], b1 = bs == null || !pair ? 0f : bs[o + 1];
                    int r = r0;
                    if (pair) for (; r + 4 <= r1; r += 4) Dots.tile2x4(wb, 0, xx, r * in, in, y, r * out + o, out, b0, b1);
                    for (; r < r1; r++) {
                        y[r * out + o] = Dots.dot(wb, 0, xx, r * in, in) + b0;
                        if (pair) y[r * out + o + 1] = Dots.dot(wb, in, xx, r * in, in) + b1;
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------ norms and activations

    @Override
    public void rmsNorm(float[] x, int rows, int n, Tensor w, float eps, float[] y) {
        float[] wf = store.floats(w);
        for (int r = 0; r < rows; r++) {
            int off = r * n;
            float ss = Dots.dot(x, off, x, off, n);
            float inv = (float) (1.0 / Math.sqrt(ss / n + eps));
            FloatVector iv = FloatVector.broadcast(F, inv);
            int i = 0;
            for (; i + L <= n; i += L)
                FloatVector.fromArray(F, x, off + i).mul(iv).mul(FloatVector.fromArray(F, wf, i)).intoArray(y, off + i);
            for (; i < n; i++) y[off + i] = x[off + i] * inv * wf[i];
        }
    }

    @Override
    public void layerNorm(float[] x, int rows, int n, Tensor w, Tensor b, float eps, float[] y) {
        ReferenceKernels.layerNorm(x, rows, n, store.floats(w), b == null ? null : store.floats(b), eps, y);
    }

    @Override
    public void gatedActivation(ModelConfig.Activation act, float[] a, float[] g, int n) {
        int i = 0;
        if (act == ModelConfig.Activation.SILU) {
            FloatVector one1 = FloatVector.broadcast(F, 1f);
            for (; i + L <= n; i += L) {
                FloatVector gv = FloatVector.fromArray(F, g, i);
                FloatVector s = gv.div(gv.neg().lanewise(VectorOperators.EXP).add(one1));
                s.mul(FloatVector.fromArray(F, a, i)).intoArray(a, i);
            }
        }
        for (; i < n; i++) a[i] *= Activations.apply(act, g[i]);
    }

    // ------------------------------------------------------------------ attention

    @Override
    public void attention(float[] q, int qRow, int t, int p0, float[] kCache, float[] vCache, int heads, int kvHeads,
                          int headDim, float[] out) {
        AttentionTask a = at;
        a.q = q;
        a.qRow = qRow;
        a.t = t;
        a.p0 = p0;
        a.k = kCache;
        a.v = vCache;
        a.heads = heads;
        a.kvHeads = kvHeads;
        a.hd = headDim;
        a.out = out;
        a.scale = (float) (1.0 / Math.sqrt(headDim));
        long work = (long) t * heads * (p0 + t) * headDim;
        if (work < PARALLEL_MIN_MACS) WorkerPool.runInline(a);
        else pool.run(a);
        a.q = a.k = a.v = a.out = null;
    }

    private final class AttentionTask implements WorkerPool.Task {
        float[] q, k, v, out;
        int qRow, t, p0, heads, kvHeads, hd;
        float scale;

        /** (query, head) pairs per chunk */
        static final int PER_CHUNK = 4;

        @Override
        public int chunks() { return (t * heads + PER_CHUNK - 1) / PER_CHUNK; }

        @Override
        public void run(int chunk, int w) {
            int qDim = heads * hd, kvDim = kvHeads * hd, group = heads / kvHeads;
            float[] sc = scratch(w, p0 + t);
            for (int idx = chunk * PER_CHUNK, end = Math.min(t * heads, idx + PER_CHUNK); idx < end; idx++) {
                int i = idx / heads, h = idx % heads, pos = p0 + i;
                int qo = (qRow + i) * qDim + h * hd, ko = (h / group) * hd;
                float max = hd == 4 * L ? scores4(q, qo, k, kvDim, ko, pos + 1, scale, sc) : Float.NEGATIVE_INFINITY;
                if (hd != 4 * L) {
                    for (int j = 0; j <= pos; j++) {
                        float s = Dots.dot(q, qo, k, j * kvDim + ko, hd) * scale;
                        sc[j] = s;
                        if (s > max) max = s;
                    }
                }
                float sum = expInPlace(sc, pos + 1, max);
                float inv = 1f / sum;
                if (hd == 4 * L) weighted4(sc, pos + 1, inv, v, kvDim, ko, out, qo);
                else {
                    java.util.Arrays.fill(out, qo, qo + hd, 0f);
                    for (int j = 0; j <= pos; j++) Dots.axpy(sc[j] * inv, v, j * kvDim + ko, out, qo, hd);
                }
            }
        }
    }

    /** sc[j] = scale * q[qo..qo+4L) . k[j*kvDim + ko ..] for j < n, q held in registers; returns the max. */
    static float scores4(float[] q, int qo, float[] k, int kvDim, int ko, int n, float scale, float[] sc) {
        FloatVector q0 = FloatVector.fromArray(F, q, qo).mul(scale), q1 = FloatVector.fromArray(F, q, qo + L).mul(scale),
                q2 = FloatVector.fromArray(F, q, qo + 2 * L).mul(scale), q3 = FloatVector.fromArray(F, q, qo + 3 * L).mul(scale);
        float max = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < n; j++) {
            int o = j * kvDim + ko;
            FloatVector a = FloatVector.fromArray(F, k, o).mul(q0);
            a = FloatVector.fromArray(F, k, o + L).fma(q1, a);
            a = FloatVector.fromArray(F, k, o + 2 * L).fma(q2, a);
            a = FloatVector.fromArray(F, k, o + 3 * L).fma(q3, a);
            float s = a.reduceLanes(VectorOperators.ADD);
            sc[j] = s;
            if (s > max) max = s;
        }
        return max;
    }

    /** out[oo..oo+4L) = inv * sum_j p[j] v[j*kvDim + ko ..], accumulated in registers (head size 4L, e.g. 64). */
    static void weighted4(float[] p, int n, float inv, float[] v, int kvDim, int ko, float[] out, int oo) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        for (int j = 0; j < n; j++) {
            FloatVector pj = FloatVector.broadcast(F, p[j]);
            int vo = j * kvDim + ko;
            a0 = FloatVector.fromArray(F, v, vo).fma(pj, a0);
            a1 = FloatVector.fromArray(F, v, vo + L).fma(pj, a1);
            a2 = FloatVector.fromArray(F, v, vo + 2 * L).fma(pj, a2);
            a3 = FloatVector.fromArray(F, v, vo + 3 * L).fma(pj, a3);
        }
        FloatVector iv = FloatVector.broadcast(F, inv);
        a0.mul(iv).intoArray(out, oo);
        a1.mul(iv).intoArray(out, oo + L);
        a2.mul(iv).intoArray(out, oo + 2 * L);
        a3.mul(iv).intoArray(out, oo + 3 * L);
    }

    /** s[i] = exp(s[i] - max) for i < n; returns the sum. */
    static float expInPlace(float[] s, int n, float max) {
        FloatVector mv = FloatVector.broadcast(F, max), acc = FloatVector.zero(F);
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector e = FloatVector.fromArray(F, s, i).sub(mv).lanewise(VectorOperators.EXP);
            e.intoArray(s, i);
            acc = acc.add(e);
        }
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) sum += s[i] = (float) Math.exp(s[i] - max);
        return sum;
    }

    @Override
    public void close() {
        pool.close();
        store.close();
    }
}
