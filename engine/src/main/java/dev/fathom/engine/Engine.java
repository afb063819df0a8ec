package dev.fathom.engine;

import dev.fathom.engine.backend.Backend;
import dev.fathom.engine.backend.Backends;
import dev.fathom.engine.backend.ModelRunner;
import dev.fathom.engine.cpu.CpuBackend;
import dev.fathom.engine.parallel.ParallelLayout;
import dev.fathom.engine.parallel.ParallelRunner;
import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.plan.ExecutionPlan;
import dev.fathom.engine.plan.PlanHeuristics;
import dev.fathom.engine.run.InferenceSession;
import dev.fathom.engine.telemetry.TelemetrySink;
import dev.fathom.profiles.RunProfile;

/**
 * The front door used by the CLI, the workbench and benchmarks: plan a profile for a loaded model,
 * choose its backend, and open a session.
 */
public final class Engine {
    private final Backends backends;

    public Engine(Backends backends) { this.backends = backends; }

    public static Engine discover() { return new Engine(Backends.discover()); }

    public Backends backends() { return backends; }

    public ExecutionPlan plan(LoadedModel m, RunProfile p, int maxSeqLen) {
        return PlanHeuristics.plan(p, m.config(), m.weights().bytes(), maxSeqLen);
    }

    public InferenceSession open(LoadedModel m, ExecutionPlan plan, TelemetrySink sink) {
        Backend b = backends.require(plan.backend());
        String why = b.cannotRun(plan);
        if (why != null) throw new EngineException(why);
        ModelRunner runner = ParallelLayout.isParallel(plan.parallel()) && b instanceof CpuBackend cpu
                ? ParallelRunner.open(m, plan, () -> cpu.kernels(ParallelRunner.perRankPlan(plan, m.config())), sink)
                : b.open(m, plan, sink);
        return new InferenceSession(runner, m.config(), sink);
    }
}
