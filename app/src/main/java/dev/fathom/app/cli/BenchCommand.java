package dev.fathom.app.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fathom.engine.Engine;
import dev.fathom.engine.EngineException;
import dev.fathom.engine.calibrate.MemoryBandwidth;
import dev.fathom.engine.cpu.CpuKernels;
import dev.fathom.engine.cpu.CpuRunner;
import dev.fathom.engine.model.LayerWeights;
import dev.fathom.engine.model.Linear;
import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.model.ModelLoader;
import dev.fathom.engine.model.ModelWeights;
import dev.fathom.engine.plan.ExecutionPlan;
import dev.fathom.engine.run.GenerationRequest;
import dev.fathom.engine.run.GenerationResult;
import dev.fathom.engine.run.InferenceSession;
import dev.fathom.engine.run.TokenListener;
import dev.fathom.engine.telemetry.KernelStats;
import dev.fathom.engine.telemetry.TelemetryEvent;
import dev.fathom.engine.telemetry.TelemetryRecorder;
import dev.fathom.engine.telemetry.TelemetrySink;
import dev.fathom.engine.tensor.DType;
import dev.fathom.profiles.AtomicFiles;
import dev.fathom.profiles.Precision;
import dev.fathom.profiles.RunProfile;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.Callable;

/**
 * {@code fathom bench}: warm up, run a fixed workload R times, and print prefill time, decode speed
 * (median/min/max), weight bytes read per token, achieved GB/s against the machine's read bandwidth
 * measured in the same process, and the top kernels of the token phase with their GB/s.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Benchmark prefill and decode of a model; prints a table and optionally writes JSON.")
public final class BenchCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();
    @Mixin ModelOptions model;
    @Mixin PlacementOptions placement;
    @Mixin ParallelOptions parallel;

    @Option(names = "--batch", defaultValue = "1", description = "sequences decoded together (default: ${DEFAULT-VALUE})")
    int batch;
    @Option(names = "--prompt-len", defaultValue = "128", description = "prompt tokens per sequence (default: ${DEFAULT-VALUE})")
    int promptLen;
    @Option(names = "--new-tokens", defaultValue = "32", description = "tokens generated per sequence and run (default: ${DEFAULT-VALUE})")
    int newTokens;
    @Option(names = "--runs", defaultValue = "3", description = "measured runs after one warm-up run (default: ${DEFAULT-VALUE})")
    int runs;
    @Option(names = "--context", defaultValue = "0", paramLabel = "C",
            description = "time decode steps at positions C, C+1, ... without a prompt phase (the KV cache holds zeros); 0 = run the prompt")
    int context;
    @Option(names = "--peak-gbps", defaultValue = "0", description = "read bandwidth to compare with, GB/s (default: measure it now)")
    double peakGbps;
    @Option(names = "--json", paramLabel = "FILE", description = "also write the results as JSON")
    Path json;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    /** The in-process read-bandwidth probe: 1 GiB summed with the Vector API by the run's thread count. */
    static final long BW_BYTES = 1L << 30;
    static final int BW_PASSES = 5;

    /** Keeps kernel spans of one phase. */
    private record PhaseFilter(TelemetryEvent.Phase phase, TelemetryRecorder rec) implements TelemetrySink {
        @Override public void emit(TelemetryEvent e) {
            if (e instanceof TelemetryEvent.KernelSpan k && k.phase() == phase) rec.emit(e);
        }
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut(), err = spec.commandLine().getErr();
        if (batch < 1 || promptLen < 1 || newTokens < 2 || runs < 1)
            throw new EngineException("--batch, --prompt-len and --runs must be 1 or more and --new-tokens 2 or more.");
        Precision prec = Precision.parse(model.precision);
        DType synth = prec == Precision.F32 ? DType.F32 : prec == Precision.F16 ? DType.F16 : DType.BF16;
        try (LoadedModel m = ModelLoader.load(model.model, new ModelLoader.Options(synth, model.seed == 0 ? 42 : model.seed), null)) {
            int maxLen = (context > 0 ? context : promptLen) + newTokens;
            RunProfile profile = placement.applyTo(parallel.applyTo(model.applyTo(RunProfile.defaults()))).withShape(batch, promptLen, newTokens)
                    .withSampling(RunProfile.Sampling.GREEDY.withStopOnEos(false));
            Engine engine = Engine.discover();
            ExecutionPlan plan = engine.plan(m, profile, maxLen);
            TelemetryRecorder dec = new TelemetryRecorder(1), pre = new TelemetryRecorder(1);
            TelemetrySink sink = TelemetrySink.tee(new PhaseFilter(TelemetryEvent.Phase.DECODE, dec), new PhaseFilter(TelemetryEvent.Phase.PROMPT, pre));
            long tLoad = System.nanoTime();
            try (InferenceSession s = engine.open(m, plan, sink)) {
                err.printf("fathom: %s, %s backend, precision %s, %d thread(s); opened in %.1f s%n", m.displayName(), plan.backend(),
                        prec.id(), threads(s), (System.nanoTime() - tLoad) / 1e9);
                err.printf("fathom: layout: %s%n", s.runner().layout());
                int[][] prompts = new int[batch][promptLen];
                Random rnd = new Random(7);
                for (int[] p : prompts) for (int i = 0; i < p.length; i++) p[i] = rnd.nextInt(m.config().vocabSize());
                // the machine may be shared: probe the bandwidth before and after the runs and take the better
                boolean measured = peakGbps <= 0;
                var backend = engine.backends().require(plan.backend());
                double bwBefore = measured ? readBandwidthGBps(backend, s) : peakGbps;
                double[] prefillMs = new double[runs], stepMs = new double[runs];
                for (int r = -1; r < runs; r++) {
                    if (r == 0) { dec.clear(); pre.clear(); }
                    if (context > 0) {
                        stepMs[Math.max(r, 0)] = decodeAt(s, prompts, context, newTokens);
                    } else {
                        GenerationResult g = s.generate(new GenerationRequest(prompts, newTokens, profile.sampling(), false, false), TokenListener.NONE, null);
                        prefillMs[Math.max(r, 0)] = g.prefillNs() / 1e6;
                        stepMs[Math.max(r, 0)] = g.decodeMsPerStep();
                    }
                    if (r >= 0) err.printf("fathom: run %d: prefill %.1f ms, decode %.2f ms/step%n", r + 1, prefillMs[r], stepMs[r]);
                }
                long bytesPerStep = bytesPerStep(s, m.weights());
                double bwAfter = measured ? readBandwidthGBps(backend, s) : peakGbps;
                if (measured) err.printf(Locale.ROOT, "fathom: read bandwidth %.1f GB/s before the runs, %.1f GB/s after%n", bwBefore, bwAfter);
                double peak = Math.max(bwBefore, bwAfter);
                report(out, m, plan, prec, threads(s), prefillMs, stepMs, bytesPerStep, peak, measured, dec.kernelStats(), pre.kernelStats());
            }
        }
        return 0;
    }

    /** The backend's own device probe (a GPU's read kernel), else host memory read by the CPU threads. */
    private double readBandwidthGBps(dev.fathom.engine.backend.Backend backend, InferenceSession s) {
        double dev = backend.measureReadBandwidth();
        return dev > 0 ? dev / 1e9 : MemoryBandwidth.measure(BW_BYTES, threads(s), BW_PASSES) / 1e9;
    }

    private int threads(InferenceSession s) {
        if (s.runner() instanceof CpuRunner c && c.model().kernels() instanceof dev.fathom.engine.cpu.vector.VectorKernels v) return v.threads();
        return model.threads > 0 ? model.threads : 1;
    }

    /** Decode steps straight through the runner at positions context.. (the KV cache keeps zeros); ms per step, median. */
    private static double decodeAt(InferenceSession s, int[][] prompts, int context, int steps) {
        int b = prompts.length;
        int[] slots = new int[b], ids = new int[b], pos = new int[b];
        for (int i = 0; i < b; i++) { slots[i] = i; ids[i] = prompts[i][0]; }
        double[] ms = new double[steps];
        for (int st = 0; st < steps; st++) {
            Arrays.fill(pos, context + st);
            long t0 = System.nanoTime();
            float[][] out = s.runner().decode(slots, ids, pos);
            ms[st] = (System.nanoTime() - t0) / 1e6;
            for (int i = 0; i < b; i++) ids[i] = argmax(out[i]);
        }
        Arrays.sort(ms);
        return ms[steps / 2];
    }

    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    /** Weight bytes one decode step reads, as the backend stores them (all but the embedding table). */
    private static long bytesPerStep(InferenceSession s, ModelWeights w) {
        if (!(s.runner() instanceof CpuRunner c)) {
            long stored = s.runner().weightBytesPerStep();   // e.g. the cuda backend's INT8 weights and scales
            return stored > 0 ? stored : w.bytesPerToken();
        }
        CpuKernels k = c.model().kernels();
        long b = k.weightBytes(new Linear(w.lmHead(), null)) + w.finalNormW().byteSize();
        for (LayerWeights l : w.layers()) {
            for (Linear x : new Linear[]{l.q(), l.k(), l.v(), l.o(), l.up(), l.gate(), l.down()}) if (x != null) b += k.weightBytes(x);
            b += l.attnNormW().byteSize() + l.mlpNormW().byteSize();
            if (l.router() != null) b += l.router().byteSize();
            for (LayerWeights.Expert e : l.experts()) b += k.weightBytes(e.gate()) + k.weightBytes(e.up()) + k.weightBytes(e.down());
        }
        return b;
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    private void report(PrintWriter out, LoadedModel m, ExecutionPlan plan, Precision prec, int threads, double[] prefillMs,
                        double[] stepMs, long bytesPerStep, double peak, boolean measured,
                        List<KernelStats> dec, List<KernelStats> pre) throws java.io.IOException {
        double stepMed = median(stepMs);
        double[] tps = new double[stepMs.length];
        for (int i = 0; i < tps.length; i++) tps[i] = batch * 1000.0 / stepMs[i];
        double tpsMed = batch * 1000.0 / stepMed, tpsMin = Arrays.stream(tps).min().orElse(0), tpsMax = Arrays.stream(tps).max().orElse(0);
        double achieved = bytesPerStep / (stepMed * 1e6);
        double floorTps = peak * 1e9 / bytesPerStep * batch;
        double preMed = context > 0 ? 0 : median(prefillMs);
        long prefillFlops = 0;
        for (KernelStats k : pre) prefillFlops += k.flops();
        double preGflops = preMed == 0 || pre.isEmpty() ? 0 : prefillFlops / (double) prefillMs.length / (preMed * 1e6);
        String f = "%-28s %s%n";
        out.printf(f, "model", m.displayName());
        out.printf(f, "backend / precision", plan.backend() + " / " + prec.id() + " (" + m.weightDtype() + " checkpoint), " + threads + " thread(s)");
        out.printf(f, "workload", String.format(Locale.ROOT, "batch %d, %s, %d new tokens, %d runs after 1 warm-up",
                batch, context > 0 ? "decode from position " + context : "prompt " + promptLen, newTokens, runs));
        if (context == 0) {
            out.printf(f, "prefill", String.format(Locale.ROOT, "%.1f ms (median)  %.1f tok/s  %.1f GFLOP/s", preMed,
                    batch * promptLen * 1000.0 / preMed, preGflops));
        }
        out.printf(f, "decode", String.format(Locale.ROOT, "%.2f ms/step (median)", stepMed));
        out.printf(f, "tokens/s", String.format(Locale.ROOT, "median %.2f  min %.2f  max %.2f", tpsMed, tpsMin, tpsMax));
        out.printf(f, "weight bytes read / step", String.format(Locale.ROOT, "%.3f GB", bytesPerStep / 1e9));
        out.printf(f, "achieved read", String.format(Locale.ROOT, "%.1f GB/s", achieved));
        out.printf(f, "machine read bandwidth", String.format(Locale.ROOT, "%.1f GB/s%s", peak,
                !measured ? " (given)" : plan.backend().equals("cuda") ? " (device read kernel over 4 GiB, before and after the runs, the better of the two)"
                        : String.format(Locale.ROOT, " (measured in this process before and after the runs, the better of the two; best of %d passes over %.1f GiB, %d threads)", BW_PASSES, BW_BYTES / (double) (1L << 30), threads)));
        out.printf(f, "floor (bandwidth bound)", String.format(Locale.ROOT, "%.2f tok/s; this run %.0f %% of it", floorTps, 100 * tpsMed / floorTps));
        out.println();
        kernelTable(out, "decode kernel", dec, 8);
        if (!pre.isEmpty()) {
            out.println();
            kernelTable(out, "prompt kernel", pre, 5);
        }
        out.flush();
        if (json != null) {
            ObjectNode j = JSON.createObjectNode();
            j.put("model", m.displayName()).put("backend", plan.backend()).put("precision", prec.id())
                    .put("threads", threads).put("batch", batch).put("prompt_len", promptLen).put("new_tokens", newTokens)
                    .put("context", context).put("runs", runs)
                    .put("prefill_ms", preMed).put("prefill_tokens_per_s", preMed == 0 ? 0 : batch * promptLen * 1000.0 / preMed)
                    .put("prefill_gflops", preGflops).put("decode_ms_per_step", stepMed)
                    .put("decode_tokens_per_s", tpsMed).put("decode_tokens_per_s_min", tpsMin).put("decode_tokens_per_s_max", tpsMax)
                    .put("weight_bytes_per_step", bytesPerStep).put("achieved_GBps", achieved).put("peak_GBps", peak)
                    .put("floor_tokens_per_s", floorTps).put("percent_of_floor", 100 * tpsMed / floorTps);
            ArrayNode ks = j.putArray("kernels");
            for (KernelStats k : dec)
                ks.addObject().put("name", k.name()).put("calls", k.calls()).put("total_ms", k.totalMs()).put("bytes", k.bytes())
                        .put("GBps", k.gbPerS()).put("GFLOPps", k.gflopPerS());
            AtomicFiles.writeString(json, j.toPrettyString() + "\n");
        }
    }


    /** The {@code top} kernels of a phase by total time, with their share of the phase, GB/s and GFLOP/s. */
    private static void kernelTable(PrintWriter out, String title, List<KernelStats> ks, int top) {
        out.printf("%-18s %8s %10s %10s %9s %9s%n", title, "calls", "total ms", "% time", "GB/s", "GFLOP/s");
        long total = 0;
        for (KernelStats k : ks) total += k.totalNs();
        for (KernelStats k : ks.subList(0, Math.min(top, ks.size())))
            out.printf(Locale.ROOT, "%-18s %8d %10.1f %9.1f%% %9.1f %9.1f%n", k.name(), k.calls(), k.totalMs(),
                    100.0 * k.totalNs() / Math.max(1, total), k.gbPerS(), k.gflopPerS());
    }
}
