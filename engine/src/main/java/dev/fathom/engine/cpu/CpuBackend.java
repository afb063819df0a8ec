package dev.fathom.engine.cpu;

import dev.fathom.engine.backend.Backend;
import dev.fathom.engine.backend.ModelRunner;
import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.plan.ExecutionPlan;
import dev.fathom.engine.telemetry.TelemetrySink;

import java.util.function.Function;

/**
 * CPU backends: {@code reference} (plain Java, the yardstick) and {@code cpu} (the fastest CPU kernels
 * available). Both run the same {@link CpuModel} forward pass with different {@link CpuKernels}.
 */
public final class CpuBackend implements Backend {
    private final String id;
    private final String description;
    private final Function<ExecutionPlan, CpuKernels> kernels;

    public CpuBackend(String id, String description, Function<ExecutionPlan, CpuKernels> kernels) {
        this.id = id;
        this.description = description;
        this.kernels = kernels;
    }

    public static CpuBackend reference() {
        return new CpuBackend("reference", "plain Java reference kernels (float32 accumulation, one thread)", p -> new ReferenceKernels());
    }

    /** The fastest CPU kernels; until the Vector API path lands, the reference kernels. */
    public static CpuBackend fast() {
        return new CpuBackend("cpu", "CPU kernels", p -> new ReferenceKernels());
    }

    public CpuKernels kernels(ExecutionPlan plan) { return kernels.apply(plan); }

    @Override public String id() { return id; }
    @Override public String description() { return description; }
    @Override public String unavailableReason() { return null; }

    @Override
    public ModelRunner open(LoadedModel model, ExecutionPlan plan, TelemetrySink sink) {
        CpuModel m = CpuModel.whole(model.config(), model.weights(), kernels.apply(plan), plan.slots(), plan.maxSeqLen(), sink);
        String layout = "1 rank on the CPU (" + id + " kernels)";
        if (plan.streaming()) {
            var s = dev.fathom.engine.offload.WeightStreamer.install(m, model.weights().layers(), plan.placement(), sink);
            layout += String.format(", %d of %d layers streamed through a ring of %d (prefetch %d)",
                    model.config().numLayers() - plan.placement().count(dev.fathom.profiles.RunProfile.Tier.DEVICE),
                    model.config().numLayers(), s.slots(), s.prefetch());
            for (String note : s.notes()) layout += "; " + note;
        }
        return new CpuRunner(m, model.config().vocabSize(), plan.slots(), plan.maxSeqLen(), layout);
    }
}
