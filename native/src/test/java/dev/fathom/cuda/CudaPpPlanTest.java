package dev.fathom.cuda;

import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.model.ModelConfig;
import dev.fathom.engine.model.ModelLoader;
import dev.fathom.engine.parallel.StageStep;
import dev.fathom.engine.parallel.TensorSlicer;
import dev.fathom.engine.plan.ExecutionPlan;
import dev.fathom.engine.telemetry.TelemetryEvent.Phase;
import dev.fathom.profiles.RunProfile;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Host-side pipeline logic of the cuda backend: plan checks with their one-sentence fixes, the stage split, the rows of a stage pass. */
class CudaPpPlanTest {
    private static ModelConfig config(String preset) {
        try (LoadedModel m = ModelLoader.load("synthetic:" + preset)) {
            return m.config();
        }
    }

    private static ExecutionPlan plan(ModelConfig c, RunProfile.Parallelism par) {
        RunProfile p = RunProfile.defaults().withBackend("cuda").withShape(2, 8, 8).withParallel(par);
        return new ExecutionPlan(p, c, "cuda", 2, 16, 1000, 1000, List.of(), null);
    }

    private static RunProfile.Parallelism par(int tp, int pp, int ep, int dp) {
        var z = RunProfile.Parallelism.NONE;
        return new RunProfile.Parallelism(tp, pp, ep, dp, 0, 0, z.moeAllToAll());
    }

    @Test
    void moreStagesThanGpusNamesTheCountAndTheFix() {
        ModelConfig c = config("llama-tiny");
        String one = CudaBackend.cannotRun(plan(c, par(1, 2, 1, 1)), 1);
        assertNotNull(one);
        assertTrue(one.startsWith("pp=2 needs 2 GPUs (one per stage); this machine has 1: set --pp to 1"), one);
        String three = CudaPpStages.planError(c, 1, 3, 2);
        assertTrue(three != null && three.contains("set --pp to 2 or less"), three);
        assertNull(CudaBackend.cannotRun(plan(c, par(1, 2, 1, 1)), 2));
        assertNull(CudaPpStages.planError(c, 1, 2, 8));
    }

    @Test
    void fewerLayersThanStagesMoeAndTpTimesPpAreRefused() {
        ModelConfig c = config("llama-tiny");
        int layers = c.numLayers();
        String deep = CudaPpStages.planError(c, 1, layers + 1, 64);
        assertNotNull(deep);
        assertTrue(deep.contains("needs at least " + (layers + 1) + " layers but the model has " + layers) && deep.contains("set --pp to " + layers + " or less"), deep);
        assertNull(CudaPpStages.planError(c, 1, layers, 64));
        String both = CudaPpStages.planError(c, 2, 2, 4);
        assertTrue(both != null && both.contains("not both") && both.contains("--tp 1 or --pp 1"), both);
        String moe = CudaPpStages.planError(config("mixtral-tiny"), 1, 2, 2);
        assertTrue(moe != null && moe.contains("MoE") && moe.contains("--pp 1"), moe);
        String ep = CudaBackend.cannotRun(plan(c, par(1, 1, 2, 1)), 2);
        assertTrue(ep != null && ep.contains("ep=2") && ep.contains("set ep to 1"), ep);
    }

    @Test
    void dataParallelReplicasOnePerGpu() {
        ModelConfig c = config("llama-tiny");
        assertNull(CudaBackend.cannotRun(plan(c, par(1, 1, 1, 2)), 2));
        String one = CudaBackend.cannotRun(plan(c, par(1, 1, 1, 2)), 1);
        assertTrue(one != null && one.contains("dp=2 needs 2 GPUs") && one.contains("set --dp to 1"), one);
        String mixed = CudaBackend.cannotRun(plan(c, par(1, 2, 1, 2)), 4);
        assertTrue(mixed != null && mixed.contains("--tp 1 and --pp 1"), mixed);
        // sequences go to GPU slot % dp, in call order
        int[][] s = CudaDpRunner.split(new int[]{3, 0, 1, 2, 5}, 2);
        assertArrayEquals(new int[]{1, 3}, s[0]);
        assertArrayEquals(new int[]{0, 2, 4}, s[1]);
        assertArrayEquals(new int[0], CudaDpRunner.split(new int[]{1}, 2)[0], "a replica with no sequence (it runs a dummy row)");
        assertEquals(3, CudaDpRunner.localSlots(5, 2));
    }

    @Test
    void multiGpuFetchPartsTileTheLayerOn4KiBBoundaries() {
        for (long size : new long[]{4096, 405L << 20, 12_288 * 4096L})
            for (int n = 1; n <= 4; n++) {
                assertEquals(0, DeviceStreamer.FetchGroup.from(size, 0, n));
                assertEquals(size, DeviceStreamer.FetchGroup.from(size, n, n));
                for (int r = 0; r < n; r++) {
                    long lo = DeviceStreamer.FetchGroup.from(size, r, n), hi = DeviceStreamer.FetchGroup.from(size, r + 1, n);
                    assertTrue(lo <= hi && lo % 4096 == 0 && (hi % 4096 == 0 || hi == size), size + " " + r + "/" + n);
                    assertTrue(hi - lo <= size / n + 4096, "parts are near-equal");
                }
            }
    }

    @Test
    void stagesCoverEveryLayerOnceInOrderAndEvenly() {
        for (int layers = 2; layers <= 40; layers++)
            for (int pp = 2; pp <= Math.min(8, layers); pp++) {
                int next = 0, min = Integer.MAX_VALUE, max = 0;
                for (int s = 0; s < pp; s++) {
                    int a = TensorSlicer.from(layers, s, pp), b = TensorSlicer.to(layers, s, pp);
                    assertEquals(next, a, layers + " layers, stage " + s);
                    min = Math.min(min, b - a);
                    max = Math.max(max, b - a);
                    next = b;
                }
                assertEquals(layers, next);
                assertTrue(min >= 1 && max - min <= 1, layers + " layers over " + pp + " stages: " + min + ".." + max);
            }
        assertEquals(16, TensorSlicer.to(32, 0, 2));   // llama-7b: layers 0-15 on cuda:0, 16-31 on cuda:1
    }

    @Test
    void aStagePassCarriesPositionsSlotsAndHeadRowsOfItsSequences() {
        // two sequences in slots 5 and 2, three new tokens each, starting at positions 4 and 0
        StageStep prompt = new StageStep(new int[]{5, 2}, new int[]{4, 0}, 3, new int[]{10, 11, 12, 20, 21, 22}, Phase.PROMPT, false);
        int[][] rows = CudaPpStages.rows(prompt);
        assertArrayEquals(new int[]{10, 11, 12, 20, 21, 22}, rows[0]);
        assertArrayEquals(new int[]{4, 5, 6, 0, 1, 2}, rows[1]);
        assertArrayEquals(new int[]{5, 5, 5, 2, 2, 2}, rows[2]);
        assertArrayEquals(new int[]{2, 5}, CudaPpStages.headRows(prompt));
        StageStep all = new StageStep(new int[]{5, 2}, new int[]{4, 0}, 3, new int[6], Phase.PROMPT, true);
        assertNull(CudaPpStages.headRows(all));
        // a decode pass: one row per sequence, every row goes through the head (and may replay a CUDA graph)
        StageStep step = new StageStep(new int[]{3, 1}, new int[]{9, 7}, 1, new int[]{42, 43}, Phase.DECODE, false);
        assertNull(CudaPpStages.headRows(step));
        assertArrayEquals(new int[]{9, 7}, CudaPpStages.rows(step)[1]);
        assertArrayEquals(new int[]{3, 1}, CudaPpStages.rows(step)[2]);
    }
}
