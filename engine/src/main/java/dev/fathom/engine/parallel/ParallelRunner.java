package dev.fathom.engine.parallel;

import dev.fathom.engine.backend.ModelRunner;
import dev.fathom.engine.cpu.CpuKernels;
import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.model.ModelConfig;
import dev.fathom.engine.model.ModelWeights;
import dev.fathom.engine.plan.ExecutionPlan;
import dev.fathom.engine.run.CancellationToken;
import dev.fathom.engine.run.GenerationLoop;
import dev.fathom.engine.run.GenerationRequest;
import dev.fathom.engine.run.GenerationResult;
import dev.fathom.engine.run.Sampler;
import dev.fathom.engine.run.TokenListener;
import dev.fathom.engine.telemetry.TelemetryEvent;
import dev.fathom.engine.telemetry.TelemetryEvent.Phase;
import dev.fathom.engine.telemetry.TelemetrySink;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Supplier;

/**
 * CPU ranks running one model with tensor, pipeline, data and expert parallelism (Sections IV and V).
 * Layers are split into {@code pp} stages ({@link StageGroup}s of {@code dp x tp} rank threads) driven
 * by a {@link PipelineScheduler}. {@link #prefill} and {@link #decode} split their batch into the
 * prompt-phase and generation-phase micro-batch counts (hybrid scheduling) and run them through the
 * stages concurrently; with more than one stage, whole generations use the paper's schedule
 * ({@link #generate}) where each micro-batch's next token is queued as soon as it leaves the last stage.
 */
public final class ParallelRunner implements ModelRunner, GenerationLoop {
    private final ModelConfig cfg;
    private final ParallelLayout layout;
    private final PipelineStages stages;
    private final PipelineScheduler scheduler;
    private final int maxSlots;
    private final int maxLen;
    private final TelemetrySink sink;
    private final boolean kvOffload;
    private boolean continuous = true;

    public ParallelRunner(ModelConfig cfg, ModelWeights w, ParallelLayout layout, Supplier<CpuKernels> kernels,
                          int maxSlots, int maxLen, boolean kvOffload, TelemetrySink sink) {
        this(cfg, layout, cpuStages(cfg, w, layout, kernels, maxSlots, maxLen, kvOffload, sink), maxSlots, maxLen, kvOffload, sink);
    }

    /**
     * A pipeline over stages another backend provides (e.g. one GPU per stage): same scheduler, schedules,
     * micro-batching and stage spans as the CPU ranks. The runner owns {@code stages} and closes them.
     */
    public ParallelRunner(ModelConfig cfg, ParallelLayout layout, PipelineStages stages, int maxSlots, int maxLen, TelemetrySink sink) {
        this(cfg, layout, stages, maxSlots, maxLen, false, sink);
    }

    private ParallelRunner(ModelConfig cfg, ParallelLayout layout, PipelineStages stages, int maxSlots, int maxLen, boolean kvOffload,
                           TelemetrySink sink) {
        this.cfg = cfg;
        this.layout = layout;
        this.maxSlots = maxSlots;
        this.maxLen = maxLen;
        this.sink = sink;
        this.kvOffload = kvOffload;
        this.stages = stages;
        int[] stageRanks = new int[stages.count()];
        for (int s = 0; s < stageRanks.length; s++) stageRanks[s] = stages.rank(s);
        scheduler = new PipelineScheduler(stageRanks.length, new PipelineScheduler.Stage() {
            @Override public Object run(int stage, PipelineScheduler.Work work, Object input) throws Exception {
                return stages.run(stage, (StageStep) work.payload(), input);
            }
            @Override public void arriving(int stage, PipelineScheduler.Work work) { stages.arriving(stage, (StageStep) work.payload()); }
            @Override public void left(int stage, PipelineScheduler.Work work) { stages.left(stage, (StageStep) work.payload()); }
        }, stageRanks, sink);
    }

    /** The CPU rank groups of a layout, one {@link StageGroup} per stage. */
    private static PipelineStages cpuStages(ModelConfig cfg, ModelWeights w, ParallelLayout layout, Supplier<CpuKernels> kernels,
                                            int maxSlots, int maxLen, boolean kvOffload, TelemetrySink sink) {
        int pp = layout.pp(), layers = cfg.numLayers();
        if (pp > layers) throw new IllegalArgumentException(pp + " stages for " + layers + " layers");
        StageGroup[] groups = new StageGroup[pp];
        try {
            for (int s = 0; s < pp; s++)
                groups[s] = new StageGroup(cfg, w, s, TensorSlicer.from(layers, s, pp), TensorSlicer.to(layers, s, pp), s == 0, s == pp - 1,
                        layout.tp(), layout.dp(), layout.form(), kernels, maxSlots, maxLen, kvOffload, sink);
        } catch (RuntimeException e) {
            for (StageGroup g : groups) if (g != null) g.close();
            throw e;
        }
        return new PipelineStages() {
            @Override public int count() { return pp; }
            @Override public int rank(int stage) { return groups[stage].baseRank(); }
            @Override public Object run(int stage, StageStep step, Object input) throws Exception { return groups[stage].run(step, input); }
            @Override public void arriving(int stage, StageStep step) { groups[stage].arriving(step); }
            @Override public void left(int stage, StageStep step) { groups[stage].left(step); }
            @Override public void close() { for (StageGroup g : groups) g.close(); }
        };
    }

    /** Opens the runner a plan asks for, with kernels from {@code kernels} (one instance per rank). */
    public static ParallelRunner open(LoadedModel m, ExecutionPlan plan, Supplier<CpuKernels> kernels, TelemetrySink sink) {
        ParallelLayout l = ParallelLayout.of(plan.parallel(), m.config());
        long threshold = plan.profile().placement().kvOffloadThreshold();
        boolean offload = threshold > 0 && plan.kvBytes() > threshold;
        return new ParallelRunner(m.config(), m.weights(), l, kernels, plan.slots(), plan.maxSeqLen(), offload, sink);
    }

    /**
     * The plan each rank's kernels are made from: the CPU threads of the profile (0 = one per core)
     * divided among the ranks, at least one each, so ranks do not oversubscribe the cores they share.
     */
    public static ExecutionPlan perRankPlan(ExecutionPlan plan, ModelConfig c) {
        int ranks = ParallelLayout.of(plan.parallel(), c).ranks();
        int threads = plan.profile().threads() > 0 ? plan.profile().threads() : Runtime.getRuntime().availableProcessors();
        return new ExecutionPlan(plan.profile().withThreads(Math.max(1, threads / ranks)), plan.config(), plan.backend(), plan.slots(),
                plan.maxSeqLen(), plan.weightBytes(), plan.kvBytes(), plan.notes());
    }

    public ParallelLayout parallelLayout() { return layout; }
    public boolean kvOffload() { return kvOffload; }

    /** Continuous (the paper's, default) or lockstep (naive per-token) generation schedule. */
    public void setContinuous(boolean c) { this.continuous = c; }

    @Override public boolean ownsLoop() { return continuous && layout.pp() > 1; }

    // ------------------------------------------------------------------ ModelRunner

    private static List<int[]> chunks(int n, int parts) {
        parts = Math.max(1, Math.min(parts, n));
        List<int[]> l = new ArrayList<>();
        for (int i = 0; i < parts; i++) {
            int a = TensorSlicer.from(n, i, parts), b = TensorSlicer.to(n, i, parts);
            int[] idx = new int[b - a];
            for (int k = 0; k < idx.length; k++) idx[k] = a + k;
            l.add(idx);
        }
        return l;
    }

    @Override
    public float[][][] prefill(int[] slots, int[][] tokens, boolean allPositions) {
        int b = slots.length, t = tokens[0].length, per = allPositions ? t : 1;
        List<int[]> groups = chunks(b, layout.promptMicroBatches());
        List<PipelineScheduler.Submission> subs = new ArrayList<>();
        for (int g = 0; g < groups.size(); g++) {
            int[] idx = groups.get(g);
            int[] sl = new int[idx.length], flat = new int[idx.length * t];
            for (int i = 0; i < idx.length; i++) {
                sl[i] = slots[idx[i]];
                System.arraycopy(tokens[idx[i]], 0, flat, i * t, t);
            }
            StageStep st = new StageStep(sl, new int[idx.length], t, flat, Phase.PROMPT, allPositions);
            subs.add(new PipelineScheduler.Submission(new PipelineScheduler.Work(g, idx, Phase.PROMPT, st), null));
        }
        Object[] outs = scheduler.runAll(subs);
        float[][][] out = new float[b][per][];
        int v = cfg.vocabSize();
        for (int g = 0; g < groups.size(); g++) {
            float[] lg = (float[]) outs[g];
            int[] idx = groups.get(g);
            for (int i = 0; i < idx.length; i++)
                for (int j = 0; j < per; j++) out[idx[i]][j] = Arrays.copyOfRange(lg, (i * per + j) * v, (i * per + j + 1) * v);
        }
        return out;
    }

    private PipelineScheduler.Submission decodeStep(int mb, int[] seqIdx, int[] slots, int[] tokens, int[] positions) {
        StageStep st = new StageStep(slots, positions, 1, tokens, Phase.DECODE, false);
        return new PipelineScheduler.Submission(new PipelineScheduler.Work(mb, seqIdx, Phase.DECODE, st), null);
    }

    @Override
    public float[][] decode(int[] slots, int[] tokens, int[] positions) {
        int b = slots.length;
        List<int[]> groups = chunks(b, layout.genMicroBatches());
        List<PipelineScheduler.Submission> subs = new ArrayList<>();
        for (int g = 0; g < groups.size(); g++) {
            int[] idx = groups.get(g);
            subs.add(decodeStep(g, idx, pick(slots, idx), pick(tokens, idx), pick(positions, idx)));
        }
        Object[] outs = scheduler.runAll(subs);
        float[][] out = new float[b][];
        int v = cfg.vocabSize();
        for (int g = 0; g < groups.size(); g++) {
            float[] lg = (float[]) outs[g];
            int[] idx = groups.get(g);
            for (int i = 0; i < idx.length; i++) out[idx[i]] = Arrays.copyOfRange(lg, i * v, (i + 1) * v);
        }
        return out;
    }

    private static int[] pick(int[] a, int[] idx) {
        int[] r = new int[idx.length];
        for (int i = 0; i < idx.length; i++) r[i] = a[idx[i]];
        return r;
    }

    // ------------------------------------------------------------------ the paper's generation schedule

    @Override
    public GenerationResult generate(GenerationRequest req, TokenListener listener, CancellationToken cancel) {
        int b = req.batch(), p = req.promptLen(), n = req.maxNewTokens();
        Sampler sampler = new Sampler(req.sampling());
        int[] slots = new int[b];
        for (int i = 0; i < b; i++) slots[i] = i;
        int[][] seqs = new int[b][p + n];
        int[] len = new int[b];
        for (int i = 0; i < b; i++) {
            System.arraycopy(req.prompts()[i], 0, seqs[i], 0, p);
            len[i] = p;
        }
        float[][][] stepLogits = req.keepStepLogits() ? new float[b][n][] : null;
        boolean[] done = new boolean[b];
        long t0 = System.nanoTime();
        float[][][] pl = prefill(slots, req.prompts(), req.keepPromptLogits());
        long prefillNs = System.nanoTime() - t0;
        if (sink.enabled()) sink.emit(new TelemetryEvent.PhaseSpan(Phase.PROMPT, t0, prefillNs, b * p));
        // one token out of a sequence's logits; marks it done at EOS or after n tokens
        java.util.function.BiConsumer<Integer, float[]> accept = (i, logits) -> {
            int step = len[i] - p;
            int tok = sampler.next(logits);
            if (stepLogits != null) stepLogits[i][step] = logits;
            seqs[i][len[i]++] = tok;
            listener.onToken(i, tok, step);
            if (sink.enabled()) sink.emit(new TelemetryEvent.TokenEvent(i, tok, len[i] - 1, System.nanoTime()));
            if ((req.sampling().stopOnEos() && cfg.eosTokenIds().contains(tok)) || len[i] - p >= n) done[i] = true;
        };
        boolean[] cancelled = {cancel != null && cancel.isCancelled()};
        long d0 = System.nanoTime();
        int[] passes = new int[Math.max(1, Math.min(layout.genMicroBatches(), b))];
        if (!cancelled[0]) {
            for (int i = 0; i < b; i++) accept.accept(i, pl[i][pl[i].length - 1]);
            List<int[]> groups = chunks(b, layout.genMicroBatches());
            List<PipelineScheduler.Submission> subs = new ArrayList<>();
            for (int g = 0; g < groups.size(); g++) {
                PipelineScheduler.Submission s = next(g, groups.get(g), seqs, len, done);
                if (s != null) subs.add(s);
            }
            scheduler.runContinuous(subs, c -> {
                int[] idx = c.work().sequences();
                float[] lg = (float[]) c.output();
                int v = cfg.vocabSize();
                for (int i = 0; i < idx.length; i++) accept.accept(idx[i], Arrays.copyOfRange(lg, i * v, (i + 1) * v));
                passes[c.work().microBatch()]++;
                if (cancel != null && cancel.isCancelled()) {
                    cancelled[0] = true;
                    return null;
                }
                return next(c.work().microBatch(), idx, seqs, len, done);
            });
        }
        long decodeNs = System.nanoTime() - d0;
        int steps = Arrays.stream(passes).max().orElse(0);
        if (sink.enabled()) sink.emit(new TelemetryEvent.PhaseSpan(Phase.DECODE, d0, decodeNs, Arrays.stream(len).map(x -> x - p).sum()));
        int[][] tokens = new int[b][];
        for (int i = 0; i < b; i++) tokens[i] = Arrays.copyOf(seqs[i], len[i]);
        if (stepLogits != null)
            for (int i = 0; i < b; i++) stepLogits[i] = Arrays.copyOf(stepLogits[i], len[i] - p);
        return new GenerationResult(tokens, req.keepPromptLogits() ? pl : null, stepLogits, prefillNs, decodeNs, steps, cancelled[0]);
    }

    /** The next decode step of the still-running sequences among {@code idx} (slot = sequence index), or null. */
    private PipelineScheduler.Submission next(int mb, int[] idx, int[][] seqs, int[] len, boolean[] done) {
        int k = 0;
        for (int i : idx) if (!done[i]) k++;
        if (k == 0) return null;
        int[] live = new int[k], tok = new int[k], pos = new int[k];
        k = 0;
        for (int i : idx) {
            if (done[i]) continue;
            live[k] = i;
            tok[k] = seqs[i][len[i] - 1];
            pos[k] = len[i] - 1;
            k++;
        }
        return decodeStep(mb, live, live.clone(), tok, pos);
    }

    @Override public int maxSlots() { return maxSlots; }
    @Override public int maxSeqLen() { return maxLen; }

    @Override
    public String layout() {
        String where = stages.describe();
        return (where != null ? where : layout.describe(cfg.isMoe())) + (layout.pp() > 1 ? (continuous ? ", continuous schedule" : ", lockstep schedule") : "")
                + (kvOffload ? ", KV offload to host on" : "");
    }

    @Override
    public void close() {
        scheduler.close();
        stages.close();
    }
}
