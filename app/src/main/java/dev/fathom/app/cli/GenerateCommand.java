package dev.fathom.app.cli;

import dev.fathom.engine.Engine;
import dev.fathom.engine.EngineException;
import dev.fathom.engine.checkpoint.SafetensorsWriter;
import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.model.ModelLoader;
import dev.fathom.engine.plan.ExecutionPlan;
import dev.fathom.engine.run.CancellationToken;
import dev.fathom.engine.run.GenerationRequest;
import dev.fathom.engine.run.GenerationResult;
import dev.fathom.engine.run.InferenceSession;
import dev.fathom.engine.tensor.DType;
import dev.fathom.engine.tensor.Tensor;
import dev.fathom.engine.telemetry.PipelineStats;
import dev.fathom.engine.telemetry.TelemetryEvent;
import dev.fathom.engine.telemetry.TelemetryRecorder;
import dev.fathom.engine.telemetry.TelemetrySink;
import dev.fathom.profiles.Precision;
import dev.fathom.profiles.RunProfile;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code fathom generate}: run a prompt through a model and stream the continuation. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate a continuation of a prompt (text or ids), streaming tokens as they come.")
public final class GenerateCommand implements Callable<Integer> {
    @Mixin ModelOptions model;
    @Mixin PlacementOptions placement;
    @Mixin ParallelOptions parallel;

    static final class PromptGroup {
        @Option(names = "--prompt", paramLabel = "TEXT", description = "prompt text (needs the model's tokenizer.json)")
        String text;
        @Option(names = "--prompt-ids", paramLabel = "IDS", description = "token ids: sequences separated by ';', ids by ',' (e.g. \"1,2,3;4,5,6\"); equal lengths")
        String ids;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    PromptGroup prompt;

    @Option(names = {"--max-new-tokens", "--new-tokens"}, defaultValue = "32",
            description = "tokens to generate per sequence (default: ${DEFAULT-VALUE}); --new-tokens as bench and plan spell it")
    int maxNewTokens;

    @Option(names = "--greedy", description = "always take the most likely token (the default unless --temperature is given)")
    boolean greedy;

    @Option(names = "--temperature", description = "sample with this temperature")
    Double temperature;

    @Option(names = "--top-k", defaultValue = "0", description = "sample among the k most likely tokens (0 = all)")
    int topK;

    @Option(names = "--top-p", defaultValue = "1.0", description = "sample within this probability mass")
    double topP;

    @Option(names = "--no-eos-stop", description = "keep generating past an end-of-sequence token")
    boolean noEosStop;

    @Option(names = "--dump", paramLabel = "FILE", description = "write input_ids, prompt_logits, generated_ids and step_logits to a safetensors file (implies --no-eos-stop)")
    Path dump;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    public static int[][] parseIds(String s) {
        String[] seqs = s.trim().split(";");
        int[][] out = new int[seqs.length][];
        for (int i = 0; i < seqs.length; i++) {
            String[] parts = seqs[i].trim().split("\\s*,\\s*");
            out[i] = new int[parts.length];
            for (int j = 0; j < parts.length; j++) {
                try {
                    out[i][j] = Integer.parseInt(parts[j].trim());
                } catch (NumberFormatException e) {
                    throw new EngineException("--prompt-ids: '" + parts[j].trim() + "' in sequence " + i + " is not an integer token id.");
                }
            }
            if (i > 0 && out[i].length != out[0].length)
                throw new EngineException("--prompt-ids: sequence " + i + " has " + out[i].length + " ids but sequence 0 has " + out[0].length + "; prompts in one call must have equal length.");
        }
        return out;
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (maxNewTokens < 1) throw new EngineException("--max-new-tokens must be 1 or more, got " + maxNewTokens + ".");
        placement.applyTo(RunProfile.Placement.DEFAULT); // reject bad sizes and tiers before loading the model
        Precision prec = Precision.parse(model.precision);
        DType synth = prec == Precision.F32 ? DType.F32 : prec == Precision.F16 ? DType.F16 : DType.BF16;
        try (LoadedModel m = ModelLoader.load(model.model, new ModelLoader.Options(synth, model.seed == 0 ? 42 : model.seed), null)) {
            if (m.synthetic()) err.println("fathom: " + m.displayName() + " — outputs are meaningless, use it for profiling.");
            int[][] prompts;
            if (prompt.ids != null) prompts = parseIds(prompt.ids);
            else {
                if (m.tokenizer() == null) throw new EngineException(model.model + " has no tokenizer.json: pass --prompt-ids instead of --prompt.");
                prompts = new int[][]{m.tokenizer().encode(prompt.text)};
                if (prompts[0].length == 0) throw new EngineException("--prompt encodes to no tokens: give some text.");
            }
            boolean sample = temperature != null && !greedy;
            RunProfile.Sampling sampling = new RunProfile.Sampling(!sample, sample ? temperature : 1.0, topK, topP, model.seed,
                    !(noEosStop || dump != null));
            RunProfile profile = placement.applyTo(parallel.applyTo(model.applyTo(RunProfile.defaults()))).withShape(prompts.length, prompts[0].length, maxNewTokens).withSampling(sampling);
            Engine engine = Engine.discover();
            ExecutionPlan plan = engine.plan(m, profile, prompts[0].length + maxNewTokens);
            CancellationToken cancel = new CancellationToken();
            Thread hook = new Thread(cancel::cancel);
            Runtime.getRuntime().addShutdownHook(hook);
            // with a pipeline, keep the stage spans to report each phase's bubble fraction
            TelemetryRecorder stages = new TelemetryRecorder();
            TelemetrySink sink = profile.parallel().pp() > 1 ? e -> { if (e instanceof TelemetryEvent.StageSpan) stages.emit(e); } : TelemetrySink.NOOP;
            try (InferenceSession s = engine.open(m, plan, sink)) {
                boolean stream = prompts.length == 1 && m.tokenizer() != null && prompt.text != null;
                int[] acc = new int[prompts[0].length + maxNewTokens];
                System.arraycopy(prompts[0], 0, acc, 0, prompts[0].length);
                int[] count = {prompts[0].length};
                long[] chars = {0};   // streamed text's length: a synthetic model's ids past its 256 byte tokens have none
                if (stream) {
                    out.print(prompt.text);
                    out.flush();
                }
                GenerationResult r = s.generate(new GenerationRequest(prompts, maxNewTokens, sampling, dump != null, dump != null),
                        (seq, tok, step) -> {
                            if (stream) {
                                acc[count[0]++] = tok;
                                String piece = m.tokenizer().decodeIncrement(acc, count[0]);
                                chars[0] += piece.length();
                                out.print(piece);
                                out.flush();
                            }
                        }, cancel);
                if (stream) out.println();
                else printSequences(out, m, r, prompts[0].length);
                if (stream && chars[0] == 0 && count[0] > prompts[0].length)
                    err.println("fathom: the " + (count[0] - prompts[0].length) + " generated tokens (ids "
                            + java.util.Arrays.stream(acc, prompts[0].length, count[0]).mapToObj(String::valueOf).collect(java.util.stream.Collectors.joining(","))
                            + ") have no text in this tokenizer; --prompt-ids prints ids.");
                err.printf("fathom: prompt %d x %d tokens in %.1f ms; %d decode step%s at %.2f ms/step (%s)%n",
                        prompts.length, prompts[0].length, r.prefillNs() / 1e6, r.decodeSteps(), r.decodeSteps() == 1 ? "" : "s",
                        r.decodeMsPerStep(), s.runner().layout());
                if (profile.parallel().pp() > 1)
                    err.printf("fathom: pipeline bubble (from stage spans): prompt %.1f%%, generation %.1f%%%n",
                            100 * PipelineStats.bubbleFraction(stages.events(), TelemetryEvent.Phase.PROMPT),
                            100 * PipelineStats.bubbleFraction(stages.events(), TelemetryEvent.Phase.DECODE));
                if (dump != null) writeDump(dump, prompts, r, m.config().vocabSize());
                if (r.cancelled()) return FathomCommand.EXIT_CANCELLED;
            } finally {
                try { Runtime.getRuntime().removeShutdownHook(hook); } catch (IllegalStateException ignored) { }
            }
        }
        return 0;
    }

    private static void printSequences(PrintWriter out, LoadedModel m, GenerationResult r, int promptLen) {
        for (int b = 0; b < r.tokens().length; b++) {
            int[] t = r.tokens()[b];
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < t.length; i++) sb.append(i == 0 ? "" : ",").append(t[i]);
            out.println((r.tokens().length > 1 ? "[" + b + "] " : "") + sb);
            if (m.tokenizer() != null) {
                int[] gen = java.util.Arrays.copyOfRange(t, promptLen, t.length);
                out.println((r.tokens().length > 1 ? "[" + b + "] " : "") + "text: " + m.tokenizer().decode(gen));
            }
        }
        out.flush();
    }

    /** Writes the run in the layout of the fixtures' reference.safetensors. */
    static void writeDump(Path file, int[][] prompts, GenerationResult r, int vocab) throws java.io.IOException {
        int b = prompts.length, p = prompts[0].length;
        int n = r.tokens()[0].length - p;
        for (int[] t : r.tokens()) if (t.length - p != n) throw new EngineException("--dump needs every sequence to generate the same number of tokens.");
        try (Arena arena = Arena.ofConfined()) {
            int[] in = new int[b * p], gen = new int[b * (p + n)];
            float[] pl = new float[b * p * vocab], sl = new float[b * n * vocab];
            for (int i = 0; i < b; i++) {
                System.arraycopy(prompts[i], 0, in, i * p, p);
                System.arraycopy(r.tokens()[i], 0, gen, i * (p + n), p + n);
                for (int j = 0; j < p; j++) System.arraycopy(r.promptLogits()[i][j], 0, pl, (i * p + j) * vocab, vocab);
                for (int j = 0; j < n; j++) System.arraycopy(r.stepLogits()[i][j], 0, sl, (i * n + j) * vocab, vocab);
            }
            Map<String, Tensor> t = new LinkedHashMap<>();
            t.put("input_ids", Tensor.ofInts("input_ids", new long[]{b, p}, in, arena));
            t.put("prompt_logits", Tensor.ofFloats("prompt_logits", new long[]{b, p, vocab}, pl, arena));
            t.put("generated_ids", Tensor.ofInts("generated_ids", new long[]{b, p + n}, gen, arena));
            t.put("step_logits", Tensor.ofFloats("step_logits", new long[]{b, n, vocab}, sl, arena));
            SafetensorsWriter.write(file, t, Map.of("format", "pt", "written_by", "fathom generate --dump"));
        }
    }
}
