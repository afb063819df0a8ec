package dev.fathom.engine.offload;

import dev.fathom.engine.EngineException;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

class LayerRingTest {
    /** Fills record (slot, layer); each view says which layer and slot it came from. */
    record View(int slot, int layer) {}

    @Test
    void prefetchRunsAheadWithinKPlusOneSlots() throws Exception {
        for (int k : new int[]{0, 1, 3}) {
            List<Integer> filled = new CopyOnWriteArrayList<>();
            AtomicInteger inFill = new AtomicInteger(), maxInFill = new AtomicInteger();
            int[] order = {2, 3, 4, 5, 6, 7};
            try (LayerRing<View> r = new LayerRing<>(order, k, (slot, layer) -> {
                maxInFill.accumulateAndGet(inFill.incrementAndGet(), Math::max);
                filled.add(layer);
                inFill.decrementAndGet();
                return new View(slot, layer);
            }, "test-ring")) {
                for (int pass = 0; pass < 3; pass++)
                    for (int l : order) {
                        View v = r.acquire(l);
                        assertEquals(l, v.layer());
                        assertTrue(v.slot() >= 0 && v.slot() <= k);
                        if (k > 0 && l == 2 && pass > 0) {
                            // the window wrapped: layers after 2 were fetched before they were asked for
                            long deadline = System.nanoTime() + 2_000_000_000L;
                            while (!aheadOf(filled, 2, 2 + k) && System.nanoTime() < deadline) Thread.sleep(1);
                            assertTrue(aheadOf(filled, 2, 2 + k), "k=" + k + " prefetched " + filled);
                        }
                        r.release(l);
                    }
                LayerRing.Stats st = r.stats();
                assertEquals(k + 1, st.slots());
                assertTrue(st.maxOccupied() <= k + 1, "k=" + k + " occupied " + st.maxOccupied());
                if (k == 0) assertEquals(18, st.fetches(), "synchronous: one fetch per acquire");
                else assertTrue(st.fetches() >= 18 && st.fetches() <= 18 + k + 1);
                assertEquals(1, maxInFill.get(), "one reader");
            }
        }
    }

    /** Whether {@code later} was filled after the last fill of {@code layer}. */
    static boolean aheadOf(List<Integer> filled, int layer, int later) {
        List<Integer> snap = List.copyOf(filled);
        return snap.subList(snap.lastIndexOf(layer), snap.size()).contains(later);
    }

    @Test
    void outOfOrderRequestsRestartTheWindow() {
        try (LayerRing<View> r = new LayerRing<>(new int[]{0, 1, 2, 3, 4}, 2, (s, l) -> new View(s, l), "test-ring")) {
            for (int l : new int[]{3, 0, 4, 1, 1, 2}) {
                assertEquals(l, r.acquire(l).layer());
                r.release(l);
            }
        }
    }

    @Test
    void failuresAndCloseReachTheWaiter() {
        LayerRing<View> r = new LayerRing<>(new int[]{0, 1}, 1, (s, l) -> {
            if (l == 1) throw new java.io.IOException("disk gone");
            return new View(s, l);
        }, "test-ring");
        r.acquire(0);
        r.release(0);
        EngineException e = assertThrows(EngineException.class, () -> r.acquire(1));
        assertTrue(e.getMessage().contains("disk gone"), e.getMessage());
        r.close();
        LayerRing<View> r2 = new LayerRing<>(new int[]{0}, 0, (s, l) -> { Thread.sleep(5); return new View(s, l); }, "test-ring");
        Thread closer = new Thread(() -> {
            try { Thread.sleep(30); } catch (InterruptedException ignored) { }
            r2.close();
        });
        closer.start();
        // a consumer in a loop is woken by close with a cancellation, never left waiting
        assertThrows(java.util.concurrent.CancellationException.class, () -> {
            for (int i = 0; i < 1_000_000; i++) {
                r2.acquire(0);
                r2.release(0);
            }
        });
    }
}
