package dev.fathom.profiles.export;

import dev.fathom.profiles.AtomicFiles;
import dev.fathom.profiles.HardwarePresets;
import dev.fathom.profiles.HardwareProfile;
import dev.fathom.profiles.RunProfile;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every exported file equals its golden file under {@code src/test/resources/golden/<case>/}, byte for
 * byte. Run with {@code -Dfathom.updateGolden=true} to rewrite the goldens after an intended change,
 * then review the diff.
 */
class ExporterGoldenTest {
    static final Path GOLDEN = Path.of("src/test/resources/golden");
    static final boolean UPDATE = Boolean.getBoolean("fathom.updateGolden");

    record Case(String name, Target target, RunProfile p, ExportModel m, HardwareProfile hw, ExportOptions opts) {
        @Override public String toString() { return name; }
    }

    static List<Case> cases() {
        ExportOptions d = ExportOptions.defaults();
        return List.of(
                new Case("deepspeed-llama-tp2", Target.DEEPSPEED, Fixtures.LLAMA_TP2, Fixtures.LLAMA_7B,
                        HardwarePresets.A100_80GB, d),
                new Case("deepspeed-mixtral-hybrid", Target.DEEPSPEED, Fixtures.MIXTRAL_HYBRID, Fixtures.MIXTRAL,
                        HardwarePresets.H100_SXM, d.withGpusPerNode(2).withCudaGraph(true)),
                new Case("zero-opt-nvme", Target.ZERO_INFERENCE, Fixtures.OPT_NVME, Fixtures.OPT_30B,
                        HardwarePresets.A6000, d),
                new Case("zero-opt-nvme-ds0.16.3", Target.ZERO_INFERENCE, Fixtures.OPT_NVME, Fixtures.OPT_30B,
                        HardwarePresets.A6000, d.withDeepspeedVersion("0.16.3")),
                new Case("mii-mixtral", Target.MII, Fixtures.MIXTRAL_MII, Fixtures.MIXTRAL,
                        HardwarePresets.H100_SXM, d.withHosts(List.of("gpu-a", "gpu-b", "gpu-c")).withGpusPerNode(2)));
    }

    static Stream<Arguments> caseArgs() { return cases().stream().map(Arguments::of); }

    @ParameterizedTest
    @MethodSource("caseArgs")
    void filesMatchGoldens(Case c) throws Exception {
        Exporter.Rendered r = Exporter.render(c.target(), c.p(), c.m(), c.hw(), c.opts());
        Path dir = GOLDEN.resolve(c.name());
        if (UPDATE) {
            if (Files.isDirectory(dir)) {
                try (var s = Files.list(dir)) {
                    for (Path f : s.toList()) if (!r.files().containsKey(f.getFileName().toString())) Files.delete(f);
                }
            }
            r.files().forEach((name, text) -> AtomicFiles.writeString(dir.resolve(name), text));
            return;
        }
        Set<String> golden;
        try (var s = Files.list(dir)) {
            golden = s.map(f -> f.getFileName().toString()).collect(Collectors.toCollection(TreeSet::new));
        }
        assertEquals(golden, new TreeSet<>(r.files().keySet()), "files of " + c.name());
        for (var e : r.files().entrySet()) {
            assertEquals(Files.readString(dir.resolve(e.getKey())), e.getValue(), c.name() + "/" + e.getKey());
        }
    }

    @Test
    void exportWritesTheRenderedFiles(@TempDir Path out) throws Exception {
        Case c = cases().get(1);
        ExportResult res = Exporter.export(c.target(), c.p(), c.m(), c.hw(), c.opts(), out);
        Exporter.Rendered r = Exporter.render(c.target(), c.p(), c.m(), c.hw(), c.opts());
        assertEquals(r.files().size(), res.files().size());
        for (Path f : res.files()) assertEquals(r.files().get(f.getFileName().toString()), Files.readString(f));
        assertEquals(out.resolve(Exporter.NOTES_FILE), res.files().getLast());
        assertTrue(Files.isExecutable(out.resolve("launch.sh")));
        assertEquals(r.warnings(), res.warnings());
        try (var s = Files.list(out)) {
            assertEquals(res.files().size(), s.count(), "no temporary files are left behind");
        }
    }

    @Test
    void exportAllWritesOneDirectoryPerTarget(@TempDir Path out) {
        List<ExportResult> all = Exporter.exportAll(Fixtures.LLAMA_TP2, Fixtures.LLAMA_7B, HardwarePresets.A100_80GB,
                ExportOptions.defaults(), out);
        assertEquals(3, all.size());
        for (ExportResult r : all) {
            assertEquals(out.resolve(r.target().id()), r.outDir());
            assertTrue(Files.isRegularFile(r.outDir().resolve(r.target().configFile())));
            assertTrue(Files.isRegularFile(r.outDir().resolve(Exporter.NOTES_FILE)));
        }
    }
}
