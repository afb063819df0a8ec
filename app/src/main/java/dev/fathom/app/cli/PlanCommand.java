package dev.fathom.app.cli;

import dev.fathom.engine.Engine;
import dev.fathom.engine.EngineException;
import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.model.ModelLoader;
import dev.fathom.engine.plan.ExecutionPlan;
import dev.fathom.engine.tensor.DType;
import dev.fathom.profiles.Precision;
import dev.fathom.profiles.RunProfile;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.util.concurrent.Callable;

/** {@code fathom plan}: print the execution plan of a run (tiers, memory, transfer estimates) without running it. */
@Command(name = "plan", mixinStandardHelpOptions = true,
        description = "Print the execution plan for a model and settings without running it: layout, memory per tier, "
                + "which layers stream, the expected transfer time per layer and the batch at which compute hides it.")
public final class PlanCommand implements Callable<Integer> {
    @Mixin ModelOptions model;
    @Mixin PlacementOptions placement;
    @Mixin ParallelOptions parallel;

    @Option(names = "--batch", defaultValue = "1", description = "sequences per batch (default: ${DEFAULT-VALUE})")
    int batch;

    @Option(names = "--prompt-len", defaultValue = "16", description = "prompt tokens per sequence (default: ${DEFAULT-VALUE})")
    int promptLen;

    @Option(names = "--new-tokens", defaultValue = "32", description = "tokens generated per sequence (default: ${DEFAULT-VALUE})")
    int newTokens;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        if (promptLen < 1 || newTokens < 0) throw new EngineException("--prompt-len must be 1 or more and --new-tokens 0 or more.");
        placement.applyTo(RunProfile.Placement.DEFAULT); // reject bad sizes and tiers before loading the model
        Precision prec = Precision.parse(model.precision);
        DType synth = prec == Precision.F32 ? DType.F32 : prec == Precision.F16 ? DType.F16 : DType.BF16;
        RunProfile profile = placement.applyTo(parallel.applyTo(model.applyTo(RunProfile.defaults()))).withShape(batch, promptLen, newTokens);
        try (LoadedModel m = ModelLoader.load(model.model, new ModelLoader.Options(synth, model.seed == 0 ? 42 : model.seed), null)) {
            ExecutionPlan plan = Engine.discover().plan(m, profile, promptLen + newTokens);
            out.print(plan.describe());
            out.flush();
        }
        return 0;
    }
}
