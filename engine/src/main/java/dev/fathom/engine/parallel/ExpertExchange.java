package dev.fathom.engine.parallel;

import dev.fathom.engine.cpu.CpuModel;
import dev.fathom.engine.model.LayerWeights;
import dev.fathom.engine.telemetry.TelemetryEvent;
import dev.fathom.engine.telemetry.TelemetryEvent.Phase;
import dev.fathom.engine.telemetry.TelemetrySink;

import java.util.Arrays;

/**
 * The MoE block of one expert-parallel rank (Section V). Rows are routed through a token-to-expert
 * table and its inverse (no one-hot tensors), sent to the ranks holding their experts with an
 * all-to-all, run there, and sent back with a second all-to-all; each row then sums its top-k expert
 * outputs, weighted, in expert order (the single-rank order, so results match it).
 *
 * <ul>
 * <li><b>baseline</b>: the all-to-all spans every rank of the stage; tensor-parallel ranks hold the same
 *     rows, so each of them sends (and gets computed) the full set — tp-fold duplicate traffic.</li>
 * <li><b>pcc</b> (parallelism-coordinated): tensor rank j keeps only its 1/tp share of the rows, the
 *     all-to-all runs among the ranks with the same tensor rank (dp of them, each holding all experts
 *     between them), and an all-gather among the tensor ranks reassembles every row.</li>
 * </ul>
 * When a group has more ranks than experts, each expert is sliced along its inner width over
 * {@code ranks / experts} ranks (expert slicing) and the row's partial outputs are summed.
 */
final class ExpertExchange implements CpuModel.MoeLayer {
    enum Form { PCC, BASELINE }

    private final Form form;
    private final CommGroup.Member a2a;
    private final CommGroup.Member tp;
    private final TelemetrySink sink;
    private final int experts;
    private final int members;
    private final int parts;      // ranks per expert (expert slicing), 1 when members <= experts
    private final int perMember;  // experts per rank when members <= experts

    /**
     * @param a2a the all-to-all group: every rank of the stage (baseline) or those with this tensor rank (pcc)
     * @param tp  this rank's tensor-parallel group (pcc all-gather)
     */
    ExpertExchange(Form form, CommGroup.Member a2a, CommGroup.Member tp, int experts, TelemetrySink sink) {
        this.form = form;
        this.a2a = a2a;
        this.tp = tp;
        this.sink = sink;
        this.experts = experts;
        this.members = a2a.size();
        if (members > experts && members % experts != 0 || members <= experts && experts % members != 0)
            throw new IllegalArgumentException(experts + " experts cannot be spread over " + members + " ranks");
        this.parts = members > experts ? members / experts : 1;
        this.perMember = members >= experts ? 1 : experts / members;
    }

    /** Ranks (within the all-to-all group) that hold expert {@code e}, in part order. */
    int[] owners(int e) {
        if (parts > 1) {
            int[] o = new int[parts];
            for (int i = 0; i < parts; i++) o[i] = e * parts + i;
            return o;
        }
        return new int[]{e / perMember};
    }

    @Override
    public void forward(CpuModel model, LayerWeights w, float[] in, int n, int l, Phase ph, float[] out) {
        int h = model.config().hiddenSize(), topK = model.config().expertsPerToken();
        int r0 = 0, r1 = n;
        if (form == Form.PCC) {
            r0 = TensorSlicer.from(n, tp.rank(), tp.size());
            r1 = TensorSlicer.to(n, tp.rank(), tp.size());
        }
        int m = r1 - r0;
        float[] x = r0 == 0 && r1 == n ? in : Arrays.copyOfRange(in, r0 * h, r1 * h);
        float[] logits = model.routerLogits(w, x, m, l, ph);
        long t0 = System.nanoTime();
        // token -> expert table and its inverse (entries = row * topK + k, ascending rows per expert)
        int[] choice = new int[m * topK];
        float[] weight = new float[m * topK];
        int[] count = new int[experts];
        for (int r = 0; r < m; r++) CpuModel.route(logits, r * experts, experts, topK, choice, weight, r * topK, count);
        int[][] rowsOf = new int[experts][];
        int[] fill = new int[experts];
        for (int e = 0; e < experts; e++) rowsOf[e] = new int[count[e]];
        for (int i = 0; i < m * topK; i++) rowsOf[choice[i]][fill[choice[i]]++] = i;
        // what goes to each rank of the group: entries in expert order
        int[] sendCount = new int[members];
        for (int e = 0; e < experts; e++) for (int o : owners(e)) sendCount[o] += count[e];
        int[][] sendEntries = new int[members][];
        CommGroup.Parcel[] send = new CommGroup.Parcel[members];
        float[][] data = new float[members][];
        int[][] meta = new int[members][];
        for (int d = 0; d < members; d++) {
            sendEntries[d] = new int[sendCount[d]];
            data[d] = new float[sendCount[d] * h];
            meta[d] = new int[sendCount[d]];
        }
        int[] at = new int[members];
        for (int e = 0; e < experts; e++)
            for (int o : owners(e))
                for (int entry : rowsOf[e]) {
                    int j = at[o]++;
                    sendEntries[o][j] = entry;
                    System.arraycopy(x, (entry / topK) * h, data[o], j * h, h);
                    meta[o][j] = e;
                }
        for (int d = 0; d < members; d++) send[d] = new CommGroup.Parcel(data[d], sendCount[d] * h, meta[d], sendCount[d]);
        span("moe.dispatch_pack", l, ph, t0, (long) m * topK * h * 4 * parts, model);

        CommGroup.Parcel[] got = a2a.allToAll(send, "all_to_all");

        // run the experts (or expert slices) this rank holds on the rows it received
        CommGroup.Parcel[] reply = new CommGroup.Parcel[members];
        int me = a2a.rank();
        for (int s = 0; s < members; s++) {
            CommGroup.Parcel p = got[s];
            int cnt = p.metaLen();
            float[] y = new float[cnt * h];
            float[] ones = new float[cnt];
            Arrays.fill(ones, 1f);
            if (parts > 1) {
                runExpert(model, w, me / parts, me % parts, p, y, ones, l, ph);
            } else {
                for (int e = me * perMember; e < (me + 1) * perMember; e++) runExpert(model, w, e, 0, p, y, ones, l, ph);
            }
            reply[s] = new CommGroup.Parcel(y, cnt * h, new int[0], 0);
        }

        CommGroup.Parcel[] back = a2a.allToAll(reply, "all_to_all");

        t0 = System.nanoTime();
        float[] ye = new float[m * topK * h];   // [entry, hidden]: each chosen expert's output for its row
        for (int d = 0; d < members; d++) {
            float[] b = back[d].data();
            int[] ent = sendEntries[d];
            for (int j = 0; j < ent.length; j++) {
                int base = ent[j] * h;
                for (int i = 0; i < h; i++) ye[base + i] += b[j * h + i];
            }
        }
        float[] dst = form == Form.PCC ? new float[m * h] : out;
        Arrays.fill(dst, 0, m * h, 0f);
        for (int e = 0; e < experts; e++)
            for (int entry : rowsOf[e]) {
                int row = entry / topK;
                float wt = weight[entry];
                for (int i = 0; i < h; i++) dst[row * h + i] += wt * ye[entry * h + i];
            }
        span("moe.combine", l, ph, t0, (long) m * topK * h * 8, (long) m * topK * h * 2, model);
        if (form == Form.PCC) {
            long g0 = System.nanoTime();
            tp.allGatherV(dst, m * h, out);
            if (sink.enabled())
                sink.emit(new TelemetryEvent.CollectiveSpan("all_gather", tp.globalRank(), tp.size(), (long) n * h * 4, g0, System.nanoTime() - g0));
        }
    }

    private void runExpert(CpuModel model, LayerWeights w, int e, int part, CommGroup.Parcel p, float[] y,
                                  float[] ones, int l, Phase ph) {
        int cnt = p.metaLen(), k = 0;
        for (int j = 0; j < cnt; j++) if (p.meta()[j] == e) k++;
        if (k == 0) return;
        int[] rows = new int[k];
        k = 0;
        for (int j = 0; j < cnt; j++) if (p.meta()[j] == e) rows[k++] = j;
        LayerWeights.Expert ex = TensorSlicer.sliceExpert(w.experts().get(e), part, parts);
        model.moeExpert(ex, rows, p.data(), ones, 1, cnt, l, ph, y);
    }

    private void span(String name, int l, Phase ph, long t0, long bytes, CpuModel model) { span(name, l, ph, t0, bytes, 0, model); }

    private void span(String name, int l, Phase ph, long t0, long bytes, long flops, CpuModel model) {
        if (sink.enabled())
            sink.emit(new TelemetryEvent.KernelSpan(name, "cpu", a2a.globalRank(), l, ph, t0, System.nanoTime() - t0, bytes, flops));
    }
}
