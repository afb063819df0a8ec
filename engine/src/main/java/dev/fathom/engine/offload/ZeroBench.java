package dev.fathom.engine.offload;

import dev.fathom.engine.Engine;
import dev.fathom.engine.calibrate.DiskBandwidth;
import dev.fathom.engine.cpu.CpuRunner;
import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.model.ModelLoader;
import dev.fathom.engine.plan.ExecutionPlan;
import dev.fathom.engine.plan.WeightPlacement;
import dev.fathom.engine.run.GenerationRequest;
import dev.fathom.engine.run.GenerationResult;
import dev.fathom.engine.run.InferenceSession;
import dev.fathom.engine.telemetry.TelemetrySink;
import dev.fathom.profiles.RunProfile;
import dev.fathom.profiles.RunProfile.Tier;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * ZeRO-Inference on the CPU, side by side: a model run resident, then streamed from host memory and from
 * NVMe with prefetch 0, 1 and 3 under a RAM budget (default a quarter of its weights). Prints the disk
 * bandwidth measured in the same run, prompt throughput, decode ms/token (median of the steps after the
 * first), the transfer time per token, how much of it compute hid, and the ceiling (the larger of the
 * resident step time and the pure transfer time) beside each figure.
 *
 * <pre>java -cp ... dev.fathom.engine.offload.ZeroBench [model] [promptLen] [decodeSteps] [budgetFraction] [backend] [nvmeDir]</pre>
 */
public final class ZeroBench {
    private ZeroBench() {}

    record Row(String name, int resident, int slots, double promptTokS, double promptHidden, double decodeMs, double xferMsTok,
               double stallMsTok, double hidden, double ceilingMs) {}

    public static void main(String[] a) {
        String model = a.length > 0 ? a[0] : "synthetic:llama-1.1b";
        int promptLen = a.length > 1 ? Integer.parseInt(a[1]) : 8;
        int steps = a.length > 2 ? Integer.parseInt(a[2]) : 4;
        double frac = a.length > 3 ? Double.parseDouble(a[3]) : 0.25;
        String backend = a.length > 4 ? a[4] : "cpu";
        String dir = a.length > 5 ? a[5] : System.getProperty("java.io.tmpdir");
        long t0 = System.nanoTime();
        try (LoadedModel m = ModelLoader.load(model)) {
            System.out.printf("model %s: %.2f GB of weights, loaded in %.1f s; backend %s; prompt 1 x %d tokens, %d decode steps%n",
                    m.displayName(), m.weights().bytes() / 1e9, (System.nanoTime() - t0) / 1e9, backend, promptLen, steps);
            dev.fathom.engine.calibrate.DiskRead disk;
            try {
                disk = dev.fathom.engine.calibrate.DiskRead.measure(Path.of(dir), 512L << 20);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            System.out.printf("disk read %.2f GB/s (%s); host copy %.2f GB/s%n", disk.bytesPerSecond() / 1e9, disk.note(), DiskBandwidth.hostCopy() / 1e9);
            WeightPlacement.WeightSizes sz = WeightPlacement.WeightSizes.of(m.weights());
            long budget = (long) (sz.total() * frac);
            int[] prompt = new int[promptLen];
            for (int i = 0; i < promptLen; i++) prompt[i] = 1 + (i * 7919) % (m.config().vocabSize() - 1);
            Engine engine = Engine.discover();
            List<Row> rows = new ArrayList<>();
            run(engine, m, backend, prompt, Math.min(steps, 2), RunProfile.Placement.DEFAULT, "warm-up", 0, 0); // JIT
            Row resident = run(engine, m, backend, prompt, steps, RunProfile.Placement.DEFAULT, "resident", 0, 0);
            rows.add(resident);
            for (Tier t : new Tier[]{Tier.HOST, Tier.NVME})
                for (int k : new int[]{0, 1, 3}) {
                    var pl = new RunProfile.Placement(t, Tier.DEVICE, dir, k, budget, 0, 0);
                    double bw = t == Tier.NVME ? disk.bytesPerSecond() : DiskBandwidth.hostCopy();
                    try {
                        rows.add(run(engine, m, backend, prompt, steps, pl, t.name().toLowerCase() + " k=" + k, resident.decodeMs(), bw));
                    } catch (dev.fathom.engine.EngineException e) {
                        System.out.println("  " + t.name().toLowerCase() + " k=" + k + ": " + e.getMessage());
                    }
                }
            System.out.printf("%nRAM budget for weights: %.0f MB (%.0f%% of %.0f MB)%n", budget / 1e6, frac * 100, sz.total() / 1e6);
            System.out.printf("%-12s %8s %5s %11s %7s %11s %9s %6s %12s %12s %7s%n", "placement", "resident", "ring", "prompt t/s", "hidden",
                    "decode ms", "ceiling", "ratio", "xfer ms/tok", "stall ms/tok", "hidden");
            for (Row r : rows)
                System.out.printf("%-12s %8d %5d %11.2f %6.0f%% %11.1f %9.1f %6.2f %12.1f %12.1f %6.0f%%%n", r.name(), r.resident(), r.slots(), r.promptTokS(), r.promptHidden() * 100,
                        r.decodeMs(), r.ceilingMs(), r.ceilingMs() / r.decodeMs(), r.xferMsTok(), r.stallMsTok(), r.hidden() * 100);
        }
    }

    static Row run(Engine engine, LoadedModel m, String backend, int[] prompt, int steps, RunProfile.Placement pl, String name,
                   double residentMs, double bw) {
        RunProfile prof = RunProfile.defaults().withModel(m.source()).withBackend(backend).withShape(1, prompt.length, steps + 1).withPlacement(pl);
        ExecutionPlan plan = engine.plan(m, prof, prompt.length + steps + 1);
        long[] stamps = new long[steps + 2];
        WeightStreamer.Stats[] at = new WeightStreamer.Stats[steps + 2];
        WeightStreamer[] ws = {null};
        try (InferenceSession s = engine.open(m, plan, TelemetrySink.NOOP)) {
            if (((CpuRunner) s.runner()).model().layerSource() instanceof WeightStreamer w) ws[0] = w;
            GenerationResult r = s.generate(new GenerationRequest(new int[][]{prompt}, steps + 1, RunProfile.Sampling.GREEDY.withStopOnEos(false), false, false),
                    (seq, tok, step) -> {
                        stamps[step] = System.nanoTime();
                        if (ws[0] != null) at[step] = ws[0].stats();
                    }, null);
            double promptTokS = prompt.length * 1e9 / r.prefillNs();
            // stamps[0]: after the prompt; stamps[i]: after decode step i. The first step is a warm-up.
            int from = steps >= 2 ? 2 : 1;
            double[] d = new double[steps - from + 1];
            for (int i = from; i <= steps; i++) d[i - from] = (stamps[i] - stamps[i - 1]) / 1e6;
            Arrays.sort(d);
            double med = d[d.length / 2];
            double xfer = 0, stall = 0, hidden = 1;
            int resident = m.config().numLayers(), slots = 0;
            double ceiling = med, promptHidden = 1;
            if (ws[0] != null) {
                WeightStreamer.Stats p0 = at[0];
                promptHidden = p0.transferNs() == 0 ? 1 : Math.max(0, 1 - (double) p0.stallNs() / p0.transferNs());
                // decode steps after the first: stats between token 1 and the last token
                WeightStreamer.Stats a0 = at[from - 1], a1 = at[steps];
                int n = steps - from + 1;
                xfer = (a1.transferNs() - a0.transferNs()) / 1e6 / n;
                stall = (a1.stallNs() - a0.stallNs()) / 1e6 / n;
                hidden = xfer == 0 ? 1 : Math.max(0, 1 - stall / xfer);
                resident = (int) plan.placement().count(Tier.DEVICE);
                slots = a1.slots();
                long streamed = 0;
                for (var lt : plan.placement().layers()) if (lt.tier() != Tier.DEVICE) streamed += lt.bytes();
                ceiling = Math.max(residentMs, streamed * 1e3 / bw);
            }
            System.out.printf("  %-12s prompt %.2f tok/s, decode %.1f ms/token (%s)%n", name, promptTokS, med, s.runner().layout());
            return new Row(name, resident, slots, promptTokS, promptHidden, med, xfer, stall, hidden, ceiling);
        }
    }
}
