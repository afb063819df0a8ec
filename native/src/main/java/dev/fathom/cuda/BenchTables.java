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

    /** One N x K pair of {@code -Dfathom.bench.shapes}. */
    private static final java.util.regex.Pattern SHAPE = java.util.regex.Pattern.compile("\\s*(\\d{1,6})\\s*x\\s*(\\d{1,6})\\s*");

    /**
     * The shapes the kernel tables run: {@code -Dfathom.bench.shapes=NxK[,NxK...]} (e.g. 22016x4096, the gated gate/up
     * pair the model launches as one matrix), else {@link #LLAMA_SHAPES}. K must be a multiple of 8 (16-byte rows).
     */
    static int[][] shapes() {
        String v = System.getProperty("fathom.bench.shapes", "").trim();
        if (v.isEmpty()) return LLAMA_SHAPES;
        String[] parts = v.split(",", -1);
        int[][] out = new int[parts.length][];
        for (int i = 0; i < parts.length; i++) {
            java.util.regex.Matcher m = SHAPE.matcher(parts[i]);
            boolean pair = m.matches();
            int n = pair ? Integer.parseInt(m.group(1)) : 0, k = pair ? Integer.parseInt(m.group(2)) : 0;
            if (n < 1 || k < 8 || k % 8 != 0)
                throw new IllegalArgumentException("-Dfathom.bench.shapes=" + v + ": give N x K pairs such as 4096x4096,22016x4096 (K a multiple of 8), not '"
                        + parts[i].trim() + "'");
            out[i] = new int[]{n, k};
        }
        return out;
    }

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

    /**
     * A plain read of {@code bytes} from each copy in turn ({@code read_probe_u4}, or its PDL form), at 2, 4 and 8
     * blocks of 256 threads per multiprocessor: the fastest, µs per launch.
     */
    double bestReadUs(long[] w, long bytes, long out, boolean pdl) {
        double best = Double.MAX_VALUE;
        for (int per : new int[]{2, 4, 8}) {
            int blocks = cu.smCount() * per;
            best = Math.min(best, d.perLaunchUs(w.length, c -> mod.launch(pdl, pdl ? "read_probe_u4p" : "read_probe_u4", blocks, 1, 256, 0, stream, w[c], bytes / 16, out)));
        }
        return best;
    }

    /**
     * Whether {@code cu} is older than sm_90, after the line saying that {@code what} (e.g. "the TMA kernels need") was not
     * measured for it.
     */
    static boolean lacksSm90(Cuda cu, String what) {
        if (cu.ccMajor() >= 9) return false;
        System.out.println("   (not measured: " + what + " sm_90, this GPU is sm " + cu.computeCapability() + ")");
        return true;
    }

    /** ‖b − a‖ / ‖a‖ over two products of the same operands (NaN where b has an unwritten, NaN-poisoned output). */
    static double relDiff(float[] a, float[] b) {
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) { num += (a[i] - b[i]) * (double) (a[i] - b[i]); den += a[i] * (double) a[i]; }
        return Math.sqrt(num / den);
    }

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
