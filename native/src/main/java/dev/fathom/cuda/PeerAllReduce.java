package dev.fathom.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Sum all-reduce of float32 buffers among the GPUs of one host over peer-mapped memory: kernel
 * {@code tp_allreduce} (native/src/main/cuda/comm.cuh) pushes each rank's partial into the peers' receive
 * buffers with P2P stores, raises a per-block flag holding a sequence number, spins on the peers' flags and
 * sums. The sequence numbers live in device memory, so the launches can be captured into CUDA graphs and
 * replayed, and no host synchronisation happens per all-reduce. Each rank's launches go on that rank's own
 * stream from its own thread; all ranks must issue the same all-reduces in the same order.
 *
 * <p>Device memory per rank: receive buffers of 2 × tp × {@code cap} floats, flags and counters (a few KB).
 */
public final class PeerAllReduce implements AutoCloseable {
    /** Limits of the kernel (TP_MAX_RANKS, TP_MAX_BLOCKS in comm.cuh). */
    public static final int MAX_RANKS = 8, MAX_BLOCKS = 32;
    /** Threads per block of one launch. */
    public static final int THREADS = 256;
    /** Elements per block before another block is added (4 floats per thread). */
    public static final int ELEMS_PER_BLOCK = 4 * THREADS;
    /** Bytes of the kernel's TpComm descriptor: rank, tp, counter, recv[8], flags[8]. */
    static final int DESC_BYTES = 16 + 16 * MAX_RANKS;

    private final Cuda[] devs;
    private final CudaModule[] mods;
    private final long cap;
    private final long[] recv, flags, counter, desc;

    /**
     * @param devs one device per rank (distinct, every pair with peer access)
     * @param cap  largest all-reduce in elements (rows × hidden of the largest pass)
     */
    public PeerAllReduce(Cuda[] devs, long cap) {
        int tp = devs.length;
        if (tp < 2 || tp > MAX_RANKS) throw new IllegalArgumentException("peer all-reduce takes 2.." + MAX_RANKS + " ranks, not " + tp);
        for (int i = 0; i < tp; i++)
            for (int j = 0; j < tp; j++)
                if (i != j && (devs[i] == devs[j] || !devs[i].canAccessPeer(devs[j])))
                    throw new IllegalStateException("GPU " + devs[i].ordinal() + " cannot access GPU " + devs[j].ordinal()
                            + " directly (no P2P): tensor parallelism on the cuda backend needs peer access between its GPUs.");
        this.devs = devs.clone();
        this.cap = Math.max(cap, 4);
        mods = new CudaModule[tp];
        recv = new long[tp];
        flags = new long[tp];
        counter = new long[tp];
        desc = new long[tp];
        try {
            for (int i = 0; i < tp; i++) {
                for (int j = 0; j < tp; j++) if (i != j) devs[i].enablePeerAccess(devs[j]);
                mods[i] = CudaModule.get(devs[i]);
                Cuda cu = devs[i];
                cu.makeCurrent();
                recv[i] = cu.malloc(4L * 2 * tp * this.cap);
                flags[i] = cu.malloc(4L * MAX_BLOCKS * tp);
                counter[i] = cu.malloc(4L * MAX_BLOCKS);
                desc[i] = cu.malloc(DESC_BYTES);
                cu.fill32(flags[i], 0, (long) MAX_BLOCKS * tp, 0);
                cu.fill32(counter[i], 0, MAX_BLOCKS, 0);
                cu.synchronize(0);
            }
            try (Arena a = Arena.ofConfined()) {
                for (int i = 0; i < tp; i++) {
                    MemorySegment d = descriptor(i, counter[i], recv, flags, a);
                    devs[i].makeCurrent();
                    devs[i].copyToDevice(desc[i], d, DESC_BYTES, 0);
                    devs[i].synchronize(0);
                }
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** The kernel's TpComm descriptor of {@code rank}: int rank, int tp, counter pointer, recv[8], flags[8]. */
    static MemorySegment descriptor(int rank, long counter, long[] recv, long[] flags, Arena a) {
        MemorySegment d = a.allocate(DESC_BYTES, 16);
        d.set(ValueLayout.JAVA_INT, 0, rank);
        d.set(ValueLayout.JAVA_INT, 4, recv.length);
        d.set(ValueLayout.JAVA_LONG, 8, counter);
        for (int i = 0; i < recv.length; i++) {
            d.set(ValueLayout.JAVA_LONG, 16 + 8L * i, recv[i]);
            d.set(ValueLayout.JAVA_LONG, 16 + 8L * MAX_RANKS + 8L * i, flags[i]);
        }
        return d;
    }

    /** Blocks of one launch for {@code n} elements: one per {@link #ELEMS_PER_BLOCK}, 1..{@link #MAX_BLOCKS}. */
    static int blocks(long n) {
        return (int) Math.max(1, Math.min(MAX_BLOCKS, (n + ELEMS_PER_BLOCK - 1) / ELEMS_PER_BLOCK));
    }

    public int size() { return devs.length; }
    public long capacity() { return cap; }
    public Rank rank(int r) { return new Rank(r); }

    /** One rank's side: its launches go on its device and stream. */
    public final class Rank {
        private final int r;

        private Rank(int r) { this.r = r; }

        public int rank() { return r; }
        public int size() { return devs.length; }
        public Cuda cuda() { return devs[r]; }
        public CudaModule module() { return mods[r]; }

        /**
         * {@code out[i] = res[i] + (bias[i % h] + Σ_ranks part[i])} for {@code i < n} (res, bias: 0 for none; out may be
         * res, not part). Every rank must call it with the same n, in the same order.
         */
        public void allReduce(long part, long out, long res, long bias, int h, long n, long stream) {
            allReduce(part, out, res, bias, h, n, stream, blocks(n));
        }

        /** As above with an explicit block count (benchmarks); every rank must use the same. */
        public void allReduce(long part, long out, long res, long bias, int h, long n, long stream, int blocks) {
            if (n > cap) throw new IllegalArgumentException(n + " elements exceed the all-reduce buffers of " + cap);
            if (blocks < 1 || blocks > MAX_BLOCKS) throw new IllegalArgumentException("blocks " + blocks);
            mods[r].launch("tp_allreduce", blocks, 1, THREADS, 0, stream, desc[r], part, out, res, bias, h, n, cap);
        }
    }

    @Override
    public void close() {
        for (int i = 0; i < devs.length; i++) {
            Cuda cu = devs[i];
            if (recv == null) break;
            cu.makeCurrent();
            try {
                cu.synchronize(0);
            } catch (RuntimeException ignored) {
                // free what we can
            }
            for (long p : new long[]{recv[i], flags[i], counter[i], desc[i]}) if (p != 0) cu.free(p);
            recv[i] = flags[i] = counter[i] = desc[i] = 0;
        }
    }
}
