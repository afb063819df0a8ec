package dev.fathom.profiles;

import java.util.Locale;

/** Weight precision of a run. Activations and accumulation are always float32 on the CPU. */
public enum Precision {
    /** keep the checkpoint's own dtype (F32, F16 or BF16) */
    AUTO, F32, BF16, F16, INT8;

    public String id() { return name().toLowerCase(Locale.ROOT); }

    /** Parses "f32", "bf16", "f16", "int8" or "auto"; throws with a sentence naming the value otherwise. */
    public static Precision parse(String s) {
        for (Precision p : values()) if (p.id().equalsIgnoreCase(s.trim())) return p;
        throw new IllegalArgumentException("Unknown precision '" + s + "': use one of auto, f32, bf16, f16, int8.");
    }
}
