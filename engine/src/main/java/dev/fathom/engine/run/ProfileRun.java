package dev.fathom.engine.run;

import dev.fathom.engine.Engine;
import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.model.ModelLoader;
import dev.fathom.engine.plan.ExecutionPlan;
import dev.fathom.engine.synthetic.SyntheticModels;
import dev.fathom.engine.telemetry.TelemetryRecorder;
import dev.fathom.engine.tensor.DType;
import dev.fathom.profiles.Precision;
import dev.fathom.profiles.RunProfile;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * Runs a {@link RunProfile} end to end — load the model, plan, generate with telemetry recorded —
 * and returns its {@link RunRecord}. Used by {@code fathom run}, {@code fathom export --target trace}
 * and anything else that wants "run this profile and tell me what happened".
 */
public final class ProfileRun {
    private ProfileRun() {}

    /** Receives progress: a stage name ({@code loading}, {@code generating}) and the fraction done. */
    @FunctionalInterface
    public interface Progress {
        Progress NONE = (stage, fraction) -> { };
        void update(String stage, double fraction);
    }

    /**
     * A model reference from a profile: {@code synthetic:…} as is; a relative folder is looked up
     * beside the profile file first, then from the working directory.
     */
    public static String resolveModel(String model, Path profileDir) {
        if (model.startsWith(SyntheticModels.PREFIX) || profileDir == null) return model;
        Path p = Path.of(model);
        if (!p.isAbsolute()) {
            Path beside = profileDir.resolve(p).normalize();
            if (Files.exists(beside)) return beside.toString();
        }
        return model;
    }

    /** The dtype synthetic weights are generated in for a precision. */
    public static DType syntheticDtype(Precision p) {
        return p == Precision.F32 ? DType.F32 : p == Precision.F16 ? DType.F16 : DType.BF16;
    }

    /**
     * A synthetic prompt for profiles without one: {@code batch} sequences of {@code promptLen} ids
     * drawn from the seed, avoiding the model's end-of-sequence ids.
     */
    public static int[][] syntheticPrompt(RunProfile p, int vocab, java.util.List<Integer> eos) {
        SplittableRandom r = new SplittableRandom(p.sampling().seed() ^ 0x5EEDL);
        int[][] out = new int[p.batch()][p.promptLen()];
        for (int[] seq : out)
            for (int i = 0; i < seq.length; i++) {
                int id;
                do id = r.nextInt(vocab); while (eos.contains(id) && vocab > eos.size());
                seq[i] = id;
            }
        return out;
    }

    /** Loads, plans and runs the profile; {@code cancel} may be null. */
    public static RunRecord run(RunProfile profile, Path profileDir, Progress progress, CancellationToken cancel) {
        Progress pr = progress == null ? Progress.NONE : progress;
        String ref = resolveModel(profile.model(), profileDir);
        long seed = profile.sampling().seed() == 0 ? 42 : profile.sampling().seed();
        pr.update("loading", 0);
        try (LoadedModel m = ModelLoader.load(ref, new ModelLoader.Options(syntheticDtype(profile.precision()), seed),
                f -> pr.update("loading", f))) {
            pr.update("loading", 1);
            Engine engine = Engine.discover();
            int[][] prompts = syntheticPrompt(profile, m.config().vocabSize(), m.config().eosTokenIds());
            ExecutionPlan plan = engine.plan(m, profile, profile.promptLen() + profile.newTokens());
            TelemetryRecorder rec = new TelemetryRecorder();
            try (InferenceSession s = engine.open(m, plan, rec)) {
                int n = profile.newTokens();
                pr.update("generating", 0);
                GenerationResult r = s.generate(new GenerationRequest(prompts, n, profile.sampling(), false, false),
                        (seq, tok, step) -> { if (seq == 0) pr.update("generating", (step + 1) / (double) n); }, cancel);
                pr.update("generating", 1);
                return RunRecord.of(profile, plan, s.runner().layout(), m, profile.promptLen(), r, rec.kernelStats(),
                        rec.events(), rec.dropped());
            }
        }
    }
}
