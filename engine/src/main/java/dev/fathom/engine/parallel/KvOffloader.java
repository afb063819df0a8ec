package dev.fathom.engine.parallel;

import dev.fathom.engine.cpu.KvCache;
import dev.fathom.engine.telemetry.TelemetryEvent;
import dev.fathom.engine.telemetry.TelemetrySink;
import dev.fathom.engine.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;

/**
 * KV offload of one rank (Section IV-C): the KV cache of sequences not in flight on this rank's stage
 * is copied to a host-tier buffer (on the CPU backend, a separate off-heap arena) after the stage is done
 * with them, and copied back when they are queued for the stage again, on a copy thread so it overlaps
 * with the stage's work on other micro-batches. Only the layers of this rank's parity move (odd ranks
 * odd layers, even ranks even layers), so two ranks sharing a link take turns. The device copy is
 * poisoned with NaN while the sequence is away, so a missed fetch cannot go unnoticed.
 */
final class KvOffloader implements AutoCloseable {
    private final KvCache cache;
    private final int firstLayer;
    private final int[] layers;              // local indices of the layers this rank moves
    private final ExecutorService copier;
    private final TelemetrySink sink;
    private final int rank;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment[][] hostK;   // [layer idx][slot] -> maxLen*kvDim floats, lazily
    private final MemorySegment[][] hostV;
    private final CompletableFuture<?>[] ready;
    private final boolean[] onHost;
    private final int[] used;                // positions written per slot

    KvOffloader(KvCache cache, int firstLayer, int lastLayer, int globalRank, ExecutorService copier, TelemetrySink sink) {
        this.cache = cache;
        this.firstLayer = firstLayer;
        this.layers = java.util.stream.IntStream.range(firstLayer, lastLayer).filter(l -> l % 2 == globalRank % 2)
                .map(l -> l - firstLayer).toArray();
        this.copier = copier;
        this.sink = sink;
        this.rank = globalRank;
        int slots = cache.slots();
        hostK = new MemorySegment[layers.length][slots];
        hostV = new MemorySegment[layers.length][slots];
        ready = new CompletableFuture<?>[slots];
        Arrays.fill(ready, CompletableFuture.completedFuture(null));
        onHost = new boolean[slots];
        used = new int[slots];
    }

    boolean movesAnything() { return layers.length > 0; }

    /** Slot {@code slot} now holds {@code len} positions. */
    synchronized void written(int slot, int len) { used[slot] = Math.max(used[slot], len); }

    /** Starts bringing the slots back; {@code fresh} slots (a new prompt) are just marked resident. */
    synchronized void fetch(int[] slots, boolean fresh) {
        for (int s : slots) {
            if (!onHost[s]) continue;
            onHost[s] = false;
            if (fresh) {
                used[s] = 0;
                continue;
            }
            int len = used[s];
            ready[s] = ready[s].thenRunAsync(() -> copy(s, len, false), copier);
        }
    }

    /** Waits until the slots are resident. */
    void await(int[] slots) {
        for (int s : slots) {
            CompletableFuture<?> f;
            synchronized (this) { f = ready[s]; }
            f.join();
        }
    }

    /** Starts moving the slots to the host tier. */
    synchronized void offload(int[] slots) {
        for (int s : slots) {
            if (onHost[s]) continue;
            onHost[s] = true;
            int len = used[s];
            ready[s] = ready[s].thenRunAsync(() -> copy(s, len, true), copier);
        }
    }

    private void copy(int slot, int len, boolean out) {
        int n = len * cache.kvDim();
        if (n == 0) return;
        for (int i = 0; i < layers.length; i++) {
            long t0 = System.nanoTime();
            int li = layers[i];
            if (hostK[i][slot] == null) {
                hostK[i][slot] = arena.allocate((long) cache.maxLen() * cache.kvDim() * 4, 64);
                hostV[i][slot] = arena.allocate((long) cache.maxLen() * cache.kvDim() * 4, 64);
            }
            float[] k = cache.keys(li, slot), v = cache.values(li, slot);
            if (out) {
                MemorySegment.copy(k, 0, hostK[i][slot], Tensor.F32, 0, n);
                MemorySegment.copy(v, 0, hostV[i][slot], Tensor.F32, 0, n);
                Arrays.fill(k, 0, n, Float.NaN);
                Arrays.fill(v, 0, n, Float.NaN);
            } else {
                MemorySegment.copy(hostK[i][slot], Tensor.F32, 0, k, 0, n);
                MemorySegment.copy(hostV[i][slot], Tensor.F32, 0, v, 0, n);
            }
            if (sink.enabled())
                sink.emit(new TelemetryEvent.TransferSpan(out ? "kv_offload" : "kv_fetch", out ? "cpu" : "host", out ? "host" : "cpu",
                        rank, firstLayer + li, t0, System.nanoTime() - t0, 8L * n));
        }
    }

    @Override
    public void close() {
        for (CompletableFuture<?> f : ready) f.exceptionally(e -> null).join();
        arena.close();
    }
}
