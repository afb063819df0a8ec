package dev.fathom.engine.cpu.vector;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed set of worker threads started once and reused for every kernel. {@link #run} publishes a
 * task cut into chunks; the caller and the workers claim chunks from one atomic counter until none are
 * left, so a participant that the OS has descheduled (the machine is shared) simply claims fewer, and
 * the caller never waits for a worker that has not started. The caller returns once every chunk is
 * done. Nothing is allocated per call. Idle workers spin briefly (the gaps between kernels of one
 * token are short) and then park, so an idle pool costs no CPU.
 *
 * <p>Claims go through one word, state = epoch (24 bits) | chunks (20 bits) | next chunk (20 bits): a
 * worker that read the fields of a task and was then preempted can only claim a chunk of the task it
 * read, because its claim fails once a newer epoch is published, and a new task is published only after
 * every chunk of the previous one is done (so a state with chunks left always belongs to the task field).
 */
public final class WorkerPool implements AutoCloseable {
    /** Work cut into {@link #chunks()} independent pieces; {@code worker} indexes per-participant scratch. */
    public interface Task {
        int chunks();

        void run(int chunk, int worker);
    }

    private static final long SPIN_NS = 200_000;
    /** Most chunks one task may have. */
    public static final int MAX_CHUNKS = (1 << 20) - 1;
    private static final int EPOCH_MASK = (1 << 24) - 1;

    private final int size;
    private final Thread[] threads;
    private final boolean[] parked;   // guarded by this
    private volatile int generation;
    private volatile Task task;
    private volatile boolean closed;
    private final AtomicLong state = new AtomicLong();
    private final AtomicInteger done = new AtomicInteger();
    private volatile Throwable failure;

    /** @param size participants including the caller; 0 or less = one per available processor */
    public WorkerPool(int size) {
        this.size = size <= 0 ? Runtime.getRuntime().availableProcessors() : size;
        this.threads = new Thread[this.size];
        this.parked = new boolean[this.size];
        for (int i = 1; i < this.size; i++) {
            int id = i;
            Thread t = new Thread(() -> loop(id), "fathom-cpu-" + i);
            t.setDaemon(true);
            threads[i] = t;
            t.start();
        }
    }

    public int size() { return size; }

    /** Runs every chunk of {@code t} on the calling thread alone. */
    public static void runInline(Task t) {
        for (int c = 0, n = t.chunks(); c < n; c++) t.run(c, 0);
    }

    /** Runs every chunk of {@code t} across the pool and waits; rethrows the first failure. */
    public void run(Task t) {
        int chunks = t.chunks();
        if (size == 1 || chunks <= 1) {
            runInline(t);
            return;
        }
        if (chunks > MAX_CHUNKS) throw new IllegalArgumentException("task of " + chunks + " chunks; at most " + MAX_CHUNKS);
        int epoch = (generation + 1) & EPOCH_MASK;
        task = t;
        failure = null;
        done.set(0);
        state.set(((long) epoch << 40) | ((long) chunks << 20));
        generation = epoch;
        for (int i = 1; i < size; i++) if (isParked(i)) LockSupport.unpark(threads[i]);
        work(epoch, t, 0);
        int spins = 0;
        while (done.get() < chunks) {
            if (++spins < 2048) Thread.onSpinWait();
            else Thread.yield();
        }
        Throwable f = failure;
        if (f instanceof RuntimeException re) throw re;
        if (f instanceof Error er) throw er;
        if (f != null) throw new IllegalStateException(f);
    }

    private void work(int epoch, Task t, int worker) {
        while (true) {
            long s = state.get();
            if ((int) (s >>> 40) != epoch) return;
            int next = (int) (s & MAX_CHUNKS), chunks = (int) ((s >>> 20) & MAX_CHUNKS);
            if (next >= chunks) return;
            if (!state.compareAndSet(s, s + 1)) continue;
            try {
                t.run(next, worker);
            } catch (Throwable e) {
                if (failure == null) failure = e;
            }
            done.incrementAndGet();
        }
    }

    private synchronized boolean isParked(int i) { return parked[i]; }
    private synchronized void setParked(int i, boolean v) { parked[i] = v; }

    private void loop(int id) {
        int seen = 0;
        while (true) {
            long start = 0;
            int spins = 0;
            while (generation == seen && !closed) {
                if (++spins < 64) { Thread.onSpinWait(); continue; }
                spins = 0;
                long now = System.nanoTime();
                if (start == 0) start = now;
                if (now - start < SPIN_NS) { Thread.onSpinWait(); continue; }
                setParked(id, true);
                if (generation == seen && !closed) LockSupport.park(this);
                setParked(id, false);
            }
            if (closed) return;
            seen = generation;
            Task t = task;
            if (t != null) work(seen, t, id);
        }
    }

    @Override
    public void close() {
        closed = true;
        for (int i = 1; i < size; i++) LockSupport.unpark(threads[i]);
    }
}
