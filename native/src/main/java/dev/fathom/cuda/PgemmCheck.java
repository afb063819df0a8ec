package dev.fathom.cuda;

import dev.fathom.cuda.CudaSelfCheck.GemmResult;
import dev.fathom.engine.tensor.DType;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * The pgemm kernels ({@link Pgemm}, pgemm.cuh) on the GPU against float64 on the CPU: fresh random bf16 x and W (never
 * zeros), every kernel, row counts that fill, cross and overrun their tiles, widths and K that end inside a tile, K
 * split 1, 3, the plan's and more ways than it has steps (the large shapes: 8 and 128 rows, split 1 and the plan's, the
 * reference on four rows), with and without accumulation onto what y holds. The output
 * is poisoned with NaN (or holds random values to accumulate onto); the columns past n and the rows past m carry a
 * sentinel that must survive. Each case runs twice from the same start and must give the same bits (the partials meet
 * in split order whichever block finishes last), and every ticket must be back at 0 afterwards. Run by
 * {@link CudaSelfCheck} and {@code CudaGpuTest}.
 */
final class PgemmCheck {
    private PgemmCheck() {}

    private static final float SENTINEL = 12345.5f;

    /** All cases; prints a line per failure and per large case, returns the results. */
    static List<GemmResult> run(long seed) {
        CudaModule mod = CudaModule.get();
        Cuda cu = mod.cuda();
        cu.makeCurrent();
        long stream = cu.streamCreate();
        List<GemmResult> out = new ArrayList<>();
        try (PromptGemm pg = new PromptGemm(cu, mod, stream)) {
            if (!pg.available()) {
                out.add(new GemmResult("pgemm: cuBLAS (its fallback) did not load: " + pg.unavailableReason(), Double.NaN, false));
                return out;
            }
            int[][] shapes = {{128, 64}, {37, 1000}, {1000, 296}, {130, 136}, {4096, 4096}, {300, 11008}};
            for (Pgemm.Kernel kn : Pgemm.Kernel.values())
                for (int[] s : shapes)
                    for (int rows : new int[]{1, 5, 8, 31, 33, 64, 100, 128, 130})
                        for (int splits : new int[]{1, 3, 0, 40})
                            for (boolean acc : new boolean[]{false, true}) {
                                boolean big = (long) s[0] * s[1] > 1 << 20;
                                if (big && (rows != 8 && rows != 128 || splits == 3 || splits == 40 || acc && splits != 0)) continue;
                                if (!big && (rows == 100 || rows == 64) && splits == 40) continue;
                                out.add(one(pg, cu, stream, kn, s[0], s[1], rows, splits, acc, seed++));
                            }
            out.add(ticketsClear(pg, cu, stream));
        } finally {
            cu.streamDestroy(stream);
        }
        return out;
    }

    private static GemmResult one(PromptGemm pg, Cuda cu, long stream, Pgemm.Kernel kn, int n, int k, int rows, int splits, boolean acc, long seed) {
        Random rnd = new Random(seed);
        int ldw = k + 16, ldx = k + 8, ldy = n + 3, yRows = rows + 2;   // strides past the data; two rows past m
        float[] w = new float[n * ldw], x = new float[rows * ldx], y0 = new float[yRows * ldy];
        for (int i = 0; i < w.length; i++) w[i] = nonZero(rnd);
        for (int i = 0; i < x.length; i++) x[i] = nonZero(rnd);
        for (int r = 0; r < yRows; r++)
            for (int c = 0; c < ldy; c++) y0[r * ldy + c] = r >= rows || c >= n ? SENTINEL : acc ? nonZero(rnd) : Float.NaN;
        Pgemm.Plan p = Pgemm.plan(kn, n, k, rows, pg.pgemmSlots(kn), PromptGemm.PGEMM_WS, splits);
        String what = String.format("pgemm %-5s n=%d k=%d rows=%d splits=%d%s%s", kn.bm + "x" + kn.stages, n, k, rows, p == null ? -1 : p.splits(),
                splits == 0 ? " (plan)" : "", acc ? " accumulate" : "");
        if (p == null) return new GemmResult(what + ": no plan", Double.NaN, false);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment hw = AttentionCheck.bf16(w, a), hx = AttentionCheck.bf16(x, a), hy = a.allocate(4L * y0.length, 16);
            MemorySegment.copy(y0, 0, hy, ValueLayout.JAVA_FLOAT, 0, y0.length);
            long dw = cu.malloc(hw.byteSize()), dx = cu.malloc(hx.byteSize()), dy = cu.malloc(hy.byteSize());
            try {
                cu.copyToDevice(dw, hw, hw.byteSize(), stream);
                cu.copyToDevice(dx, hx, hx.byteSize(), stream);
                float[][] got = new float[2][];
                for (int run = 0; run < 2; run++) {
                    cu.copyToDevice(dy, hy, hy.byteSize(), stream);
                    pg.launch(p, dw, ldw, dx, ldx, dy, ldy, n, k, rows, acc);
                    MemorySegment back = a.allocate(hy.byteSize(), 16);
                    cu.copyToHost(back, dy, hy.byteSize(), stream);
                    cu.synchronize(stream);
                    got[run] = back.toArray(ValueLayout.JAVA_FLOAT);
                }
                double maxErr = 0, maxRef = 1e-30;
                boolean written = true;
                // large cases: every output must be finite and repeat, the float64 reference is taken on four rows
                boolean sample = (long) n * k > 1 << 20;
                for (int r = 0; r < yRows; r++)
                    for (int c = 0; c < ldy; c++) {
                        float g = got[0][r * ldy + c];
                        if (Float.floatToRawIntBits(g) != Float.floatToRawIntBits(got[1][r * ldy + c])) written = false;   // not the same bits twice
                        if (r >= rows || c >= n) {
                            if (g != SENTINEL) written = false;
                            continue;
                        }
                        if (!Float.isFinite(g)) written = false;
                        if (sample && r != 0 && r != 1 && r != rows / 2 && r != rows - 1) continue;
                        double ref = acc ? y0[r * ldy + c] : 0;
                        for (int i = 0; i < k; i++) ref += (double) bf(x[r * ldx + i]) * bf(w[c * ldw + i]);
                        maxErr = Math.max(maxErr, Math.abs(g - ref));
                        maxRef = Math.max(maxRef, Math.abs(ref));
                    }
                return new GemmResult(what, maxErr / maxRef, written);
            } finally {
                cu.free(dw);
                cu.free(dx);
                cu.free(dy);
            }
        }
    }

    /** Every ticket back at 0 after the cases (a graph replay or the next launch starts from there). */
    private static GemmResult ticketsClear(PromptGemm pg, Cuda cu, long stream) {
        int[] t = pg.pgemmTickets(stream);
        int bad = 0;
        for (int v : t) if (v != 0) bad++;
        return new GemmResult("pgemm tickets back at 0 (" + bad + " of " + t.length + " not)", bad == 0 ? 0 : 1, bad == 0);
    }

    private static float nonZero(Random r) {
        float v = (float) r.nextGaussian();
        return Math.abs(v) < 1e-3f ? 0.5f : v;
    }

    private static float bf(float v) { return DType.bf16ToFloat(DType.floatToBf16(v)); }
}
