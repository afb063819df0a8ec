package dev.fathom.profiles.export;

import dev.fathom.profiles.AtomicFiles;
import dev.fathom.profiles.HardwareProfile;
import dev.fathom.profiles.JsonText;
import dev.fathom.profiles.Precision;
import dev.fathom.profiles.ProfileException;
import dev.fathom.profiles.RunProfile;
import dev.fathom.profiles.RunProfile.Tier;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.SequencedMap;

/**
 * Turns a {@link RunProfile} plus an {@link ExportModel} and a {@link HardwareProfile} into the files
 * of a DeepSpeed deployment: the target's config, a {@code hostfile}, {@code launch.sh},
 * {@code run_inference.py} and {@code EXPORT_NOTES.md}. Whatever the profile asks for that the target
 * cannot express becomes a warning, returned and written to {@code EXPORT_NOTES.md}. Every file is
 * written atomically. Rendering is deterministic: the same inputs give the same bytes.
 */
public final class Exporter {
    /** The notes file written beside every export. */
    public static final String NOTES_FILE = "EXPORT_NOTES.md";

    private Exporter() {}

    /**
     * The files of an export, rendered but not written.
     *
     * @param target   the target
     * @param files    file name to content, in writing order
     * @param warnings what could not be expressed
     */
    public record Rendered(Target target, SequencedMap<String, String> files, List<String> warnings) {
        public Rendered {
            files = java.util.Collections.unmodifiableSequencedMap(new LinkedHashMap<>(files));
            warnings = List.copyOf(warnings);
        }
    }

    /** Renders and writes one target's files into {@code outDir} (created if needed). */
    public static ExportResult export(Target target, RunProfile p, ExportModel m, HardwareProfile hw,
                                      ExportOptions opts, Path outDir) {
        Rendered r = render(target, p, m, hw, opts);
        List<Path> written = new ArrayList<>();
        for (var e : r.files().entrySet()) {
            Path f = outDir.resolve(e.getKey());
            AtomicFiles.writeString(f, e.getValue());
            if (e.getKey().endsWith(".sh")) f.toFile().setExecutable(true, false);
            written.add(f);
        }
        return new ExportResult(target, outDir, written, r.warnings());
    }

    /** Writes every target, each into {@code outDir/<target id>/}. */
    public static List<ExportResult> exportAll(RunProfile p, ExportModel m, HardwareProfile hw, ExportOptions opts,
                                               Path outDir) {
        List<ExportResult> out = new ArrayList<>();
        for (Target t : Target.values()) out.add(export(t, p, m, hw, opts, outDir.resolve(t.id())));
        return out;
    }

    /** Renders one target without writing anything (for previews and tests). */
    public static Rendered render(Target target, RunProfile p, ExportModel m, HardwareProfile hw, ExportOptions opts) {
        Ctx c = new Ctx(target, p, m, hw, opts == null ? ExportOptions.defaults() : opts);
        c.checkCommon();
        SequencedMap<String, String> files = new LinkedHashMap<>();
        switch (target) {
            case DEEPSPEED -> {
                c.layout(p.parallel().tp() * p.parallel().dp());
                files.put(target.configFile(), JsonText.pretty(ConfigWriters.inference(c)));
            }
            case ZERO_INFERENCE -> {
                c.layout(p.parallel().dp());
                files.put(target.configFile(), JsonText.pretty(ConfigWriters.zero(c)));
            }
            case MII -> {
                c.layout(p.parallel().tp() * p.parallel().dp());
                files.put(target.configFile(), JsonText.pretty(ConfigWriters.mii(c)));
            }
        }
        files.put("hostfile", c.layout.hostfile());
        files.put("launch.sh", Scripts.launch(c));
        files.put("run_inference.py", Scripts.entry(c));
        files.put(NOTES_FILE, Notes.render(c, files.sequencedKeySet()));
        return new Rendered(target, files, c.warnings);
    }

    /** Everything one rendering needs, plus the warnings it collects. */
    static final class Ctx {
        final Target target;
        final RunProfile p;
        final ExportModel m;
        final HardwareProfile hw;
        final ExportOptions opts;
        final List<String> warnings = new ArrayList<>();
        /** Facts about how the profile was mapped, for the notes (not warnings). */
        final List<String> mapping = new ArrayList<>();
        Layout layout;

        Ctx(Target target, RunProfile p, ExportModel m, HardwareProfile hw, ExportOptions opts) {
            this.target = target;
            this.p = p;
            this.m = m;
            this.hw = hw;
            this.opts = opts;
        }

        void warn(String sentence) { if (!warnings.contains(sentence)) warnings.add(sentence); }

        void layout(int world) { layout = Layout.of(world, hw, opts, this::warn); }

        /** The precision the deployment runs: the profile's, or the checkpoint's for {@code auto}. */
        Precision precision() { return p.precision() == Precision.AUTO ? m.precision() : p.precision(); }

        /** DeepSpeed's dtype string for a precision. */
        static String dsDtype(Precision pr) {
            return switch (pr) {
                case F32 -> "fp32";
                case F16 -> "fp16";
                case BF16 -> "bf16";
                case INT8 -> "int8";
                case AUTO -> throw new IllegalArgumentException("auto has no DeepSpeed dtype");
            };
        }

        /** The dtype the weights are loaded in by the entry script (int8 quantizes from half precision). */
        Precision loadPrecision() {
            Precision pr = precision();
            return pr == Precision.INT8 ? (m.precision() == Precision.BF16 ? Precision.BF16 : Precision.F16) : pr;
        }

        int maxTokens() { return p.promptLen() + p.newTokens(); }

        String deploymentName() {
            if (opts.deploymentName() != null && !opts.deploymentName().isBlank()) return opts.deploymentName();
            String base = m.hfModel().replaceAll("/+$", "");
            base = base.substring(base.lastIndexOf('/') + 1).toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9-]+", "-");
            return (base.isEmpty() ? "model" : base) + "-deployment";
        }

        static String gib(double bytes) { return String.format(Locale.ROOT, "%.1f GiB", bytes / (1L << 30)); }

        void checkCommon() {
            var par = p.parallel();
            if (m.numHeads() % par.tp() != 0) {
                throw new ProfileException("profile", "$.parallel.tp", "$.parallel.tp is " + par.tp()
                        + ", which does not divide the model's " + m.numHeads() + " attention heads.");
            }
            if (par.tp() > m.numKvHeads() ? par.tp() % m.numKvHeads() != 0 : m.numKvHeads() % par.tp() != 0) {
                warn("tp=" + par.tp() + " does not line up with the model's " + m.numKvHeads()
                        + " key/value heads, so DeepSpeed must split or replicate them unevenly.");
            }
            if (m.isMoe() && m.numExperts() % par.ep() != 0) {
                throw new ProfileException("profile", "$.parallel.ep", "$.parallel.ep is " + par.ep()
                        + ", which does not divide the model's " + m.numExperts() + " experts.");
            }
            if (!m.isMoe() && par.ep() > 1) {
                warn("ep=" + par.ep() + " has no effect: the model has no experts.");
            }
            if (maxTokens() > m.maxPositions()) {
                warn("promptLen + newTokens = " + maxTokens() + " exceeds the model's " + m.maxPositions()
                        + " positions; the deployment will fail or truncate at that length.");
            }
            if (par.promptMicroBatches() > 0 || par.genMicroBatches() > 0) {
                warn("DeepSpeed has no setting for separate prompt (" + par.promptMicroBatches() + ") and generation ("
                        + par.genMicroBatches() + ") micro-batch counts (the paper's hybrid pipeline schedule); "
                        + "the export runs each batch of " + p.batch() + " sequences whole.");
            }
            if (m.isMoe() && par.ep() > 1 && target != Target.DEEPSPEED) {
                warn("Expert parallelism ep=" + par.ep() + " (with the " + par.moeAllToAll()
                        + " all-to-all) is not a " + target.title() + " setting; experts are placed by the target's own scheme.");
            }
            if (target != Target.ZERO_INFERENCE && (p.placement().weights() != Tier.DEVICE || p.placement().kvCache() != Tier.DEVICE)) {
                warn(target.title() + " keeps weights and KV cache in GPU memory; the profile's placement (weights on "
                        + tierName(p.placement().weights()) + ", KV cache on " + tierName(p.placement().kvCache())
                        + ") is expressed only by the zero-inference target.");
            }
            if (target != Target.ZERO_INFERENCE && p.placement().deviceMemory() > 0) {
                warn("The device memory budget of " + gib(p.placement().deviceMemory()) + " has no "
                        + target.title() + " setting; DeepSpeed uses what the GPU has.");
            }
            if (target != Target.ZERO_INFERENCE && "gpu".equals(hw.deviceKind())) {
                double perGpu = (double) m.weightBytes() / par.tp() * bytesRatio();
                if (perGpu > hw.memoryPerDevice()) {
                    warn("The weights need about " + gib(perGpu) + " per GPU at tp=" + par.tp() + ", more than the "
                            + gib(hw.memoryPerDevice()) + " of " + hw.name() + "; raise tp or use the zero-inference target.");
                }
            }
            mapping.add("Not carried into DeepSpeed (Fathom engine settings): backend `" + p.backend() + "`, threads "
                    + p.threads() + "; the profile's hardware name `" + p.hardware() + "` is not used: this export was planned for `"
                    + hw.name() + "` (GPUs per host and memory checks).");
        }

        /** Deployed bytes per checkpoint byte (int8 halves half-precision weights). */
        double bytesRatio() {
            Precision pr = precision();
            int deployed = switch (pr) { case F32 -> 4; case INT8 -> 1; default -> 2; };
            return (double) deployed / m.bytesPerElement();
        }

        static String tierName(Tier t) { return t.name().toLowerCase(Locale.ROOT); }
    }
}
