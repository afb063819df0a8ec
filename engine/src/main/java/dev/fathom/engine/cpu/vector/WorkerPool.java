package dev.fathom.engine.cpu.vector;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed set of worker threads started once and reused for every kernel: {@link #run} hands the same
 * task object to all participants (the calling thread is participant 0) and returns when all are done.
 * Nothing is allocated per call. Idle workers spin briefly (the gaps between kernels of one token are
 * short) and then park, so an idle pool costs no CPU.
 */
public final class WorkerPool implements AutoCloseable {
    /** Work split by participant: participant {@code w} of {@code n} does its share. */
    public interface Task {
        void run(int w, int n);
    }

    private static final long SPIN_NS = 200_000;

    private final int size;
    private final Thread[] threads;
    private final boolean[] parked;   // [size], written by workers, read by the caller (guarded by volatile gen)
    private volatile int generation;
    private volatile Task task;
    private volatile boolean closed;
    private volatile Thread caller;
    private volatile boolean callerParked;
    private final AtomicInteger pending = new AtomicInteger();
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

    /** Runs {@code t} on every participant and waits; rethrows the first failure. */
    public void run(Task t) {
        if (size == 1) {
            t.run(0, 1);
            return;
        }
        caller = Thread.currentThread();
        task = t;
        failure = null;
        pending.set(size - 1);
        generation = generation + 1;
        for (int i = 1; i < size; i++) if (isParked(i)) LockSupport.unpark(threads[i]);
        Throwable mine = null;
        try {
            t.run(0, size);
        } catch (Throwable e) {
            mine = e;
        }
        awaitWorkers();
        task = null;
        Throwable f = mine != null ? mine : failure;
        if (f instanceof RuntimeException re) throw re;
        if (f instanceof Error er) throw er;
        if (f != null) throw new IllegalStateException(f);
    }

    private synchronized boolean isParked(int i) { return parked[i]; }
    private synchronized void setParked(int i, boolean v) { parked[i] = v; }

    private void awaitWorkers() {
        long start = 0;
        int spins = 0;
        while (pending.get() != 0) {
            if (++spins < 64) { Thread.onSpinWait(); continue; }
            spins = 0;
            long now = System.nanoTime();
            if (start == 0) start = now;
            if (now - start < SPIN_NS) { Thread.onSpinWait(); continue; }
            callerParked = true;
            if (pending.get() != 0) LockSupport.parkNanos(50_000);
            callerParked = false;
        }
    }

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
            try {
                task.run(id, size);
            } catch (Throwable e) {
                if (failure == null) failure = e;
            }
            if (pending.decrementAndGet() == 0 && callerParked) LockSupport.unpark(caller);
        }
    }

    @Override
    public void close() {
        closed = true;
        for (int i = 1; i < size; i++) LockSupport.unpark(threads[i]);
    }
}
