package dev.fathom.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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
        assertEquals(0.0, sum.get(1).late(), 1e-9, "both blocks entered before either ended");
        assertEquals(0.2, sum.get(1).spread(), 1e-9);
    }

    @Test
    void aLaunchHoldsItsGridsBlocksHoweverLateTheyEnterAndCountsItsSecondWave() {
        List<StepTrace.Block> blocks = new ArrayList<>();
        for (int i = 0; i < 4; i++)   // two launches of one block each, 1 µs apart: the grid (1) closes the first
            blocks.add(new StepTrace.Block(i, 0, 1, 1, 1000L * i, 1000L * i + 100, 1000L * i + 200, 1000L * i + 300, 64, 64, 2, 0));
        assertEquals(4, StepTrace.launches(blocks).size());
        // a grid of 3 on too few places: the third block enters 40 µs later, after the first ended; still one launch
        List<StepTrace.Block> waves = List.of(new StepTrace.Block(0, 0, 3, 1, 0, 1_000, 30_000, 31_000, 11008, 4096, 4, 1),
                new StepTrace.Block(1, 1, 3, 1, 500, 1_500, 35_000, 36_000, 11008, 4096, 4, 1),
                new StepTrace.Block(0, 2, 3, 1, 40_000, 41_000, 60_000, 61_000, 11008, 4096, 4, 1));
        List<StepTrace.Launch> one = StepTrace.launches(waves);
        assertEquals(1, one.size());
        assertEquals(3, one.get(0).blocks());
        assertEquals(2, one.get(0).sms());
        assertEquals(1, one.get(0).late(), "entered after block 0 ended at 31 µs");
        assertEquals(40.0, one.get(0).spread(), 1e-9);
        assertEquals(61.0, one.get(0).spanUs(), 1e-9);
        StepTrace.KindSummary k = StepTrace.summarize(one).get(0);
        assertEquals(1.0, k.late(), 1e-9);
        assertEquals(40.0, k.spread(), 1e-9);
        // a launch of more blocks than the trace records (TRACED_BLOCKS) closes at the recorded ones
        List<StepTrace.Block> big = new ArrayList<>();
        for (int i = 0; i < 2 * StepTrace.TRACED_BLOCKS; i++)
            big.add(new StepTrace.Block(i % 132, i % StepTrace.TRACED_BLOCKS, 5000, 1, i, i + 100, i + 200, i + 300, 64, 64, 2, 0));
        assertEquals(2, StepTrace.launches(big).size());
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

    @Test
    void theChromeTraceHasAProcessPerConfigurationALanePerConcurrentBlockOnAnSmAndTheStagesNestedInEachBlock(@TempDir Path dir) throws Exception {
        long t = 9_000_000L;
        Map<String, List<StepTrace.Block>> byConfig = new LinkedHashMap<>();
        // SM 5 runs two blocks at once (lanes 0 and 1), then a third after the first ended (lane 0 again); block 3 had an empty slice
        byConfig.put("packed", List.of(new StepTrace.Block(5, 0, 4, 1, t, t + 2_000, t + 12_000, t + 13_000, 4096, 4096, 4, 0),
                new StepTrace.Block(5, 1, 4, 1, t + 500, t + 2_500, t + 20_000, t + 21_000, 4096, 4096, 4, 0),
                new StepTrace.Block(5, 2, 4, 1, t + 14_000, t + 15_000, t + 30_000, t + 31_000, 4096, 4096, 4, 0),
                new StepTrace.Block(9, 3, 4, 1, t + 100, 0, 0, t + 1_100, 4096, 4096, 4, 0)));
        byConfig.put("other", List.of(new StepTrace.Block(1, 0, 1, 1, 77_000, 78_000, 80_000, 81_000, 12288, 4096, 4, 0)));
        Path file = dir.resolve("steptrace.json");
        StepTrace.writeChrome(file, byConfig);
        JsonNode root = new ObjectMapper().readTree(Files.readString(file));
        Path gz = dir.resolve("steptrace.json.gz");
        StepTrace.writeChrome(gz, byConfig);
        try (var in = new java.util.zip.GZIPInputStream(Files.newInputStream(gz))) {
            assertEquals(root, new ObjectMapper().readTree(in), "a .gz name: the same trace, compressed");
        }
        assertTrue(Files.size(gz) < Files.size(file));
        List<JsonNode> blocks = new ArrayList<>(), stages = new ArrayList<>(), names = new ArrayList<>();
        for (JsonNode e : root.get("traceEvents")) {
            if (e.get("ph").asText().equals("X")) (e.get("cat").asText().equals("block") ? blocks : stages).add(e);
            else if (e.get("name").asText().equals("thread_name")) names.add(e);
        }
        assertEquals(5, blocks.size());
        assertEquals(3 * 4, stages.size(), "wait, stream, tail of each block that streamed");
        blocks.sort(java.util.Comparator.comparingInt((JsonNode b) -> b.get("pid").asInt()).thenComparingInt(b -> b.get("args").get("block").asInt()));
        JsonNode b0 = blocks.get(0), b1 = blocks.get(1), b2 = blocks.get(2);
        assertEquals("4096x4096", b0.get("name").asText());
        assertEquals(1, b0.get("pid").asInt());
        assertEquals(0.0, b0.get("ts").asDouble(), 1e-9, "the configuration's first entry is its origin");
        assertEquals(13.0, b0.get("dur").asDouble(), 1e-9);
        assertFalse(b0.get("tid").equals(b1.get("tid")), "overlapping blocks on one SM take two lanes");
        assertEquals(b0.get("tid"), b2.get("tid"), "a block entering after the first ended reuses its lane");
        assertEquals(14.0, b2.get("ts").asDouble(), 1e-9);
        JsonNode other = blocks.get(4);
        assertEquals(2, other.get("pid").asInt());
        assertEquals(0.0, other.get("ts").asDouble(), 1e-9, "each configuration has its own origin");
        assertEquals("12288x4096", other.get("name").asText());
        JsonNode wait = stages.get(0), stream = stages.get(1), tail = stages.get(2);
        assertEquals("wait", wait.get("name").asText());
        assertEquals(2.0, wait.get("dur").asDouble(), 1e-9);
        assertEquals("stream", stream.get("name").asText());
        assertEquals(2.0, stream.get("ts").asDouble(), 1e-9);
        assertEquals(10.0, stream.get("dur").asDouble(), 1e-9);
        assertEquals(1.0, tail.get("dur").asDouble(), 1e-9);
        assertTrue(names.stream().anyMatch(n -> n.get("args").get("name").asText().equals("SM 5 (2)")));
        assertEquals(4, b0.get("args").get("grid").asInt());
        assertEquals(1, blocks.stream().filter(b -> b.get("args").get("block").asInt() == 3).count(), "the empty-slice block is drawn, without stages");
    }
}
