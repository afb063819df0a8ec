package dev.fathom.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fathom.engine.tokenizer.Tokenizer;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every case of the tokenizer fixtures encodes to the same ids and decodes back. */
class TokenizerTest {
    @ParameterizedTest
    @ValueSource(strings = {"tokenizer-bytelevel", "tokenizer-metaspace"})
    void casesMatch(String name) throws Exception {
        Path dir = Fixtures.model(name);
        JsonNode cases = new ObjectMapper().readTree(dir.resolve("cases.json").toFile());
        assertTrue(cases.size() >= 10);
        try (Tokenizer t = Tokenizer.open(dir.resolve("tokenizer.json"))) {
            for (JsonNode c : cases) {
                int[] want = new int[c.get("ids").size()];
                for (int i = 0; i < want.length; i++) want[i] = c.get("ids").get(i).asInt();
                String text = c.get("text").asText();
                assertArrayEquals(want, t.encode(text), name + ": " + text);
                assertEquals(c.get("decoded").asText(), t.decode(want), name + ": " + text);
                StringBuilder streamed = new StringBuilder();
                for (int n = 1; n <= want.length; n++) streamed.append(t.decodeIncrement(want, n));
                assertEquals(t.decode(want), streamed.toString(), name + " streamed token by token: " + text);
            }
        }
    }
}
