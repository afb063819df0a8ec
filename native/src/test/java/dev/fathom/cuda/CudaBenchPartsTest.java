package dev.fathom.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class CudaBenchPartsTest {
    @Test
    void tablesAndComparisonPartsAreKnownAndATypoIsNamed() {
        assertNull(CudaBench.partsRefusal(List.of("tmatrace", "steptrace", "llama48", "carve100", "allw", TmaKernels.TMA_KERNELS.get(0))));
        String why = CudaBench.partsRefusal(List.of("tma", "tmatrce"));
        assertTrue(why != null && why.startsWith("CudaBench: no part tmatrce; parts are gemm, sizes"), why);
        assertTrue(why.contains("tmatrace") && why.contains("notma"), why);
    }

    @Test
    void benchShapesDefaultToTheLlamaShapesAndABadOneIsItsSentence() {
        SystemProperties.with("fathom.bench.shapes", "", () -> {
            assertArrayEquals(BenchTables.LLAMA_SHAPES, BenchTables.shapes());
            assertNull(CudaBench.settingsRefusal());
        });
        SystemProperties.with("fathom.bench.shapes", "22016x4096, 4096 x 11008", () ->
                assertArrayEquals(new int[][]{{22016, 4096}, {4096, 11008}}, BenchTables.shapes()));
        for (String bad : new String[]{"22016", "4096x4100", "0x4096", "axb", "4096x4096,"})
            SystemProperties.with("fathom.bench.shapes", bad, () -> {
                String why = CudaBench.settingsRefusal();
                assertTrue(why != null && why.startsWith("-Dfathom.bench.shapes=" + bad + ": give N x K pairs"), bad + ": " + why);
            });
        SystemProperties.with("fathom.bench.out", "/no/such/fathom/folder", () -> assertTrue(
                String.valueOf(CudaBench.settingsRefusal()).startsWith("-Dfathom.bench.out=/no/such/fathom/folder: no such folder"), CudaBench.settingsRefusal()));
        SystemProperties.with("fathom.bench.out", System.getProperty("java.io.tmpdir"), () -> assertNull(CudaBench.settingsRefusal()));
        SystemProperties.with("fathom.bench.traceKernels", "sbimmt4t_bf16_8,nope", () -> {
            String why = CudaBench.settingsRefusal();
            assertTrue(why != null && why.startsWith("-Dfathom.bench.traceKernels=sbimmt4t_bf16_8,nope: use some of"), why);
        });
        SystemProperties.with("fathom.bench.tmaKernels", "sbimmq4p_bf16_8,sbimmt4_bf16_8", () -> {
            assertNull(CudaBench.settingsRefusal());
            assertEquals(List.of("sbimmq4p_bf16_8", "sbimmt4_bf16_8"), ReadTables.tmaKernels());
        });
        SystemProperties.with("fathom.bench.tmaKernels", "sbimmq4_bf16_8", () -> assertTrue(
                String.valueOf(CudaBench.settingsRefusal()).startsWith("-Dfathom.bench.tmaKernels=sbimmq4_bf16_8: use some of sbimmt4_bf16_8"),
                CudaBench.settingsRefusal()));
        SystemProperties.with("fathom.bench.clusters", "", () -> assertEquals(List.of(1, 2, 4, 8), ReadTables.clusters()));
        SystemProperties.with("fathom.bench.clusters", "6, 3,1", () -> assertEquals(List.of(1, 3, 6), ReadTables.clusters()));
        SystemProperties.with("fathom.bench.tmaKernels", " , ", () -> assertTrue(
                String.valueOf(CudaBench.settingsRefusal()).startsWith("-Dfathom.bench.tmaKernels=,: name at least one of sbimmt4_bf16_8"),
                CudaBench.settingsRefusal()));
        SystemProperties.with("fathom.bench.clusters", "16", () -> assertTrue(
                String.valueOf(CudaBench.settingsRefusal()).startsWith("-Dfathom.bench.clusters=16: use some of 1, 2, 3"), CudaBench.settingsRefusal()));
    }
}
