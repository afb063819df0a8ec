package dev.fathom.cuda;

import dev.fathom.engine.Engine;
import dev.fathom.engine.checkpoint.ReferenceOutputs;
import dev.fathom.engine.cpu.vector.PackedWeight;
import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.model.ModelLoader;
import dev.fathom.engine.plan.ExecutionPlan;
import dev.fathom.engine.run.GenerationRequest;
import dev.fathom.engine.run.GenerationResult;
import dev.fathom.engine.run.InferenceSession;
import dev.fathom.engine.run.TokenListener;
import dev.fathom.engine.telemetry.TelemetrySink;
import dev.fathom.profiles.Precision;
import dev.fathom.profiles.RunProfile;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * The fixtures of ../shared on the cuda backend against what transformers computed from them (and, with INT8 weights,
 * against the cpu backend's INT8 run): as a batch of their prompts, one prompt at a time, or in a parallel layout.
 * Used by {@link CudaSelfCheck}, the TP / PP / ZeRO benches' checks and the GPU tests.
 */
public final class FixtureCheck {
    private FixtureCheck() {}

    /**
     * One fixture's outcome.
     *
     * @param greedySame whether a second generation without kept logits (greedy tokens picked by the runner: on one GPU
     *                   by argmax_rows on the device) gave the same tokens as the run that copied every step's logits back
     */
    public record FixtureResult(String fixture, String weights, double promptErr, double stepErr, boolean sameTokens, double tol,
                                boolean greedySame) {
        public boolean ok() { return promptErr <= tol && stepErr <= tol && sameTokens && greedySame; }
    }

    /**
     * Runs fixture {@code dir} through Engine + InferenceSession on the cuda backend and compares with its
     * reference.safetensors. {@code bf16} packs the projection weights as BF16 (tolerance 2e-2, tokens not required).
     */
    public static FixtureResult fixture(Path dir, boolean bf16) {
        return fixture(dir, bf16, RunProfile.Parallelism.NONE, r -> { });
    }

    /**
     * Same with a parallel layout; {@code onRunner} sees the opened runner first (to check its kind, set a schedule)
     * and may throw to refuse it.
     */
    public static FixtureResult fixture(Path dir, boolean bf16, RunProfile.Parallelism par, java.util.function.Consumer<dev.fathom.engine.backend.ModelRunner> onRunner) {
        return withReference(dir, bf16, f -> {
            RunProfile prof = RunProfile.defaults().withModel(dir.toString()).withBackend("cuda").withShape(f.in().length, f.p(), f.n())
                    .withParallel(par);
            GenerationResult r = generate(f.m(), prof, f.in(), f.n(), onRunner, true);
            GenerationResult g = generate(f.m(), prof, f.in(), f.n(), onRunner, false);
            double pe = ReferenceOutputs.relError(r.promptLogits(), f.pl()), se = ReferenceOutputs.relError(r.stepLogits(), f.sl());
            boolean same = true;
            for (int b = 0; b < f.gen().length; b++) same &= Arrays.equals(f.gen()[b], r.tokens()[b]);
            return f.result(bf16, "", pe, se, same, Arrays.deepEquals(r.tokens(), g.tokens()));
        });
    }

    /**
     * Each of fixture {@code dir}'s prompts on its own (batch 1: with BF16 weights the row-major layout, the prompt
     * attention in 32-row query tiles, decode steps in CUDA graphs), compared with its rows of the reference;
     * the worst prompt and step errors over the prompts, and whether every prompt's tokens matched.
     */
    public static FixtureResult fixtureEach(Path dir, boolean bf16) {
        return withReference(dir, bf16, f -> {
            double pe = 0, se = 0;
            boolean same = true, greedySame = true;
            for (int b = 0; b < f.in().length; b++) {
                RunProfile prof = RunProfile.defaults().withModel(dir.toString()).withBackend("cuda").withShape(1, f.p(), f.n());
                GenerationResult r = generate(f.m(), prof, new int[][]{f.in()[b]}, f.n(), x -> { }, true);
                GenerationResult g = generate(f.m(), prof, new int[][]{f.in()[b]}, f.n(), x -> { }, false);
                pe = Math.max(pe, ReferenceOutputs.relError(r.promptLogits(), new float[][][]{f.pl()[b]}));
                se = Math.max(se, ReferenceOutputs.relError(r.stepLogits(), new float[][][]{f.sl()[b]}));
                same &= Arrays.equals(f.gen()[b], r.tokens()[0]);
                greedySame &= Arrays.deepEquals(r.tokens(), g.tokens());
            }
            return f.result(bf16, " b=1", pe, se, same, greedySame);
        });
    }

    /** A fixture opened with its reference: prompts, generated ids, prompt and step logits, prompt length, new tokens. */
    private record Reference(String name, LoadedModel m, int[][] in, int[][] gen, float[][][] pl, float[][][] sl, int p, int n) {
        /** FP32 weights: 1e-4 and the same tokens; BF16 weights (packed here or on disk): 2e-2, tokens not required. */
        FixtureResult result(boolean bf16, String note, double promptErr, double stepErr, boolean same, boolean greedySame) {
            double tol = bf16 || m.weightDtype().equals("BF16") ? 2e-2 : 1e-4;
            return new FixtureResult(name, (bf16 ? "bf16 (packed)" : m.weightDtype()) + note, promptErr, stepErr, same || bf16, tol, greedySame);
        }
    }

    /** Opens fixture {@code dir} and its reference ({@code bf16}: projection weights packed as BF16 for the run) for {@code body}. */
    private static FixtureResult withReference(Path dir, boolean bf16, java.util.function.Function<Reference, FixtureResult> body) {
        String prop = System.getProperty("fathom.cuda.weights");
        if (bf16) System.setProperty("fathom.cuda.weights", "bf16");
        ReferenceOutputs ref = ReferenceOutputs.read(dir.resolve("reference.safetensors"));
        try (LoadedModel m = ModelLoader.load(dir.toString())) {
            return body.apply(new Reference(dir.getFileName().toString(), m, ref.inputIds(), ref.generatedIds(), ref.promptLogits(),
                    ref.stepLogits(), ref.promptLength(), ref.newTokens()));
        } finally {
            if (prop == null) System.clearProperty("fathom.cuda.weights");
            else System.setProperty("fathom.cuda.weights", prop);
        }
    }

    /**
     * Greedy generation of {@code n} tokens after prompts {@code in} through Engine + InferenceSession, all logits kept
     * ({@code keep}), or none (the runner then picks each token: {@code ModelRunner#decodeGreedy}).
     */
    private static GenerationResult generate(LoadedModel m, RunProfile prof, int[][] in, int n,
                                             java.util.function.Consumer<dev.fathom.engine.backend.ModelRunner> onRunner, boolean keep) {
        Engine engine = Engine.discover();
        ExecutionPlan plan = engine.plan(m, prof, in[0].length + n);
        try (InferenceSession s = engine.open(m, plan, TelemetrySink.NOOP)) {
            onRunner.accept(s.runner());
            return s.generate(new GenerationRequest(in, n, RunProfile.Sampling.GREEDY.withStopOnEos(false), keep, keep),
                    TokenListener.NONE, null);
        }
    }

    /**
     * An INT8 fixture run: logits of the cuda backend against the cpu backend's, both with INT8 weights (precision int8 in
     * the profile), and against the transformers reference (for information: the quantization's own error).
     */
    public record Int8FixtureResult(String fixture, String weights, int group, Int8Blas blas, double promptErr, double stepErr,
                                    boolean sameTokens, double hfPromptErr, double tol) {
        public boolean ok() { return promptErr <= tol && stepErr <= tol && (sameTokens || blas == Int8Blas.ALL); }
    }

    /**
     * Which INT8 GEMMs of a fixture run go through cuBLAS ({@link PromptGemm}: weights dequantized to bf16, activations
     * rounded to bf16): NONE (sbi8 kernels only), PROMPT (the prompt's, as a model runs by default; decode steps on
     * sbi8), ALL (decode steps too, captured in CUDA graphs).
     */
    public enum Int8Blas { NONE, PROMPT, ALL }

    /** {@link #fixtureInt8(Path, Int8Blas)} as models run: the prompt through cuBLAS, decode steps through sbi8. */
    public static Int8FixtureResult fixtureInt8(Path dir) { return fixtureInt8(dir, Int8Blas.PROMPT); }

    /**
     * Runs fixture {@code dir}'s prompts with INT8 weights on the cuda and the cpu backends (same tokens, greedy) and
     * compares their logits. The CUDA scale group is set to the CPU's ({@link PackedWeight#GROUP}) for the run, so both
     * quantize every weight to the same q * scale. Tolerances:
     * <ul>
     *   <li>NONE: only the order of float32 sums differs: 1e-3 on prompt and step logits, the same tokens.</li>
     *   <li>PROMPT: the prompt's GEMMs run in bf16 (weights q * scale rounded to bf16, activations rounded to bf16, as
     *       BF16 prompts through cuBLAS), so its logits move by up to ~1e-2 and the step logits too (they attend over the
     *       keys and values the prompt wrote): the BF16 fixture tolerance, 2e-2; the tokens must still be the same.</li>
     *   <li>ALL: every GEMM in bf16: 2e-2, tokens not required (as the BF16 checks with every GEMM through cuBLAS).</li>
     * </ul>
     */
    public static Int8FixtureResult fixtureInt8(Path dir, Int8Blas blas) {
        String[] keys = {"fathom.cuda.int8.group", "fathom.cuda.int8.blas", "fathom.cuda.blasRows"};
        String[] old = new String[keys.length];
        for (int i = 0; i < keys.length; i++) old[i] = System.getProperty(keys[i]);
        System.setProperty(keys[0], String.valueOf(PackedWeight.GROUP));
        System.setProperty(keys[1], String.valueOf(blas != Int8Blas.NONE));
        ReferenceOutputs ref = ReferenceOutputs.read(dir.resolve("reference.safetensors"));
        try (LoadedModel m = ModelLoader.load(dir.toString())) {
            int[][] in = ref.inputIds();
            int p = ref.promptLength(), n = ref.newTokens();
            RunProfile prof = RunProfile.defaults().withModel(dir.toString()).withShape(in.length, p, n).withPrecision(Precision.INT8);
            // PROMPT: more rows than a decode step's (one per sequence) go through cuBLAS, whatever the fixture's prompt length
            System.setProperty(keys[2], String.valueOf(blas == Int8Blas.ALL ? 0 : in.length));
            GenerationResult cpu = generate(m, prof.withBackend("cpu"), in, n, r -> { }, true);
            GenerationResult gpu = generate(m, prof.withBackend("cuda"), in, n, r -> { }, true);
            boolean same = true;
            for (int b = 0; b < in.length; b++) same &= Arrays.equals(cpu.tokens()[b], gpu.tokens()[b]);
            return new Int8FixtureResult(dir.getFileName().toString(), m.weightDtype() + "->int8", PackedWeight.GROUP, blas,
                    ReferenceOutputs.relError(gpu.promptLogits(), cpu.promptLogits()), ReferenceOutputs.relError(gpu.stepLogits(), cpu.stepLogits()), same,
                    ReferenceOutputs.relError(gpu.promptLogits(), ref.promptLogits()), blas == Int8Blas.NONE ? 1e-3 : 2e-2);
        } finally {
            for (int i = 0; i < keys.length; i++) {
                if (old[i] == null) System.clearProperty(keys[i]);
                else System.setProperty(keys[i], old[i]);
            }
        }
    }

    /** The six fixtures of ../shared, in the order the tables print them. */
    static final List<String> FIXTURES = List.of("gpt2-tiny", "llama-tiny", "llama-tiny-bf16", "gpt-neox-tiny", "opt-tiny", "mixtral-tiny");
    /** The dense ones (no MoE), which the tensor- and pipeline-parallel checks run. */
    static final List<String> DENSE = FIXTURES.subList(0, 5);

    /**
     * Runs {@code run} on every fixture with each of {@code bf16} (none given: F32 and packed BF16) and prints a line each
     * (with {@code note} after the result; an exception is a failed line with its trace); returns whether all passed.
     */
    static boolean fixtureLines(Path dir, java.util.function.BiFunction<Path, Boolean, FixtureResult> run, String note, boolean... bf16) {
        boolean ok = true;
        for (String f : FIXTURES)
            for (boolean bf : bf16.length == 0 ? new boolean[]{false, true} : bf16) {
                try {
                    FixtureResult r = run.apply(dir.resolve(f), bf);
                    ok &= r.ok();
                    System.out.printf("%-18s %-20s %12.3e %12.3e %8s %s%s%s%n", f, r.weights(), r.promptErr(), r.stepErr(), r.sameTokens(),
                            r.ok() ? "ok" : "FAIL", r.greedySame() ? "" : " (greedy tokens picked by the runner differ)", note);
                } catch (RuntimeException e) {
                    ok = false;
                    System.out.printf("%-18s %s FAIL %s%s%n", f, bf ? "bf16" : "", e, note);
                    e.printStackTrace(System.out);
                }
            }
        return ok;
    }

    /** Every fixture's prompts one at a time (batch 1), F32 and packed BF16; prints a line each, returns whether all passed. */
    static boolean fixturesEach(Path dir) { return fixtureLines(dir, FixtureCheck::fixtureEach, " (each prompt alone)"); }

    /**
     * Every fixture in BF16, batched, with every row-major BF16 matrix counted wide ({@code -Dfathom.cuda.tmaWide=1}), so
     * the decode steps' 2..8 rows run through a TMA kernel where the model runs one only over the Llama shapes (the
     * fixtures' widest is 512): once through each of {@link SbiSplitK#NARROW_KERNEL} and {@link SbiSplitK#WIDE_KERNEL}
     * ({@code -Dfathom.cuda.tmaNarrowKernel}). sm_90 and later; elsewhere one line saying it was not run.
     */
    static boolean fixturesTma(Path dir) { return fixturesTma(dir, List.of()); }

    /** {@link #fixturesTma(Path)}, then once more through each of {@code extra} (TMA kernels) not among those two. */
    static boolean fixturesTma(Path dir, List<String> extra) {
        if (Cuda.get().ccMajor() < 9) {
            System.out.println("fixtures through the TMA kernels: not checked, they need sm_90 or later (this GPU never runs them)");
            return true;
        }
        boolean ok = true;
        java.util.LinkedHashSet<String> kernels = new java.util.LinkedHashSet<>(List.of(SbiSplitK.NARROW_KERNEL, SbiSplitK.WIDE_KERNEL, SbiSplitK.GATED_KERNEL));
        kernels.addAll(extra);
        for (String kn : kernels)
            ok &= withTmaKernel(kn, () -> fixtureLines(dir, FixtureCheck::fixture, " (2..8 rows via " + kn + ")", true));
        return ok;
    }

    /** {@code body} with every row-major BF16 matrix's 2..8 rows through TMA kernel {@code kernel}; the two settings restored after. */
    static <T> T withTmaKernel(String kernel, java.util.function.Supplier<T> body) {
        return CudaSettings.with(List.of("fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowKernel=" + kernel), body);
    }
}
