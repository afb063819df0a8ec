package dev.fathom.cuda;

import dev.fathom.cuda.CudaSelfCheck.GemmResult;
import dev.fathom.engine.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Checks of the INT8 weight-only path on the GPU against float64 on the CPU, over weights quantized here from the same
 * rows: the sbi8 kernels, the cuBLAS prompt path over dequantized weights, and every fixture with INT8 weights against
 * the cpu backend's INT8 run. Run by {@link CudaSelfCheck} ({@code int8} mode) and {@code CudaGpuTest}; the harness
 * (inputs, device buffers, NaN-poisoned outputs, the float64 compare) is {@link CudaSelfCheck}'s.
 */
final class Int8Check {
    private Int8Check() {}

    /**
     * The INT8 kernels {@code prefix} ({@link Int8Layout#PREFIX} pipelined, {@code REGS_PREFIX}, {@code SCALED_PREFIX}) on
     * fresh random inputs against a float64 reference over the dequantized weights (q * scale, quantized on the CPU from
     * the same rows). Outputs poisoned with NaN first; rows over 8 go through in launches of up to 8 as the model runs
     * them. {@code ks} 0: the launch plan's split of K.
     */
    public static GemmResult gemm8(int n, int k, int rows, int mode, int group, int ks, String prefix, long seed) {
        return gemm8(n, k, rows, mode, group, ks, prefix, false, seed);
    }

    /**
     * The INT8 prompt path: the same packed weights dequantized to row-major bf16 ({@code dequant_i8_bf16}) and multiplied
     * by {@link PromptGemm} (bf16 activations, cuBLAS, the BF16 epilogues; mode 0 accumulates onto the residual in place,
     * as the model's out-projection does). Same float64 reference over q * scale; NaN-poisoned output.
     */
    public static GemmResult gemm8Blas(int n, int k, int rows, int mode, int group, long seed) {
        return gemm8(n, k, rows, mode, group, 0, "", true, seed);
    }

    private static GemmResult gemm8(int n, int k, int rows, int mode, int group, int ks, String prefix, boolean blas, long seed) {
        CudaModule mod = CudaModule.get();
        Cuda cu = mod.cuda();
        cu.makeCurrent();
        CudaSelfCheck.Inputs in = CudaSelfCheck.Inputs.random(n, k, rows, mode, seed);
        try (Arena a = Arena.ofShared()) {
            Tensor w = Tensor.ofFloats("w", new long[]{in.outRows(), k}, in.w(), a);
            CudaSelfCheck.Rows src = in.rows(w, SbiLayout.GROUP, a);
            SbiLayout.Shape[] shape = new SbiLayout.Shape[1];
            MemorySegment packed = Int8Layout.pack(src.src(), src.order()[0], src.order()[1], n, k, group, a, shape);
            // the reference: each source row quantized on its own (not read back from the packed buffer)
            int ng = Int8Layout.scaleGroups(k, group);
            float[] deq = new float[in.outRows() * k], row = new float[k], sc = new float[ng];
            MemorySegment q = a.allocate(k);
            for (int o = 0; o < in.outRows(); o++) {
                System.arraycopy(in.w(), o * k, row, 0, k);
                Int8Layout.quantize(row, k, group, q, 0, sc, 0);
                for (int i = 0; i < k; i++) deq[o * k + i] = q.get(ValueLayout.JAVA_BYTE, i) * sc[i / group];
            }
            SbiLayout.Launch l = ks == 0 ? Int8Layout.plan(shape[0], cu.smCount()) : Int8Layout.launch(shape[0], ks);
            int vec = k % 4 == 0 ? 1 : 0;
            Int8Layout.optIn(mod);
            try (CudaSelfCheck.Buffers d = new CudaSelfCheck.Buffers(cu, packed, src, in, a)) {
                long scales = d.w + Int8Layout.scaleOffset(shape[0]);
                if (blas) {
                    try (PromptGemm pg = new PromptGemm(cu, mod, d.stream)) {
                        if (!pg.available()) return new GemmResult("cuBLAS: " + pg.unavailableReason(), Double.NaN, false);
                        PromptGemm.Sizes sz = new PromptGemm.Sizes();
                        sz.add(shape[0], mode == 1);
                        pg.reserve(sz, rows);
                        if (!pg.fits(shape[0], mode)) throw new IllegalStateException("scratch from Sizes does not hold " + shape[0]);
                        pg.unpack(d.w, shape[0], scales, group);
                        if (mode == 0) cu.copyDeviceToDevice(d.y, d.r, 4L * rows * n, d.stream);
                        pg.multiply(shape[0], d.b, d.x, k, rows, d.y, n, mode == 0 ? d.y : 0L, mode, mode == 1 ? 3 : 2);
                        cu.synchronize(d.stream);
                    }
                    return in.compare(String.format("INT8 cublas/g%d n=%d k=%d rows=%d mode=%d", group, n, k, rows, mode), d.output(a),
                            (o, i) -> deq[o * k + i]);
                }
                for (Int8Layout.Batch b : Int8Layout.batches(rows, prefix)) {
                    int t = b.first();
                    mod.launch(b.kernel(), l.blocks(), 1, 256, Int8Layout.smem(prefix), d.stream, d.w, d.x + 4L * t * k, k, k, shape[0].kChunks(), shape[0].groups(), l.ks(),
                            d.b, mode == 0 ? d.r + 4L * t * n : 0L, d.y + 4L * t * n, n, n, b.rows(), mode, mode == 1 ? 3 : 2, vec,
                            scales, Int8Layout.groupShift(group));
                }
                String what = String.format("INT8 %s/g%d n=%d k=%d rows=%d mode=%d ks=%d", prefix, group, n, k, rows, mode, l.ks());
                return in.compare(what, d.output(a), (o, i) -> deq[o * k + i]);
            }
        }
    }

    /**
     * INT8: the sbi8 kernels against float64 over the dequantized weights (batches of 1, 2, 4, 8 rows and 11 = 8 + 3, all
     * three modes, scale groups of 128 and 64, every split of K, the register and scaled-weight variants), the cuBLAS prompt
     * path ({@link #int8BlasChecks}), then every fixture with INT8 weights on the cuda backend against the cpu backend's
     * INT8 run, with no, the prompt's, and every GEMM through cuBLAS. Prints a table, returns whether all passed.
     */
    static boolean int8Checks(Path dir, long seed) {
        boolean ok = true;
        int[][] shapes = {{64, 64}, {172, 300}, {1000, 1030}, {37, 520}, {24, 11008}, {4096, 4096}};
        List<GemmResult> rs = new ArrayList<>();
        for (int[] s : shapes)
            for (int rows : new int[]{1, 2, 4, 8, 11})
                for (int mode = 0; mode < 3; mode++)
                    for (int group : new int[]{128, 64}) {
                        if (s[0] * (long) s[1] > 1 << 20 && (rows == 2 || rows == 11 || group == 64)) continue;
                        rs.add(gemm8(s[0], s[1], rows, mode, group, 0, Int8Layout.PREFIX, seed++));
                    }
        for (int ks : new int[]{1, 2, 4, 8})
            for (int rows : new int[]{1, 8}) rs.add(gemm8(512, 4096, rows, ks == 4 ? 1 : 0, 128, ks, Int8Layout.PREFIX, seed++));
        for (String prefix : new String[]{Int8Layout.REGS_PREFIX, Int8Layout.SCALED_PREFIX})
            for (int rows : new int[]{1, 2, 4, 8, 11})
                for (int mode = 0; mode < 3; mode++) rs.add(gemm8(1000, 1030, rows, mode, 128, 0, prefix, seed++));
        for (GemmResult r : rs) {
            boolean pass = r.ok(1e-4);
            ok &= pass;
            System.out.println(r.line(pass));
        }
        ok &= int8BlasChecks(seed + (1L << 40));
        System.out.printf("%-18s %-12s %5s %-7s %12s %12s %8s %12s %s%n", "int8 fixture", "weights", "group", "cublas", "prompt rel", "step rel",
                "tokens", "vs HF prompt", "result (cuda int8 vs cpu int8)");
        for (String f : FixtureCheck.FIXTURES)
            for (FixtureCheck.Int8Blas blas : FixtureCheck.Int8Blas.values()) {
                try {
                    FixtureCheck.Int8FixtureResult r = FixtureCheck.fixtureInt8(dir.resolve(f), blas);
                    ok &= r.ok();
                    System.out.printf("%-18s %-12s %5d %-7s %12.3e %12.3e %8s %12.3e %s%n", f, r.weights(), r.group(), blas, r.promptErr(),
                            r.stepErr(), r.sameTokens(), r.hfPromptErr(), r.ok() ? "ok" : "FAIL");
                } catch (RuntimeException e) {
                    ok = false;
                    System.out.printf("%-18s int8 %s FAIL %s%n", f, blas, e);
                    e.printStackTrace(System.out);
                }
            }
        return ok;
    }

    /** Shapes of the INT8 cuBLAS checks: odd K (300, 1000, 172, 1030), few output rows (37), a llama-7b projection. */
    static final int[][] INT8_BLAS_SHAPES = {{1000, 300}, {37, 1000}, {172, 64}, {64, 172}, {1000, 1030}, {4096, 4096}};

    /**
     * The INT8 prompt path ({@link #gemm8Blas}) against float64 over the dequantized weights: 33, 130 and 600 rows, every
     * mode, scale groups of 128 and 64; tolerance 1e-2 as the BF16 cuBLAS checks (weights and activations in bf16).
     */
    static boolean int8BlasChecks(long seed) {
        boolean ok = true;
        for (int[] s : INT8_BLAS_SHAPES)
            for (int rows : new int[]{33, 130, 600})
                for (int mode = 0; mode < 3; mode++)
                    for (int group : new int[]{128, 64}) {
                        if (s[0] * (long) s[1] > 1 << 20 && (rows != 130 || mode != 0 || group == 64)) continue;   // the float64 reference is slow
                        GemmResult r = gemm8Blas(s[0], s[1], rows, mode, group, seed++);
                        boolean pass = r.ok(1e-2);
                        ok &= pass;
                        System.out.println(r.line(pass));
                    }
        return ok;
    }
}
