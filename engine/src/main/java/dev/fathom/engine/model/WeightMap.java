package dev.fathom.engine.model;

import java.util.EnumMap;
import java.util.Map;

/**
 * A family's declarative table from {@link Slot} to Hugging Face tensor name. {@code {L}} stands for the
 * layer index and {@code {E}} for the expert index; these are the only substitutions ever made.
 */
public final class WeightMap {
    private final Map<Slot, String> names = new EnumMap<>(Slot.class);

    public WeightMap put(Slot s, String name) {
        names.put(s, name);
        return this;
    }

    /** A copy to extend (a family that shares another's names). */
    public WeightMap copy() {
        WeightMap m = new WeightMap();
        m.names.putAll(names);
        return m;
    }

    public WeightMap remove(Slot... slots) {
        for (Slot s : slots) names.remove(s);
        return this;
    }

    public boolean has(Slot s) { return names.containsKey(s); }

    public String name(Slot s) {
        String n = names.get(s);
        if (n == null) throw new IllegalStateException("no HF name for slot " + s);
        return n;
    }

    public String name(Slot s, int layer) { return name(s).replace("{L}", Integer.toString(layer)); }

    public String name(Slot s, int layer, int expert) {
        return name(s, layer).replace("{E}", Integer.toString(expert));
    }

    public Map<Slot, String> asMap() { return Map.copyOf(names); }
}
