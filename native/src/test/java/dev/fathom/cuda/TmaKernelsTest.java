package dev.fathom.cuda;

import dev.fathom.engine.tensor.DType;
import java.util.List;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Host side of the TMA-fed kernels (tma.cuh): their shapes as tma.cuh defines them, plans, the partition of the work
 * (clusters over K, and the stream-K units, slots and owners as the kernels walk them), and which kernel the model
 * routes each wide row-major matrix to. The split-K cluster kernels over the tile layout are SbiSplitKTest's.
 */
class TmaKernelsTest {
    private static SbiLayout.Shape tiles(int n, int k) { return SbiLayout.Shape.of(n, k, (n + 15) / 16 * 16, DType.BF16, true); }

    /**
     * The TMA kernels (tma.cuh): stage memory, one wave per plan, refusals, and the partition of K into 64-column
     * chunks over the cluster and of the outputs over 288 threads, as the kernel indexes them.
     */
    @Test
    void tmaKernelsPlanOneWaveAndCoverEveryChunkAndOutputOnce() throws Exception {
        SbiLayout.Shape r = SbiLayout.Shape.of(11008, 4096, 11008, DType.BF16, false, true);
        String src = java.nio.file.Files.readString(java.nio.file.Path.of("src/main/cuda/tma.cuh"));
        for (String kn : TmaKernels.TMA_TRACE_KERNELS) {   // the trace variants: a kernel of TMA_KERNELS with TR set
            String plain = kn.replace("t_bf16", "_bf16");
            assertTrue(TmaKernels.TMA_KERNELS.contains(plain), kn);
            assertEquals(kn, TmaKernels.traceName(plain));
            if (TmaKernels.streamK(plain)) {   // tma.cuh's sbi_mmk with TR set
                String head = kn + ", " + TmaKernels.tmaStages(plain) + ", " + TmaKernels.tileWarps(plain) + ", MMT_PREFETCH, true";
                assertTrue(src.contains(TmaKernels.streamKOwnedPieces(plain) ? "MMK_KERNEL_OWN(" + head + ", true)" : "MMK_KERNEL_TR(" + head + ")"),
                        kn + " in tma.cuh");
                assertEquals(TmaKernels.tmaFlags(plain), TmaKernels.tmaFlags(kn));
                SbiSplitK.Plan tp = SbiSplitK.fixed(kn, r, 8, 2, 132);
                assertEquals(SbiSplitK.fixed(plain, r, 8, 2, 132), new SbiSplitK.Plan(plain, 2, tp.blocks(), tp.smem()));
                continue;
            }
            int fl = TmaKernels.tmaFlags(plain);
            String args = kn + ", " + TmaKernels.tmaStages(plain) + ", " + TmaKernels.tileWarps(plain) + ", " + TmaKernels.warpsPerTile(plain) + ", true, "
                    + TmaKernels.stageChunks(plain);
            assertTrue(src.contains(fl == 0 ? "MMT_KERNEL(" + args + ")" : "MMT_KERNEL_FL(" + args + ", " + (fl == TmaKernels.MAPS_PREFETCHED ? "MMT_PREFETCH" : "MMT_LATE") + ")"),
                    kn + " in tma.cuh");
            assertEquals(fl, TmaKernels.tmaFlags(kn), "a trace variant keeps its kernel's flags");
            assertEquals(TmaKernels.tmaThreads(plain), TmaKernels.tmaThreads(kn));
            assertEquals(SbiSplitK.fixed(plain, r, 8, 2), new SbiSplitK.Plan(plain, 2, SbiSplitK.fixed(kn, r, 8, 2).blocks(), SbiSplitK.fixed(kn, r, 8, 2).smem()));
        }
        for (String kn : TmaKernels.TMA_KERNELS) {
            int stages = TmaKernels.tmaStages(kn), tw = TmaKernels.tileWarps(kn), ks = TmaKernels.warpsPerTile(kn), cps = TmaKernels.stageChunks(kn);
            if (TmaKernels.streamK(kn)) {   // tma.cuh's sbi_mmk: one consumer warp a tile, one chunk a stage, maps prefetched
                boolean own = kn.startsWith("sbimmo");
                assertTrue(src.contains(own ? "MMK_KERNEL_OWN(" + kn + ", " + stages + ", " + tw + ", MMT_PREFETCH, false, true)"
                        : "MMK_KERNEL(" + kn + ", " + stages + ", " + tw + ", MMT_PREFETCH)"), kn + " is not defined in tma.cuh");
                assertEquals(TmaKernels.MAPS_PREFETCHED | TmaKernels.STREAM_K | (own ? TmaKernels.OWNER : 0), TmaKernels.tmaFlags(kn), kn);
                assertEquals(kn.startsWith("sbimmkh") ? 4 : 8, tw, kn);
                assertEquals(1, ks, kn);
                assertEquals(1, cps, kn);
                assertEquals(stages * (tw * 2048 + 2048) + 1024, SbiSplitK.fixed(kn, r, 8, 1, 132).smem(), kn);
                assertThrows(IllegalArgumentException.class, () -> SbiSplitK.fixed(kn, r, 8, 1), "a stream-K plan needs the multiprocessor count");
                continue;
            }
            int fl = TmaKernels.tmaFlags(kn);
            List<String> bits = new java.util.ArrayList<>();
            if ((fl & TmaKernels.MAPS_PREFETCHED) != 0) bits.add("MMT_PREFETCH");
            if ((fl & TmaKernels.LATE_TRIGGER) != 0) bits.add("MMT_LATE");
            if ((fl & TmaKernels.NO_TRIGGER) != 0) bits.add("MMT_NOTRIG");
            String flags = String.join(" | ", bits);
            String def = fl != 0 ? "MMT_KERNEL_FL(" + kn + ", " + stages + ", " + tw + ", " + ks + ", false, " + cps + ", " + flags + ")"
                    : "MMT_KERNEL(" + kn + ", " + stages + ", " + tw + ", " + ks + ", false, " + cps + ")";
            assertEquals(kn.matches("sbimm[a-z]\\d+p_bf16_8") ? TmaKernels.MAPS_PREFETCHED : kn.matches("sbimm[a-z]\\d+l_bf16_8") ? TmaKernels.LATE_TRIGGER
                    : kn.matches("sbimm[a-z]\\d+n_bf16_8") ? TmaKernels.NO_TRIGGER
                    : kn.matches("sbimm[a-z]\\d+pn_bf16_8") ? TmaKernels.MAPS_PREFETCHED | TmaKernels.NO_TRIGGER : 0, fl, kn);
            assertTrue(src.contains(def),
                    kn + " with " + stages + " stages, " + tw + " tiles, " + ks + " warps per tile and " + cps + " chunks a stage is not defined in tma.cuh");
            assertEquals(kn.startsWith("sbimmh") || kn.startsWith("sbimme") || kn.startsWith("sbimmv") ? 4 : kn.startsWith("sbimmb") ? 16
                    : kn.startsWith("sbimms") ? 6 : kn.startsWith("sbimmq") ? 12 : 8, tw, kn);
            assertEquals(kn.startsWith("sbimmw") || kn.startsWith("sbimmv") ? 2 : 1, cps, kn);
            assertEquals(kn.startsWith("sbimmd") || kn.startsWith("sbimme") ? 2 : 1, ks, kn);
            assertEquals(32 * tw * ks + 32, TmaKernels.tmaThreads(kn));
            assertTrue(TmaKernels.tmaThreads(kn) <= 1024, kn);
            assertTrue(SbiSplitK.rowMajor(kn), kn);
            assertEquals(stages * cps * (tw * 2048 + 2048) + 1024, SbiSplitK.fixed(kn, r, 8, 1).smem(), kn);
            assertTrue(SbiSplitK.fixed(kn, r, 8, 1).smem() <= SbiSplitK.MAX_SMEM, kn + " fits the opt-in limit");
            assertThrows(IllegalArgumentException.class, () -> SbiSplitK.fixed(kn, tiles(64, 64), 2, 1), "row-major only");
            assertFalse(SbiSplitK.ROW_MAJOR_KERNELS.contains(kn), "an experiment is no choice for -Dfathom.cuda.splitKKernel");
        }
        assertEquals(2, TmaKernels.tmaBlocksPerSm("sbimmt4_bf16_8"));
        assertEquals(1, TmaKernels.tmaBlocksPerSm("sbimmt8_bf16_8"));
        assertEquals(1, TmaKernels.tmaBlocksPerSm("sbimmt12_bf16_8"));
        assertEquals(2, TmaKernels.tmaBlocksPerSm("sbimmh8_bf16_8"), "80 KB a block");
        // 256-row boxes: the gated gate/up pair of llama-7b (22016 stored rows) in 86 blocks, one to a multiprocessor, one wave
        SbiLayout.Shape gateUp = SbiLayout.Shape.of(22016, 4096, 22016, DType.BF16, false, true);
        assertEquals(1, TmaKernels.tmaBlocksPerSm("sbimmb4_bf16_8"));
        // static shared memory as ptxas -v reported it for sm_90 (twentieth session)
        assertEquals(5120, TmaKernels.tmaStaticSmem("sbimmt4_bf16_8"));
        assertEquals(5120, TmaKernels.tmaStaticSmem("sbimmh8_bf16_8"));
        assertEquals(9216, TmaKernels.tmaStaticSmem("sbimmd4_bf16_8"));
        assertEquals(7168, TmaKernels.tmaStaticSmem("sbimme12_bf16_8"));
        assertEquals(9216, TmaKernels.tmaStaticSmem("sbimmb4_bf16_8"));
        assertEquals(5120, TmaKernels.tmaStaticSmem("sbimms6p_bf16_8"));
        assertEquals(7168, TmaKernels.tmaStaticSmem("sbimmq4p_bf16_8"));
        // 96-row boxes: the QKV (12288 outputs) in 128 blocks; 192-row: gate/up in 115
        assertEquals(128, SbiSplitK.plan("sbimms6p_bf16_8", SbiLayout.Shape.of(12288, 4096, 12288, DType.BF16, false, true), 4, 132).blocks());
        assertEquals(115, SbiSplitK.plan("sbimmq4p_bf16_8", gateUp, 4, 132).blocks());
        assertEquals(new SbiSplitK.Plan("sbimmb4_bf16_8", 1, 86, 4 * (256 * 128 + 2048) + 1024), SbiSplitK.plan("sbimmb4_bf16_8", gateUp, 4, 132));
        assertEquals(172, SbiSplitK.plan("sbimmt4_bf16_8", gateUp, 4, 132).blocks(), "two to a multiprocessor on 40 of them");
        assertEquals(544, TmaKernels.tmaThreads("sbimmb4_bf16_8"));
        assertEquals(1, TmaKernels.tmaBlocksPerSm("sbimmh12_bf16_8"), "120 KB a block");
        assertEquals(8, TmaKernels.tileWarps(SbiSplitK.DEFAULT_ROW_MAJOR_KERNEL));
        assertEquals(0, TmaKernels.tmaStages(SbiSplitK.DEFAULT_ROW_MAJOR_KERNEL));
        // 132 multiprocessors: 4096 rows (32 row groups) split until a block per two SMs (4 ways: 128 blocks), which
        // keeps one wave; 86 row groups already give 86 blocks
        SbiLayout.Shape sq = SbiLayout.Shape.of(4096, 4096, 4096, DType.BF16, false, true);
        assertEquals(4, SbiSplitK.plan("sbimmt8_bf16_8", sq, 8, 132).cluster());
        assertEquals(4, SbiSplitK.plan("sbimmt4_bf16_8", sq, 8, 132).cluster());
        assertEquals(2, SbiSplitK.plan("sbimmt4_bf16_8", sq, 8, 100).cluster(), "64 blocks: one per two of 100 SMs");
        assertEquals(1, SbiSplitK.plan("sbimmt4_bf16_8", sq, 8, 60).cluster(), "32 blocks: one per two of 60 SMs already");
        assertEquals(new SbiSplitK.Plan("sbimmh8_bf16_8", 2, 128, 8 * 10240 + 1024), SbiSplitK.plan("sbimmh8_bf16_8", sq, 8, 132),
                "64-row boxes: 64 row groups, split in two for 128 blocks");
        for (String kn : TmaKernels.TMA_KERNELS)
            for (int sms : new int[]{16, 60, 100, 132, 170})
                for (SbiLayout.Shape sh : new SbiLayout.Shape[]{sq, r}) {
                    SbiSplitK.Plan p = SbiSplitK.plan(kn, sh, 8, sms);
                    assertTrue(p.cluster() == 1 || p.blocks() <= (long) sms * TmaKernels.tmaBlocksPerSm(kn), kn + " on " + sms + " SMs: a split keeps one wave");
                }
        assertEquals(1, SbiSplitK.plan("sbimmt8_bf16_8", r, 8, 132).cluster(), "86 row groups fill one wave unsplit");
        assertEquals(1, SbiSplitK.plan("sbimmt4_bf16_8", r, 8, 132).cluster(), "86 row groups fill one wave unsplit");
        assertEquals(1, SbiSplitK.plan("sbimmt12_bf16_8", SbiLayout.Shape.of(32000, 4096, 32000, DType.BF16, false, true), 4, 132).cluster(),
                "more row groups than multiprocessors: no split");
        // refusals: one sentence naming K and the stride
        assertNull(SbiSplitK.tmaRefusal("sbimmt8_bf16_8", sq, 4096, 256, 512));
        String why = SbiSplitK.tmaRefusal("sbimmt8_bf16_8", SbiLayout.Shape.of(100, 77, 100, DType.BF16, false, true), 77, 256, 512);
        assertTrue(why != null && why.contains("K=77") && why.contains(SbiSplitK.DEFAULT_ROW_MAJOR_KERNEL), why);
        String unaligned = SbiSplitK.tmaRefusal("sbimmt8_bf16_8", sq, 4096, 260, 512);
        assertTrue(unaligned != null && unaligned.contains("aligned activations (address 0x104)"), unaligned);
        String weights = SbiSplitK.tmaRefusal("sbimmt8_bf16_8", sq, 4096, 256, 520);
        assertTrue(weights != null && weights.contains("aligned weights"), weights);
        // every 64-column chunk of a row group is read by exactly one block of its cluster; every output written once
        for (int[] nk : new int[][]{{64, 64}, {172, 300}, {1000, 1000}, {4096, 4096}}) {
            int n = nk[0], k = nk[1];
            SbiLayout.Shape s = SbiLayout.Shape.of(n, k, (n + 3) / 4 * 4, DType.BF16, false, true);
            int kt = SbiSplitK.kTiles(s), nc = kt / 4, rt = SbiSplitK.rowTiles(s);
            assertEquals(0, kt % 4, "whole 64-column chunks");
            for (String kn : List.of("sbimmt8_bf16_8", "sbimmh8_bf16_8", "sbimmd4_bf16_8", "sbimme12_bf16_8"))
                for (int c = 1; c <= 8; c *= 2) {
                    SbiSplitK.Plan p = SbiSplitK.fixed(kn, s, 8, c);
                    int tw = TmaKernels.tileWarps(kn), threads = TmaKernels.tmaThreads(kn);
                    int[] chunkSeen = new int[(p.blocks() / c) * nc], outSeen = new int[8 * n];
                    int per = (nc + c - 1) / c;
                    for (int bx = 0; bx < p.blocks(); bx++) {
                        int rank = bx % c, rg = bx / c, kc0 = rank * per, cnt = Math.max(0, Math.min(nc, kc0 + per) - kc0);
                        for (int j = 0; j < cnt; j++) chunkSeen[rg * nc + kc0 + j]++;
                        int perB = tw * 16, total = perB * 8;   // mmc_finish<TW>: TW tiles of 16 outputs per batch row
                        for (int e0 = rank * threads; e0 < total; e0 += c * threads)
                            for (int e = e0; e < Math.min(total, e0 + threads); e++) {
                                int b = e / perB, tt = rg * tw + (e % perB) / 16, o = tt * 16 + e % 16;
                                if (tt < rt && o < n) outSeen[b * n + o]++;
                            }
                    }
                    String what = kn + " " + n + "x" + k + " C=" + c;
                    for (int i = 0; i < chunkSeen.length; i++) assertEquals(1, chunkSeen[i], what + " chunk " + i);
                    for (int i = 0; i < outSeen.length; i++) assertEquals(1, outSeen[i], what + " output " + i);
                    assertEquals((rt + tw - 1) / tw, p.blocks() / c, what);
                }
        }
    }

    /**
     * The stream-K TMA kernels (tma.cuh's sbi_mmk), walked as the kernel walks them: every (row group, chunk) unit streamed
     * by exactly one block, blocks differing by at most one unit, each block's pieces in slots no other piece takes, a row
     * group's pieces in consecutive slots from rg + its first block (where the finishing block adds them in order).
     */
    @Test
    void streamKCutsTheUnitsEvenlyAndGivesEveryPieceItsOwnSlot() {
        for (int groups : new int[]{1, 2, 3, 7, 32, 86})
            for (int nc : new int[]{1, 4, 5, 16, 64, 172})
                for (int grid : new int[]{1, 2, 3, 7, 64, 132, 264, 1000}) {
                    long units = (long) groups * nc;
                    if (grid > units) continue;   // the plans cap the grid at the units
                    String what = groups + " row groups x " + nc + " chunks over " + grid + " blocks";
                    int[] seen = new int[(int) units];
                    java.util.Set<Long> slots = new java.util.HashSet<>();
                    int[] pieces = new int[groups];
                    long minLen = Long.MAX_VALUE, maxLen = 0;
                    for (int b = 0; b < grid; b++) {
                        long u0 = TmaKernels.streamKStart(b, units, grid), u1 = TmaKernels.streamKStart(b + 1, units, grid);
                        minLen = Math.min(minLen, u1 - u0);
                        maxLen = Math.max(maxLen, u1 - u0);
                        for (long u = u0; u < u1; u++) {
                            seen[(int) u]++;
                            assertEquals(b, TmaKernels.streamKBlock(u, units, grid), what + ": the block of unit " + u);
                            if ((u + 1) % nc == 0 || u == u1 - 1) {   // the kernel stores a piece here
                                long rg = u / nc;
                                assertTrue(slots.add(rg + b), what + ": slot " + (rg + b) + " taken twice");
                                assertTrue(rg + b < groups + grid, what + ": slot within row groups + blocks");
                                pieces[(int) rg]++;
                            }
                        }
                    }
                    assertEquals(units, TmaKernels.streamKStart(grid, units, grid), what + ": the last block ends at the last unit");
                    // owners (sbi_mmk's OWN): the block streaming a row group's first chunk; its part ends its run where others
                    // take part, and each other part is the first of its block's run (the kernel's test: the row group's first
                    // unit lies before the block's first), so one flag per slot and warp is set once and read by the owner
                    for (int rg = 0; rg < groups; rg++) {
                        long owner = TmaKernels.streamKOwner(rg, nc, units, grid);
                        long last = TmaKernels.streamKBlock((long) rg * nc + nc - 1, units, grid);
                        if (last > owner)
                            assertEquals((long) rg, (TmaKernels.streamKStart(owner + 1, units, grid) - 1) / nc, what + ": row group " + rg + " ends its owner's run");
                        assertTrue(TmaKernels.streamKStart(owner, units, grid) <= (long) rg * nc, what + ": the owner starts at or before the row group");
                        for (long b = owner + 1; b <= last; b++) {
                            long start = TmaKernels.streamKStart(b, units, grid);
                            assertTrue(start > (long) rg * nc && start / nc == rg, what + ": block " + b + "'s run starts inside row group " + rg);
                        }
                    }
                    assertTrue(maxLen - minLen <= 1 && minLen >= 1, what + ": " + minLen + ".." + maxLen + " units a block");
                    for (int u = 0; u < units; u++) assertEquals(1, seen[u], what + ": unit " + u);
                    for (int rg = 0; rg < groups; rg++) {
                        long first = TmaKernels.streamKBlock((long) rg * nc, units, grid), last = TmaKernels.streamKBlock((long) rg * nc + nc - 1, units, grid);
                        assertEquals(last - first + 1, pieces[rg], what + ": row group " + rg + "'s pieces are its blocks");
                        for (long p = 0; p < pieces[rg]; p++) assertTrue(slots.contains(rg + first + p), what + ": row group " + rg + " piece " + p);
                    }
                }
        // plans: C blocks per multiprocessor, at most one per unit; the planned C keeps every block resident
        SbiLayout.Shape r = SbiLayout.Shape.of(11008, 4096, 11008, DType.BF16, false, true);
        assertEquals(86 * 64, TmaKernels.streamKUnits("sbimmk4p_bf16_8", r));
        assertEquals(172 * 64, TmaKernels.streamKUnits("sbimmkh8p_bf16_8", r));
        assertEquals(new SbiSplitK.Plan("sbimmk4p_bf16_8", 2, 264, 4 * 18432 + 1024), SbiSplitK.plan("sbimmk4p_bf16_8", r, 8, 132));
        assertEquals(new SbiSplitK.Plan("sbimmk8p_bf16_8", 1, 132, 8 * 18432 + 1024), SbiSplitK.plan("sbimmk8p_bf16_8", r, 4, 132));
        assertEquals(2, SbiSplitK.plan("sbimmkh8p_bf16_8", r, 4, 132).cluster());
        assertEquals(396, SbiSplitK.fixed("sbimmk4p_bf16_8", r, 8, 3, 132).blocks());
        SbiLayout.Shape tiny = SbiLayout.Shape.of(64, 64, 64, DType.BF16, false, true);   // one row group of 4 chunks
        assertEquals(4, SbiSplitK.fixed("sbimmk4p_bf16_8", tiny, 8, 8, 132).blocks(), "at most one block per unit");
        assertEquals(new SbiSplitK.Plan("sbimmk4p_bf16_8", 0, 3, 4 * 18432 + 1024), TmaKernels.streamKGrid("sbimmk4p_bf16_8", tiny, 8, 3));
        assertEquals(4, TmaKernels.streamKGrid("sbimmk4p_bf16_8", tiny, 8, 9).blocks());
        assertThrows(IllegalArgumentException.class, () -> TmaKernels.streamKGrid("sbimmt4p_bf16_8", tiny, 8, 3), "no stream-K kernel");
        assertThrows(IllegalArgumentException.class, () -> TmaKernels.streamKGrid("sbimmk4p_bf16_8", tiles(64, 64), 8, 3), "row-major only");
        // the workspace: llama-7b's widest matrix fits at 8 blocks per multiprocessor; a refusal is one sentence naming the kernel and what it needs
        SbiLayout.Shape head = SbiLayout.Shape.of(32000, 4096, 32000, DType.BF16, false, true);
        assertNull(TmaKernels.streamKRefusal("sbimmk4p_bf16_8", head, 8 * 132));
        assertEquals(4128, TmaKernels.streamKSlotBytes("sbimmk4p_bf16_8"));
        assertEquals(2080, TmaKernels.streamKSlotBytes("sbimmkh8p_bf16_8"));
        SbiLayout.Shape huge = SbiLayout.Shape.of(1 << 20, 4096, 1 << 20, DType.BF16, false, true);
        String why = TmaKernels.streamKRefusal("sbimmk4p_bf16_8", huge, 132);
        assertTrue(why != null && why.startsWith("sbimmk4p_bf16_8 over 1048576 x 4096 in 132 blocks needs 8324 workspace slots")
                && why.contains("use " + SbiSplitK.WIDE_KERNEL), why);
        // the launch's refusal (which sends the model to the default kernel): the workspace for stream-K, the maps for all
        SbiSplitK.Plan hugePlan = SbiSplitK.plan("sbimmk4p_bf16_8", huge, 8, 132);
        assertEquals(TmaKernels.streamKRefusal("sbimmk4p_bf16_8", huge, hugePlan.blocks()), SbiSplitK.tmaLaunchRefusal(hugePlan, huge, 4096, 256, 512));
        assertTrue(SbiSplitK.tmaLaunchRefusal(hugePlan, huge, 4096, 256, 512).contains("in 264 blocks needs 8456 workspace slots"));
        assertNull(SbiSplitK.tmaLaunchRefusal(SbiSplitK.plan("sbimmk4p_bf16_8", head, 8, 132), head, 4096, 256, 512));
        assertTrue(SbiSplitK.tmaLaunchRefusal(SbiSplitK.plan("sbimmk4p_bf16_8", head, 8, 132), head, 4096, 260, 512).contains("aligned activations"));
        assertNull(SbiSplitK.tmaLaunchRefusal(SbiSplitK.plan(SbiSplitK.WIDE_KERNEL, huge, 8, 132), huge, 4096, 256, 512), "no workspace for the others");
        // owners spin on flags: one block per multiprocessor (registers), whatever C asks; a flag per slot and warp
        assertEquals(1, TmaKernels.tmaBlocksPerSm("sbimmo4p_bf16_8"));
        assertEquals(132, SbiSplitK.fixed("sbimmo4p_bf16_8", r, 8, 3, 132).blocks());
        assertEquals(132, SbiSplitK.plan("sbimmo4p_bf16_8", r, 8, 132).blocks());
        assertTrue(TmaKernels.streamKOwnedPieces("sbimmo8p_bf16_8") && !TmaKernels.streamKOwnedPieces("sbimmk4p_bf16_8"));
        assertNull(TmaKernels.streamKRefusal("sbimmo4p_bf16_8", head, 132), "(250 + 132) x 8 flags");
        String flags = TmaKernels.streamKRefusal("sbimmo4p_bf16_8", SbiLayout.Shape.of(262144, 4096, 262144, DType.BF16, false, true), 132);
        assertTrue(flags != null && flags.contains("needs 2180 workspace slots") && flags.contains("17440 tickets"), flags);
        assertFalse(TmaKernels.streamK(SbiSplitK.WIDE_KERNEL));
        assertFalse(TmaKernels.streamK("sbimmc4_bf16_8"));
    }

    /**
     * The wide rule: 2..8 rows of a row-major BF16 matrix with 8192 outputs or more go to the wide TMA kernel (not cuBLAS)
     * on sm_90, and 2..4 rows of a narrower one to the narrow TMA kernel (twenty-ninth session); other layouts and types,
     * K not a multiple of 4, older GPUs, one row or more than 8 do not; the setting moves the bound (8192: the routing
     * before, the 4096-row outputs through cuBLAS) or (0) switches it off, and a TMA kernel named for row-major rows
     * replaces the default.
     */
    @Test
    void wideRowMajorMatricesTakeTheTmaKernelAtTwoToEightRows() {
        SbiSplitK.Settings st = SbiSplitK.Settings.read();
        SbiLayout.Shape qkv = SbiLayout.Shape.of(12288, 4096, 12288, DType.BF16, false, true), o = SbiLayout.Shape.of(4096, 4096, 4096, DType.BF16, false, true),
                head = SbiLayout.Shape.of(32000, 4096, 32000, DType.BF16, false, true), odd = SbiLayout.Shape.of(12288, 4098, 12288, DType.BF16, false, true),
                simt = SbiLayout.Shape.of(12288, 4096, 12288, DType.BF16, false, false), f32 = SbiLayout.Shape.of(12288, 4096, 12288, DType.F32, false, true);
        assertEquals(1, st.wideRows(), "every row-major BF16 matrix");
        assertEquals(SbiSplitK.DEFAULT_NARROW_ROWS, st.narrowRows());
        assertEquals("sbimmv6n_bf16_8", SbiSplitK.NARROW_KERNEL);
        for (int rows = 2; rows <= 8; rows++) {
            assertTrue(SbiSplitK.wideFor(9, st, qkv, rows));
            assertTrue(SbiSplitK.wideFor(9, st, head, rows));
            assertEquals(rows <= 4, SbiSplitK.wideFor(9, st, o, rows), rows + " rows of 4096 outputs: the narrow TMA kernel up to 4, cuBLAS beyond");
            assertEquals(SbiSplitK.WIDE_KERNEL, SbiSplitK.planFor(9, 132, st, qkv, rows).kernel());
            assertEquals(rows <= 4 ? SbiSplitK.NARROW_KERNEL : SbiSplitK.DEFAULT_ROW_MAJOR_KERNEL, SbiSplitK.planFor(9, 132, st, o, rows).kernel());
        }
        SystemProperties.with("fathom.cuda.tmaWide", "8192", () -> {
            SbiSplitK.Settings old = SbiSplitK.Settings.read();
            for (int rows = 2; rows <= 8; rows++) {
                assertFalse(SbiSplitK.wideFor(9, old, o, rows), "the routing before: 4096 outputs stay on cuBLAS");
                assertTrue(SbiSplitK.wideFor(9, old, qkv, rows));
                assertEquals(SbiSplitK.DEFAULT_ROW_MAJOR_KERNEL, SbiSplitK.planFor(9, 132, old, o, rows).kernel());
            }
        });
        assertEquals(1, SbiSplitK.planFor(9, 132, st, qkv, 8).cluster(), "96 row groups: no split");
        assertFalse(SbiSplitK.wideFor(9, st, qkv, 1), "one row: the GEMV");
        assertFalse(SbiSplitK.wideFor(9, st, qkv, 9), "more rows: cuBLAS");
        assertFalse(SbiSplitK.wideFor(8, st, qkv, 4), "no TMA before sm_90");
        assertFalse(SbiSplitK.wideFor(9, st, odd, 4), "K % 4 != 0: no activation map");
        assertFalse(SbiSplitK.wideFor(9, st, simt, 4), "the SIMT layout");
        assertFalse(SbiSplitK.wideFor(9, st, f32, 4), "F32 weights");
        SystemProperties.with("fathom.cuda.tmaWide", "0", () -> {
            assertFalse(SbiSplitK.wideFor(9, SbiSplitK.Settings.read(), qkv, 4));
            assertEquals(SbiSplitK.DEFAULT_ROW_MAJOR_KERNEL, SbiSplitK.Settings.read().kernel(qkv, 132));
        });
        SystemProperties.with("fathom.cuda.tmaWide", "4096", () -> {
            SbiSplitK.Settings all = SbiSplitK.Settings.read();
            assertTrue(SbiSplitK.wideFor(9, all, o, 4));
            assertEquals(SbiSplitK.NARROW_KERNEL, all.kernel(o, 132), "below 8192 outputs: the 64-row kernel");
            assertEquals(SbiSplitK.plan(SbiSplitK.NARROW_KERNEL, o, 4, 132), SbiSplitK.planFor(9, 132, all, o, 4));
            assertEquals(new SbiSplitK.Plan("sbimmh12_bf16_8", 2, 128, 12 * 10240 + 1024), SbiSplitK.plan("sbimmh12_bf16_8", o, 4, 132), "64-row boxes: K in two, 128 blocks");
            assertEquals(SbiSplitK.WIDE_KERNEL, all.kernel(qkv, 132), "8192 outputs and more: the 128-row kernel");
        });
        SystemProperties.with("fathom.cuda.tmaWide", "1", () -> SystemProperties.with("fathom.cuda.tmaNarrowKernel", "sbimmh8_bf16_8",
                () -> assertEquals("sbimmh8_bf16_8", SbiSplitK.Settings.read().kernel(o, 132))));
        // -Dfathom.cuda.tmaNarrowRows: the narrow kernel up to that many rows, more through cuBLAS; the wide ones keep 2..8
        CudaSettings.with(List.of("fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowKernel=sbimmv6n_bf16_8", "fathom.cuda.tmaNarrowRows=4"), () -> {
            SbiSplitK.Settings n4 = SbiSplitK.Settings.read();
            for (int rows = 2; rows <= 8; rows++) {
                assertEquals(rows <= 4, SbiSplitK.wideFor(9, n4, o, rows), rows + " rows of 4096x4096");
                assertTrue(SbiSplitK.wideFor(9, n4, qkv, rows), rows + " rows of the QKV");
            }
            assertTrue(n4.routing().endsWith("under 8192 outputs sbimmv6n_bf16_8 up to 4 rows, more through cuBLAS"), n4.routing());
            // where cuBLAS cannot take those rows, the split-K fallback plans them as it plans a matrix outside the routing
            assertEquals("sbimmv6n_bf16_8", SbiSplitK.planFor(9, 132, n4, o, 4).kernel());
            assertEquals(SbiSplitK.DEFAULT_ROW_MAJOR_KERNEL, SbiSplitK.planFor(9, 132, n4, o, 5).kernel());
            assertEquals(SbiSplitK.WIDE_KERNEL, SbiSplitK.planFor(9, 132, n4, qkv, 8).kernel());
            return null;
        });
        for (String bad : new String[]{"1", "9", "four"})
            SystemProperties.with("fathom.cuda.tmaNarrowRows", bad, () -> assertThrows(IllegalArgumentException.class, SbiSplitK.Settings::read, bad));
        // gated pairs (gate/up: twice their outputs stored) through their own kernel when asked, else the wide kernel
        SbiLayout.Shape gateUp = SbiLayout.Shape.of(11008, 4096, 22016, DType.BF16, false, true);
        assertTrue(SbiSplitK.Settings.gatedPairs(gateUp));
        assertFalse(SbiSplitK.Settings.gatedPairs(qkv));
        assertEquals(SbiSplitK.GATED_KERNEL, st.kernel(gateUp, 132));
        assertEquals(new SbiSplitK.Plan(SbiSplitK.GATED_KERNEL, 1, 115, 4 * (192 * 128 + 2048) + 1024), SbiSplitK.planFor(9, 132, st, gateUp, 4),
                "192-row boxes: 115 blocks, one wave");
        SystemProperties.with("fathom.cuda.tmaWideKernel", "sbimmt8_bf16_8",
                () -> assertEquals("sbimmt8_bf16_8", SbiSplitK.Settings.read().kernel(gateUp, 132), "gate/up follows a wide kernel set alone"));
        SystemProperties.with("fathom.cuda.tmaGatedKernel", "sbimmb4_bf16_8", () -> {
            SbiSplitK.Settings g = SbiSplitK.Settings.read();
            assertEquals("sbimmb4_bf16_8", g.kernel(gateUp, 132));
            assertEquals(SbiSplitK.WIDE_KERNEL, g.kernel(qkv, 132), "QKV keeps the wide kernel");
            assertEquals(new SbiSplitK.Plan("sbimmb4_bf16_8", 1, 86, 4 * (256 * 128 + 2048) + 1024), SbiSplitK.planFor(9, 132, g, gateUp, 4));
        });
        SystemProperties.with("fathom.cuda.tmaGatedKernel", "sbimmx9", () -> assertThrows(IllegalArgumentException.class, SbiSplitK.Settings::read));
        // a shared-memory floor pads the narrow TMA kernel's launches (one block per multiprocessor), never the others
        SystemProperties.with("fathom.cuda.tmaWide", "1", () -> SystemProperties.with("fathom.cuda.tmaNarrowKernel", "sbimmh8_bf16_8",
                () -> SystemProperties.with("fathom.cuda.tmaNarrowSmemKb", "116", () -> {
                    SbiSplitK.Settings pad = SbiSplitK.Settings.read();
                    assertEquals(new SbiSplitK.Plan("sbimmh8_bf16_8", 2, 128, 116 * 1024), SbiSplitK.planFor(9, 132, pad, o, 4));
                    assertEquals(SbiSplitK.plan(SbiSplitK.WIDE_KERNEL, qkv, 4, 132), SbiSplitK.planFor(9, 132, pad, qkv, 4), "the wide kernel keeps its plan");
                })));
        // the same for the wide and gated kernels (twenty-fourth session), never the narrow ones; never below a plan's own
        SystemProperties.with("fathom.cuda.tmaWideSmemKb", "116", () -> {
            SbiSplitK.Settings pad = SbiSplitK.Settings.read();
            SbiSplitK.Plan q = SbiSplitK.plan(SbiSplitK.WIDE_KERNEL, qkv, 4, 132), g = SbiSplitK.plan(SbiSplitK.GATED_KERNEL, gateUp, 4, 132);
            assertEquals(new SbiSplitK.Plan(q.kernel(), q.cluster(), q.blocks(), 116 * 1024), SbiSplitK.planFor(9, 132, pad, qkv, 4));
            assertEquals(new SbiSplitK.Plan(g.kernel(), g.cluster(), g.blocks(), 116 * 1024), SbiSplitK.planFor(9, 132, pad, gateUp, 4));
            assertEquals(SbiSplitK.plan(SbiSplitK.NARROW_KERNEL, o, 4, 132), SbiSplitK.planFor(9, 132, pad, o, 4), "the narrow matrix keeps its plan");
        });
        // the narrow TMA kernel launched plainly on request; the others keep the pass's choice
        SystemProperties.with("fathom.cuda.tmaWide", "1", () -> SystemProperties.with("fathom.cuda.tmaNarrowKernel", "sbimmv6_bf16_8", () -> {
            SbiSplitK.Settings on = SbiSplitK.Settings.read();
            SbiSplitK.Plan narrowPlan = SbiSplitK.planFor(9, 132, on, o, 4), widePlan = SbiSplitK.planFor(9, 132, on, qkv, 4);
            assertEquals("sbimmv6_bf16_8", narrowPlan.kernel());
            assertTrue(on.pdl(true, narrowPlan, o), "PDL by default");
            SystemProperties.with("fathom.cuda.tmaNarrowPdl", "false", () -> {
                SbiSplitK.Settings off = SbiSplitK.Settings.read();
                assertFalse(off.pdl(true, narrowPlan, o), "the narrow TMA kernel launched plainly");
                assertTrue(off.pdl(true, widePlan, qkv), "the wide one keeps PDL");
                assertFalse(off.pdl(false, widePlan, qkv), "nothing is PDL where the pass's kernels are not");
            });
            SystemProperties.with("fathom.cuda.tmaNarrowPdl", "maybe", () -> assertThrows(IllegalArgumentException.class, SbiSplitK.Settings::read));
        }));
        SbiSplitK.Plan big = new SbiSplitK.Plan("sbimmt8p_bf16_8", 1, 86, 150 * 1024);
        assertSame(big, SbiSplitK.withSmem(big, 116 * 1024), "a plan asking for more keeps it");
        SystemProperties.with("fathom.cuda.tmaWideSmemKb", "-1", () -> assertThrows(IllegalArgumentException.class, SbiSplitK.Settings::read));
        SystemProperties.with("fathom.cuda.tmaNarrowSmemKb", "160", () -> assertEquals(SbiSplitK.plan(SbiSplitK.DEFAULT_ROW_MAJOR_KERNEL, o, 6, 132),
                SbiSplitK.planFor(9, 132, SbiSplitK.Settings.read(), o, 6), "not a TMA kernel (6 rows of a narrow matrix): no padding"));
        SystemProperties.with("fathom.cuda.tmaNarrowSmemKb", "400", () -> assertThrows(IllegalArgumentException.class, SbiSplitK.Settings::read,
                "more than a block may have"));
        SystemProperties.with("fathom.cuda.tmaWideKernel", "sbimmd4_bf16_8", () -> {
            assertEquals("sbimmd4_bf16_8", SbiSplitK.Settings.read().kernel(qkv, 132));
            assertEquals(SbiSplitK.NARROW_KERNEL, SbiSplitK.Settings.read().kernel(o, 132), "narrow matrices keep the narrow kernel");
        });
        // fit: each wide matrix through the box height that fills the multiprocessors best
        assertEquals("sbimms6p_bf16_8", SbiSplitK.fitKernel(qkv, 132), "96-row boxes: 128 blocks");
        assertEquals("sbimmq4p_bf16_8", SbiSplitK.fitKernel(gateUp, 132), "192-row boxes: 115 blocks, one wave (96-row: as full over two)");
        assertEquals("sbimmb4p_bf16_8", SbiSplitK.fitKernel(head, 132), "256-row boxes: 125 blocks, one wave (128-row: as full over two)");
        assertEquals("sbimms6p_bf16_8", SbiSplitK.fitKernel(SbiLayout.Shape.of(11008, 4096, 11008, DType.BF16, false, true), 132), "115 blocks");
        assertEquals("sbimmt4p_bf16_8", SbiSplitK.fitKernel(qkv, 96), "on 96 multiprocessors 128-row boxes fill them exactly");
        SystemProperties.with("fathom.cuda.tmaWideKernel", "fit", () -> SystemProperties.with("fathom.cuda.tmaGatedKernel", "FIT", () -> {
            SbiSplitK.Settings fit = SbiSplitK.Settings.read();
            assertEquals("sbimms6p_bf16_8", fit.kernel(qkv, 132));
            assertEquals("sbimmq4p_bf16_8", fit.kernel(gateUp, 132));
            assertEquals("sbimmb4p_bf16_8", fit.kernel(head, 132));
            assertEquals(SbiSplitK.NARROW_KERNEL, fit.kernel(o, 132), "the 4096-row outputs keep theirs");
            assertEquals(new SbiSplitK.Plan("sbimms6p_bf16_8", 1, 128, 6 * (96 * 128 + 2048) + 1024), SbiSplitK.planFor(9, 132, fit, qkv, 4));
        }));
        SystemProperties.with("fathom.cuda.tmaNarrowKernel", "fit", () -> assertThrows(IllegalArgumentException.class, SbiSplitK.Settings::read,
                "fit is for the wide matrices only"));
        SystemProperties.with("fathom.cuda.tmaNarrowKernel", "sbimmr2p_bf16_8", () -> {
            var e = assertThrows(IllegalArgumentException.class, SbiSplitK.Settings::read);
            assertTrue(e.getMessage().startsWith("-Dfathom.cuda.tmaNarrowKernel=sbimmr2p_bf16_8: use sbimmt4_bf16_8"), e.getMessage());
        });
        SystemProperties.with("fathom.cuda.tmaWide", "-1", () -> {
            var e = assertThrows(IllegalArgumentException.class, SbiSplitK.Settings::read);
            assertTrue(e.getMessage().contains("fathom.cuda.tmaWide"), e.getMessage());
        });
        SystemProperties.with("fathom.cuda.splitKKernel", "sbimmt8_bf16_8", () -> assertEquals("sbimmt8_bf16_8", SbiSplitK.Settings.read().kernel(qkv, 132)));
        SystemProperties.with("fathom.cuda.splitKKernel", "sbimmr4p_bf16_8", () -> {
            assertEquals(SbiSplitK.WIDE_KERNEL, SbiSplitK.Settings.read().kernel(qkv, 132), "a non-TMA row-major choice keeps the TMA kernel for wide matrices");
            assertEquals("sbimmr4p_bf16_8", SbiSplitK.Settings.read().kernel(o, 132, 6), "beyond the narrow kernel's rows");
        });
        SystemProperties.with("fathom.cuda.splitK", "false", () -> assertFalse(SbiSplitK.wideFor(9, SbiSplitK.Settings.read(), qkv, 4)));
    }

    @Test
    void routingSaysWhichKernelTakesEachKindOfMatrix() {
        assertEquals("TMA from 1 outputs: wide " + SbiSplitK.WIDE_KERNEL + ", gate/up " + SbiSplitK.GATED_KERNEL
                + ", under 8192 outputs sbimmv6n_bf16_8 up to 4 rows, more through cuBLAS", SbiSplitK.Settings.read().routing());
        SystemProperties.with("fathom.cuda.tmaWide", "8192", () -> assertEquals("TMA from 8192 outputs: wide " + SbiSplitK.WIDE_KERNEL + ", gate/up "
                + SbiSplitK.GATED_KERNEL + "; fewer outputs through cuBLAS", SbiSplitK.Settings.read().routing()));
        SystemProperties.with("fathom.cuda.tmaWide", "0", () -> assertEquals("2..8 rows through cuBLAS", SbiSplitK.Settings.read().routing()));
        SystemProperties.with("fathom.cuda.splitK", "false", () -> assertEquals("2..8 rows through cuBLAS", SbiSplitK.Settings.read().routing()));
        SystemProperties.with("fathom.cuda.tmaWide", "1", () -> SystemProperties.with("fathom.cuda.tmaNarrowKernel", "sbimmv6_bf16_8", () -> {
            assertEquals("TMA from 1 outputs: wide " + SbiSplitK.WIDE_KERNEL + ", gate/up " + SbiSplitK.GATED_KERNEL
                    + ", under 8192 outputs sbimmv6_bf16_8 up to 4 rows, more through cuBLAS", SbiSplitK.Settings.read().routing());
            SystemProperties.with("fathom.cuda.tmaNarrowRows", "8", () -> assertTrue(
                    SbiSplitK.Settings.read().routing().endsWith("under 8192 outputs sbimmv6_bf16_8"), SbiSplitK.Settings.read().routing()));
            SystemProperties.with("fathom.cuda.tmaNarrowPdl", "false", () -> assertTrue(
                    SbiSplitK.Settings.read().routing().endsWith("under 8192 outputs sbimmv6_bf16_8 (plain launches, no PDL) up to 4 rows, more through cuBLAS"),
                    SbiSplitK.Settings.read().routing()));
        }));
        // StepTrace's configurations set their bound themselves (twenty-ninth session: the default is no longer "cuBLAS
        // below"), so their labels hold even with -Dfathom.cuda.tmaWide=1 given to the JVM
        SystemProperties.with("fathom.cuda.tmaWide", "1", () -> SystemProperties.with("fathom.cuda.tmaNarrowKernel", "sbimmv6t_bf16_8", () -> {
            String[] cfg = StepTrace.CONFIGS[0];
            assertTrue(cfg[0].contains("cuBLAS below") && cfg[0].contains("no trace twin"), cfg[0]);
            String r = CudaSettings.with(List.of(cfg).subList(1, cfg.length), () -> SbiSplitK.Settings.read().routing());
            // and gate/up follows the wide kernel where only that is set: not the default's sbimmq4p
            assertEquals("TMA from 8192 outputs: wide sbimmt4pt_bf16_8, gate/up sbimmt4pt_bf16_8; fewer outputs through cuBLAS", r);
            for (String[] c : StepTrace.CONFIGS) {
                String rc = CudaSettings.with(List.of(c).subList(1, c.length), () -> SbiSplitK.Settings.read().routing());
                assertEquals(c[0].contains("cuBLAS below"), rc.endsWith("fewer outputs through cuBLAS"), c[0] + ": " + rc);
                assertFalse(rc.contains("more through cuBLAS"), "every 'below' kernel takes 2..8 rows: " + rc);
            }
        }));
        // -Dfathom.cuda.splitKKernel naming a TMA kernel: it takes every wide matrix
        SystemProperties.with("fathom.cuda.splitKKernel", "sbimmh8_bf16_8", () -> assertEquals(
                "TMA from 1 outputs: wide sbimmh8_bf16_8, gate/up sbimmh8_bf16_8, under 8192 outputs sbimmh8_bf16_8 up to 4 rows, more through cuBLAS",
                SbiSplitK.Settings.read().routing()));
    }
}
