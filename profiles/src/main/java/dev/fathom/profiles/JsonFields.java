package dev.fathom.profiles;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * Reads the fields of one JSON object with its JSON path in hand, so every problem becomes one
 * sentence naming the path. Unknown fields are rejected by {@link #rejectUnknown()}.
 */
final class JsonFields {
    private final ObjectNode node;
    private final String path;
    private final String source;
    private final Set<String> known = new LinkedHashSet<>();

    private JsonFields(ObjectNode node, String path, String source) {
        this.node = node;
        this.path = path;
        this.source = source;
    }

    /** The root of a document, which must be an object. */
    static JsonFields root(JsonNode node, String source) {
        if (!(node instanceof ObjectNode o)) {
            throw new ProfileException(source, "$", "$ must be a JSON object, found " + show(node) + ".");
        }
        return new JsonFields(o, "$", source);
    }

    String pathOf(String field) { return path + "." + field; }

    ProfileException error(String field, String what) {
        String p = field == null ? path : pathOf(field);
        return new ProfileException(source, p, p + " " + what);
    }

    private JsonNode get(String field) {
        known.add(field);
        JsonNode v = node.get(field);
        return v == null || v.isNull() ? null : v;
    }

    boolean has(String field) {
        known.add(field);
        JsonNode v = node.get(field);
        return v != null && !v.isNull();
    }

    /** A nested object, or null when absent. */
    JsonFields object(String field) {
        JsonNode v = get(field);
        if (v == null) return null;
        if (!(v instanceof ObjectNode o)) throw error(field, "must be an object, found " + show(v) + ".");
        return new JsonFields(o, pathOf(field), source);
    }

    String string(String field, String dflt) {
        JsonNode v = get(field);
        if (v == null) return dflt;
        if (!v.isTextual()) throw error(field, "must be a string, found " + show(v) + ".");
        return v.asText();
    }

    String requiredString(String field, String hint) {
        String s = string(field, null);
        if (s == null || s.isBlank()) throw error(field, "is required (" + hint + ").");
        return s;
    }

    /** A string that must be one of {@code allowed} (compared case-insensitively, returned lowercase). */
    String choice(String field, String dflt, List<String> allowed) {
        JsonNode v = get(field);
        if (v == null) return dflt;
        String s = v.isTextual() ? v.asText().trim().toLowerCase(Locale.ROOT) : null;
        if (s == null || !allowed.contains(s)) {
            throw error(field, "must be one of " + String.join(", ", allowed) + ", found " + show(v) + ".");
        }
        return s;
    }

    <E extends Enum<E>> E enumValue(String field, E dflt, Class<E> type) {
        List<String> ids = new ArrayList<>();
        for (E e : type.getEnumConstants()) ids.add(e.name().toLowerCase(Locale.ROOT));
        String s = choice(field, null, ids);
        return s == null ? dflt : Enum.valueOf(type, s.toUpperCase(Locale.ROOT));
    }

    boolean bool(String field, boolean dflt) {
        JsonNode v = get(field);
        if (v == null) return dflt;
        if (!v.isBoolean()) throw error(field, "must be true or false, found " + show(v) + ".");
        return v.booleanValue();
    }

    int positiveInt(String field, int dflt) { return intIn(field, dflt, 1, "a positive integer"); }

    int nonNegativeInt(String field, int dflt) { return intIn(field, dflt, 0, "a non-negative integer"); }

    int requiredInt(String field, int min, String kind) {
        if (!has(field)) throw error(field, "is required (" + kind + ").");
        return intIn(field, 0, min, kind);
    }

    private int intIn(String field, int dflt, int min, String kind) {
        long v = longIn(field, dflt, min, kind);
        if (v > Integer.MAX_VALUE) throw error(field, "must be " + kind + " below 2^31, found " + v + ".");
        return (int) v;
    }

    long nonNegativeLong(String field, long dflt) { return longIn(field, dflt, 0, "a non-negative integer"); }

    long positiveLong(String field, long dflt) { return longIn(field, dflt, 1, "a positive integer"); }

    long anyLong(String field, long dflt) { return longIn(field, dflt, Long.MIN_VALUE, "an integer"); }

    private long longIn(String field, long dflt, long min, String kind) {
        JsonNode v = get(field);
        if (v == null) return dflt;
        long x;
        if (v.isIntegralNumber() && v.canConvertToLong()) {
            x = v.longValue();
        } else if (v.isFloatingPointNumber() && v.doubleValue() == Math.rint(v.doubleValue())
                && Math.abs(v.doubleValue()) < 9.0e18) {
            x = (long) v.doubleValue();
        } else {
            throw error(field, "must be " + kind + ", found " + show(v) + ".");
        }
        if (x < min) throw error(field, "must be " + kind + ", found " + show(v) + ".");
        return x;
    }

    /** A finite number {@code >= min} (or {@code > min} when {@code strict}). */
    double number(String field, double dflt, double min, boolean strict) {
        JsonNode v = get(field);
        if (v == null) return dflt;
        String kind = (strict ? "a number above " : "a number of at least ") + trim(min);
        if (!v.isNumber() || !Double.isFinite(v.doubleValue())) throw error(field, "must be " + kind + ", found " + show(v) + ".");
        double x = v.doubleValue();
        if (strict ? x <= min : x < min) throw error(field, "must be " + kind + ", found " + show(v) + ".");
        return x;
    }

    /** An object whose values are non-negative numbers, keyed by names from {@code allowedKeys}. */
    Map<String, Double> numberMap(String field, List<String> allowedKeys) {
        JsonFields o = object(field);
        if (o == null) return Map.of();
        var out = new java.util.LinkedHashMap<String, Double>();
        for (var it = o.node.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!allowedKeys.contains(k)) {
                throw o.error(k, "is not a known field (known: " + String.join(", ", allowedKeys) + ").");
            }
            out.put(k, o.number(k, 0, 0, false));
        }
        return out;
    }

    /** Throws for the first field that was never asked for. */
    void rejectUnknown() {
        for (var it = node.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!known.contains(k)) {
                throw error(k, "is not a known field (known: " + String.join(", ", known) + ").");
            }
        }
    }

    static String show(JsonNode v) {
        if (v == null) return "nothing";
        String s = v.isContainerNode() ? (v.isArray() ? "an array" : "an object") : v.toString();
        return s.length() > 60 ? s.substring(0, 57) + "..." : s;
    }

    private static String trim(double d) {
        return d == Math.rint(d) ? Long.toString((long) d) : Double.toString(d);
    }

    static <T> List<String> ids(T[] values, Function<T, String> id) {
        List<String> out = new ArrayList<>();
        for (T t : values) out.add(id.apply(t));
        return out;
    }
}
