package dev.fathom.visualizer;

import dev.fathom.engine.telemetry.TelemetryEvent;
import dev.fathom.engine.telemetry.TelemetryEvent.Phase;
import dev.fathom.engine.telemetry.TelemetryRecorder;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The pipeline timeline from synthetic stage spans: lanes, bubbles and bubble fractions. */
class TimelineLayoutTest {
    static final long MS = 1_000_000L;

    static TelemetryEvent.StageSpan span(int stage, int mb, int seq, Phase ph, long startMs, long durMs) {
        return new TelemetryEvent.StageSpan(stage, stage, mb, new int[]{seq}, ph, startMs * MS, durMs * MS);
    }

    /**
     * A 2-stage pipeline, 2 micro-batches of 10 ms per stage in the prompt phase (GPipe fill/drain):
     * stage 0 works [0,10) [10,20), stage 1 works [10,20) [20,30). Window [0,30): each lane idles 10 ms,
     * bubble fraction = 20 / (2 * 30) = 1/3.
     */
    @Test
    void twoStagePipelineHasOneThirdBubbles() {
        List<TelemetryEvent.StageSpan> s = List.of(
                span(0, 0, 0, Phase.PROMPT, 0, 10), span(0, 1, 1, Phase.PROMPT, 10, 10),
                span(1, 0, 0, Phase.PROMPT, 10, 10), span(1, 1, 1, Phase.PROMPT, 20, 10));
        TimelineLayout l = TimelineLayout.of(s, List.of(), List.of(), 0);
        assertTrue(l.pipelined());
        assertEquals(2, l.lanes().size());
        assertEquals("stage 0 · rank 0", l.lanes().get(0).name());
        assertEquals(1.0 / 3, l.phase(Phase.PROMPT).bubbleFraction(), 1e-9);
        // stage 0 idles at the end, stage 1 at the start
        assertEquals(List.of(new TimelineLayout.Gap(0.020, 0.030)), l.lanes().get(0).bubbles());
        assertEquals(List.of(new TimelineLayout.Gap(0.0, 0.010)), l.lanes().get(1).bubbles());
        // micro-batches coloured by sequence
        assertEquals(0, l.lanes().get(0).bars().get(0).colorKey());
        assertEquals(1, l.lanes().get(0).bars().get(1).colorKey());
        assertEquals(0.030, l.endSeconds(), 1e-12);
    }

    @Test
    void phasesGetTheirOwnFractionAndTransfersTheirOwnLane() {
        List<TelemetryEvent.StageSpan> s = new ArrayList<>(List.of(
                span(0, 0, 0, Phase.PROMPT, 0, 10), span(1, 0, 0, Phase.PROMPT, 10, 10)));
        // decode: perfectly overlapped, no bubbles
        s.add(span(0, 0, 0, Phase.DECODE, 30, 5));
        s.add(span(1, 1, 1, Phase.DECODE, 30, 5));
        List<TelemetryEvent.TransferSpan> t = List.of(new TelemetryEvent.TransferSpan("h2d", "host", "device", 0, 3, 12 * MS, 4 * MS, 1 << 20));
        TimelineLayout l = TimelineLayout.of(s, t, List.of(), 0);
        assertEquals(0.5, l.phase(Phase.PROMPT).bubbleFraction(), 1e-9);
        assertEquals(0.0, l.phase(Phase.DECODE).bubbleFraction(), 1e-9);
        assertEquals(3, l.lanes().size());
        TimelineLayout.Lane xfer = l.lanes().get(2);
        assertEquals(TimelineLayout.Kind.TRANSFER, xfer.kind());
        assertEquals(0.012, xfer.bars().getFirst().start(), 1e-12);
    }

    @Test
    void lanesSortByNumberNotText() {
        List<TelemetryEvent.StageSpan> s = new ArrayList<>();
        for (int st = 0; st < 12; st++) s.add(span(st, 0, 0, Phase.DECODE, st, 1));
        TimelineLayout l = TimelineLayout.of(s, List.of(), List.of(), 0);
        assertEquals("stage 2 · rank 2", l.lanes().get(2).name());
        assertEquals("stage 11 · rank 11", l.lanes().get(11).name());
    }

    @Test
    void withoutStageSpansThePhasesFormOneLaneAndNoBubblesAreClaimed() {
        List<TelemetryEvent.PhaseSpan> p = List.of(new TelemetryEvent.PhaseSpan(Phase.PROMPT, 100 * MS, 5 * MS, 16),
                new TelemetryEvent.PhaseSpan(Phase.DECODE, 105 * MS, 20 * MS, 8));
        TimelineLayout l = TimelineLayout.of(List.of(), List.of(), p, 100 * MS);
        assertFalse(l.pipelined());
        assertEquals(1, l.lanes().size());
        assertEquals(TimelineLayout.Kind.PHASE, l.lanes().getFirst().kind());
        assertTrue(Double.isNaN(l.phase(Phase.DECODE).bubbleFraction()));
        assertEquals(0.025, l.endSeconds(), 1e-12);
    }

    @Test
    void telemetryModelReadsOnlyNewEventsAndStaysBounded() {
        TelemetryRecorder rec = new TelemetryRecorder(1_000_000);
        TelemetryModel m = new TelemetryModel(1_000_000L).startingAt(0);
        assertFalse(m.pull(rec) && m.kernels().size() > 0);
        // 10 s of kernels, 1 ms apart, 1 MB each: 1 GB/s; bins must merge to stay under MAX_BINS
        for (int i = 0; i < 10_000; i++)
            rec.emit(new TelemetryEvent.KernelSpan("k" + (i % 3), "cpu", 0, 0, Phase.DECODE, i * MS, MS / 2, 1_000_000, 10));
        assertTrue(m.pull(rec));
        assertFalse(m.pull(rec), "nothing new, no redraw");
        TelemetryModel.BandwidthSeries bw = m.bandwidth().get("cpu rank 0");
        assertTrue(bw.bins() <= TelemetryModel.MAX_BINS, "bins " + bw.bins());
        assertEquals(1e9, bw.rate(bw.bins() / 2), 1e9 * 0.02);
        assertEquals(3, m.kernels().size());
        assertEquals(10_000, m.kernels().stream().mapToLong(k -> k.calls()).sum());
        rec.emit(new TelemetryEvent.StageSpan(0, 0, 0, new int[]{0}, Phase.DECODE, 5 * MS, MS));
        assertTrue(m.pull(rec));
        assertEquals(1, m.stages().size());
        assertEquals(10.0, m.spanSeconds(), 0.01);
    }
}
