package dev.fathom.cuda;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Data-parallel replicas with the multi-GPU fetch; skipped where there is no CUDA driver or fewer than two GPUs (CI). */
class CudaDpGpuTest {
    @BeforeAll
    static void needsTwoGpus() {
        String why = CudaBackend.twoGpusMissing("this test");
        assumeTrue(why == null, "skipped: " + why);
    }

    @Test
    void streamedReplicasWithMultiGpuFetchMatchOneResidentGpu() {
        Path dir = Path.of(System.getProperty("fathom.shared", "../../shared"), "fixtures");
        assumeTrue(Files.isDirectory(dir), "no fixtures at " + dir);
        assertTrue(CudaZeroBench.dpCheck(dir), "a fixture differs under dp=2 with the multi-GPU fetch; see the output");
    }
}
