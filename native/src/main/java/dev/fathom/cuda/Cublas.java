package dev.fathom.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * cuBLAS ({@code libcublas.so.13}) through the Foreign Function &amp; Memory API: a handle on the primary
 * context and {@code cublasGemmEx}: the prompt-phase GEMM of BF16 models ({@link PromptGemm}) and the baseline in
 * {@link CudaBench}.
 */
public final class Cublas implements AutoCloseable {
    public static final int R_32F = 0, R_16F = 2, R_16BF = 14, COMPUTE_32F = 68, COMPUTE_32F_FAST_TF32 = 77, OP_N = 0, OP_T = 1;
    private final long handle;
    private final MethodHandle gemmEx;
    private final MethodHandle destroy;
    private final MethodHandle setWorkspace;
    private final MemorySegment alpha, beta, one;
    private final Arena arena = Arena.ofShared();

    private Cublas(SymbolLookup lib, long stream) {
        Linker l = Linker.nativeLinker();
        MethodHandle create = l.downcallHandle(lib.find("cublasCreate_v2").orElseThrow(), FunctionDescriptor.of(JAVA_INT, ADDRESS));
        MethodHandle setStream = l.downcallHandle(lib.find("cublasSetStream_v2").orElseThrow(), FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG));
        gemmEx = l.downcallHandle(lib.find("cublasGemmEx").orElseThrow(), FunctionDescriptor.of(JAVA_INT,
                JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT,
                JAVA_LONG, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
        destroy = l.downcallHandle(lib.find("cublasDestroy_v2").orElseThrow(), FunctionDescriptor.of(JAVA_INT, JAVA_LONG));
        setWorkspace = l.downcallHandle(lib.find("cublasSetWorkspace_v2").orElseThrow(), FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG));
        MemorySegment h = arena.allocate(JAVA_LONG);
        try {
            check("cublasCreate_v2", (int) create.invokeExact(h));
            handle = h.get(JAVA_LONG, 0);
            check("cublasSetStream_v2", (int) setStream.invokeExact(handle, stream));
        } catch (Throwable t) {
            throw t instanceof RuntimeException re ? re : new IllegalStateException(t);
        }
        alpha = scalar(arena, 1f);
        beta = scalar(arena, 0f);
        one = scalar(arena, 1f);
    }

    /** A host float the library reads through a pointer (alpha, beta). */
    static MemorySegment scalar(Arena a, float v) { return a.allocateFrom(JAVA_FLOAT, v); }

    /**
     * Gives cuBLAS a workspace of its own so that it never allocates inside a stream capture (CUDA graphs);
     * the caller owns the memory and keeps it alive while the handle is used.
     */
    public void setWorkspace(long ptr, long bytes) {
        try {
            check("cublasSetWorkspace_v2", (int) setWorkspace.invokeExact(handle, ptr, bytes));
        } catch (Throwable t) {
            throw t instanceof RuntimeException re ? re : new IllegalStateException(t);
        }
    }

    private static void check(String fn, int rc) {
        if (rc != 0) throw new IllegalStateException(fn + " returned cublasStatus " + rc);
    }

    /** A downcall returning a cublasStatus_t. */
    interface StatusCall { int call() throws Throwable; }

    /** Runs {@code c} and fails with one line naming {@code fn} and the status unless it returned success. */
    static void call(String fn, StatusCall c) {
        int rc;
        try {
            rc = c.call();
        } catch (Throwable t) {
            throw t instanceof RuntimeException re ? re : new IllegalStateException(fn + ": " + t, t);
        }
        check(fn, rc);
    }

    /** Runs a destroy call, ignoring what it returns or throws (closing frees what it can). */
    static void quietly(StatusCall c) {
        try {
            c.call();
        } catch (Throwable ignored) {
            // best effort
        }
    }

    /** Opens cuBLAS bound to {@code stream}, or returns null with the reason in {@code why[0]}. */
    public static Cublas open(long stream, String[] why) {
        return openLibrary("libcublas.so.13", System.getProperty("fathom.cublas"), lib -> new Cublas(lib, stream), why);
    }

    /**
     * The first of {@code first} (when set), {@code soname} and the CUDA toolkit's copies of it that loads and gives
     * {@code make} what it needs; null when none does, with every path and its error in {@code why[0]}.
     */
    static <T> T openLibrary(String soname, String first, java.util.function.Function<SymbolLookup, T> make, String[] why) {
        List<String> tried = new ArrayList<>();
        List<String> names = new ArrayList<>(List.of(soname, "/usr/local/cuda/lib64/" + soname, "/usr/local/cuda/targets/x86_64-linux/lib/" + soname));
        if (first != null) names.addFirst(first);
        for (String n : names) {
            try {
                if (n.startsWith("/") && !Files.exists(Path.of(n))) continue;
                return make.apply(SymbolLookup.libraryLookup(n, Arena.global()));
            } catch (RuntimeException | LinkageError e) {
                tried.add(n + ": " + e.getMessage());
            }
        }
        why[0] = soname + " not found (" + String.join("; ", tried) + ")";
        return null;
    }

    /**
     * y[rows, n] (fp32, row-major) = x[rows, k] · W[n, k]ᵀ with W and x of {@code abType} (row-major),
     * i.e. column-major C[n, rows] = Wᵀ(op T on [k, n]) · x([k, rows]).
     */
    public void gemm(long w, long x, long y, int n, int k, int rows, int abType, int computeType) {
        call("cublasGemmEx", () -> (int) gemmEx.invokeExact(handle, OP_T, OP_N, n, rows, k, alpha, w, abType, k, x, abType, k, beta, y,
                R_32F, n, computeType, -1));
    }

    /**
     * The prompt-phase product with explicit strides: y[rows, n] (fp32, row stride ldy) (+)= x[rows, k] (bf16, row
     * stride ldx) · W[n, k]ᵀ (bf16, row-major, row stride ldw ≥ k). {@code accumulate} adds to what y holds (beta = 1:
     * a residual and bias written there beforehand).
     */
    public void gemmBf16(long w, int ldw, long x, int ldx, long y, int ldy, int n, int k, int rows, boolean accumulate) {
        MemorySegment b = accumulate ? one : beta;   // a local: invokeExact needs the static type MemorySegment
        call("cublasGemmEx", () -> (int) gemmEx.invokeExact(handle, OP_T, OP_N, n, rows, k, alpha, w, R_16BF, ldw, x, R_16BF, ldx,
                b, y, R_32F, ldy, COMPUTE_32F, -1));
    }

    @Override
    public void close() {
        quietly(() -> (int) destroy.invokeExact(handle));
        arena.close();
    }
}
