package dev.fathom.cuda;

import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.run.InferenceSession;
import java.util.Random;

/**
 * A CUDA session ready for timing decode steps (StepTrace, GraphGaps): {@code rows} random prompts prefilled, each
 * row's next token and position set; {@link #decode} runs one step at those positions again (the same KV slot each time).
 */
record DecodeSteps(CudaRunner runner, int[] slots, int[] ids, int[] pos) {
    static DecodeSteps prefilled(InferenceSession s, LoadedModel m, int rows, int prompt, Random rnd) {
        CudaRunner r = (CudaRunner) s.runner();
        int vocab = m.config().vocabSize();
        int[][] toks = new int[rows][prompt];
        for (int[] row : toks) for (int i = 0; i < prompt; i++) row[i] = rnd.nextInt(vocab);
        int[] slots = new int[rows], ids = new int[rows], pos = new int[rows];
        for (int i = 0; i < rows; i++) { slots[i] = i; ids[i] = rnd.nextInt(vocab); pos[i] = prompt; }
        r.prefill(slots, toks, false);
        return new DecodeSteps(r, slots, ids, pos);
    }

    void decode() { runner.decode(slots, ids, pos); }

    /** Host milliseconds of {@code n} steps after {@code warm} untimed ones. */
    double[] time(int warm, int n) {
        for (int i = 0; i < warm; i++) decode();
        double[] t = new double[n];
        for (int i = 0; i < n; i++) {
            long d0 = System.nanoTime();
            decode();
            t[i] = (System.nanoTime() - d0) / 1e6;
        }
        return t;
    }
}
