package dev.fathom.engine.run;

import dev.fathom.engine.backend.ModelRunner;
import dev.fathom.profiles.RunProfile;

import java.util.Arrays;
import java.util.SplittableRandom;

/** Picks the next token from logits: argmax, or seeded temperature / top-k / top-p sampling. */
public final class Sampler {
    private final RunProfile.Sampling s;
    private final SplittableRandom rng;

    public Sampler(RunProfile.Sampling s) {
        this.s = s;
        this.rng = new SplittableRandom(s.seed());
    }

    /** The index of the largest logit, the first on ties ({@link ModelRunner#argmax}). */
    public static int argmax(float[] logits) { return ModelRunner.argmax(logits); }

    /** Whether every pick is the argmax (no randomness): the runner may then pick on its device ({@link ModelRunner#decodeGreedy}). */
    public boolean greedy() { return s.greedy() || s.temperature() <= 0; }

    public int next(float[] logits) {
        if (greedy()) return argmax(logits);
        int n = logits.length;
        Integer[] idx = new Integer[n];
        for (int i = 0; i < n; i++) idx[i] = i;
        Arrays.sort(idx, (a, b) -> Float.compare(logits[b], logits[a]));
        int keep = s.topK() > 0 ? Math.min(s.topK(), n) : n;
        double max = logits[idx[0]];
        double[] p = new double[keep];
        double sum = 0;
        for (int i = 0; i < keep; i++) sum += p[i] = Math.exp((logits[idx[i]] - max) / s.temperature());
        if (s.topP() < 1.0) {
            double cum = 0;
            int cut = keep;
            for (int i = 0; i < keep; i++) {
                cum += p[i] / sum;
                if (cum >= s.topP()) { cut = i + 1; break; }
            }
            keep = cut;
            sum = 0;
            for (int i = 0; i < keep; i++) sum += p[i];
        }
        double u = rng.nextDouble() * sum;
        for (int i = 0; i < keep; i++) {
            u -= p[i];
            if (u <= 0) return idx[i];
        }
        return idx[keep - 1];
    }
}
