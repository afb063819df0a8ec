package dev.fathom.cuda;

import dev.fathom.engine.Engine;
import dev.fathom.engine.checkpoint.ReferenceOutputs;
import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.model.ModelLoader;
import dev.fathom.engine.plan.ExecutionPlan;
import dev.fathom.engine.plan.WeightPlacement;
import dev.fathom.engine.run.InferenceSession;
import dev.fathom.engine.telemetry.TelemetryEvent.Phase;
import dev.fathom.engine.telemetry.TelemetrySink;
import dev.fathom.profiles.Precision;
import dev.fathom.profiles.RunProfile;
import dev.fathom.profiles.RunProfile.Tier;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * ZeRO-Inference on the GPU. {@code check DIR}: every fixture streamed (host and NVMe, prefetch 0, 1, 3, some
 * layers resident) must give bit-identical logits to the resident run. {@code bench [NVME_DIR]}: pinned
 * host-to-device bandwidth, then prompt-phase throughput of {@code synthetic:llama-7b} (BF16) at 1, 8, 32, 64 x 512
 * tokens, resident and streamed under a 6 GB device budget — host memory (prefetch 0, 1) and NVMe (0, 1, 3) — with
 * the share of the transfer time hidden behind compute.
 */
public final class CudaZeroBench {
    private CudaZeroBench() {}

    /** Prefill of every prompt position, then {@code steps} greedy decode steps: all logits in order. */
    static List<float[]> run(CudaModel m, int[][] in, int steps, int vocab) {
        int b = in.length, p = in[0].length, n = b * p;
        int[] tok = new int[n], pos = new int[n], sl = new int[n];
        for (int i = 0; i < b; i++)
            for (int j = 0; j < p; j++) { tok[i * p + j] = in[i][j]; pos[i * p + j] = j; sl[i * p + j] = i; }
        List<float[]> out = new ArrayList<>();
        float[] lg = m.forward(tok, pos, sl, null, Phase.PROMPT);
        out.add(lg);
        int[] slots = new int[b], ids = new int[b], at = new int[b];
        for (int i = 0; i < b; i++) { slots[i] = i; ids[i] = argmax(lg, (i * p + p - 1) * vocab, vocab); at[i] = p; }
        for (int s = 0; s < steps; s++) {
            lg = m.forward(ids, at, slots, null, Phase.DECODE);
            out.add(lg);
            for (int i = 0; i < b; i++) { ids[i] = argmax(lg, i * vocab, vocab); at[i]++; }
        }
        return out;
    }

    private static int argmax(float[] v, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (v[off + i] > v[off + best]) best = i;
        return best;
    }

    /** One streamed configuration against the resident logits: null when bit-identical, else what differs. */
    static String compare(Path fixture, Tier from, int prefetch, int residentLayers, String nvmeDir) {
        try (LoadedModel lm = ModelLoader.load(fixture.toString())) {
            int[][] in = ReferenceOutputs.read(fixture.resolve("reference.safetensors")).inputIds();
            var cfg = lm.config();
            int steps = 3, maxLen = in[0].length + steps + 1, n = lm.weights().layers().size();
            List<float[]> base;
            try (CudaModel m = new CudaModel(cfg, lm.weights(), in.length, maxLen, TelemetrySink.NOOP)) {
                base = run(m, in, steps, cfg.vocabSize());
            }
            Tier[] tiers = new Tier[n];
            for (int i = 0; i < n; i++) tiers[i] = i < residentLayers ? Tier.DEVICE : from;
            try (CudaModel m = new CudaModel(cfg, lm.weights(), in.length, maxLen, TelemetrySink.NOOP, tiers, prefetch, nvmeDir)) {
                for (int rep = 0; rep < 2; rep++) {   // twice: the second pass reuses ring slots and events
                    List<float[]> got = run(m, in, steps, cfg.vocabSize());
                    for (int i = 0; i < base.size(); i++)
                        if (!Arrays.equals(base.get(i), got.get(i))) return "pass " + rep + (i == 0 ? " prompt" : " step " + i) + " logits differ";
                }
                DeviceStreamer.Stats st = m.streamer().stats();
                long want = 2L * (steps + 1) * (n - residentLayers);
                if (st.fetches() != want) return st.fetches() + " layer fetches, expected " + want;
            }
            return null;
        }
    }

    /** The fixture with its KV cache in mapped host memory against the resident run: null when bit-identical. */
    static String compareKvHost(Path fixture) {
        try (LoadedModel lm = ModelLoader.load(fixture.toString())) {
            int[][] in = ReferenceOutputs.read(fixture.resolve("reference.safetensors")).inputIds();
            var cfg = lm.config();
            int steps = 3, maxLen = in[0].length + steps + 1;
            List<float[]> base, got;
            try (CudaModel m = new CudaModel(cfg, lm.weights(), in.length, maxLen, TelemetrySink.NOOP)) {
                base = run(m, in, steps, cfg.vocabSize());
            }
            try (CudaModel m = new CudaModel(cfg, lm.weights(), in.length, maxLen, TelemetrySink.NOOP, null, 0, null, true, Precision.AUTO)) {
                got = run(m, in, steps, cfg.vocabSize());
            }
            for (int i = 0; i < base.size(); i++)
                if (!Arrays.equals(base.get(i), got.get(i))) return (i == 0 ? "prompt" : "step " + i) + " logits differ";
            return null;
        }
    }

    /** Every fixture x {host, nvme} x prefetch {0, 1, 3} x {all streamed, first layer resident}; true when all identical. */
    static boolean check(Path dir, String nvmeDir) {
        boolean ok = true;
        for (String f : FixtureCheck.FIXTURES)
            for (Tier t : new Tier[]{Tier.HOST, Tier.NVME})
                for (int k : new int[]{0, 1, 3})
                    for (int res : new int[]{0, 1}) {
                        String why = compare(dir.resolve(f), t, k, res, nvmeDir);
                        ok &= why == null;
                        if (why != null || (k == 1 && res == 1))
                            System.out.printf("stream %-16s %-5s prefetch %d resident %d: %s%n", f, t, k, res, why == null ? "identical" : "FAIL " + why);
                    }
        for (String f : FixtureCheck.FIXTURES) {
            String why = compareKvHost(dir.resolve(f));
            ok &= why == null;
            System.out.printf("kv-cache host %-16s: %s%n", f, why == null ? "identical" : "FAIL " + why);
        }
        System.out.println(ok ? "STREAM CHECK OK (all identical)" : "STREAM CHECK FAILURES");
        return ok;
    }

    // ------------------------------------------------------------------ benchmark

    /** Pinned host -> device copy of 1 GiB, median of 7 (after 2 warm-ups), GB/s. */
    static double pinnedH2D(Cuda cu) {
        long bytes = 1L << 30;
        MemorySegment h = cu.hostAlloc(bytes);
        long d = cu.malloc(bytes), s = cu.streamCreate(), e0 = cu.eventCreate(), e1 = cu.eventCreate();
        try {
            h.fill((byte) 1);
            double[] t = new double[7];
            for (int i = -2; i < t.length; i++) {
                cu.eventRecord(e0, s);
                cu.copyToDevice(d, h, bytes, s);
                cu.eventRecord(e1, s);
                cu.eventSynchronize(e1);
                if (i >= 0) t[i] = cu.elapsedMs(e0, e1);
            }
            return bytes / (BenchDevice.median(t) * 1e-3) / 1e9;
        } finally {
            cu.eventDestroy(e0);
            cu.eventDestroy(e1);
            cu.streamDestroy(s);
            cu.free(d);
            cu.hostFree(h);
        }
    }

    private static int[][] prompts(int b, int len, int vocab, long seed) {
        Random r = new Random(seed);
        int[][] t = new int[b][len];
        for (int[] row : t) for (int i = 0; i < len; i++) row[i] = r.nextInt(vocab);
        return t;
    }

    /** Median prefill ms over 2 passes after 1 warm-up (last-position logits only, as generation does). */
    static double prefillMs(CudaRunner r, int[][] toks) {
        int[] slots = new int[toks.length];
        for (int i = 0; i < slots.length; i++) slots[i] = i;
        r.prefill(slots, toks, false);
        DeviceStreamer s = r.streamer();
        if (s != null) s.resetStats();
        double[] t = new double[2];
        for (int i = 0; i < t.length; i++) {
            long t0 = System.nanoTime();
            r.prefill(slots, toks, false);
            t[i] = (System.nanoTime() - t0) / 1e6;
        }
        return BenchDevice.median(t);
    }

    static void bench(String nvmeDir) {
        Cuda cu = Cuda.get();
        cu.makeCurrent();
        double h2d = pinnedH2D(cu);
        System.out.printf("%n== pinned host->device copy (1 GiB, cuMemcpyHtoDAsync, CUDA events, median of 7): %.1f GB/s%n", h2d);
        // -Dfathom.zero.batches=1,8,32,64 and -Dfathom.zero.sources=host,nvme choose the rows of the table
        int[] batches = Arrays.stream(System.getProperty("fathom.zero.batches", "1,8,32,64").split(",")).mapToInt(Integer::parseInt).toArray();
        List<String> sources = List.of(System.getProperty("fathom.zero.sources", "host,nvme").split(","));
        int len = 512, maxB = Arrays.stream(batches).max().orElse(1);
        String model = "synthetic:llama-7b";
        try (LoadedModel m = ModelLoader.load(model)) {
            Engine engine = Engine.discover();
            var sizes = WeightPlacement.WeightSizes.of(m.weights());
            RunProfile base = RunProfile.defaults().withModel(model).withBackend("cuda").withShape(maxB, len, 1);
            double[] resMs = new double[batches.length];
            long t0 = System.nanoTime();
            try (InferenceSession s = engine.open(m, engine.plan(m, base, len + 8), TelemetrySink.NOOP)) {
                CudaRunner r = (CudaRunner) s.runner();
                System.out.printf("%s: %.2f GB of weights (%.2f GB in decoder layers), resident load+upload %.1f s%n", model,
                        sizes.total() / 1e9, sizes.layersTotal() / 1e9, (System.nanoTime() - t0) / 1e9);
                for (int i = 0; i < batches.length; i++) resMs[i] = prefillMs(r, prompts(batches[i], len, m.config().vocabSize(), i));
            }
            RunProfile.Placement pl = new RunProfile.Placement(Tier.HOST, Tier.DEVICE, nvmeDir, 1, 6_000_000_000L, 0, 0);
            ExecutionPlan plan = engine.plan(m, base.withPlacement(pl), len + 8);
            WeightPlacement wp = plan.placement();
            t0 = System.nanoTime();
            try (InferenceSession s = engine.open(m, plan, TelemetrySink.NOOP)) {
                CudaRunner r = (CudaRunner) s.runner();
                DeviceStreamer z = r.streamer();
                System.out.printf("--device-memory 6G --weights host: %d layers resident, %d streamed (%.2f GB in pinned host memory), "
                                + "ring %d x %.0f MB; planned device bytes %.2f GB; load+pack %.1f s%n",
                        wp.count(Tier.DEVICE), z.count(), z.hostBytes() / 1e9, z.slots(), z.ringBytes() / 1e6 / z.slots(), wp.deviceBytes() / 1e9,
                        (System.nanoTime() - t0) / 1e9);
                System.out.printf("FLOPs counted: 2 x %.2f G decoder-layer weights x tokens + lm_head on the last positions (attention not counted)%n", layerParams(sizes) / 1e9);
                System.out.printf("%-6s %-10s %-8s %10s %9s %8s %11s %11s %10s %9s %11s%n", "batch", "source", "prefetch", "ms", "TFLOP/s",
                        "vs res", "xfer ms", "stall ms", "hidden", "wall hid", "xfer GB/s");
                String[][] cfgs = Arrays.stream(new String[][]{{"host", "0"}, {"host", "1"}, {"nvme", "0"}, {"nvme", "1"}, {"nvme", "3"}})
                        .filter(c -> sources.contains(c[0])).toArray(String[][]::new);
                for (int i = 0; i < batches.length; i++) {
                    int b = batches[i];
                    double flops = promptFlops(m, sizes, b, len);
                    int[][] toks = prompts(b, len, m.config().vocabSize(), i);
                    System.out.printf("%-6d %-10s %-8s %10.1f %9.1f %8s %11s %11s %10s %9s %11s%n", b, "resident", "-", resMs[i], flops / resMs[i] / 1e9, "1.00", "-", "-", "-", "-", "-");
                    for (String[] c : cfgs) {
                        z.reconfigure(Integer.parseInt(c[1]), c[0].equals("nvme"));
                        double ms = prefillMs(r, toks);
                        DeviceStreamer.Stats st = z.stats();
                        double passes = 2, xfer = (st.copyMs() + st.readMs()) / passes, stall = st.stallMs() / passes;
                        double wallHidden = xfer == 0 ? 1 : Math.max(0, 1 - Math.max(0, ms - resMs[i]) / xfer);
                        System.out.printf("%-6d %-10s %-8s %10.1f %9.1f %8.2f %11.1f %11.1f %9.0f%% %8.0f%% %11.1f%n", b, c[0], c[1], ms, flops / ms / 1e9,
                                resMs[i] / ms, xfer, stall, 100 * st.hidden(), 100 * wallHidden, st.bytes() / passes / (xfer * 1e-3) / 1e9);
                    }
                }
                if (z.note() != null) System.out.println("note: " + z.note());
            }
        }
    }

    /**
     * Decode step of llama-7b with the KV cache on the device vs in mapped host memory, after a 512-token prompt:
     * what {@code --kv-cache host} costs when every step reads the cache over the bus.
     */
    static void kvBench() {
        String model = "synthetic:llama-7b";
        int len = 512;
        try (LoadedModel m = ModelLoader.load(model)) {
            var cfg = m.config();
            long kvPerPos = 2L * cfg.numLayers() * m.weights().layers().getFirst().k().out() * 4;
            System.out.printf("%n== KV cache on the device vs in pinned host memory (mapped), %s, %d-token prompt; KV read per step = batch x %.1f MB%n",
                    model, len, kvPerPos * (len + 1) / 1e6);
            System.out.printf("%-6s %-8s %12s %12s %14s%n", "batch", "kv", "prefill ms", "step ms", "KV GB/s read");
            for (int b : new int[]{1, 8}) {
                int[][] toks = prompts(b, len, cfg.vocabSize(), b);
                int[] slots = new int[b], ids = new int[b], pos = new int[b];
                for (int i = 0; i < b; i++) { slots[i] = i; ids[i] = 1 + i; pos[i] = len; }
                for (boolean host : new boolean[]{false, true}) {
                    try (CudaRunner r = new CudaRunner(cfg, m.weights(), b, len + 8, TelemetrySink.NOOP, null, host)) {
                        r.prefill(slots, toks, false);
                        long t0 = System.nanoTime();
                        r.prefill(slots, toks, false);
                        double pre = (System.nanoTime() - t0) / 1e6;
                        double[] t = new double[10];
                        for (int i = -2; i < t.length; i++) {
                            long d0 = System.nanoTime();
                            r.decode(slots, ids, pos);
                            if (i >= 0) t[i] = (System.nanoTime() - d0) / 1e6;
                        }
                        double step = BenchDevice.median(t);
                        System.out.printf("%-6d %-8s %12.1f %12.3f %14.1f%n", b, host ? "host" : "device", pre, step,
                                (double) b * kvPerPos * (len + 1) / (step * 1e-3) / 1e9);
                    }
                }
            }
        }
    }

    /**
     * Every fixture through two data-parallel replicas (one sequence per GPU) with every layer streamed from host
     * memory through the multi-GPU fetch, against one GPU with everything resident: prompt logits at every position
     * and 3 greedy steps. True when they agree to 1e-5 with the same tokens (the same kernels per row; the rows per
     * launch differ, which moves BF16 tensor-core sums by a few 1e-6; F32 fixtures come out bit-identical).
     */
    static boolean dpCheck(Path dir) {
        // the same kernels on both sides: one GPU would send 2 x prompt rows through cuBLAS (bf16 activations)
        // where each replica's prompt rows stay under the threshold (the SBI kernels' float32-level products)
        String blas = System.getProperty("fathom.cuda.blasRows");
        System.setProperty("fathom.cuda.blasRows", "100000");
        try {
            return dpCheckSameKernels(dir);
        } finally {
            if (blas == null) System.clearProperty("fathom.cuda.blasRows");
            else System.setProperty("fathom.cuda.blasRows", blas);
        }
    }

    private static boolean dpCheckSameKernels(Path dir) {
        boolean ok = true;
        for (String f : FixtureCheck.FIXTURES) {
            try (LoadedModel lm = ModelLoader.load(dir.resolve(f).toString())) {
                int[][] in = ReferenceOutputs.read(dir.resolve(f).resolve("reference.safetensors")).inputIds();
                var cfg = lm.config();
                int b = in.length, steps = 3, maxLen = in[0].length + steps + 1;
                int[] slots = new int[b];
                for (int i = 0; i < b; i++) slots[i] = i;
                Tier[] tiers = new Tier[cfg.numLayers()];
                java.util.Arrays.fill(tiers, Tier.HOST);
                double worst = 0;
                boolean same = true;
                try (CudaRunner one = new CudaRunner(cfg, lm.weights(), b, maxLen, TelemetrySink.NOOP);
                     CudaDpRunner two = new CudaDpRunner(cfg, lm.weights(), 2, b, maxLen, TelemetrySink.NOOP, tiers, 1, null, Precision.AUTO)) {
                    float[][][] p1 = one.prefill(slots, in, true), p2 = two.prefill(slots, in, true);
                    worst = Math.max(worst, ReferenceOutputs.relError(p2, p1));
                    int[] ids = new int[b], at = new int[b];
                    for (int i = 0; i < b; i++) { ids[i] = argmax(p1[i][in[0].length - 1], 0, cfg.vocabSize()); at[i] = in[0].length; }
                    for (int s = 0; s < steps; s++) {
                        float[][] d1 = one.decode(slots, ids, at), d2 = two.decode(slots, ids, at);
                        worst = Math.max(worst, ReferenceOutputs.relError(new float[][][]{d2}, new float[][][]{d1}));
                        for (int i = 0; i < b; i++) {
                            int t1 = argmax(d1[i], 0, cfg.vocabSize()), t2 = argmax(d2[i], 0, cfg.vocabSize());
                            same &= t1 == t2;
                            ids[i] = t1;
                            at[i]++;
                        }
                    }
                }
                boolean pass = worst <= 1e-5 && same;
                ok &= pass;
                System.out.printf("dp=2, multi-GPU fetch from host  %-16s rel %.2e vs one GPU resident, tokens %s: %s%n", f, worst, same ? "same" : "DIFFER", pass ? "ok" : "FAIL");
            } catch (RuntimeException e) {
                ok = false;
                System.out.printf("dp=2 %-16s FAIL %s%n", f, e);
                e.printStackTrace(System.out);
            }
        }
        System.out.println(ok ? "DP CHECK OK" : "DP CHECK FAILURES");
        return ok;
    }

    /** Parameters of the decoder layers (the weights a prompt pass multiplies every token by). */
    static long layerParams(WeightPlacement.WeightSizes sizes) {
        long params = 0;
        for (long p : sizes.layerParams()) params += p;
        return params;
    }

    /** FLOPs of a prompt pass of batch x len as the tables count them: 2 x layer weights x tokens + the LM head on the last positions. */
    static double promptFlops(LoadedModel m, WeightPlacement.WeightSizes sizes, int batch, int len) {
        return 2.0 * layerParams(sizes) * batch * len + 2.0 * m.config().hiddenSize() * m.config().vocabSize() * batch;
    }

    /**
     * llama-7b (BF16) streamed from pinned host memory (--device-memory 6G --weights host --prefetch 1) on two
     * data-parallel replicas, prompt phase of batch x 512 split over the GPUs: the multi-GPU fetch against each GPU
     * copying whole layers itself, same runner, same passes.
     */
    static void dpBench() {
        String model = "synthetic:llama-7b";
        int len = 512;
        try (LoadedModel m = ModelLoader.load(model)) {
            Engine engine = Engine.discover();
            var sizes = WeightPlacement.WeightSizes.of(m.weights());
            RunProfile.Placement pl = new RunProfile.Placement(Tier.HOST, Tier.DEVICE, null, 1, 6_000_000_000L, 0, 0);
            RunProfile prof = RunProfile.defaults().withModel(model).withBackend("cuda").withShape(16, len, 1).withPlacement(pl);
            ExecutionPlan plan = engine.plan(m, prof, len + 8);
            long t0 = System.nanoTime();
            try (CudaDpRunner r = new CudaDpRunner(m.config(), m.weights(), 2, 16, len + 8, TelemetrySink.NOOP, plan.placement(), Precision.AUTO)) {
                DeviceStreamer z0 = r.models()[0].streamer();
                System.out.printf("%n== dp=2 on 2 GPUs, %s streamed from pinned host memory (--device-memory 6G --weights host --prefetch 1): "
                        + "%d layers streamed per replica, load+pack %.1f s%n", model, z0.count(), (System.nanoTime() - t0) / 1e9);
                System.out.println("   xfer ms = GPU 0's copy time per pass (host part + peer pulls, CUDA events); hidden = 1 - stall / xfer");
                System.out.printf("%-12s %-26s %10s %10s %10s %10s %9s%n", "batch x 512", "fetch", "ms", "TFLOP/s", "xfer ms", "stall ms", "hidden");
                for (int b : new int[]{2, 8, 16}) {
                    int[][] toks = prompts(b, len, m.config().vocabSize(), b);
                    int[] slots = new int[b];
                    for (int i = 0; i < b; i++) slots[i] = i;
                    double flops = promptFlops(m, sizes, b, len);
                    for (boolean grouped : new boolean[]{true, false}) {
                        r.setGroupFetch(grouped);
                        r.prefill(slots, toks, false);
                        for (CudaModel cm : r.models()) cm.streamer().resetStats();
                        double[] t = new double[2];
                        for (int i = 0; i < t.length; i++) {
                            long s0 = System.nanoTime();
                            r.prefill(slots, toks, false);
                            t[i] = (System.nanoTime() - s0) / 1e6;
                        }
                        double ms = BenchDevice.median(t);
                        DeviceStreamer.Stats st = z0.stats();
                        System.out.printf("%-12d %-26s %10.1f %10.1f %10.1f %10.1f %8.0f%%%n", b,
                                grouped ? "1/2 each + peer pull" : "whole layer per GPU", ms, flops / ms / 1e9, st.copyMs() / 2, st.stallMs() / 2, 100 * st.hidden());
                    }
                }
            }
        }
    }

    public static void main(String[] args) {
        List<String> a = List.of(args);
        boolean ok = true;
        if (a.contains("dpcheck")) ok &= dpCheck(Path.of(a.get(a.indexOf("dpcheck") + 1)));
        if (a.contains("dpbench")) dpBench();
        if (a.contains("kv")) kvBench();
        if (a.contains("check")) ok = check(Path.of(a.get(a.indexOf("check") + 1)), System.getProperty("fathom.nvme"));
        if (a.contains("bench")) bench(System.getProperty("fathom.nvme"));
        if (!ok) System.exit(1);
    }
}
