package dev.fathom.cuda;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Host side of the warpgroup-MMA prompt GEMM (wgemm_sm90a.cu): its tile constants as the kernel defines them, the
 * grid plan (K splits that fill the machine), what it refuses, where PromptGemm sends a multiply, and which GPUs load
 * the sm_90a image. The kernel itself is checked on a GPU (CudaSelfCheck wgemm, CudaGpuTest).
 */
class WgemmTest {
    private static int define(String src, String name) {
        Matcher m = Pattern.compile("#define " + name + " \\(?([0-9]+)").matcher(src);
        assertTrue(m.find(), name + " in wgemm_sm90a.cu");
        return Integer.parseInt(m.group(1));
    }

    @Test
    void constantsAgreeWithTheKernelAndItsSharedMemoryFits() throws Exception {
        String src = Files.readString(Path.of("src/main/cuda/wgemm_sm90a.cu"));
        assertEquals(Wgemm.BM, define(src, "WG_BM"));
        assertEquals(Wgemm.BN, define(src, "WG_BN"));
        assertEquals(Wgemm.BK, define(src, "WG_BK"));
        assertEquals(Wgemm.STAGES, define(src, "WG_STAGES"));
        assertEquals(Wgemm.PERSISTENT_STAGES, define(src, "WGP_STAGES"));
        assertEquals(Wgemm.stages(Wgemm.WIDE_TILE), define(src, "WG2_STAGES"));
        // the 256-row tile: 4 stages of a 256 x 64 weight box and the 128 x 64 token box, its 4 epilogue slabs within them
        assertEquals(1024 + 4 * (32768 + 16384) + 64, Wgemm.smem(Wgemm.WIDE_TILE));
        for (String kn : Wgemm.KERNELS)
            if (!kn.equals(Wgemm.PERSISTENT) && !Wgemm.swapped(kn))   // the others stage their epilogue in the freed stages (wgemmt stores from registers)
                assertTrue(Wgemm.epilogueBytes(kn) <= Wgemm.stages(kn) * (Wgemm.bm(kn) + Wgemm.BN) * Wgemm.BK * 2, kn);
        Wgemm.Plan wide = Wgemm.plan(Wgemm.WIDE_TILE, 12288, 4096, 128, 132, 0);
        assertEquals(48, wide.wTiles(), "256-row tiles");
        assertEquals(Wgemm.plan(Wgemm.KERNEL, 12288, 4096, 128, 132, 0).wTiles(), 2 * wide.wTiles());
        assertTrue(wide.waveEfficiency(132) >= Wgemm.GOOD_WAVES, "the planner splits K until the blocks fill their waves: " + wide);
        // the swapped form: one wave of whole-K blocks where a width gives one, as cuBLAS runs these multiplies
        assertEquals(new Wgemm.Plan(128, 1, 64, 1, 96), Wgemm.plan(Wgemm.SWAPPED, 12288, 4096, 128, 132, 0), "QKV: 96 wide, no split");
        assertEquals(new Wgemm.Plan(126, 1, 64, 1, 176), Wgemm.plan(Wgemm.SWAPPED, 22016, 4096, 128, 132, 0), "gate/up pairs: 176 wide");
        assertEquals(new Wgemm.Plan(64, 1, 172, 2, 64), Wgemm.plan(Wgemm.SWAPPED, 4096, 11008, 128, 132, 0), "down: 64 wide, 2 splits");
        assertEquals(new Wgemm.Plan(64, 1, 64, 2, 64), Wgemm.plan(Wgemm.SWAPPED, 4096, 4096, 128, 132, 0), "out: 64 wide, 2 splits");
        assertEquals(new Wgemm.Plan(64, 32, 64, 1, 192), Wgemm.plan(Wgemm.SWAPPED, 12288, 4096, 4096, 132, 0), "4096 rows: the widest tile fills 16 waves");
        assertEquals(3, Wgemm.plan(Wgemm.SWAPPED, 12288, 4096, 128, 132, 3).splits(), "a forced split");
        assertEquals("wgemmt_bf16_96", Wgemm.function(Wgemm.SWAPPED, Wgemm.plan(Wgemm.SWAPPED, 12288, 4096, 128, 132, 0)));
        assertEquals(Wgemm.KERNEL, Wgemm.function(Wgemm.KERNEL, Wgemm.plan(12288, 4096, 128, 132, 0)));
        // 64-token tiles: the output projection gets its wave of whole-K blocks from two token tiles
        assertEquals(new Wgemm.Plan(64, 2, 64, 1, 64), Wgemm.plan(Wgemm.SWAPPED64, 4096, 4096, 128, 132, 0), "out: 64 wide x 2 token tiles, no split");
        assertEquals(new Wgemm.Plan(64, 2, 172, 1, 64), Wgemm.plan(Wgemm.SWAPPED64, 4096, 11008, 128, 132, 0), "down: the same, K 11008 whole");
        assertEquals("wgemmt64_bf16_64", Wgemm.function(Wgemm.SWAPPED64, Wgemm.plan(Wgemm.SWAPPED64, 4096, 4096, 128, 132, 0)));
        assertEquals(256, Wgemm.threads(Wgemm.SWAPPED64));
        assertEquals(384, Wgemm.threads(Wgemm.SWAPPED));
        Wgemm.Plan tiny = Wgemm.plan(Wgemm.SWAPPED, 77, 1000, 130, 132, 0);
        assertTrue(tiny.wTiles() * tiny.tileRows() >= 77 && tiny.splits() >= 1 && tiny.splits() <= 15, "a small multiply still gets a plan: " + tiny);
        assertEquals(Wgemm.EPI_LD, define(src, "WG_EPI_LD"));
        // WG_KERNEL(name, ...): the forms with the weights as the M operand, THREADS threads a block
        assertTrue(src.contains("    extern \"C\" __global__ void __launch_bounds__(" + Wgemm.THREADS + ", 1)"), "WG_KERNEL's block size");
        java.util.List<String> functions = new java.util.ArrayList<>(Wgemm.PROBES);
        for (String kn : Wgemm.KERNELS)
            if (!Wgemm.swapped(kn)) functions.add(kn);
        for (String kn : java.util.List.of(Wgemm.SWAPPED, Wgemm.SWAPPED64))
            for (int nw : Wgemm.SWAPPED_WIDTHS) {
                String fn = kn + "_" + nw;
                assertEquals(0, nw % 8, "wgmma's N step");
                int tokens = Wgemm.tileTokens(kn), stages = Wgemm.swappedStages(nw, tokens), stage = (tokens + nw) * Wgemm.BK * 2;
                assertTrue(Wgemm.smem(kn, nw) <= SbiSplitK.MAX_SMEM, fn + ": its stages fit");
                assertTrue(Wgemm.smem(kn, nw) + stage > SbiSplitK.MAX_SMEM || stages == (tokens == 128 ? 8 : 12), fn + ": as many stages as fit");
                // WGT_KERNEL(name, width, consumer warpgroups): 128 + 128 x warpgroups threads
                assertTrue(src.contains("WGT_KERNEL(" + fn + ", " + nw + ", " + (tokens / 64) + ")"), fn + " is defined");
                assertEquals(128 + 128 * (tokens / 64), Wgemm.threads(kn), fn + " and its block size");
            }
        // the 128-token form's stage counts as the kernel had them when it was measured (call 4 of the twenty-ninth session)
        assertArrayEquals(new int[]{5, 5, 6, 7, 8}, java.util.Arrays.stream(Wgemm.SWAPPED_WIDTHS).map(nw -> Wgemm.swappedStages(nw, 128)).toArray());
        assertTrue(src.contains("#define WGT_SMEM_MAX (227 * 1024 - 4096)   // SbiSplitK.MAX_SMEM"));
        assertEquals(227 * 1024 - 4096, SbiSplitK.MAX_SMEM);
        for (String kn : functions) {
            assertTrue(src.contains("WG_KERNEL(" + kn + ", "), kn + " is defined");
            assertTrue(Wgemm.smem(kn) <= SbiSplitK.MAX_SMEM, kn + " within the opt-in shared memory");
        }
        // the persistent kernel: 4 stages, its own epilogue of 2 x 128 x 68 floats, the barriers
        assertEquals(1024 + 4 * 32768 + 2 * 128 * 68 * 4 + 64, Wgemm.smem(Wgemm.PERSISTENT));
        Wgemm.Plan qkv = Wgemm.plan(12288, 4096, 128, 132, 0);
        assertEquals(132, Wgemm.grid(Wgemm.PERSISTENT, qkv, 132), "a block per multiprocessor");
        assertEquals(384, Wgemm.grid(Wgemm.KERNEL, qkv, 132), "a block per unit");
        for (String probe : Wgemm.PROBES) {   // the probes time the first form: its grid and memory
            assertEquals(384, Wgemm.grid(probe, qkv, 132), probe);
            assertEquals(Wgemm.SMEM, Wgemm.smem(probe), probe);
        }
        assertEquals(8, Wgemm.grid(Wgemm.PERSISTENT, Wgemm.plan(1000, 64, 64, 132, 0), 132), "no more blocks than units");
        // the cluster form: the first form's memory and grid, a tile's splits one cluster of at most 8
        assertEquals(Wgemm.SMEM, Wgemm.smem(Wgemm.CLUSTER));
        assertEquals(384, Wgemm.grid(Wgemm.CLUSTER, qkv, 132));
        assertEquals(Wgemm.MAX_CLUSTER, Wgemm.plan(Wgemm.CLUSTER, 4096, 11008, 128, 132, 16).splits(), "forced splits capped at a cluster");
        assertEquals(16, Wgemm.plan(Wgemm.KERNEL, 4096, 11008, 128, 132, 16).splits());
        for (int n : new int[]{64, 1000, 4096, 12288})
            assertTrue(Wgemm.plan(Wgemm.CLUSTER, n, 65536, 64, 132, 0).splits() <= Wgemm.MAX_CLUSTER, "planned splits fit a cluster: " + n);
        // a stage: BM x BK weights and BN x BK tokens in bf16; the epilogue reuses the stages for 2 x BN x 68 floats
        assertEquals(1024 + 6 * 32768 + 96, Wgemm.SMEM);
        assertTrue(Wgemm.SMEM <= SbiSplitK.MAX_SMEM, "within the opt-in shared memory");
        assertTrue(2 * Wgemm.BN * define(src, "WG_EPI_LD") * 4 <= Wgemm.STAGES * (Wgemm.BM + Wgemm.BN) * Wgemm.BK * 2, "the epilogue fits the stages");
        // the 128-byte swizzle the descriptors assume: one stage row is exactly 128 bytes of K
        assertEquals(128, Wgemm.BK * 2);
    }

    @Test
    void planSplitsKUntilTheWavesAreFullOnLlamaShapes() {
        // 132 multiprocessors (H100 SXM, H200), a 128-token prompt: tiles, splits, blocks
        int[][] cases = {   // n, k, rows, expected splits
                {12288, 4096, 128, 4},   // QKV: 96 tiles; 1-3 splits fill 73 % of their waves, 4 fill 97 %
                {4096, 4096, 128, 4},    // out: 32 tiles -> 128 blocks
                {22016, 4096, 128, 3},   // gate/up: 172 tiles: 65 % at 1, 87 % at 2, 98 % at 3
                {4096, 11008, 128, 4},   // down: 32 tiles over 172 K blocks
                {4096, 4096, 4096, 1},   // a batch-32 prompt: 1024 tiles fill 97 % already
        };
        for (int[] c : cases) {
            Wgemm.Plan p = Wgemm.plan(c[0], c[1], c[2], 132, 0);
            assertEquals(c[3], p.splits(), c[0] + "x" + c[1] + " at " + c[2] + " rows");
            assertTrue(p.waveEfficiency(132) >= Wgemm.GOOD_WAVES, "filled: " + p);
            assertEquals((c[0] + 127) / 128, p.wTiles());
            assertEquals((c[2] + 127) / 128, p.tTiles());
            assertEquals((c[1] + 63) / 64, p.kBlocks());
        }
        // a split never takes fewer than MIN_SPLIT_BLOCKS blocks of K: 4 blocks cannot be split, whatever the waves
        assertEquals(1, Wgemm.plan(128, 256, 64, 132, 0).splits());
        for (int k : new int[]{64, 300, 1000, 4096, 11008})
            for (int n : new int[]{77, 1000, 4096, 22016}) {
                Wgemm.Plan p = Wgemm.plan(n, k, 128, 132, 0);
                assertTrue(p.splits() == 1 || p.kBlocks() / p.splits() >= Wgemm.MIN_SPLIT_BLOCKS, p.toString());
                assertTrue(p.splits() <= Wgemm.MAX_SPLITS);
                // no split the planner stopped short of fills the waves better than the one it chose, unless it was good enough
                if (p.waveEfficiency(132) < Wgemm.GOOD_WAVES)
                    for (int s = 1; s <= Math.min(Wgemm.MAX_SPLITS, p.kBlocks() / Wgemm.MIN_SPLIT_BLOCKS); s++)
                        assertTrue(Wgemm.efficiency(p.wTiles() * p.tTiles() * s, 132) <= p.waveEfficiency(132) + 1e-9, p + " vs " + s);
            }
        // forced splits are taken, capped at one K block each
        assertEquals(3, Wgemm.plan(4096, 4096, 128, 132, 3).splits());
        assertEquals(2, Wgemm.plan(64, 100, 64, 132, 16).splits());
        assertThrows(IllegalArgumentException.class, () -> Wgemm.plan(0, 64, 64, 132, 0));
    }

    @Test
    void refusesStridesAndAddressesTheTensorMapsCannotTake() {
        long a = 1L << 20;
        assertNull(Wgemm.refusal(a, 4096, a, 4096, a, 4096));
        assertTrue(Wgemm.refusal(a, 4100, a, 4096, a, 4096).contains("multiples of 8 (weights 4100"));
        assertTrue(Wgemm.refusal(a, 4096, a, 172, a, 4096).contains("activations 172"));
        assertTrue(Wgemm.refusal(a, 4096, a, 4096, a, 4098).contains("multiple of 4 floats (4098)"));
        assertNotNull(Wgemm.refusal(a + 8, 4096, a, 4096, a, 4096));
        assertNotNull(Wgemm.refusal(a, 4096, a, 4096, a + 4, 4096));
    }

    @Test
    void promptGemmSendsOnlyItsRowRangeThroughTheKernel() {
        Wgemm.Plan qkv = Wgemm.plan(Wgemm.SWAPPED, 12288, 4096, 128, 132, 0), out = Wgemm.plan(Wgemm.SWAPPED, 4096, 4096, 128, 132, 0),
                down = Wgemm.plan(Wgemm.SWAPPED, 4096, 11008, 128, 132, 0);
        int stream = Wgemm.MIN_STREAM_BLOCKS;
        assertTrue(PromptGemm.wgemmTakes(true, 128, 64, 128, null, qkv, stream));
        assertTrue(PromptGemm.wgemmTakes(true, 64, 64, 128, null, qkv, stream));
        assertTrue(PromptGemm.wgemmTakes(true, 128, 64, 128, null, down, stream), "down: 2 splits of 86 K blocks each");
        assertFalse(PromptGemm.wgemmTakes(true, 128, 64, 128, null, out, stream), "the output projection: 2 splits of 32 K blocks, cuBLAS");
        assertTrue(PromptGemm.wgemmTakes(true, 128, 64, 128, null, out, 0), "no stream bound: it too");
        assertFalse(PromptGemm.wgemmTakes(true, 63, 64, 128, null, qkv, stream), "below the range: cuBLAS");
        assertFalse(PromptGemm.wgemmTakes(true, 129, 64, 128, null, qkv, stream), "above the range: cuBLAS");
        assertFalse(PromptGemm.wgemmTakes(false, 128, 64, 128, null, qkv, stream), "not an sm_90 GPU or the switch off");
        assertFalse(PromptGemm.wgemmTakes(true, 128, 64, 128, "strides", qkv, stream), "operands it refuses: cuBLAS");
        assertTrue(PromptGemm.wgemmEnabled(), "on by default since the thirty-first session: every prefill through it shorter than every cuBLAS one");
        SystemProperties.with("fathom.cuda.wgemm", "true", () -> assertTrue(PromptGemm.wgemmEnabled()));
        SystemProperties.with("fathom.cuda.wgemm", "false", () -> assertFalse(PromptGemm.wgemmEnabled()));
        assertEquals(Wgemm.SWAPPED, Wgemm.kernel());
        assertNull(Wgemm.shortKernel(), "short streams stay on cuBLAS by default");
        SystemProperties.with("fathom.cuda.wgemmShortKernel", Wgemm.SWAPPED64, () -> assertEquals(Wgemm.SWAPPED64, Wgemm.shortKernel()));
        SystemProperties.with("fathom.cuda.wgemmShortKernel", "wgemmt65", () -> {
            var e = assertThrows(IllegalArgumentException.class, Wgemm::shortKernel);
            assertTrue(e.getMessage().startsWith("-Dfathom.cuda.wgemmShortKernel=wgemmt65: use wgemm_bf16, "), e.getMessage());
        });
        // the output projection: too short a stream for wgemmt, long enough for wgemmt64
        assertFalse(PromptGemm.streamsEnough(out, stream));
        assertTrue(PromptGemm.streamsEnough(Wgemm.plan(Wgemm.SWAPPED64, 4096, 4096, 128, 132, 0), stream));
        CudaSettings.with(java.util.List.of("fathom.cuda.wgemmKernel=" + Wgemm.PERSISTENT), () -> { assertEquals(Wgemm.PERSISTENT, Wgemm.kernel()); return null; });
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CudaSettings.with(java.util.List.of("fathom.cuda.wgemmKernel=wgemmx"), Wgemm::kernel));
        assertTrue(e.getMessage().contains("-Dfathom.cuda.wgemmKernel=wgemmx: use wgemm_bf16, wgemmp_bf16, wgemmc_bf16"), e.getMessage());
    }

    @Test
    void staggeredWalksCoverEveryKBlockOnceAndSpreadTheWave() throws Exception {
        // each slab's walk visits every block of its split exactly once, whatever the stagger (the sum does not change)
        for (int st : KernelTables.STAGGERS)
            for (int[] range : new int[][]{{0, 64}, {86, 172}, {0, 1}, {5, 9}})
                for (int wt = 0; wt < 130; wt += 7) {
                    boolean[] seen = new boolean[range[1]];
                    for (int g = 0; g < range[1] - range[0]; g++) {
                        int kb = Wgemm.staggeredBlock(wt, st, range[0], range[1], g);
                        assertTrue(kb >= range[0] && kb < range[1] && !seen[kb], "slab " + wt + " stagger " + st + " stage " + g + ": block " + kb);
                        seen[kb] = true;
                    }
                }
        assertEquals(0, Wgemm.staggeredBlock(5, 0, 0, 64, 0), "stagger 0: every slab starts at K = 0");
        // QKV at 128 rows (128 slabs of 96, 64 K blocks): stagger 1 starts the wave's first stage on all 64 column windows
        java.util.Set<Integer> first = new java.util.HashSet<>();
        for (int wt = 0; wt < 128; wt++) first.add(Wgemm.staggeredBlock(wt, 1, 0, 64, 0));
        assertEquals(64, first.size());
        assertEquals(3, Wgemm.staggeredBlock(1, 3, 0, 64, 0));
        assertEquals(1, Wgemm.staggeredBlock(1, 3, 0, 64, 62), "it wraps");
        // the kernel computes the same rotation and wraps the same way
        String src = Files.readString(Path.of("src/main/cuda/wgemm_sm90a.cu"));
        assertTrue(src.contains("rot = stagger > 0 && nkb > 0 ? (int)((long)wt * stagger % nkb) : 0;"));
        assertTrue(src.contains("return kb0 + (g + rot < nkb ? g + rot : g + rot - nkb);"));
        assertTrue(src.contains("int ldy, int accumulate, int stagger,"), "WGT_KERNEL takes the stagger after accumulate, as Wgemm.launch passes it");
        assertEquals(0, Wgemm.stagger(), "off by default");
        SystemProperties.with("fathom.cuda.wgemmStagger", "8", () -> assertEquals(8, Wgemm.stagger()));
        SystemProperties.with("fathom.cuda.wgemmStagger", "65", () -> {
            var e = assertThrows(IllegalArgumentException.class, Wgemm::stagger);
            assertTrue(e.getMessage().contains("fathom.cuda.wgemmStagger"), e.getMessage());
        });
    }

    @Test
    void gatedEpilogueWritesEachOutputFromItsOwnGateAndUpRows() throws Exception {
        for (int group : Wgemm.GATED_GROUPS)
            for (int f : new int[]{2, 8, 100, 130, 11008}) {
                int[][] order = SbiLayout.gatedPairs(f, group);   // [source (0 gate, 1 up, -1 padding)][row] per stored row
                int stored = order[0].length, half = group / 2;
                boolean[] written = new boolean[f];
                for (int o = 0; o < stored; o++) {
                    int out = Wgemm.gatedOutput(o, group);
                    if (order[0][o] == 1 || (order[0][o] == -1 && o % group >= half)) {
                        assertEquals(-1, out, "up row " + o + " writes nothing itself");
                        continue;
                    }
                    if (order[0][o] == -1) {   // a padding gate row: its output lies past f, which the kernel's nOut bound skips
                        assertTrue(out >= f, "padding row " + o + " maps past the outputs");
                        continue;
                    }
                    assertEquals(order[1][o], out, "gate row " + o + " (groups of " + group + ") writes the output it gates");
                    assertEquals(1, order[0][o + half], "its up row is half a group on");
                    assertEquals(out, order[1][o + half]);
                    assertFalse(written[out]);
                    written[out] = true;
                }
                for (int j = 0; j < f; j++) assertTrue(written[j], "output " + j + " of " + f + " written (groups of " + group + ")");
            }
        // the kernel's thread layout: lane holds outputs 8b + 2 (lane & 3), +1 of a slab whose first row is a multiple of 16
        for (int lane = 0; lane < 32; lane++)
            for (int b = 0; b < 24; b++) {
                int o = 8 * b + 2 * (lane & 3), partner = 8 * b + 2 * ((lane ^ 1) & 3);
                assertEquals((lane & 1) == 0, Wgemm.gatedOutput(o, 4) >= 0, "groups of 4: the even lanes hold the gate pairs");
                if ((lane & 1) == 0) {
                    assertEquals(o + 2, partner, "groups of 4: the up pair is lane ^ 1's");
                    assertEquals(o >> 1, Wgemm.gatedOutput(o, 4));
                    assertEquals((o >> 1) + 1, Wgemm.gatedOutput(o + 1, 4));
                }
                assertEquals(b % 2 == 0, Wgemm.gatedOutput(o, 16) >= 0, "groups of 16: the even blocks hold the gate rows, b + 1 their up rows");
                if (b % 2 == 0) {
                    assertEquals((o >> 4) * 8 + (o & 15), Wgemm.gatedOutput(o, 16));
                    assertEquals(Wgemm.gatedOutput(o, 16) + 1, Wgemm.gatedOutput(o + 1, 16));
                }
            }
        String src = Files.readString(Path.of("src/main/cuda/wgemm_sm90a.cu"));
        // PDL: the first stages' weights before the wait, their tokens after it, the epilogue after the consumers' wait
        int w0 = src.indexOf("tma_load_2d(base + g * STAGE + X_BYTES, mapW"), wait = src.indexOf("pdl_wait();   // the tokens"),
                x0 = src.indexOf("tma_load_2d(base + g * STAGE, mapX"), epi = src.indexOf("pdl_wait();   // (done by the time");
        assertTrue(w0 > 0 && w0 < wait && wait < x0 && x0 < epi && epi < src.indexOf("if (group == 4)"), "weights, wait, tokens, wait, epilogue");
        assertTrue(src.contains("const int pre = !early ? 0 :"), "launched plainly, no stage takes the weights-first path");
        assertTrue(src.contains("__shfl_xor_sync(0xffffffffu, g0, 1)") && src.contains("wgt_gated2(y, ldy, outBf16, row, o >> 1, g0, g1, u0, u1, bias, o, 2, act)"));
        assertTrue(src.contains("n = (o >> 4) * 8 + (o & 15)") && src.contains("d[4 * b + 4 + 2 * h]"));
        assertTrue(src.contains("int group, int act, int outBf16, int nOut, int early) {"), "WGT_KERNEL ends with the gated epilogue's arguments and the PDL flag, as Wgemm passes them");
        for (int nw : Wgemm.SWAPPED_WIDTHS) assertEquals(0, nw % 16, "a slab of " + nw + " holds whole groups of 16");
    }

    @Test
    void gatedEpilogueRefusesWhatItCannotWrite() {
        Wgemm.Plan gateUp = Wgemm.plan(Wgemm.SWAPPED, 22016, 4096, 128, 132, 0);
        assertEquals(1, gateUp.splits(), "llama-7b gate/up at 128 rows: one split");
        assertNull(Wgemm.gatedRefusal(Wgemm.SWAPPED, gateUp, 4, 22016, 11008, 11008));
        assertNull(Wgemm.gatedRefusal(Wgemm.SWAPPED, gateUp, 16, 22016, 11008, 11008));
        assertTrue(Wgemm.gatedRefusal(Wgemm.KERNEL, Wgemm.plan(Wgemm.KERNEL, 22016, 4096, 128, 132, 0), 4, 22016, 11008, 11008).contains("swapped"));
        assertTrue(Wgemm.gatedRefusal(Wgemm.SWAPPED, Wgemm.plan(Wgemm.SWAPPED, 22016, 4096, 128, 132, 3), 4, 22016, 11008, 11008).contains("one K split"));
        assertTrue(Wgemm.gatedRefusal(Wgemm.SWAPPED, gateUp, 8, 22016, 11008, 11008).contains("groups of"));
        assertTrue(Wgemm.gatedRefusal(Wgemm.SWAPPED, gateUp, 16, 22008, 11004, 11004).contains("whole groups"));
        assertTrue(Wgemm.gatedRefusal(Wgemm.SWAPPED, gateUp, 4, 156, 77, 78).contains("even"), "an odd output count");
        assertTrue(Wgemm.gatedRefusal(Wgemm.SWAPPED, gateUp, 4, 22016, 11008, 11009).contains("even"), "an odd stride");
        assertTrue(Wgemm.gatedRefusal(Wgemm.SWAPPED, gateUp, 4, 22016, 11010, 11010).contains("stored rows"));
        assertFalse(Wgemm.gatedEnabled(), "off until a GPU has checked and timed it");
        assertFalse(Wgemm.pdlEnabled(), "off until a GPU has checked and timed it");
        SystemProperties.with("fathom.cuda.wgemmPdl", "true", () -> assertTrue(Wgemm.pdlEnabled()));
        assertEquals(java.util.List.of("fathom.cuda.wgemm=true", "fathom.cuda.wgemmPdl=true"), ComparisonParts.switches("wgpdl"));
        SystemProperties.with("fathom.cuda.wgemmGated", "true", () -> assertTrue(Wgemm.gatedEnabled()));
        assertEquals(java.util.List.of("fathom.cuda.wgemm=true", "fathom.cuda.wgemmGated=true"), ComparisonParts.switches("wggated"));
    }

    @Test
    void theSm90aImageLoadsOnComputeCapability90Only() {
        assertNull(CudaModule.hopperRefusal(9, 0, true));
        assertTrue(CudaModule.hopperRefusal(8, 0, true).contains("not 8.0"));
        assertTrue(CudaModule.hopperRefusal(10, 0, true).contains("not 10.0"));
        assertTrue(CudaModule.hopperRefusal(9, 0, false).contains("wgemm_sm90a.fatbin is missing"));
    }
}
