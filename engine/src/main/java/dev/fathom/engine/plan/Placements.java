package dev.fathom.engine.plan;

import dev.fathom.engine.EngineException;
import dev.fathom.engine.plan.WeightPlacement.LayerTier;
import dev.fathom.engine.plan.WeightPlacement.Links;
import dev.fathom.engine.plan.WeightPlacement.WeightSizes;
import dev.fathom.profiles.RunProfile;
import dev.fathom.profiles.RunProfile.Tier;

import java.util.ArrayList;
import java.util.List;

/**
 * Decides the tier of every layer's weights (ZeRO-Inference). The lm_head and norms are read by every
 * forward pass and stay in the budget; the input embedding is only gathered row by row, so while
 * streaming it counts as host memory. With weights on the device and a budget that holds them, nothing
 * streams. Otherwise a ring of prefetch + 1 layer buffers is set aside, the first layers that still fit
 * the budget stay resident and the rest stream: from host memory while the host budget lasts, then
 * from NVMe (or from NVMe throughout when the weights were placed there).
 */
public final class Placements {
    private Placements() {}

    private static String mb(long b) { return String.format(b < 10_000_000 ? "%.3f MB" : "%.1f MB", b / 1e6); }

    public static WeightPlacement place(RunProfile p, WeightSizes s, Links links, List<String> notes) {
        RunProfile.Placement pl = p.placement();
        int n = s.layerBytes().length;
        if (pl.prefetch() < 0) throw new EngineException("Prefetch depth " + pl.prefetch() + " is invalid: set prefetch (--prefetch) to 0 or more.");
        if (pl.deviceMemory() < 0 || pl.hostMemory() < 0)
            throw new EngineException("Memory budgets must be 0 (unlimited) or positive: check device memory and host memory (--device-memory, --host-memory).");
        long budget = pl.deviceMemory();
        long total = s.total();
        if (pl.weights() == Tier.DEVICE && (budget == 0 || total <= budget) || n == 0)
            return WeightPlacement.resident(n, total).withBudget(budget);

        var par = p.parallel();
        boolean cpu = p.backend().equals("cpu") || p.backend().equals("reference");
        if (cpu && (par.worldSize() > 1 || par.ep() > 1))
            throw new EngineException("Streaming weights (ZeRO-Inference) runs on one rank on the CPU backends: set tp, pp, ep and dp to 1, "
                    + "or keep the weights resident (--weights device with a --device-memory that holds them).");
        int k = pl.prefetch();
        long maxLayer = 0;
        for (long b : s.layerBytes()) maxLayer = Math.max(maxLayer, b);
        long ring = (k + 1L) * maxLayer;
        long fixed = s.headBytes();
        int resident = 0;
        long residentBytes = 0;
        if (budget > 0) {
            long need = fixed + ring;
            if (budget < need)
                throw new EngineException(String.format("The %s budget of %s is below the %s that streaming needs "
                                + "(lm_head and norms %s plus a ring of %d layers of %s): raise --device-memory to at least %.0fM or lower --prefetch.",
                        p.backend().startsWith("cuda") ? "device memory" : "RAM", mb(budget), mb(need), mb(fixed), k + 1, mb(maxLayer),
                        Math.ceil(need / 1048576.0)));
            long avail = budget - need;
            while (resident < n && residentBytes + s.layerBytes()[resident] <= avail) residentBytes += s.layerBytes()[resident++];
        }
        if (resident == n) {
            notes.add("every layer fits the " + String.format("%.2f GB", budget / 1e9) + " budget: nothing streams");
            return WeightPlacement.resident(n, total).withBudget(budget);
        }
        Tier from = pl.weights() == Tier.NVME ? Tier.NVME : Tier.HOST;
        if (pl.weights() == Tier.DEVICE)
            notes.add(String.format("weights (%.2f GB) exceed the %.2f GB budget: %d layers stream from host memory", total / 1e9, budget / 1e9, n - resident));
        long hostBudget = pl.hostMemory();
        long hostBytes = s.embedBytes(), nvmeBytes = 0;
        List<LayerTier> tiers = new ArrayList<>();
        boolean spilled = false;
        double worst = 0;
        long worstBytes = 0, worstParams = 1;
        Tier worstTier = from;
        for (int i = 0; i < n; i++) {
            long b = s.layerBytes()[i];
            if (i < resident) {
                tiers.add(new LayerTier(i, Tier.DEVICE, b, 0));
                continue;
            }
            Tier t = from;
            if (t == Tier.HOST && hostBudget > 0 && hostBytes + b > hostBudget) {
                t = Tier.NVME;
                spilled = true;
            }
            if (t == Tier.HOST) hostBytes += b;
            else nvmeBytes += b;
            double bw = links.bandwidth(t);
            double ms = bw > 0 ? b * 1e3 / bw : 0;
            tiers.add(new LayerTier(i, t, b, ms));
            if (ms > worst || worstBytes == 0) {
                worst = ms;
                worstBytes = b;
                worstParams = Math.max(1, s.layerParams()[i]);
                worstTier = t;
            }
        }
        if (spilled) notes.add(String.format("host memory budget %.2f GB is full: later layers stream from NVMe", hostBudget / 1e9));
        // compute of one layer = 2 * params FLOPs per token; it hides the transfer when
        // tokens * 2 * params / F >= bytes / bw, i.e. tokens >= bytes * F / (2 * params * bw)
        long hideTokens = 0, hidePrompt = 0, hideDecode = 0;
        double bw = links.bandwidth(worstTier);
        if (bw > 0 && links.computeFlops() > 0) {
            hideTokens = Math.max(1, (long) Math.ceil(worstBytes * links.computeFlops() / (2.0 * worstParams * bw)));
            hidePrompt = (hideTokens + Math.max(1, p.promptLen()) - 1) / Math.max(1, p.promptLen());
            hideDecode = hideTokens;
        }
        if (s.embedBytes() > 0) notes.add("the input embedding stays in host memory (rows are gathered per token)");
        return new WeightPlacement(true, k, budget, hostBudget, pl.nvmeDir(), List.copyOf(tiers), fixed + residentBytes + ring, ring,
                hostBytes, nvmeBytes, links, worst, hideTokens, hidePrompt, hideDecode);
    }
}
