package dev.fathom.cuda;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Host side of the stream-K kernels: the plan, and the kernel's table checked against a walk of every warp's range
 * with the kernel's own cursor steps (streamk.cuh's SkCursor), so each tile is read once, each partial has its own
 * slot, and each row tile's ticket count is the one the last warp waits for.
 */
class SbiStreamKTest {
    /** streamk.cuh's SkCursor, step for step. */
    private static final class Cursor {
        int c, rt, kl, len;

        Cursor(long i, int rts, int kts, int skt) {
            long per = (long) rts * skt;
            c = (int) (i / per);
            len = Math.min(skt, kts - c * skt);
            long r = i - c * per;
            rt = (int) (r / len);
            kl = (int) (r - (long) rt * len);
        }

        int kt(int skt) { return c * skt + kl; }

        boolean next(int rts, int kts, int skt) {
            if (++kl < len) return false;
            kl = 0;
            if (++rt == rts) {
                rt = 0;
                ++c;
                len = Math.min(skt, kts - c * skt);
            }
            return true;
        }
    }

    /** Walks every warp as the kernel does and checks the table against what it saw. */
    private static void walk(int rts, int kts, int blocks, int skt) {
        SbiStreamK.Plan p = SbiStreamK.plan("sbisk4_bf16_8", rts, kts, blocks, skt);
        int nw = p.warps(), c = p.slices();
        int[] meta = p.meta();
        long t = (long) rts * kts;
        int[] seen = new int[(int) t];
        int[] tickets = new int[rts];
        boolean[] slot = new boolean[c * rts * p.maxContrib()];
        for (int w = 0; w < nw; w++) {
            long a = SbiStreamK.start(w, nw, t), e = SbiStreamK.start(w + 1, nw, t);
            Cursor cc = new Cursor(a, rts, kts, skt);
            for (long i = a; i < e; i++) {
                seen[cc.rt * kts + cc.kt(skt)]++;
                int c0 = cc.c, rt0 = cc.rt;
                boolean left = cc.next(rts, kts, skt);
                if (left || i + 1 == e) {   // the kernel's flush
                    int u = c0 * rts + rt0, j = w - meta[rts + 2 * u];
                    assertTrue(j >= 0 && j < meta[rts + 2 * u + 1], "warp " + w + " is not among unit " + u + "'s warps");
                    assertTrue(j < p.maxContrib());
                    int s = u * p.maxContrib() + j;
                    assertTrue(!slot[s], "slot " + s + " written twice");
                    slot[s] = true;
                    tickets[rt0]++;
                }
            }
        }
        for (int i = 0; i < t; i++) assertEquals(1, seen[i], "tile " + i + " of " + rts + "x" + kts + " skt " + skt + " blocks " + blocks);
        for (int r = 0; r < rts; r++) assertEquals(meta[r], tickets[r], "row tile " + r + "'s tickets");
        for (int u = 0; u < c * rts; u++)   // every slot the last warp adds was written
            for (int j = 0; j < meta[rts + 2 * u + 1]; j++) assertTrue(slot[u * p.maxContrib() + j], "unit " + u + " slot " + j + " never written");
    }

    @Test
    void everyTileIsReadOnceAndEveryPartialHasASlot() {
        int[][] cases = {   // row tiles, k tiles, blocks, slice length
                {256, 256, 132 * 3, 64}, {688, 256, 132 * 2, 64}, {256, 688, 132 * 3, 63}, {768, 256, 396, 64}, {2000, 256, 396, 64},
                {4, 4, 396, 4},          // fewer tiles than warps: most warps have nothing
                {7, 63, 1, 3},           // one block: each warp crosses many units and slices
                {3, 5, 5, 7},            // a slice longer than K: one slice
                {63, 5, 5, 1},           // one k tile per slice
                {10, 17, 3, 4}};         // a short last slice
        for (int[] c : cases) walk(c[0], c[1], c[2], c[3]);
    }

    @Test
    void planCutsKIntoSlicesNearSixtyFourTiles() {
        assertEquals(64, SbiStreamK.sliceTiles(256));    // K 4096: 4 slices
        assertEquals(63, SbiStreamK.sliceTiles(688));    // K 11008: 11 slices of 63 (the last 58)
        assertEquals(11, SbiStreamK.slices(688, 63));
        assertEquals(5, SbiStreamK.sliceTiles(5));       // short K: one slice
        SbiStreamK.Plan p = SbiStreamK.plan("sbisk8_bf16_8", 688, 256, 132);
        assertEquals(264, p.blocks());                    // one wave: 2 blocks of 256 threads per SM
        assertEquals(4, p.slices());
        assertTrue(p.maxContrib() >= 2 && p.maxContrib() <= 3, "a 64-tile unit over warps of about 42 tiles: " + p.maxContrib());
        assertEquals(4L * 688 * p.maxContrib() * 512, p.workspaceBytes());
    }

    @Test
    void unknownKernelIsOneSentence() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SbiStreamK.blocksPerSm("sbisk2"));
        assertEquals("sbisk2 is not a stream-K kernel: use one of sbisk4_bf16_8, sbisk8_bf16_8", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> SbiStreamK.plan("sbisk4_bf16_8", 0, 4, 1, 1));
    }
}
