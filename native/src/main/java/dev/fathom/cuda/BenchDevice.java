package dev.fathom.cuda;

import java.util.Arrays;

/**
 * The device side of the CUDA benchmarks: a stream with an event pair for timing, random fills, the measured read
 * bandwidth (the ceiling every table compares with), weight copies to rotate through, and the per-launch timing of
 * back-to-back launches. Used by {@link CudaBench} and the tables ({@link BenchTables}).
 */
final class BenchDevice {
    final CudaModule mod = CudaModule.get();
    final Cuda cu = mod.cuda();
    final long stream;
    private final long e0, e1;

    BenchDevice() {
        cu.makeCurrent();
        stream = cu.streamCreate();
        e0 = cu.eventCreate();
        e1 = cu.eventCreate();
    }

    float timeMs(Runnable r) {
        cu.eventRecord(e0, stream);
        r.run();
        cu.eventRecord(e1, stream);
        cu.eventSynchronize(e1);
        return cu.elapsedMs(e0, e1);
    }

    /** {@code n} floats from device memory at {@code p} (after the stream's work so far). */
    float[] download(long p, long n) {
        try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
            java.lang.foreign.MemorySegment h = a.allocate(4L * n, 16);
            cu.copyToHost(h, p, 4L * n, stream);
            cu.synchronize(stream);
            return h.toArray(java.lang.foreign.ValueLayout.JAVA_FLOAT);
        }
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    /** Random bf16 values ({@code halves} of them) at {@code p}: finite floats when read as pairs. */
    void fill(long p, long halves, int seed) {
        mod.launch("fill_bf16", cu.smCount() * 8, 1, 256, 0, stream, p, halves, seed);
    }

    /** The device's read bandwidth in bytes/s (for {@link CudaBackend#measureReadBandwidth()}). */
    static double deviceReadBandwidth() {
        return new BenchDevice().readBandwidth() * 1e9;
    }

    /** Median over 20 timed read passes of a 4 GiB buffer (after 3 warm-ups), in GB/s. */
    double readBandwidth() {
        long bytes = 4L << 30;
        long p = cu.malloc(bytes);
        long out = cu.malloc(4L * 65536);
        try {
            fill(p, bytes / 2, 7);
            int blocks = cu.smCount() * 16;
            double[] t = new double[20];
            for (int i = -3; i < t.length; i++) {
                double ms = timeMs(() -> mod.launch("read_probe", blocks, 1, 256, 0, stream, p, bytes / 16, out));
                if (i >= 0) t[i] = ms;
            }
            return bytes / (median(t) * 1e-3) / 1e9;
        } finally {
            cu.free(p);
            cu.free(out);
        }
    }

    /** {@code n} device buffers of {@code bytes} random bf16 values each (seeds {@code seed}, seed + 1, ...). */
    long[] copies(int n, long bytes, int seed) {
        long[] p = new long[n];
        for (int c = 0; c < n; c++) {
            p[c] = cu.malloc(bytes);
            fill(p[c], bytes / 2, seed + c);
        }
        return p;
    }

    void free(long[]... sets) {
        for (long[] set : sets) for (long p : set) cu.free(p);
    }

    interface Body { void run(int copy); }

    /**
     * As {@link #perLaunchUs}, with the 20 runs captured once into a CUDA graph (as the decode step runs its kernels) and
     * the graph launched 9 times, each timed by one event pair; µs per run.
     */
    double perGraphUs(int copies, Body body) {
        for (int i = 0; i < 3; i++) body.run(i % copies);   // lazy loading and workspaces before the capture
        cu.synchronize(stream);
        cu.beginCapture(stream);
        long[] g = null;
        try {   // the graph destroyed whatever happens once captured, a failed run inside the capture included
            try {
                for (int j = 0; j < 20; j++) body.run(j % copies);
            } finally {
                g = cu.endCapture(stream);
            }
            long exec = g[1];
            cu.graphLaunch(exec, stream);
            double[] t = new double[9];
            for (int i = 0; i < t.length; i++) t[i] = timeMs(() -> cu.graphLaunch(exec, stream)) * 1e3 / 20;
            return median(t);
        } finally {
            if (g != null) {
                cu.synchronize(stream);
                cu.graphDestroy(g[0], g[1]);
            }
        }
    }

    /** Median over 9 repeats of 20 back-to-back runs (each on the next weight copy) timed by one event pair; µs per run. */
    double perLaunchUs(int copies, Body body) {
        for (int i = 0; i < 5; i++) body.run(i % copies);
        double[] t = new double[9];
        int[] next = {0};
        for (int i = 0; i < t.length; i++) {
            t[i] = timeMs(() -> {
                for (int j = 0; j < 20; j++) body.run(next[0]++ % copies);
            }) * 1e3 / 20;
        }
        return median(t);
    }
}
