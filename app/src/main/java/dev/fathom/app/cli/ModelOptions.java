package dev.fathom.app.cli;

import dev.fathom.profiles.Precision;
import dev.fathom.profiles.RunProfile;
import picocli.CommandLine.Option;

/** Options shared by the commands that run a model. */
public final class ModelOptions {
    @Option(names = "--model", defaultValue = RunProfile.DEFAULT_MODEL, paramLabel = "DIR|synthetic:PRESET",
            description = "checkpoint folder or synthetic preset (default: ${DEFAULT-VALUE}, random weights)")
    public String model;

    @Option(names = "--backend", defaultValue = "cpu", paramLabel = "reference|cpu|cuda",
            description = "reference (plain Java), cpu (fastest CPU path) or cuda (default: ${DEFAULT-VALUE})")
    public String backend;

    @Option(names = "--precision", defaultValue = "auto", paramLabel = "auto|f32|bf16|f16|int8",
            description = "weight precision (default: the checkpoint's own; synthetic models: bf16)")
    public String precision;

    @Option(names = "--threads", defaultValue = "0", description = "CPU worker threads (0 = one per core)")
    public int threads;

    @Option(names = "--seed", defaultValue = "0", description = "seed for sampling and for synthetic weights")
    public long seed;

    public RunProfile applyTo(RunProfile p) {
        if (threads < 0) throw new dev.fathom.engine.EngineException("--threads must be 0 (one per core) or more, got " + threads + ".");
        String b = backend;
        if ("cuda".equals(b)) {
            // no driver or no kernels: say why once and run on the CPU rather than fail
            var cuda = dev.fathom.engine.backend.Backends.discover().find("cuda");
            String why = cuda == null ? "no CUDA backend in this build — running on CPU" : cuda.unavailableReason();
            if (why != null) {
                System.err.println("fathom: " + why);
                b = "cpu";
            }
        }
        return p.withModel(model).withBackend(b).withPrecision(Precision.parse(precision)).withThreads(threads);
    }
}
