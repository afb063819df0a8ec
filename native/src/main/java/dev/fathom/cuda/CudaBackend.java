package dev.fathom.cuda;

import dev.fathom.engine.EngineException;
import dev.fathom.engine.backend.Backend;
import dev.fathom.engine.backend.ModelRunner;
import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.model.ModelConfig;
import dev.fathom.engine.parallel.ParallelLayout;
import dev.fathom.engine.plan.ExecutionPlan;
import dev.fathom.engine.telemetry.TelemetrySink;
import dev.fathom.engine.tensor.DType;
import dev.fathom.profiles.Precision;
import dev.fathom.profiles.RunProfile.Tier;

/** The CUDA backend. Without a driver it reports why and the engine runs on the CPU. */
public final class CudaBackend implements Backend {
    private static volatile String probe;

    static {
        // DJL's tokenizer picks a CUDA build of its native library when it sees a GPU and tries to download it;
        // the CPU build inside its jar is the one wanted (and the GPU machines have no network)
        if (System.getProperty("RUST_FLAVOR") == null && System.getenv("RUST_FLAVOR") == null) System.setProperty("RUST_FLAVOR", "cpu");
    }

    @Override public String id() { return "cuda"; }
    @Override public String description() { return "NVIDIA GPU through the CUDA driver API (FFM) and Fathom's kernels"; }

    @Override
    public String unavailableReason() {
        if (probe == null) {
            String r;
            try {
                Cuda.get();
                r = CudaModule.imagePresent() ? null
                        : "this build has no CUDA kernels (nvcc was missing when it was built) — running on CPU";
            } catch (LinkageError | RuntimeException e) {
                String m = String.valueOf(e.getMessage());
                r = m.contains("NO_DEVICE") ? "no CUDA device found — running on CPU" : "no CUDA driver found — running on CPU";
            }
            probe = r == null ? "" : r;
        }
        return probe.isEmpty() ? null : probe;
    }

    /**
     * Why a run over two GPUs cannot happen here (no driver, or fewer than two devices), or null; {@code what} names
     * the run for the message. For the multi-GPU benches and their tests.
     */
    static String twoGpusMissing(String what) {
        String why = new CudaBackend().unavailableReason();
        if (why != null) return why;
        int n = Cuda.get().deviceCount();
        return n < 2 ? n + " GPU; " + what + " needs 2" : null;
    }

    /** One line naming the devices and whether GPU 0 reaches GPU 1's memory. */
    static String twoGpusLine() {
        Cuda cu = Cuda.get();
        return String.format("devices: %d x %s (sm %s, %d SMs); GPU0 -> GPU1 peer access: %s", cu.deviceCount(), cu.name(),
                cu.computeCapability(), cu.smCount(), cu.canAccessPeer(Cuda.get(1)));
    }

    @Override
    public double measureReadBandwidth() {
        return unavailableReason() == null ? BenchDevice.deviceReadBandwidth() : 0;
    }

    /**
     * 2 when the model's projections are stored in BF16 at {@code precision} ({@link MatPacker#floatDtype}; not INT8) and
     * its head dim has a tensor-core prompt attention, so its KV cache is bf16 ({@link CudaAttention#bf16Cache}; the
     * kernels are built for sm_80 and later); else 4.
     */
    @Override
    public int kvElementBytes(LoadedModel model, Precision precision) {
        return kvElementBytes(model.config(), model.weights().layers().isEmpty() ? null : model.weights().layers().getFirst().q().weight().dtype(), precision);
    }

    /** The same from the model's config and its stored projection dtype (tested without a GPU). */
    static int kvElementBytes(ModelConfig cfg, DType stored, Precision precision) {
        if (stored == null || MatPacker.int8(precision)) return 4;
        return AttentionLaunch.kvElementBytes(CudaAttention.bf16Cache(cfg.headDim(), MatPacker.floatDtype(stored, precision), 8));
    }

    @Override
    public String cannotRun(ExecutionPlan plan) {
        return cannotRun(plan, unavailableReason() == null ? Cuda.get().deviceCount() : 1);
    }

    /** {@link #cannotRun(ExecutionPlan)} on a machine with {@code devices} GPUs. */
    static String cannotRun(ExecutionPlan plan, int devices) {
        var p = plan.parallel();
        if (p.ep() != 1)
            return "The cuda backend runs tensor, pipeline and data parallelism, not expert parallelism (ep=" + p.ep()
                    + "): set ep to 1, or use the cpu backend's ranks.";
        if (p.dp() > 1) {
            if (p.tp() * p.pp() != 1) return "dp=" + p.dp() + " on the cuda backend runs whole-model replicas: set --tp 1 and --pp 1 with --dp.";
            if (plan.profile().placement().kvCache() != Tier.DEVICE) return "dp=" + p.dp() + " keeps the KV cache on each GPU: set --kv-cache device.";
            if (plan.placement().streaming() && plan.profile().placement().weights() == Tier.NVME)
                return "The multi-GPU fetch of dp=" + p.dp() + " streams from host memory: use --weights host with --dp.";
            return CudaDpRunner.planError(p.dp(), devices);
        }
        Tier kv = plan.profile().placement().kvCache();
        if (kv == Tier.NVME)
            return "The cuda backend keeps the KV cache on the device or in host memory, not on NVMe: set --kv-cache device or host.";
        if (kv == Tier.HOST && p.tp() * p.pp() != 1)
            return "The KV cache in host memory is built for one GPU: set --kv-cache device, or --tp 1 and --pp 1.";
        if (p.tp() == 1 && p.pp() == 1) return null;
        if (plan.placement().streaming())
            return "Streamed weights (ZeRO-Inference) run on one GPU: set --tp 1 and --pp 1 or keep every layer on the device.";
        if (p.pp() > 1) return CudaPpStages.planError(plan.config(), p.tp(), p.pp(), devices);
        return CudaTpRunner.planError(plan.config(), p.tp(), devices);
    }

    @Override
    public ModelRunner open(LoadedModel model, ExecutionPlan plan, TelemetrySink sink) {
        try {
            Precision precision = plan.profile().precision();   // INT8: Int8Layout and the sbi8 kernels
            if (plan.parallel().pp() > 1)
                return CudaPpStages.open(model.config(), model.weights(), ParallelLayout.of(plan.parallel(), model.config()),
                        plan.slots(), plan.maxSeqLen(), sink, precision);
            if (plan.parallel().dp() > 1)
                return new CudaDpRunner(model.config(), model.weights(), plan.parallel().dp(), plan.slots(), plan.maxSeqLen(), sink, plan.placement(),
                        precision);
            if (plan.parallel().tp() > 1)
                return new CudaTpRunner(model.config(), model.weights(), plan.parallel().tp(), plan.slots(), plan.maxSeqLen(), sink, precision);
            return new CudaRunner(model.config(), model.weights(), plan.slots(), plan.maxSeqLen(), sink, plan.placement(),
                    plan.profile().placement().kvCache() == Tier.HOST, precision);
        } catch (Cuda.CudaException e) {
            if (e.getMessage().contains("OUT_OF_MEMORY"))
                throw new EngineException("The model does not fit in GPU memory (" + e.getMessage() + "): use a smaller batch, a shorter context or another backend.");
            throw e;
        }
    }
}
