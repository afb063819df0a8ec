package dev.fathom.engine.cpu;

import dev.fathom.engine.model.Linear;
import dev.fathom.engine.tensor.Tensor;

/**
 * Plain, single-threaded Java kernels with float32 accumulation: the reference every faster path is
 * tested against. Clarity over speed.
 */
public final class ReferenceKernels implements CpuKernels {
    private float[] row = new float[0];

    @Override public String id() { return "reference"; }

    @Override
    public void linear(float[] x, int rows, Linear w, boolean addBias, float[] y) {
        Tensor wt = w.weight();
        int out = wt.rows(), in = wt.cols();
        if (row.length < in) row = new float[in];
        for (int o = 0; o < out; o++) {
            wt.readRow(o, row, 0);
            float bias = addBias && w.bias() != null ? w.bias().getFloat(o) : 0f;
            for (int r = 0; r < rows; r++) {
                float acc = 0f;
                int xo = r * in;
                for (int i = 0; i < in; i++) acc += x[xo + i] * row[i];
                y[r * out + o] = acc + bias;
            }
        }
    }

    @Override
    public void rmsNorm(float[] x, int rows, int n, Tensor w, float eps, float[] y) {
        for (int r = 0; r < rows; r++) {
            int off = r * n;
            float ss = 0f;
            for (int i = 0; i < n; i++) ss += x[off + i] * x[off + i];
            float inv = (float) (1.0 / Math.sqrt(ss / n + eps));
            for (int i = 0; i < n; i++) y[off + i] = x[off + i] * inv * w.getFloat(i);
        }
    }

    @Override
    public void layerNorm(float[] x, int rows, int n, Tensor w, Tensor b, float eps, float[] y) {
        layerNorm(x, rows, n, w.toFloatArray(), b == null ? null : b.toFloatArray(), eps, y);
    }

    /** LayerNorm of each row of width {@code n} with weights and optional biases as float arrays. */
    public static void layerNorm(float[] x, int rows, int n, float[] w, float[] b, float eps, float[] y) {
        for (int r = 0; r < rows; r++) {
            int off = r * n;
            float mean = 0f;
            for (int i = 0; i < n; i++) mean += x[off + i];
            mean /= n;
            float var = 0f;
            for (int i = 0; i < n; i++) {
                float d = x[off + i] - mean;
                var += d * d;
            }
            var /= n;
            float inv = (float) (1.0 / Math.sqrt(var + eps));
            for (int i = 0; i < n; i++) y[off + i] = (x[off + i] - mean) * inv * w[i] + (b == null ? 0f : b[i]);
        }
    }

    @Override
    public void attention(float[] q, int qRow, int t, int p0, float[] kCache, float[] vCache, int heads, int kvHeads,
                          int headDim, float[] out) {
        int qDim = heads * headDim, kvDim = kvHeads * headDim, group = heads / kvHeads;
        float scale = (float) (1.0 / Math.sqrt(headDim));
        float[] scores = new float[p0 + t];
        for (int i = 0; i < t; i++) {
            int pos = p0 + i;
            int qo = (qRow + i) * qDim;
            for (int h = 0; h < heads; h++) {
                int kvh = h / group;
                float max = Float.NEGATIVE_INFINITY;
                for (int j = 0; j <= pos; j++) {
                    float s = 0f;
                    int ko = j * kvDim + kvh * headDim;
                    for (int d = 0; d < headDim; d++) s += q[qo + h * headDim + d] * kCache[ko + d];
                    s *= scale;
                    scores[j] = s;
                    if (s > max) max = s;
                }
                float sum = 0f;
                for (int j = 0; j <= pos; j++) {
                    scores[j] = (float) Math.exp(scores[j] - max);
                    sum += scores[j];
                }
                int oo = qo + h * headDim;
                for (int d = 0; d < headDim; d++) out[oo + d] = 0f;
                for (int j = 0; j <= pos; j++) {
                    float p = scores[j] / sum;
                    int vo = j * kvDim + kvh * headDim;
                    for (int d = 0; d < headDim; d++) out[oo + d] += p * vCache[vo + d];
                }
            }
        }
    }
}
