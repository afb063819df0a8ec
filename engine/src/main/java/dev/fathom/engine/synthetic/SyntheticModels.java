package dev.fathom.engine.synthetic;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fathom.engine.checkpoint.SafetensorsWriter;
import dev.fathom.engine.model.ModelConfig;
import dev.fathom.engine.model.Slot;
import dev.fathom.engine.model.WeightMap;
import dev.fathom.engine.tensor.DType;
import dev.fathom.engine.tensor.Tensor;
import dev.fathom.profiles.AtomicFiles;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.DoubleConsumer;

/** Random-weight models of a preset's shape, in memory or written to disk in Hugging Face layout. */
public final class SyntheticModels {
    public static final String PREFIX = "synthetic:";
    private static final ObjectMapper JSON = new ObjectMapper();

    private SyntheticModels() {}

    /** What one weight looks like: shape and how to fill it. */
    public record Spec(long[] shape, Kind kind) {}

    public enum Kind { WEIGHT, NORM, BIAS }

    /** The HF tensor names and shapes a checkpoint of {@code c} holds, for the family's weight map. */
    public static Map<String, Spec> layout(ModelConfig c, WeightMap m) {
        Map<String, Spec> out = new LinkedHashMap<>();
        long h = c.hiddenSize(), v = c.vocabSize(), f = c.intermediateSize();
        boolean ln = c.norm() == ModelConfig.Norm.LAYER_NORM;
        out.put(m.name(Slot.EMBED), new Spec(new long[]{v, h}, Kind.WEIGHT));
        if (c.learnedPositions()) out.put(m.name(Slot.POS_EMBED), new Spec(new long[]{c.maxPositions() + c.positionOffset(), h}, Kind.WEIGHT));
        for (int l = 0; l < c.numLayers(); l++) {
            out.put(m.name(Slot.ATTN_NORM_W, l), new Spec(new long[]{h}, Kind.NORM));
            if (ln) out.put(m.name(Slot.ATTN_NORM_B, l), new Spec(new long[]{h}, Kind.BIAS));
            switch (c.family()) {
                case "gpt2" -> {
                    out.put(m.name(Slot.QKV_W, l), new Spec(new long[]{h, 3 * h}, Kind.WEIGHT));
                    out.put(m.name(Slot.QKV_B, l), new Spec(new long[]{3 * h}, Kind.BIAS));
                    out.put(m.name(Slot.O_W, l), new Spec(new long[]{h, h}, Kind.WEIGHT));
                    out.put(m.name(Slot.O_B, l), new Spec(new long[]{h}, Kind.BIAS));
                    out.put(m.name(Slot.UP_W, l), new Spec(new long[]{h, f}, Kind.WEIGHT));
                    out.put(m.name(Slot.UP_B, l), new Spec(new long[]{f}, Kind.BIAS));
                    out.put(m.name(Slot.DOWN_W, l), new Spec(new long[]{f, h}, Kind.WEIGHT));
                    out.put(m.name(Slot.DOWN_B, l), new Spec(new long[]{h}, Kind.BIAS));
                }
                case "gpt_neox" -> {
                    out.put(m.name(Slot.QKV_W, l), new Spec(new long[]{3 * h, h}, Kind.WEIGHT));
                    out.put(m.name(Slot.QKV_B, l), new Spec(new long[]{3 * h}, Kind.BIAS));
                    out.put(m.name(Slot.O_W, l), new Spec(new long[]{h, h}, Kind.WEIGHT));
                    out.put(m.name(Slot.O_B, l), new Spec(new long[]{h}, Kind.BIAS));
                    out.put(m.name(Slot.UP_W, l), new Spec(new long[]{f, h}, Kind.WEIGHT));
                    out.put(m.name(Slot.UP_B, l), new Spec(new long[]{f}, Kind.BIAS));
                    out.put(m.name(Slot.DOWN_W, l), new Spec(new long[]{h, f}, Kind.WEIGHT));
                    out.put(m.name(Slot.DOWN_B, l), new Spec(new long[]{h}, Kind.BIAS));
                }
                default -> {
                    long q = c.qDim(), kv = c.kvDim();
                    out.put(m.name(Slot.Q_W, l), new Spec(new long[]{q, h}, Kind.WEIGHT));
                    if (c.attnBias()) out.put(m.name(Slot.Q_B, l), new Spec(new long[]{q}, Kind.BIAS));
                    out.put(m.name(Slot.K_W, l), new Spec(new long[]{kv, h}, Kind.WEIGHT));
                    if (c.attnBias()) out.put(m.name(Slot.K_B, l), new Spec(new long[]{kv}, Kind.BIAS));
                    out.put(m.name(Slot.V_W, l), new Spec(new long[]{kv, h}, Kind.WEIGHT));
                    if (c.attnBias()) out.put(m.name(Slot.V_B, l), new Spec(new long[]{kv}, Kind.BIAS));
                    out.put(m.name(Slot.O_W, l), new Spec(new long[]{h, q}, Kind.WEIGHT));
                    if (c.outBias()) out.put(m.name(Slot.O_B, l), new Spec(new long[]{h}, Kind.BIAS));
                    if (c.isMoe()) {
                        out.put(m.name(Slot.ROUTER_W, l), new Spec(new long[]{c.numExperts(), h}, Kind.WEIGHT));
                        for (int e = 0; e < c.numExperts(); e++) {
                            out.put(m.name(Slot.EXPERT_GATE_W, l, e), new Spec(new long[]{f, h}, Kind.WEIGHT));
                            out.put(m.name(Slot.EXPERT_DOWN_W, l, e), new Spec(new long[]{h, f}, Kind.WEIGHT));
                            out.put(m.name(Slot.EXPERT_UP_W, l, e), new Spec(new long[]{f, h}, Kind.WEIGHT));
                        }
                    } else if (c.gatedMlp()) {
                        out.put(m.name(Slot.GATE_W, l), new Spec(new long[]{f, h}, Kind.WEIGHT));
                        out.put(m.name(Slot.UP_W, l), new Spec(new long[]{f, h}, Kind.WEIGHT));
                        out.put(m.name(Slot.DOWN_W, l), new Spec(new long[]{h, f}, Kind.WEIGHT));
                    } else {
                        out.put(m.name(Slot.UP_W, l), new Spec(new long[]{f, h}, Kind.WEIGHT));
                        if (c.mlpBias()) out.put(m.name(Slot.UP_B, l), new Spec(new long[]{f}, Kind.BIAS));
                        out.put(m.name(Slot.DOWN_W, l), new Spec(new long[]{h, f}, Kind.WEIGHT));
                        if (c.mlpBias()) out.put(m.name(Slot.DOWN_B, l), new Spec(new long[]{h}, Kind.BIAS));
                    }
                }
            }
            out.put(m.name(Slot.MLP_NORM_W, l), new Spec(new long[]{h}, Kind.NORM));
            if (ln) out.put(m.name(Slot.MLP_NORM_B, l), new Spec(new long[]{h}, Kind.BIAS));
        }
        out.put(m.name(Slot.FINAL_NORM_W), new Spec(new long[]{h}, Kind.NORM));
        if (ln) out.put(m.name(Slot.FINAL_NORM_B), new Spec(new long[]{h}, Kind.BIAS));
        if (!c.tiedEmbeddings()) out.put(m.name(Slot.LM_HEAD), new Spec(new long[]{v, h}, Kind.WEIGHT));
        return out;
    }

    /** Fills every tensor of the layout; progress goes from 0 to 1 by bytes. */
    public static Map<String, Tensor> generate(Map<String, Spec> layout, DType dtype, long seed, Arena arena, DoubleConsumer progress) {
        long total = 0, done = 0;
        for (Spec s : layout.values()) total += numel(s.shape());
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (var e : layout.entrySet()) {
            Spec s = e.getValue();
            DType dt = s.kind() == Kind.WEIGHT ? dtype : (dtype == DType.F32 ? DType.F32 : dtype);
            double std = switch (s.kind()) { case WEIGHT -> 0.02; case NORM, BIAS -> 0.0; };
            float fill = s.kind() == Kind.NORM ? 1f : 0f;
            out.put(e.getKey(), SyntheticWeights.random(e.getKey(), dt, s.shape(), std, fill, seed, arena));
            done += numel(s.shape());
            if (progress != null) progress.accept(done / (double) total);
            if (Thread.currentThread().isInterrupted()) throw new java.util.concurrent.CancellationException("loading cancelled");
        }
        return out;
    }

    static long numel(long[] s) {
        long n = 1;
        for (long d : s) n *= d;
        return n;
    }

    /**
     * A byte-level BPE tokenizer.json with one token per byte (ids 0..255) and no merges, so that text
     * prompts work on any synthetic model with a vocabulary of at least 256.
     */
    public static String byteTokenizerJson() {
        ObjectNode root = JSON.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        root.putArray("added_tokens");
        root.putNull("normalizer");
        ObjectNode pre = root.putObject("pre_tokenizer");
        pre.put("type", "ByteLevel").put("add_prefix_space", false).put("trim_offsets", true).put("use_regex", true);
        root.putNull("post_processor");
        ObjectNode dec = root.putObject("decoder");
        dec.put("type", "ByteLevel").put("add_prefix_space", true).put("trim_offsets", true).put("use_regex", true);
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE").putNull("dropout").putNull("unk_token").putNull("continuing_subword_prefix")
                .putNull("end_of_word_suffix").put("fuse_unk", false).put("byte_fallback", false).put("ignore_merges", false);
        ObjectNode vocab = model.putObject("vocab");
        int[] map = byteToUnicode();
        for (int b = 0; b < 256; b++) vocab.put(new String(Character.toChars(map[b])), b);
        model.putArray("merges");
        return root.toPrettyString();
    }

    /** GPT-2's reversible byte -> printable code point table. */
    static int[] byteToUnicode() {
        int[] m = new int[256];
        boolean[] direct = new boolean[256];
        for (int b = '!'; b <= '~'; b++) direct[b] = true;
        for (int b = 0xA1; b <= 0xAC; b++) direct[b] = true;
        for (int b = 0xAE; b <= 0xFF; b++) direct[b] = true;
        int n = 0;
        for (int b = 0; b < 256; b++) m[b] = direct[b] ? b : 256 + n++;
        return m;
    }

    /** Writes config.json, model.safetensors and tokenizer.json of a preset into {@code dir}. */
    public static void write(String preset, Path dir, DType dtype, long seed, DoubleConsumer progress) throws IOException {
        SyntheticPreset p = SyntheticPreset.byName(preset);
        ObjectNode cfg = p.config();
        cfg.put("torch_dtype", dtype == DType.F32 ? "float32" : dtype == DType.BF16 ? "bfloat16" : "float16");
        cfg.put("fathom_synthetic", preset).put("fathom_seed", seed);
        var reader = new dev.fathom.engine.model.ConfigReader(cfg, dir.resolve("config.json"));
        var family = dev.fathom.engine.model.Families.forModelType(cfg.get("model_type").asText(), dir.resolve("config.json"));
        ModelConfig c = family.parseConfig(reader);
        Files.createDirectories(dir);
        try (Arena arena = Arena.ofShared()) {
            Map<String, Tensor> tensors = generate(layout(c, family.weightMap()), dtype, seed, arena, progress);
            SafetensorsWriter.write(dir.resolve("model.safetensors"), tensors, Map.of("format", "pt", "fathom", "synthetic random weights"));
        }
        AtomicFiles.writeString(dir.resolve("config.json"), cfg.toPrettyString());
        AtomicFiles.writeString(dir.resolve("tokenizer.json"), byteTokenizerJson());
    }
}
