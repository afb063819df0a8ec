package dev.fathom.engine.parallel;

import dev.fathom.engine.cpu.CpuKernels;
import dev.fathom.engine.cpu.CpuModel;
import dev.fathom.engine.model.LayerWeights;
import dev.fathom.engine.model.ModelConfig;
import dev.fathom.engine.model.ModelWeights;
import dev.fathom.engine.telemetry.TelemetryEvent.Phase;
import dev.fathom.engine.telemetry.TelemetrySink;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Supplier;

/**
 * The ranks of one pipeline stage: {@code dp} replicas x {@code tp} tensor ranks, each a thread with
 * its own {@link CpuModel} over its weight slices and its own KV cache. A micro-batch's sequences are
 * split over the replicas by slot ({@code slot % dp}, so a sequence always finds its KV cache on the
 * same replica); the tensor ranks of a replica all-reduce; for MoE models every rank of the stage
 * exchanges rows at the expert layers.
 */
final class StageGroup implements AutoCloseable {
    private final ModelConfig cfg;
    private final int stage;
    private final int tp;
    private final int dp;
    private final int baseRank;
    private final boolean hasEmbed;
    private final boolean hasHead;
    private final CpuModel[][] models;       // [replica][tp rank]
    private final KvOffloader[][] offload;   // null when KV offload is off
    private final List<CommGroup> comms = new ArrayList<>();
    private final ExecutorService pool;
    private final ExecutorService copier;

    StageGroup(ModelConfig cfg, ModelWeights w, int stage, int first, int last, boolean hasEmbed, boolean hasHead,
               int tp, int dp, ExpertExchange.Form moeForm, Supplier<CpuKernels> kernels, int maxSlots, int maxLen,
               boolean kvOffload, TelemetrySink sink) {
        this.cfg = cfg;
        this.stage = stage;
        this.tp = tp;
        this.dp = dp;
        this.baseRank = stage * tp * dp;
        this.hasEmbed = hasEmbed;
        this.hasHead = hasHead;
        int world = tp * dp;
        models = new CpuModel[dp][tp];
        offload = kvOffload ? new KvOffloader[dp][tp] : null;
        copier = kvOffload ? Executors.newSingleThreadExecutor(r -> Thread.ofPlatform().daemon().name("fathom-kv-copy-" + stage).unstarted(r)) : null;
        List<List<LayerWeights>> sliced = new ArrayList<>();
        for (int j = 0; j < tp; j++) {
            List<LayerWeights> ls = new ArrayList<>();
            for (int l = first; l < last; l++) ls.add(TensorSlicer.slice(w.layers().get(l), cfg.headDim(), j, tp));
            sliced.add(ls);
        }
        CommGroup[] tpGroups = new CommGroup[dp];
        for (int d = 0; d < dp; d++) tpGroups[d] = add(new CommGroup("tensor group (stage " + stage + ", replica " + d + ")", ranks(d * tp, 1, tp), sink));
        CommGroup worldGroup = null;
        CommGroup[] sameTp = new CommGroup[tp];
        boolean ep = cfg.isMoe() && world > 1;
        if (ep) {
            worldGroup = add(new CommGroup("expert group (stage " + stage + ")", ranks(0, 1, world), sink));
            for (int j = 0; j < tp; j++) sameTp[j] = add(new CommGroup("expert group (stage " + stage + ", tensor rank " + j + ")", ranks(j, tp, dp), sink));
        }
        int slotsPerReplica = (maxSlots + dp - 1) / dp;
        for (int d = 0; d < dp; d++)
            for (int j = 0; j < tp; j++) {
                CommGroup.Member tpm = tpGroups[d].member(j);
                CpuModel m = new CpuModel(cfg, w, sliced.get(j), first, last, hasEmbed, hasHead, kernels.get(), tpm,
                        slotsPerReplica, maxLen, sink, "cpu", null);
                if (ep) {
                    CommGroup.Member a2a = moeForm == ExpertExchange.Form.PCC ? sameTp[j].member(d) : worldGroup.member(d * tp + j);
                    m.setMoeLayer(new ExpertExchange(moeForm, a2a, tpm, cfg.numExperts(), sink));
                }
                models[d][j] = m;
                if (kvOffload) offload[d][j] = new KvOffloader(m.cache(), first, last, baseRank + d * tp + j, copier, sink);
            }
        pool = world == 1 ? null : Executors.newFixedThreadPool(world, r -> Thread.ofPlatform().daemon().name("fathom-rank-s" + stage).unstarted(r));
    }

    private CommGroup add(CommGroup g) {
        comms.add(g);
        return g;
    }

    private int[] ranks(int start, int stride, int n) {
        int[] r = new int[n];
        for (int i = 0; i < n; i++) r[i] = baseRank + start + i * stride;
        return r;
    }

    int baseRank() { return baseRank; }
    int ranks() { return tp * dp; }

    /** Indices (into the step's sequences) handled by replica {@code d}. */
    private int[] share(StageStep s, int d) {
        int k = 0;
        for (int slot : s.slots()) if (slot % dp == d) k++;
        int[] idx = new int[k];
        k = 0;
        for (int i = 0; i < s.slots().length; i++) if (s.slots()[i] % dp == d) idx[k++] = i;
        return idx;
    }

    private int[] localSlots(StageStep s, int[] idx) {
        int[] out = new int[idx.length];
        for (int i = 0; i < idx.length; i++) out[i] = s.slots()[idx[i]] / dp;
        return out;
    }

    void arriving(StageStep s) {
        if (offload == null) return;
        boolean fresh = s.phase() == Phase.PROMPT;
        for (int d = 0; d < dp; d++) {
            int[] ls = localSlots(s, share(s, d));
            for (int j = 0; j < tp; j++) offload[d][j].fetch(ls, fresh);
        }
    }

    void left(StageStep s) {
        if (offload == null) return;
        for (int d = 0; d < dp; d++) {
            int[] ls = localSlots(s, share(s, d));
            for (int j = 0; j < tp; j++) offload[d][j].offload(ls);
        }
    }

    /**
     * Runs the stage: input is the micro-batch's hidden states [rows, hidden] (ignored on the first
     * stage, which embeds {@code step.tokens}); returns hidden states, or on the last stage the logits
     * [selected rows, vocab] (every position when {@code allPositions}, else each sequence's last).
     */
    Object run(StageStep s, Object input) throws Exception {
        int b = s.slots().length, t = s.t(), h = cfg.hiddenSize(), vocab = cfg.vocabSize();
        int per = hasHead && !s.allPositions() ? 1 : t;
        float[] out = new float[b * per * (hasHead ? vocab : h)];
        float[] x = (float[]) input;
        List<Callable<Void>> tasks = new ArrayList<>();
        for (int d = 0; d < dp; d++)
            for (int j = 0; j < tp; j++) {
                int dd = d, jj = j;
                tasks.add(() -> {
                    try {
                        rank(s, dd, jj, x, out, per);
                    } catch (Throwable e) {
                        for (CommGroup g : comms) g.abort();
                        throw e;
                    }
                    return null;
                });
            }
        if (pool == null) {
            tasks.getFirst().call();
            return out;
        }
        List<Future<Void>> fs = pool.invokeAll(tasks);
        Throwable first = null;
        for (Future<Void> f : fs) {
            try {
                f.get();
            } catch (ExecutionException e) {
                Throwable c = e.getCause();
                if (first == null || first instanceof java.util.concurrent.CancellationException) first = c;
            }
        }
        if (first instanceof Exception ex) throw ex;
        if (first instanceof Error er) throw er;
        return out;
    }

    private void rank(StageStep s, int d, int j, float[] xin, float[] out, int per) {
        int[] idx = share(s, d);
        int t = s.t(), h = cfg.hiddenSize(), vocab = cfg.vocabSize(), n = idx.length * t;
        int[] slots = localSlots(s, idx), start = new int[idx.length];
        for (int i = 0; i < idx.length; i++) start[i] = s.start()[idx[i]];
        CpuModel m = models[d][j];
        if (offload != null) offload[d][j].await(slots);
        CpuModel.Batch batch = new CpuModel.Batch(slots, start, t, s.phase());
        float[] x;
        if (hasEmbed) {
            int[] tok = new int[n];
            for (int i = 0; i < idx.length; i++) System.arraycopy(s.tokens(), idx[i] * t, tok, i * t, t);
            x = m.embed(tok, batch);
        } else {
            x = new float[n * h];
            for (int i = 0; i < idx.length; i++) System.arraycopy(xin, idx[i] * t * h, x, i * t * h, t * h);
        }
        m.layers(x, batch);
        if (offload != null) for (int i = 0; i < idx.length; i++) offload[d][j].written(slots[i], start[i] + t);
        if (j != 0) return;
        if (hasHead) {
            int[] rows = null;
            if (per == 1) {
                rows = new int[idx.length];
                for (int i = 0; i < idx.length; i++) rows[i] = i * t + t - 1;
            }
            float[] lg = m.logits(x, n, rows, s.phase());
            for (int i = 0; i < idx.length; i++) System.arraycopy(lg, i * per * vocab, out, idx[i] * per * vocab, per * vocab);
        } else {
            for (int i = 0; i < idx.length; i++) System.arraycopy(x, i * t * h, out, idx[i] * t * h, t * h);
        }
    }

    @Override
    public void close() {
        if (pool != null) pool.shutdownNow();
        if (offload != null) for (KvOffloader[] r : offload) for (KvOffloader o : r) o.close();
        if (copier != null) copier.shutdownNow();
        for (CpuModel[] r : models) for (CpuModel m : r) m.kernels().close();
    }
}
