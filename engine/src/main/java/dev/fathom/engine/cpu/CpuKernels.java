package dev.fathom.engine.cpu;

import dev.fathom.engine.model.Linear;
import dev.fathom.engine.model.ModelConfig;
import dev.fathom.engine.tensor.Tensor;

/**
 * The operations the CPU forward pass delegates to a kernel set. Activations are float32 arrays of
 * {@code rows} rows; weights are read in place from their tensors. Implementations must not allocate
 * per call on hot paths (beyond what they preallocate) and must be safe to call from one thread at a
 * time per instance.
 */
public interface CpuKernels {
    /** Short id shown in telemetry (reference, vector). */
    String id();

    /** y[r, o] = sum_i x[r, i] * W[o, i] + b[o] (b optional) for r < rows. x is [rows, in], y is [rows, out]. */
    void linear(float[] x, int rows, Linear w, boolean addBias, float[] y);

    /** y[r] = x[r] / rms(x[r]) * w, each row of width n. */
    void rmsNorm(float[] x, int rows, int n, Tensor w, float eps, float[] y);

    /** y[r] = (x[r] - mean) / sqrt(var + eps) * w + b. */
    void layerNorm(float[] x, int rows, int n, Tensor w, Tensor b, float eps, float[] y);

    /**
     * Causal attention of {@code t} queries of one sequence, at positions {@code p0 .. p0+t-1}, over the
     * sequence's cache (positions 0 .. p0+t-1 already written).
     *
     * @param q      [t, heads*headDim] starting at row {@code qRow}
     * @param kCache [maxLen, kvHeads*headDim]
     * @param vCache [maxLen, kvHeads*headDim]
     * @param out    [t, heads*headDim] starting at row {@code qRow}
     */
    void attention(float[] q, int qRow, int t, int p0, float[] kCache, float[] vCache, int heads, int kvHeads,
                   int headDim, float[] out);

    /**
     * Several projections of the same input {@code x} [rows, in] in one pass (q/k/v, gate/up):
     * {@code ys[m]} receives {@code ws[m]}'s output for m < count. Fast kernels run them as one dispatch.
     */
    default void linearGroup(float[] x, int rows, Linear[] ws, int count, boolean addBias, float[][] ys) {
        for (int m = 0; m < count; m++) linear(x, rows, ws[m], addBias, ys[m]);
    }

    /** a[i] *= act(g[i]) for i < n (the gated MLP). */
    default void gatedActivation(ModelConfig.Activation act, float[] a, float[] g, int n) {
        for (int i = 0; i < n; i++) a[i] *= Activations.apply(act, g[i]);
    }

    /** Bytes this kernel set reads for one use of {@code w} (a quantized or converted copy counts as such). */
    default long weightBytes(Linear w) { return w.bytes(); }

    /** Releases worker threads, if any. */
    default void close() { }
}
