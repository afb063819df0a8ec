package dev.fathom.engine.checkpoint;

import dev.fathom.engine.EngineException;
import dev.fathom.engine.tensor.Tensor;

import java.nio.file.Path;

/**
 * Tokens and logits in the layout of the fixtures' {@code reference.safetensors} (what {@code fathom generate --dump}
 * writes too): {@code input_ids} I32 [batch, prompt], {@code prompt_logits} F32 [batch, prompt, vocab],
 * {@code generated_ids} I32 [batch, prompt + new], {@code step_logits} F32 [batch, new, vocab]; and the relative error
 * the checks compare logits with.
 */
public record ReferenceOutputs(int[][] inputIds, float[][][] promptLogits, int[][] generatedIds, float[][][] stepLogits) {

    /** Reads {@code file}; a missing tensor is one sentence naming the file and the tensor. */
    public static ReferenceOutputs read(Path file) {
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            return new ReferenceOutputs(rows(need(f, file, "input_ids")), cube(need(f, file, "prompt_logits")),
                    rows(need(f, file, "generated_ids")), cube(need(f, file, "step_logits")));
        }
    }

    /** Prompt tokens per sequence. */
    public int promptLength() { return inputIds[0].length; }

    /** New tokens per sequence. */
    public int newTokens() { return generatedIds[0].length - promptLength(); }

    private static Tensor need(SafetensorsFile f, Path file, String name) {
        Tensor t = f.get(name);
        if (t == null) throw new EngineException(file + " has no tensor " + name + ": a reference file needs input_ids, prompt_logits, "
                + "generated_ids and step_logits (the layout fathom generate --dump writes).");
        return t;
    }

    /** A [rows, cols] integer tensor as rows. */
    public static int[][] rows(Tensor t) {
        int b = (int) t.dim(0), p = (int) t.dim(1);
        int[] flat = t.toIntArray();
        int[][] r = new int[b][p];
        for (int i = 0; i < b; i++) System.arraycopy(flat, i * p, r[i], 0, p);
        return r;
    }

    /** A three-dimensional float tensor as nested arrays. */
    public static float[][][] cube(Tensor t) {
        float[] flat = t.toFloatArray();
        long[] s = t.shape();
        float[][][] r = new float[(int) s[0]][(int) s[1]][(int) s[2]];
        int k = 0;
        for (float[][] a : r) for (float[] b : a) for (int i = 0; i < b.length; i++) b[i] = flat[k++];
        return r;
    }

    /** ‖a − b‖ / ‖b‖ over all elements; NaN as soon as any difference is NaN. */
    public static double relError(float[][][] a, float[][][] b) {
        double num = 0, den = 0;
        for (int i = 0; i < b.length; i++)
            for (int j = 0; j < b[i].length; j++)
                for (int k = 0; k < b[i][j].length; k++) {
                    double d = a[i][j][k] - b[i][j][k];
                    if (Double.isNaN(d)) return Double.NaN;
                    num += d * d;
                    den += (double) b[i][j][k] * b[i][j][k];
                }
        return Math.sqrt(num / den);
    }
}
