package dev.fathom.engine.offload;

import dev.fathom.engine.EngineException;

import java.util.concurrent.CancellationException;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The scheduling half of ZeRO-Inference, independent of where buffers live: a ring of {@code k + 1}
 * slots ({@code k} = prefetch depth) that one background thread fills with layers through a
 * {@link Filler}. The CPU streamer's filler reads into off-heap buffers; a device backend's filler
 * reads into a pinned staging buffer and copies it into a device slot on its copy stream.
 *
 * <p>The streamed layers form a cycle in forward order (after the last comes the first again, for the
 * next token). {@link #acquire} points the window at the requested layer and blocks until it is in a
 * slot; {@link #release} frees the slot and, with {@code k > 0}, moves the window one layer on so the
 * reader fetches up to {@code k + 1} layers ahead while the caller computes. With {@code k = 0} the one
 * slot is filled only when a layer is asked for (synchronous fetch). A request outside the window
 * (another order) restarts the window there; slots left outside are dropped.
 *
 * @param <V> what a filled slot hands out (e.g. {@code LayerWeights} views of the slot's buffer)
 */
public final class LayerRing<V> implements AutoCloseable {
    /** Fills a slot; runs on the ring's reader thread, one call at a time. */
    @FunctionalInterface
    public interface Filler<V> {
        /**
         * @param slot  ring slot, 0..slots-1 (index of the caller's buffer)
         * @param layer layer id from {@code order}
         * @return the view of {@code layer} in {@code slot}, valid until the slot is released
         */
        V fill(int slot, int layer) throws Exception;
    }

    /**
     * @param fetches     layers brought into the ring
     * @param transferNs  time the reader spent filling slots
     * @param stallNs     time {@link #acquire} waited for a layer (transfer not hidden)
     * @param maxOccupied most slots ever holding a layer at once
     * @param slots       slots in the ring (prefetch + 1)
     */
    public record Stats(long fetches, long transferNs, long stallNs, int maxOccupied, int slots) {}

    private enum State { FREE, LOADING, READY, IN_USE }

    private final int[] order;   // streamed layer ids in forward order
    private final int[] posOf;   // [max layer id + 1] index into order, -1 when not streamed
    private final int prefetch;
    private final Filler<V> filler;
    private final State[] state;
    private final int[] layerIn;
    private final Object[] view;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final Thread reader;
    private int cursor = -1;     // index into order of the window start, -1 = no window
    private boolean closed;
    private Throwable failure;
    private long fetches, transferNs, stallNs;
    private int maxOccupied;

    public LayerRing(int[] order, int prefetch, Filler<V> filler, String threadName) {
        if (prefetch < 0) throw new EngineException("Prefetch depth " + prefetch + " is invalid: set --prefetch to 0 or more.");
        this.order = order.clone();
        this.prefetch = prefetch;
        this.filler = filler;
        int max = -1;
        for (int l : order) max = Math.max(max, l);
        posOf = new int[max + 1];
        java.util.Arrays.fill(posOf, -1);
        for (int i = 0; i < order.length; i++) posOf[order[i]] = i;
        int n = Math.min(prefetch + 1, order.length); // more slots than streamed layers would sit idle
        state = new State[n];
        layerIn = new int[n];
        view = new Object[n];
        java.util.Arrays.fill(state, State.FREE);
        java.util.Arrays.fill(layerIn, -1);
        reader = Thread.ofPlatform().daemon().name(threadName).unstarted(this::readLoop);
        if (n > 0) reader.start();
    }

    public int slots() { return state.length; }
    public int prefetch() { return prefetch; }

    public Stats stats() {
        lock.lock();
        try {
            return new Stats(fetches, transferNs, stallNs, maxOccupied, state.length);
        } finally {
            lock.unlock();
        }
    }

    /** The view of {@code layer}, waiting until it is in a slot. */
    @SuppressWarnings("unchecked")
    public V acquire(int layer) {
        int pos = posOf[layer];
        lock.lock();
        try {
            cursor = pos; // the window starts at the layer asked for; the reader drops what falls outside it
            changed.signalAll();
            long t0 = 0;
            int s;
            while ((s = find(layer)) < 0 || state[s] != State.READY) {
                if (failure != null) throw new EngineException("Streaming layer " + layer + " failed (" + failure.getMessage()
                        + "): check the NVMe directory (--nvme-dir) and free disk space.");
                if (closed) throw new CancellationException("weight streamer closed");
                if (s >= 0 && state[s] == State.IN_USE) throw new IllegalStateException("layer " + layer + " acquired twice");
                if (t0 == 0) t0 = System.nanoTime();
                changed.awaitUninterruptibly();
            }
            if (t0 != 0) stallNs += System.nanoTime() - t0;
            state[s] = State.IN_USE;
            return (V) view[s];
        } finally {
            lock.unlock();
        }
    }

    /** Frees {@code layer}'s slot and lets the reader fetch further ahead. */
    public void release(int layer) {
        lock.lock();
        try {
            int s = find(layer);
            if (s < 0 || state[s] != State.IN_USE) return;
            free(s);
            cursor = prefetch > 0 ? (posOf[layer] + 1) % order.length : -1;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    private void free(int s) {
        state[s] = State.FREE;
        layerIn[s] = -1;
        view[s] = null;
    }

    /** Window: {@code min(k + 1, streamed layers)} positions from the cursor, cyclic. */
    private boolean inWindow(int pos, int cur) {
        if (cur < 0) return false;
        int span = Math.min(prefetch + 1, order.length);
        return Math.floorMod(pos - cur, order.length) < span;
    }

    private int find(int layer) {
        for (int s = 0; s < state.length; s++) if (state[s] != State.FREE && layerIn[s] == layer) return s;
        return -1;
    }

    private void readLoop() {
        while (true) {
            int slot = -1, layer = -1;
            lock.lock();
            try {
                while (true) {
                    if (closed) return;
                    for (int s = 0; s < state.length; s++)
                        if (state[s] == State.READY && !inWindow(posOf[layerIn[s]], cursor)) free(s);
                    slot = -1;
                    layer = -1;
                    if (cursor >= 0) {
                        int span = Math.min(prefetch + 1, order.length);
                        for (int d = 0; d < span && layer < 0; d++) {
                            int cand = order[(cursor + d) % order.length];
                            if (find(cand) < 0) layer = cand;
                        }
                        if (layer >= 0) for (int s = 0; s < state.length && slot < 0; s++) if (state[s] == State.FREE) slot = s;
                    }
                    if (slot >= 0) break;
                    changed.awaitUninterruptibly();
                }
                state[slot] = State.LOADING;
                layerIn[slot] = layer;
                int occ = 0;
                for (State st : state) if (st != State.FREE) occ++;
                maxOccupied = Math.max(maxOccupied, occ);
            } finally {
                lock.unlock();
            }
            long t0 = System.nanoTime();
            Object v = null;
            Throwable err = null;
            try {
                v = filler.fill(slot, layer);
            } catch (Throwable e) {
                err = e;
            }
            long dt = System.nanoTime() - t0;
            lock.lock();
            try {
                if (err != null) {
                    if (!closed) failure = err;
                    free(slot);
                    changed.signalAll();
                    return;
                }
                view[slot] = v;
                state[slot] = State.READY;
                fetches++;
                transferNs += dt;
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }
    }

    /** Stops the reader (waking any waiter with a cancellation); the caller then frees its buffers. */
    @Override
    public void close() {
        lock.lock();
        try {
            if (closed) return;
            closed = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        if (reader.isAlive()) {
            reader.interrupt();
            try {
                reader.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
