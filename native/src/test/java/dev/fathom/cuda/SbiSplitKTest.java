package dev.fathom.cuda;

import dev.fathom.engine.tensor.DType;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Host side of the split-K cluster kernels: launch sizing, and the kernel's work partition (as sbi_tile.cuh indexes it). */
class SbiSplitKTest {
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
            SbiSplitK.Plan p = SbiSplitK.plan(s, c[2], sms);
            assertEquals(c[3], p.cluster(), c[0] + "x" + c[1] + " rows " + c[2]);
            assertEquals((s.groups() + 7) / 8 * p.cluster(), p.blocks());
            assertEquals((s.kChunks() + p.cluster() - 1) / p.cluster() * (c[2] <= 4 ? 16 : 32) * 16, p.smem());
            assertTrue(p.smem() <= 44 * 1024, "no shared-memory opt-in on the Llama shapes");
            assertTrue(p.blocks() >= 2 * sms || p.cluster() == 8);
        }
        // small matrices take the largest cluster; a K whose smallest slice exceeds the opt-in limit has no plan
        assertEquals(8, SbiSplitK.plan(tiles(64, 64), 8, sms).cluster());
        assertEquals(8, SbiSplitK.plan(tiles(4096, 32768), 8, sms).cluster());
        assertNull(SbiSplitK.plan(tiles(4096, 65536), 8, sms));
        assertTrue(SbiSplitK.plan(tiles(4096, 65536), 4, sms) != null, "up to 4 rows keep half the fragments");
    }

    /** Every (row tile, k tile) is streamed by exactly one warp, and every output written by exactly one thread. */
    @Test
    void blocksCoverEveryTileAndOutputOnce() {
        for (int[] nk : new int[][]{{64, 64}, {172, 64}, {37, 1000}, {100, 77}, {1000, 300}, {4096, 4096}})
            for (int mode = 0; mode < 3; mode++) {
                int n = nk[0], k = nk[1];
                int stored = mode == 1 ? (n + 7) / 8 * 16 : (n + 15) / 16 * 16;
                SbiLayout.Shape s = SbiLayout.Shape.of(n, k, stored, DType.BF16, true);
                int rt = s.groups(), kt = s.kChunks();
                for (int c = 1; c <= 8; c *= 2)
                    for (int rows : new int[]{2, 3, 5, 8}) {
                        SbiSplitK.Plan p = SbiSplitK.fixed(s, rows, c);
                        int[] tileSeen = new int[rt * kt], outSeen = new int[rows * n];
                        int per = (kt + c - 1) / c;
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
                                    if (tt < rt && o < n) outSeen[b * n + o]++;
                                }
                        }
                        for (int v : tileSeen) assertEquals(1, v);
                        for (int v : outSeen) assertEquals(1, v);
                    }
            }
    }
}
