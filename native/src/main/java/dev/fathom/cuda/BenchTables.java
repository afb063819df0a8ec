package dev.fathom.cuda;

import dev.fathom.engine.tensor.DType;

/**
 * What the kernel tables of the CUDA benchmarks share ({@link KernelTables}, {@link ReadTables}): the bench device and
 * its stream, the 4 GiB read ceiling the GB/s columns are compared with, the Llama-7B shapes, weight copies that rotate
 * past L2, random activations, and cuBLAS on the bench stream.
 */
abstract class BenchTables {
    final BenchDevice d;
    final CudaModule mod;
    final Cuda cu;
    final long stream;
    /** The read ceiling the GB/s columns are compared with. */
    final double readGBs;

    /** The Llama-7B projection shapes [N x K]: o, gate or up, down, q+k+v, the LM head. */
    static final int[][] LLAMA_SHAPES = {{4096, 4096}, {11008, 4096}, {4096, 11008}, {12288, 4096}, {32000, 4096}};

    BenchTables(BenchDevice d, double readGBs) {
        this.d = d;
        this.mod = d.mod;
        this.cu = d.cu;
        this.stream = d.stream;
        this.readGBs = readGBs;
    }

    /** The model's row-major BF16 layout of an N x K weight (the batch-1 GEMV's, the split-K kernels', cuBLAS's bytes). */
    static SbiLayout.Shape rowMajorShape(int n, int k) {
        return SbiLayout.Shape.of(n, k, (n + 3) / 4 * 4, DType.BF16, false, true);
    }

    /** Weight copies to rotate through so that the 50-60 MB L2 cannot hold them (768 MB or more in all). */
    static int rotation(long bytes) { return (int) Math.max(2, (768L << 20) / bytes + 1); }

    /** cuBLAS on the bench stream, or null after a line saying why it cannot load. */
    Cublas openBlas() {
        String[] why = new String[1];
        Cublas blas = Cublas.open(stream, why);
        if (blas == null) System.out.println("cuBLAS: " + why[0]);
        return blas;
    }

    /** A table's activations for up to {@code rows} rows of K: random fp32 ({@code x}) and the same in bf16 ({@code xb}), and an fp32 output [rows, n]. */
    record Acts(Cuda cu, long x, long xb, long y) implements AutoCloseable {
        static Acts of(BenchDevice d, int rows, int k, int n) {
            Acts a = new Acts(d.cu, d.cu.malloc(4L * rows * k), d.cu.malloc(2L * rows * k), d.cu.malloc(4L * rows * n));
            d.fill(a.x, 2L * rows * k, 23);   // random bf16 bit pairs: finite floats
            d.mod.launch("f32_to_bf16", 256, 1, 256, 0, d.stream, a.x, a.xb, (long) rows * k);
            return a;
        }

        @Override
        public void close() {
            cu.free(x);
            cu.free(xb);
            cu.free(y);
        }
    }
}
