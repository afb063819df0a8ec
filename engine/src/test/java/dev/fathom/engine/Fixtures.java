package dev.fathom.engine;

import dev.fathom.engine.checkpoint.ReferenceOutputs;

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
    public static ReferenceOutputs reference(String name) {
        return ReferenceOutputs.read(model(name).resolve("reference.safetensors"));
    }
}
