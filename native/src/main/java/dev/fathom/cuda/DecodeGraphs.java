package dev.fathom.cuda;

import java.util.HashMap;
import java.util.Map;

/**
 * The CUDA graphs of a model's decode steps, one per key (batch size and attention kernel), captured the first time a
 * key runs and replayed after. While a step is being captured the model reports each kernel's bytes and FLOPs here
 * instead of timing it, so a replay can be reported as one span that carries the step's totals.
 */
final class DecodeGraphs implements AutoCloseable {
    /** A captured step: the graph, its executable instance, and the bytes and FLOPs of its kernels. */
    record Graph(long graph, long exec, long bytes, long flops) {}

    private final Cuda cu;
    private final Map<Integer, Graph> byKey = new HashMap<>();
    private boolean capturing;
    private long bytes, flops;

    DecodeGraphs(Cuda cu) { this.cu = cu; }

    /** True while a step is being captured: kernels are recorded, not run, so they are counted, not timed. */
    boolean capturing() { return capturing; }

    /** Adds a captured kernel's bytes and FLOPs to the step being captured. */
    void count(long kernelBytes, long kernelFlops) {
        bytes += kernelBytes;
        flops += kernelFlops;
    }

    /** The graph of {@code key}, capturing {@code step}'s launches on {@code stream} when it is not there yet. */
    Graph get(int key, long stream, Runnable step) {
        Graph g = byKey.get(key);
        if (g != null) return g;
        capturing = true;
        bytes = 0;
        flops = 0;
        long[] ge;
        cu.beginCapture(stream);
        try {
            step.run();
        } finally {
            ge = cu.endCapture(stream);
            capturing = false;
        }
        g = new Graph(ge[0], ge[1], bytes, flops);
        byKey.put(key, g);
        return g;
    }

    @Override
    public void close() {
        for (Graph g : byKey.values()) cu.graphDestroy(g.graph(), g.exec());
        byKey.clear();
    }
}
