package dev.fathom.cuda;

import dev.fathom.engine.tensor.DType;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The -D switches of the CUDA backend: defaults, accepted values, and one sentence for a bad one. */
class CudaSettingsTest {
    private static <T> T with(String name, String value, java.util.function.Supplier<T> read) {
        String old = System.getProperty(name);
        System.setProperty(name, value);
        try {
            return read.get();
        } finally {
            if (old == null) System.clearProperty(name);
            else System.setProperty(name, old);
        }
    }

    @Test
    void unsetGivesTheDefaultAndAValidValueIsTaken() {
        assertEquals(256, AttentionLaunch.minChunk());
        assertEquals(64, (int) with("fathom.cuda.decodeChunk", " 64 ", AttentionLaunch::minChunk));
        assertEquals(4, (int) with("fathom.sbi.ks", "4", () -> CudaSettings.splitK("fathom.sbi.ks")));
        assertEquals(0, CudaSettings.splitK("fathom.test.unset.ks"));
    }

    @Test
    void tmaCheckKernelsAreAllUnlessNamedAndAnUnknownNameIsOneSentence() {
        assertEquals(TmaKernels.TMA_KERNELS, CudaSelfCheck.tmaKernels());
        assertEquals(java.util.List.of("sbimms6p_bf16_8", "sbimmb4p_bf16_8"),
                with("fathom.check.tmaKernels", " sbimms6p_bf16_8, sbimmb4p_bf16_8,sbimms6p_bf16_8 ", CudaSelfCheck::tmaKernels));
        var e = assertThrows(IllegalArgumentException.class, () -> with("fathom.check.tmaKernels", "sbimmt4_bf16_8,sbimmx9", CudaSelfCheck::tmaKernels));
        assertTrue(e.getMessage().startsWith("-Dfathom.check.tmaKernels=sbimmt4_bf16_8,sbimmx9: use some of sbimmt4_bf16_8"), e.getMessage());
        assertTrue(e.getMessage().endsWith("(sbimmx9 is none of them)"), e.getMessage());
    }

    @Test
    void switchesHoldForTheBodyAndEachIsRestoredAfterEvenOnFailure() {
        System.setProperty("fathom.test.kept", "old");
        try {
            String seen = CudaSettings.with(java.util.List.of("fathom.test.kept=new", "fathom.test.fresh=a=b"),
                    () -> System.getProperty("fathom.test.kept") + "," + System.getProperty("fathom.test.fresh"));
            assertEquals("new,a=b", seen, "the value is everything after the first '='");
            assertEquals("old", System.getProperty("fathom.test.kept"));
            assertEquals(null, System.getProperty("fathom.test.fresh"));
            assertThrows(IllegalStateException.class, () -> CudaSettings.with(java.util.List.of("fathom.test.kept=x"), () -> {
                throw new IllegalStateException("body failed");
            }));
            assertEquals("old", System.getProperty("fathom.test.kept"));
            var e = assertThrows(IllegalArgumentException.class, () -> CudaSettings.with(java.util.List.of("fathom.test.fresh=1", "fathom.test.kept"), () -> null));
            assertEquals("setting 'fathom.test.kept': write it as name=value", e.getMessage());
            assertEquals(null, System.getProperty("fathom.test.fresh"), "nothing set when one switch is malformed");
        } finally {
            System.clearProperty("fathom.test.kept");
        }
    }

    @Test
    void theCarveoutIsTheDriversDefaultUnlessAPercentIsGiven() {
        assertEquals(-1, CudaSettings.carveout());
        assertEquals(100, (int) with("fathom.cuda.carveout", "100", CudaSettings::carveout));
        assertEquals(-1, (int) with("fathom.cuda.carveout", "-1", CudaSettings::carveout));
        var e = assertThrows(IllegalArgumentException.class, () -> with("fathom.cuda.carveout", "101", CudaSettings::carveout));
        assertEquals("-Dfathom.cuda.carveout=101: use a whole number from -1 to 100", e.getMessage());
    }

    @Test
    void cublasTakesEveryBatchOfRowMajorBf16RowsButInt8AndTilesKeepTheirKernelsLonger() {
        var bf16 = SbiLayout.Shape.of(4096, 4096, 4096, dev.fathom.engine.tensor.DType.BF16, false, true);
        var i8 = Int8Layout.shape(4096, 4096, 4096);
        var tiles = SbiLayout.Shape.of(4096, 4096, 4096, dev.fathom.engine.tensor.DType.BF16, true, false);
        assertTrue(bf16.rowMajor() && i8.rowMajor() && !tiles.rowMajor());
        int rm = PromptGemm.threshold(true, bf16.dtype()), q = PromptGemm.threshold(true, i8.dtype()), t = PromptGemm.threshold(false, tiles.dtype());
        assertEquals(1, rm, "row-major BF16: cuBLAS from 2 rows");
        assertEquals(SbiSplitK.MAX_ROWS, q, "INT8: the sbi8 kernels up to 8 rows (cuBLAS would dequantize every step)");
        assertEquals(16, t);
        assertEquals(1, PromptGemm.lowestThreshold());
        assertTrue(PromptGemm.eligible(bf16, 2, rm, true), "a decode step of 2 sequences");
        assertTrue(!PromptGemm.eligible(bf16, 1, rm, true), "batch 1: the GEMV");
        assertTrue(!PromptGemm.eligible(i8, 8, q, true) && PromptGemm.eligible(i8, 9, q, true));
        assertEquals(8, (int) with("fathom.cuda.blasRows", "8", () -> PromptGemm.threshold(true, bf16.dtype())), "the split-K kernels again at 2..8 rows");
        assertEquals(0, (int) with("fathom.cuda.blasRows", "0", PromptGemm::lowestThreshold));
    }

    @Test
    void aBadValueIsOneSentenceNamingTheSetting() {
        var zero = assertThrows(IllegalArgumentException.class, () -> with("fathom.cuda.decodeChunk", "0", AttentionLaunch::minChunk));
        assertEquals("-Dfathom.cuda.decodeChunk=0: use a whole number of at least 1", zero.getMessage());
        var text = assertThrows(IllegalArgumentException.class, () -> with("fathom.cuda.blasRows", "many", () -> PromptGemm.threshold(false, DType.BF16)));
        assertTrue(text.getMessage().startsWith("-Dfathom.cuda.blasRows=many: use a whole number"), text.getMessage());
        var ks = assertThrows(IllegalArgumentException.class, () -> with("fathom.sbi.ks", "3", () -> CudaSettings.splitK("fathom.sbi.ks")));
        assertEquals("-Dfathom.sbi.ks=3: use 1, 2, 4 or 8 warps per row group", ks.getMessage());
        var big = assertThrows(IllegalArgumentException.class, () -> with("fathom.sbi8.ks", "16", () -> CudaSettings.splitK("fathom.sbi8.ks")));
        assertEquals("-Dfathom.sbi8.ks=16: use a whole number from 1 to 8", big.getMessage());
    }

    @Test
    void anOnOffSwitchTakesTrueOrFalseAndNamesItselfOtherwise() {
        assertTrue(AttentionLaunch.mmaEnabled(), "unset: the default");
        assertEquals(false, with("fathom.cuda.attMma", " FALSE ", AttentionLaunch::mmaEnabled));
        assertEquals(true, with("fathom.cuda.attMma", "true", AttentionLaunch::mmaEnabled));
        assertEquals(false, CudaSettings.flag("fathom.test.unset.flag", false));
        var off = assertThrows(IllegalArgumentException.class, () -> with("fathom.cuda.attMma", "off", AttentionLaunch::mmaEnabled));
        assertEquals("-Dfathom.cuda.attMma=off: use true or false", off.getMessage());
        var no = assertThrows(IllegalArgumentException.class, () -> with("fathom.cuda.decodePrefetch", "no", AttentionLaunch::decodePrefetch));
        assertEquals("-Dfathom.cuda.decodePrefetch=no: use true or false", no.getMessage());
    }

    @Test
    void aSwitchOfNamedValuesTakesThoseAndNamesThemOtherwise() {
        assertEquals("", MatPacker.forcedWeights(), "unset: the checkpoint's dtype");
        assertEquals("bf16", with("fathom.cuda.weights", " BF16 ", MatPacker::forcedWeights));
        assertEquals(true, with("fathom.cuda.weights", "int8", () -> MatPacker.int8(dev.fathom.profiles.Precision.AUTO)));
        assertEquals(dev.fathom.engine.tensor.DType.F16,
                with("fathom.cuda.weights", "f16", () -> MatPacker.floatDtype(dev.fathom.engine.tensor.DType.F32, dev.fathom.profiles.Precision.AUTO)));
        var w = assertThrows(IllegalArgumentException.class, () -> with("fathom.cuda.weights", "bf61", MatPacker::forcedWeights));
        assertEquals("-Dfathom.cuda.weights=bf61: use bf16, f16, int8", w.getMessage());
        assertEquals(true, with("fathom.cuda.mma", "TRUE", () -> MatPacker.useMma(dev.fathom.engine.tensor.DType.BF16, 1, 9)),
                "forced on in any case (it used to fall back to auto for TRUE)");
        assertEquals(false, MatPacker.useMma(dev.fathom.engine.tensor.DType.BF16, 8, 9), "auto on sm_90: row-major");
        assertEquals(true, MatPacker.useMma(dev.fathom.engine.tensor.DType.BF16, 8, 8), "auto before sm_90: tiles for batches");
        assertThrows(IllegalArgumentException.class, () -> with("fathom.cuda.mma", "yes", () -> MatPacker.useMma(dev.fathom.engine.tensor.DType.BF16, 1, 9)));
        assertEquals(PeerAllReduce.Kind.LL, PeerAllReduce.defaultKind());
        assertEquals(PeerAllReduce.Kind.FLAG, with("fathom.tp.allreduce", "flag", PeerAllReduce::defaultKind));
        assertThrows(IllegalArgumentException.class, () -> with("fathom.tp.allreduce", "ring", PeerAllReduce::defaultKind));
        assertEquals(Int8Layout.REGS_PREFIX, Int8Layout.kernelPrefix());
        assertEquals(Int8Layout.PREFIX, with("fathom.cuda.int8.kernel", "pipe", Int8Layout::kernelPrefix));
        var k = assertThrows(IllegalArgumentException.class, () -> with("fathom.cuda.int8.kernel", "pipes", Int8Layout::kernelPrefix));
        assertEquals("-Dfathom.cuda.int8.kernel=pipes: use regs, pipe", k.getMessage());
    }
}
