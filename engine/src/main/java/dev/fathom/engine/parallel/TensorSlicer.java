package dev.fathom.engine.parallel;

import dev.fathom.engine.model.LayerWeights;
import dev.fathom.engine.model.Linear;
import dev.fathom.engine.tensor.Tensor;

/**
 * Megatron-style slices of a layer for one tensor-parallel rank, as zero-copy views: q/k/v rows by
 * head ranges, the attention output's columns by the same ranges, MLP up/gate rows and down columns by
 * ranges of the inner width. Biases of the column-split outputs (o, down) stay whole: the forward pass
 * adds them once, after the all-reduce. Norms, router and experts are not sliced here.
 */
public final class TensorSlicer {
    private TensorSlicer() {}

    /** {@code [n*part/parts, n*(part+1)/parts)}: near-equal contiguous ranges. */
    public static int from(int n, int part, int parts) { return (int) ((long) n * part / parts); }
    public static int to(int n, int part, int parts) { return (int) ((long) n * (part + 1) / parts); }

    public static LayerWeights slice(LayerWeights w, int headDim, int rank, int tp) {
        if (tp == 1) return w;
        int heads = w.q().out() / headDim, kvHeads = w.k().out() / headDim;
        if (heads % tp != 0 || kvHeads % tp != 0)
            throw new IllegalArgumentException("tp=" + tp + " does not divide " + heads + " heads / " + kvHeads + " kv heads");
        int q0 = heads / tp * rank * headDim, q1 = heads / tp * (rank + 1) * headDim;
        int k0 = kvHeads / tp * rank * headDim, k1 = kvHeads / tp * (rank + 1) * headDim;
        Linear q = rows(w.q(), q0, q1), k = rows(w.k(), k0, k1), v = rows(w.v(), k0, k1);
        Linear o = new Linear(w.o().weight().sliceCols(q0, q1), w.o().bias());
        Linear up = null, gate = null, down = null;
        if (w.up() != null) {
            int f = w.up().out(), f0 = from(f, rank, tp), f1 = to(f, rank, tp);
            up = rows(w.up(), f0, f1);
            gate = w.gate() == null ? null : rows(w.gate(), f0, f1);
            down = new Linear(w.down().weight().sliceCols(f0, f1), w.down().bias());
        }
        return new LayerWeights(w.attnNormW(), w.attnNormB(), q, k, v, o, w.mlpNormW(), w.mlpNormB(), up, gate, down,
                w.router(), w.experts());
    }

    /** Part {@code part} of {@code parts} of one expert (expert slicing): gate/up rows and down columns of the inner width. */
    public static LayerWeights.Expert sliceExpert(LayerWeights.Expert e, int part, int parts) {
        if (parts == 1) return e;
        int f = e.up().out(), f0 = from(f, part, parts), f1 = to(f, part, parts);
        return new LayerWeights.Expert(rows(e.gate(), f0, f1), rows(e.up(), f0, f1),
                new Linear(e.down().weight().sliceCols(f0, f1), part == 0 ? e.down().bias() : null));
    }

    private static Linear rows(Linear l, int from, int to) {
        Tensor b = l.bias();
        return new Linear(l.weight().sliceRows(from, to), b == null ? null : b.slice1d(from, to));
    }
}
