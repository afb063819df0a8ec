package dev.fathom.cuda;

import dev.fathom.engine.Engine;
import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.model.ModelLoader;
import dev.fathom.engine.plan.ExecutionPlan;
import dev.fathom.engine.run.InferenceSession;
import dev.fathom.engine.telemetry.TelemetrySink;
import dev.fathom.profiles.RunProfile;
import java.util.List;
import java.util.Random;

/**
 * CudaBench part {@code prefillsteps}: which prompt-GEMM routing should be the default, decided in one call as
 * {@code graphsteps} decides decode routings. llama-7b is loaded once. A session under the first routing runs
 * untimed first (the process's own warm-up: a first model once measured its prefill 1.1 ms long, thirtieth session).
 * Then for each round ({@code -Dfathom.bench.graphRounds}) and each comparison part of {@code
 * -Dfathom.bench.prefillVariants} (default {@code nowgemm,wgon}: cuBLAS, then our warpgroup-MMA GEMM) a session under
 * its settings prefills a batch-1 prompt of {@link #PROMPT} tokens {@link #WARMUPS} times untimed and {@link #TIMED}
 * times timed. {@link RoutingVerdict} reads the medians, the first part the baseline: a candidate qualifies when every
 * run of it is faster than every run of the baseline.
 */
final class PrefillSteps {
    static final int PROMPT = 128, WARMUPS = 3, TIMED = 9;

    private PrefillSteps() {}

    static void run() {
        List<String> variants = variants();
        int rounds = GraphGaps.rounds();
        System.out.printf("%n== llama-7b prefill of one %d-token prompt under %s, %d round%s after an untimed one (host ms, median of %d after %d untimed)%n",
                PROMPT, String.join(", ", variants), rounds, rounds == 1 ? "" : "s", TIMED, WARMUPS);
        Random rnd = new Random(17);
        RoutingVerdict verdict = new RoutingVerdict(variants.get(0), "host prefill ms of one " + PROMPT + "-token prompt, median of each run's " + TIMED);
        try (LoadedModel m = ModelLoader.load("synthetic:llama-7b")) {
            Engine engine = Engine.discover();
            int[][] toks = new int[1][PROMPT];
            for (int i = 0; i < PROMPT; i++) toks[0][i] = rnd.nextInt(m.config().vocabSize());
            for (int round = -1; round < rounds; round++)
                for (String v : round < 0 ? variants.subList(0, 1) : variants) {
                    List<String> switches = ComparisonParts.switches(v);
                    String named = switches.isEmpty() ? "defaults" : "-D" + String.join(" -D", switches);
                    int r0 = round;
                    try {
                        CudaSettings.with(switches, () -> {
                            RunProfile prof = RunProfile.defaults().withModel("synthetic:llama-7b").withBackend("cuda").withShape(1, PROMPT, 8);
                            ExecutionPlan plan = engine.plan(m, prof, PROMPT + 32);
                            try (InferenceSession s = engine.open(m, plan, TelemetrySink.NOOP)) {
                                double ms = BenchDevice.median(time((CudaRunner) s.runner(), toks));
                                if (r0 < 0) System.out.printf("   warm-up: %s (%s): prefill %.3f ms, not counted%n", v, named, ms);
                                else {
                                    verdict.add(PROMPT, v, ms);
                                    System.out.printf("   round %d: %s (%s): prefill %.3f ms%n", r0 + 1, v, named, ms);
                                }
                            }
                            return null;
                        });
                    } catch (RuntimeException e) {   // one routing failing leaves the others' runs and the verdict over them
                        System.out.printf("   round %d: %s (%s): FAILED: %s%n", round + 1, v, named, e.getMessage());
                    }
                }
        }
        if (new java.util.HashSet<>(variants).size() > 1) System.out.print(verdict.table());
    }

    /** Host milliseconds of {@link #TIMED} prefills of {@code toks} into slot 0 after {@link #WARMUPS} untimed ones. */
    private static double[] time(CudaRunner r, int[][] toks) {
        int[] slots = {0};
        for (int i = 0; i < WARMUPS; i++) r.prefill(slots, toks, false);
        double[] t = new double[TIMED];
        for (int i = 0; i < TIMED; i++) {
            long p0 = System.nanoTime();
            r.prefill(slots, toks, false);
            t[i] = (System.nanoTime() - p0) / 1e6;
        }
        return t;
    }

    /** {@code -Dfathom.bench.prefillVariants}: CudaBench comparison parts, comma-separated (default nowgemm,wgon); one sentence for a name that is none. */
    static List<String> variants() { return GraphGaps.parts("fathom.bench.prefillVariants", "nowgemm,wgon"); }
}
