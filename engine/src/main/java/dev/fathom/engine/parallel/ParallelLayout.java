package dev.fathom.engine.parallel;

import dev.fathom.engine.model.ModelConfig;
import dev.fathom.profiles.RunProfile;

/**
 * How a profile's parallel degrees map onto CPU ranks. Each pipeline stage has {@code dp x tp} ranks;
 * for a mixture-of-experts model with {@code ep > 1} the expert-parallel ranks are those same ranks
 * (the paper's layout): when dp is left at 1 it becomes {@code ep / tp}, so the non-expert layers are
 * tensor-sliced {@code tp} ways and data-parallel over the rest.
 *
 * @param promptMicroBatches micro-batches of the prompt phase (0 in the profile = pp)
 * @param genMicroBatches    micro-batches of the generation phase (0 in the profile = pp)
 * @param moeAllToAll        {@code pcc} or {@code baseline}
 */
public record ParallelLayout(int tp, int pp, int dp, int ep, int promptMicroBatches, int genMicroBatches,
                             String moeAllToAll) {

    public static ParallelLayout of(RunProfile.Parallelism p, ModelConfig c) {
        int dp = p.dp();
        if (c.isMoe() && p.ep() > 1 && dp == 1 && p.tp() > 0 && p.ep() % p.tp() == 0) dp = p.ep() / p.tp();
        int pm = p.promptMicroBatches() > 0 ? p.promptMicroBatches() : p.pp();
        int gm = p.genMicroBatches() > 0 ? p.genMicroBatches() : p.pp();
        return new ParallelLayout(p.tp(), p.pp(), dp, p.ep(), pm, gm, p.moeAllToAll());
    }

    /** True when the run needs more than one rank. */
    public static boolean isParallel(RunProfile.Parallelism p) {
        return p.tp() > 1 || p.pp() > 1 || p.ep() > 1 || p.dp() > 1;
    }

    public int ranksPerStage() { return tp * dp; }
    public int ranks() { return tp * dp * pp; }

    ExpertExchange.Form form() { return "baseline".equalsIgnoreCase(moeAllToAll) ? ExpertExchange.Form.BASELINE : ExpertExchange.Form.PCC; }

    public String describe(boolean moe) {
        StringBuilder sb = new StringBuilder();
        sb.append(ranks()).append(" CPU rank").append(ranks() == 1 ? "" : "s").append(" (tp=").append(tp).append(" x pp=").append(pp)
                .append(" x dp=").append(dp).append(") sharing one device");
        if (pp > 1) sb.append(", micro-batches prompt ").append(promptMicroBatches).append(" / generation ").append(genMicroBatches);
        if (moe && ep > 1) sb.append(", experts over ").append(ranksPerStage()).append(" ranks, ").append(form() == ExpertExchange.Form.PCC ? "PCC" : "baseline").append(" all-to-all");
        return sb.toString();
    }
}
