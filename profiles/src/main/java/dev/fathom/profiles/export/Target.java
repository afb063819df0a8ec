package dev.fathom.profiles.export;

import dev.fathom.profiles.ProfileException;

import java.util.Locale;

/** What an export produces. */
public enum Target {
    /** {@code deepspeed.init_inference}: tensor parallelism, kernel injection, MoE, INT8. */
    DEEPSPEED("deepspeed", "ds_inference_config.json", "DeepSpeed-Inference (deepspeed.init_inference)"),
    /** ZeRO-Inference: ZeRO stage 3 with weights offloaded to CPU memory or NVMe. */
    ZERO_INFERENCE("zero-inference", "ds_config.json", "ZeRO-Inference (ZeRO stage 3 parameter offload)"),
    /** DeepSpeed-MII / FastGen persistent deployment. */
    MII("mii", "mii_config.json", "DeepSpeed-MII / FastGen (mii.serve)");

    private final String id;
    private final String configFile;
    private final String title;

    Target(String id, String configFile, String title) {
        this.id = id;
        this.configFile = configFile;
        this.title = title;
    }

    /** The CLI name: {@code deepspeed}, {@code zero-inference} or {@code mii}. */
    public String id() { return id; }

    /** The name of the config file this target writes. */
    public String configFile() { return configFile; }

    /** A title for people. */
    public String title() { return title; }

    /** Parses a CLI name (case-insensitive; {@code zero_inference} also accepted). */
    public static Target parse(String s) {
        String n = s == null ? "" : s.trim().toLowerCase(Locale.ROOT).replace('_', '-');
        for (Target t : values()) if (t.id.equals(n)) return t;
        throw new ProfileException(null, null, "Unknown export target '" + s + "': use deepspeed, zero-inference or mii.");
    }
}
