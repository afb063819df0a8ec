package dev.fathom.engine.offload;

import java.io.IOException;
import java.lang.foreign.MemorySegment;

/**
 * Where streamed layers live between uses: a tier that can fill a buffer with a layer's packed bytes
 * ({@link LayerPack}). The CPU streamer reads straight into its ring; a device backend reads into a
 * pinned staging buffer and follows with its own host-to-device copy.
 */
public interface LayerStore extends AutoCloseable {
    /** Tier name for telemetry and plans: {@code host} or {@code nvme}. */
    String tier();

    /** Telemetry kind of one fill: {@code h2d} (host copy) or {@code nvme-read}. */
    String transferKind();

    /** Fills {@code dst} (aligned to {@link LayerPack#ALIGN}, {@code pack.bytes()} long) with layer {@code layer}. */
    void read(int layer, MemorySegment dst) throws IOException;

    /** Bytes this store holds. */
    long bytes();

    /** A line for people (e.g. whether O_DIRECT was refused), or null. */
    default String note() { return null; }

    @Override
    void close();
}
