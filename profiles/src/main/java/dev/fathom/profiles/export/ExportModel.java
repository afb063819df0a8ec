package dev.fathom.profiles.export;

import dev.fathom.profiles.Precision;
import dev.fathom.profiles.ProfileException;

import java.util.Locale;

/**
 * The facts about a model that a DeepSpeed deployment needs, usually filled from the checkpoint's
 * {@code config.json} by the engine.
 *
 * @param family           Hugging Face {@code model_type}: {@code llama}, {@code gpt2}, {@code gpt_neox}, {@code opt}, {@code mixtral}, ...
 * @param hfModel          Hugging Face model name or local path the deployment loads
 * @param numLayers        transformer layers
 * @param hiddenSize       hidden size
 * @param numHeads         attention (query) heads
 * @param numKvHeads       key/value heads (= numHeads without grouped-query attention)
 * @param numExperts       experts per MoE layer (1 for a dense model)
 * @param expertsPerToken  experts each token is routed to (1 for a dense model)
 * @param maxPositions     longest sequence the model supports
 * @param weightBytes      bytes of all weights in {@code dtype}
 * @param dtype            checkpoint dtype: {@code f32}, {@code f16} or {@code bf16} (also {@code fp16}, {@code float16}, ...)
 * @param vocabSize        vocabulary size (0 = unknown)
 * @param intermediateSize MLP inner size per expert (0 = unknown)
 */
public record ExportModel(String family, String hfModel, int numLayers, int hiddenSize, int numHeads, int numKvHeads,
                          int numExperts, int expertsPerToken, int maxPositions, long weightBytes, String dtype,
                          int vocabSize, int intermediateSize) {

    public ExportModel {
        if (family == null || family.isBlank()) throw bad("family", "must name a model family such as llama");
        family = family.trim().toLowerCase(Locale.ROOT);
        if (hfModel == null || hfModel.isBlank()) throw bad("hfModel", "must be a Hugging Face model name or path");
        positive("numLayers", numLayers);
        positive("hiddenSize", hiddenSize);
        positive("numHeads", numHeads);
        positive("numKvHeads", numKvHeads);
        positive("numExperts", numExperts);
        positive("expertsPerToken", expertsPerToken);
        positive("maxPositions", maxPositions);
        if (weightBytes <= 0) throw bad("weightBytes", "must be positive, found " + weightBytes);
        if (vocabSize < 0) throw bad("vocabSize", "must be 0 (unknown) or positive, found " + vocabSize);
        if (intermediateSize < 0) throw bad("intermediateSize", "must be 0 (unknown) or positive, found " + intermediateSize);
        if (numHeads % numKvHeads != 0) {
            throw bad("numKvHeads", "must divide numHeads (" + numHeads + "), found " + numKvHeads);
        }
        if (expertsPerToken > numExperts) {
            throw bad("expertsPerToken", "cannot exceed numExperts (" + numExperts + "), found " + expertsPerToken);
        }
        dtype = normalizeDtype(dtype);
    }

    /** A dense model without the optional sizes. */
    public static ExportModel dense(String family, String hfModel, int numLayers, int hiddenSize, int numHeads,
                                    int numKvHeads, int maxPositions, long weightBytes, String dtype) {
        return new ExportModel(family, hfModel, numLayers, hiddenSize, numHeads, numKvHeads, 1, 1, maxPositions,
                weightBytes, dtype, 0, 0);
    }

    /** True for a mixture-of-experts model. */
    public boolean isMoe() { return numExperts > 1; }

    /** The checkpoint dtype as a precision. */
    public Precision precision() { return Precision.parse(dtype); }

    /** Bytes per weight element in the checkpoint dtype. */
    public int bytesPerElement() { return dtype.equals("f32") ? 4 : 2; }

    /** Approximate parameter count: weight bytes over bytes per element. */
    public long parameters() { return weightBytes / bytesPerElement(); }

    /** Approximate parameters per transformer layer (all parameters spread over the layers). */
    public long parametersPerLayer() { return Math.max(1, parameters() / numLayers); }

    /** The largest single weight tensor, in elements, as far as the known sizes tell. */
    public long largestTensorElements() {
        long h = hiddenSize;
        long biggest = 3 * h * h;                                   // fused QKV at most
        if (intermediateSize > 0) biggest = Math.max(biggest, h * intermediateSize);
        else biggest = Math.max(biggest, 4 * h * h);                // classic 4h MLP
        if (vocabSize > 0) biggest = Math.max(biggest, h * vocabSize);
        return biggest;
    }

    private static String normalizeDtype(String d) {
        String s = d == null ? "" : d.trim().toLowerCase(Locale.ROOT).replace("torch.", "");
        return switch (s) {
            case "f32", "fp32", "float32", "float" -> "f32";
            case "f16", "fp16", "float16", "half" -> "f16";
            case "bf16", "bfloat16" -> "bf16";
            default -> throw bad("dtype", "must be f32, f16 or bf16, found '" + d + "'");
        };
    }

    private static void positive(String field, int v) {
        if (v <= 0) throw bad(field, "must be positive, found " + v);
    }

    private static ProfileException bad(String field, String what) {
        return new ProfileException(null, null, "ExportModel." + field + " " + what + ".");
    }
}
