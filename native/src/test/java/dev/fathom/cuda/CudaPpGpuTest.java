package dev.fathom.cuda;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Pipeline parallelism over two GPUs; skipped where there is no CUDA driver or fewer than two GPUs (CI). */
class CudaPpGpuTest {
    @BeforeAll
    static void needsTwoGpus() {
        String why = CudaBackend.twoGpusMissing("this test");
        assumeTrue(why == null, "skipped: " + why);
    }

    @Test
    void everyDenseFixtureReproducesTransformersUnderPp2WithBothSchedules() {
        Path dir = Path.of(System.getProperty("fathom.shared", "../../shared"), "fixtures");
        assumeTrue(Files.isDirectory(dir), "no fixtures at " + dir);
        for (String f : FixtureCheck.DENSE)
            for (boolean bf16 : new boolean[]{false, true})
                for (boolean continuous : new boolean[]{true, false}) {
                    var r = CudaPpBench.fixture(dir.resolve(f), bf16, 2, continuous);
                    assertTrue(r.ok(), r + (continuous ? " continuous" : " lockstep"));
                }
    }
}
