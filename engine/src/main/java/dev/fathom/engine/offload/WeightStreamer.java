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
import java.util.concurrent.CancellationException;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * ZeRO-Inference on the CPU: a {@link LayerSource} that keeps only some layers resident and streams the
 * others from the host tier or NVMe files through a bounded ring of {@code k + 1} layer buffers
 * ({@code k} = prefetch depth), fed by one background reader thread.
 *
 * <p>The streamed layers form a cycle in forward order (after the last comes the first again, for the
 * next token). {@link #acquire} points the window at the requested layer and blocks until it is in a
 * slot; {@link #release} frees the slot and, with {@code k > 0}, moves the window one layer on so the
 * reader fetches up to {@code k + 1} layers ahead while the caller computes. With {@code k = 0} the
 * one buffer is filled only when a layer is asked for (synchronous fetch). A request outside the window
 * (another order) restarts the window there. Every fill is a {@code TransferSpan} ({@code nvme-read} or
 * {@code h2d}).
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

    private enum State { FREE, LOADING, READY, IN_USE }

    private static final class Slot {
        final MemorySegment buf;
        final LayerWeights[] views;   // [layers] view of each layer over this slot, built once: kernels that cache
                                      // per tensor identity (packed weights, norm floats) then see a bounded set
        State state = State.FREE;
        int layer = -1;
        LayerWeights view;
        Slot(MemorySegment buf, int layers) { this.buf = buf; this.views = new LayerWeights[layers]; }
    }

    private final int first;
    private final LayerWeights[] resident;   // [layers] views for resident layers, null when streamed
    private final LayerPack[] packs;         // [layers] layout of streamed layers
    private final LayerStore[] storeOf;      // [layers] store of streamed layers
    private final int[] order;               // streamed global layers in forward order
    private final int[] posOf;               // [layers] index into order, -1 when resident
    private final int prefetch;
    private final Slot[] slots;
    private final Arena ringArena = Arena.ofShared();
    private final HostStore host;
    private final NvmeStore nvme;
    private final TelemetrySink sink;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final Thread reader;
    private int cursor = -1;                 // index into order of the window start, -1 = no window
    private boolean closed;
    private Throwable failure;
    private long fetches, bytesIn, transferNs, stallNs;
    private int maxOccupied;

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
        this.prefetch = prefetch;
        this.sink = sink;
        this.resident = new LayerWeights[n];
        this.packs = new LayerPack[n];
        this.storeOf = new LayerStore[n];
        this.posOf = new int[n];
        List<Integer> ord = new ArrayList<>();
        HostStore h = null;
        NvmeStore v = null;
        long maxPack = 0;
        try {
            for (int i = 0; i < n; i++) {
                Tier t = tiers[i];
                posOf[i] = -1;
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
                posOf[i] = ord.size();
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
        this.order = ord.stream().mapToInt(Integer::intValue).toArray();
        int nSlots = order.length == 0 ? 0 : prefetch + 1;
        this.slots = new Slot[nSlots];
        for (int i = 0; i < nSlots; i++) slots[i] = new Slot(ringArena.allocate(maxPack, LayerPack.ALIGN), n);
        long residentBytes = 0;
        for (LayerWeights w : resident) if (w != null) residentBytes += w.bytes();
        if (sink.enabled()) {
            long now = System.nanoTime();
            sink.emit(new TelemetryEvent.MemorySample("cpu", "device", residentBytes + nSlots * maxPack, 0, now));
            if (host != null) sink.emit(new TelemetryEvent.MemorySample("cpu", "host", host.bytes(), 0, now));
            if (nvme != null) sink.emit(new TelemetryEvent.MemorySample("cpu", "nvme", nvme.bytes(), 0, now));
        }
        reader = Thread.ofPlatform().daemon().name("fathom-weight-streamer").unstarted(this::readLoop);
        if (order.length > 0) reader.start();
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

    public int slots() { return slots.length; }
    public int prefetch() { return prefetch; }

    public Stats stats() {
        lock.lock();
        try {
            return new Stats(fetches, bytesIn, transferNs, stallNs, maxOccupied, slots.length);
        } finally {
            lock.unlock();
        }
    }

    /** Zeroes the counters (e.g. after a warm-up). */
    public void resetStats() {
        lock.lock();
        try {
            fetches = bytesIn = transferNs = stallNs = 0;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public LayerWeights acquire(int layer) {
        int i = layer - first;
        if (resident[i] != null) return resident[i];
        int pos = posOf[i];
        lock.lock();
        try {
            Slot s;
            cursor = pos; // the window starts at the layer asked for; the reader drops what falls outside it
            changed.signalAll();
            long t0 = 0;
            while ((s = find(i)) == null || s.state != State.READY) {
                if (failure != null) throw new EngineException("Streaming layer " + layer + " failed (" + failure.getMessage()
                        + "): check the NVMe directory (--nvme-dir) and free disk space.");
                if (closed) throw new CancellationException("weight streamer closed");
                if (s != null && s.state == State.IN_USE) throw new IllegalStateException("layer " + layer + " acquired twice");
                if (t0 == 0) t0 = System.nanoTime();
                changed.awaitUninterruptibly();
            }
            if (t0 != 0) stallNs += System.nanoTime() - t0;
            s.state = State.IN_USE;
            return s.view;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void release(int layer) {
        int i = layer - first;
        if (resident[i] != null) return;
        lock.lock();
        try {
            Slot s = find(i);
            if (s == null || s.state != State.IN_USE) return;
            s.state = State.FREE;
            s.layer = -1;
            s.view = null;
            cursor = prefetch > 0 ? (posOf[i] + 1) % order.length : -1;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Window: {@code min(k + 1, streamed layers)} positions from the cursor, cyclic. */
    private boolean inWindow(int pos, int cur) {
        if (cur < 0) return false;
        int span = Math.min(prefetch + 1, order.length);
        int d = Math.floorMod(pos - cur, order.length);
        return d < span;
    }

    private Slot find(int localLayer) {
        for (Slot s : slots) if (s.state != State.FREE && s.layer == localLayer) return s;
        return null;
    }

    private void readLoop() {
        while (true) {
            Slot slot;
            int li;
            lock.lock();
            try {
                while (true) {
                    if (closed) return;
                    // drop layers a restart left outside the window
                    for (Slot s : slots)
                        if (s.state == State.READY && !inWindow(posOf[s.layer], cursor)) {
                            s.state = State.FREE;
                            s.layer = -1;
                            s.view = null;
                        }
                    slot = null;
                    li = -1;
                    if (cursor >= 0) {
                        int span = Math.min(prefetch + 1, order.length);
                        for (int d = 0; d < span && li < 0; d++) {
                            int cand = order[(cursor + d) % order.length];
                            if (find(cand) == null) li = cand;
                        }
                        if (li >= 0) for (Slot s : slots) if (s.state == State.FREE) { slot = s; break; }
                    }
                    if (slot != null) break;
                    changed.awaitUninterruptibly();
                }
                slot.state = State.LOADING;
                slot.layer = li;
                int occ = 0;
                for (Slot s : slots) if (s.state != State.FREE) occ++;
                maxOccupied = Math.max(maxOccupied, occ);
            } finally {
                lock.unlock();
            }
            LayerStore store = storeOf[li];
            long bytes = packs[li].bytes();
            long t0 = System.nanoTime();
            Throwable err = null;
            try {
                store.read(first + li, slot.buf.asSlice(0, bytes));
            } catch (Throwable e) {
                err = e;
            }
            long dt = System.nanoTime() - t0;
            if (err == null && sink.enabled())
                sink.emit(new TelemetryEvent.TransferSpan(store.transferKind(), store.tier(), "cpu", 0, first + li, t0, dt, bytes));
            lock.lock();
            try {
                if (err != null) {
                    if (!closed) failure = err;
                    slot.state = State.FREE;
                    slot.layer = -1;
                    changed.signalAll();
                    return;
                }
                if (slot.views[li] == null) slot.views[li] = packs[li].view(slot.buf);
                slot.view = slot.views[li];
                slot.state = State.READY;
                fetches++;
                bytesIn += bytes;
                transferNs += dt;
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }
    }

    /** Stops the reader (waking any waiter with a cancellation), frees the ring and deletes the NVMe files. */
    @Override
    public void close() {
        lock.lock();
        try {
            if (closed) return;
            closed = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        if (reader.isAlive()) {
            reader.interrupt();
            try {
                reader.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (host != null) host.close();
        if (nvme != null) nvme.close();
        if (ringArena.scope().isAlive()) ringArena.close();
    }
}
