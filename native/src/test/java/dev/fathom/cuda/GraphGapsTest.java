package dev.fathom.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.StringReader;
import java.util.List;
import org.junit.jupiter.api.Test;

class GraphGapsTest {
    private static final String HEAD = "Start (ns),Duration (ns),CorrId,GrdX,GrdY,GrdZ,BlkX,BlkY,BlkZ,Reg/Trd,StcSMem (MB),DymSMem (MB),Bytes (MB),"
            + "Throughput (MBps),SrcMemKd,DstMemKd,Device,Ctx,Strm,Name\n";

    private static String row(long start, long dur, long corr, String name) {
        return start + "," + dur + "," + corr + ",128,1,1,288,1,1,90,0.000,0.120,,,,,NVIDIA H100 80GB HBM3 (0),1,7," + name + "\n";
    }

    /** A launch of a three-kernel graph at t: a (10 µs), then b starting 2 µs after a ends, then c entering 3 µs before b ends. */
    private static String launchOfThree(long t, long corr, String b) {
        return row(t, 10_000, corr, "norm_rows") + row(t + 12_000, 20_000, corr, b) + row(t + 29_000, 5_000, corr, "\"void gemm<float, 128, 64>(int, float)\"");
    }

    @Test
    void launchesGroupByCorrelationIdAndGraphsBySequenceWithIdleAndOverlapPerKernel() throws Exception {
        StringBuilder csv = new StringBuilder(HEAD);
        csv.append(row(0, 3_000_000, 1, "[CUDA memcpy Host-to-Device]"));   // a copy: left out
        csv.append(row(100, 400, 2, "read_probe"));                            // a plain launch: one kernel, no graph
        for (int i = 0; i < 12; i++) csv.append(launchOfThree(1_000_000L * (i + 1), 10 + i, "sbimmv6_bf16_8"));
        for (int i = 0; i < 3; i++) csv.append(launchOfThree(50_000_000L + 1_000_000L * i, 100 + i, "nvjet_tst_64x8"));
        List<GraphGaps.Kernel> ks = GraphGaps.read(new StringReader(csv.toString()), "trace.csv");
        assertEquals(1 + 3 * 15, ks.size());
        assertEquals("void gemm<float, 128, 64>(int, float)", ks.get(3).name(), "a quoted name keeps its commas");
        List<GraphGaps.Graph> gs = GraphGaps.graphs(ks, 10);
        assertEquals(2, gs.size(), "two kernel sequences: two graphs, in the order of their first launch");
        GraphGaps.Graph g = gs.get(0);
        assertEquals(10, g.launches(), "the last 10 of 12 launches");
        assertEquals(3, g.kernels());
        assertEquals(34.0, g.spanUs(), 1e-9);   // 0 .. 34 µs
        assertEquals(2.0, g.idleUs(), 1e-9);
        assertEquals(32.0, g.busyUs(), 1e-9);
        GraphGaps.Row b = g.rows().get(1), c = g.rows().get(2);
        assertEquals("sbimmv6_bf16_8", b.name());
        assertEquals(1, b.calls(), 1e-9);
        assertEquals(20.0, b.runUs(), 1e-9);
        assertEquals(2.0, b.idleUs(), 1e-9);
        assertEquals(0.0, b.overlapUs(), 1e-9);
        assertEquals(3.0, c.overlapUs(), 1e-9, "c entered 3 µs before b ended");
        assertEquals(0.0, c.idleUs(), 1e-9);
        assertEquals(3, gs.get(1).launches());
        assertEquals("nvjet_tst_64x8", gs.get(1).rows().get(1).name());
        String t = GraphGaps.table(gs);
        assertTrue(t.contains("== graph 1: 3 kernels a launch, mean of its last 10 launches: span 34.0 µs = busy 32.0 + idle 2.0"), t);
        assertTrue(t.contains("== graph 2") && t.contains("nvjet_tst_64x8"), t);
        assertEquals("norm_rows", b.after());
        assertEquals("", g.rows().get(0).after(), "the first kernel follows none");
        assertTrue(t.contains("== the graphs side by side"), t);
        assertTrue(t.lines().anyMatch(x -> x.matches("\\s+2\\s+3\\s+34\\.0\\s+32\\.0\\s+2\\.0")), t);
    }

    @Test
    void oneKernelAfterTwoDifferentKernelsIsTwoRows() throws Exception {
        // gemm serves two projections: after attention (idle 1 µs) and after glu (idle 4 µs)
        String csv = HEAD + row(0, 5_000, 7, "attention") + row(6_000, 10_000, 7, "gemm") + row(16_000, 2_000, 7, "glu") + row(22_000, 10_000, 7, "gemm");
        GraphGaps.Graph g = GraphGaps.graphs(GraphGaps.read(new StringReader(csv), "t.csv"), 10).get(0);
        assertEquals(4, g.rows().size());
        GraphGaps.Row afterAttention = g.rows().get(1), afterGlu = g.rows().get(3);
        assertEquals("gemm", afterAttention.name());
        assertEquals("attention", afterAttention.after());
        assertEquals(1.0, afterAttention.idleUs(), 1e-9);
        assertEquals("glu", afterGlu.after());
        assertEquals(4.0, afterGlu.idleUs(), 1e-9);
        assertTrue(!GraphGaps.table(List.of(g)).contains("side by side"), "one graph: no comparison");
    }

    @Test
    void twoConfigurationsWithTheSameKernelsAreTwoGraphsWhenASessionOpensBetweenThem() throws Exception {
        StringBuilder csv = new StringBuilder(HEAD);
        for (int i = 0; i < 4; i++) csv.append(launchOfThree(1_000_000L * (i + 1), 10 + i, "sbimmv6_bf16_8"));
        for (int i = 0; i < 2; i++) csv.append(launchOfThree(2_000_000_000L + 1_000_000L * i, 20 + i, "sbimmv6_bf16_8"));   // 2 s later
        List<GraphGaps.Graph> gs = GraphGaps.graphs(GraphGaps.read(new StringReader(csv.toString()), "t.csv"), 10);
        assertEquals(2, gs.size());
        assertEquals(4, gs.get(0).launches());
        assertEquals(2, gs.get(1).launches());
    }

    @Test
    void aKernelInsideAnEarlierOneCountsOnlyItsOwnTimeBeside() throws Exception {
        String csv = HEAD + row(0, 10_000, 5, "a") + row(2_000, 3_000, 5, "b") + row(12_000, 1_000, 5, "c");
        GraphGaps.Graph g = GraphGaps.graphs(GraphGaps.read(new StringReader(csv), "t.csv"), 10).get(0);
        assertEquals(3.0, g.rows().get(1).overlapUs(), 1e-9, "b ran wholly beside a");
        assertEquals(2.0, g.rows().get(2).idleUs(), 1e-9, "c waited for a's end, not b's");
        assertEquals(13.0, g.spanUs(), 1e-9);
    }

    @Test
    void aFileThatIsNoKernelListIsOneSentence() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> GraphGaps.read(new StringReader("Time (%),Total Time (ns),Instances,Name\n1.0,5,1,x\n"), "sum.csv"));
        assertTrue(e.getMessage().startsWith("sum.csv: no Start column"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> GraphGaps.read(new StringReader(HEAD + "1.5,2,3,,,,,,,,,,,,,,,,,k\n"), "us.csv"));
        assertTrue(e.getMessage().startsWith("us.csv: row 2 has no whole-nanosecond Start") && e.getMessage().endsWith("run nsys stats without --timeunit"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> GraphGaps.read(new StringReader(""), "empty.csv"));
        // an unclosed quote: the reader's IOException (main prints it as one sentence naming the file), not an unchecked one
        assertThrows(java.io.IOException.class, () -> GraphGaps.read(new StringReader(HEAD + "1,2,3,,,,,,,,,,,,,,,,,\"k(int, float\n"), "bad.csv"));
        assertTrue(GraphGaps.table(List.of()).startsWith("no graph launches in the trace"));
    }

    @Test
    void everyComparisonPartsSwitchesAreSettingsTheSplitKRulesAccept() {
        for (ComparisonParts.Variant v : ComparisonParts.all()) {
            String routing = CudaSettings.with(List.of(v.switches()), () -> SbiSplitK.Settings.read().routing());
            // a TMA kernel a part names for the wide, gated or narrow matrices is one the routing then runs (a narrow
            // kernel named without -Dfathom.cuda.tmaWide below 8192 would never run, and the part would time the defaults)
            for (String sw : v.switches())
                if (sw.matches("fathom\\.cuda\\.tma(Wide|Gated|Narrow)Kernel=.*"))
                    assertTrue(routing.contains(sw.substring(sw.indexOf('=') + 1)), v.part() + ": " + sw + " is not in its routing: " + routing);
        }
        assertTrue(CudaSettings.with(ComparisonParts.switches("nv6n4"), SbiSplitK.Settings::read).routing().contains("sbimmv6n_bf16_8 up to 4 rows"));
    }

    @Test
    void graphVariantsAreComparisonPartsAndATypoIsRefusedBeforeTheGpuOpens() {
        assertEquals(List.of("fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowRows=8", "fathom.cuda.tmaNarrowKernel=sbimmv6_bf16_8"), ComparisonParts.switches("nv6"));
        assertEquals(List.of("fathom.cuda.tmaWide=8192"), ComparisonParts.switches("old48"));
        assertEquals(List.of(), ComparisonParts.switches("llama48"));
        assertNull(CudaBench.settingsRefusal());
        SystemProperties.with("fathom.bench.graphVariants", "llama48,nv7", () -> {
            String why = CudaBench.settingsRefusal();
            assertTrue(why != null && why.startsWith("-Dfathom.bench.graphVariants: no comparison part nv7; use some of"), why);
        });
        SystemProperties.with("fathom.bench.prefillVariants", "nowgemm,wgonn", () -> {
            String why = CudaBench.settingsRefusal();
            assertTrue(why != null && why.startsWith("-Dfathom.bench.prefillVariants: no comparison part wgonn; use some of"), why);
        });
        assertEquals(List.of("nowgemm", "wgon"), PrefillSteps.variants(), "cuBLAS the baseline, our GEMM the candidate");
        assertEquals(List.of("fathom.cuda.wgemm=true"), ComparisonParts.switches("wgon"), "wgon sets the default outright");
        assertNull(CudaBench.partsRefusal(List.of("prefillsteps")));
        SystemProperties.with("fathom.bench.graphRows", "9", () -> assertTrue(String.valueOf(CudaBench.settingsRefusal()).contains("fathom.bench.graphRows"),
                CudaBench.settingsRefusal()));
        assertNull(CudaBench.partsRefusal(List.of("graphsteps")));
    }
}
