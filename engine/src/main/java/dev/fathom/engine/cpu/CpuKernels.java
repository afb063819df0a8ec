package dev.fathom.engine.cpu;

import dev.fathom.engine.model.Linear;
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

    /** Releases worker threads, if any. */
    default void close() { }
}
