package dev.fathom.cuda;

import dev.fathom.engine.tensor.DType;
import dev.fathom.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Host side of the INT8 prompt path ({@link PromptGemm} over {@link Int8Layout} weights): the dequantized row-major form,
 * which GEMMs take cuBLAS, and the scratch the model reserves for them. No GPU needed.
 */
class Int8PromptTest {
    /** llama-7b's INT8 layer projections: qkv (stacked), o, gate/up (gated pairs), down. */
    private static final SbiLayout.Shape QKV = Int8Layout.shape(3 * 4096, 4096, 3 * 4096), O = Int8Layout.shape(4096, 4096, 4096),
            GATE_UP = Int8Layout.shape(11008, 4096, 2 * 11008), DOWN = Int8Layout.shape(4096, 11008, 4096);

    @Test
    void dequantizedRowMajorFormIsWhatUntileSimtGivesTheSameMatrixInBf16() {
        Random rnd = new Random(11);
        int[][] shapes = {{37, 1000}, {172, 64}, {13, 300}, {1000, 300}, {10, 172}};
        for (int[] nk : shapes)
            for (int group : new int[]{128, 64, 16})
                for (boolean gated : new boolean[]{false, true}) {
                    int n = nk[0], k = nk[1];
                    try (Arena a = Arena.ofConfined()) {
                        float[] wv = new float[(gated ? 2 : 1) * n * k];
                        for (int i = 0; i < wv.length; i++) wv[i] = (float) rnd.nextGaussian() * (i % 97 == 0 ? 4 : 1);
                        Tensor w = Tensor.ofFloats("w", new long[]{(gated ? 2 : 1) * n, k}, wv, a);
                        Tensor[] src = gated ? new Tensor[]{w.sliceRows(0, n), w.sliceRows(n, 2 * n)} : new Tensor[]{w};
                        int[][] order = gated ? SbiLayout.gatedPairs(n) : SbiLayout.stacked(w);
                        SbiLayout.Shape[] sh = new SbiLayout.Shape[1];
                        MemorySegment p8 = Int8Layout.pack(src, order[0], order[1], n, k, group, a, sh);
                        SbiLayout.Shape s8 = sh[0];
                        short[] got = Int8Layout.rowMajorBf16(p8, s8, group);

                        // the same dequantized matrix, stored rows kept in order, packed in the BF16 SIMT layout and unpacked
                        int stored = Int8Layout.storedRows(s8);
                        Tensor deq = Tensor.of("deq", DType.BF16, new long[]{stored, k}, Int8Layout.dequantize(p8, s8, group), a);
                        int[][] identity = SbiLayout.stacked(deq);
                        MemorySegment p16 = SbiLayout.pack(new Tensor[]{deq}, identity[0], identity[1], stored, k, DType.BF16, false, false, a, sh);
                        SbiLayout.Shape simt = sh[0];
                        String what = n + "x" + k + " g" + group + (gated ? " gated" : "");
                        assertEquals(PromptGemm.storedRows(simt), PromptGemm.storedRows(s8), what);
                        assertEquals(simt.groupRows(), s8.groupRows(), what + ": rows_gated pairs rows in groups of 4 for both");
                        assertEquals(PromptGemm.rowMajorLd(simt), PromptGemm.rowMajorLd(s8), what);
                        assertEquals(PromptGemm.rowMajorBytes(simt), PromptGemm.rowMajorBytes(s8), what);
                        assertArrayEquals(untileSimt(p16, simt), got, what);
                    }
                }
    }

    /** untile_simt_bf16 (prompt.cuh) on the CPU: vector v = ((g * Kc + c) * 4 + r) * 32 + lane -> row 4g + r, columns c * 256 + lane * 8.. */
    private static short[] untileSimt(MemorySegment packed, SbiLayout.Shape s) {
        int kc = s.kChunks(), ldo = PromptGemm.rowMajorLd(s);
        short[] out = new short[PromptGemm.storedRows(s) * ldo];
        for (long v = 0; v < (long) s.groups() * kc * 128; v++) {
            int lane = (int) (v & 31), r = (int) ((v >> 5) & 3);
            long gc = v >> 7;
            int g = (int) (gc / kc), c = (int) (gc % kc);
            long row = (long) g * 4 + r;
            for (int e = 0; e < 8; e++)
                out[(int) (row * ldo + (long) c * 256 + lane * 8 + e)] = packed.get(Tensor.I16, (v * 8 + e) * 2);
        }
        return out;
    }

    @Test
    void int8RowMajorFormPadsKToBf16Chunks() {
        SbiLayout.Shape s = Int8Layout.shape(37, 1000, 40);
        assertTrue(s.rowMajor(), "int8 rows are stored row-major ...");
        assertTrue(PromptGemm.needsUnpack(s), "... but cuBLAS takes bf16: always dequantized");
        assertFalse(PromptGemm.needsUnpack(SbiLayout.Shape.of(37, 1000, 40, DType.BF16, false, true)), "BF16 row-major is read in place");
        assertEquals(1024, PromptGemm.rowMajorLd(s), "not the int8 chunk's 512 multiple (1024 here by chance)");
        assertEquals(256, PromptGemm.rowMajorLd(Int8Layout.shape(172, 64, 172)));
        assertEquals(512, PromptGemm.rowMajorLd(Int8Layout.shape(1000, 300, 1000)), "int8 stride 512, bf16 stride 512");
        assertEquals(768, PromptGemm.rowMajorLd(Int8Layout.shape(8, 520, 8)), "int8 stride 1024, bf16 stride 768");
        assertEquals(11008, PromptGemm.rowMajorLd(DOWN));
        assertEquals(2L * 22016 * 4096, PromptGemm.rowMajorBytes(GATE_UP));
        // the unpack reads each row's int8 up to K (rounded to 16) and its scales, and writes the bf16 form
        assertEquals(Int8Layout.readBytes(O, 128) + 2L * 4096 * 4096, PromptGemm.unpackBytes(O, 128));
        SbiLayout.Shape tile = SbiLayout.Shape.of(4096, 4096, 4096, DType.BF16, true);
        assertEquals(2 * tile.bytes(), PromptGemm.unpackBytes(tile, 0));
    }

    @Test
    void int8GemmsOverMoreThanTheThresholdTakeCublas() {
        for (SbiLayout.Shape s : new SbiLayout.Shape[]{QKV, O, GATE_UP, DOWN, Int8Layout.shape(37, 1000, 40)}) {
            assertTrue(PromptGemm.eligible(s, 17, 16, true), "a prompt");
            assertTrue(PromptGemm.eligible(s, 600, 16, true));
            assertFalse(PromptGemm.eligible(s, 16, 16, true), "16 rows: the sbi8 kernels");
            assertFalse(PromptGemm.eligible(s, 1, 16, true), "a decode step of one sequence");
            assertFalse(PromptGemm.eligible(s, 600, 16, false), "-Dfathom.cuda.int8.blas=false: sbi8 at any row count");
            assertTrue(PromptGemm.eligible(s, 1, 0, true), "blasRows=0: everything");
        }
        assertTrue(PromptGemm.eligible(SbiLayout.Shape.of(64, 64, 64, DType.BF16, true), 17, 16, false), "BF16 unaffected by the INT8 switch");
        assertFalse(PromptGemm.eligible(SbiLayout.Shape.of(64, 64, 64, DType.F32, false), 600, 16, true));
        assertFalse(PromptGemm.eligible(SbiLayout.Shape.of(64, 64, 64, DType.F16, false), 600, 16, true));
        withInt8Blas(null, () -> assertTrue(PromptGemm.int8Enabled(), "on by default"));
        withInt8Blas("false", () -> assertFalse(PromptGemm.int8Enabled()));
    }

    /** Runs {@code body} with {@code -Dfathom.cuda.int8.blas} set to {@code value} (null: unset), then restores it. */
    private static void withInt8Blas(String value, Runnable body) {
        String key = "fathom.cuda.int8.blas", old = System.getProperty(key);
        if (value == null) System.clearProperty(key);
        else System.setProperty(key, value);
        try {
            body.run();
        } finally {
            if (old == null) System.clearProperty(key);
            else System.setProperty(key, old);
        }
    }

    @Test
    void scratchFromTheNotedInt8MatricesHoldsEachOfThemInEveryMode() {
        withInt8Blas(null, () -> {
            PromptGemm.Sizes sz = new PromptGemm.Sizes();
            assertEquals(0, sz.weightBytes, "nothing noted: the model opens no cuBLAS");
            sz.add(SbiLayout.Shape.of(64, 64, 64, DType.F32, false), false);
            assertEquals(0, sz.weightBytes, "F32 never goes through cuBLAS");
            sz.add(QKV, false);
            sz.add(O, false);
            sz.add(GATE_UP, true);
            sz.add(DOWN, false);
            assertEquals(PromptGemm.rowMajorBytes(GATE_UP), sz.weightBytes, "the largest bf16 form: gate/up, 22016 x 4096");
            assertEquals(11008, sz.maxK);
            assertEquals(22016, sz.gatedStored);
            for (int maxRows : new int[]{17, 600, 4096}) {
                long[] caps = PromptGemm.scratchBytes(sz.weightBytes, sz.maxK, sz.gatedStored, maxRows);
                int chunk = Math.min(PromptGemm.CHUNK, maxRows);
                assertEquals(2L * chunk * 11008, caps[1], "bf16 activations of a chunk of rows");
                assertEquals(4L * chunk * 22016, caps[2], "fp32 gate and up outputs of a chunk");
                for (SbiLayout.Shape s : new SbiLayout.Shape[]{QKV, O, GATE_UP, DOWN})
                    for (int mode = 0; mode < 3; mode++)
                        assertTrue(PromptGemm.fits(s, mode, caps), s + " mode " + mode);
                assertFalse(PromptGemm.fits(Int8Layout.shape(32000, 4096, 32000), 0, caps), "the head is larger than any layer matrix: sbi8");
            }
        });
        withInt8Blas("false", () -> {
            PromptGemm.Sizes off = new PromptGemm.Sizes();
            off.add(GATE_UP, true);
            assertEquals(0, off.weightBytes, "INT8 through cuBLAS switched off: no scratch");
            off.add(SbiLayout.Shape.of(64, 64, 64, DType.BF16, false, true), false);
            assertEquals(1, off.weightBytes, "BF16 row-major: cuBLAS but no weight scratch");
        });
    }
}
