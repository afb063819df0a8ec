package dev.fathom.cuda;

import dev.fathom.engine.telemetry.TelemetryEvent.Phase;
import dev.fathom.engine.tensor.DType;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Host-side choices of the prompt phase: query tiles of the attention, the row-major form for cuBLAS, the BF16 layout. */
class PromptPathTest {
    @Test
    void aShortPromptsRopeSplitsItsHeadsOverBlocks() {
        assertEquals(1, AttentionLaunch.ropeSplits(132, 4096, 64, true), "batch 32 x 128 rows: a block per row");
        assertEquals(1, AttentionLaunch.ropeSplits(132, 528, 64, true), "four blocks per SM from the rows alone");
        assertEquals(5, AttentionLaunch.ropeSplits(132, 128, 64, true), "128 rows x 5 = 640 blocks");
        assertEquals(64, AttentionLaunch.ropeSplits(132, 1, 64, true), "never more ranges than heads");
        assertEquals(2, AttentionLaunch.ropeSplits(132, 3, 2, true));
        assertEquals(1, AttentionLaunch.ropeSplits(132, 128, 64, false), "-Dfathom.cuda.ropeSplit=false");
        assertEquals(4, AttentionLaunch.ropeSplits(132, 100, 7, true), "6 wanted, but 2 heads a range leave 4 ranges, none empty");
        // as the kernel computes the ranges (per = ceil(H / S), range y = [y * per, +per) clamped to H): every block has
        // heads, and together they cover each head once
        for (int h = 1; h <= 70; h++)
            for (int rows = 1; rows <= 600; rows += 37) {
                int sp = AttentionLaunch.ropeSplits(132, rows, h, true), per = (h + sp - 1) / sp, covered = 0;
                for (int y = 0; y < sp; y++) {
                    int size = Math.min(h, Math.min(h, y * per) + per) - Math.min(h, y * per);
                    assertTrue(size > 0, "block " + y + " of " + sp + " has no heads (" + h + " heads, " + rows + " rows)");
                    covered += size;
                }
                assertEquals(h, covered, h + " heads, " + rows + " rows");
            }
    }

    @Test
    void queryTilesAreRunsOfOneSequenceOfAtMost64Rows() {
        int[] slots = new int[130 + 5 + 1 + 64];
        Arrays.fill(slots, 0, 130, 2);
        Arrays.fill(slots, 130, 135, 0);
        slots[135] = 1;
        Arrays.fill(slots, 136, 200, 0);   // slot 0 again, not adjacent to its first run
        int[] out = new int[2 * slots.length];
        int t = AttentionLaunch.queryTiles(slots, 64, out);
        assertArrayEquals(new int[]{0, 64, 64, 64, 128, 2, 130, 5, 135, 1, 136, 64}, Arrays.copyOf(out, 2 * t));
        // every row covered once, each tile of one slot
        int covered = 0;
        for (int i = 0; i < t; i++) {
            covered += out[2 * i + 1];
            for (int r = out[2 * i]; r < out[2 * i] + out[2 * i + 1]; r++) assertEquals(slots[out[2 * i]], slots[r]);
        }
        assertEquals(slots.length, covered);
        // a decode step: one row per sequence
        assertEquals(4, AttentionLaunch.queryTiles(new int[]{0, 1, 2, 3}, 64, out));
    }

    @Test
    void decodeAttentionSplitsFillTheGpuAndRunOnlyOnDistinctSequences() {
        // llama-7b batch 1 on 132 SMs, 2048 positions: 8 splits of at least 256 (9 would fill 2 blocks per SM)
        assertEquals(8, AttentionLaunch.decodeSplits(132, 32, 1, 2048, 256));
        assertEquals(9, AttentionLaunch.decodeSplits(132, 32, 1, 4096, 256));
        assertEquals(1, AttentionLaunch.decodeSplits(132, 32, 1, 160, 256), "a short context: one block per head");
        assertEquals(2, AttentionLaunch.decodeSplits(132, 32, 8, 4096, 256));
        assertEquals(1, AttentionLaunch.decodeSplits(132, 32, 32, 4096, 256), "enough blocks without splitting");
        assertEquals(AttentionLaunch.MAX_SPLITS, AttentionLaunch.decodeSplits(132, 2, 1, 1 << 16, 256), "capped");
        for (int heads = 1; heads <= 64; heads *= 2)
            for (int rows = 1; rows <= 64; rows++) {
                int s = AttentionLaunch.decodeSplits(132, heads, rows, 1 << 20, 1);
                assertTrue(s >= 1 && s <= AttentionLaunch.MAX_SPLITS);
                assertTrue(s == AttentionLaunch.MAX_SPLITS || heads * rows * s >= 2 * 132, heads + "x" + rows);
                assertTrue(s == 1 || heads * rows * (s - 1) < 2 * 132, "no more splits than needed");
            }
        // a block never scores more positions than its shared memory holds, whatever the row's length
        for (int maxLen : new int[]{1, 100, 160, 2048, 5000})
            for (int minChunk : new int[]{1, 16, 256})
                for (int splits = 1; splits <= 16; splits++) {
                    int cap = AttentionLaunch.scoreCap(maxLen, splits, minChunk);
                    for (int len = 1; len <= maxLen; len += Math.max(1, maxLen / 97)) {
                        int used = Math.min(splits, (len + minChunk - 1) / minChunk), chunk = (len + used - 1) / used;
                        assertTrue(chunk <= cap, maxLen + "/" + minChunk + "/" + splits + " at " + len);
                    }
                }
        // the partial buffer covers every batch up to the slots (fewer rows never need more partials)
        long part = AttentionLaunch.decodePartFloats(132, 32, 128, 8, 4096, 256);
        for (int rows = 1; rows <= 8; rows++)
            assertTrue((long) rows * 32 * AttentionLaunch.decodeSplits(132, 32, rows, 4096, 256) * 130 <= part);
        // shared memory: q, new k, one block's scores (16-byte padded), 4 floats per thread
        assertEquals((2 * 128 + 228 + 4 * AttentionLaunch.DECODE_THREADS) * 4, AttentionLaunch.decodeSmem(128, 227));
        int smem = AttentionLaunch.decodeSmem(128, 2048), limit = 160 * 1024;
        assertTrue(AttentionLaunch.useDecode(Phase.DECODE, new int[]{3, 0, 1}, 4, 128, smem, limit, 8));
        assertFalse(AttentionLaunch.useDecode(Phase.PROMPT, new int[]{0}, 4, 128, smem, limit, 8), "prompts append many rows");
        assertFalse(AttentionLaunch.useDecode(Phase.DECODE, new int[]{1, 1}, 4, 128, smem, limit, 8), "two rows of one sequence");
        assertFalse(AttentionLaunch.useDecode(Phase.DECODE, new int[]{0, 1, 2, 3, 0}, 4, 128, smem, limit, 8), "more rows than slots");
        assertFalse(AttentionLaunch.useDecode(Phase.DECODE, new int[]{0}, 4, 4 * AttentionLaunch.DECODE_THREADS + 4, smem, limit, 8),
                "head dim beyond 4 x threads");
        assertFalse(AttentionLaunch.useDecode(Phase.DECODE, new int[]{0}, 4, 128, limit + 4, limit, 8), "shared memory");
        assertFalse(AttentionLaunch.useDecode(Phase.DECODE, new int[]{1, 0, 2}, 4, 128, smem, limit, 2), "more rows than the limit");
        assertEquals(Integer.MAX_VALUE, AttentionLaunch.maxDecodeRows());
        SystemProperties.with("fathom.cuda.fusedAttention", "false", () -> {
            assertEquals(0, AttentionLaunch.maxDecodeRows(), "switched off: no rows");
            assertFalse(AttentionLaunch.useDecode(Phase.DECODE, new int[]{0}, 4, 128, smem, limit, AttentionLaunch.maxDecodeRows()));
        });
        SystemProperties.with("fathom.cuda.fusedAttentionRows", "2", () -> {
            assertEquals(2, AttentionLaunch.maxDecodeRows());
        });
    }

    @Test
    void normFusedKernelNamesInsertTheN() {
        assertEquals("sbin_f32_", CudaGemms.normKernel("sbi_f32_"));
        assertEquals("sbirmn_bf16_", CudaGemms.normKernel("sbirm_bf16_"));
    }

    @Test
    void ropeTableHoldsCosineAndSinePairsPerPositionAndFrequency() {
        double[] inv = {1.0, 0.01, 1e-4};
        float[] t = AttentionLaunch.ropeTable(inv, 5);
        assertEquals(5 * 3 * 2, t.length);
        assertEquals(1f, t[0]);
        assertEquals(0f, t[1]);
        assertEquals((float) Math.cos(4 * 0.01), t[(4 * 3 + 1) * 2]);
        assertEquals((float) Math.sin(4 * 0.01), t[(4 * 3 + 1) * 2 + 1]);
        assertEquals((float) Math.sin(3.0), t[(3 * 3) * 2 + 1]);
    }

    @Test
    void tiledAttentionOnlyWhereRowsShareKeys() {
        assertTrue(AttentionLaunch.useTiles(Phase.PROMPT, 128, 2, 128));
        assertFalse(AttentionLaunch.useTiles(Phase.PROMPT, 4, 4, 128), "one row per sequence: per-row kernel");
        assertFalse(AttentionLaunch.useTiles(Phase.DECODE, 128, 2, 128), "decode steps keep the captured per-row kernel");
        assertFalse(AttentionLaunch.useTiles(Phase.PROMPT, 128, 2, 512), "head dim beyond the kernel's 256");
        assertEquals("attention_tiles_64", AttentionLaunch.tilesKernel(20));
        assertEquals("attention_tiles_128", AttentionLaunch.tilesKernel(80));
        assertEquals("attention_tiles_256", AttentionLaunch.tilesKernel(256));
        assertTrue(AttentionLaunch.tilesSmem(256) <= 227 * 1024, "fits Hopper's shared memory per block");
        assertEquals("attention_tiles32_128", AttentionLaunch.tilesKernel(128, 32));
        assertEquals("attention_tiles_128", AttentionLaunch.tilesKernel(128, 64));
        assertTrue(AttentionLaunch.tilesSmem(128, 32) < AttentionLaunch.tilesSmem(128, 64));
        assertEquals((32 * 129 + 32 * 129 + 32 * 128 + 32 * 33 + 4 * 32) * 4, AttentionLaunch.tilesSmem(128, 32));
    }

    @Test
    void decodeAttentionLoadsTheCacheEarlyWhereEveryBlockHasAMultiprocessor() {
        assertEquals("attention_decode", AttentionLaunch.decodeKernel(32, 132, true), "batch 1 of llama-7b: 32 heads");
        assertEquals("attention_decode", AttentionLaunch.decodeKernel(132, 132, true));
        assertEquals("attention_decode_late", AttentionLaunch.decodeKernel(133, 132, true));
        assertEquals("attention_decode_late", AttentionLaunch.decodeKernel(32 * 8, 132, true), "batch 8: two blocks per SM");
        assertEquals("attention_decode_late", AttentionLaunch.decodeKernel(32, 132, false), "switched off");
        assertTrue(AttentionLaunch.decodePrefetch());
        SystemProperties.with("fathom.cuda.decodePrefetch", "false", () -> {
            assertFalse(AttentionLaunch.decodePrefetch());
        });
    }

    @Test
    void shortPromptsTakeHalfTilesSoEveryMultiprocessorGetsABlock() {
        // llama-7b, one sequence of 128 rows: 32 heads x 2 tiles of 64 = 64 blocks on 132 SMs -> 32-row tiles (128 blocks)
        assertEquals(32, AttentionLaunch.tileRows(32, 2, 132, 0));
        // 8 sequences of 128: 512 blocks -> 64-row tiles
        assertEquals(64, AttentionLaunch.tileRows(32, 16, 132, 0));
        assertEquals(64, AttentionLaunch.tileRows(32, 9, 132, 0), "288 blocks: two per multiprocessor already");
        assertEquals(32, AttentionLaunch.tileRows(4, 1, 132, 0), "a tiny model's short prompt");
        assertEquals(64, AttentionLaunch.tileRows(4, 1, 132, 64), "forced");
        assertEquals(0, AttentionLaunch.forcedTileRows());
        for (String bad : new String[]{"48", "16", "x"}) {
            SystemProperties.with("fathom.cuda.attTileRows", bad, () -> {
                var e = assertThrows(IllegalArgumentException.class, AttentionLaunch::forcedTileRows);
                assertTrue(e.getMessage().startsWith("-Dfathom.cuda.attTileRows=" + bad + ": use "), e.getMessage());
            });
        }
        SystemProperties.with("fathom.cuda.attTileRows", "32", () -> {
            assertEquals(32, AttentionLaunch.forcedTileRows());
        });
    }

    @Test
    void tensorCoreAttentionIsForBf16ModelsWithItsHeadDimsAndAWarpPer16Rows() {
        assertTrue(AttentionLaunch.useMma(128, DType.BF16, 9, true), "llama-7b on an H200");
        assertTrue(AttentionLaunch.useMma(16, DType.BF16, 8, true), "the bf16 fixture on an A100");
        assertFalse(AttentionLaunch.useMma(128, DType.F32, 9, true), "F32 models keep the fp32 kernel (fixtures to 1e-4)");
        assertFalse(AttentionLaunch.useMma(128, DType.F16, 9, true));
        assertFalse(AttentionLaunch.useMma(128, DType.I8, 9, true));
        assertFalse(AttentionLaunch.useMma(80, DType.BF16, 9, true), "no instance for head dim 80");
        assertFalse(AttentionLaunch.useMma(256, DType.BF16, 9, true));
        assertFalse(AttentionLaunch.useMma(128, DType.BF16, 7, true), "no bf16 mma before sm_80");
        assertFalse(AttentionLaunch.useMma(128, DType.BF16, 9, false), "switched off");
        assertEquals("attention_mma_128", AttentionLaunch.mmaKernel(128, false));
        assertEquals("attention_mma_16", AttentionLaunch.mmaKernel(16, false));
        assertThrows(IllegalArgumentException.class, () -> AttentionLaunch.mmaKernel(80, false));
        assertEquals(64, AttentionLaunch.mmaThreads(32));
        assertEquals(128, AttentionLaunch.mmaThreads(64), "the kernel's launch bound");
        assertThrows(IllegalArgumentException.class, () -> AttentionLaunch.mmaThreads(48));
        // two buffers of 32 keys [hd + 8] and values [hd + 4], fp32: 67 KB at hd 128 (over 48 KB: opted in), 11 KB at 16
        assertEquals(2 * 32 * (136 + 132) * 4, AttentionLaunch.mmaSmem(128, false));
        assertTrue(AttentionLaunch.mmaSmem(128, false) > 48 * 1024 && AttentionLaunch.mmaSmem(128, false) <= 227 * 1024 / 3, "three blocks per Hopper SM");
        assertEquals(2 * 32 * (24 + 20) * 4, AttentionLaunch.mmaSmem(16, false));
        assertTrue(AttentionLaunch.mmaEnabled());
        SystemProperties.with("fathom.cuda.attMma", "false", () -> assertFalse(AttentionLaunch.mmaEnabled()));
    }

    @Test
    void kvCacheIsBf16WhereThePromptAttentionRunsOnTensorCoresAndItsKernelsAreTheKbInstances() throws Exception {
        assertTrue(AttentionLaunch.useBf16Kv(128, DType.BF16, 9, true, true), "llama-7b on an H100");
        assertFalse(AttentionLaunch.useBf16Kv(128, DType.F32, 9, true, true), "F32 models keep float32 (fixtures to 1e-4)");
        assertFalse(AttentionLaunch.useBf16Kv(128, DType.F16, 9, true, true));
        assertFalse(AttentionLaunch.useBf16Kv(128, DType.I8, 9, true, true), "INT8 models keep float32");
        assertFalse(AttentionLaunch.useBf16Kv(80, DType.BF16, 9, true, true), "no tensor-core prompt attention for head dim 80");
        assertFalse(AttentionLaunch.useBf16Kv(128, DType.BF16, 9, false, true), "-Dfathom.cuda.attMma=false: the fp32 tiles read float32");
        assertFalse(AttentionLaunch.useBf16Kv(128, DType.BF16, 9, true, false), "-Dfathom.cuda.kvBf16=false");
        assertTrue(AttentionLaunch.kvBf16Enabled());
        SystemProperties.with("fathom.cuda.kvBf16", "false", () -> assertFalse(AttentionLaunch.kvBf16Enabled()));
        SystemProperties.with("fathom.cuda.kvBf16", "no", () -> assertThrows(IllegalArgumentException.class, AttentionLaunch::kvBf16Enabled));
        assertEquals(2, AttentionLaunch.kvElementBytes(true));
        assertEquals(4, AttentionLaunch.kvElementBytes(false));
        for (String k : new String[]{"attention_rows", "rope_kv_rows", "rope_kv_append", "attention_decode"}) {
            assertEquals(k + "_kb", AttentionLaunch.kvKernel(k, true));
            assertEquals(k, AttentionLaunch.kvKernel(k, false));
        }
        assertEquals("attention_decode_kb", AttentionLaunch.decodeKernel(100, 132, true, true));
        assertEquals("attention_decode_late_kb", AttentionLaunch.decodeKernel(200, 132, true, true), "more blocks than multiprocessors");
        assertEquals("attention_decode_late", AttentionLaunch.decodeKernel(100, 132, false, false));
        assertEquals("attention_mma_kb_128", AttentionLaunch.mmaKernel(128, true));
        assertEquals("attention_mma_64", AttentionLaunch.mmaKernel(64, false));
        // the bf16-output instances (-Dfathom.cuda.ctxBf16): over a bf16 cache only, one per head dim, as the source defines them
        assertEquals("attention_mma_kbo_128", AttentionLaunch.mmaKernel(128, true, true));
        assertEquals("attention_mma_kb_64", AttentionLaunch.mmaKernel(64, true, false));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> AttentionLaunch.mmaKernel(64, false, true)).getMessage().contains("bf16 cache"));
        String src = java.nio.file.Files.readString(java.nio.file.Path.of("src/main/cuda/attention_mma.cuh"));
        for (int hd : new int[]{16, 32, 64, 128}) {
            assertTrue(src.contains("ATTM_KERNEL(" + AttentionLaunch.mmaKernel(hd, true, true) + ", " + hd + ", __nv_bfloat16, __nv_bfloat16)"), "bf16 output at head dim " + hd);
            assertTrue(src.contains("ATTM_KERNEL(" + AttentionLaunch.mmaKernel(hd, true, false) + ", " + hd + ", __nv_bfloat16, float)"));
        }
        assertFalse(AttentionLaunch.ctxBf16Enabled(), "off until a GPU has checked and timed it");
        SystemProperties.with("fathom.cuda.ctxBf16", "true", () -> assertTrue(AttentionLaunch.ctxBf16Enabled()));
        assertEquals(java.util.List.of("fathom.cuda.wgemm=true", "fathom.cuda.ctxBf16=true"), ComparisonParts.switches("ctxbf16"));
        assertEquals(java.util.List.of("fathom.cuda.wgemm=true", "fathom.cuda.wgemmGated=true", "fathom.cuda.ctxBf16=true", "fathom.cuda.wgemmPdl=true"), ComparisonParts.switches("wgfused"));
        // bf16 tiles: two buffers of 32 keys and 32 values, [hd + 8] bf16 each: 34 KB at 128 (no opt-in needed), half the fp32 kernel's
        assertEquals(2 * 32 * 2 * 136 * 2, AttentionLaunch.mmaSmem(128, true));
        assertTrue(AttentionLaunch.mmaSmem(128, true) <= 48 * 1024);
        assertEquals(2 * 32 * 2 * 24 * 2, AttentionLaunch.mmaSmem(16, true));
    }

    @Test
    void attentionTelemetryCountsTheCachePositionsEachSequenceAttendsOver() {
        // a decode step of three sequences at positions 127, 40 and 0: 128 + 41 + 1 cached positions read
        assertEquals(170, AttentionLaunch.attendedPositions(new int[]{0, 1, 2}, new int[]{127, 40, 0}));
        assertEquals(170, AttentionLaunch.attendedPairs(new int[]{127, 40, 0}));
        // a prompt: two sequences of 4 and 2 rows (positions 0..3 and 0..1) read 4 + 2 positions, attend over 10 + 3 pairs
        int[] slots = {5, 5, 5, 5, 2, 2}, pos = {0, 1, 2, 3, 0, 1};
        assertEquals(6, AttentionLaunch.attendedPositions(slots, pos));
        assertEquals(13, AttentionLaunch.attendedPairs(pos));
        // a prompt that continues a cached sequence (rows at positions 10..11) reads the 12 positions before and at them
        assertEquals(12, AttentionLaunch.attendedPositions(new int[]{3, 3}, new int[]{10, 11}));
        assertEquals(0, AttentionLaunch.attendedPositions(new int[0], new int[0]));
    }

    @Test
    void theCudaBackendPlansAHalfSizedKvCacheForBf16Models() {
        var llama = dev.fathom.engine.model.ModelLoader.parseConfig(java.nio.file.Path.of("config.json"),
                dev.fathom.engine.synthetic.SyntheticPreset.byName("llama-7b").config());
        assertEquals(2, CudaBackend.kvElementBytes(llama, DType.BF16, dev.fathom.profiles.Precision.AUTO));
        assertEquals(4, CudaBackend.kvElementBytes(llama, DType.F32, dev.fathom.profiles.Precision.AUTO), "an F32 checkpoint stays F32");
        assertEquals(2, CudaBackend.kvElementBytes(llama, DType.F32, dev.fathom.profiles.Precision.BF16), "converted to BF16 at load");
        assertEquals(4, CudaBackend.kvElementBytes(llama, DType.BF16, dev.fathom.profiles.Precision.F16));
        assertEquals(4, CudaBackend.kvElementBytes(llama, DType.BF16, dev.fathom.profiles.Precision.INT8));
        SystemProperties.with("fathom.cuda.kvBf16", "false",
                () -> assertEquals(4, CudaBackend.kvElementBytes(llama, DType.BF16, dev.fathom.profiles.Precision.AUTO)));
        // the plan's KV cache: 2 x layers x slots x positions x kvDim x element bytes
        long f32 = dev.fathom.engine.cpu.KvCache.bytesFor(32, 8, 160, 4096), bf16 = dev.fathom.engine.cpu.KvCache.bytesFor(32, 8, 160, 4096, 2);
        assertEquals(2L * 32 * 8 * 160 * 4096 * 4, f32);
        assertEquals(f32 / 2, bf16);
    }

    @Test
    void rowMajorFormCoversEveryStoredRowAndPaddedColumn() {
        SbiLayout.Shape tile = SbiLayout.Shape.of(11008, 4096, 2 * 11008, DType.BF16, true);
        assertEquals(4096, PromptGemm.rowMajorLd(tile));
        assertEquals(22016, PromptGemm.storedRows(tile));
        assertEquals(tile.bytes(), PromptGemm.rowMajorBytes(tile), "same bytes as the packed tiles");
        SbiLayout.Shape simt = SbiLayout.Shape.of(37, 1000, 40, DType.BF16, false);
        assertEquals(1024, PromptGemm.rowMajorLd(simt), "K padded to whole 256-element chunks");
        assertEquals(40, PromptGemm.storedRows(simt));
        assertEquals(simt.bytes(), PromptGemm.rowMajorBytes(simt));
    }

    @Test
    void rowMajorPackingIsPlainRowsThatTheKernelsReadInTheirOrder() {
        java.util.Random rnd = new java.util.Random(3);
        int n = 13, k = 300;
        try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
            float[] wv = new float[n * k];
            for (int i = 0; i < wv.length; i++) wv[i] = (float) rnd.nextGaussian();
            var w = dev.fathom.engine.tensor.Tensor.of("w", DType.BF16, new long[]{n, k}, wv, a);
            int[][] order = SbiLayout.stacked(w);
            SbiLayout.Shape[] sh = new SbiLayout.Shape[1];
            var p = SbiLayout.pack(new dev.fathom.engine.tensor.Tensor[]{w}, order[0], order[1], n, k, DType.BF16, false, true, a, sh);
            SbiLayout.Shape s = sh[0];
            assertTrue(s.rowMajor());
            int ld = PromptGemm.rowMajorLd(s);
            assertEquals(512, ld);
            for (int r = 0; r < s.groups() * 4; r++)
                for (int c = 0; c < ld; c++) {
                    float got = SbiLayout.get(p, DType.BF16, (long) r * ld + c);
                    assertEquals(r < n && c < k ? w.get(r, c) : 0f, got, "row " + r + " col " + c);
                }
            // the sbirm kernels' addressing: vector g*Kc*128 + c*32 + r*Kc*32 + lane holds columns c*256 + lane*8 .. +7 of row 4g + r
            float[] x = new float[k];
            for (int i = 0; i < k; i++) x[i] = (float) rnd.nextGaussian();
            int kc = s.kChunks();
            for (int g = 0; g < s.groups(); g++)
                for (int r = 0; r < 4; r++) {
                    double acc = 0, ref = 0;
                    for (int c = 0; c < kc; c++)
                        for (int lane = 0; lane < 32; lane++)
                            for (int e = 0; e < 8; e++) {
                                int col = c * 256 + lane * 8 + e;
                                long vec = (long) g * kc * 128 + (long) c * 32 + (long) r * kc * 32 + lane;
                                if (col < k) acc += SbiLayout.get(p, DType.BF16, vec * 8 + e) * x[col];
                            }
                    int row = 4 * g + r;
                    if (row < n) for (int i = 0; i < k; i++) ref += w.get(row, i) * x[i];
                    assertEquals(ref, acc, 1e-3, "row " + row);
                }
        }
    }

    @Test
    void bf16LayoutFollowsTheBatchAndGpuUnlessForced() {
        String old = System.getProperty("fathom.cuda.mma");
        try {
            System.clearProperty("fathom.cuda.mma");
            assertFalse(MatPacker.useMma(DType.BF16, 1, 8), "one sequence: row-major GEMV layout");
            assertTrue(MatPacker.useMma(DType.BF16, 8, 8), "batches before sm_90: tensor-core tiles");
            assertFalse(MatPacker.useMma(DType.BF16, 8, 9), "batches on sm_90: row-major rows, split-K over clusters");
            assertFalse(MatPacker.useMma(DType.F32, 8, 8));
            System.setProperty("fathom.cuda.mma", "true");
            assertTrue(MatPacker.useMma(DType.BF16, 1, 9));
            System.setProperty("fathom.cuda.mma", "false");
            assertFalse(MatPacker.useMma(DType.BF16, 8, 8));
        } finally {
            if (old == null) System.clearProperty("fathom.cuda.mma");
            else System.setProperty("fathom.cuda.mma", old);
        }
    }
}
