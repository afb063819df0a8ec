package dev.fathom.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fathom.engine.telemetry.TelemetryEvent;
import java.util.List;
import org.junit.jupiter.api.Test;

class KernelBreakdownTest {
    private static void span(KernelBreakdown b, String name, long us, long bytes) {
        b.emit(new TelemetryEvent.KernelSpan(name, "cuda:0", 0, 0, null, 0, us * 1000, bytes, 2 * bytes));
    }

    @Test
    void eachKernelIsItsMedianStepNotTheSumOrTheSlowStep() {
        KernelBreakdown b = new KernelBreakdown();
        b.on = true;
        long[][] gateUp = {{3978, 2}, {1650, 2}, {1627, 2}, {1700, 2}, {1660, 2}};   // µs, calls: a slow first step
        for (long[] step : gateUp) {
            for (int c = 0; c < step[1]; c++) span(b, "mlp.gate_up", step[0] / step[1], 5_000_000);
            span(b, "attn.o", 600, 1_000_000);
            b.endStep();
        }
        b.endStep();   // nothing ran: not a step
        assertEquals(5, b.steps());
        List<KernelBreakdown.Row> rows = b.rows();
        KernelBreakdown.Row g = rows.get(0);
        assertEquals("mlp.gate_up", g.name());
        assertEquals(2, g.calls());
        assertEquals(1660, g.medianUs(), 1e-9);
        assertEquals(1627, g.minUs(), 1.5);   // 1627 / 2 calls rounds each span down to whole µs
        assertEquals(3978, g.maxUs(), 1e-9);
        assertEquals(10_000_000 / 1660e3, g.gbs(), 1e-9);   // the median step's bytes over its time
        assertEquals(2 * g.gbs(), g.gflops(), 1e-9);
        assertEquals("attn.o", rows.get(1).name());
        assertEquals("sum", rows.get(2).name());
        assertEquals(1660 + 600, rows.get(2).medianUs(), 1e-9);
    }

    @Test
    void theTableNamesItsStepsAndForgetsThem() {
        KernelBreakdown b = new KernelBreakdown();
        for (int i = 0; i < 3; i++) {
            span(b, "attn.qkv", 1200 + 10 * i, 1);
            b.endStep();
        }
        String t = b.table("llama-7b batch 2 decode step");
        assertTrue(t.contains("== llama-7b batch 2 decode step, median of 3 steps"), t);
        assertTrue(t.contains("median us") && t.contains("attn.qkv") && t.contains("1210.0") && t.contains("1200.0-1220.0"), t);
        String again = b.table("empty");
        assertFalse(again.contains("attn.qkv"), again);
        assertFalse(again.contains("median of"), again);
    }

    @Test
    void oneStepTablesKeepTheirOldFormAndMeanUsCountsTheOpenStep() {
        KernelBreakdown b = new KernelBreakdown();
        span(b, "mlp.down", 1000, 1);
        span(b, "mlp.down", 500, 1);
        String t = b.table("prefill");
        assertTrue(t.contains("total us") && t.contains("mlp.down") && t.contains("1500.0") && !t.contains("median") && !t.contains("fastest"), t);
        for (int i = 1; i <= 4; i++) span(b, "decode.graph", 1000 * i, 1);
        assertEquals(2500, b.meanUs("decode.graph"), 1e-9);
        assertEquals(0, b.meanUs("decode.graph"));
    }
}
