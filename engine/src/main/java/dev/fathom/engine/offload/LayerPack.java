package dev.fathom.engine.offload;

import dev.fathom.engine.model.LayerWeights;
import dev.fathom.engine.model.Linear;
import dev.fathom.engine.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * The dense byte layout of one decoder layer's weights: every tensor of the {@link LayerWeights}, in a
 * fixed order, packed row by row (strided column slices become dense) at 64-byte aligned offsets, the
 * whole padded to {@link #ALIGN} so it can be read with {@code O_DIRECT}. {@link #view} rebuilds a
 * {@link LayerWeights} with the same shapes and dtypes over a buffer holding the packed bytes.
 */
public final class LayerPack {
    /** Alignment of a packed layer's length (direct I/O). */
    public static final int ALIGN = 4096;
    private static final int TENSOR_ALIGN = 64;

    private final LayerWeights template;
    private final long[] offsets;   // [tensors] byte offset of each tensor in traversal order
    private final long bytes;       // padded length

    public LayerPack(LayerWeights template) {
        this.template = template;
        List<Tensor> ts = tensors(template);
        offsets = new long[ts.size()];
        long off = 0;
        for (int i = 0; i < ts.size(); i++) {
            offsets[i] = off;
            off += (ts.get(i).byteSize() + TENSOR_ALIGN - 1) / TENSOR_ALIGN * TENSOR_ALIGN;
        }
        bytes = Math.max(ALIGN, (off + ALIGN - 1) / ALIGN * ALIGN);
    }

    /** Length of the packed layer in bytes, a multiple of {@link #ALIGN}. */
    public long bytes() { return bytes; }

    /** Writes the layer's tensors densely into {@code dst} (at least {@link #bytes()} long). */
    public void pack(MemorySegment dst) {
        List<Tensor> ts = tensors(template);
        for (int i = 0; i < ts.size(); i++) copyDense(ts.get(i), dst, offsets[i]);
    }

    /** A {@link LayerWeights} of the template's shapes whose tensors are views of {@code buf}. */
    public LayerWeights view(MemorySegment buf) {
        int[] i = {0};
        return map(template, t -> {
            long off = offsets[i[0]++];
            return new Tensor(t.name(), t.dtype(), t.shape(), buf.asSlice(off, t.byteSize()));
        });
    }

    /** Copies a (possibly row-strided) 1-D or 2-D tensor densely to {@code dst} at {@code off}. */
    static void copyDense(Tensor t, MemorySegment dst, long off) {
        if (t.contiguous()) {
            MemorySegment.copy(t.data(), 0, dst, off, t.byteSize());
            return;
        }
        int rows = t.rows();
        long es = t.dtype().size, rowBytes = t.cols() * es, stride = t.ld() * es;
        for (int r = 0; r < rows; r++) MemorySegment.copy(t.data(), r * stride, dst, off + r * rowBytes, rowBytes);
    }

    /** Every non-null tensor of a layer, in the order {@link #map} visits them. */
    static List<Tensor> tensors(LayerWeights w) {
        List<Tensor> out = new ArrayList<>();
        map(w, t -> {
            out.add(t);
            return t;
        });
        return out;
    }

    /** The layer with {@code f} applied to every non-null tensor, in a fixed order. */
    static LayerWeights map(LayerWeights w, UnaryOperator<Tensor> f) {
        Tensor anw = f.apply(w.attnNormW());
        Tensor anb = opt(w.attnNormB(), f);
        Linear q = lin(w.q(), f), k = lin(w.k(), f), v = lin(w.v(), f), o = lin(w.o(), f);
        Tensor mnw = f.apply(w.mlpNormW());
        Tensor mnb = opt(w.mlpNormB(), f);
        Linear up = lin(w.up(), f), gate = lin(w.gate(), f), down = lin(w.down(), f);
        Tensor router = opt(w.router(), f);
        List<LayerWeights.Expert> ex = new ArrayList<>(w.experts().size());
        for (LayerWeights.Expert e : w.experts()) {
            Linear g = lin(e.gate(), f), u = lin(e.up(), f), d = lin(e.down(), f);
            ex.add(new LayerWeights.Expert(g, u, d));
        }
        return new LayerWeights(anw, anb, q, k, v, o, mnw, mnb, up, gate, down, router, List.copyOf(ex));
    }

    private static Tensor opt(Tensor t, UnaryOperator<Tensor> f) { return t == null ? null : f.apply(t); }

    private static Linear lin(Linear l, UnaryOperator<Tensor> f) {
        if (l == null) return null;
        Tensor w = f.apply(l.weight());
        return new Linear(w, opt(l.bias(), f));
    }
}
