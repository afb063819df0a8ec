package dev.fathom.engine.plan;

import dev.fathom.engine.model.ModelConfig;
import dev.fathom.profiles.RunProfile;

import java.util.List;

/**
 * The result of planning: pure data that every consumer (engine, GUI preview, export, CLI {@code plan})
 * reads, so what the user sees before a run is what runs.
 *
 * @param profile     the profile it was made from
 * @param config      the model's shape
 * @param backend     backend id
 * @param slots       sequences the KV cache holds (the batch)
 * @param maxSeqLen   longest sequence the KV cache holds
 * @param weightBytes bytes of weights
 * @param kvBytes     bytes of KV cache
 * @param notes       lines for people (sharing of devices, choices made)
 * @param placement   tier of every layer's weights, ring and link estimates (ZeRO-Inference)
 */
public record ExecutionPlan(RunProfile profile, ModelConfig config, String backend, int slots, int maxSeqLen,
                            long weightBytes, long kvBytes, List<String> notes, WeightPlacement placement) {

    public ExecutionPlan {
        placement = placement == null ? WeightPlacement.resident(config.numLayers(), weightBytes) : placement;
    }

    /** A plan with every weight resident. */
    public ExecutionPlan(RunProfile profile, ModelConfig config, String backend, int slots, int maxSeqLen,
                         long weightBytes, long kvBytes, List<String> notes) {
        this(profile, config, backend, slots, maxSeqLen, weightBytes, kvBytes, notes, null);
    }

    /** True when some layers stream from host memory or NVMe through a ring. */
    public boolean streaming() { return placement.streaming(); }

    public RunProfile.Parallelism parallel() { return profile.parallel(); }

    /** A printable summary. */
    public String describe() {
        StringBuilder sb = new StringBuilder();
        sb.append("model     ").append(profile.model()).append('\n');
        sb.append("shape     ").append(config.describe()).append('\n');
        sb.append("backend   ").append(backend).append('\n');
        var p = profile.parallel();
        sb.append(String.format("parallel  tp=%d pp=%d ep=%d dp=%d%n", p.tp(), p.pp(), p.ep(), p.dp()));
        sb.append(String.format("batch     %d sequences x %d tokens max%n", slots, maxSeqLen));
        sb.append(String.format("memory    weights %.2f GB, KV cache %.2f GB%n", weightBytes / 1e9, kvBytes / 1e9));
        if (placement.streaming() || placement.budget() > 0) sb.append(placement.describe()).append('\n');
        for (String n : notes) sb.append("note      ").append(n).append('\n');
        return sb.toString();
    }
}
