package dev.fathom.engine.plan;

import dev.fathom.engine.EngineException;
import dev.fathom.engine.Fixtures;
import dev.fathom.engine.model.ModelConfig;
import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.model.ModelLoader;
import dev.fathom.profiles.RunProfile;
import dev.fathom.profiles.RunProfile.Parallelism;
import dev.fathom.profiles.RunProfile.Placement;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Parallel layouts that cannot run are refused with one sentence naming the setting to change. */
class ParallelPlanTest {
    static ModelConfig config(String fixture) {
        try (LoadedModel m = ModelLoader.load(Fixtures.model(fixture).toString())) {
            return m.config();
        }
    }

    static ExecutionPlan plan(String fixture, Parallelism par, Placement pl) {
        RunProfile p = RunProfile.defaults().withModel(fixture).withBackend("reference").withShape(2, 8, 8).withParallel(par);
        if (pl != null) p = p.withPlacement(pl);
        return PlanHeuristics.plan(p, config(fixture), 1_000_000, 16);
    }

    static void refused(String fixture, Parallelism par, Placement pl, String... words) {
        EngineException e = assertThrows(EngineException.class, () -> plan(fixture, par, pl));
        String msg = e.getMessage();
        System.out.println("REFUSED " + fixture + " " + par + ": " + msg);
        for (String w : words) assertTrue(msg.contains(w), "'" + msg + "' should mention " + w);
        assertTrue(msg.endsWith("."), "one sentence: " + msg);
    }

    static Parallelism par(int tp, int pp, int ep, int dp, String a2a) { return new Parallelism(tp, pp, ep, dp, 0, 0, a2a); }

    @Test
    void headsMustDivide() {
        refused("gpt2-tiny", par(3, 1, 1, 1, "pcc"), null, "4 attention heads", "--tp");
        refused("llama-tiny", par(4, 1, 1, 1, "pcc"), null, "2 KV heads", "--tp");
    }

    @Test
    void stagesNeedLayers() {
        refused("opt-tiny", par(1, 3, 1, 1, "pcc"), null, "3 stages", "--pp");
    }

    @Test
    void expertsVersusExpertDegree() {
        refused("gpt2-tiny", par(1, 1, 2, 1, "pcc"), null, "dense", "--ep 1");
        refused("mixtral-tiny", par(1, 1, 3, 1, "pcc"), null, "4 experts", "3 expert ranks");
        refused("mixtral-tiny", par(2, 1, 3, 1, "pcc"), null, "multiple of 2", "--ep");
        refused("mixtral-tiny", par(2, 1, 4, 3, "pcc"), null, "--dp");
        refused("mixtral-tiny", par(1, 1, 2, 1, "ring"), null, "--moe-a2a");
    }

    @Test
    void ranksAndMemory() {
        refused("gpt2-tiny", par(4, 2, 1, 16, "pcc"), null, "128 CPU ranks", "--tp");
        Placement tiny = new Placement(RunProfile.Tier.DEVICE, RunProfile.Tier.DEVICE, null, 1, 1000, 0, 0);
        refused("gpt2-tiny", par(2, 1, 1, 1, "pcc"), tiny, "device memory");
    }

    @Test
    void validLayoutsSayRanksShareTheCpu() {
        ExecutionPlan p = plan("mixtral-tiny", par(2, 1, 8, 1, "baseline"), null);
        assertTrue(p.notes().stream().anyMatch(n -> n.contains("one device (the CPU)")), p.notes().toString());
        assertTrue(p.notes().stream().anyMatch(n -> n.contains("expert slicing")), p.notes().toString());
        ExecutionPlan q = plan("llama-tiny", par(2, 2, 1, 1, "pcc"), null);
        assertTrue(q.notes().stream().anyMatch(n -> n.contains("pipeline: 2 stages")), q.notes().toString());
        ExecutionPlan single = plan("llama-tiny", Parallelism.NONE, null);
        assertTrue(single.notes().stream().noneMatch(n -> n.contains("ranks")), single.notes().toString());
    }
}
