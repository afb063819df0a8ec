package dev.fathom.cuda;

import dev.fathom.engine.tensor.DType;

import java.util.List;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Host side of the split-K cluster kernels: launch sizing, and the kernel's work partition (as sbi_tile.cuh indexes it); the TMA kernels are TmaKernelsTest's. */
class SbiSplitKTest {
    private static final String REG = SbiSplitK.DEFAULT_KERNEL;

    private static SbiLayout.Shape tiles(int n, int k) { return SbiLayout.Shape.of(n, k, (n + 15) / 16 * 16, DType.BF16, true); }

    @Test
    void planPicksTheMeasuredClusterSizesOnTheLlamaShapes() {
        int sms = 132;
        int[][] cases = {   // n, k, rows, expected cluster size (the fastest measured on an H200)
                {4096, 4096, 2, 8}, {4096, 4096, 4, 8}, {4096, 4096, 8, 8},
                {11008, 4096, 4, 4}, {11008, 4096, 8, 4},
                {4096, 11008, 4, 8}, {4096, 11008, 8, 8},
                {12288, 4096, 4, 4}, {12288, 4096, 8, 4},
                {32000, 4096, 2, 2}, {32000, 4096, 4, 2}, {32000, 4096, 8, 4}};
        for (int[] c : cases) {
            SbiLayout.Shape s = tiles(c[0], c[1]);
            SbiSplitK.Plan p = SbiSplitK.plan(REG, s, c[2], sms);
            assertEquals(c[3], p.cluster(), c[0] + "x" + c[1] + " rows " + c[2]);
            assertEquals((s.groups() + 7) / 8 * p.cluster(), p.blocks());
            assertEquals((s.kChunks() + p.cluster() - 1) / p.cluster() * (c[2] <= 4 ? 16 : 32) * 16, p.smem());
            assertTrue(p.smem() <= 44 * 1024, "no shared-memory opt-in on the Llama shapes");
            assertTrue(p.blocks() >= 2 * sms || p.cluster() == 8);
        }
        // small matrices take the largest cluster; a K whose smallest slice exceeds the opt-in limit has no plan
        assertEquals(8, SbiSplitK.plan(REG, tiles(64, 64), 8, sms).cluster());
        assertEquals(8, SbiSplitK.plan(REG, tiles(4096, 32768), 8, sms).cluster());
        assertNull(SbiSplitK.plan(REG, tiles(4096, 65536), 8, sms));
        assertTrue(SbiSplitK.plan(REG, tiles(4096, 65536), 4, sms) != null, "up to 4 rows keep half the fragments");
    }

    @Test
    void experimentKernelsReadRowMajorRowsAndTheXrOnesStageNothing() throws Exception {
        SbiLayout.Shape r = SbiLayout.Shape.of(11008, 4096, 11008, DType.BF16, false, true), t = tiles(64, 64);
        for (String kn : ReadTables.STAGE_KERNELS) {
            assertTrue(SbiSplitK.rowMajor(kn), kn);
            assertEquals(SbiSplitK.smem(r, 8, 4), SbiSplitK.fixed(kn, r, 8, 4).smem(), kn + " stages the fragments as the kernel it varies");
        }
        for (String kn : SbiSplitK.XR_KERNELS) {
            SbiSplitK.Plan p = SbiSplitK.fixed(kn, r, 8, 4);
            assertEquals(0, p.smem(), kn + " reads its activations in the loop");
            assertEquals(SbiSplitK.fixed(SbiSplitK.DEFAULT_ROW_MAJOR_KERNEL, r, 8, 4).blocks(), p.blocks());
            assertThrows(IllegalArgumentException.class, () -> SbiSplitK.fixed(kn, t, 2, 1), "row-major only");
            assertFalse(SbiSplitK.ROW_MAJOR_KERNELS.contains(kn), "an experiment is no choice for -Dfathom.cuda.splitKKernel");
        }
        for (String kn : SbiSplitK.RING_KERNELS) {
            int slots = SbiSplitK.ringSlots(kn);
            assertTrue(slots == 4 || slots == 8, kn);
            assertEquals(slots * 8 * 1024 + SbiSplitK.smem(r, 8, 4), SbiSplitK.fixed(kn, r, 8, 4).smem(), kn + ": the ring, then the fragments");
        }
        assertEquals(0, SbiSplitK.ringSlots(SbiSplitK.DEFAULT_ROW_MAJOR_KERNEL));
        // every named kernel is defined in the CUDA source that the build compiles
        String src = java.nio.file.Files.readString(java.nio.file.Path.of("src/main/cuda/splitk.cuh"));
        for (String kn : java.util.stream.Stream.concat(java.util.Arrays.stream(ReadTables.STAGE_KERNELS), SbiSplitK.EXPERIMENTS.stream()).toList())
            assertTrue(src.contains("KERNEL(" + kn + ","), kn + " is not defined in splitk.cuh");
    }

    @Test
    void kernelSwitchNamesTheSettingWhenWrongAndFollowsTheLayout() {
        SbiLayout.Shape t = tiles(64, 64), r = SbiLayout.Shape.of(64, 64, 64, DType.BF16, false, true);
        SystemProperties.with("fathom.cuda.splitKKernel", "sbimmx_bf16_8", () -> {
            var e = assertThrows(IllegalArgumentException.class, () -> SbiSplitK.Settings.read().kernel(t, 132));
            assertTrue(e.getMessage().startsWith("-Dfathom.cuda.splitKKernel=sbimmx_bf16_8: use one of"), e.getMessage());
        });
        SystemProperties.with("fathom.cuda.splitKKernel", "sbimmc_bf16_8", () -> {
            assertEquals("sbimmc_bf16_8", SbiSplitK.Settings.read().kernel(t, 132));
            assertEquals(SbiSplitK.DEFAULT_ROW_MAJOR_KERNEL, SbiSplitK.Settings.read().kernel(r, 132, 6), "a tile kernel is no choice for row-major weights");
        });
        // a row-major split-K kernel takes the rows the TMA routing leaves (past the narrow kernel's 4, or all of them without it)
        SystemProperties.with("fathom.cuda.splitKKernel", "sbimmr4p_bf16_8", () -> assertEquals("sbimmr4p_bf16_8", SbiSplitK.Settings.read().kernel(r, 132, 6)));
        assertEquals("sbimmr4p_bf16_8", CudaSettings.with(List.of("fathom.cuda.splitKKernel=sbimmr4p_bf16_8", "fathom.cuda.tmaWide=0"),
                () -> SbiSplitK.Settings.read().kernel(r, 132)));
        SystemProperties.with("fathom.cuda.splitKKernel", "sbimmt8_bf16_8", () -> {
            assertEquals("sbimmt8_bf16_8", SbiSplitK.Settings.read().kernel(r, 132));
            assertEquals(SbiSplitK.DEFAULT_KERNEL, SbiSplitK.Settings.read().kernel(t, 132));
            assertEquals(SbiSplitK.DEFAULT_ROW_MAJOR_KERNEL, SbiSplitK.Settings.read().kernel(SbiLayout.Shape.of(64, 77, 64, DType.BF16, false, true), 132),
                    "K % 4 != 0: the TMA kernel's activation map cannot take it");
        });
        assertEquals(SbiSplitK.DEFAULT_KERNEL, SbiSplitK.Settings.read().kernel(t, 132));
        assertEquals(SbiSplitK.NARROW_KERNEL, SbiSplitK.Settings.read().kernel(r, 132));
        assertEquals(SbiSplitK.DEFAULT_ROW_MAJOR_KERNEL, SbiSplitK.Settings.read().kernel(r, 132, 6));
        assertThrows(IllegalArgumentException.class, () -> SbiSplitK.fixed("sbimmc4_bf16_8", r, 2, 1), "layout mismatch");
    }

    @Test
    void planForTakesTwoToEightRowsOfBf16OnClusterGpusUnlessSwitchedOff() {
        SbiSplitK.Settings on = SbiSplitK.Settings.read();
        SbiLayout.Shape rm = SbiLayout.Shape.of(4096, 4096, 4096, DType.BF16, false, true), t = tiles(4096, 4096),
                simt = SbiLayout.Shape.of(4096, 4096, 4096, DType.BF16, false, false), f32 = SbiLayout.Shape.of(4096, 4096, 4096, DType.F32, false, false);
        for (int rows = 2; rows <= 8; rows++) {
            assertEquals(rows <= SbiSplitK.DEFAULT_NARROW_ROWS ? SbiSplitK.NARROW_KERNEL : SbiSplitK.DEFAULT_ROW_MAJOR_KERNEL,
                    SbiSplitK.planFor(9, 132, on, rm, rows).kernel(), rows + " rows");
            assertEquals(SbiSplitK.DEFAULT_KERNEL, SbiSplitK.planFor(9, 132, on, t, rows).kernel());
            int r = rows;
            SystemProperties.with("fathom.cuda.tmaWide", "0",
                    () -> assertEquals(SbiSplitK.DEFAULT_ROW_MAJOR_KERNEL, SbiSplitK.planFor(9, 132, SbiSplitK.Settings.read(), rm, r).kernel(), "no TMA routing"));
        }
        assertNull(SbiSplitK.planFor(9, 132, on, rm, 1), "one row: the GEMV");
        assertNull(SbiSplitK.planFor(9, 132, on, rm, 9), "more rows: cuBLAS or the other kernels");
        assertNull(SbiSplitK.planFor(8, 108, on, rm, 4), "sm_80 has no thread-block clusters");
        assertNull(SbiSplitK.planFor(9, 132, on, simt, 4), "the 4-row SIMT layout");
        assertNull(SbiSplitK.planFor(9, 132, on, f32, 4), "F32 weights");
        SystemProperties.with("fathom.cuda.splitK", "false", () -> {
            assertFalse(SbiSplitK.Settings.read().enabled());
            assertNull(SbiSplitK.planFor(9, 132, SbiSplitK.Settings.read(), rm, 4));
        });
    }

    /**
     * Every (row tile, k tile) is streamed by exactly one warp and every output written by exactly one thread, over
     * both layouts (row-major: K slices of whole pairs of k tiles, 16-row tiles over the 4-row stored groups, gated
     * outputs reading the SIMT order [gate_a, gate_b, up_a, up_b] of each group), as splitk.cuh indexes them.
     */
    @Test
    void blocksCoverEveryTileAndOutputOnce() {
        for (boolean rm : new boolean[]{false, true})
            for (int[] nk : new int[][]{{64, 64}, {172, 64}, {37, 1000}, {100, 77}, {1000, 300}, {4096, 4096}})
                for (int mode = 0; mode < 3; mode++) {
                    int n = nk[0], k = nk[1];
                    int stored = rm ? (mode == 1 ? (n + 1) / 2 * 4 : (n + 3) / 4 * 4) : mode == 1 ? (n + 7) / 8 * 16 : (n + 15) / 16 * 16;
                    SbiLayout.Shape s = SbiLayout.Shape.of(n, k, stored, DType.BF16, !rm, rm);
                    int rt = SbiSplitK.rowTiles(s), kt = SbiSplitK.kTiles(s);
                    assertEquals((stored + 15) / 16, rt);
                    if (rm) assertEquals(0, kt % 2, "whole 256-column chunks");
                    String kn = rm ? SbiSplitK.DEFAULT_ROW_MAJOR_KERNEL : SbiSplitK.DEFAULT_KERNEL;
                    for (int c = 1; c <= 8; c *= 2)
                        for (int rows : new int[]{2, 3, 5, 8}) {
                            SbiSplitK.Plan p = SbiSplitK.fixed(kn, s, rows, c);
                            int[] tileSeen = new int[rt * kt], outSeen = new int[rows * n], storedSeen = new int[rows * stored];
                            int per = rm ? 2 * ((kt / 2 + c - 1) / c) : (kt + c - 1) / c;
                            for (int bx = 0; bx < p.blocks(); bx++) {
                                int rank = bx % c, rg = bx / c, kt0 = rank * per, cnt = Math.max(0, Math.min(kt, kt0 + per) - kt0);
                                assertTrue(cnt * (rows <= 4 ? 16 : 32) * 16 <= p.smem());
                                for (int warp = 0; warp < 8; warp++)
                                    if (rg * 8 + warp < rt)
                                        for (int j = 0; j < cnt; j++) tileSeen[(rg * 8 + warp) * kt + kt0 + j]++;
                                int orows = mode == 1 ? 8 : 16, perB = 8 * orows, total = perB * rows;
                                for (int e0 = rank * 256; e0 < total; e0 += c * 256)
                                    for (int e = e0; e < Math.min(total, e0 + 256); e++) {
                                        int b = e / perB, tl = (e % perB) / orows, r = e % orows, tt = rg * 8 + tl;
                                        int o = mode == 1 ? tt * 8 + r : tt * 16 + r;
                                        if (tt >= rt || o >= n) continue;
                                        outSeen[b * n + o]++;
                                        if (mode == 1) {   // the stored rows the epilogue reads as this output's gate and up
                                            int gr = rm ? (r >> 1) * 4 + (r & 1) : r, ur = rm ? gr + 2 : r + 8;
                                            int gate = tt * 16 + gr, up = tt * 16 + ur;
                                            if (rm) {   // SIMT gated groups: output o = 2 * group + i
                                                assertEquals(o / 2 * 4 + o % 2, gate);
                                                assertEquals(o / 2 * 4 + 2 + o % 2, up);
                                            }
                                            storedSeen[b * stored + gate]++;
                                            storedSeen[b * stored + up]++;
                                        }
                                    }
                            }
                            for (int v : tileSeen) assertEquals(1, v);
                            for (int v : outSeen) assertEquals(1, v);
                            if (mode == 1)   // every stored row of a written output read once
                                for (int b = 0; b < rows; b++)
                                    for (int sr = 0; sr < stored; sr++)
                                        assertTrue(storedSeen[b * stored + sr] <= 1);
                        }
                }
    }
}
