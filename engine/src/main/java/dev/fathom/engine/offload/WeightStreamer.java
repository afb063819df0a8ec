package dev.fathom.engine.offload;

import dev.fathom.engine.EngineException;
import dev.fathom.engine.cpu.CpuModel;
import dev.fathom.engine.cpu.LayerSource;
import dev.fathom.engine.model.LayerWeights;
import dev.fathom.engine.plan.WeightPlacement;
import dev.fathom.engine.telemetry.TelemetryEvent;
import dev.fathom.engine.telemetry.TelemetrySink;
import dev.fathom.profiles.RunProfile.Tier;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * ZeRO-Inference on the CPU: a {@link LayerSource} that keeps only some layers resident and streams the
 * others from the host tier ({@link HostStore}) or NVMe files ({@link NvmeStore}) through a {@link LayerRing}
 * of {@code k + 1} off-heap layer buffers ({@code k} = prefetch depth) filled by one background reader.
 * Every fill is a {@code TransferSpan} ({@code nvme-read} or {@code h2d}); the tiers' sizes are
 * {@code MemorySample}s. Views handed out are stable per (slot, layer), so kernels that cache per tensor
 * identity (packed weights, norm vectors) see a bounded set of tensors.
 */
public final class WeightStreamer implements LayerSource {
    /**
     * Counters for benchmarks and tests.
     *
     * @param fetches     layers brought into the ring
     * @param bytes       bytes brought in
     * @param transferNs  time the reader spent filling slots
     * @param stallNs     time {@link #acquire} waited for a layer (transfer not hidden)
     * @param maxOccupied most ring slots ever holding a layer at once
     * @param slots       ring slots (prefetch + 1)
     */
    public record Stats(long fetches, long bytes, long transferNs, long stallNs, int maxOccupied, int slots) {
        /** Fraction of the transfer time that compute hid (1 = all). */
        public double hidden() { return transferNs == 0 ? 1 : Math.max(0, 1 - (double) stallNs / transferNs); }
    }

    private final int first;
    private final LayerWeights[] resident;   // [layers] views for resident layers, null when streamed
    private final LayerPack[] packs;         // [layers] layout of streamed layers
    private final LayerStore[] storeOf;      // [layers] store of streamed layers
    private final MemorySegment[] buffers;   // [slots] ring buffers
    private final LayerWeights[][] views;    // [slots][layers] view of a layer over a slot, built once
    private final Arena ringArena = Arena.ofShared();
    private final HostStore host;
    private final NvmeStore nvme;
    private final TelemetrySink sink;
    private final LayerRing<LayerWeights> ring;
    private final java.util.concurrent.atomic.AtomicLong bytesIn = new java.util.concurrent.atomic.AtomicLong();

    /**
     * @param layers   the shard's layers (index 0 = global layer {@code first}), used as templates and as resident views
     * @param tiers    tier of each of those layers
     * @param prefetch layers fetched ahead (0 = fetch on demand)
     * @param nvmeDir  parent directory of the NVMe files (null = java.io.tmpdir)
     */
    public WeightStreamer(List<LayerWeights> layers, int first, Tier[] tiers, int prefetch, String nvmeDir, TelemetrySink sink) {
        if (prefetch < 0) throw new EngineException("Prefetch depth " + prefetch + " is invalid: set --prefetch to 0 or more.");
        int n = layers.size();
        this.first = first;
        this.sink = sink;
        this.resident = new LayerWeights[n];
        this.packs = new LayerPack[n];
        this.storeOf = new LayerStore[n];
        List<Integer> ord = new ArrayList<>();
        HostStore h = null;
        NvmeStore v = null;
        long maxPack = 0;
        try {
            for (int i = 0; i < n; i++) {
                Tier t = tiers[i];
                if (t == Tier.DEVICE) {
                    resident[i] = layers.get(i);
                    continue;
                }
                LayerPack p = new LayerPack(layers.get(i));
                packs[i] = p;
                maxPack = Math.max(maxPack, p.bytes());
                if (t == Tier.HOST) {
                    if (h == null) h = new HostStore();
                    h.put(first + i, p);
                    storeOf[i] = h;
                } else {
                    if (v == null) v = new NvmeStore(nvmeDir);
                    v.put(first + i, p);
                    storeOf[i] = v;
                }
                ord.add(i);
            }
        } catch (RuntimeException e) {
            if (h != null) h.close();
            if (v != null) v.close();
            ringArena.close();
            throw e;
        }
        this.host = h;
        this.nvme = v;
        int[] order = ord.stream().mapToInt(x -> first + x).toArray();
        int nSlots = Math.min(prefetch + 1, order.length);
        buffers = new MemorySegment[nSlots];
        views = new LayerWeights[nSlots][n];
        for (int i = 0; i < nSlots; i++) buffers[i] = ringArena.allocate(maxPack, LayerPack.ALIGN);
        long residentBytes = 0;
        for (LayerWeights w : resident) if (w != null) residentBytes += w.bytes();
        if (sink.enabled()) {
            long now = System.nanoTime();
            sink.emit(new TelemetryEvent.MemorySample("cpu", "device", residentBytes + nSlots * maxPack, 0, now));
            if (host != null) sink.emit(new TelemetryEvent.MemorySample("cpu", "host", host.bytes(), 0, now));
            if (nvme != null) sink.emit(new TelemetryEvent.MemorySample("cpu", "nvme", nvme.bytes(), 0, now));
        }
        ring = new LayerRing<>(order, prefetch, this::fill, "fathom-weight-streamer");
    }

    /** Reader thread: brings global layer {@code layer} into ring slot {@code slot}. */
    private LayerWeights fill(int slot, int layer) throws java.io.IOException {
        int li = layer - first;
        LayerStore store = storeOf[li];
        long bytes = packs[li].bytes();
        long t0 = System.nanoTime();
        store.read(layer, buffers[slot].asSlice(0, bytes));
        if (sink.enabled())
            sink.emit(new TelemetryEvent.TransferSpan(store.transferKind(), store.tier(), "cpu", 0, layer, t0, System.nanoTime() - t0, bytes));
        bytesIn.addAndGet(bytes);
        if (views[slot][li] == null) views[slot][li] = packs[li].view(buffers[slot]);
        return views[slot][li];
    }

    /** A streamer for {@code model}'s layers placed as {@code placement} says, installed as its layer source. */
    public static WeightStreamer install(CpuModel model, List<LayerWeights> shardLayers, WeightPlacement placement, TelemetrySink sink) {
        int f = model.firstLayer(), n = model.lastLayer() - f;
        Tier[] t = new Tier[n];
        for (int i = 0; i < n; i++) t[i] = placement.tier(f + i);
        WeightStreamer s = new WeightStreamer(shardLayers, f, t, placement.prefetch(), placement.nvmeDir(), sink);
        model.setLayerSource(s);
        return s;
    }

    /** Notes for people (e.g. O_DIRECT refused), possibly empty. */
    public List<String> notes() {
        List<String> l = new ArrayList<>();
        if (nvme != null && nvme.note() != null) l.add(nvme.note());
        return l;
    }

    public int slots() { return ring.slots(); }
    public int prefetch() { return ring.prefetch(); }

    public Stats stats() {
        LayerRing.Stats r = ring.stats();
        return new Stats(r.fetches(), bytesIn.get(), r.transferNs(), r.stallNs(), r.maxOccupied(), r.slots());
    }

    @Override
    public LayerWeights acquire(int layer) {
        LayerWeights w = resident[layer - first];
        return w != null ? w : ring.acquire(layer);
    }

    @Override
    public void release(int layer) {
        if (resident[layer - first] == null) ring.release(layer);
    }

    /** Stops the reader (waking any waiter with a cancellation), frees the ring and deletes the NVMe files. */
    @Override
    public void close() {
        ring.close();
        if (host != null) host.close();
        if (nvme != null) nvme.close();
        if (ringArena.scope().isAlive()) ringArena.close();
    }
}
