package dev.fathom.cuda;

import dev.fathom.engine.backend.ModelRunner;
import dev.fathom.engine.model.LayerWeights;
import dev.fathom.engine.model.ModelConfig;
import dev.fathom.engine.model.ModelWeights;
import dev.fathom.engine.parallel.TensorSlicer;
import dev.fathom.engine.telemetry.TelemetryEvent.Phase;
import dev.fathom.engine.telemetry.TelemetrySink;
import dev.fathom.profiles.Precision;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.IntFunction;

/**
 * Tensor parallelism over {@code tp} GPUs of one host: rank r holds the Megatron slices of every layer
 * ({@link TensorSlicer}: its heads of q/k/v and their columns of o, its part of the MLP's inner width) on GPU
 * r, plus the embedding and LM head whole. One platform thread per rank, bound to its GPU's primary
 * context, issues that rank's kernels (and replays its decode graphs); the ranks meet only on the GPUs, in
 * {@link PeerAllReduce} after the attention out-projection and after the MLP down-projection, which also adds
 * the whole o / down bias and the residual. Every rank computes the same hidden state; rank 0 returns the
 * logits (the others skip the head).
 */
public final class CudaTpRunner implements ModelRunner {
    private final int tp;
    private final int slots;
    private final int maxLen;
    private final ExecutorService[] threads;
    private final CudaModel[] models;
    private final PeerAllReduce comm;
    private final String names;

    public CudaTpRunner(ModelConfig cfg, ModelWeights w, int tp, int slots, int maxLen, TelemetrySink sink, Precision precision) {
        String why = planError(cfg, tp, deviceCount());
        if (why != null) throw new IllegalArgumentException(why);
        this.tp = tp;
        this.slots = slots;
        this.maxLen = maxLen;
        threads = new ExecutorService[tp];
        models = new CudaModel[tp];
        Cuda[] devs = new Cuda[tp];
        for (int r = 0; r < tp; r++) {
            int rank = r;
            threads[r] = Executors.newSingleThreadExecutor(task -> {
                Thread t = new Thread(task, "cuda-tp-rank-" + rank);
                t.setDaemon(true);
                return t;
            });
            devs[r] = Cuda.get(r);
        }
        PeerAllReduce c = null;
        try {
            c = new PeerAllReduce(devs, (long) Math.max(1, slots * maxLen) * cfg.hiddenSize());
            PeerAllReduce pc = c;
            onEveryRank(r -> {
                devs[r].makeCurrent();
                List<LayerWeights> mine = new ArrayList<>();
                for (LayerWeights l : w.layers()) mine.add(TensorSlicer.slice(l, cfg.headDim(), r, tp));
                ModelWeights rw = new ModelWeights(w.embed(), w.posEmbed(), w.finalNormW(), w.finalNormB(), w.lmHead(), mine);
                models[r] = new CudaModel(cfg, rw, slots, maxLen, sink, pc.rank(r), precision);
                return null;
            });
        } catch (RuntimeException e) {
            closeModels();
            if (c != null) c.close();
            for (ExecutorService t : threads) t.shutdownNow();
            throw e;
        }
        comm = c;
        StringBuilder sb = new StringBuilder();
        for (Cuda d : devs) sb.append(sb.isEmpty() ? "" : ", ").append("cuda:").append(d.ordinal());
        names = devs[0].name() + " x" + tp + " (" + sb + ")";
    }

    static int deviceCount() { return Cuda.get().deviceCount(); }

    /**
     * Why this model cannot run with {@code tp} ranks on {@code devices} GPUs, as one sentence naming the fix,
     * or null when it can.
     */
    public static String planError(ModelConfig cfg, int tp, int devices) {
        if (tp > devices)
            return "tp=" + tp + " needs " + tp + " GPUs; this machine has " + devices + ": set --tp to " + devices
                    + (devices == 1 ? " (or use the cpu backend's ranks)." : " or less.");
        if (tp > PeerAllReduce.MAX_RANKS)
            return "tp=" + tp + " exceeds the " + PeerAllReduce.MAX_RANKS + " GPUs the cuda backend's all-reduce joins: set --tp to " + PeerAllReduce.MAX_RANKS + " or less.";
        if (cfg.isMoe())
            return "The cuda backend runs MoE models on one GPU only: set --tp 1 for " + cfg.modelType() + " (or use the cpu backend for expert parallelism).";
        int heads = cfg.numHeads(), kv = cfg.numKvHeads();
        if (heads % tp != 0 || kv % tp != 0)
            return "tp=" + tp + " does not divide the model's " + heads + " attention heads and " + kv + " KV heads: pick a --tp that divides both.";
        return null;
    }

    /** CUDA graphs for decode steps on every rank. */
    public void setGraphs(boolean on) { for (CudaModel m : models) m.setGraphs(on); }

    public int ranks() { return tp; }

    /**
     * Runs {@code work} for ranks 1.. on their threads and for rank 0 on the calling thread (one thread hand-off
     * less per step; every CudaModel call binds its own context first); returns rank 0's result.
     */
    private <T> T onEveryRank(IntFunction<T> work) {
        List<Future<T>> fs = new ArrayList<>();
        for (int r = 1; r < tp; r++) {
            int rank = r;
            fs.add(threads[r].submit(() -> work.apply(rank)));
        }
        T first = null;
        RuntimeException[] failure = {null};
        try {
            first = work.apply(0);
        } catch (RuntimeException e) {
            failure[0] = e;
        }
        for (int r = 1; r < tp; r++) RankFutures.await(fs.get(r - 1), "rank " + r, failure);
        if (failure[0] != null) throw failure[0];
        return first;
    }

    private float[][] forward(int[] tok, int[] pos, int[] sl, int[] head, Phase ph) {
        return onEveryRank(r -> models[r].forwardRows(tok, pos, sl, head, ph));
    }

    @Override
    public float[][][] prefill(int[] slotIds, int[][] tokens, boolean allPositions) {
        return CudaRunner.prefill(this::forward, slotIds, tokens, allPositions);
    }

    @Override
    public float[][] decode(int[] slotIds, int[] tokens, int[] positions) {
        return CudaRunner.decode(this::forward, slotIds, tokens, positions);
    }

    @Override public int maxSlots() { return slots; }
    @Override public int maxSeqLen() { return maxLen; }

    @Override
    public String layout() {
        return tp + " GPU ranks (tp=" + tp + ") on " + names + ", " + comm.kind() + " all-reduce over peer-mapped memory, SBI-GEMM + fused kernels";
    }

    private void closeModels() {
        List<Future<?>> fs = new ArrayList<>();
        for (int r = 0; r < tp; r++) {
            CudaModel m = models[r];
            if (m == null) continue;
            models[r] = null;
            fs.add(threads[r].submit(m::close));
        }
        for (Future<?> f : fs) {
            try {
                f.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (ExecutionException ignored) {
                // keep closing the others
            }
        }
    }

    @Override
    public void close() {
        closeModels();
        comm.close();
        for (ExecutorService t : threads) t.shutdownNow();
    }
}
