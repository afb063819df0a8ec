package dev.fathom.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * cuBLASLt ({@code libcublasLt.so.13}) through the Foreign Function &amp; Memory API, for the product the prompt
 * path runs ({@link Cublas#gemmBf16}'s: y[rows, n] fp32 (+)= x[rows, k] bf16 · W[n, k]ᵀ bf16) with a chosen
 * algorithm: {@link #plan} asks the library's heuristic for candidates of a shape, {@link Plan#run} runs one of them.
 * Used by the {@code lt} table of {@link CudaBench} ({@link KernelTables#ltTable}), which times every candidate
 * against cublasGemmEx. A tuner that kept the fastest per prompt shape was tried in the model and dropped: on an
 * H100 it changed llama-7b prefills by -2.7 to +0.4 % (docs/benchmarks.md), not worth a timing pass per new
 * prompt length.
 */
final class CublasLt implements AutoCloseable {
    /** cublasLtMatmulDescAttributes_t and cublasLtMatmulPreferenceAttributes_t values used here. */
    static final int DESC_TRANSA = 3, DESC_TRANSB = 4, PREF_MAX_WORKSPACE_BYTES = 1;
    /** sizeof(cublasLtMatmulHeuristicResult_t): the algo (64 bytes), workspaceSize, state, wavesCount, int reserved[4]. */
    static final long RESULT_BYTES = 96;
    static final long ALGO_BYTES = 64;

    private final long handle;
    private final MethodHandle destroy, descCreate, descSet, descDestroy, layoutCreate, layoutDestroy, prefCreate, prefSet,
            prefDestroy, heuristic, matmul;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment alpha, zero, one;

    private CublasLt(SymbolLookup lib) {
        Linker l = Linker.nativeLinker();
        MethodHandle create = h(l, lib, "cublasLtCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        destroy = h(l, lib, "cublasLtDestroy", FunctionDescriptor.of(JAVA_INT, JAVA_LONG));
        descCreate = h(l, lib, "cublasLtMatmulDescCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
        descSet = h(l, lib, "cublasLtMatmulDescSetAttribute", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
        descDestroy = h(l, lib, "cublasLtMatmulDescDestroy", FunctionDescriptor.of(JAVA_INT, JAVA_LONG));
        layoutCreate = h(l, lib, "cublasLtMatrixLayoutCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG));
        layoutDestroy = h(l, lib, "cublasLtMatrixLayoutDestroy", FunctionDescriptor.of(JAVA_INT, JAVA_LONG));
        prefCreate = h(l, lib, "cublasLtMatmulPreferenceCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        prefSet = h(l, lib, "cublasLtMatmulPreferenceSetAttribute", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
        prefDestroy = h(l, lib, "cublasLtMatmulPreferenceDestroy", FunctionDescriptor.of(JAVA_INT, JAVA_LONG));
        heuristic = h(l, lib, "cublasLtMatmulAlgoGetHeuristic", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG,
                JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS));
        matmul = h(l, lib, "cublasLtMatmul", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_LONG,
                JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_LONG));
        MemorySegment p = arena.allocate(JAVA_LONG);
        Cublas.call("cublasLtCreate", () -> (int) create.invokeExact(p));
        handle = p.get(JAVA_LONG, 0);
        alpha = Cublas.scalar(arena, 1f);
        zero = Cublas.scalar(arena, 0f);
        one = Cublas.scalar(arena, 1f);
    }

    private static MethodHandle h(Linker l, SymbolLookup lib, String name, FunctionDescriptor fd) {
        return l.downcallHandle(lib.find(name).orElseThrow(() -> new IllegalStateException("cuBLASLt has no " + name)), fd);
    }

    /** Opens cuBLASLt, or returns null with the reason in {@code why[0]}. */
    static CublasLt open(String[] why) { return Cublas.openLibrary("libcublasLt.so.13", null, CublasLt::new, why); }

    /**
     * The descriptors of y[rows, n] (fp32, row stride ldy) = x[rows, k] (bf16, ldx) · W[n, k]ᵀ (bf16, ldw) — column-major
     * C[n, rows] = Aᵀ B with A = W as [k, n] (ld ldw), B = x as [k, rows] (ld ldx) — and up to {@code want} candidate
     * algorithms from the heuristic for a workspace of {@code wsBytes}.
     */
    Plan plan(int n, int k, int rows, int ldw, int ldx, int ldy, long wsBytes, int want) {
        MemorySegment p = arena.allocate(JAVA_LONG), v = arena.allocate(JAVA_INT);
        Cublas.call("cublasLtMatmulDescCreate", () -> (int) descCreate.invokeExact(p, Cublas.COMPUTE_32F, Cublas.R_32F));
        long desc = p.get(JAVA_LONG, 0);
        long[] layouts = new long[3];   // A = W [k, n], B = x [k, rows], C = D = y [n, rows]
        int[][] dims = {{Cublas.R_16BF, k, n, ldw}, {Cublas.R_16BF, k, rows, ldx}, {Cublas.R_32F, n, rows, ldy}};
        long pref = 0;
        try {
            v.set(JAVA_INT, 0, Cublas.OP_T);
            Cublas.call("cublasLtMatmulDescSetAttribute", () -> (int) descSet.invokeExact(desc, DESC_TRANSA, v, 4L));
            v.set(JAVA_INT, 0, Cublas.OP_N);
            Cublas.call("cublasLtMatmulDescSetAttribute", () -> (int) descSet.invokeExact(desc, DESC_TRANSB, v, 4L));
            for (int i = 0; i < 3; i++) {
                int[] d = dims[i];
                Cublas.call("cublasLtMatrixLayoutCreate", () -> (int) layoutCreate.invokeExact(p, d[0], (long) d[1], (long) d[2], (long) d[3]));
                layouts[i] = p.get(JAVA_LONG, 0);
            }
            Cublas.call("cublasLtMatmulPreferenceCreate", () -> (int) prefCreate.invokeExact(p));
            pref = p.get(JAVA_LONG, 0);
            long pr = pref;
            MemorySegment ws = arena.allocateFrom(JAVA_LONG, wsBytes);
            Cublas.call("cublasLtMatmulPreferenceSetAttribute", () -> (int) prefSet.invokeExact(pr, PREF_MAX_WORKSPACE_BYTES, ws, 8L));
            MemorySegment results = arena.allocate(RESULT_BYTES * want, 16), count = arena.allocate(JAVA_INT);
            long la = layouts[0], lb = layouts[1], lc = layouts[2];
            Cublas.call("cublasLtMatmulAlgoGetHeuristic", () -> (int) heuristic.invokeExact(handle, desc, la, lb, lc, lc, pr, want, results, count));
            List<MemorySegment> algos = new ArrayList<>();
            for (int i = 0; i < count.get(JAVA_INT, 0); i++) {
                MemorySegment r = results.asSlice(i * RESULT_BYTES, RESULT_BYTES);
                int state = r.get(JAVA_INT, ALGO_BYTES + 8);
                long need = r.get(JAVA_LONG, ALGO_BYTES);
                if (state == 0 && need <= wsBytes) algos.add(r.asSlice(0, ALGO_BYTES));
            }
            return new Plan(desc, la, lb, lc, algos);
        } catch (RuntimeException e) {   // free what was made, then report
            for (long l : layouts) if (l != 0) Cublas.quietly(() -> (int) layoutDestroy.invokeExact(l));
            Cublas.quietly(() -> (int) descDestroy.invokeExact(desc));
            throw e;
        } finally {
            long pr = pref;
            if (pr != 0) Cublas.quietly(() -> (int) prefDestroy.invokeExact(pr));
        }
    }

    /** A shape's descriptors and the heuristic's usable candidates, best first as the library ranks them. */
    final class Plan implements AutoCloseable {
        final long desc, la, lb, lc;
        final List<MemorySegment> algos;

        Plan(long desc, long la, long lb, long lc, List<MemorySegment> algos) {
            this.desc = desc;
            this.la = la;
            this.lb = lb;
            this.lc = lc;
            this.algos = algos;
        }

        /** Runs candidate {@code algo} on {@code stream}; {@code accumulate} adds to what y holds (beta = 1). */
        void run(int algo, long w, long x, long y, boolean accumulate, long ws, long wsBytes, long stream) {
            MemorySegment b = accumulate ? one : zero, a = algos.get(algo);
            Cublas.call("cublasLtMatmul", () -> (int) matmul.invokeExact(handle, desc, alpha, w, la, x, lb, b, y, lc, y, lc, a, ws, wsBytes, stream));
        }

        @Override
        public void close() {
            for (long l : new long[]{la, lb, lc}) Cublas.quietly(() -> (int) layoutDestroy.invokeExact(l));
            Cublas.quietly(() -> (int) descDestroy.invokeExact(desc));
        }
    }

    @Override
    public void close() {
        Cublas.quietly(() -> (int) destroy.invokeExact(handle));
        arena.close();
    }
}
