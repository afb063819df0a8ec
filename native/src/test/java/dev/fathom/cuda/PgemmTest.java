package dev.fathom.cuda;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Launch planning of the pgemm kernels (host side; the kernels themselves are checked on the GPU by PgemmCheck). */
class PgemmTest {
    /** The model's cost: waves x (K steps per unit, + 1 for the partials when split). */
    private static long cost(int tiles, int kIters, int slots, int s) {
        long waves = ((long) tiles * s + slots - 1) / slots;
        return waves * ((kIters + s - 1) / s + (s > 1 ? 1 : 0));
    }

    @Test
    void llamaProjectionsAt128RowsFillWholeWavesOfAnH100() {
        // 132 SMs, one 128-row block each: the shapes of a 128-token Llama-7B prompt
        assertEquals(4, Pgemm.splits(32, 64, 132, 32), "o (4096 x 4096): 32 tiles -> 128 units of 16 K steps, one wave");
        assertEquals(4, Pgemm.splits(96, 64, 132, 32), "q+k+v (12288 x 4096): 384 units in 3 waves of 16 steps");
        assertEquals(3, Pgemm.splits(172, 64, 132, 32), "gate+up (22016 x 4096): 516 units in 4 waves of 22 steps");
        assertEquals(4, Pgemm.splits(32, 172, 132, 32), "down (4096 x 11008): 128 units of 43 steps");
        assertEquals(1, Pgemm.splits(264, 64, 132, 32), "two whole waves of tiles: no split");
        assertEquals(1, Pgemm.splits(32, 1, 132, 32), "one K step cannot be split");
    }

    @Test
    void theChosenSplitIsTheCheapestByTheModelAndNeverWorseThanNone() {
        for (int tiles = 1; tiles <= 400; tiles += 13)
            for (int kIters : new int[]{1, 2, 7, 64, 172})
                for (int slots : new int[]{108, 132, 264}) {
                    int s = Pgemm.splits(tiles, kIters, slots, 32);
                    assertTrue(s >= 1 && s <= Math.min(32, kIters), tiles + "/" + kIters + "/" + slots + " -> " + s);
                    assertTrue(cost(tiles, kIters, slots, s) <= cost(tiles, kIters, slots, 1));
                    for (int o = 1; o < s; o++) assertTrue(cost(tiles, kIters, slots, o) > cost(tiles, kIters, slots, s), "ties go to fewer splits");
                    for (int o = s + 1; o <= Math.min(32, kIters); o++) assertTrue(cost(tiles, kIters, slots, o) >= cost(tiles, kIters, slots, s));
                    assertTrue(Pgemm.splits(tiles, kIters, slots, 2) <= 2, "the cap holds");
                }
    }

    @Test
    void plansSizeTheirGridWorkspaceAndTickets() {
        Pgemm.Plan p = Pgemm.plan(Pgemm.Kernel.R128x4, 4096, 4096, 128, 132, PromptGemm.PGEMM_WS, 0);
        assertEquals(32, p.tilesN());
        assertEquals(1, p.tilesM());
        assertEquals(4, p.splits());
        assertEquals(128, p.gridX());
        assertEquals(4L * 128 * 128 * 128, p.wsBytes(), "a 128 x 128 fp32 partial per unit");
        assertEquals(16, p.itersPerUnit());
        assertEquals(32, p.tickets());

        Pgemm.Plan rows = Pgemm.plan(Pgemm.Kernel.R32x4, 1000, 296, 130, 264, PromptGemm.PGEMM_WS, 0);
        assertEquals(8, rows.tilesN(), "1000 columns: the last tile ends inside");
        assertEquals(5, rows.tilesM(), "130 rows in 32-row tiles");
        assertEquals(5, rows.kIters(), "296 = 4 x 64 + 40");

        assertEquals(1, Pgemm.plan(Pgemm.Kernel.R128x4, 4096, 64, 128, 132, PromptGemm.PGEMM_WS, 3).splits(), "a forced split clamps to the K steps");
        assertEquals(3, Pgemm.plan(Pgemm.Kernel.R128x4, 4096, 4096, 128, 132, PromptGemm.PGEMM_WS, 3).splits(), "a forced split");
        assertEquals(0, Pgemm.plan(Pgemm.Kernel.R128x4, 4096, 4096, 128, 132, PromptGemm.PGEMM_WS, 1).wsBytes(), "no split, no workspace");
        // 172 tiles x 64 KB = 11 MB per split: a 16 MB workspace holds one split's partials, so the plan does not split
        assertEquals(1, Pgemm.plan(Pgemm.Kernel.R128x4, 22016, 4096, 128, 132, 16L << 20, 0).splits());
        assertEquals(1, Pgemm.plan(Pgemm.Kernel.R128x4, 22016, 4096, 128, 132, 16L << 20, 3).splits(), "nor when forced");
        Pgemm.Plan big = Pgemm.plan(Pgemm.Kernel.R128x4, 22016, 4096, 128, 132, PromptGemm.PGEMM_WS, 0);
        assertTrue(big.wsBytes() <= PromptGemm.PGEMM_WS, big.wsBytes() + " bytes of partials");
        assertNull(Pgemm.plan(Pgemm.Kernel.R32x4, 128 * 1024, 64, 32 * 17, 132, PromptGemm.PGEMM_WS, 0), "more tiles than tickets");
    }

    @Test
    void kernelsAreChosenByRowsAndNamedBySuffix() {
        assertEquals(Pgemm.Kernel.R32x4, Pgemm.kernelFor(8));
        assertEquals(Pgemm.Kernel.R32x4, Pgemm.kernelFor(32));
        assertEquals(Pgemm.Kernel.R64x4, Pgemm.kernelFor(33));
        assertEquals(Pgemm.Kernel.R128x4, Pgemm.kernelFor(65));
        assertEquals(Pgemm.Kernel.R128x4, Pgemm.kernelFor(500), "past 128 rows: several tiles along M");
        assertEquals(Pgemm.Kernel.R128x3, Pgemm.Kernel.of("128x3"));
        assertEquals(Pgemm.Kernel.R64x4, Pgemm.Kernel.of("pgemm_bf16_64x4"));
        assertEquals("pgemm_bf16_32x4", Pgemm.Kernel.R32x4.symbol());
        assertEquals(4 * (128 + 128) * 64 * 2, Pgemm.Kernel.R128x4.smem(), "128 KB: one block per H100 SM");
        assertEquals(3 * (128 + 128) * 64 * 2, Pgemm.Kernel.R128x3.smem(), "96 KB: two");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Pgemm.Kernel.of("128x8"));
        assertTrue(e.getMessage().contains("32x4, 64x4, 128x3 or 128x4"), e.getMessage());
    }

    @Test
    void operandsMustFitSixteenByteLoads() {
        assertTrue(Pgemm.operandsFit(4096, 4096, 128, 0x1000, 4096, 0x2000, 4096, 4096));
        assertFalse(Pgemm.operandsFit(4096, 300, 128, 0x1000, 304, 0x2000, 304, 4096), "K not a multiple of 8");
        assertFalse(Pgemm.operandsFit(4096, 4096, 128, 0x1000, 4100, 0x2000, 4096, 4096), "W's row stride");
        assertFalse(Pgemm.operandsFit(4096, 4096, 128, 0x1000, 4096, 0x2000, 4092, 4096), "x's row stride below K");
        assertFalse(Pgemm.operandsFit(4096, 4096, 128, 0x1008, 4096, 0x2000, 4096, 4096), "W not 16-byte aligned");
        assertFalse(Pgemm.operandsFit(4096, 4096, 128, 0x1000, 4096, 0x2004, 4096, 4096), "x not 16-byte aligned");
        assertFalse(Pgemm.operandsFit(4096, 4096, 128, 0x1000, 4096, 0x2000, 4096, 4000), "y's row stride below n");
        assertFalse(Pgemm.operandsFit(4096, 4096, 0, 0x1000, 4096, 0x2000, 4096, 4096), "no rows");
    }
}
