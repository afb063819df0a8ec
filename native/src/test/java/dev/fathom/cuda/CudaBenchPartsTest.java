package dev.fathom.cuda;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class CudaBenchPartsTest {
    @Test
    void tablesAndComparisonPartsAreKnownAndATypoIsNamed() {
        assertNull(CudaBench.partsRefusal(List.of("tmatrace", "steptrace", "llama48", "carve100", "allw", SbiSplitK.TMA_KERNELS.get(0))));
        String why = CudaBench.partsRefusal(List.of("tma", "tmatrce"));
        assertTrue(why != null && why.startsWith("CudaBench: no part tmatrce; parts are gemm, sizes"), why);
        assertTrue(why.contains("tmatrace") && why.contains("notma"), why);
    }
}
