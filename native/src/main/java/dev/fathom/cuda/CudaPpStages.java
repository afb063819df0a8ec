package dev.fathom.cuda;

import dev.fathom.engine.model.ModelConfig;
import dev.fathom.engine.model.ModelWeights;
import dev.fathom.engine.parallel.ParallelLayout;
import dev.fathom.engine.parallel.ParallelRunner;
import dev.fathom.engine.parallel.PipelineStages;
import dev.fathom.engine.parallel.StageStep;
import dev.fathom.engine.parallel.TensorSlicer;
import dev.fathom.engine.telemetry.TelemetryEvent;
import dev.fathom.engine.telemetry.TelemetrySink;
import dev.fathom.profiles.Precision;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Pipeline parallelism over the GPUs of one host (Section IV-C): stage s is a {@link CudaModel} of layers
 * [{@link TensorSlicer#from}, {@link TensorSlicer#to}) on GPU s, the embedding on stage 0 only, the final norm and
 * LM head on the last stage only, each stage's KV cache holding its own layers. The stages are driven by the
 * engine's {@link ParallelRunner} (its {@code PipelineScheduler}: one worker thread per stage fed by a
 * micro-batch queue, the paper's continuous generation schedule or the lockstep one, hybrid prompt/generation
 * micro-batch counts, a {@code StageSpan} per stage pass).
 *
 * <p>Hand-over: a stage that is not the last ends its pass with the hidden state [rows, h] in its model's buffer;
 * its thread takes a free buffer of the next GPU's receive ring, copies the rows there GPU to GPU
 * ({@code cuMemcpyPeerAsync}, direct over NVLink with peer access enabled), waits for the copy and hands the
 * buffer's index down the queue. The next stage's thread copies it into its own hidden-state buffer on its stream
 * (ahead of the pass, so also ahead of a replayed decode graph) and returns the buffer to the ring when its pass
 * has finished. The ring lets the sender run ahead of the receiver by as many micro-batches as it has buffers.
 */
public final class CudaPpStages implements PipelineStages {
    /** What a stage passes to the next: the receive buffer (on the next GPU) holding {@code rows} hidden-state rows. */
    record Handoff(int buffer, int rows) {}

    /** Receive buffers per stage boundary: enough for the schedule's micro-batches in flight. */
    static final int RING = 4;

    private final int pp;
    private final int[] first;
    private final int[] last;
    private final Cuda[] devs;
    private final CudaModel[] models;
    /** [stage][buffer]: receive ring on stage s's GPU (s >= 1), each [maxRows, h] float32. */
    private final long[][] recv;
    private final List<BlockingQueue<Integer>> free = new ArrayList<>();
    private volatile TelemetrySink sink;
    private final int vocab;
    private final boolean peer;

    /**
     * @param pp    stages, one per GPU (cuda:0 .. cuda:pp-1)
     * @param slots sequences the KV caches hold
     */
    public CudaPpStages(ModelConfig cfg, ModelWeights w, int pp, int slots, int maxLen, TelemetrySink sink, Precision precision) {
        String why = planError(cfg, 1, pp, deviceCount());
        if (why != null) throw new IllegalArgumentException(why);
        this.pp = pp;
        this.sink = sink;
        this.vocab = cfg.vocabSize();
        int layers = cfg.numLayers();
        first = new int[pp];
        last = new int[pp];
        devs = new Cuda[pp];
        models = new CudaModel[pp];
        recv = new long[pp][];
        for (int s = 0; s < pp; s++) {
            first[s] = TensorSlicer.from(layers, s, pp);
            last[s] = TensorSlicer.to(layers, s, pp);
            devs[s] = Cuda.get(s);
            free.add(new ArrayBlockingQueue<>(RING));
        }
        boolean p2p = true;
        for (int s = 0; s + 1 < pp; s++) p2p &= devs[s].canAccessPeer(devs[s + 1]);
        peer = p2p;
        ExecutorService ex = Executors.newFixedThreadPool(pp, r -> Thread.ofPlatform().daemon().name("cuda-pp-open").unstarted(r));
        try {
            if (peer) for (int s = 0; s + 1 < pp; s++) devs[s].enablePeerAccess(devs[s + 1]);
            // stages are packed and uploaded concurrently (host packing is the slow part of opening a model)
            List<Future<?>> fs = new ArrayList<>();
            for (int s = 0; s < pp; s++) {
                int st = s;
                fs.add(ex.submit(() -> {
                    ModelWeights sw = new ModelWeights(w.embed(), w.posEmbed(), w.finalNormW(), w.finalNormB(), w.lmHead(),
                            w.layers().subList(first[st], last[st]));
                    models[st] = new CudaModel(cfg, sw, slots, maxLen, sink, CudaModule.get(devs[st]), first[st], st == 0, st == pp - 1, precision);
                    if (st > 0) {
                        devs[st].makeCurrent();
                        recv[st] = new long[RING];
                        long bytes = 4L * models[st].maxRows() * cfg.hiddenSize();
                        for (int k = 0; k < RING; k++) {
                            recv[st][k] = devs[st].malloc(bytes);
                            free.get(st).add(k);
                        }
                    }
                    return null;
                }));
            }
            RuntimeException failure = null;   // every stage's upload has ended before close() may free anything
            for (Future<?> f : fs) {
                try {
                    f.get();
                } catch (java.util.concurrent.ExecutionException e) {
                    Throwable c = e.getCause();
                    if (failure == null) failure = c instanceof RuntimeException re ? re : new IllegalStateException(String.valueOf(c), c);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    if (failure == null) failure = new IllegalStateException("interrupted while opening the pipeline stages");
                }
            }
            if (failure != null) throw failure;
        } catch (RuntimeException e) {
            close();
            throw e;
        } finally {
            ex.shutdownNow();
        }
    }

    static int deviceCount() { return Cuda.get().deviceCount(); }

    /**
     * Why this model cannot run as {@code pp} pipeline stages (with tensor parallelism {@code tp}) on {@code devices}
     * GPUs, as one sentence naming the fix, or null when it can.
     */
    public static String planError(ModelConfig cfg, int tp, int pp, int devices) {
        if (tp > 1 && pp > 1)
            return "The cuda backend runs tensor or pipeline parallelism, not both (tp=" + tp + ", pp=" + pp
                    + "): set --tp 1 or --pp 1, or use the cpu backend's ranks for both.";
        if (pp > devices)
            return "pp=" + pp + " needs " + pp + " GPUs (one per stage); this machine has " + devices + ": set --pp to " + devices
                    + (devices == 1 ? " (or use the cpu backend's ranks)." : " or less.");
        if (pp > cfg.numLayers())
            return "A pipeline of " + pp + " stages needs at least " + pp + " layers but the model has " + cfg.numLayers()
                    + ": set --pp to " + cfg.numLayers() + " or less.";
        if (cfg.isMoe())
            return "The cuda backend runs MoE models on one GPU only: set --pp 1 for " + cfg.modelType() + " (or use the cpu backend for expert parallelism).";
        return null;
    }

    /** The pipeline runner for a profile's layout over these stages (the runner closes them). */
    public static ParallelRunner open(ModelConfig cfg, ModelWeights w, ParallelLayout layout, int slots, int maxLen, TelemetrySink sink,
                                      Precision precision) {
        return new ParallelRunner(cfg, layout, new CudaPpStages(cfg, w, layout.pp(), slots, maxLen, sink, precision), slots, maxLen, sink);
    }

    /** Layers [from, to) of each stage. */
    int[][] split() {
        int[][] r = new int[pp][];
        for (int s = 0; s < pp; s++) r[s] = new int[]{first[s], last[s]};
        return r;
    }

    /** Where the hand-over {@code TransferSpan}s go from now on (the models keep the sink they were opened with). */
    void transferSink(TelemetrySink s) { this.sink = s; }

    /** CUDA graphs for the stages' decode passes (on by default; -Dfathom.cuda.graphs=false turns them off). */
    public void setGraphs(boolean on) { for (CudaModel m : models) m.setGraphs(on); }

    @Override public int count() { return pp; }
    @Override public int rank(int stage) { return stage; }

    /** Rows of a stage pass: token, position and KV slot per row, sequence-major. */
    static int[][] rows(StageStep s) {
        int b = s.slots().length, t = s.t(), n = b * t;
        int[] pos = new int[n], sl = new int[n];
        for (int i = 0; i < b; i++)
            for (int j = 0; j < t; j++) {
                pos[i * t + j] = s.start()[i] + j;
                sl[i * t + j] = s.slots()[i];
            }
        return new int[][]{s.tokens(), pos, sl};
    }

    /** Rows the head reads: each sequence's last unless every position is wanted; null = all rows. */
    static int[] headRows(StageStep s) {
        int b = s.slots().length, t = s.t();
        if (s.allPositions() || t == 1) return null;
        int[] r = new int[b];
        for (int i = 0; i < b; i++) r[i] = i * t + t - 1;
        return r;
    }

    @Override
    public Object run(int stage, StageStep step, Object input) throws Exception {
        int[][] rows = rows(step);
        int n = rows[0].length;
        CudaModel m = models[stage];
        Handoff in = stage > 0 ? (Handoff) input : null;
        float[] out;
        try {
            if (in != null) {
                if (in.rows() != n) throw new IllegalStateException("stage " + stage + " got " + in.rows() + " rows for a pass of " + n);
                m.loadHidden(recv[stage][in.buffer()], n);
            }
            out = m.forward(rows[0], rows[1], rows[2], stage == pp - 1 ? headRows(step) : null, step.phase());
        } finally {
            if (in != null) free.get(stage).add(in.buffer());   // forward waited for its stream, the copy included
        }
        if (stage == pp - 1) return out;
        int k = free.get(stage + 1).take();
        long t0 = System.nanoTime();
        try {
            m.sendHidden(devs[stage + 1], recv[stage + 1][k], n);
        } catch (RuntimeException e) {
            free.get(stage + 1).add(k);
            throw e;
        }
        if (sink.enabled())
            sink.emit(new TelemetryEvent.TransferSpan(peer ? "peer" : "d2d", "cuda:" + devs[stage].ordinal(), "cuda:" + devs[stage + 1].ordinal(),
                    stage, -1, t0, System.nanoTime() - t0, 4L * n * m.hiddenSize()));
        return new Handoff(k, n);
    }

    @Override
    public String describe() {
        StringBuilder sb = new StringBuilder();
        sb.append(pp).append(" GPU stages (pp=").append(pp).append(") on ").append(devs[0].name()).append(" x").append(pp).append(" (");
        for (int s = 0; s < pp; s++) {
            sb.append(s == 0 ? "" : ", ").append("cuda:").append(devs[s].ordinal()).append(" layers ").append(first[s]).append('-').append(last[s] - 1);
            if (s == 0) sb.append(" + embedding");
            if (s == pp - 1) sb.append(" + head");
        }
        sb.append("), hidden states handed over by ").append(peer ? "peer copy (P2P)" : "driver-staged copy (no P2P)")
                .append(", one thread per stage, SBI-GEMM + fused kernels");
        return sb.toString();
    }

    @Override
    public void close() {
        for (int s = 0; s < pp; s++) {
            if (models[s] != null) {
                models[s].close();
                models[s] = null;
            }
            if (recv[s] != null) {
                devs[s].makeCurrent();
                for (long p : recv[s]) devs[s].free(p);
                recv[s] = null;
            }
        }
    }
}
