package dev.fathom.cuda;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The host side of the cuBLAS / cuBLASLt bindings: library lookup, status checks, the constants they pass. */
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
    void scalarsAndTheHeuristicResultLayout() {
        try (Arena a = Arena.ofConfined()) {
            assertEquals(1f, Cublas.scalar(a, 1f).get(ValueLayout.JAVA_FLOAT, 0));
            assertEquals(4, Cublas.scalar(a, 0f).byteSize());
        }
        // cublasLtMatmulHeuristicResult_t: algo (uint64_t[8]), size_t workspaceSize, status, float wavesCount, int reserved[4]
        assertEquals(64, CublasLt.ALGO_BYTES);
        assertEquals(CublasLt.ALGO_BYTES + 8 + 4 + 4 + 4 * 4, CublasLt.RESULT_BYTES);
        assertEquals(3, CublasLt.DESC_TRANSA);
        assertEquals(4, CublasLt.DESC_TRANSB);
    }
}
