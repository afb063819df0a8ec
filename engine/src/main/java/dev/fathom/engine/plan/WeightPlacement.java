package dev.fathom.engine.plan;

import dev.fathom.engine.model.LayerWeights;
import dev.fathom.engine.model.Linear;
import dev.fathom.engine.model.ModelWeights;
import dev.fathom.engine.tensor.Tensor;
import dev.fathom.profiles.RunProfile.Tier;

import java.util.ArrayList;
import java.util.List;

/**
 * Where the weights live (ZeRO-Inference): per decoder layer a tier — resident in device memory (on
 * the CPU backend: the RAM budget), streamed from pinned host memory, or streamed from files on NVMe —
 * with the bytes per tier, the expected transfer time per layer at the measured link speed and the
 * batch at which compute hides that transfer.
 *
 * @param streaming        true when at least one layer streams through the ring
 * @param prefetch         layers fetched ahead (ring of prefetch + 1 buffers)
 * @param budget           device (CPU: RAM) budget for weights in bytes, 0 = unlimited
 * @param hostBudget       host memory budget in bytes, 0 = unlimited
 * @param nvmeDir          directory of NVMe-tier files (null = a temp dir)
 * @param layers           tier of every decoder layer, in order
 * @param deviceBytes      bytes resident in the budget: resident layers, head and norms, plus the ring
 * @param ringBytes        bytes of the ring (prefetch + 1 buffers of the largest streamed layer)
 * @param hostBytes        bytes in host memory: HOST-tier layers (and, when streaming, the input embedding)
 * @param nvmeBytes        bytes in NVMe files
 * @param links            measured link speeds and compute rate the estimates use
 * @param transferMsLayer  expected time to bring in the largest streamed layer, ms (0 when nothing streams)
 * @param hideTokens       tokens per forward pass from which a layer's compute takes as long as its transfer
 * @param hidePromptBatch  prompt-phase batch (sequences of the profile's prompt length) that hides the transfer
 * @param hideDecodeBatch  token-phase batch that hides the transfer
 */
public record WeightPlacement(boolean streaming, int prefetch, long budget, long hostBudget, String nvmeDir,
                              List<LayerTier> layers, long deviceBytes, long ringBytes, long hostBytes, long nvmeBytes,
                              Links links, double transferMsLayer, long hideTokens, long hidePromptBatch,
                              long hideDecodeBatch) {

    /**
     * @param layer      decoder layer
     * @param tier       where it lives
     * @param bytes      its weight bytes
     * @param transferMs expected time to bring it into the ring (0 when resident)
     */
    public record LayerTier(int layer, Tier tier, long bytes, double transferMs) {}

    /**
     * Link speeds and compute rate, measured ({@code dev.fathom.engine.calibrate}) or given.
     *
     * @param nvmeReadBps  NVMe (disk) read bandwidth, bytes/s
     * @param hostCopyBps  host-tier to device (CPU: arena to ring copy) bandwidth, bytes/s
     * @param computeFlops dense projection rate, FLOP/s
     * @param source       how the figures were obtained, for people
     */
    public record Links(double nvmeReadBps, double hostCopyBps, double computeFlops, String source) {
        public static final Links UNKNOWN = new Links(0, 0, 0, "not measured");

        public double bandwidth(Tier t) { return t == Tier.NVME ? nvmeReadBps : t == Tier.HOST ? hostCopyBps : 0; }
    }

    /**
     * Sizes of a model's weights as the planner needs them.
     *
     * @param layerBytes  weight bytes per decoder layer
     * @param layerParams weights (elements) per decoder layer (each is one multiply-add per token)
     * @param headBytes   lm_head, final norm and learned positions: read by every forward pass
     * @param embedBytes  the input embedding when it is not tied to the lm_head (rows are gathered), else 0
     */
    public record WeightSizes(long[] layerBytes, long[] layerParams, long headBytes, long embedBytes) {
        public long layersTotal() {
            long s = 0;
            for (long b : layerBytes) s += b;
            return s;
        }

        public long total() { return layersTotal() + headBytes + embedBytes; }

        public static WeightSizes of(ModelWeights w) {
            int n = w.layers().size();
            long[] bytes = new long[n], params = new long[n];
            for (int i = 0; i < n; i++) {
                LayerWeights l = w.layers().get(i);
                bytes[i] = l.bytes();
                params[i] = numel(l);
            }
            long head = w.lmHead().byteSize() + w.finalNormW().byteSize() + (w.finalNormB() == null ? 0 : w.finalNormB().byteSize())
                    + (w.posEmbed() == null ? 0 : w.posEmbed().byteSize());
            long embed = w.lmHead() == w.embed() ? 0 : w.embed().byteSize();
            return new WeightSizes(bytes, params, head, embed);
        }

        /** Every layer the same size: {@code layerBytes} and {@code layerParams} each. */
        public static WeightSizes uniform(int layers, long layerBytes, long layerParams, long headBytes, long embedBytes) {
            long[] b = new long[layers], p = new long[layers];
            java.util.Arrays.fill(b, layerBytes);
            java.util.Arrays.fill(p, layerParams);
            return new WeightSizes(b, p, headBytes, embedBytes);
        }

        private static long numel(LayerWeights l) {
            List<Tensor> ts = new ArrayList<>();
            for (Linear x : new Linear[]{l.q(), l.k(), l.v(), l.o(), l.up(), l.gate(), l.down()}) if (x != null) ts.add(x.weight());
            if (l.router() != null) ts.add(l.router());
            for (LayerWeights.Expert e : l.experts()) {
                ts.add(e.gate().weight());
                ts.add(e.up().weight());
                ts.add(e.down().weight());
            }
            long n = 0;
            for (Tensor t : ts) n += t.numel();
            return n;
        }
    }

    /** All weights resident, nothing streams. */
    public static WeightPlacement resident(int numLayers, long weightBytes) {
        List<LayerTier> l = new ArrayList<>();
        for (int i = 0; i < numLayers; i++) l.add(new LayerTier(i, Tier.DEVICE, 0, 0));
        return new WeightPlacement(false, 0, 0, 0, null, List.copyOf(l), weightBytes, 0, 0, 0, Links.UNKNOWN, 0, 0, 0, 0);
    }

    /** The same placement with the budget it was planned under recorded. */
    public WeightPlacement withBudget(long b) {
        return new WeightPlacement(streaming, prefetch, b, hostBudget, nvmeDir, layers, deviceBytes, ringBytes, hostBytes, nvmeBytes,
                links, transferMsLayer, hideTokens, hidePromptBatch, hideDecodeBatch);
    }

    public Tier tier(int layer) { return layers.get(layer).tier(); }

    public long count(Tier t) { return layers.stream().filter(x -> x.tier() == t).count(); }

    /** Printable lines (without a trailing newline), for {@link ExecutionPlan#describe()}. */
    public String describe() {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format("weights   device %d layers + head = %s%s, host %d layers %s, nvme %d layers %s",
                count(Tier.DEVICE), gb(deviceBytes), budget > 0 ? " of a " + gb(budget) + " budget" : "",
                count(Tier.HOST), gb(hostBytes), count(Tier.NVME), gb(nvmeBytes)));
        if (!streaming) return sb.toString();
        sb.append('\n').append("tiers     ").append(ranges());
        sb.append('\n').append(String.format("stream    ring of %d x %s (prefetch %d); %s per streamed layer",
                prefetch + 1, mb(ringBytes / (prefetch + 1)), prefetch, transferMsLayer > 0 ? String.format("%.1f ms", transferMsLayer) : "? ms"));
        sb.append('\n').append(String.format("links     nvme %s, host copy %s, compute %s (%s)",
                rate(links.nvmeReadBps()), rate(links.hostCopyBps()),
                links.computeFlops() > 0 ? String.format("%.1f GFLOP/s", links.computeFlops() / 1e9) : "?", links.source()));
        if (hideTokens > 0)
            sb.append('\n').append(String.format("hide      compute hides the transfer from %d tokens per forward pass: prompt batch %d, decode batch %d",
                    hideTokens, hidePromptBatch, hideDecodeBatch));
        return sb.toString();
    }

    private String ranges() {
        StringBuilder sb = new StringBuilder();
        int i = 0;
        while (i < layers.size()) {
            int j = i;
            while (j + 1 < layers.size() && layers.get(j + 1).tier() == layers.get(i).tier()) j++;
            if (!sb.isEmpty()) sb.append(", ");
            sb.append(i == j ? "layer " + i : "layers " + i + "-" + j).append(' ').append(layers.get(i).tier().name().toLowerCase());
            i = j + 1;
        }
        return sb.toString();
    }

    private static String gb(long b) { return b >= 1e9 ? String.format("%.2f GB", b / 1e9) : mb(b); }
    private static String mb(long b) { return String.format("%.1f MB", b / 1e6); }
    private static String rate(double bps) { return bps > 0 ? String.format("%.2f GB/s", bps / 1e9) : "?"; }
}
