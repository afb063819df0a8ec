package dev.fathom.cuda;

import dev.fathom.engine.EngineException;
import dev.fathom.engine.backend.Backend;
import dev.fathom.engine.backend.ModelRunner;
import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.plan.ExecutionPlan;
import dev.fathom.engine.telemetry.TelemetrySink;

/** The CUDA backend. Without a driver it reports why and the engine runs on the CPU. */
public final class CudaBackend implements Backend {
    private static volatile String probe;

    @Override public String id() { return "cuda"; }
    @Override public String description() { return "NVIDIA GPU through the CUDA driver API"; }

    @Override
    public String unavailableReason() {
        if (probe == null) {
            String r;
            try {
                jcuda.driver.JCudaDriver.setExceptionsEnabled(true);
                jcuda.driver.JCudaDriver.cuInit(0);
                int[] n = new int[1];
                jcuda.driver.JCudaDriver.cuDeviceGetCount(n);
                r = n[0] == 0 ? "no CUDA device found — running on CPU" : null;
            } catch (LinkageError | RuntimeException e) {
                r = "no CUDA driver found — running on CPU";
            }
            probe = r == null ? "" : r;
        }
        return probe.isEmpty() ? null : probe;
    }

    @Override
    public ModelRunner open(LoadedModel model, ExecutionPlan plan, TelemetrySink sink) {
        throw new EngineException("The CUDA kernels are not built into this version yet: use --backend cpu.");
    }
}
