package dev.fathom.engine;

import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.model.ModelLoader;
import dev.fathom.engine.synthetic.SyntheticModels;
import dev.fathom.engine.synthetic.SyntheticPreset;
import dev.fathom.engine.tensor.DType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SyntheticModelTest {
    @TempDir Path tmp;

    @Test
    void presetsParseWithTheRequiredShapes() {
        for (String n : new String[]{"gpt2-124m", "gpt2-xl", "llama-1.1b", "llama-7b", "neox-20b-2l", "opt-1.3b", "mixtral-tiny", "mixtral-8x-1b"}) {
            var p = SyntheticPreset.byName(n);
            var c = ModelLoader.parseConfig(Path.of(n), p.config());
            assertTrue(c.parameterCount() > 0, n);
        }
        var c = ModelLoader.parseConfig(Path.of("x"), SyntheticPreset.byName("llama-1.1b").config());
        assertEquals(2048, c.hiddenSize());
        assertEquals(22, c.numLayers());
        assertEquals(32, c.numHeads());
        assertEquals(4, c.numKvHeads());
        assertEquals(5632, c.intermediateSize());
        assertEquals(32000, c.vocabSize());
        assertEquals(1.1e9, c.parameterCount(), 0.05e9);
    }

    @Test
    void deterministicFromTheSeedAndWrittenInHfLayout() throws Exception {
        Path dir = tmp.resolve("m");
        SyntheticModels.write("mixtral-tiny", dir, DType.F32, 7, null);
        try (LoadedModel a = ModelLoader.load("synthetic:mixtral-tiny", new ModelLoader.Options(DType.F32, 7), null);
             LoadedModel b = ModelLoader.load(dir.toString());
             LoadedModel c = ModelLoader.load("synthetic:mixtral-tiny", new ModelLoader.Options(DType.F32, 8), null)) {
            assertTrue(a.synthetic());
            assertTrue(b.synthetic(), "a written synthetic model is still labelled random");
            assertTrue(a.displayName().contains("random weights"));
            float[] wa = a.weights().layers().get(1).experts().get(2).up().weight().toFloatArray();
            assertArrayEquals(wa, b.weights().layers().get(1).experts().get(2).up().weight().toFloatArray());
            assertFalse(java.util.Arrays.equals(wa, c.weights().layers().get(1).experts().get(2).up().weight().toFloatArray()));
            assertArrayEquals(a.tokenizer().encode("hello"), b.tokenizer().encode("hello"));
            assertEquals("héllo wörld", b.tokenizer().decode(b.tokenizer().encode("héllo wörld")));
        }
    }
}
