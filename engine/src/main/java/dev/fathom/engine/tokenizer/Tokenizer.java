package dev.fathom.engine.tokenizer;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import dev.fathom.engine.EngineException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * A Hugging Face {@code tokenizer.json} (byte-level BPE, metaspace BPE with byte fallback, …) through the
 * Rust tokenizers library. Special tokens are added only when the file's post-processor says so.
 */
public final class Tokenizer implements AutoCloseable {
    private final HuggingFaceTokenizer hf;
    private final Path file;

    private Tokenizer(HuggingFaceTokenizer hf, Path file) {
        this.hf = hf;
        this.file = file;
    }

    public static Tokenizer open(Path tokenizerJson) {
        if (!Files.isRegularFile(tokenizerJson))
            throw new EngineException(tokenizerJson + " is missing: text prompts need the checkpoint's tokenizer.json (or pass --prompt-ids).");
        // DJL fetches a CUDA build of its native library when it sees a GPU; Fathom only ever needs the
        // CPU build shipped inside the jar, and machines may be offline.
        if (System.getProperty("RUST_FLAVOR") == null && System.getenv("RUST_FLAVOR") == null) System.setProperty("RUST_FLAVOR", "cpu");
        try {
            HuggingFaceTokenizer t = HuggingFaceTokenizer.newInstance(tokenizerJson,
                    Map.of("addSpecialTokens", "true", "truncation", "false", "padding", "false"));
            return new Tokenizer(t, tokenizerJson);
        } catch (IOException | RuntimeException e) {
            throw new EngineException(tokenizerJson + " cannot be read as a Hugging Face tokenizer (" + e.getMessage() + "): fix or re-download it.", e);
        }
    }

    public Path file() { return file; }

    public int[] encode(String text) {
        Encoding enc = hf.encode(text, true, false);
        long[] ids = enc.getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) out[i] = (int) ids[i];
        return out;
    }

    /** Text of {@code ids}, skipping special tokens (as transformers' decode(skip_special_tokens=True)). */
    public String decode(int[] ids) {
        long[] l = new long[ids.length];
        for (int i = 0; i < ids.length; i++) l[i] = ids[i];
        return hf.decode(l, true);
    }

    /** Tokens of context decoded before the new one: enough for a character split over several byte tokens. */
    private static final int CONTEXT = 8;

    /**
     * The text that token {@code count-1} of {@code ids} adds to the text of the tokens before it. Only the
     * last few tokens are decoded (a streamed run costs the same per token however long it gets); a
     * character whose bytes are still incomplete comes out with the token that completes it.
     */
    public String decodeIncrement(int[] ids, int count) {
        int from = Math.max(0, count - 1 - CONTEXT);
        String before = decode(java.util.Arrays.copyOfRange(ids, from, count - 1));
        // a window whose tokens decode to nothing (skipped byte tokens, a lone stripped space) would lose the
        // leading space of the next word to the decoder's strip: widen it until it shows some text
        while (before.isEmpty() && from > 0) {
            from = Math.max(0, from - CONTEXT);
            before = decode(java.util.Arrays.copyOfRange(ids, from, count - 1));
        }
        String after = decode(java.util.Arrays.copyOfRange(ids, from, count));
        if (after.endsWith("\uFFFD")) return "";                     // an incomplete UTF-8 sequence: wait for the rest
        int common = 0;
        while (common < before.length() && common < after.length() && before.charAt(common) == after.charAt(common)) common++;
        return after.substring(common);
    }

    @Override
    public void close() { hf.close(); }
}
