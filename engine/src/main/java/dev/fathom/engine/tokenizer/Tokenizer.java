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

    /** The text one more token adds after {@code prefix} (handles multi-byte characters split across tokens). */
    public String decodeIncrement(int[] prefix, int count) {
        int[] before = java.util.Arrays.copyOf(prefix, count - 1);
        int[] after = java.util.Arrays.copyOf(prefix, count);
        String a = decode(before), b = decode(after);
        if (b.startsWith(a)) return b.substring(a.length());
        return b;
    }

    @Override
    public void close() { hf.close(); }
}
