package dev.fathom.engine.cpu.vector;

import dev.fathom.engine.cpu.ReferenceKernels;
import dev.fathom.engine.model.Linear;
import dev.fathom.engine.model.ModelConfig;
import dev.fathom.engine.tensor.DType;
import dev.fathom.engine.tensor.Tensor;
import dev.fathom.profiles.Precision;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Each vector kernel against {@link ReferenceKernels} on fresh random inputs, over shapes that are and
 * are not multiples of the vector length (16 floats with AVX-512), for every weight dtype.
 *
 * <p>Tolerance of projections: |fast - ref| <= 1e-5 * sum_i |x_i w_i| + 1e-6 per output (both are
 * float32 sums of the same products in a different order). INT8 is compared with the reference run on
 * the dequantized weights (the same tolerance), and the quantization itself is checked to be within
 * half a step of every weight.
 */
class VectorKernelsTest {
    static final int[][] SHAPES = { // rows, out, in
            {1, 37, 53}, {1, 64, 256}, {3, 16, 64}, {4, 33, 135}, {5, 40, 131}, {7, 9, 200}, {33, 19, 100}, {40, 66, 96}, {37, 5, 17}};
    static Arena arena;
    static VectorKernels fast;
    static final ReferenceKernels ref = new ReferenceKernels();
    final Random rnd = new Random(System.nanoTime());

    @BeforeAll static void open() {
        arena = Arena.ofShared();
        fast = new VectorKernels(2, Precision.AUTO);
    }

    @AfterAll static void close() {
        fast.close();
        arena.close();
    }

    float[] random(int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) rnd.nextGaussian();
        return a;
    }

    Tensor tensor(DType d, int rows, int cols, float[] v) { return Tensor.of("w", d, new long[]{rows, cols}, v, arena); }

    /** Asserts |a-b| <= 1e-5 * sum|x w| + 1e-6 elementwise, the scale taken from |x| |W|. */
    static void assertClose(String what, float[] got, float[] want, float[] x, Tensor w, int rows) {
        int out = w.rows(), in = w.cols();
        float[] wf = new float[in];
        for (int o = 0; o < out; o++) {
            w.readRow(o, wf, 0);
            for (int r = 0; r < rows; r++) {
                double scale = 0;
                for (int i = 0; i < in; i++) scale += Math.abs(x[r * in + i] * wf[i]);
                double err = Math.abs(got[r * out + o] - want[r * out + o]);
                if (!(err <= 1e-5 * scale + 1e-6)) fail(what + ": row " + r + " out " + o + " got " + got[r * out + o] + " want " + want[r * out + o]);
            }
        }
    }

    @Test void linearEveryDtypeAndShape() {
        for (DType d : new DType[]{DType.F32, DType.BF16, DType.F16})
            for (int[] s : SHAPES) {
                int rows = s[0], out = s[1], in = s[2];
                Tensor w = tensor(d, out, in, random(out * in));
                Tensor b = Tensor.ofFloats("b", new long[]{out}, random(out), arena);
                float[] x = random(rows * in);
                float[] want = new float[rows * out], got = new float[rows * out];
                ref.linear(x, rows, new Linear(w, b), true, want);
                fast.linear(x, rows, new Linear(w, b), true, got);
                assertClose(d + " " + java.util.Arrays.toString(s), got, want, x, w, rows);
            }
    }

    @Test void linearOnStridedColumnSlice() {
        for (DType d : new DType[]{DType.F32, DType.BF16}) {
            Tensor full = tensor(d, 24, 150, random(24 * 150));
            Tensor w = full.sliceCols(37, 37 + 70);
            for (int rows : new int[]{1, 6, 34}) {
                float[] x = random(rows * 70), want = new float[rows * 24], got = new float[rows * 24];
                ref.linear(x, rows, new Linear(w, null), false, want);
                fast.linear(x, rows, new Linear(w, null), false, got);
                assertClose("strided " + d + " rows " + rows, got, want, x, w, rows);
            }
        }
    }

    @Test void linearGroupMatchesSeparateProjections() {
        for (int rows : new int[]{1, 5, 36}) {
            int in = 77;
            Linear[] ws = new Linear[3];
            float[][] got = new float[3][], want = new float[3][];
            int[] outs = {48, 16, 21};
            for (int m = 0; m < 3; m++) {
                ws[m] = new Linear(tensor(DType.BF16, outs[m], in, random(outs[m] * in)), Tensor.ofFloats("b", new long[]{outs[m]}, random(outs[m]), arena));
                got[m] = new float[rows * outs[m]];
                want[m] = new float[rows * outs[m]];
            }
            float[] x = random(rows * in);
            fast.linearGroup(x, rows, ws, 3, true, got);
            for (int m = 0; m < 3; m++) {
                ref.linear(x, rows, ws[m], true, want[m]);
                assertClose("group m=" + m + " rows " + rows, got[m], want[m], x, ws[m].weight(), rows);
            }
        }
    }

    @Test void int8MatchesDequantizedReference() {
        try (VectorKernels q8 = new VectorKernels(2, Precision.INT8)) {
            for (int[] s : SHAPES) {
                int rows = s[0], out = s[1], in = s[2];
                float[] wv = random(out * in);
                Tensor w = tensor(DType.F32, out, in, wv);
                // quantize independently, dequantize, and check every weight is within half a step
                int groups = (in + PackedWeight.GROUP - 1) / PackedWeight.GROUP;
                MemorySegment qs = arena.allocate((long) out * in);
                float[] sc = new float[out * groups];
                float[] deq = new float[out * in], row = new float[in];
                for (int o = 0; o < out; o++) {
                    System.arraycopy(wv, o * in, row, 0, in);
                    WeightStore.quantizeRow(row, in, qs, (long) o * in, sc, o * groups);
                    for (int i = 0; i < in; i++) {
                        float scale = sc[o * groups + i / PackedWeight.GROUP];
                        deq[o * in + i] = qs.get(java.lang.foreign.ValueLayout.JAVA_BYTE, (long) o * in + i) * scale;
                        assertTrue(Math.abs(deq[o * in + i] - wv[o * in + i]) <= scale / 2 * 1.0001f, "quantization step");
                    }
                }
                Tensor wd = tensor(DType.F32, out, in, deq);
                float[] x = random(rows * in), want = new float[rows * out], got = new float[rows * out];
                ref.linear(x, rows, new Linear(wd, null), false, want);
                q8.linear(x, rows, new Linear(w, null), false, got);
                assertClose("int8 " + java.util.Arrays.toString(s), got, want, x, wd, rows);
            }
        }
    }

    @Test void precisionConversionMatchesRoundedWeights() {
        for (Precision p : new Precision[]{Precision.BF16, Precision.F16, Precision.F32}) {
            DType target = p == Precision.BF16 ? DType.BF16 : p == Precision.F16 ? DType.F16 : DType.F32;
            DType source = p == Precision.F32 ? DType.BF16 : DType.F32;
            try (VectorKernels k = new VectorKernels(2, p)) {
                int rows = 3, out = 29, in = 90;
                float[] wv = random(out * in);
                Tensor w = tensor(source, out, in, wv);
                Tensor rounded = tensor(target, out, in, tensor(source, out, in, wv).toFloatArray());
                float[] x = random(rows * in), want = new float[rows * out], got = new float[rows * out];
                ref.linear(x, rows, new Linear(rounded, null), false, want);
                k.linear(x, rows, new Linear(w, null), false, got);
                assertClose("convert to " + p, got, want, x, rounded, rows);
                assertTrue(k.weightBytes(new Linear(w, null)) == (long) out * in * target.size, "bytes of the converted copy");
            }
        }
    }

    @Test void attentionBothPhases() {
        int[][] cases = { // t, p0, heads, kvHeads, headDim
                {1, 0, 4, 4, 16}, {1, 9, 4, 2, 16}, {1, 70, 8, 2, 64}, {3, 33, 4, 4, 64}, {1, 40, 8, 2, 20}, {5, 0, 4, 2, 16}, {6, 11, 2, 1, 33}, {17, 0, 4, 1, 64}};
        for (int[] c : cases) {
            int t = c[0], p0 = c[1], heads = c[2], kvh = c[3], hd = c[4], len = p0 + t;
            float[] q = random(t * heads * hd), k = random(len * kvh * hd), v = random(len * kvh * hd);
            float[] want = new float[t * heads * hd], got = new float[t * heads * hd];
            ref.attention(q, 0, t, p0, k, v, heads, kvh, hd, want);
            fast.attention(q, 0, t, p0, k, v, heads, kvh, hd, got);
            for (int i = 0; i < want.length; i++)
                assertTrue(Math.abs(got[i] - want[i]) <= 2e-5 * (1 + Math.abs(want[i])), "attention " + java.util.Arrays.toString(c) + " at " + i + ": " + got[i] + " vs " + want[i]);
        }
    }

    @Test void normsAndActivation() {
        for (int n : new int[]{17, 64, 100}) {
            int rows = 3;
            float[] x = random(rows * n);
            Tensor w = tensor(DType.BF16, 1, n, random(n)).reshape(n), b = Tensor.ofFloats("b", new long[]{n}, random(n), arena);
            float[] a1 = new float[rows * n], a2 = new float[rows * n];
            ref.rmsNorm(x, rows, n, w, 1e-5f, a1);
            fast.rmsNorm(x, rows, n, w, 1e-5f, a2);
            for (int i = 0; i < a1.length; i++) assertTrue(Math.abs(a1[i] - a2[i]) <= 1e-5 * (1 + Math.abs(a1[i])), "rmsNorm n=" + n);
            ref.layerNorm(x, rows, n, w, b, 1e-5f, a1);
            fast.layerNorm(x, rows, n, w, b, 1e-5f, a2);
            for (int i = 0; i < a1.length; i++) assertTrue(Math.abs(a1[i] - a2[i]) <= 1e-5 * (1 + Math.abs(a1[i])), "layerNorm n=" + n);
            float[] g = random(rows * n), u1 = random(rows * n), u2 = u1.clone();
            for (int i = 0; i < u1.length; i++) u1[i] *= dev.fathom.engine.cpu.Activations.apply(ModelConfig.Activation.SILU, g[i]);
            fast.gatedActivation(ModelConfig.Activation.SILU, u2, g, rows * n);
            for (int i = 0; i < u1.length; i++) assertTrue(Math.abs(u1[i] - u2[i]) <= 1e-6 * (1 + Math.abs(u1[i])), "silu n=" + n);
        }
    }

    @Test void poolRunsEveryChunkOnceAndPropagatesFailures() {
        try (WorkerPool p = new WorkerPool(3)) {
            for (int rep = 0; rep < 2000; rep++) {
                int chunks = 1 + rep % 37;
                java.util.concurrent.atomic.AtomicIntegerArray hits = new java.util.concurrent.atomic.AtomicIntegerArray(chunks);
                p.run(new WorkerPool.Task() {
                    @Override public int chunks() { return chunks; }
                    @Override public void run(int c, int w) { hits.incrementAndGet(c); }
                });
                for (int c = 0; c < chunks; c++) assertTrue(hits.get(c) == 1, "chunk " + c + " of " + chunks + " ran " + hits.get(c) + " times");
            }
            try {
                p.run(new WorkerPool.Task() {
                    @Override public int chunks() { return 16; }
                    @Override public void run(int c, int w) { if (c == 11) throw new IllegalStateException("boom"); }
                });
                fail("a failing chunk must reach the caller");
            } catch (IllegalStateException e) {
                assertTrue(e.getMessage().equals("boom"));
            }
        }
    }
}
