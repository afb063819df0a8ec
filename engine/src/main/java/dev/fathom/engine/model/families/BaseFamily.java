package dev.fathom.engine.model.families;

import dev.fathom.engine.EngineException;
import dev.fathom.engine.checkpoint.Checkpoint;
import dev.fathom.engine.model.ConfigReader;
import dev.fathom.engine.model.LayerWeights;
import dev.fathom.engine.model.Linear;
import dev.fathom.engine.model.ModelConfig;
import dev.fathom.engine.model.ModelFamily;
import dev.fathom.engine.model.ModelWeights;
import dev.fathom.engine.model.Slot;
import dev.fathom.engine.model.WeightMap;
import dev.fathom.engine.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/** Binding shared by the families: embeddings, norms and the per-layer table walk. */
abstract class BaseFamily implements ModelFamily {

    protected static void checkHeads(ConfigReader r, int hidden, int heads, int kvHeads) {
        if (kvHeads <= 0 || heads % kvHeads != 0)
            throw r.unsupported("num_attention_heads (" + heads + ") must be a multiple of num_key_value_heads (" + kvHeads + "): fix config.json.");
    }

    protected static int eosBos(ConfigReader r) { return r.optInt(-1, "bos_token_id"); }

    @Override
    public ModelWeights bind(Checkpoint ck, ModelConfig c, Arena arena) {
        WeightMap m = weightMap();
        long h = c.hiddenSize();
        Tensor embed = ck.require(m.name(Slot.EMBED), c.vocabSize(), h);
        Tensor pos = null;
        if (c.learnedPositions())
            pos = ck.require(m.name(Slot.POS_EMBED), c.maxPositions() + c.positionOffset(), h);
        Tensor fnw = ck.require(m.name(Slot.FINAL_NORM_W), h);
        Tensor fnb = m.has(Slot.FINAL_NORM_B) ? ck.require(m.name(Slot.FINAL_NORM_B), h) : null;
        Tensor head;
        if (c.tiedEmbeddings() || !m.has(Slot.LM_HEAD) || !ck.has(m.name(Slot.LM_HEAD))) {
            if (!c.tiedEmbeddings() && m.has(Slot.LM_HEAD)) ck.require(m.name(Slot.LM_HEAD));
            head = embed;
        } else {
            head = ck.require(m.name(Slot.LM_HEAD), c.vocabSize(), h);
        }
        List<LayerWeights> layers = new ArrayList<>();
        for (int l = 0; l < c.numLayers(); l++) layers.add(bindLayer(ck, c, m, l, arena));
        return new ModelWeights(embed, pos, fnw, fnb, head, List.copyOf(layers));
    }

    protected abstract LayerWeights bindLayer(Checkpoint ck, ModelConfig c, WeightMap m, int l, Arena arena);

    protected static Tensor vec(Checkpoint ck, WeightMap m, Slot s, int l, long n) {
        return m.has(s) ? ck.require(m.name(s, l), n) : null;
    }

    protected static Linear linear(Checkpoint ck, WeightMap m, Slot w, Slot b, int l, long out, long in, boolean bias) {
        Tensor wt = ck.require(m.name(w, l), out, in);
        Tensor bt = bias ? ck.require(m.name(b, l), out) : null;
        return new Linear(wt, bt);
    }

    /** A dense copy of {@code t} transposed ([a, b] -> [b, a]) in the same dtype. */
    protected static Tensor transpose(Tensor t, String name, Arena arena) {
        int a = t.rows(), b = t.cols();
        int es = t.dtype().size;
        MemorySegment dst = arena.allocate((long) a * b * es, 64);
        MemorySegment src = t.data();
        for (int i = 0; i < a; i++)
            for (int j = 0; j < b; j++)
                MemorySegment.copy(src, ((long) i * t.ld() + j) * es, dst, ((long) j * a + i) * es, es);
        return new Tensor(name, t.dtype(), new long[]{b, a}, dst);
    }

    /** A dense copy of the listed rows of {@code t}. */
    protected static Tensor gatherRows(Tensor t, int[] rows, String name, Arena arena) {
        int cols = t.cols();
        long rowBytes = (long) cols * t.dtype().size;
        MemorySegment dst = arena.allocate(rows.length * rowBytes, 64);
        for (int i = 0; i < rows.length; i++)
            MemorySegment.copy(t.data(), rows[i] * t.ld() * t.dtype().size, dst, i * rowBytes, rowBytes);
        return new Tensor(name, t.dtype(), t.rank() == 1 ? new long[]{rows.length} : new long[]{rows.length, cols}, dst);
    }

    protected static EngineException bad(Checkpoint ck, String what) {
        return new EngineException(ck.dir() + ": " + what);
    }
}
