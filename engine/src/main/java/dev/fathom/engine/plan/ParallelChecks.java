package dev.fathom.engine.plan;

import dev.fathom.engine.EngineException;
import dev.fathom.engine.model.ModelConfig;
import dev.fathom.engine.parallel.ParallelLayout;
import dev.fathom.profiles.RunProfile;

import java.util.List;

/** Checks of a profile's parallel layout against the model and the machine, each failing with a sentence naming the fix. */
final class ParallelChecks {
    /** CPU ranks are threads of one process; past this many they only add scheduling overhead. */
    static final int MAX_CPU_RANKS = 64;

    private ParallelChecks() {}

    static void check(RunProfile p, ModelConfig c, long weightBytes, long kvBytes, List<String> notes) {
        var par = p.parallel();
        String a2a = par.moeAllToAll();
        if (!a2a.equalsIgnoreCase("pcc") && !a2a.equalsIgnoreCase("baseline"))
            throw new EngineException("MoE all-to-all '" + a2a + "' is unknown: set --moe-a2a to pcc or baseline.");
        if (par.promptMicroBatches() < 0 || par.genMicroBatches() < 0)
            throw new EngineException("Micro-batch counts must be 0 (automatic) or more: fix --prompt-microbatches / --gen-microbatches.");
        if (p.placement().kvOffloadThreshold() < 0)
            throw new EngineException("KV offload threshold " + p.placement().kvOffloadThreshold() + " is negative: set --kv-offload-threshold to 0 (off) or a size like 64M.");
        if (!ParallelLayout.isParallel(par)) return;
        int tp = par.tp();
        if (c.numHeads() % tp != 0)
            throw new EngineException("Tensor parallelism " + tp + " does not divide the model's " + c.numHeads()
                    + " attention heads: set --tp to a divisor of " + c.numHeads() + ".");
        if (c.numKvHeads() % tp != 0)
            throw new EngineException("Tensor parallelism " + tp + " does not divide the model's " + c.numKvHeads()
                    + " KV heads: set --tp to a divisor of " + c.numKvHeads() + ".");
        if (par.pp() > c.numLayers())
            throw new EngineException("A pipeline of " + par.pp() + " stages needs at least " + par.pp() + " layers but the model has "
                    + c.numLayers() + ": set --pp to " + c.numLayers() + " or less.");
        int ep = par.ep();
        if (ep > 1 && !c.isMoe())
            throw new EngineException("Expert parallelism needs a mixture-of-experts model but " + p.model()
                    + " is dense: set --ep 1 (use --tp or --dp instead).");
        ParallelLayout l = ParallelLayout.of(par, c);
        if (c.isMoe() && ep > 1) {
            if (ep % tp != 0)
                throw new EngineException("Expert parallelism " + ep + " is not a multiple of tensor parallelism " + tp
                        + ": the expert ranks are the tensor x data ranks, so set --ep to a multiple of " + tp + ".");
            if (l.tp() * l.dp() != ep)
                throw new EngineException("Expert parallelism " + ep + " must equal tensor x data parallelism (" + tp + " x " + par.dp()
                        + "): set --dp to " + ep / tp + " or leave it at 1.");
        }
        if (c.isMoe()) {
            int e = c.numExperts(), world = l.ranksPerStage();
            int group = a2a.equalsIgnoreCase("baseline") ? world : l.dp();
            if (group > e ? group % e != 0 : e % group != 0)
                throw new EngineException("The model's " + e + " experts cannot be spread evenly over " + group + " expert ranks ("
                        + a2a.toLowerCase() + " all-to-all): use an expert degree that divides " + e + " or is a multiple of it.");
            if (group > e) notes.add("expert slicing: each expert is split over " + group / e + " ranks (more ranks than experts)");
        }
        int ranks = l.ranks();
        boolean cpu = p.backend().equals("cpu") || p.backend().equals("reference");
        if (cpu && ranks > MAX_CPU_RANKS)
            throw new EngineException("The layout needs " + ranks + " CPU ranks but at most " + MAX_CPU_RANKS
                    + " run in one process: lower --tp, --pp, --dp or --ep.");
        long heap = Runtime.getRuntime().maxMemory();
        if (cpu && kvBytes > heap * 0.8)
            throw new EngineException("The KV cache needs " + size(kvBytes) + " but the Java heap allows " + size(heap)
                    + ": lower the batch or the context, or raise -Xmx.");
        long device = p.placement().deviceMemory();
        // one rank streams what does not fit (Placements, ZeRO-Inference); parallel layouts keep every weight resident
        if (device > 0 && ranks > 1 && p.placement().weights() == RunProfile.Tier.DEVICE && weightBytes + kvBytes > device)
            throw new EngineException("Weights (" + size(weightBytes) + ") and KV cache (" + size(kvBytes) + ") do not fit the "
                    + size(device) + " device memory budget: raise the budget, lower the batch, or place the weights on the host tier.");
        if (cpu) notes.add(ranks + " ranks (tp=" + l.tp() + " x pp=" + l.pp() + " x dp=" + l.dp() + ") are threads on one device (the CPU): "
                + "they share its cores and memory bandwidth, so expect no speed-up beyond the core count");
        if (par.pp() > 1) {
            notes.add("pipeline: " + par.pp() + " stages, " + l.promptMicroBatches() + " prompt / " + l.genMicroBatches()
                    + " generation micro-batches (capped at the batch)");
            if (p.batch() < par.pp())
                notes.add("batch " + p.batch() + " is smaller than the " + par.pp() + " stages: fewer micro-batches than stages leave the pipeline partly idle");
        }
        long thr = p.placement().kvOffloadThreshold();
        if (thr > 0 && kvBytes > thr)
            notes.add("KV offload on: the KV cache (" + size(kvBytes) + ") exceeds the " + size(thr)
                    + " threshold; idle sequences' KV moves to host memory (odd ranks odd layers, even ranks even layers)");
    }

    static String size(long b) {
        if (b >= 1L << 30) return String.format(java.util.Locale.ROOT, "%.2f GiB", b / (double) (1L << 30));
        if (b >= 1L << 20) return String.format(java.util.Locale.ROOT, "%.1f MiB", b / (double) (1L << 20));
        if (b >= 1L << 10) return String.format(java.util.Locale.ROOT, "%.1f KiB", b / 1024.0);
        return b + " bytes";
    }
}
