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
import dev.fathom.engine.plan.WeightPlacement;
import dev.fathom.engine.calibrate.ComputeRate;
import dev.fathom.engine.calibrate.DiskBandwidth;
import dev.fathom.engine.cpu.CpuBackend;
import dev.fathom.engine.cpu.CpuKernels;
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
        WeightPlacement.WeightSizes sizes = WeightPlacement.WeightSizes.of(m.weights());
        WeightPlacement.Links links = links(p, sizes);
        if (links != WeightPlacement.Links.UNKNOWN) {
            // the compute rate of the kernels this run will use (CPU backends), for the hiding-batch estimate
            double f = computeRate(PlanHeuristics.plan(p.withPlacement(RunProfile.Placement.DEFAULT), m.config(), sizes, maxSeqLen, links));
            if (f > 0) links = new WeightPlacement.Links(links.nvmeReadBps(), links.hostCopyBps(), f,
                    links.source().replace("reference kernels", p.backend() + " kernels"));
        }
        Backend b = backends.find(p.backend());
        return PlanHeuristics.plan(p, m.config(), sizes, maxSeqLen, links, b == null ? 4 : b.kvElementBytes(m, p.precision()));
    }

    private static final java.util.Map<String, Double> RATES = new java.util.concurrent.ConcurrentHashMap<>();

    /** FLOP/s of a CPU backend's kernels for {@code plan} on a 1024 x 1024 BF16 projection, once per JVM; 0 for other backends. */
    private double computeRate(ExecutionPlan plan) {
        if (!(backends.find(plan.backend()) instanceof CpuBackend cb)) return 0;
        String key = plan.backend() + "/" + plan.profile().threads() + "/" + plan.profile().precision();
        return RATES.computeIfAbsent(key, k -> {
            CpuKernels kernels = cb.kernels(plan);
            try {
                ComputeRate.measure(kernels, 1024, 16); // warm-up
                return ComputeRate.measure(kernels, 1024, 16);
            } finally {
                kernels.close();
            }
        });
    }

    /** Link speeds for the streaming estimates, measured (once per JVM) only when the placement may stream. */
    public static WeightPlacement.Links links(RunProfile p, WeightPlacement.WeightSizes sizes) {
        var pl = p.placement();
        boolean streams = pl.weights() != RunProfile.Tier.DEVICE || pl.deviceMemory() > 0 && pl.deviceMemory() < sizes.total();
        if (!streams) return WeightPlacement.Links.UNKNOWN;
        boolean disk = pl.weights() == RunProfile.Tier.NVME || pl.hostMemory() > 0;
        double nvme = 0;
        String src = "measured: host copy, reference kernels";
        if (disk) {
            var d = DiskBandwidth.cached(java.nio.file.Path.of(pl.nvmeDir() != null ? pl.nvmeDir() : System.getProperty("java.io.tmpdir")));
            nvme = d.bytesPerSecond();
            src = "measured: disk " + (d.direct() ? "O_DIRECT" : "page cache") + ", host copy, reference kernels";
        }
        return new WeightPlacement.Links(nvme, DiskBandwidth.hostCopy(), ComputeRate.reference(), src);
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
