package dev.fathom.cuda;

import dev.fathom.engine.telemetry.TelemetryEvent.Phase;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * How the CUDA runners lay out a pass's rows and hand back its logit rows (CudaRunner.prefill / decode over a
 * {@link CudaRunner.Forward}), checked against a forward that records its rows and returns distinct logit rows.
 */
class RunnerRowsTest {
    private record Call(int[] tokens, int[] positions, int[] slots, int[] headRows, Phase phase) {}

    /** Records each call; returns one row per head row (all rows when null), row i filled with 1000 * call + i. */
    private static final class Recording implements CudaRunner.Forward {
        final List<Call> calls = new ArrayList<>();
        final List<float[][]> returned = new ArrayList<>();
        int extraRows;

        @Override
        public float[][] run(int[] tokens, int[] positions, int[] slotOf, int[] headRows, Phase phase) {
            calls.add(new Call(tokens, positions, slotOf, headRows, phase));
            int n = (headRows == null ? tokens.length : headRows.length) + extraRows;
            float[][] rows = new float[n][5];
            for (int i = 0; i < n; i++) java.util.Arrays.fill(rows[i], 1000f * calls.size() + i);
            returned.add(rows);
            return rows;
        }
    }

    @Test
    void aPromptIsOnePassOfSequenceMajorRowsAndEachSequenceGetsItsLastRow() {
        Recording f = new Recording();
        float[][][] out = CudaRunner.prefill(f, new int[]{3, 1}, new int[][]{{10, 11, 12}, {20, 21, 22}}, false);
        assertEquals(1, f.calls.size());
        Call c = f.calls.getFirst();
        assertArrayEquals(new int[]{10, 11, 12, 20, 21, 22}, c.tokens());
        assertArrayEquals(new int[]{0, 1, 2, 0, 1, 2}, c.positions());
        assertArrayEquals(new int[]{3, 3, 3, 1, 1, 1}, c.slots());
        assertArrayEquals(new int[]{2, 5}, c.headRows(), "the logits of each sequence's last position only");
        assertEquals(Phase.PROMPT, c.phase());
        assertEquals(2, out.length);
        assertEquals(1, out[0].length);
        assertSame(f.returned.getFirst()[0], out[0][0], "the forward's rows are handed on, not copied again");
        assertSame(f.returned.getFirst()[1], out[1][0]);
    }

    @Test
    void theGreedyPromptPassHasThePromptsRowsAndHeadRows() {
        // CudaRunner.prefillGreedy hands these rows to the argmax pass: the same as prefill's
        Recording f = new Recording();
        CudaRunner.prefill(f, new int[]{4, 0, 2}, new int[][]{{5, 6}, {7, 8}, {9, 1}}, false);
        Call c = f.calls.getFirst();
        CudaRunner.PromptRows r = CudaRunner.PromptRows.of(new int[]{4, 0, 2}, new int[][]{{5, 6}, {7, 8}, {9, 1}}, false);
        assertArrayEquals(c.tokens(), r.tokens());
        assertArrayEquals(c.positions(), r.positions());
        assertArrayEquals(c.slots(), r.slots());
        assertArrayEquals(new int[]{1, 3, 5}, r.head());
        assertNull(CudaRunner.PromptRows.of(new int[]{0}, new int[][]{{1, 2, 3}}, true).head());
    }

    @Test
    void everyPositionsLogitsGoToTheirSequence() {
        Recording f = new Recording();
        float[][][] out = CudaRunner.prefill(f, new int[]{0, 1}, new int[][]{{1, 2}, {3, 4}}, true);
        assertNull(f.calls.getFirst().headRows());
        float[][] rows = f.returned.getFirst();
        for (int b = 0; b < 2; b++)
            for (int t = 0; t < 2; t++) assertSame(rows[b * 2 + t], out[b][t], "sequence " + b + " position " + t);
        f.extraRows = 1;
        var e = assertThrows(IllegalStateException.class, () -> CudaRunner.prefill(f, new int[]{0}, new int[][]{{1, 2}}, false));
        assertTrue(e.getMessage().contains("2 logit rows for 1 prompt rows"), e.getMessage());
    }

    @Test
    void aDecodeStepIsOneRowPerSequenceAndChecksTheRowCount() {
        Recording f = new Recording();
        float[][] out = CudaRunner.decode(f, new int[]{2, 0, 1}, new int[]{7, 8, 9}, new int[]{5, 6, 4});
        Call c = f.calls.getFirst();
        assertArrayEquals(new int[]{7, 8, 9}, c.tokens());
        assertArrayEquals(new int[]{5, 6, 4}, c.positions());
        assertArrayEquals(new int[]{2, 0, 1}, c.slots());
        assertNull(c.headRows());
        assertEquals(Phase.DECODE, c.phase());
        assertSame(f.returned.getFirst(), out);
        f.extraRows = 1;
        var e = assertThrows(IllegalStateException.class, () -> CudaRunner.decode(f, new int[]{0}, new int[]{1}, new int[]{2}));
        assertTrue(e.getMessage().contains("2 logit rows for 1 sequences"), e.getMessage());
    }
}
