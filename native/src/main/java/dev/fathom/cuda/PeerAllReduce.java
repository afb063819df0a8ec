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
    /** Bytes of the kernel's TpComm descriptor: rank, tp, counter, recv[8], flags[8], llCounter, llRecv[8]. */
    static final int DESC_BYTES = 16 + 16 * MAX_RANKS + 8 + 8 * MAX_RANKS;
    /** Offsets in the descriptor. */
    static final int OFF_RECV = 16, OFF_FLAGS = OFF_RECV + 8 * MAX_RANKS, OFF_LL_COUNTER = OFF_FLAGS + 8 * MAX_RANKS,
            OFF_LL_RECV = OFF_LL_COUNTER + 8;
    /** The idle value of the one-shot kernel's receive slots (-0.0f). */
    static final int SENTINEL = 0x80000000;

    /** The two kernels: {@code FLAG} (push, fence, flag, spin) and {@code LL} (one-shot, data as flag, optional fused norm). */
    public enum Kind { FLAG, LL }

    /** The kernel used unless a caller picks one: -Dfathom.tp.allreduce=flag|ll (default ll). */
    public static Kind defaultKind() {
        return CudaSettings.choice("fathom.tp.allreduce", "ll", "ll", "flag").equals("flag") ? Kind.FLAG : Kind.LL;
    }

    private final Cuda[] devs;
    private final CudaModule[] mods;
    private final long cap;
    private final long[] recv, flags, counter, desc, llRecv, llCounter;
    private final Kind kind;

    /**
     * @param devs one device per rank (distinct, every pair with peer access)
     * @param cap  largest all-reduce in elements (rows × hidden of the largest pass)
     */
    public PeerAllReduce(Cuda[] devs, long cap) { this(devs, cap, defaultKind()); }

    public PeerAllReduce(Cuda[] devs, long cap, Kind kind) {
        int tp = devs.length;
        if (tp < 2 || tp > MAX_RANKS) throw new IllegalArgumentException("peer all-reduce takes 2.." + MAX_RANKS + " ranks, not " + tp);
        for (int i = 0; i < tp; i++)
            for (int j = 0; j < tp; j++)
                if (i != j && (devs[i] == devs[j] || !devs[i].canAccessPeer(devs[j])))
                    throw new IllegalStateException("GPU " + devs[i].ordinal() + " cannot access GPU " + devs[j].ordinal()
                            + " directly (no P2P): tensor parallelism on the cuda backend needs peer access between its GPUs.");
        this.devs = devs.clone();
        this.cap = (Math.max(cap, 4) + 3) & ~3L;   // whole float4s, so every slot stays 16-byte aligned
        this.kind = kind;
        mods = new CudaModule[tp];
        recv = new long[tp];
        flags = new long[tp];
        counter = new long[tp];
        desc = new long[tp];
        llRecv = new long[tp];
        llCounter = new long[tp];
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
                llRecv[i] = cu.malloc(4L * 3 * tp * this.cap);
                llCounter[i] = cu.malloc(8);
                cu.fill32(flags[i], 0, (long) MAX_BLOCKS * tp, 0);
                cu.fill32(counter[i], 0, MAX_BLOCKS, 0);
                cu.fill32(llRecv[i], SENTINEL, 3L * tp * this.cap, 0);
                cu.fill32(llCounter[i], 0, 2, 0);
                cu.synchronize(0);
            }
            try (Arena a = Arena.ofConfined()) {
                for (int i = 0; i < tp; i++) {
                    MemorySegment d = descriptor(i, counter[i], recv, flags, llCounter[i], llRecv, a);
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

    /** The kernel's TpComm descriptor of {@code rank}: int rank, int tp, counter, recv[8], flags[8], llCounter, llRecv[8]. */
    static MemorySegment descriptor(int rank, long counter, long[] recv, long[] flags, long llCounter, long[] llRecv, Arena a) {
        MemorySegment d = a.allocate(DESC_BYTES, 16);
        d.set(ValueLayout.JAVA_INT, 0, rank);
        d.set(ValueLayout.JAVA_INT, 4, recv.length);
        d.set(ValueLayout.JAVA_LONG, 8, counter);
        d.set(ValueLayout.JAVA_LONG, OFF_LL_COUNTER, llCounter);
        for (int i = 0; i < recv.length; i++) {
            d.set(ValueLayout.JAVA_LONG, OFF_RECV + 8L * i, recv[i]);
            d.set(ValueLayout.JAVA_LONG, OFF_FLAGS + 8L * i, flags[i]);
            d.set(ValueLayout.JAVA_LONG, OFF_LL_RECV + 8L * i, llRecv[i]);
        }
        return d;
    }

    /** Threads per block of the one-shot kernel for rows of {@code h}: a float4 per thread, 32..1024. */
    static int llThreads(int h) {
        int t = ((h + 3) / 4 + 31) / 32 * 32;
        return Math.max(32, Math.min(1024, t));
    }

    /** Blocks of the one-shot kernel: one per row, at most {@link #MAX_BLOCKS} (each takes every grid-th row). */
    static int llBlocks(int rows) { return Math.max(1, Math.min(MAX_BLOCKS, rows)); }

    /** Blocks of one launch for {@code n} elements: one per {@link #ELEMS_PER_BLOCK}, 1..{@link #MAX_BLOCKS}. */
    static int blocks(long n) {
        return (int) Math.max(1, Math.min(MAX_BLOCKS, (n + ELEMS_PER_BLOCK - 1) / ELEMS_PER_BLOCK));
    }

    public int size() { return devs.length; }
    public Kind kind() { return kind; }
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

        /** As above with an explicit block count for the FLAG kernel (benchmarks); every rank must use the same. */
        public void allReduce(long part, long out, long res, long bias, int h, long n, long stream, int blocks) {
            if (n > cap) throw new IllegalArgumentException(n + " elements exceed the all-reduce buffers of " + cap);
            if (kind == Kind.LL) {
                allReduceNorm(part, out, res, bias, h, n, stream, 0, 0, 0, 0f, false);
                return;
            }
            if (blocks < 1 || blocks > MAX_BLOCKS) throw new IllegalArgumentException("blocks " + blocks);
            mods[r].launch("tp_allreduce", blocks, 1, THREADS, 0, stream, desc[r], part, out, res, bias, h, n, cap);
        }

        /** True when {@link #allReduceNorm} can apply the following norm in the same kernel (the LL kernel). */
        public boolean fusesNorm() { return kind == Kind.LL; }

        /**
         * LL kernel: the all-reduce of rows of {@code h} ({@code n} = rows × h), then, when {@code normW} != 0,
         * {@code xn = norm(out)} per row (RMSNorm when {@code rms}, else LayerNorm with {@code normB}).
         */
        public void allReduceNorm(long part, long out, long res, long bias, int h, long n, long stream,
                                  long normW, long normB, long xn, float eps, boolean rms) {
            if (kind != Kind.LL) throw new IllegalStateException("the flag all-reduce has no fused norm");
            if (n > cap) throw new IllegalArgumentException(n + " elements exceed the all-reduce buffers of " + cap);
            if (n % h != 0) throw new IllegalArgumentException(n + " elements are not whole rows of " + h);
            int rows = (int) (n / h);
            mods[r].launch("tp_allreduce_ll", llBlocks(rows), 1, llThreads(h), 0, stream, desc[r], part, out, res, bias, h, rows, cap,
                    normW, normB, xn, eps, rms ? 1 : 0);
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
            for (long p : new long[]{recv[i], flags[i], counter[i], desc[i], llRecv[i], llCounter[i]}) if (p != 0) cu.free(p);
            recv[i] = flags[i] = counter[i] = desc[i] = llRecv[i] = llCounter[i] = 0;
        }
    }
}
