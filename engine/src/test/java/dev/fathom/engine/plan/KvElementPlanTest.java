package dev.fathom.engine.plan;

import dev.fathom.engine.Engine;
import dev.fathom.engine.Fixtures;
import dev.fathom.engine.backend.Backend;
import dev.fathom.engine.backend.Backends;
import dev.fathom.engine.backend.ModelRunner;
import dev.fathom.engine.cpu.KvCache;
import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.model.ModelLoader;
import dev.fathom.engine.telemetry.TelemetrySink;
import dev.fathom.profiles.Precision;
import dev.fathom.profiles.RunProfile;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The plan sizes the KV cache in the element type the chosen backend keeps ({@link Backend#kvElementBytes}). */
class KvElementPlanTest {
    /** A backend that keeps 2-byte cache elements for BF16 runs and never opens. */
    static final class HalfKv implements Backend {
        Precision asked;
        @Override public String id() { return "halfkv"; }
        @Override public String description() { return "test backend with a bf16 KV cache"; }
        @Override public String unavailableReason() { return null; }
        @Override public int kvElementBytes(LoadedModel model, Precision precision) {
            asked = precision;
            return precision == Precision.F32 ? 4 : 2;
        }
        @Override public ModelRunner open(LoadedModel model, ExecutionPlan plan, TelemetrySink sink) { throw new UnsupportedOperationException(); }
    }

    @Test
    void theBackendsElementSizeSetsThePlansKvCache() {
        HalfKv half = new HalfKv();
        Engine engine = new Engine(Backends.of(List.of(half)));
        try (LoadedModel m = ModelLoader.load(Fixtures.model("llama-tiny").toString())) {
            var c = m.config();
            RunProfile p = RunProfile.defaults().withModel("llama-tiny").withBackend("halfkv").withShape(4, 20, 12);
            long f32 = KvCache.bytesFor(c.numLayers(), 4, 32, c.kvDim());
            ExecutionPlan plan = engine.plan(m, p, 32);
            assertEquals(f32 / 2, plan.kvBytes());
            assertTrue(plan.notes().stream().anyMatch(n -> n.startsWith("KV cache in bf16 on the halfkv backend")), plan.notes().toString());
            assertTrue(plan.describe().contains("KV cache in bf16"), "the CLI's plan prints it");
            assertEquals(Precision.AUTO, half.asked, "the profile's precision reaches the backend");
            ExecutionPlan f = engine.plan(m, p.withPrecision(Precision.F32), 32);
            assertEquals(f32, f.kvBytes());
            assertTrue(f.notes().stream().noneMatch(n -> n.contains("bf16")), f.notes().toString());
            assertEquals(f32, PlanHeuristics.plan(p, c, m.weights().bytes(), 32).kvBytes(), "without a backend's word: float32");
        }
    }
}
