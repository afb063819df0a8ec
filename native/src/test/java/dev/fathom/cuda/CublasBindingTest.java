package dev.fathom.cuda;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The host side of the cuBLAS / cuBLASLt bindings and the prompt GEMM's inputs: library lookup, status checks, scalars. */
class CublasBindingTest {
    @Test
    void aMissingLibraryIsNullWithEveryPathTriedNamed() {
        String[] why = new String[1];
        Object lib = Cublas.openLibrary("libfathom-absent.so.1", "/nonexistent/libx.so", l -> "loaded", why);
        assertNull(lib);
        assertTrue(why[0].startsWith("libfathom-absent.so.1 not found ("), why[0]);
        assertTrue(why[0].contains("libfathom-absent.so.1: "), "the bare soname was tried and its error kept: " + why[0]);
    }

    @Test
    void aFailedStatusNamesTheCallAndItsStatus() {
        Cublas.call("cublasLtMatmul", () -> 0);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Cublas.call("cublasLtMatmul", () -> 15));
        assertEquals("cublasLtMatmul returned cublasStatus 15", e.getMessage());
        IllegalStateException t = assertThrows(IllegalStateException.class, () -> Cublas.call("cublasGemmEx", () -> { throw new Exception("boom"); }));
        assertTrue(t.getMessage().startsWith("cublasGemmEx: "), t.getMessage());
        Cublas.quietly(() -> { throw new Exception("ignored on close"); });
        Cublas.quietly(() -> 7);
    }

    @Test
    void scalarsAreOneHostFloatEach() {
        try (Arena a = Arena.ofConfined()) {
            assertEquals(1f, Cublas.scalar(a, 1f).get(ValueLayout.JAVA_FLOAT, 0));
            assertEquals(-0.5f, Cublas.scalar(a, -0.5f).get(ValueLayout.JAVA_FLOAT, 0));
            assertEquals(4, Cublas.scalar(a, 0f).byteSize());
        }
    }

    @Test
    void promptInputsSayWhatTheMultiplyReads() {
        PromptGemm.Input f = PromptGemm.Input.f32(64, 4096), b = PromptGemm.Input.bf16(128, 11008);
        PromptGemm.Input n = PromptGemm.Input.normed(64, 4096, 256, 0, true, 1e-5f);
        assertEquals(4L * 128 * 4096, f.bytes(128, 4096), "fp32 rows");
        assertEquals(2L * 128 * 11008, b.bytes(128, 11008), "bf16 rows from the gated epilogue");
        assertEquals(4L * 128 * 4096, n.bytes(128, 4096), "the un-normed fp32 residual stream");
        assertTrue(b.bf16() && !f.bf16() && !n.bf16());
        assertEquals(0, f.normW());
        assertEquals(256, n.normW());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PromptGemm.Input.normed(64, 4096, 0, 0, true, 1e-5f));
        assertTrue(e.getMessage().contains("norm's weights"), e.getMessage());
    }
}
