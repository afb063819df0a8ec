package dev.fathom.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class StepTraceTest {
    /** A ring record as tma.cuh writes it. */
    private static void record(long[] ring, int slot, int sm, int block, int grid, int c, long entry, long first, long last, long end, int n, int k) {
        int o = slot * StepTrace.WORDS;
        ring[o] = sm | (long) block << 16 | (long) grid << 32 | (long) c << 48;
        ring[o + 1] = entry; ring[o + 2] = first; ring[o + 3] = last; ring[o + 4] = end;
        ring[o + 5] = n | (long) k << 32;
        ring[o + 6] = 4 | 1 << 8;
    }

    @Test
    void recordsDecodeAndGroupIntoLaunchesInOrderWithTheGapsBetweenThem() {
        long[] ring = new long[StepTrace.SLOTS * StepTrace.WORDS];
        long t = 5_000_000L;
        int slot = 0;
        // launch A: 12288 x 4096, 2 blocks; launch B: 4096 x 4096, 2 blocks entering 1 µs before A ends (overlap);
        // launch C: 12288 x 4096 again, a layer later (so a new launch of the same matrix)
        record(ring, slot++, 3, 1, 2, 1, t + 500, t + 2_500, t + 12_500, t + 14_000, 12288, 4096);
        record(ring, slot++, 4, 0, 2, 1, t, t + 2_000, t + 12_000, t + 13_000, 12288, 4096);
        record(ring, slot++, 7, 0, 2, 2, t + 13_000, t + 16_000, t + 26_000, t + 28_000, 4096, 4096);
        record(ring, slot++, 7, 1, 2, 2, t + 13_200, t + 16_200, t + 26_200, t + 29_000, 4096, 4096);
        record(ring, slot++, 5, 0, 2, 1, t + 100_000, t + 102_000, t + 112_000, t + 113_000, 12288, 4096);
        record(ring, slot++, 6, 1, 2, 1, t + 100_100, t + 102_100, t + 112_100, t + 113_100, 12288, 4096);
        List<StepTrace.Block> blocks = StepTrace.read(ring, 0, slot);
        StepTrace.Block b = blocks.get(2);
        assertEquals(7, b.sm());
        assertEquals(0, b.block());
        assertEquals(2, b.grid());
        assertEquals(2, b.cluster());
        assertEquals(4096, b.n());
        assertEquals(4096, b.k());
        assertEquals(4, b.rows());
        assertEquals(1, b.mode());
        List<StepTrace.Launch> ls = StepTrace.launches(blocks);
        assertEquals(3, ls.size());
        assertEquals("12288x4096", ls.get(0).kind());
        assertEquals(14.0, ls.get(0).spanUs(), 1e-9);
        assertEquals(2, ls.get(0).sms());
        assertEquals("4096x4096", ls.get(1).kind());
        assertEquals("12288x4096", ls.get(2).kind());
        List<StepTrace.KindSummary> sum = StepTrace.summarize(ls);
        assertEquals(2, sum.size());
        assertEquals(2, sum.get(0).launches());
        assertEquals(100.0 - 29.0, sum.get(0).gapBefore(), 1e-9, "the second 12288 launch after the 4096 one");
        assertEquals(-1.0, sum.get(1).gapBefore(), 1e-9, "entered 1 µs before the previous launch's last block ended");
        assertEquals(3.0, sum.get(1).first(), 1e-9);
    }

    @Test
    void aFullLaunchClosesEvenWithinTheWindowAndTheRingKeepsTheNewestRecords() {
        List<StepTrace.Block> blocks = new ArrayList<>();
        for (int i = 0; i < 4; i++)   // two launches of one block each, 1 µs apart: the grid (1) closes the first
            blocks.add(new StepTrace.Block(i, 0, 1, 1, 1000L * i, 1000L * i + 100, 1000L * i + 200, 1000L * i + 300, 64, 64, 2, 0));
        assertEquals(4, StepTrace.launches(blocks).size());
        // a block of an empty K slice (no stage: first = last = 0) counts in the launch but not in the stage medians
        List<StepTrace.Block> withEmpty = List.of(new StepTrace.Block(0, 0, 2, 2, 100, 400, 900, 1000, 64, 64, 2, 0),
                new StepTrace.Block(1, 1, 2, 2, 120, 0, 0, 1100, 64, 64, 2, 0));
        StepTrace.Launch l = StepTrace.launches(withEmpty).get(0);
        assertEquals(2, l.blocks());
        assertEquals(0.3, l.first(), 1e-9);
        assertEquals(0.1, l.tail(), 1e-9);
        assertEquals(1.0, l.spanUs(), 1e-9);
        long[] ring = new long[StepTrace.SLOTS * StepTrace.WORDS];
        assertEquals(StepTrace.SLOTS, StepTrace.read(ring, 0, StepTrace.SLOTS + 10).size(), "a lapped ring gives its newest SLOTS records");
    }
}
