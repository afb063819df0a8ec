package dev.fathom.cuda;

import dev.fathom.cuda.CudaSelfCheck.GemmResult;
import dev.fathom.engine.tensor.DType;

import java.nio.file.Path;
import java.util.List;

/**
 * CudaSelfCheck's {@code wgemm} mode ({@code gpu-run.sh checkwg}): the warpgroup-MMA prompt GEMM ({@link Wgemm}, the
 * sm_90a image) against float64 through {@link PromptGemm}, so with the model's epilogues, and every fixture with the
 * prompt GEMMs through it. Nothing to check (true) on a GPU other than compute capability 9.0.
 */
final class WgemmCheck {
    private WgemmCheck() {}

    /** Every check below; whether all passed (the failing lines are printed). */
    static boolean all(Path fixtures, long seed) {
        return wgemmChecks(seed) & wgemmGatedChecks(seed, false) & wgemmGatedChecks(seed, true) & wgemmFixtures(fixtures) & wgemmGatedFixtures(fixtures);
    }

    /** The shapes of the wgemm checks: partial weight tiles, a partial last K block, outputs not a multiple of 4, several K splits. */
    static final int[][] WGEMM_SHAPES = {{128, 64}, {200, 136}, {77, 1000}, {1000, 512}, {130, 4096}, {4096, 256}};

    /**
     * {@link Wgemm} against float64 through {@link PromptGemm} (so with the model's epilogues: residual in place, gated
     * pairs, bias + activation), each of its kernels, rows 64 to 600 with the planner's split and 64 and 130 with 1 and
     * 3 forced; a check fails too when the multiply did not go where {@link Wgemm#refusal} says. Nothing to check (true)
     * on a GPU that is not compute capability 9.0.
     */
    static boolean wgemmChecks(long seed) {
        Cuda cu = Cuda.get();
        String why = CudaModule.hopperRefusal(cu);
        if (why != null) {
            System.out.println("wgemm: not checked: " + why);
            return true;
        }
        boolean ok = true;
        for (String kn : Wgemm.KERNELS)
            for (int splits : new int[]{0, 1, 3})
                for (int stagger : Wgemm.swapped(kn) && splits != 1 ? new int[]{0, 3} : new int[]{0})   // the swapped forms' staggered K walks too
                    ok &= withWgemm(kn, splits, stagger, List.of(), () -> {
                        boolean all = true;
                        for (int[] s : WGEMM_SHAPES)
                            // 600 rows (5 token tiles: more units than blocks for the persistent form) with the planned split
                            // only: its float64 references are most of the check's time
                            for (int rows : splits == 0 ? new int[]{64, 100, 130, 600} : new int[]{64, 130})
                                for (int mode = 0; mode < 3; mode++) {
                                    long before = PromptGemm.WGEMM_TOTAL.get();
                                    GemmResult r = CudaSelfCheck.gemm(DType.BF16, false, true, s[0], s[1], rows, mode, seed + splits * 1000L + rows * 3L + mode, true);
                                    // an output row stride that is not a multiple of 4 floats (n here, but for the gated
                                    // scratch) is refused and goes to cuBLAS: Wgemm.refusal
                                    boolean through = PromptGemm.WGEMM_TOTAL.get() > before, expect = mode == 1 || s[0] % 4 == 0;
                                    boolean pass = r.ok(1e-2) && through == expect;
                                    all &= pass;
                                    if (!pass || rows == 130) System.out.printf("%-72s rel %.2e written %s %s%n", r.what() + "/" + kn + " splits=" + splits
                                            + (stagger > 0 ? " stagger=" + stagger : "") + (through ? "" : " (cuBLAS)"), r.relErr(), r.allWritten(), pass ? "ok" : through == expect ? "FAIL" : "FAIL (routed wrongly)");
                                }
                        return all;
                    });
        return ok;
    }

    /**
     * The swapped forms' gated epilogue ({@code -Dfathom.cuda.wgemmGated}, {@link Wgemm#launchGated}), launched as a
     * programmatic dependent launch or not ({@code pdl}: after the input's rounding pass, which lets it in early), against float64
     * through {@link PromptGemm}: gated pairs in the row-major layout's groups of 4 and (unpacked from the tile layout)
     * groups of 16, one K split forced, rows 64 to 600 (partial token tiles, partial slabs, padded groups); a check fails
     * too when the pairs did not go where {@link Wgemm#gatedRefusal} says (an odd output count: not through it). Nothing to check (true) off compute capability 9.0.
     */
    static boolean wgemmGatedChecks(long seed, boolean pdl) {
        if (CudaModule.hopperRefusal(Cuda.get()) != null) return true;
        boolean ok = true;
        for (String kn : Wgemm.KERNELS) {
            if (!Wgemm.swapped(kn)) continue;
            ok &= withWgemm(kn, 1, 0, List.of("fathom.cuda.wgemmGated=true", "fathom.cuda.wgemmPdl=" + pdl), () -> {
                boolean all = true;
                for (boolean mma : new boolean[]{false, true})
                    for (int[] s : WGEMM_SHAPES)
                        for (int rows : new int[]{64, 100, 130, 600}) {
                            long before = PromptGemm.WGEMM_GATED.get();
                            GemmResult r = CudaSelfCheck.gemm(DType.BF16, mma, !mma, s[0], s[1], rows, 1, seed + 7L * rows + (mma ? 1 : 0), true);
                            // an odd output count (77 here) is refused (Wgemm.gatedRefusal): the product into the scratch, then rows_gated
                            boolean through = PromptGemm.WGEMM_GATED.get() > before, expect = s[0] % 2 == 0, pass = r.ok(1e-2) && through == expect;
                            all &= pass;
                            if (!pass || rows == 130) System.out.printf("%-72s rel %.2e written %s %s%n", r.what() + "/" + kn + " gated epilogue, groups of "
                                    + (mma ? SbiLayout.MMA_GROUP : SbiLayout.GROUP) + (pdl ? ", PDL" : "") + (through ? "" : " (not through it)"), r.relErr(), r.allWritten(), pass ? "ok" : through == expect ? "FAIL" : "FAIL (routed wrongly)");
                        }
                return all;
            });
        }
        return ok;
    }

    /** Every fixture with each of its prompt GEMMs (from one row) through {@link Wgemm}. */
    static boolean wgemmFixtures(Path dir) {
        if (CudaModule.hopper(Cuda.get()) == null) return true;
        return withWgemm(Wgemm.kernel(), 0, Wgemm.stagger(), List.of(), () -> {
            long before = PromptGemm.WGEMM_TOTAL.get();
            CudaSelfCheck.printFixtureHeader();
            boolean ok = FixtureCheck.fixtureLines(dir, FixtureCheck::fixture, "/wgemm", true);
            System.out.println("wgemm multiplies in the fixtures: " + (PromptGemm.WGEMM_TOTAL.get() - before));
            return ok && PromptGemm.WGEMM_TOTAL.get() > before;
        });
    }

    /**
     * Every fixture again with one K split forced, the gated epilogue on and the swapped form launched PDL, so the gated
     * models' MLPs (llama, mixtral) write act(gate) · up from {@link Wgemm} (in bf16 for the BF16 fixture, the down
     * projection's input) and each multiply streams its first weights while the kernel before ends.
     */
    static boolean wgemmGatedFixtures(Path dir) {
        if (CudaModule.hopper(Cuda.get()) == null) return true;
        return withWgemm(Wgemm.kernel(), 1, Wgemm.stagger(), List.of("fathom.cuda.wgemmGated=true", "fathom.cuda.wgemmPdl=true"), () -> {
            long before = PromptGemm.WGEMM_GATED.get();
            CudaSelfCheck.printFixtureHeader();
            boolean ok = FixtureCheck.fixtureLines(dir, FixtureCheck::fixture, "/wgemm-gated", true);
            System.out.println("gated pairs through wgemm's epilogue in the fixtures: " + (PromptGemm.WGEMM_GATED.get() - before));
            return ok && PromptGemm.WGEMM_GATED.get() > before;
        });
    }

    /**
     * Runs {@code body} with every PromptGemm opened inside it sending multiplies of any row count through {@code kernel}
     * of {@link Wgemm} (its slabs {@code stagger} K blocks apart), with {@code more} switches set too.
     */
    private static boolean withWgemm(String kernel, int splits, int stagger, List<String> more, java.util.function.BooleanSupplier body) {
        Boolean before = PromptGemm.wgemmOverride;
        PromptGemm.wgemmOverride = true;
        try {
            List<String> switches = new java.util.ArrayList<>(List.of("fathom.cuda.wgemmMinRows=1", "fathom.cuda.wgemmMaxRows=" + PromptGemm.CHUNK,
                    "fathom.cuda.wgemmSplits=" + splits, "fathom.cuda.wgemmMinStream=0", "fathom.cuda.wgemmKernel=" + kernel, "fathom.cuda.wgemmStagger=" + stagger));
            switches.addAll(more);
            return CudaSettings.with(switches, body::getAsBoolean);
        } finally {
            PromptGemm.wgemmOverride = before;
        }
    }
}
