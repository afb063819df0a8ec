package dev.fathom.cuda;

import dev.fathom.engine.tensor.DType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Kernels and fixtures on a real GPU; skipped where there is no CUDA driver (CI). */
class CudaGpuTest {
    /** The six fixtures of ../shared (skips the test where they are missing). */
    private static List<Path> fixtures() {
        Path dir = Path.of(System.getProperty("fathom.shared", "../../shared"), "fixtures");
        assumeTrue(Files.isDirectory(dir), "no fixtures at " + dir);
        return FixtureCheck.FIXTURES.stream().map(dir::resolve).toList();
    }

    private static void assertOk(CudaSelfCheck.GemmResult r, double tol) {
        assertTrue(r.ok(tol), r.what() + " rel " + r.relErr() + " written " + r.allWritten() + (r.pattern().isEmpty() ? "" : "; " + r.pattern()));
    }

    @BeforeAll
    static void needsGpu() {
        String why = new CudaBackend().unavailableReason();
        assumeTrue(why == null, "skipped: " + why);
    }

    @Test
    void sbiGemmMatchesFloat64OnFreshRandomInputs() {
        long seed = System.nanoTime();
        for (int v = 0; v < 5; v++)
            for (int[] nk : new int[][]{{172, 64}, {64, 172}, {1000, 300}})
                for (int rows : new int[]{1, 5, 11, 40, 130, 600})
                    for (int mode = 0; mode < 3; mode++) {
                        DType dt = v == 0 ? DType.F32 : v == 3 ? DType.F16 : DType.BF16;
                        var r = CudaSelfCheck.gemm(dt, v == 2, v == 4, nk[0], nk[1], rows, mode, seed++, false);
                        assertOk(r, v == 2 ? 1e-4 : 1e-5);
                    }
    }

    @Test
    void cublasPromptGemmOverBothLayoutsMatchesFloat64() {
        long seed = System.nanoTime();
        for (int layout = 0; layout < 3; layout++)   // SIMT (unpacked), tiles (unpacked), row-major (read in place)
            for (int[] nk : new int[][]{{172, 64}, {64, 172}, {1000, 300}, {37, 1000}})
                for (int rows : new int[]{33, 130, 2500})
                    for (int mode = 0; mode < 3; mode++) {
                        var r = CudaSelfCheck.gemm(DType.BF16, layout == 1, layout == 2, nk[0], nk[1], rows, mode, seed++, true);
                        assertOk(r, 1e-2);
                    }
    }

    @Test
    void warpgroupMmaPromptGemmMatchesFloat64OnSm90() {
        assertTrue(WgemmCheck.wgemmChecks(System.nanoTime()), "every wgemm form against float64 (the failing lines are printed)");
    }

    @Test
    void swappedGemmsGatedEpilogueMatchesFloat64PlainAndAsAProgrammaticDependentLaunch() {
        long seed = System.nanoTime();
        assertTrue(WgemmCheck.wgemmGatedChecks(seed, false) & WgemmCheck.wgemmGatedChecks(seed + 1, true),
                "the gated epilogue against float64 (the failing lines are printed)");
    }

    @Test
    void everyFixtureReproducesTransformersWithThePrefillsPreparedSwitchesOn() {
        Path dir = fixtures().get(0).getParent();
        assertTrue(WgemmCheck.wgemmGatedFixtures(dir), "every fixture with the gated epilogue and PDL (the failing lines are printed)");
        // the attention's output in bf16 for the output projection: the BF16 runs take it
        CudaSettings.with(List.of("fathom.cuda.ctxBf16=true"), () -> {
            assertEveryFixture(FixtureCheck::fixture);
            return null;
        });
    }

    @Test
    void tiledAndPerRowAttentionMatchFloat64() {
        long seed = System.nanoTime();
        for (int[] c : new int[][]{{64, 4, 4}, {128, 8, 2}, {20, 3, 1}, {256, 2, 1}, {16, 4, 2}})
            for (int[] lens : new int[][]{{1}, {37}, {130, 5, 64}})
                for (var r : AttentionCheck.attention(c[0], c[1], c[2], lens, seed++))
                    assertOk(r, AttentionCheck.tolerance(r));
    }

    @Test
    void normFusedGemmMatchesFloat64() {
        long seed = System.nanoTime();
        for (int v = 0; v < 4; v++)   // F32, BF16 SIMT, F16, BF16 row-major
            for (int[] nk : new int[][]{{172, 64}, {64, 172}, {1000, 300}, {37, 1000}})
                for (int rows : new int[]{1, 5, 11})
                    for (int mode = 0; mode < 3; mode++) {
                        DType dt = v == 0 ? DType.F32 : v == 2 ? DType.F16 : DType.BF16;
                        var r = CudaSelfCheck.gemm(dt, false, v == 3, nk[0], nk[1], rows, mode, seed++, false, true);
                        assertOk(r, 1e-5);
                    }
    }

    @Test
    void splitKClusterKernelsOverBothLayoutsMatchFloat64WithAndWithoutTheNorm() {
        assumeTrue(Cuda.get().ccMajor() >= 9, "skipped: thread-block clusters need sm_90");
        long seed = System.nanoTime();
        for (String kn : CudaSelfCheck.SPLIT_K_KERNELS)
            for (int[] nk : new int[][]{{172, 64}, {64, 172}, {1000, 300}, {100, 77}, {37, 1000}})
                for (int rows : new int[]{2, 5, 8})
                    for (int mode = 0; mode < 3; mode++)
                        for (int c : new int[]{0, 1, 4})
                            for (boolean norm : new boolean[]{false, true}) {
                                boolean rm = SbiSplitK.rowMajor(kn);
                                var r = CudaSelfCheck.gemm(DType.BF16, !rm, rm, nk[0], nk[1], rows, mode, seed++, false, kn, c, norm);
                                assertOk(r, 1e-4);
                            }
    }

    @Test
    void tmaKernelsReadEveryColumnAndRowWhereExpectedAndMatchFloat64() {
        assumeTrue(Cuda.get().ccMajor() >= 9, "skipped: the TMA kernels need sm_90");
        long seed = System.nanoTime();
        assertTrue(CudaSelfCheck.tmaProbes(seed), "TMA probes: the lines printed above name the columns or rows read wrong");
        for (String kn : TmaKernels.TMA_KERNELS)
            for (int[] nk : new int[][]{{172, 64}, {64, 172}, {1000, 300}, {37, 1000}})   // K % 4 == 0, as their activation map needs
                for (int rows : new int[]{2, 5, 8})
                    for (int mode = 0; mode < 3; mode++)
                        for (int c : new int[]{0, 1, 4})
                            for (boolean norm : new boolean[]{false, true}) {
                                var r = CudaSelfCheck.gemm(DType.BF16, false, true, nk[0], nk[1], rows, mode, ++seed, false, kn, c, norm);
                                assertOk(r, 1e-4);
                            }
    }

    /** The batched BF16 fixtures with every row-major matrix counted wide: their decode steps' 2..8 rows run through each TMA kernel the model uses. */
    @Test
    void everyFixtureReproducesTransformersWithTwoToEightRowsThroughTheTmaKernels() {
        assumeTrue(Cuda.get().ccMajor() >= 9, "skipped: the TMA kernels need sm_90");
        for (String kn : List.of(SbiSplitK.NARROW_KERNEL, SbiSplitK.WIDE_KERNEL))
            FixtureCheck.withTmaKernel(kn, () -> {
                for (Path f : fixtures()) {
                    var r = FixtureCheck.fixture(f, true);
                    assertTrue(r.ok(), kn + ": " + r);
                }
                return null;
            });
    }

    /**
     * A trace kernel as the model's TMA kernel (what CudaBench part steptrace runs): the fixture still reproduces, and its
     * decode steps' blocks land in the ring with their matrix, rows and timer points in order.
     */
    @Test
    void aTraceKernelInsideTheModelReproducesAFixtureAndFillsTheRing() {
        assumeTrue(Cuda.get().ccMajor() >= 9, "skipped: the TMA kernels need sm_90");
        Path f = fixtures().stream().filter(p -> p.getFileName().toString().equals("llama-tiny")).findFirst().orElseThrow();
        Cuda cu = Cuda.get();
        long before = StepTrace.ringCount(cu);
        FixtureCheck.withTmaKernel(TmaKernels.TMA_TRACE_KERNELS.get(0), () -> {
            var r = FixtureCheck.fixture(f, true);
            assertTrue(r.ok(), r.toString());
            return null;
        });
        long after = StepTrace.ringCount(cu);
        assertTrue(after > before, "no traced block reached the ring");
        List<StepTrace.Block> blocks = StepTrace.blocks(cu, before, after);
        for (StepTrace.Block b : blocks) {
            assertTrue(b.rows() >= 2 && b.rows() <= 8 && b.n() > 0 && b.k() > 0 && b.block() < b.grid(), b.toString());
            assertTrue(b.entry() <= b.end() && (!b.streamed() || b.entry() <= b.first() && b.first() <= b.last() && b.last() <= b.end()), b.toString());
        }
        assertTrue(StepTrace.launches(blocks).size() >= 2, "a decode step's launches");
    }

    /** -Dfathom.cuda.carveout=100 (CudaBench variant carve100): a fixture still reproduces, and the next model restores the default. */
    @Test
    void aFixtureReproducesWithEveryKernelPreferringAllSharedMemory() {
        Path f = fixtures().stream().filter(p -> p.getFileName().toString().equals("llama-tiny")).findFirst().orElseThrow();
        SystemProperties.with("fathom.cuda.carveout", "100", () -> {
            var r = FixtureCheck.fixture(f, true);
            assertTrue(r.ok(), r.toString());
            assertTrue(CudaModule.get().carveout() == 100, "the model set the carveout");
        });
        var r = FixtureCheck.fixture(f, true);
        assertTrue(r.ok(), r.toString());
        assertTrue(CudaModule.get().carveout() == -1, "the next model restored the driver's default");
    }

    /** {@code run} on every fixture, F32 and packed BF16: each result within its tolerance (same tokens where F32). */
    private static void assertEveryFixture(java.util.function.BiFunction<Path, Boolean, FixtureCheck.FixtureResult> run) {
        for (Path f : fixtures())
            for (boolean bf16 : new boolean[]{false, true}) {
                var r = run.apply(f, bf16);
                assertTrue(r.ok(), r.toString());
            }
    }

    @Test
    void everyFixtureReproducesTransformersOnePromptAtATime() {
        assertEveryFixture(FixtureCheck::fixtureEach);
    }

    @Test
    void decodeAttentionWithRopeAndAppendMatchesFloat64() {
        long seed = System.nanoTime();
        for (int[] c : new int[][]{{64, 4, 4, 64}, {128, 8, 2, 32}, {20, 3, 1, 0}, {256, 2, 1, 256}})
            for (int[] pos : new int[][]{{0}, {5, 130, 0}})
                for (int splits : new int[]{1, 4, 16})
                    for (int minChunk : new int[]{1, 40, 256})
                        for (boolean kb : new boolean[]{false, true}) {   // float32 and bf16 caches
                            var r = AttentionCheck.attentionDecode(c[0], c[1], c[2], c[3], pos, splits, minChunk, seed++, kb);
                            assertOk(r, 1e-5);
                        }
    }

    @Test
    void promptRopeAndAppendMatchFloat64WithTheHeadsSplitOverBlocks() {
        long seed = System.nanoTime();
        for (int[] c : new int[][]{{128, 8, 2, 32}, {20, 3, 1, 0}, {64, 4, 4, 64}})
            for (int[] lens : new int[][]{{1}, {130, 5, 64}})
                for (int splits : new int[]{1, 3, c[1] + c[2]})
                    for (boolean kb : new boolean[]{false, true})
                        assertOk(AttentionCheck.ropeKvRows(c[0], c[1], c[2], c[3], lens, splits, kb, seed++), 1e-5);
    }

    @Test
    void argmaxOnTheDevicePicksWhatTheHostPicks() {
        long seed = System.nanoTime();
        for (int n : new int[]{1, 7, 1025, 32000, 50257})
            for (int rows : new int[]{1, 4, 33})
                assertOk(CudaSelfCheck.argmax(rows, n, seed++), 0);
    }

    @Test
    void everyFixtureReproducesTransformers() {
        assertEveryFixture(FixtureCheck::fixture);
    }

    @Test
    void int8KernelsMatchFloat64OverTheDequantizedWeights() {
        long seed = System.nanoTime();
        for (int[] nk : new int[][]{{172, 300}, {64, 1030}, {1000, 520}})
            for (int rows : new int[]{1, 2, 4, 8, 11})
                for (int mode = 0; mode < 3; mode++)
                    for (String prefix : new String[]{Int8Layout.PREFIX, Int8Layout.REGS_PREFIX, Int8Layout.SCALED_PREFIX}) {
                        var r = Int8Check.gemm8(nk[0], nk[1], rows, mode, 128, 0, prefix, seed++);
                        assertOk(r, 1e-4);
                    }
    }

    @Test
    void int8CublasPromptGemmMatchesFloat64OverTheDequantizedWeights() {
        long seed = System.nanoTime();
        for (int[] nk : new int[][]{{1000, 300}, {37, 1000}, {172, 64}, {64, 172}})
            for (int rows : new int[]{33, 130, 600})
                for (int mode = 0; mode < 3; mode++)
                    for (int group : new int[]{128, 16}) {
                        var r = Int8Check.gemm8Blas(nk[0], nk[1], rows, mode, group, seed++);
                        assertOk(r, 1e-2);
                    }
    }

    @Test
    void int8FixturesMatchTheCpuBackendsInt8Run() {
        for (Path f : fixtures())
            for (var blas : FixtureCheck.Int8Blas.values()) {   // sbi8 only, prompt through cuBLAS (the default), every GEMM
                var r = FixtureCheck.fixtureInt8(f, blas);
                assertTrue(r.ok(), r.toString());
            }
    }

    @Test
    void streamedLayersReproduceResidentRunsExactly() {
        Path dir = Path.of(System.getProperty("fathom.shared", "../../shared"), "fixtures");
        assumeTrue(Files.isDirectory(dir), "no fixtures at " + dir);
        assertTrue(CudaZeroBench.check(dir, null), "a streamed run (host or NVMe, prefetch 0/1/3) differs from the resident run; see the output");
    }
}
