package dev.fathom.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** docs/cuda.md is the reference of the backend's switches, gpu-run.sh steps and CudaBench parts: nothing the code reads is left out. */
class CudaDocsTest {
    private static final Path DOC = Path.of("../docs/cuda.md");

    @Test
    void everySwitchTheBackendReadsIsDocumented() throws IOException {
        String doc = Files.readString(DOC);
        Pattern key = Pattern.compile("\"(fathom\\.(?:cuda|bench|check|tp|zero)\\.[A-Za-z0-9.]*[A-Za-z0-9]|fathom\\.nvme)\"");
        TreeSet<String> read = new TreeSet<>();
        try (Stream<Path> files = Files.walk(Path.of("src/main/java"))) {
            for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
                Matcher m = key.matcher(Files.readString(f));
                while (m.find()) read.add(m.group(1));
            }
        }
        assertTrue(read.size() > 40, "the scan found the switches: " + read);
        List<String> missing = new ArrayList<>();
        for (String k : read) if (!Pattern.compile("`(-D)?" + Pattern.quote(k) + "[`=]").matcher(doc).find()) missing.add(k);
        assertTrue(missing.isEmpty(), "docs/cuda.md does not document " + missing);
    }

    @Test
    void everyGpuRunStepAndBenchPartIsDocumented() throws IOException {
        String doc = Files.readString(DOC);
        String script = Files.readString(Path.of("device/gpu-run.sh"));
        Matcher m = Pattern.compile("(?m)^    ([a-z0-9]+)\\)").matcher(script);
        List<String> steps = new ArrayList<>();
        while (m.find()) steps.add(m.group(1));
        assertTrue(steps.containsAll(List.of("check", "checktma", "bench", "verdict", "nsys")), "the scan found the steps: " + steps);
        List<String> missing = new ArrayList<>();
        for (String s : steps) if (!Pattern.compile("`" + s + "[`\\[]").matcher(doc).find()) missing.add(s);
        for (String p : CudaBench.TABLE_PARTS)
            if (!doc.contains("`" + p + "`")) missing.add("part " + p);
        assertTrue(missing.isEmpty(), "docs/cuda.md does not document " + missing);
    }
}
