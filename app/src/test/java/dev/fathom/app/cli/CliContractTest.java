package dev.fathom.app.cli;

import dev.fathom.engine.checkpoint.SafetensorsFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The command-line contract that scripts depend on. */
class CliContractTest {
    @TempDir Path tmp;

    record Result(int code, String out, String err) {}

    static Path shared() {
        String p = System.getProperty("fathom.shared");
        if (p != null && Files.isDirectory(Path.of(p, "fixtures"))) return Path.of(p);
        return Path.of("..", "..", "shared").toAbsolutePath().normalize();
    }

    static Result run(String... args) {
        CommandLine cl = FathomCommand.commandLine();
        StringWriter out = new StringWriter(), err = new StringWriter();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        return new Result(code, out.toString(), err.toString());
    }

    @Test
    void dumpRoundTripMatchesTheFixtureReference() throws Exception {
        Path fx = shared().resolve("fixtures/opt-tiny");
        int[] ids;
        int b, p;
        try (SafetensorsFile ref = SafetensorsFile.open(fx.resolve("reference.safetensors"))) {
            ids = ref.get("input_ids").toIntArray();
            b = (int) ref.get("input_ids").dim(0);
            p = (int) ref.get("input_ids").dim(1);
        }
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < b; i++) {
            if (i > 0) sb.append(';');
            for (int j = 0; j < p; j++) sb.append(j == 0 ? "" : ",").append(ids[i * p + j]);
        }
        Path dump = tmp.resolve("out.safetensors");
        Result r = run("generate", "--model", fx.toString(), "--prompt-ids", sb.toString(), "--max-new-tokens", "8",
                "--backend", "reference", "--dump", dump.toString());
        assertEquals(0, r.code(), r.err());
        try (SafetensorsFile got = SafetensorsFile.open(dump); SafetensorsFile ref = SafetensorsFile.open(fx.resolve("reference.safetensors"))) {
            for (String name : new String[]{"input_ids", "prompt_logits", "generated_ids", "step_logits"}) {
                assertArrayEquals(ref.get(name).shape(), got.get(name).shape(), name);
                assertEquals(ref.get(name).dtype(), got.get(name).dtype(), name);
            }
            assertArrayEquals(ref.get("generated_ids").toIntArray(), got.get("generated_ids").toIntArray());
            float[] a = got.get("step_logits").toFloatArray(), e = ref.get("step_logits").toFloatArray();
            double num = 0, den = 0;
            for (int i = 0; i < a.length; i++) { num += (a[i] - e[i]) * (a[i] - e[i]); den += e[i] * e[i]; }
            assertTrue(Math.sqrt(num / den) < 1e-4);
        }
    }

    @Test
    void badInputIsOneSentenceAndExitOne() {
        Result r = run("generate", "--model", tmp.resolve("missing").toString(), "--prompt-ids", "1,2");
        assertEquals(FathomCommand.EXIT_INPUT, r.code());
        assertTrue(r.err().contains("missing"), r.err());
        assertFalse(r.err().contains("Exception") || r.err().contains("\tat "), "no stack trace without --debug: " + r.err());

        Path fx = shared().resolve("fixtures/llama-tiny");
        Result v = run("generate", "--model", fx.toString(), "--prompt-ids", "1,999", "--max-new-tokens", "2");
        assertEquals(FathomCommand.EXIT_INPUT, v.code());
        assertTrue(v.err().contains("999") && v.err().contains("vocabulary"), v.err());

        Result t = run("generate", "--model", fx.toString(), "--prompt", "hello");
        assertEquals(FathomCommand.EXIT_INPUT, t.code());
        assertTrue(t.err().contains("tokenizer.json"), t.err());

        Result d = run("--debug", "generate", "--model", tmp.resolve("missing").toString(), "--prompt-ids", "1");
        assertEquals(FathomCommand.EXIT_INPUT, d.code());
        assertTrue(d.err().contains("\tat "), "--debug prints the trace");
    }

    @Test
    void usageErrorsExitTwo() {
        assertEquals(FathomCommand.EXIT_USAGE, run("generate", "--model", "x").code(), "a prompt is required");
        assertEquals(FathomCommand.EXIT_USAGE, run("generate", "--prompt", "a", "--prompt-ids", "1").code(), "prompt forms are exclusive");
        assertEquals(FathomCommand.EXIT_INPUT, run("generate", "--model", "synthetic:llama-tiny", "--prompt-ids", "1,x").code());
    }

    @Test
    void textPromptStreamsOnASyntheticModel() {
        Result r = run("generate", "--model", "synthetic:llama-tiny", "--prompt", "Hi", "--max-new-tokens", "4", "--seed", "3",
                "--temperature", "0.8", "--top-k", "20", "--top-p", "0.9");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("Hi"), r.out());
        assertTrue(r.err().contains("random weights"), "synthetic models are labelled: " + r.err());
        Result again = run("generate", "--model", "synthetic:llama-tiny", "--prompt", "Hi", "--new-tokens", "4", "--seed", "3",
                "--temperature", "0.8", "--top-k", "20", "--top-p", "0.9");
        assertEquals(r.out(), again.out(), "seeded sampling repeats, and --new-tokens (as bench spells it) is --max-new-tokens");
        // greedy on the synthetic model picks ids past the byte tokenizer's 256: the run says so instead of printing nothing
        Result silent = run("generate", "--model", "synthetic:llama-tiny", "--prompt", "hello", "--new-tokens", "4");
        assertEquals(0, silent.code(), silent.err());
        assertEquals("hello", silent.out().strip());
        assertTrue(silent.err().contains("the 4 generated tokens (ids ") && silent.err().contains(") have no text in this tokenizer"), silent.err());
        assertTrue(silent.err().contains("3 decode steps at"), silent.err());
    }

    @Test
    void parallelFlagsGiveTheSameTokensAndBadLayoutsASentence() {
        String fx = shared().resolve("fixtures/gpt-neox-tiny").toString();
        Result single = run("generate", "--model", fx, "--prompt-ids", "1,2,3;4,5,6", "--max-new-tokens", "5", "--backend", "reference");
        Result par = run("generate", "--model", fx, "--prompt-ids", "1,2,3;4,5,6", "--max-new-tokens", "5", "--backend", "reference",
                "--tp", "2", "--pp", "2", "--prompt-microbatches", "2", "--gen-microbatches", "2");
        assertEquals(0, par.code(), par.err());
        assertEquals(single.out(), par.out());
        assertTrue(par.err().contains("bubble"), par.err());
        Result bad = run("generate", "--model", fx, "--prompt-ids", "1,2,3", "--max-new-tokens", "2", "--tp", "3");
        assertEquals(FathomCommand.EXIT_INPUT, bad.code());
        assertTrue(bad.err().contains("--tp"), bad.err());
        Result size = run("generate", "--model", fx, "--prompt-ids", "1,2,3", "--max-new-tokens", "2", "--pp", "2", "--kv-offload-threshold", "lots");
        assertTrue(size.code() == FathomCommand.EXIT_INPUT || size.code() == FathomCommand.EXIT_USAGE, size.err());
        assertTrue(size.err().contains("kv-offload-threshold"), size.err());
    }

    @Test
    void unwritableFoldersAndBadThreadCountsAreSentences() throws Exception {
        String fx = shared().resolve("fixtures/llama-tiny").toString();
        Path plainFile = Files.writeString(tmp.resolve("a-file"), "not a folder");
        Result nvme = run("generate", "--model", fx, "--prompt-ids", "1,2", "--max-new-tokens", "2", "--weights", "nvme",
                "--nvme-dir", plainFile.resolve("sub").toString());
        assertEquals(FathomCommand.EXIT_INPUT, nvme.code(), nvme.err());
        assertTrue(nvme.err().contains("--nvme-dir"), nvme.err());
        Result threads = run("generate", "--model", fx, "--prompt-ids", "1,2", "--max-new-tokens", "2", "--threads", "-3");
        assertEquals(FathomCommand.EXIT_INPUT, threads.code());
        assertTrue(threads.err().contains("--threads"), threads.err());
    }

    @Test
    void benchWritesTheContractKeys() throws Exception {
        Path json = tmp.resolve("bench.json");
        Result r = run("bench", "--model", shared().resolve("fixtures/llama-tiny").toString(), "--backend", "cpu", "--batch", "2",
                "--prompt-len", "4", "--new-tokens", "3", "--runs", "2", "--peak-gbps", "10", "--json", json.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("decode") && r.out().contains("floor"), r.out());
        var node = new com.fasterxml.jackson.databind.ObjectMapper().readTree(json.toFile());
        for (String k : new String[]{"decode_tokens_per_s", "prefill_ms", "achieved_GBps", "peak_GBps", "kernels"})
            assertTrue(node.has(k), k + " in " + node);
        assertEquals(10.0, node.get("peak_GBps").asDouble(), 1e-9, "a given peak is reported as given");
        assertTrue(node.get("decode_tokens_per_s").asDouble() > 0);
        var kernels = node.get("kernels");
        assertTrue(kernels.size() > 3, kernels.toString());
        for (var k : kernels)
            for (String f : new String[]{"name", "calls", "total_ms", "bytes", "GBps"}) assertTrue(k.has(f), f + " in " + k);
    }

    @Test
    void benchTakesTheParallelOptions() {
        // --tp reaches the plan: the runner reports two tensor-parallel ranks (CPU ranks here; GPUs with --backend cuda)
        Result r = run("bench", "--model", shared().resolve("fixtures/llama-tiny").toString(), "--backend", "cpu", "--tp", "2",
                "--prompt-len", "4", "--new-tokens", "2", "--runs", "1", "--peak-gbps", "10");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("layout:") && r.err().contains("tp=2"), r.err());
    }
}
