package dev.fathom.profiles;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/** The one place Fathom turns JSON text into trees and back: strict reading, stable two-space output. */
public final class JsonText {
    private static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .disable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private static final DefaultPrettyPrinter PRINTER;
    static {
        DefaultIndenter indenter = new DefaultIndenter("  ", "\n");
        Separators seps = Separators.createDefaultInstance()
                .withObjectFieldValueSpacing(Separators.Spacing.AFTER)
                .withObjectEmptySeparator("")
                .withArrayEmptySeparator("");
        PRINTER = new DefaultPrettyPrinter(seps);
        PRINTER.indentObjectsWith(indenter);
        PRINTER.indentArraysWith(indenter);
    }

    private JsonText() {}

    /** A fresh empty object node. */
    public static ObjectNode object() { return MAPPER.createObjectNode(); }

    /** Pretty JSON with two-space indents, {@code "key": value}, and a final newline. */
    public static String pretty(JsonNode node) {
        try {
            return MAPPER.writer(PRINTER).writeValueAsString(node) + "\n";
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("A JSON tree could not be written: " + e.getOriginalMessage(), e);
        }
    }

    /**
     * Parses JSON text, turning syntax errors into a {@link ProfileException} with line and column.
     *
     * @param source label used in messages (a file name)
     */
    public static JsonNode parse(String text, String source) {
        try {
            JsonNode node = MAPPER.readTree(text);
            if (node == null || node.isMissingNode()) {
                throw new ProfileException(source, "$", "the file is empty; expected a JSON object.");
            }
            return node;
        } catch (JsonProcessingException e) {
            var loc = e.getLocation();
            String where = loc == null ? "" : " at line " + loc.getLineNr() + ", column " + loc.getColumnNr();
            String why = firstLine(e.getOriginalMessage());
            throw new ProfileException(source, "$", "not valid JSON" + where + " (" + why + ").", e);
        }
    }

    private static String firstLine(String s) {
        if (s == null) return "unreadable";
        int nl = s.indexOf('\n');
        String line = (nl < 0 ? s : s.substring(0, nl)).strip();
        if (line.endsWith(".")) line = line.substring(0, line.length() - 1);
        return line;
    }
}
