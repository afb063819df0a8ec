package dev.fathom.engine.parallel;

import dev.fathom.engine.telemetry.TelemetryEvent;
import dev.fathom.engine.telemetry.TelemetryRecorder;
import dev.fathom.engine.telemetry.TelemetrySink;
import org.junit.jupiter.api.Test;

import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Collectives among rank threads: results, rank order, and no hang when a rank fails. */
class CommGroupTest {
    static <T> T[] onRanks(int n, IntFunction<T> body, T[] out) throws Exception {
        ExecutorService ex = Executors.newFixedThreadPool(n);
        try {
            Future<?>[] f = new Future<?>[n];
            for (int r = 0; r < n; r++) {
                int rr = r;
                f[r] = ex.submit(() -> out[rr] = body.apply(rr));
            }
            for (Future<?> x : f) x.get(10, TimeUnit.SECONDS);
            return out;
        } finally {
            ex.shutdownNow();
        }
    }

    @Test
    void allReduceAllGatherAllToAll() throws Exception {
        int n = 3;
        TelemetryRecorder rec = new TelemetryRecorder();
        CommGroup g = new CommGroup("test", new int[]{10, 11, 12}, rec);
        float[][] res = onRanks(n, r -> {
            CommGroup.Member m = g.member(r);
            float[] buf = {r + 1, 10 * (r + 1), 0.5f};
            for (int i = 0; i < 3; i++) m.allReduceSum(buf, 3);          // repeated: exercises the double buffer
            float[] local = new float[r + 1];
            java.util.Arrays.fill(local, r);
            float[] all = new float[6];
            int total = m.allGatherV(local, r + 1, all);
            CommGroup.Parcel[] send = new CommGroup.Parcel[n];
            for (int d = 0; d < n; d++) send[d] = new CommGroup.Parcel(new float[]{100 * r + d}, 1, new int[]{r}, 1);
            CommGroup.Parcel[] got = m.allToAll(send, "all_to_all");
            float[] out = new float[3 + 1 + 6 + n];
            System.arraycopy(buf, 0, out, 0, 3);
            out[3] = total;
            System.arraycopy(all, 0, out, 4, 6);
            for (int s = 0; s < n; s++) out[10 + s] = got[s].data()[0] + got[s].meta()[0] * 0;
            return out;
        }, new float[n][]);
        for (int r = 0; r < n; r++) {
            // three all-reduces of {r+1, 10(r+1), .5}: sums 6, 60, 1.5 then x3 each time
            assertArrayEquals(new float[]{6 * 9, 60 * 9, 1.5f * 9}, java.util.Arrays.copyOf(res[r], 3), 1e-3f);
            assertEquals(6, res[r][3]);
            assertArrayEquals(new float[]{0, 1, 1, 2, 2, 2}, java.util.Arrays.copyOfRange(res[r], 4, 10));
            assertArrayEquals(new float[]{r, 100 + r, 200 + r}, java.util.Arrays.copyOfRange(res[r], 10, 13));
        }
        long spans = rec.events().stream().filter(e -> e instanceof TelemetryEvent.CollectiveSpan c && c.op().equals("all_to_all")).count();
        assertEquals(n, spans);
    }

    @Test
    void aFailingRankReleasesTheOthers() {
        CommGroup g = new CommGroup("test", new int[]{0, 1, 2}, TelemetrySink.NOOP);
        Exception e = assertThrows(Exception.class, () -> onRanks(3, r -> {
            if (r == 2) {
                g.abort();
                throw new IllegalStateException("rank 2 failed");
            }
            g.member(r).allReduceSum(new float[4], 4);
            return null;
        }, new Object[3]));
        // ranks 0 and 1 came back (no timeout) with a cancellation, rank 2 with its own error
        assertInstanceOf(java.util.concurrent.ExecutionException.class, e);
        assertThrows(CancellationException.class, () -> g.member(0).allReduceSum(new float[1], 1));
    }
}
