package dev.fathom.cuda;

import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.model.ModelConfig;
import dev.fathom.engine.model.ModelLoader;
import dev.fathom.engine.plan.ExecutionPlan;
import dev.fathom.profiles.RunProfile;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Host-side tensor-parallel logic of the cuda backend: plan checks, all-reduce launch sizing and descriptor layout. */
class CudaTpPlanTest {
    private static ModelConfig config(String preset) {
        try (LoadedModel m = ModelLoader.load("synthetic:" + preset)) {
            return m.config();
        }
    }

    private static ExecutionPlan plan(ModelConfig c, RunProfile.Parallelism par) {
        RunProfile p = RunProfile.defaults().withBackend("cuda").withShape(1, 8, 8).withParallel(par);
        return new ExecutionPlan(p, c, "cuda", 1, 16, 1000, 1000, List.of(), null);
    }

    private static RunProfile.Parallelism par(int tp, int pp) {
        var z = RunProfile.Parallelism.NONE;
        return new RunProfile.Parallelism(tp, pp, z.ep(), z.dp(), 0, 0, z.moeAllToAll());
    }

    @Test
    void kvCacheTiersTheCudaBackendTakes() {
        ModelConfig c = config("llama-tiny");
        RunProfile.Placement d = RunProfile.Placement.DEFAULT;
        java.util.function.BiFunction<RunProfile.Tier, RunProfile.Parallelism, ExecutionPlan> kv = (t, par) -> {
            RunProfile p = RunProfile.defaults().withBackend("cuda").withShape(1, 8, 8).withParallel(par)
                    .withPlacement(new RunProfile.Placement(d.weights(), t, d.nvmeDir(), d.prefetch(), d.deviceMemory(), d.hostMemory(), d.kvOffloadThreshold()));
            return new ExecutionPlan(p, c, "cuda", 1, 16, 1000, 1000, List.of(), null);
        };
        assertNull(CudaBackend.cannotRun(kv.apply(RunProfile.Tier.HOST, par(1, 1)), 1), "host KV on one GPU runs");
        assertTrue(CudaBackend.cannotRun(kv.apply(RunProfile.Tier.NVME, par(1, 1)), 1).contains("set --kv-cache device or host"));
        assertTrue(CudaBackend.cannotRun(kv.apply(RunProfile.Tier.HOST, par(2, 1)), 2).contains("--kv-cache device"));
    }

    @Test
    void moreRanksThanGpusNamesTheCountAndTheFix() {
        ModelConfig c = config("llama-tiny");   // 8 heads, 4 KV heads
        String why = CudaBackend.cannotRun(plan(c, par(2, 1)), 1);
        assertNotNull(why);
        assertTrue(why.startsWith("tp=2 needs 2 GPUs; this machine has 1: set --tp to 1"), why);
        assertTrue(CudaBackend.cannotRun(plan(c, par(4, 1)), 2).contains("set --tp to 2 or less"));
        assertNull(CudaBackend.cannotRun(plan(c, par(2, 1)), 2));
        assertNull(CudaBackend.cannotRun(plan(c, par(4, 1)), 8));
        assertNull(CudaBackend.cannotRun(plan(c, par(1, 1)), 1));
    }

    @Test
    void tensorTimesPipelineIsRefusedAndHeadsMustDivide() {
        ModelConfig c = config("llama-tiny");
        String pp = CudaBackend.cannotRun(plan(c, par(2, 2)), 4);   // pipeline stages run on GPUs too, but not with TP
        assertNotNull(pp);
        assertTrue(pp.contains("pp=2") && pp.contains("set --tp 1 or --pp 1"), pp);
        String heads = CudaTpRunner.planError(c, 8, 8);   // 8 heads divide, 4 KV heads do not
        assertNotNull(heads);
        assertTrue(heads.contains("8 attention heads and 4 KV heads"), heads);
        assertNull(CudaTpRunner.planError(c, 4, 4));
        String big = CudaTpRunner.planError(c, 16, 16);
        assertTrue(big != null && big.contains("set --tp to 8 or less"), big);
    }

    @Test
    void moeModelsStayOnOneGpu() {
        ModelConfig c = config("mixtral-tiny");
        String why = CudaTpRunner.planError(c, 2, 2);
        assertNotNull(why);
        assertTrue(why.contains("MoE") && why.contains("--tp 1"), why);
        assertNull(CudaBackend.cannotRun(plan(c, par(1, 1)), 2));
    }

    @Test
    void allReduceBlocksGrowWithTheMessageUpToTheLimit() {
        assertEquals(1, PeerAllReduce.blocks(1));
        assertEquals(1, PeerAllReduce.blocks(PeerAllReduce.ELEMS_PER_BLOCK));
        assertEquals(2, PeerAllReduce.blocks(PeerAllReduce.ELEMS_PER_BLOCK + 1));
        assertEquals(4, PeerAllReduce.blocks(4096));          // one llama-7b token row
        assertEquals(PeerAllReduce.MAX_BLOCKS, PeerAllReduce.blocks(128L * 4096));
        assertEquals(PeerAllReduce.MAX_BLOCKS, PeerAllReduce.blocks(Long.MAX_VALUE / 2));
        // one-shot kernel: one block per row (up to the limit), a float4 per thread, whole warps, at most 1024 threads
        assertEquals(1, PeerAllReduce.llBlocks(1));
        assertEquals(7, PeerAllReduce.llBlocks(7));
        assertEquals(PeerAllReduce.MAX_BLOCKS, PeerAllReduce.llBlocks(4096));
        assertEquals(1024, PeerAllReduce.llThreads(4096));
        assertEquals(512, PeerAllReduce.llThreads(2048));
        assertEquals(32, PeerAllReduce.llThreads(1));
        assertEquals(64, PeerAllReduce.llThreads(130));
        assertEquals(1024, PeerAllReduce.llThreads(8192));   // rows wider than 4096 loop inside the block
        // every block of a launch must be resident with the others (the spin-wait needs it): far below an H100/H200's 132 SMs
        assertTrue(PeerAllReduce.MAX_BLOCKS <= 64);
    }

    @Test
    void descriptorMatchesTheKernelStruct() throws IOException {
        // the limits and struct field order of comm.cuh must agree with the Java side
        String src = Files.readString(Path.of("src/main/cuda/comm.cuh"));
        assertEquals(PeerAllReduce.MAX_RANKS, define(src, "TP_MAX_RANKS"));
        assertEquals(PeerAllReduce.MAX_BLOCKS, define(src, "TP_MAX_BLOCKS"));
        Matcher m = Pattern.compile("struct TpComm \\{\\s*int rank;\\s*int tp;\\s*unsigned\\* counter;[^}]*float\\* recv\\[TP_MAX_RANKS\\];[^}]*"
                + "unsigned\\* flags\\[TP_MAX_RANKS\\];[^}]*unsigned\\* llCounter;[^}]*float\\* llRecv\\[TP_MAX_RANKS\\];[^}]*}").matcher(src);
        assertTrue(m.find(), "TpComm in comm.cuh is no longer {int rank; int tp; counter; recv[]; flags[]; llCounter; llRecv[]}");
        try (Arena a = Arena.ofConfined()) {
            long[] recv = {0x1000, 0x2000, 0x3000}, flags = {0x4000, 0x5000, 0x6000}, ll = {0x8000, 0x9000, 0xa000};
            MemorySegment d = PeerAllReduce.descriptor(1, 0x7000, recv, flags, 0xb000, ll, a);
            // natural C layout of the struct on a 64-bit target: 2 ints, then 8-byte pointers
            assertEquals(8 + 8 + 8 * PeerAllReduce.MAX_RANKS * 3 + 8, PeerAllReduce.DESC_BYTES);
            assertEquals(PeerAllReduce.DESC_BYTES, d.byteSize());
            assertEquals(1, d.get(ValueLayout.JAVA_INT, 0));
            assertEquals(3, d.get(ValueLayout.JAVA_INT, 4));
            assertEquals(0x7000, d.get(ValueLayout.JAVA_LONG, 8));
            assertEquals(0xb000, d.get(ValueLayout.JAVA_LONG, 16 + 16L * PeerAllReduce.MAX_RANKS));
            for (int i = 0; i < 3; i++) {
                assertEquals(recv[i], d.get(ValueLayout.JAVA_LONG, 16 + 8L * i));
                assertEquals(flags[i], d.get(ValueLayout.JAVA_LONG, 16 + 8L * PeerAllReduce.MAX_RANKS + 8L * i));
                assertEquals(ll[i], d.get(ValueLayout.JAVA_LONG, 24 + 16L * PeerAllReduce.MAX_RANKS + 8L * i));
            }
        }
    }

    private static int define(String src, String name) {
        Matcher m = Pattern.compile("#define " + name + " (\\d+)").matcher(src);
        assertTrue(m.find(), name + " not defined in comm.cuh");
        return Integer.parseInt(m.group(1));
    }
}
