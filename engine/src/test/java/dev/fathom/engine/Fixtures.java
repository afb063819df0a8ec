package dev.fathom.engine;

import dev.fathom.engine.checkpoint.SafetensorsFile;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Locates ../shared/fixtures and reads their reference tensors. */
public final class Fixtures {
    public static final List<String> MODELS = List.of("gpt2-tiny", "llama-tiny", "llama-tiny-bf16", "gpt-neox-tiny", "opt-tiny", "mixtral-tiny");

    private Fixtures() {}

    public static Path shared() {
        String p = System.getProperty("fathom.shared");
        if (p != null && Files.isDirectory(Path.of(p, "fixtures"))) return Path.of(p);
        for (Path c = Path.of("").toAbsolutePath(); c != null; c = c.getParent()) {
            Path s = c.resolve("../shared").normalize();
            if (Files.isDirectory(s.resolve("fixtures"))) return s;
            if (Files.isDirectory(c.resolve("shared/fixtures"))) return c.resolve("shared");
        }
        throw new IllegalStateException("../shared/fixtures not found; set -Dfathom.shared");
    }

    public static Path model(String name) { return shared().resolve("fixtures").resolve(name); }

    /** Reference tensors: input_ids, prompt_logits, generated_ids, step_logits. */
    public record Reference(int[][] inputIds, float[][][] promptLogits, int[][] generatedIds, float[][][] stepLogits) {}

    public static Reference reference(String name) {
        try (SafetensorsFile f = SafetensorsFile.open(model(name).resolve("reference.safetensors"))) {
            var ids = f.get("input_ids");
            int b = (int) ids.dim(0), p = (int) ids.dim(1);
            int[] flat = ids.toIntArray();
            int[][] in = new int[b][p];
            for (int i = 0; i < b; i++) System.arraycopy(flat, i * p, in[i], 0, p);
            var gen = f.get("generated_ids");
            int g = (int) gen.dim(1);
            int[] gflat = gen.toIntArray();
            int[][] out = new int[b][g];
            for (int i = 0; i < b; i++) System.arraycopy(gflat, i * g, out[i], 0, g);
            return new Reference(in, to3(f.get("prompt_logits").toFloatArray(), f.get("prompt_logits").shape()), out,
                    to3(f.get("step_logits").toFloatArray(), f.get("step_logits").shape()));
        }
    }

    static float[][][] to3(float[] flat, long[] s) {
        float[][][] r = new float[(int) s[0]][(int) s[1]][(int) s[2]];
        int k = 0;
        for (float[][] a : r) for (float[] b : a) for (int i = 0; i < b.length; i++) b[i] = flat[k++];
        return r;
    }

    /** ‖a−b‖/‖b‖ over all elements. */
    public static double relError(float[][][] a, float[][][] b) {
        double num = 0, den = 0;
        for (int i = 0; i < b.length; i++)
            for (int j = 0; j < b[i].length; j++)
                for (int k = 0; k < b[i][j].length; k++) {
                    double d = a[i][j][k] - b[i][j][k];
                    num += d * d;
                    den += (double) b[i][j][k] * b[i][j][k];
                }
        return Math.sqrt(num / den);
    }
}
