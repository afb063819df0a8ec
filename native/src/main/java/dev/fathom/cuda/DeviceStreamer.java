package dev.fathom.cuda;

import dev.fathom.engine.EngineException;
import dev.fathom.engine.calibrate.DiskBandwidth;
import dev.fathom.engine.telemetry.TelemetryEvent;
import dev.fathom.engine.telemetry.TelemetrySink;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * ZeRO-Inference on the GPU: decoder layers whose weights are not resident live, already in the SBI
 * layout, as one contiguous blob per layer — in pinned host memory (cuMemHostAlloc chunks of at most
 * 1 GiB) or in a file per layer on NVMe, read with O_DIRECT into a pinned staging buffer — and are
 * copied into a device ring of {@code k + 1} layer buffers ({@code k} = prefetch depth) on a copy stream
 * of their own. Layer {@code j}'s copy waits for the event that released its ring slot (the compute of
 * layer {@code j - k - 1}); the compute stream waits for the copy's event, so the copies of layers
 * {@code j+1 .. j+k} overlap the compute of layer {@code j}. Streamed layers' pointers are offsets into
 * their blob, rebased onto the slot's device address when the layer runs. Every NVMe read and every
 * host-to-device copy is a {@code TransferSpan} (copies timed with CUDA events on the copy stream).
 *
 * <p>NVMe reads run on a reader thread of their own, in fetch order, from the start of the pass (so they
 * overlap the compute of the resident layers too): layer {@code j}'s read goes into staging buffer
 * {@code j mod (k+1)} once the copy of layer {@code j-k-1} out of it has finished; the thread that
 * enqueues the kernels waits for a read only when it enqueues that layer's copy. The first copies are
 * enqueued when the first streamed layer is reached.
 */
final class DeviceStreamer implements AutoCloseable {
    static final long ALIGN = 4096;
    static final long CHUNK = 1L << 30;

    /** Counters since the last {@link #resetStats()}: copy and stall times from CUDA events, read time host wall. */
    record Stats(long fetches, long bytes, double copyMs, double readMs, double stallMs) {
        /** Fraction of the transfer time (reads + copies) the compute stream did not wait for. */
        double hidden() {
            double t = copyMs + readMs;
            return t == 0 ? 1 : Math.max(0, 1 - stallMs / t);
        }
    }

    /** One layer's device pointers being collected as offsets into a blob (the first at 256, so 0 stays "none"). */
    static final class Blob implements AutoCloseable {
        private final Arena arena = Arena.ofConfined();
        private final List<MemorySegment> parts = new ArrayList<>();
        private final List<Long> offsets = new ArrayList<>();
        private long size = 256;

        long add(MemorySegment src) {
            long off = (size + 255) & ~255L;
            MemorySegment c = arena.allocate(src.byteSize(), 16);
            c.copyFrom(src);
            parts.add(c);
            offsets.add(off);
            size = off + src.byteSize();
            return off;
        }

        long paddedSize() { return (size + ALIGN - 1) / ALIGN * ALIGN; }

        void writeTo(MemorySegment dst) {
            dst.fill((byte) 0);
            for (int i = 0; i < parts.size(); i++) MemorySegment.copy(parts.get(i), 0, dst, offsets.get(i), parts.get(i).byteSize());
        }

        @Override public void close() { arena.close(); }
    }

    private final Cuda cu;
    private int prefetch;
    private final String nvmeDir;
    private final TelemetrySink sink;
    private final Map<Integer, Integer> index = new HashMap<>();   // global layer -> streamed index j
    private final List<Integer> order = new ArrayList<>();          // [j] global layer
    private final List<Long> sizes = new ArrayList<>();             // [j] blob bytes (multiple of 4 KiB)
    private final List<MemorySegment> hostBlob = new ArrayList<>(); // [j] pinned copy, null on NVMe only
    private final List<FileChannel> files = new ArrayList<>();      // [j] NVMe file, null on host only
    private final List<Boolean> fromNvme = new ArrayList<>();       // [j] source of the fetch
    private final List<MemorySegment> chunks = new ArrayList<>();   // pinned chunks (<= 1 GiB each)
    private long chunkUsed;
    private Path dir;
    private boolean direct = true;
    private long maxBlob;
    // ring
    private int slots;
    private long[] ring = new long[0];                  // [slots] device layer buffers
    private MemorySegment[] staging = new MemorySegment[0]; // [slots] pinned NVMe staging (when any layer is on NVMe)
    private long[] copied = new long[0], released = new long[0];
    private long copyStream;
    private int next;
    // timing
    private final List<long[]> copyEv = new ArrayList<>(), stallEv = new ArrayList<>();
    private final List<long[]> pendingCopy = new ArrayList<>();   // [layer, bytes, hostNs]
    private int stalls;
    private long fetches, bytes;
    // NVMe reader thread: reads of pass-local index j in order; readDone/copiesQueued guarded by lock
    private final Object lock = new Object();
    private java.util.concurrent.ExecutorService reader;
    private java.util.concurrent.Future<?> readTask;
    private int readDone, copiesQueued;
    private Throwable readError;
    private volatile boolean abort;
    private double copyMs, readMs, stallMs;
    // multi-GPU fetch (null: this GPU copies whole layers)
    private FetchGroup group, joined;
    private int rank;
    private long[] ownEv = new long[0], pulledEv = new long[0];   // [slots]: own part copied; peers' parts pulled

    /**
     * ZeRO-Inference over N GPUs that each run the whole model (data parallel): every GPU copies 1/N of each streamed
     * layer from pinned host memory over its own link, into its ring slot, and pulls the other parts from the peers'
     * rings over the GPU interconnect (cuMemcpyPeerAsync), so the host links carry each layer once in all instead of
     * once per GPU. Members fetch the same layers in the same order (every pass of every member, the same passes).
     * The host threads meet through two counters per member: a member waits on a peer's event only after the peer has
     * recorded it for that layer, and copies into a slot only after every peer has enqueued its pulls out of it.
     */
    static final class FetchGroup {
        final DeviceStreamer[] members;
        final java.util.concurrent.atomic.AtomicIntegerArray ownDone, pullDone;   // [member]: layers (pass-local j + 1) done

        private FetchGroup(DeviceStreamer[] m) {
            members = m;
            ownDone = new java.util.concurrent.atomic.AtomicIntegerArray(m.length);
            pullDone = new java.util.concurrent.atomic.AtomicIntegerArray(m.length);
        }

        /** Parts of a blob of {@code size} bytes: member r copies [from(r), from(r+1)), 4 KiB aligned. */
        static long from(long size, int r, int n) { return Math.min(size, (size * r / n + ALIGN - 1) / ALIGN * ALIGN); }

        /** Waits until member's counter reaches {@code atLeast}; a member that stopped (its pass failed) ends it after 60 s. */
        void await(java.util.concurrent.atomic.AtomicIntegerArray c, int member, int atLeast) {
            long t0 = 0;
            for (int spins = 0; c.get(member) < atLeast; spins++) {
                if (spins < 1000) {
                    Thread.onSpinWait();
                    continue;
                }
                if (t0 == 0) t0 = System.nanoTime();
                else if (System.nanoTime() - t0 > 60_000_000_000L)
                    throw new IllegalStateException("GPU " + member + " stopped fetching its part of the layers (its pass failed?): "
                            + "the multi-GPU fetch waited 60 s for layer " + atLeast);
                java.util.concurrent.locks.LockSupport.parkNanos(20_000);
            }
        }
    }

    /**
     * Joins streamers of the same model on different GPUs (same streamed layers, same blob sizes, host memory only,
     * same prefetch) into one multi-GPU fetch; peer access is enabled between their devices.
     */
    static FetchGroup group(DeviceStreamer... m) {
        for (DeviceStreamer d : m) {
            if (d.fromNvme.contains(true)) throw new EngineException("The multi-GPU fetch streams from host memory: use --weights host with --dp.");
            if (!d.sizes.equals(m[0].sizes) || d.prefetch != m[0].prefetch) throw new IllegalArgumentException("streamers of different models");
        }
        FetchGroup g = new FetchGroup(m);
        for (int r = 0; r < m.length; r++) {
            for (DeviceStreamer o : m) if (o != m[r]) m[r].cu.enablePeerAccess(o.cu);
            m[r].group = m[r].joined = g;
            m[r].rank = r;
            m[r].cu.makeCurrent();
            m[r].ownEv = new long[m[r].slots];
            m[r].pulledEv = new long[m[r].slots];
            for (int s = 0; s < m[r].slots; s++) { m[r].ownEv[s] = m[r].cu.eventCreate(); m[r].pulledEv[s] = m[r].cu.eventCreate(); }
        }
        return g;
    }

    DeviceStreamer(Cuda cu, int prefetch, String nvmeDir, TelemetrySink sink) {
        if (prefetch < 0) throw new EngineException("Prefetch depth " + prefetch + " is invalid: set --prefetch to 0 or more.");
        this.cu = cu;
        this.prefetch = prefetch;
        this.nvmeDir = nvmeDir;
        this.sink = sink;
    }

    boolean streams(int layer) { return index.containsKey(layer); }
    int count() { return order.size(); }
    int slots() { return slots; }
    int prefetch() { return prefetch; }
    long ringBytes() { return slots * maxBlob; }
    long hostBytes() { long s = 0; for (MemorySegment c : chunks) s += c.byteSize(); return s; }
    String note() { return direct ? null : "the filesystem of " + dir + " refused O_DIRECT: NVMe-tier reads go through the page cache"; }

    /** Stores layer {@code layer}'s blob in the host tier or an NVMe file; {@code remaining} streamed layers still to come (sizes the pinned chunk). */
    void add(int layer, Blob b, boolean nvme, int remaining) {
        long size = b.paddedSize();
        if (size > CHUNK)
            throw new EngineException(String.format("Layer %d's weights (%.0f MB) exceed the 1 GiB pinned chunk a streamed layer must fit: keep the weights on the device (--weights device).", layer, size / 1e6));
        index.put(layer, order.size());
        order.add(layer);
        sizes.add(size);
        maxBlob = Math.max(maxBlob, size);
        if (nvme) {
            hostBlob.add(null);
            try (Arena a = Arena.ofConfined()) {
                MemorySegment tmp = a.allocate(size, ALIGN);
                b.writeTo(tmp);
                files.add(writeFile(layer, tmp));
            }
        } else {
            MemorySegment seg = pinned(size, remaining);
            b.writeTo(seg);
            hostBlob.add(seg);
            files.add(null);
        }
        fromNvme.add(nvme);
    }

    private MemorySegment pinned(long size, int remaining) {
        MemorySegment c = chunks.isEmpty() ? null : chunks.getLast();
        if (c == null || chunkUsed + size > c.byteSize()) {
            long want = Math.min(CHUNK, Math.max(size, size * Math.max(1, remaining)));
            want = Math.max(size, want / size * size);
            c = cu.hostAlloc(want);
            chunks.add(c);
            chunkUsed = 0;
        }
        MemorySegment s = c.asSlice(chunkUsed, size);
        chunkUsed += size;
        return s;
    }

    private FileChannel writeFile(int layer, MemorySegment seg) {
        try {
            if (dir == null) {
                Path p = Path.of(nvmeDir == null || nvmeDir.isBlank() ? System.getProperty("java.io.tmpdir") : nvmeDir);
                Files.createDirectories(p);
                dir = Files.createTempDirectory(p, "fathom-cuda-weights-");
            }
            Path f = dir.resolve(String.format("layer-%03d.bin", layer));
            try (FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                for (long off = 0; off < seg.byteSize(); ) {
                    ByteBuffer bb = seg.asSlice(off, Math.min(64L << 20, seg.byteSize() - off)).asByteBuffer();
                    while (bb.hasRemaining()) ch.write(bb, off + bb.position());
                    off += bb.capacity();
                }
                ch.force(false);
            }
            FileChannel rc = DiskBandwidth.openDirect(f);
            if (rc == null) {
                direct = false;
                rc = FileChannel.open(f, StandardOpenOption.READ);
            }
            return rc;
        } catch (IOException e) {
            throw new EngineException("Writing layer " + layer + "'s weights under " + (dir == null ? nvmeDir : dir) + " failed (" + e.getMessage()
                    + "): free disk space or point --nvme-dir at another directory.");
        }
    }

    /** Allocates the device ring, the staging buffers and the events (after the last {@link #add}). */
    void finish() {
        freeRing();
        slots = Math.min(prefetch + 1, order.size());
        ring = new long[slots];
        copied = new long[slots];
        released = new long[slots];
        boolean anyNvme = fromNvme.contains(true);
        staging = new MemorySegment[anyNvme ? slots : 0];
        if (copyStream == 0) copyStream = cu.streamCreate();
        for (int s = 0; s < slots; s++) {
            ring[s] = cu.malloc(maxBlob);
            copied[s] = cu.eventCreate();
            released[s] = cu.eventCreate();
            if (anyNvme) staging[s] = cu.hostAlloc(maxBlob);
        }
    }

    /**
     * Benchmarks: streams every streamed layer from {@code nvme} files (written now from the pinned copies
     * when missing) or from pinned host memory, with a new prefetch depth.
     */
    void reconfigure(int newPrefetch, boolean nvme) {
        cu.synchronize(copyStream);
        for (int j = 0; j < order.size(); j++) {
            if (nvme && files.get(j) == null) files.set(j, writeFile(order.get(j), hostBlob.get(j)));
            if (!nvme && hostBlob.get(j) == null)
                throw new IllegalStateException("layer " + order.get(j) + " has no host copy");
            fromNvme.set(j, nvme);
        }
        prefetch = newPrefetch;
        finish();
    }

    // ------------------------------------------------------------------ per forward pass

    /** Starts a pass: the NVMe reader begins reading; the first copies are queued at the first streamed layer. */
    void begin() {
        if (readTask != null) {   // the last pass failed midway: stop its reader first
            abort = true;
            synchronized (lock) { lock.notifyAll(); }
            try { readTask.get(); } catch (Exception ignored) { }
            abort = false;
            readTask = null;
        }
        next = 0;
        stalls = 0;
        if (group != null) {   // grouped passes only: the group's counters advance in those
            passBase = passes * order.size();
            passes++;
        }
        synchronized (lock) {
            readDone = 0;
            copiesQueued = 0;
            readError = null;
        }
        if (staging.length > 0) {
            if (reader == null) reader = java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "fathom-cuda-nvme-reader");
                t.setDaemon(true);
                return t;
            });
            readTask = reader.submit(this::readAll);
        }
    }

    /** Reader thread: every NVMe layer of the pass, in order, into its staging buffer once that is free. */
    private void readAll() {
        try {
            cu.makeCurrent();
            for (int j = 0; j < order.size() && !abort; j++) {
                if (fromNvme.get(j)) {
                    int s = j % slots, layer = order.get(j);
                    synchronized (lock) {
                        while (copiesQueued < j - slots + 1 && !abort) lock.wait();   // the copy of j - slots is queued
                    }
                    if (abort) return;
                    if (j >= slots) cu.eventSynchronize(copied[s]);                     // ... and done: staging s is free
                    long size = sizes.get(j), r0 = System.nanoTime();
                    DiskBandwidth.readFully(files.get(j), 0, staging[s].asSlice(0, size));
                    long d = System.nanoTime() - r0;
                    if (sink.enabled()) sink.emit(new TelemetryEvent.TransferSpan("nvme-read", "nvme", "host", 0, layer, r0, d, size));
                    synchronized (lock) { readMs += d / 1e6; }
                }
                synchronized (lock) {
                    readDone = j + 1;
                    lock.notifyAll();
                }
            }
        } catch (Throwable t) {
            synchronized (lock) {
                readError = t;
                lock.notifyAll();
            }
        }
    }

    /** Compute waits for layer {@code layer}'s copy; returns the device base address of its blob. */
    long acquire(int layer, long compute) {
        if (next == 0) for (int i = 0; i < slots; i++) fetch();   // the first k + 1 copies
        int s = index.get(layer) % slots;
        long[] ev = event(stallEv, stalls++);
        cu.eventRecord(ev[0], compute);
        cu.streamWaitEvent(compute, copied[s]);
        cu.eventRecord(ev[1], compute);
        return ring[s];
    }

    /** The layer's kernels are queued: its slot is free once they finish; the next fetch goes there. */
    void release(int layer, long compute) {
        cu.eventRecord(released[index.get(layer) % slots], compute);
        fetch();
    }

    /**
     * Benchmarks: fetch through the group (on) or whole layers from this GPU's own host copy (off). Every member must
     * switch between the same passes.
     */
    void setGroupEnabled(boolean on) { group = on ? joined : null; }

    /** Passes begun (the group's counters count layers over all passes: passBase + j). */
    private int passes, passBase;

    private void fetch() {
        int j = next++;
        if (j >= order.size()) return;
        int s = j % slots, layer = order.get(j);
        long size = sizes.get(j);
        if (group != null) {
            fetchPart(j, s, layer, size);
            return;
        }
        MemorySegment src;
        long t0 = System.nanoTime();
        if (fromNvme.get(j)) {
            synchronized (lock) {
                try {
                    while (readDone <= j && readError == null) lock.wait();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while waiting for layer " + layer + "'s NVMe read", e);
                }
                if (readError != null) throw new UncheckedIOException("reading layer " + layer + " from " + dir + " failed: " + readError,
                        readError instanceof IOException io ? io : new IOException(readError));
            }
            src = staging[s];
        } else src = hostBlob.get(j);
        cu.streamWaitEvent(copyStream, released[s]);
        long[] ev = event(copyEv, pendingCopy.size());
        cu.eventRecord(ev[0], copyStream);
        cu.copyToDevice(ring[s], src, size, copyStream);
        cu.eventRecord(ev[1], copyStream);
        cu.eventRecord(copied[s], copyStream);
        pendingCopy.add(new long[]{layer, size, t0, fromNvme.get(j) ? 1 : 0});
        synchronized (lock) {
            copiesQueued = j + 1;
            lock.notifyAll();
        }
        fetches++;
        bytes += size;
    }

    /** Multi-GPU fetch of streamed layer j into slot s: own part from host, the others pulled from the peers. */
    private void fetchPart(int j, int s, int layer, long size) {
        int n = group.members.length, g = passBase + j;   // g: the group-wide layer count
        long t0 = System.nanoTime();
        cu.makeCurrent();
        cu.streamWaitEvent(copyStream, released[s]);   // this GPU's compute is done with the slot
        for (int p = 0; p < n; p++) {                   // ... and every peer has pulled its previous layer out of it
            if (p == rank || g < slots) continue;
            group.await(group.pullDone, p, g - slots + 1);
            cu.streamWaitEvent(copyStream, group.members[p].pulledEv[s]);
        }
        long[] ev = event(copyEv, pendingCopy.size());
        cu.eventRecord(ev[0], copyStream);
        long lo = FetchGroup.from(size, rank, n), hi = FetchGroup.from(size, rank + 1, n);
        if (hi > lo) cu.copyToDevice(ring[s] + lo, hostBlob.get(j).asSlice(lo, hi - lo), hi - lo, copyStream);
        cu.eventRecord(ownEv[s], copyStream);
        group.ownDone.set(rank, g + 1);
        for (int p = 0; p < n; p++) {
            if (p == rank) continue;
            DeviceStreamer peer = group.members[p];
            long plo = FetchGroup.from(size, p, n), phi = FetchGroup.from(size, p + 1, n);
            group.await(group.ownDone, p, g + 1);
            cu.streamWaitEvent(copyStream, peer.ownEv[s]);
            if (phi > plo) peer.cu.copyPeer(ring[s] + plo, cu, peer.ring[s] + plo, phi - plo, copyStream);
        }
        cu.eventRecord(ev[1], copyStream);
        cu.eventRecord(pulledEv[s], copyStream);
        cu.eventRecord(copied[s], copyStream);
        group.pullDone.set(rank, g + 1);
        pendingCopy.add(new long[]{layer, hi - lo, t0, 0});
        fetches++;
        bytes += hi - lo;
    }

    private long[] event(List<long[]> pool, int i) {
        while (pool.size() <= i) pool.add(new long[]{cu.eventCreate(), cu.eventCreate()});
        return pool.get(i);
    }

    /** After the compute stream finished the pass: copy and stall times into the counters and telemetry. */
    void end() {
        cu.synchronize(copyStream);
        if (readTask != null) {
            try {
                readTask.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (java.util.concurrent.ExecutionException ignored) {
                // readAll keeps its own error
            }
            readTask = null;
        }
        for (int i = 0; i < pendingCopy.size(); i++) {
            long[] p = pendingCopy.get(i), ev = copyEv.get(i);
            float ms = cu.elapsedMs(ev[0], ev[1]);
            copyMs += ms;
            if (sink.enabled())
                sink.emit(new TelemetryEvent.TransferSpan("h2d", p[3] == 1 ? "nvme" : "host", "cuda:0", 0, (int) p[0], p[2], (long) (ms * 1e6), p[1]));
        }
        pendingCopy.clear();
        for (int i = 0; i < stalls; i++) stallMs += cu.elapsedMs(stallEv.get(i)[0], stallEv.get(i)[1]);
        stalls = 0;
    }

    Stats stats() {
        synchronized (lock) { return new Stats(fetches, bytes, copyMs, readMs, stallMs); }
    }

    void resetStats() {
        fetches = bytes = 0;
        synchronized (lock) { copyMs = readMs = stallMs = 0; }
    }

    private void freeRing() {
        for (long p : ring) cu.free(p);
        for (long e : copied) cu.eventDestroy(e);
        for (long e : released) cu.eventDestroy(e);
        for (MemorySegment m : staging) cu.hostFree(m);
        ring = new long[0];
        copied = released = new long[0];
        staging = new MemorySegment[0];
    }

    @Override
    public void close() {
        abort = true;
        synchronized (lock) { lock.notifyAll(); }
        if (reader != null) {
            reader.shutdownNow();
            try { reader.awaitTermination(10, java.util.concurrent.TimeUnit.SECONDS); } catch (InterruptedException e) { Thread.currentThread().interrupt(); }
        }
        if (copyStream != 0) {
            try { cu.synchronize(copyStream); } catch (RuntimeException ignored) { }
        }
        freeRing();
        for (long[] e : copyEv) { cu.eventDestroy(e[0]); cu.eventDestroy(e[1]); }
        for (long e : ownEv) cu.eventDestroy(e);
        for (long e : pulledEv) cu.eventDestroy(e);
        ownEv = pulledEv = new long[0];
        for (long[] e : stallEv) { cu.eventDestroy(e[0]); cu.eventDestroy(e[1]); }
        copyEv.clear();
        stallEv.clear();
        for (MemorySegment c : chunks) cu.hostFree(c);
        chunks.clear();
        hostBlob.clear();
        if (copyStream != 0) cu.streamDestroy(copyStream);
        copyStream = 0;
        for (FileChannel f : files) if (f != null) try { f.close(); } catch (IOException ignored) { }
        files.clear();
        if (dir != null) {
            try (Stream<Path> s = Files.walk(dir)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> { try { Files.deleteIfExists(p); } catch (IOException ignored) { } });
            } catch (IOException ignored) { }
        }
    }
}
