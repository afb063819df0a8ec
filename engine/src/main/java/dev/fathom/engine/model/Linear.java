package dev.fathom.engine.model;

import dev.fathom.engine.tensor.Tensor;

/**
 * A projection y = x W^T + b.
 *
 * @param weight [out, in], row-major (possibly a column-slice view with a row stride)
 * @param bias   [out], or null
 */
public record Linear(Tensor weight, Tensor bias) {
    public int out() { return weight.rows(); }
    public int in() { return weight.cols(); }
    public long bytes() { return weight.byteSize() + (bias == null ? 0 : bias.byteSize()); }
}
