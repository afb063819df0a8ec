package dev.fathom.profiles.export;

import dev.fathom.profiles.export.Exporter.Ctx;

import java.util.Collection;

/** {@code EXPORT_NOTES.md}: what was exported, how the profile was mapped, and every warning. */
final class Notes {
    private Notes() {}

    static String render(Ctx c, Collection<String> files) {
        var p = c.p;
        var par = p.parallel();
        var m = c.m;
        StringBuilder sb = new StringBuilder();
        sb.append("# Fathom export: ").append(c.target.title()).append("\n\n");
        sb.append("- Model: `").append(m.hfModel()).append("` (family `").append(m.family()).append("`, ")
                .append(m.numLayers()).append(" layers, hidden ").append(m.hiddenSize()).append(", ")
                .append(m.numHeads()).append(" heads / ").append(m.numKvHeads()).append(" KV heads");
        if (m.isMoe()) sb.append(", ").append(m.numExperts()).append(" experts, top-").append(m.expertsPerToken());
        sb.append(", ").append(m.dtype()).append(" checkpoint of ").append(Ctx.gib(m.weightBytes())).append(")\n");
        sb.append("- Run: precision ").append(p.precision().id());
        if (p.precision() == dev.fathom.profiles.Precision.AUTO) sb.append(" (").append(c.precision().id()).append(")");
        sb.append(", batch ").append(p.batch()).append(", prompt ").append(p.promptLen()).append(" + ")
                .append(p.newTokens()).append(" new tokens\n");
        sb.append("- Parallel: tp=").append(par.tp()).append(" pp=").append(par.pp()).append(" ep=").append(par.ep())
                .append(" dp=").append(par.dp()).append("; placement: weights on ").append(Ctx.tierName(p.placement().weights()))
                .append(", KV cache on ").append(Ctx.tierName(p.placement().kvCache())).append('\n');
        sb.append("- Hardware: `").append(c.hw.name()).append("`, ").append(c.layout.gpusPerNode())
                .append(" GPUs per host; this export uses ").append(Scripts.plural(c.layout.world(), "GPU")).append(" on ")
                .append(Scripts.plural(c.layout.nodes(), "host")).append('\n');
        sb.append("- DeepSpeed version: ").append(c.opts.deepspeedVersion()).append("\n\n");
        sb.append("## Files\n\n");
        for (String f : files) sb.append("- `").append(f).append("`: ").append(describe(c.target, f)).append('\n');
        sb.append("- `").append(Exporter.NOTES_FILE).append("`: this file\n\n");
        sb.append("## Warnings\n\n");
        if (c.warnings.isEmpty()) {
            sb.append("None: everything the profile asks for is expressed in these files.\n");
        } else {
            for (String w : c.warnings) sb.append("- ").append(w).append('\n');
        }
        sb.append("\n## Mapping notes\n\n");
        for (String n : c.mapping) sb.append("- ").append(n).append('\n');
        return sb.toString();
    }

    private static String describe(Target t, String file) {
        return switch (file) {
            case "ds_inference_config.json" -> "the config passed to `deepspeed.init_inference(model, config=...)`";
            case "ds_config.json" -> "the DeepSpeed config for ZeRO stage 3 inference (`deepspeed.initialize`)";
            case "mii_config.json" -> "the config passed to `mii.serve(mii_config=...)`";
            case "hostfile" -> "one `host slots=N` line per host";
            case "launch.sh" -> t == Target.MII ? "runs the entry script; MII starts its own launcher"
                    : "the `deepspeed` launcher command";
            case "run_inference.py" -> "loads the model with the config and generates one batch";
            default -> "";
        };
    }
}
