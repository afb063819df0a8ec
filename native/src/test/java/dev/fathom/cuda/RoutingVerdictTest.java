package dev.fathom.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class RoutingVerdictTest {
    /** Baseline llama48 twice per row count (the call's drift), candidates once each per row count. */
    private static RoutingVerdict call(double[] base2, double[] base4, double[] base8, Object... candidates) {
        RoutingVerdict v = new RoutingVerdict("llama48");
        int[] rows = {2, 4, 8};
        double[][] base = {base2, base4, base8};
        for (int r = 0; r < 3; r++) {
            v.add(rows[r], "llama48", base[r][0]);
            for (int c = 0; c < candidates.length; c += 2) v.add(rows[r], (String) candidates[c], ((double[]) candidates[c + 1])[r]);
            v.add(rows[r], "llama48", base[r][1]);
        }
        return v;
    }

    @Test
    void aCandidateFasterThanEveryBaselineRunAtTwoAndFourRowsAndLevelAtEightIsNamed() {
        // near the twenty-sixth session's figures at 4 rows (defaults 4.855 / 4.782, nv6n 4.652), the rest in their proportions
        RoutingVerdict v = call(new double[]{4.70, 4.66}, new double[]{4.855, 4.781}, new double[]{5.056, 5.020},
                "nv6n4", new double[]{4.52, 4.652, 5.06}, "widen", new double[]{4.69, 4.80, 5.03}, "nv6", new double[]{4.9, 5.404, 5.6});
        assertEquals(List.of("nv6n4", "widen", "nv6"), v.candidates());
        assertEquals(RoutingVerdict.Standing.AHEAD, v.standing(4, "nv6n4"));
        assertEquals(RoutingVerdict.Standing.LEVEL, v.standing(8, "nv6n4"), "5.06 against a median of 5.038: 0.44 %");
        assertEquals(RoutingVerdict.Standing.LEVEL, v.standing(4, "widen"), "4.80 lies between the baseline's runs");
        assertEquals(RoutingVerdict.Standing.BEHIND, v.standing(4, "nv6"));
        assertTrue(v.qualifies("nv6n4"));
        assertFalse(v.qualifies("widen"), "level at 2 and 4 rows is not ahead");
        assertFalse(v.qualifies("nv6"));
        assertEquals("nv6n4", v.winner());
        String t = v.table();
        assertTrue(t.contains("verdict: make nv6n4 the default: ahead of every llama48 run at 2 and 4 rows and not behind at 8"), t);
        assertTrue(t.lines().anyMatch(l -> l.matches("\\s+4\\s+llama48\\s+4\\.855 4\\.781\\s+4\\.818\\s+1\\.0000\\s+baseline")), t);
        assertTrue(t.lines().anyMatch(l -> l.matches("\\s+4\\s+nv6\\s+5\\.404\\s+5\\.404\\s+1\\.1216\\s+behind")), t);
    }

    @Test
    void behindAtEightRowsOrNoRunAtARowCountKeepsTheDefaults() {
        RoutingVerdict v = call(new double[]{4.70, 4.66}, new double[]{4.855, 4.782}, new double[]{5.056, 5.020},
                "nv6n", new double[]{4.50, 4.652, 5.112});   // the twenty-sixth session's 8-row figure: 1.5 % behind the median
        assertEquals(RoutingVerdict.Standing.BEHIND, v.standing(8, "nv6n"));
        assertFalse(v.qualifies("nv6n"));
        assertNull(v.winner());
        assertTrue(v.table().contains("verdict: keep the defaults: no routing is ahead of every llama48 run at 2 and 4 rows and not behind at 8"), v.table());

        RoutingVerdict missing = new RoutingVerdict("llama48");
        missing.add(4, "llama48", 4.8);
        missing.add(4, "nv6n4", 4.6);
        missing.add(8, "llama48", 5.0);
        assertNull(missing.standing(8, "nv6n4"));
        assertFalse(missing.qualifies("nv6n4"), "a row count it did not run at is no evidence");
        assertTrue(Double.isNaN(missing.meanRatio("nv6n4")));
    }

    @Test
    void atOneRowCountLevelIsNotEnoughAndOfTwoQualifiersTheShorterOnAverageWins() {
        RoutingVerdict one = new RoutingVerdict("llama48");
        one.add(4, "llama48", 4.80);
        one.add(4, "a", 4.80);
        assertEquals(RoutingVerdict.Standing.LEVEL, one.standing(4, "a"));
        assertFalse(one.qualifies("a"), "timed at one row count, a candidate must be ahead there");
        one.add(4, "b", 4.70);
        assertEquals("b", one.winner());
        assertTrue(one.table().contains("verdict: make b the default: ahead of every llama48 run at 4 rows, 2.08 % shorter on average"), one.table());

        RoutingVerdict two = call(new double[]{4.70, 4.70}, new double[]{4.80, 4.80}, new double[]{5.0, 5.0},
                "a", new double[]{4.60, 4.70 * 0.999, 5.0}, "b", new double[]{4.50, 4.60, 5.04});
        assertTrue(two.qualifies("a") && two.qualifies("b"));
        assertTrue(two.meanRatio("b") < two.meanRatio("a"));
        assertEquals("b", two.winner());
    }

    @Test
    void aPrefillVerdictNamesItsMeasureAndNeedsEveryRunAhead() {
        // the thirtieth session's call A, as PrefillSteps would record it: wgemmt level with cuBLAS is not a new default
        RoutingVerdict level = new RoutingVerdict("nowgemm", "host prefill ms of one 128-token prompt, median of each run's 9");
        for (double ms : new double[]{7.22, 7.25, 7.20}) level.add(128, "nowgemm", ms);
        for (double ms : new double[]{7.24, 7.32, 7.35}) level.add(128, "wgon", ms);
        String t = level.table();
        assertTrue(t.contains("(host prefill ms of one 128-token prompt, median of each run's 9; baseline nowgemm;"), t);
        assertFalse(t.contains("host step ms"), t);
        assertTrue(t.contains("verdict: keep the defaults: no routing is ahead of every nowgemm run at 128 rows"), t);
        RoutingVerdict ahead = new RoutingVerdict("nowgemm", "prefill");
        for (double ms : new double[]{7.22, 7.25}) ahead.add(128, "nowgemm", ms);
        for (double ms : new double[]{7.10, 7.15}) ahead.add(128, "wgon", ms);
        assertTrue(ahead.table().contains("verdict: make wgon the default: ahead of every nowgemm run at 128 rows"), ahead.table());
    }

    @Test
    void graphRowsTakesAListAndRoundsARangeEachRefusedInOneSentence() {
        SystemProperties.with("fathom.bench.graphRows", "2, 4,8,4", () -> assertEquals(List.of(2, 4, 8), GraphGaps.rows()));
        assertEquals(List.of(4), GraphGaps.rows());
        assertEquals(1, GraphGaps.rounds());
        SystemProperties.with("fathom.bench.graphRows", "2,9", () -> {
            String why = CudaBench.settingsRefusal();
            assertEquals("-Dfathom.bench.graphRows=2,9: use a whole number from 1 to 8, or a list of them separated by commas", why);
        });
        SystemProperties.with("fathom.bench.graphRows", "2,,4", () -> assertTrue(String.valueOf(CudaBench.settingsRefusal()).startsWith("-Dfathom.bench.graphRows=2,,4:")));
        SystemProperties.with("fathom.bench.graphRounds", "3", () -> assertEquals(3, GraphGaps.rounds()));
        SystemProperties.with("fathom.bench.graphRounds", "0", () -> assertEquals("-Dfathom.bench.graphRounds=0: use a whole number from 1 to 5",
                CudaBench.settingsRefusal()));
    }
}
