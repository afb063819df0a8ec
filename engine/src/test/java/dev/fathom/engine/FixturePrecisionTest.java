package dev.fathom.engine;

import dev.fathom.engine.checkpoint.ReferenceOutputs;
import dev.fathom.engine.backend.Backends;
import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.model.ModelLoader;
import dev.fathom.engine.plan.ExecutionPlan;
import dev.fathom.engine.plan.PlanHeuristics;
import dev.fathom.engine.run.GenerationRequest;
import dev.fathom.engine.run.GenerationResult;
import dev.fathom.engine.run.InferenceSession;
import dev.fathom.engine.run.TokenListener;
import dev.fathom.engine.telemetry.TelemetrySink;
import dev.fathom.profiles.Precision;
import dev.fathom.profiles.RunProfile;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every fixture through the fast backend with weights converted at load: BF16 (round to nearest even)
 * and INT8 (per-group symmetric). Compute stays float32, so the error is the weights' rounding:
 * tolerances are relative L2 over all prompt logits, 1e-2 for BF16 (measured 3.5e-3 to 5.3e-3) and 3e-2 for INT8 (measured 1.3e-2 to 2.3e-2) (2^-8 relative per
 * weight for BF16, about half a step of max|w|/127 per group for INT8, averaged over dot products).
 * Teacher-forced prompt logits are compared for every position; the first generated token (the
 * argmax of the last prompt position, unaffected by earlier divergence) must match when the reference's
 * top-two logits are apart by more than the error allows.
 */
class FixturePrecisionTest {
    static Stream<Arguments> cases() {
        return Stream.of(Precision.BF16, Precision.INT8).flatMap(p -> Fixtures.MODELS.stream().map(m -> Arguments.of(p, m)));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void reproducesTransformersWithinPrecision(Precision precision, String fixture) {
        double tol = precision == Precision.BF16 ? 1e-2 : 3e-2;
        var ref = Fixtures.reference(fixture);
        try (LoadedModel m = ModelLoader.load(Fixtures.model(fixture).toString())) {
            int p = ref.inputIds()[0].length, n = ref.generatedIds()[0].length - p;
            RunProfile prof = RunProfile.defaults().withModel(fixture).withBackend("cpu").withPrecision(precision)
                    .withThreads(2).withShape(ref.inputIds().length, p, n);
            ExecutionPlan plan = PlanHeuristics.plan(prof, m.config(), m.weights().bytes(), p + n);
            try (InferenceSession s = new InferenceSession(Backends.discover().require("cpu").open(m, plan, TelemetrySink.NOOP), m.config(), TelemetrySink.NOOP)) {
                GenerationResult r = s.generate(new GenerationRequest(ref.inputIds(), n, RunProfile.Sampling.GREEDY.withStopOnEos(false), true, true),
                        TokenListener.NONE, null);
                double pe = ReferenceOutputs.relError(r.promptLogits(), ref.promptLogits());
                System.out.printf("PRECISION %s %s prompt %.3g%n", precision.id(), fixture, pe);
                assertTrue(pe <= tol, fixture + " " + precision.id() + " prompt logits rel error " + pe + " > " + tol);
                assertTrue(pe > 0, "converted weights must change the logits at least a little (were they converted?)");
                for (int b = 0; b < ref.inputIds().length; b++) {
                    float[] last = ref.promptLogits()[b][p - 1];
                    int best = 0, second = -1;
                    for (int i = 1; i < last.length; i++) if (last[i] > last[best]) best = i;
                    for (int i = 0; i < last.length; i++) if (i != best && (second < 0 || last[i] > last[second])) second = i;
                    double norm = 0;
                    for (float v : last) norm += v * v;
                    double margin = last[best] - last[second], allowed = 4 * tol * Math.sqrt(norm / last.length);
                    if (margin > allowed)
                        assertEquals(ref.generatedIds()[b][p], r.tokens()[b][p], fixture + " sequence " + b + " first generated token");
                }
            }
        }
    }
}
