package dev.fathom.engine.offload;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.Map;

/**
 * The host tier: packed layers in their own off-heap arena (standing in for pinned host memory; each
 * layer is one allocation, well below the 1 GiB pinned-chunk limit), copied into the ring on demand.
 */
public final class HostStore implements LayerStore {
    private final Arena arena = Arena.ofShared();
    private final Map<Integer, MemorySegment> layers = new HashMap<>();
    private long bytes;

    /** Copies {@code pack}'s layer into the host arena as layer {@code layer}. */
    public synchronized void put(int layer, LayerPack pack) {
        MemorySegment seg = arena.allocate(pack.bytes(), LayerPack.ALIGN);
        pack.pack(seg);
        layers.put(layer, seg);
        bytes += seg.byteSize();
    }

    @Override public String tier() { return "host"; }
    @Override public String transferKind() { return "h2d"; }
    @Override public synchronized long bytes() { return bytes; }

    @Override
    public void read(int layer, MemorySegment dst) {
        MemorySegment src;
        synchronized (this) { src = layers.get(layer); }
        if (src == null) throw new IllegalStateException("layer " + layer + " is not in the host tier");
        MemorySegment.copy(src, 0, dst, 0, Math.min(src.byteSize(), dst.byteSize()));
    }

    @Override
    public synchronized void close() {
        layers.clear();
        if (arena.scope().isAlive()) arena.close();
    }
}
