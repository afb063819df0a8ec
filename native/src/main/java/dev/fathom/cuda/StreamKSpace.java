package dev.fathom.cuda;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The device memory where the stream-K TMA kernels (tma.cuh's sbi_mmk, {@link TmaKernels#streamK}) meet: workspace slots
 * for the partial sums of a row group (one per row group and block, {@link TmaKernels#streamKSlotBytes} each) and one
 * ticket per row group, which the block adding a row group's pieces sets back to zero (the owner kernels use the same
 * words as flags, one per slot and consumer warp, which each owner clears once read). One per loaded module (device),
 * allocated on first use and kept for the process, like the module: a decode graph captured over it keeps its addresses.
 * Launches of these kernels on a device must not overlap; the model issues them on one stream.
 */
record StreamKSpace(long slots, long tickets) {
    /** Workspace bytes: llama-7b's widest matrix, 32000 outputs, at 8 blocks per multiprocessor of 132 needs 1306 slots of 4128 bytes. */
    static final long BYTES = 8L << 20;
    /** Tickets (row groups; an owner kernel's flags: slots x consumer warps), 4 bytes each. */
    static final int TICKETS = 16384;

    private static final Map<CudaModule, StreamKSpace> SPACES = new ConcurrentHashMap<>();

    /**
     * {@code mod}'s space, allocated (and the tickets zeroed) on the first call. Call it before capturing a graph that
     * launches a stream-K kernel: allocating is not allowed while a stream is being captured.
     */
    static StreamKSpace of(CudaModule mod) {
        return SPACES.computeIfAbsent(mod, m -> {
            Cuda cu = m.cuda();
            cu.makeCurrent();
            long ws = cu.malloc(BYTES), t = cu.malloc(4L * TICKETS);
            long stream = cu.streamCreate();
            try {
                cu.fill32(t, 0, TICKETS, stream);
                cu.synchronize(stream);
            } finally {
                cu.streamDestroy(stream);
            }
            return new StreamKSpace(ws, t);
        });
    }
}
