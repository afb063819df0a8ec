package dev.fathom.cuda;

import dev.fathom.engine.Engine;
import dev.fathom.engine.model.LayerWeights;
import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.model.ModelLoader;
import dev.fathom.engine.plan.ExecutionPlan;
import dev.fathom.engine.run.GenerationRequest;
import dev.fathom.engine.run.GenerationResult;
import dev.fathom.engine.run.InferenceSession;
import dev.fathom.engine.run.TokenListener;
import dev.fathom.engine.telemetry.TelemetrySink;
import dev.fathom.profiles.RunProfile;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Tensor parallelism on the GPUs of one host: the peer all-reduce checked against a host sum and timed (in
 * and out of a CUDA graph), every fixture under TP=2 against its Hugging Face reference, and
 * {@code synthetic:llama-7b} batch-1 decode TP=1 vs TP=2. Usage:
 * {@code java -cp ... dev.fathom.cuda.CudaTpBench [allreduce] [fixtures DIR] [llama]} (all when none given;
 * fixtures from ./fixtures). Prints a summary table last; exits 1 when a check fails.
 */
public final class CudaTpBench {
    private final BenchSummary summary = new BenchSummary();

    private CudaTpBench() {}

    interface RankWork { void run(int rank) throws Exception; }

    /** Runs {@code w} on every rank's own thread and waits. */
    static void onRanks(ExecutorService[] ex, RankWork w) {
        List<Future<?>> fs = new ArrayList<>();
        for (int r = 0; r < ex.length; r++) {
            int rank = r;
            fs.add(ex[r].submit(() -> { w.run(rank); return null; }));
        }
        for (Future<?> f : fs) {
            try {
                f.get();
            } catch (Exception e) {
                throw new IllegalStateException(e.getCause() != null ? e.getCause().toString() : e.toString(), e);
            }
        }
    }

    // ------------------------------------------------------------------ all-reduce

    void allReduce() {
        for (PeerAllReduce.Kind k : PeerAllReduce.Kind.values()) allReduce(k);
    }

    void allReduce(PeerAllReduce.Kind kind) {
        int tp = 2;
        Cuda[] devs = {Cuda.get(0), Cuda.get(1)};
        ExecutorService[] ex = {Executors.newSingleThreadExecutor(), Executors.newSingleThreadExecutor()};
        long cap = 4L << 20;   // 16 MB of floats
        try (PeerAllReduce c = new PeerAllReduce(devs, cap, kind); Arena arena = Arena.ofShared()) {
            long[] stream = new long[tp], part = new long[tp], out = new long[tp], res = new long[tp], bias = new long[tp], xn = new long[tp];
            long[][] ev = new long[tp][];
            onRanks(ex, r -> {
                Cuda cu = devs[r];
                cu.makeCurrent();
                stream[r] = cu.streamCreate();
                part[r] = cu.malloc(4 * cap);
                out[r] = cu.malloc(4 * cap);
                res[r] = cu.malloc(4 * cap);
                bias[r] = cu.malloc(4L * 4099);
                xn[r] = cu.malloc(4 * cap);
                ev[r] = new long[]{cu.eventCreate(), cu.eventCreate()};
            });
            // correctness: random partials, bias and residual; host sum in the kernel's order (bit-exact expected)
            System.out.println("\n== peer all-reduce (" + kind + " kernel), 2 GPUs: correctness against a host sum (same order, bit-exact), fresh random inputs"
                    + (kind == PeerAllReduce.Kind.LL ? "; fused norm against float64 (rel 1e-5)" : ""));
            Random rnd = new Random(System.nanoTime());
            boolean allOk = true;
            for (long[] nh : new long[][]{{1, 1}, {3, 3}, {4096, 4096}, {4099, 4099}, {2 * 4099, 4099}, {128 * 4096, 4096}, {cap, 4096}}) {
                long n = nh[0];
                int h = (int) nh[1];
                float[][] p = new float[tp][(int) n];
                float[] rs = new float[(int) n], bs = new float[h];
                for (float[] a : p) for (int i = 0; i < n; i++) a[i] = (float) rnd.nextGaussian();
                for (int i = 0; i < n; i++) rs[i] = (float) rnd.nextGaussian();
                for (int i = 0; i < h; i++) bs[i] = (float) rnd.nextGaussian();
                boolean withRes = n % 2 == 1 || n == 4096;   // both forms
                float[][] got = new float[tp][(int) n];
                float[][] gotN = new float[tp][(int) n];
                float[] nw = new float[h], nb = new float[h];
                for (int i = 0; i < h; i++) { nw[i] = (float) (1 + 0.1 * rnd.nextGaussian()); nb[i] = (float) rnd.nextGaussian(); }
                int normKind = kind == PeerAllReduce.Kind.LL && n <= cap - 2L * h ? (int) (n % 3) : 0;   // 0 none, 1 rms, 2 layer norm
                for (int rep = 0; rep < 4; rep++)   // repeats: the sequence numbers advance (LL: every buffer used)
                    onRanks(ex, r -> {
                        Cuda cu = devs[r];
                        cu.makeCurrent();
                        try (Arena a = Arena.ofConfined()) {
                            cu.copyToDevice(part[r], SbiLayout.floats(p[r], a), 4 * n, stream[r]);
                            cu.copyToDevice(res[r], SbiLayout.floats(rs, a), 4 * n, stream[r]);
                            cu.copyToDevice(bias[r], SbiLayout.floats(bs, a), 4L * h, stream[r]);
                            cu.fill32(out[r], 0x7fc00000, n, stream[r]);
                            long wN = 0, bN = 0;
                            if (normKind > 0) {
                                wN = xn[r] + 4 * (cap - 2L * h);   // the tail of xn holds the norm weights
                                bN = xn[r] + 4 * (cap - h);
                                cu.copyToDevice(wN, SbiLayout.floats(nw, a), 4L * h, stream[r]);
                                cu.copyToDevice(bN, SbiLayout.floats(nb, a), 4L * h, stream[r]);
                                c.rank(r).allReduceNorm(part[r], out[r], withRes ? res[r] : 0, bias[r], h, n, stream[r], wN, normKind == 1 ? 0 : bN, xn[r], 1e-5f, normKind == 1);
                            } else c.rank(r).allReduce(part[r], out[r], withRes ? res[r] : 0, bias[r], h, n, stream[r]);
                            MemorySegment hy = a.allocate(4 * n, 16);
                            cu.copyToHost(hy, out[r], 4 * n, stream[r]);
                            cu.synchronize(stream[r]);
                            MemorySegment.copy(hy, ValueLayout.JAVA_FLOAT, 0, got[r], 0, (int) n);
                            if (normKind > 0) {
                                cu.copyToHost(hy, xn[r], 4 * n, stream[r]);
                                cu.synchronize(stream[r]);
                                MemorySegment.copy(hy, ValueLayout.JAVA_FLOAT, 0, gotN[r], 0, (int) n);
                            }
                        }
                    });
                int bad = 0;
                for (int i = 0; i < n; i++) {
                    float s = p[0][i] + p[1][i];
                    s = s + bs[(int) (i % h)];
                    if (withRes) s = rs[i] + s;
                    for (int r = 0; r < tp; r++) if (Float.floatToIntBits(got[r][i]) != Float.floatToIntBits(s)) bad++;
                }
                double normErr = 0;
                if (normKind > 0 && n <= cap - 2L * h) {
                    double num = 0, den = 0;
                    for (long row = 0; row < n / h; row++) {
                        double m = 0, v = 0;
                        int o = (int) (row * h);
                        for (int i = 0; i < h; i++) { double x = got[0][o + i]; m += x; v += x * x; }
                        m /= h;
                        double inv = normKind == 1 ? 1 / Math.sqrt(v / h + 1e-5) : 0;
                        if (normKind == 2) {
                            double var = 0;
                            for (int i = 0; i < h; i++) { double d = got[0][o + i] - m; var += d * d; }
                            inv = 1 / Math.sqrt(var / h + 1e-5);
                        }
                        for (int i = 0; i < h; i++) {
                            double y = normKind == 1 ? got[0][o + i] * inv * nw[i] : (got[0][o + i] - m) * inv * nw[i] + nb[i];
                            for (int r = 0; r < tp; r++) { double d = gotN[r][o + i] - y; num += d * d; }
                            den += tp * y * y;
                        }
                    }
                    normErr = Math.sqrt(num / den);
                    if (!(normErr <= 1e-5)) bad++;
                }
                allOk &= bad == 0;
                System.out.printf("n=%-9d h=%-5d res=%-5s blocks=%-2d mismatches %d%s %s%n", n, h, withRes,
                        kind == PeerAllReduce.Kind.LL ? PeerAllReduce.llBlocks((int) (n / h)) : PeerAllReduce.blocks(n), bad,
                        normKind == 0 ? "" : String.format(", %s norm rel %.1e", normKind == 1 ? "rms" : "layer", normErr), bad == 0 ? "ok" : "FAIL");
            }
            if (!allOk) summary.fail();
            summary.add(String.format("%-44s %s", "all-reduce " + kind + " vs host sum (bit-exact)", allOk ? "ok" : "FAIL"));

            // timing
            System.out.println("\n== peer all-reduce latency (" + kind + " kernel), 2 GPUs (fp32 sum; CUDA events on rank 0; median of 9)");
            System.out.println("   stream: 200 back-to-back launches per rank / 200;  graph: 64 launches captured per rank, replayed, / 64");
            System.out.printf("%-10s %7s %12s %12s %12s%n", "bytes", "blocks", "stream us", "graph us", "GB/s (graph)");
            for (long bytes : new long[]{8 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 16 << 20}) {
                long n = bytes / 4;
                int[] blockChoices = kind == PeerAllReduce.Kind.LL ? new int[]{PeerAllReduce.llBlocks((int) (n / Math.min(n, 4096)))}
                        : bytes <= (16 << 10) ? new int[]{1, PeerAllReduce.blocks(n)} : new int[]{PeerAllReduce.blocks(n)};
                for (int bl : Arrays.stream(blockChoices).distinct().toArray()) {
                    double sUs = timeLoop(ex, devs, c, stream, ev, part, out, n, bl, 200, false);
                    double gUs = timeLoop(ex, devs, c, stream, ev, part, out, n, bl, 64, true);
                    System.out.printf("%-10s %7d %12.2f %12.2f %12.1f%n", size(bytes), bl, sUs, gUs, bytes / (gUs * 1e-6) / 1e9);
                    if (bytes == 8 << 10 || bytes == 16 << 10)
                        summary.add(String.format("%-44s %6.2f us stream, %6.2f us graph (NCCL ~20-23)", "all-reduce " + kind + " " + size(bytes) + " blocks=" + bl, sUs, gUs));
                }
            }
            onRanks(ex, r -> {
                Cuda cu = devs[r];
                cu.makeCurrent();
                cu.synchronize(stream[r]);
                for (long q : new long[]{part[r], out[r], res[r], bias[r], xn[r]}) cu.free(q);
                cu.eventDestroy(ev[r][0]);
                cu.eventDestroy(ev[r][1]);
                cu.streamDestroy(stream[r]);
            });
        } finally {
            for (ExecutorService e : ex) e.shutdownNow();
        }
    }

    private static String size(long b) { return b >= 1 << 20 ? (b >> 20) + " MB" : (b >> 10) + " KB"; }

    /** µs per all-reduce of {@code n} floats: {@code k} per timed unit, in a graph or launched one by one. */
    private double timeLoop(ExecutorService[] ex, Cuda[] devs, PeerAllReduce c, long[] stream, long[][] ev, long[] part, long[] out,
                            long n, int blocks, int k, boolean graph) {
        int tp = devs.length;
        long[][] g = new long[tp][];
        if (graph)
            onRanks(ex, r -> {
                devs[r].makeCurrent();
                devs[r].beginCapture(stream[r]);
                try {
                    for (int i = 0; i < k; i++) c.rank(r).allReduce(part[r], out[r], 0, 0, (int) Math.min(n, 4096), n, stream[r], blocks);
                } finally {
                    g[r] = devs[r].endCapture(stream[r]);
                }
            });
        double[] t = new double[9];
        for (int rep = -2; rep < t.length; rep++) {
            int rr = rep;
            onRanks(ex, r -> {
                Cuda cu = devs[r];
                cu.makeCurrent();
                cu.eventRecord(ev[r][0], stream[r]);
                if (graph) cu.graphLaunch(g[r][1], stream[r]);
                else for (int i = 0; i < k; i++) c.rank(r).allReduce(part[r], out[r], 0, 0, (int) Math.min(n, 4096), n, stream[r], blocks);
                cu.eventRecord(ev[r][1], stream[r]);
                cu.eventSynchronize(ev[r][1]);
                if (r == 0 && rr >= 0) t[rr] = cu.elapsedMs(ev[r][0], ev[r][1]) * 1e3 / k;
            });
        }
        if (graph) onRanks(ex, r -> { devs[r].makeCurrent(); devs[r].graphDestroy(g[r][0], g[r][1]); });
        return BenchDevice.median(t);
    }

    // ------------------------------------------------------------------ fixtures under TP=2

    void fixtures(Path dir) {
        System.out.println("\n== fixtures through Engine + InferenceSession, --backend cuda --tp 2, against the Hugging Face references");
        System.out.printf("%-18s %-14s %12s %12s %8s %s%n", "fixture", "weights", "prompt rel", "step rel", "tokens", "result");
        int passed = 0, total = 0;
        for (String f : FixtureCheck.DENSE)
            for (boolean bf : new boolean[]{false, true}) {
                total++;
                try {
                    FixtureCheck.FixtureResult r = fixture(dir.resolve(f), bf, 2);
                    if (r.ok()) passed++;
                    else summary.fail();
                    System.out.printf("%-18s %-14s %12.3e %12.3e %8s %s%n", f, r.weights(), r.promptErr(), r.stepErr(), r.sameTokens(), r.ok() ? "ok" : "FAIL");
                } catch (RuntimeException e) {
                    summary.fail();
                    System.out.printf("%-18s %s FAIL %s%n", f, bf ? "bf16" : "", e);
                    e.printStackTrace(System.out);
                }
            }
        // MoE stays on one GPU: the plan must say so in one sentence
        try (LoadedModel m = ModelLoader.load(dir.resolve("mixtral-tiny").toString())) {
            Engine engine = Engine.discover();
            ExecutionPlan plan = engine.plan(m, RunProfile.defaults().withModel("mixtral-tiny").withBackend("cuda").withShape(1, 4, 4)
                    .withParallel(tp(2)), 8);
            System.out.println("mixtral-tiny       (MoE) rejected as expected: " + engine.backends().require("cuda").cannotRun(plan));
        } catch (RuntimeException e) {
            System.out.println("mixtral-tiny       " + e.getMessage());
        }
        summary.add(String.format("%-44s %d/%d ok", "fixtures under TP=2 (F32 1e-4 + tokens, BF16 2e-2)", passed, total));
    }

    static RunProfile.Parallelism tp(int n) {
        RunProfile.Parallelism z = RunProfile.Parallelism.NONE;
        return new RunProfile.Parallelism(n, z.pp(), z.ep(), z.dp(), z.promptMicroBatches(), z.genMicroBatches(), z.moeAllToAll());
    }

    /** FixtureCheck.fixture with tensor parallelism {@code tp}. */
    static FixtureCheck.FixtureResult fixture(Path dir, boolean bf16, int tp) {
        return FixtureCheck.fixture(dir, bf16, tp(tp), runner -> {
            if (tp > 1 && !(runner instanceof CudaTpRunner)) throw new IllegalStateException("not a TP runner: " + runner.layout());
        });
    }

    // ------------------------------------------------------------------ llama-7b TP=1 vs TP=2

    /** One decode configuration of the llama table. */
    record Config(int tp, PeerAllReduce.Kind kind, boolean graphs) {
        String label() { return tp == 1 ? "1" : tp + " " + kind; }
    }

    void llama(double readGBs) {
        String model = "synthetic:llama-7b";
        int prompt = 128, newTok = 8;
        long t0 = System.nanoTime();
        try (LoadedModel m = ModelLoader.load(model)) {
            System.out.printf("%n== %s BF16 batch 1, prompt %d: decode step (median of 50 after 3 warm-ups, host clock), load %.1f s%n",
                    model, prompt, (System.nanoTime() - t0) / 1e9);
            long layerBytes = 0;
            for (LayerWeights l : m.weights().layers()) layerBytes += l.bytes();
            long headBytes = m.weights().bytesPerToken() - layerBytes;
            Engine engine = Engine.discover();
            Random rnd = new Random(5);
            int[][] toks = new int[1][prompt];
            for (int i = 0; i < prompt; i++) toks[0][i] = rnd.nextInt(m.config().vocabSize());
            int[] slots = {0}, ids = {rnd.nextInt(m.config().vocabSize())}, pos = {prompt};
            System.out.printf("%-9s %-7s %7s %10s %9s %9s %8s %10s %s%n", "tp", "graphs", "open s", "prefill ms", "step ms", "floor ms", "x floor",
                    "e2e tok/s", "logits rel vs TP=1");
            java.util.Map<String, Double> step = new java.util.LinkedHashMap<>();
            float[] ref = null;
            List<String> tables = new ArrayList<>();
            PeerAllReduce.Kind[][] plan = {{null}, {PeerAllReduce.Kind.LL}, {PeerAllReduce.Kind.FLAG}};
            for (PeerAllReduce.Kind[] pk : plan) {
                PeerAllReduce.Kind kind = pk[0];
                int tp = kind == null ? 1 : 2;
                if (kind != null) System.setProperty("fathom.tp.allreduce", kind.name().toLowerCase());
                Rank0Breakdown agg = new Rank0Breakdown();
                RunProfile prof = RunProfile.defaults().withModel(model).withBackend("cuda").withShape(1, prompt, newTok).withParallel(tp(tp));
                ExecutionPlan plan0 = engine.plan(m, prof, prompt + 32);
                long o0 = System.nanoTime();
                try (InferenceSession s = engine.open(m, plan0, agg)) {
                    double openS = (System.nanoTime() - o0) / 1e9;
                    double floorMs = (layerBytes / (double) tp + headBytes) / (readGBs * 1e9) * 1e3;
                    for (boolean g : kind == PeerAllReduce.Kind.FLAG ? new boolean[]{true} : new boolean[]{true, false}) {
                        Config c = new Config(tp, kind, g);
                        if (s.runner() instanceof CudaRunner cr) cr.setGraphs(g);
                        if (s.runner() instanceof CudaTpRunner tr) tr.setGraphs(g);
                        long p0 = System.nanoTime();
                        s.runner().prefill(slots, toks, false);
                        double prefillMs = (System.nanoTime() - p0) / 1e6;
                        double[] t = new double[50];
                        float[] logits = null;
                        for (int i = -3; i < t.length; i++) {
                            long d0 = System.nanoTime();
                            logits = s.runner().decode(slots, ids, pos)[0];
                            if (i >= 0) t[i] = (System.nanoTime() - d0) / 1e6;
                        }
                        String rel = "-";
                        if (ref == null) ref = logits;
                        else {
                            double num = 0, den = 0;
                            for (int i = 0; i < ref.length; i++) { double d = ref[i] - logits[i]; num += d * d; den += (double) ref[i] * ref[i]; }
                            rel = String.format("%.1e", Math.sqrt(num / den));
                        }
                        double st = BenchDevice.median(t);
                        step.put(c.label() + (g ? "" : " nograph"), st);
                        GenerationResult e2e = s.generate(new GenerationRequest(toks, newTok, RunProfile.Sampling.GREEDY.withStopOnEos(false), false, false),
                                TokenListener.NONE, null);
                        System.out.printf("%-9s %-7s %7.1f %10.2f %9.3f %9.3f %8.2f %10.1f %s%n", c.label(), g ? "on" : "off", openS, prefillMs, st, floorMs,
                                st / floorMs, newTok / (e2e.decodeNs() / 1e9 + e2e.prefillNs() / 1e9), rel);
                        if (!g) {   // one decode step kernel by kernel (CUDA events, rank 0)
                            agg.on = true;
                            s.runner().decode(slots, ids, pos);
                            agg.on = false;
                            tables.add(agg.table(model + " TP=" + c.label() + " decode step, rank 0 per kernel (CUDA events, graphs off)"));
                        }
                    }
                    if (tp == 2) System.out.println("   layout: " + s.runner().layout());
                }
            }
            System.clearProperty("fathom.tp.allreduce");
            tables.forEach(System.out::print);
            double one = step.get("1"), ll = step.get("2 LL"), fl = step.get("2 FLAG");
            System.out.printf("%nTP=2 vs TP=1 decode step (graphs on): LL %.3f ms, FLAG %.3f ms vs %.3f ms = %.2fx / %.2fx lower (aim >= 1.5x)%n",
                    ll, fl, one, one / ll, one / fl);
            summary.add(String.format("%-44s %.3f ms", "llama-7b decode step TP=1 (graphs)", one));
            summary.add(String.format("%-44s %.3f ms -> %.2fx lower (aim 1.5x)", "llama-7b decode step TP=2 LL+norm (graphs)", ll, one / ll));
            summary.add(String.format("%-44s %.3f ms -> %.2fx lower", "llama-7b decode step TP=2 FLAG (graphs)", fl, one / fl));
            summary.add(String.format("%-44s %.3f ms per GPU", "TP=2 per-step floor (half layers + head)", (layerBytes / 2.0 + headBytes) / (readGBs * 1e9) * 1e3));
        }
    }

    /** Sums rank 0's kernel spans by name while {@code on}. */
    static final class Rank0Breakdown implements TelemetrySink {
        volatile boolean on;
        private final KernelBreakdown inner = new KernelBreakdown();

        @Override public boolean enabled() { return on; }

        @Override
        public void emit(dev.fathom.engine.telemetry.TelemetryEvent e) {
            if (e instanceof dev.fathom.engine.telemetry.TelemetryEvent.KernelSpan k && k.rank() == 0) {
                inner.on = true;
                inner.emit(e);
            }
        }

        String table(String title) { return inner.table(title); }
    }

    public static void main(String[] args) {
        String why = CudaBackend.twoGpusMissing("tensor parallelism");
        if (why != null) {
            System.out.println("SKIP: " + why);
            return;
        }
        System.out.println(CudaBackend.twoGpusLine());
        List<String> parts = args.length == 0 ? List.of("allreduce", "fixtures", "llama") : List.of(args);
        CudaTpBench b = new CudaTpBench();
        Path fx = Path.of("fixtures");
        int fi = parts.indexOf("fixtures");
        if (fi >= 0 && fi + 1 < args.length && !List.of("allreduce", "llama").contains(args[fi + 1])) fx = Path.of(args[fi + 1]);
        if (parts.contains("allreduce")) b.summary.part("all-reduce", b::allReduce);
        if (parts.contains("fixtures")) b.fixtures(fx);
        if (parts.contains("llama")) {
            double gbs = BenchDevice.deviceReadBandwidth() / 1e9;
            System.out.printf("%nread bandwidth GPU0 (read_probe, 4 GiB, median of 20): %.0f GB/s%n", gbs);
            b.summary.part("llama", () -> b.llama(gbs));
        }
        b.summary.finish();
    }
}
