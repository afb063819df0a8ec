package dev.fathom.engine.plan;

import dev.fathom.engine.EngineException;
import dev.fathom.engine.model.ModelLoader;
import dev.fathom.engine.plan.WeightPlacement.Links;
import dev.fathom.engine.plan.WeightPlacement.WeightSizes;
import dev.fathom.profiles.RunProfile;
import dev.fathom.profiles.RunProfile.Tier;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** Tier assignment under budgets and the transfer-time / hiding-batch figures. */
class PlacementsTest {
    // 10 layers of 100 MB (50 M bf16 weights each), 30 MB head, 20 MB untied embedding
    static final WeightSizes SIZES = WeightSizes.uniform(10, 100_000_000L, 50_000_000L, 30_000_000L, 20_000_000L);
    // 2 GB/s disk, 10 GB/s host copy, 100 GFLOP/s compute
    static final Links LINKS = new Links(2e9, 10e9, 100e9, "test");

    static ExecutionPlan plan(Tier t, int k, long budget, long host) {
        var c = ModelLoader.load("synthetic:llama-tiny").config();
        RunProfile p = RunProfile.defaults().withShape(1, 64, 8).withPlacement(new RunProfile.Placement(t, Tier.DEVICE, null, k, budget, host, 0));
        return PlanHeuristics.plan(p, c, SIZES, 72, LINKS);
    }

    @Test
    void deviceWeightsThatFitDoNotStream() {
        ExecutionPlan p = plan(Tier.DEVICE, 1, 0, 0);
        assertFalse(p.streaming());
        assertEquals(10, p.placement().count(Tier.DEVICE));
        assertFalse(plan(Tier.DEVICE, 1, SIZES.total(), 0).streaming());
    }

    @Test
    void budgetKeepsFirstLayersResidentAndStreamsTheRest() {
        // budget 530 MB: head 30 + ring 2 x 100 = 230, leaves 300 MB = 3 resident layers
        ExecutionPlan p = plan(Tier.NVME, 1, 530_000_000L, 0);
        WeightPlacement w = p.placement();
        assertTrue(w.streaming());
        assertEquals(3, w.count(Tier.DEVICE));
        assertEquals(7, w.count(Tier.NVME));
        for (int i = 0; i < 10; i++) assertEquals(i < 3 ? Tier.DEVICE : Tier.NVME, w.tier(i));
        assertEquals(200_000_000L, w.ringBytes());
        assertEquals(530_000_000L, w.deviceBytes());
        assertEquals(700_000_000L, w.nvmeBytes());
        assertEquals(20_000_000L, w.hostBytes(), "untied embedding stays on the host");
        String d = p.describe();
        assertTrue(d.contains("layers 0-2 device, layers 3-9 nvme"), d);
    }

    @Test
    void deviceWeightsOverBudgetStreamFromHostThenSpillToNvme() {
        // host budget 420 MB: embedding 20 + 4 layers; the other 3 streamed layers go to NVMe
        WeightPlacement w = plan(Tier.DEVICE, 0, 430_000_000L, 420_000_000L).placement();
        assertEquals(3, w.count(Tier.DEVICE)); // 430 - 30 - 100 = 300
        assertEquals(4, w.count(Tier.HOST));
        assertEquals(3, w.count(Tier.NVME));
        assertEquals(420_000_000L, w.hostBytes());
    }

    @Test
    void transferTimeAndHidingBatch() {
        WeightPlacement nv = plan(Tier.NVME, 1, 0, 0).placement();
        assertEquals(10, nv.count(Tier.NVME), "no budget: everything streams");
        // 100 MB at 2 GB/s = 50 ms
        assertEquals(50.0, nv.transferMsLayer(), 1e-9);
        assertEquals(50.0, nv.layers().get(4).transferMs(), 1e-9);
        // tokens * 2 * 50e6 / 100e9 >= 0.05 s  ->  tokens >= 50
        assertEquals(50, nv.hideTokens());
        assertEquals(50, nv.hideDecodeBatch());
        assertEquals(1, nv.hidePromptBatch(), "one 64-token prompt hides it");
        WeightPlacement host = plan(Tier.HOST, 1, 0, 0).placement();
        assertEquals(10.0, host.transferMsLayer(), 1e-9);
        assertEquals(10, host.hideTokens());
        assertTrue(plan(Tier.NVME, 3, 0, 0).describe().contains("compute hides the transfer from 50 tokens"));
    }

    @Test
    void streamingIsSingleRankOnTheCpu() {
        var c = ModelLoader.load("synthetic:llama-tiny").config();
        RunProfile p = RunProfile.defaults().withShape(2, 8, 8).withParallel(new RunProfile.Parallelism(2, 1, 1, 1, 0, 0, "pcc"))
                .withPlacement(new RunProfile.Placement(Tier.NVME, Tier.DEVICE, null, 1, 0, 0, 0));
        EngineException e = assertThrows(EngineException.class, () -> PlanHeuristics.plan(p, c, SIZES, 16, LINKS));
        assertTrue(e.getMessage().contains("one rank"), e.getMessage());
    }

    @Test
    void budgetBelowHeadPlusRingIsOneSentence() {
        EngineException e = assertThrows(EngineException.class, () -> plan(Tier.NVME, 3, 300_000_000L, 0));
        assertTrue(e.getMessage().contains("--device-memory") && e.getMessage().contains("--prefetch"), e.getMessage());
        assertThrows(EngineException.class, () -> plan(Tier.NVME, -1, 0, 0));
    }
}
