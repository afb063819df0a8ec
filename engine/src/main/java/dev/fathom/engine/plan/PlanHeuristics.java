package dev.fathom.engine.plan;

import dev.fathom.engine.EngineException;
import dev.fathom.engine.cpu.KvCache;
import dev.fathom.engine.model.ModelConfig;
import dev.fathom.profiles.RunProfile;

import java.util.ArrayList;
import java.util.List;

/** The one place that turns a profile and a model into an {@link ExecutionPlan}, or a sentence naming the fix. */
public final class PlanHeuristics {
    private PlanHeuristics() {}

    /**
     * @param weightBytes bytes of the model's weights as loaded
     * @param maxSeqLen   longest sequence needed (prompt + new tokens)
     */
    public static ExecutionPlan plan(RunProfile p, ModelConfig c, long weightBytes, int maxSeqLen) {
        // without per-layer sizes the placement estimates equal layers of 2-byte weights and no link speeds;
        // Engine.plan passes the real sizes and measured links through the overload below
        int n = Math.max(1, c.numLayers());
        long per = weightBytes / n;
        return plan(p, c, WeightPlacement.WeightSizes.uniform(c.numLayers(), per, per / 2, weightBytes - per * n, 0), maxSeqLen,
                WeightPlacement.Links.UNKNOWN);
    }

    /**
     * @param sizes     the model's weight sizes ({@link WeightPlacement.WeightSizes#of})
     * @param maxSeqLen longest sequence needed (prompt + new tokens)
     * @param links     measured link speeds and compute rate for the streaming estimates
     */
    public static ExecutionPlan plan(RunProfile p, ModelConfig c, WeightPlacement.WeightSizes sizes, int maxSeqLen,
                                     WeightPlacement.Links links) {
        return plan(p, c, sizes, maxSeqLen, links, 4);
    }

    /**
     * @param kvElementBytes bytes of one cached key or value element on the plan's backend ({@code Backend#kvElementBytes})
     */
    public static ExecutionPlan plan(RunProfile p, ModelConfig c, WeightPlacement.WeightSizes sizes, int maxSeqLen,
                                     WeightPlacement.Links links, int kvElementBytes) {
        long weightBytes = sizes.total();
        List<String> notes = new ArrayList<>();
        if (p.batch() < 1) throw new EngineException("Batch size " + p.batch() + " is invalid: set batch to 1 or more.");
        if (maxSeqLen > c.maxPositions())
            throw new EngineException("Prompt plus new tokens (" + maxSeqLen + ") exceed the model's " + c.maxPositions()
                    + " positions: shorten the prompt or generate fewer tokens.");
        var par = p.parallel();
        if (par.tp() < 1 || par.pp() < 1 || par.ep() < 1 || par.dp() < 1)
            throw new EngineException("Parallel degrees must be 1 or more (tp=" + par.tp() + ", pp=" + par.pp() + ", ep=" + par.ep() + ", dp=" + par.dp() + ").");
        long kv = KvCache.bytesFor(c.numLayers(), p.batch(), maxSeqLen, c.kvDim(), kvElementBytes);
        if (kvElementBytes == 2)
            notes.add(String.format("KV cache in bf16 on the %s backend (the model's 16-bit weights): %.2f GB instead of %.2f GB in float32",
                    p.backend(), kv / 1e9, 2.0 * kv / 1e9));
        ParallelChecks.check(p, c, weightBytes, kv, notes);
        WeightPlacement wp = Placements.place(p, sizes, links, notes);
        return new ExecutionPlan(p, c, p.backend(), p.batch(), maxSeqLen, weightBytes, kv, List.copyOf(notes), wp);
    }
}
