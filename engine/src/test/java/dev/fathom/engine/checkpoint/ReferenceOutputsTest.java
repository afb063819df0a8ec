package dev.fathom.engine.checkpoint;

import dev.fathom.engine.EngineException;
import dev.fathom.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ReferenceOutputsTest {
    /** Two sequences, a 3-token prompt, 2 new tokens, a vocabulary of 4; step_logits left out when {@code complete} is false. */
    private static Path write(Path dir, boolean complete) throws Exception {
        Path f = dir.resolve("reference.safetensors");
        try (Arena a = Arena.ofConfined()) {
            float[] pl = new float[2 * 3 * 4], sl = new float[2 * 2 * 4];
            for (int i = 0; i < pl.length; i++) pl[i] = i * 0.5f;
            for (int i = 0; i < sl.length; i++) sl[i] = -i;
            Map<String, Tensor> t = new LinkedHashMap<>();
            t.put("input_ids", Tensor.ofInts("input_ids", new long[]{2, 3}, new int[]{1, 2, 3, 4, 5, 6}, a));
            t.put("prompt_logits", Tensor.ofFloats("prompt_logits", new long[]{2, 3, 4}, pl, a));
            t.put("generated_ids", Tensor.ofInts("generated_ids", new long[]{2, 5}, new int[]{1, 2, 3, 7, 8, 4, 5, 6, 9, 0}, a));
            if (complete) t.put("step_logits", Tensor.ofFloats("step_logits", new long[]{2, 2, 4}, sl, a));
            SafetensorsWriter.write(f, t, Map.of("format", "pt"));
        }
        return f;
    }

    @Test
    void readsTheDumpLayout(@TempDir Path dir) throws Exception {
        ReferenceOutputs r = ReferenceOutputs.read(write(dir, true));
        assertArrayEquals(new int[]{4, 5, 6}, r.inputIds()[1]);
        assertArrayEquals(new int[]{4, 5, 6, 9, 0}, r.generatedIds()[1]);
        assertEquals(3, r.promptLength());
        assertEquals(2, r.newTokens());
        assertEquals((1 * 3 * 4 + 2 * 4 + 3) * 0.5f, r.promptLogits()[1][2][3]);
        assertEquals(-(1 * 2 * 4 + 1 * 4 + 2), r.stepLogits()[1][1][2]);
    }

    @Test
    void aMissingTensorIsOneSentenceNamingFileAndTensor(@TempDir Path dir) throws Exception {
        Path f = write(dir, false);
        var e = assertThrows(EngineException.class, () -> ReferenceOutputs.read(f));
        assertTrue(e.getMessage().startsWith(f + " has no tensor step_logits:"), e.getMessage());
    }

    @Test
    void relativeErrorIsTheNormOfTheDifferenceOverTheReference() {
        float[][][] ref = {{{3, 4}}}, same = {{{3, 4}}}, off = {{{3, 4 + 0.5f}}}, nan = {{{Float.NaN, 4}}};
        assertEquals(0, ReferenceOutputs.relError(same, ref));
        assertEquals(0.5 / 5, ReferenceOutputs.relError(off, ref), 1e-12);
        assertTrue(Double.isNaN(ReferenceOutputs.relError(nan, ref)));
    }
}
