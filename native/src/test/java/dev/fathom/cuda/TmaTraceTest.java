package dev.fathom.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class TmaTraceTest {
    /** One block's words as tma.cuh writes them: SM, timer at entry, first stage, last stage, end (ns), cycles at the last three. */
    private static void block(long[] w, int b, int sm, long entry, long first, long last, long end, long endCycles) {
        int o = b * TmaTrace.WORDS;
        w[o] = sm; w[o + 1] = entry; w[o + 2] = first; w[o + 3] = last; w[o + 4] = end;
        w[o + 5] = 0; w[o + 6] = 0; w[o + 7] = endCycles;
    }

    @Test
    void aTimelineSplitsEachBlocksTimeAndCountsBlocksPerMultiprocessor() {
        long[] w = new long[3 * TmaTrace.WORDS];
        long t = 1_000_000_000L;
        block(w, 0, 5, t, t + 2_000, t + 12_000, t + 14_000, 28_000);          // 14 µs at 2 GHz
        block(w, 1, 5, t + 500, t + 3_500, t + 10_500, t + 11_500, 22_000);    // second block on SM 5
        block(w, 2, 9, t + 1_000, t + 2_000, t + 20_000, t + 25_000, 48_000);
        TmaTrace.Timeline tl = TmaTrace.summarize(w, 3);
        assertEquals(3, tl.blocks());
        assertEquals(2, tl.sms());
        assertEquals(2, tl.maxPerSm());
        assertEquals(25.0, tl.span(), 1e-9);
        assertEquals(0.5, tl.entry()[0], 1e-9);
        assertEquals(1.0, tl.entry()[1], 1e-9);
        assertEquals(2.0, tl.first()[0], 1e-9);    // 2, 3, 1 µs
        assertEquals(3.0, tl.first()[1], 1e-9);
        assertEquals(10.0, tl.stream()[0], 1e-9);  // 10, 7, 18
        assertEquals(18.0, tl.stream()[1], 1e-9);
        assertEquals(2.0, tl.tail()[0], 1e-9);     // 2, 1, 5
        assertEquals(5.0, tl.tail()[1], 1e-9);
        assertEquals(25.0 - 11.5, tl.endSpread(), 1e-9);
        assertEquals(2.0, tl.ghz(), 1e-9);         // 98 000 cycles over 49 000 ns
        long[] next = new long[TmaTrace.WORDS];
        block(next, 0, 1, t + 27_500, t + 29_000, t + 30_000, t + 31_000, 7_000);
        assertEquals(2.5, tl.gapTo(TmaTrace.summarize(next, 1)), 1e-9, "from the last end (25 µs) to the next entry (27.5 µs)");
    }

    @Test
    void aShortTraceIsRefusedWithTheCountsItNeeds() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TmaTrace.summarize(new long[8], 2));
        assertEquals("a trace of 2 blocks needs 16 words, got 8", e.getMessage());
    }
}
