package dev.fathom.cuda;

import dev.fathom.engine.backend.ModelRunner;
import dev.fathom.engine.model.ModelConfig;
import dev.fathom.engine.model.ModelWeights;
import dev.fathom.engine.plan.WeightPlacement;
import dev.fathom.engine.telemetry.TelemetryEvent.Phase;
import dev.fathom.engine.telemetry.TelemetrySink;
import dev.fathom.profiles.Precision;
import dev.fathom.profiles.RunProfile.Tier;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Data parallelism over the GPUs of one host: replica r (GPU r) runs the whole model for the sequences whose
 * global slot is r mod N. With streamed layers (ZeRO-Inference) the replicas' streamers form one
 * {@link DeviceStreamer.FetchGroup}: each GPU copies 1/N of every layer from host memory and pulls the rest from
 * its peers. Every call runs a forward on every replica (one with no sequence of its own runs a one-token dummy in a
 * spare slot), so the replicas fetch the same layers in step.
 */
public final class CudaDpRunner implements ModelRunner {
    private final int dp, slots, maxLen;
    private final CudaModel[] models;
    private final ExecutorService[] threads;
    private final String names;
    private final boolean grouped;

    public CudaDpRunner(ModelConfig cfg, ModelWeights w, int dp, int slots, int maxLen, TelemetrySink sink, WeightPlacement placement,
                        Precision precision) {
        this(cfg, w, dp, slots, maxLen, sink, tiers(placement, w), placement == null ? 0 : placement.prefetch(),
                placement == null ? null : placement.nvmeDir(), precision);
    }

    private static Tier[] tiers(WeightPlacement placement, ModelWeights w) {
        if (placement == null || !placement.streaming()) return null;
        Tier[] t = new Tier[w.layers().size()];
        for (int i = 0; i < t.length; i++) t[i] = placement.tier(i);
        return t;
    }

    /** @param tiers tier of each decoder layer (null: all resident); streamed layers use the multi-GPU fetch */
    CudaDpRunner(ModelConfig cfg, ModelWeights w, int dp, int slots, int maxLen, TelemetrySink sink, Tier[] tiers, int prefetch, String nvmeDir,
                 Precision precision) {
        String why = planError(dp, Cuda.get().deviceCount());
        if (why != null) throw new IllegalArgumentException(why);
        this.dp = dp;
        this.slots = slots;
        this.maxLen = maxLen;
        models = new CudaModel[dp];
        threads = new ExecutorService[dp];
        int local = localSlots(slots, dp) + 1;   // + a spare slot for the dummy row
        try {
            for (int r = 0; r < dp; r++) {
                int rank = r;
                threads[r] = Executors.newSingleThreadExecutor(t -> {
                    Thread th = new Thread(t, "cuda-dp-replica-" + rank);
                    th.setDaemon(true);
                    return th;
                });
                Cuda cu = Cuda.get(r);
                cu.makeCurrent();
                models[r] = new CudaModel(cfg, w, local, maxLen, sink, tiers, prefetch, nvmeDir, CudaModule.get(cu), precision);
            }
            boolean fetch = models[0].streamer() != null && CudaSettings.flag("fathom.zero.groupFetch", true);
            if (fetch) {
                DeviceStreamer[] st = new DeviceStreamer[dp];
                for (int r = 0; r < dp; r++) st[r] = models[r].streamer();
                DeviceStreamer.group(st);
            }
            grouped = fetch;
            if (fetch) for (CudaModel m : models) m.streamer().setGroupEnabled(true);
        } catch (RuntimeException e) {
            close();
            throw e;
        }
        names = Cuda.get().name() + " x" + dp;
    }

    /** Sequences per replica for {@code slots} global slots. */
    static int localSlots(int slots, int dp) { return (slots + dp - 1) / dp; }

    /** Why {@code dp} replicas cannot run on {@code devices} GPUs (one sentence naming the fix), or null. */
    public static String planError(int dp, int devices) {
        if (dp > devices)
            return "dp=" + dp + " needs " + dp + " GPUs (one replica each); this machine has " + devices + ": set --dp to " + devices
                    + (devices == 1 ? " (or use the cpu backend's ranks)." : " or less.");
        return null;
    }

    /** The rows of one call split per replica: for replica r, the indices into the call's sequences. */
    static int[][] split(int[] slotIds, int dp) {
        int[] count = new int[dp];
        for (int s : slotIds) count[s % dp]++;
        int[][] out = new int[dp][];
        for (int r = 0; r < dp; r++) out[r] = new int[count[r]];
        int[] fill = new int[dp];
        for (int i = 0; i < slotIds.length; i++) {
            int r = slotIds[i] % dp;
            out[r][fill[r]++] = i;
        }
        return out;
    }

    private interface Work<T> { T run(int replica); }

    private <T> List<T> onEveryReplica(Work<T> work) {
        List<Future<T>> fs = new ArrayList<>();
        for (int r = 0; r < dp; r++) {
            int rank = r;
            fs.add(threads[r].submit(() -> work.run(rank)));
        }
        List<T> out = new ArrayList<>();
        RuntimeException[] failure = {null};
        for (int r = 0; r < dp; r++) out.add(RankFutures.await(fs.get(r), "replica " + r, failure));
        if (failure[0] != null) throw failure[0];
        return out;
    }

    @Override
    public float[][][] prefill(int[] slotIds, int[][] tokens, boolean allPositions) {
        int[][] mine = split(slotIds, dp);
        int spare = localSlots(slots, dp);
        List<float[][][]> parts = onEveryReplica(r -> {
            int[] idx = mine[r];
            CudaModel m = models[r];
            if (idx.length == 0)   // keep in step with the other replicas' layer fetches: a one-token dummy
                return CudaRunner.prefill(m::forwardRows, new int[]{spare}, new int[][]{{0}}, false);
            int[] ls = new int[idx.length];
            int[][] tk = new int[idx.length][];
            for (int i = 0; i < idx.length; i++) { ls[i] = slotIds[idx[i]] / dp; tk[i] = tokens[idx[i]]; }
            return CudaRunner.prefill(m::forwardRows, ls, tk, allPositions);
        });
        float[][][] out = new float[slotIds.length][][];
        for (int r = 0; r < dp; r++)
            for (int i = 0; i < mine[r].length; i++) out[mine[r][i]] = parts.get(r)[i];
        return out;
    }

    @Override
    public float[][] decode(int[] slotIds, int[] tokens, int[] positions) {
        int[][] mine = split(slotIds, dp);
        int spare = localSlots(slots, dp);
        List<float[][]> parts = onEveryReplica(r -> {
            int[] idx = mine[r];
            CudaModel m = models[r];
            if (idx.length == 0) return CudaRunner.decode(m::forwardRows, new int[]{spare}, new int[]{0}, new int[]{0});
            int[] ls = new int[idx.length], tk = new int[idx.length], ps = new int[idx.length];
            for (int i = 0; i < idx.length; i++) { ls[i] = slotIds[idx[i]] / dp; tk[i] = tokens[idx[i]]; ps[i] = positions[idx[i]]; }
            return CudaRunner.decode(m::forwardRows, ls, tk, ps);
        });
        float[][] out = new float[slotIds.length][];
        for (int r = 0; r < dp; r++)
            for (int i = 0; i < mine[r].length; i++) out[mine[r][i]] = parts.get(r)[i];
        return out;
    }

    /** Benchmarks: the multi-GPU fetch on, or every replica copying whole layers from host memory itself. */
    void setGroupFetch(boolean on) { if (grouped) for (CudaModel m : models) m.streamer().setGroupEnabled(on); }

    /** The replica models (benchmarks: streamer statistics). */
    CudaModel[] models() { return models; }

    @Override public int maxSlots() { return slots; }
    @Override public int maxSeqLen() { return maxLen; }

    @Override
    public String layout() {
        DeviceStreamer s = models[0] == null ? null : models[0].streamer();
        String z = s == null ? "" : String.format("; %d layers streamed per replica through a ring of %d%s", s.count(), s.slots(),
                grouped ? ", each GPU copying 1/" + dp + " of a layer from host memory and pulling the rest from its peers" : "");
        return dp + " data-parallel replicas on " + names + " (sequence i on GPU i mod " + dp + z + ")";
    }

    @Override
    public void close() {
        for (int r = 0; r < dp; r++) {
            if (models[r] != null) {
                try { models[r].close(); } catch (RuntimeException ignored) { }
                models[r] = null;
            }
            if (threads[r] != null) threads[r].shutdownNow();
        }
    }
}
