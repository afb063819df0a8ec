package dev.fathom.cuda;

import dev.fathom.engine.Engine;
import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.model.ModelLoader;
import dev.fathom.engine.plan.ExecutionPlan;
import dev.fathom.engine.run.InferenceSession;
import dev.fathom.engine.telemetry.TelemetrySink;
import dev.fathom.profiles.AtomicFiles;
import dev.fathom.profiles.RunProfile;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;

/**
 * The TMA kernels' launches inside a whole llama-7b decode step (CudaBench part {@code steptrace}): the model runs with
 * trace variants as its TMA kernels ({@code -Dfathom.cuda.tmaWideKernel} / {@code tmaNarrowKernel}), every traced block
 * appends a record to {@code fathom_tma_ring} (tma.cuh), and the records of one graph replay are grouped into launches.
 * Per kind of matrix the table gives, as medians over the step's launches, the time from the previous traced launch's
 * last block end to this launch's first block entry (negative: the launches overlapped, as programmatic dependent launch
 * allows), the first stage's wait, the stream, the tail, and the launch's span. That is what the kernel tables cannot
 * show: why a kernel that reads as fast as cuBLAS alone can still lengthen the step.
 */
final class StepTrace {
    static final int WORDS = 8;
    /** Records the ring holds (tma.cuh's TMA_RING_SLOTS). */
    static final int SLOTS = 65536;
    /** Blocks a launch records at most (tma.cuh's TMA_TRACE_BLOCKS: blocks past it write nothing). */
    static final int TRACED_BLOCKS = 4096;

    /** One traced block, decoded from its ring record ({@code first} and {@code last} are 0 where its K slice was empty). */
    record Block(int sm, int block, int grid, int cluster, long entry, long first, long last, long end, int n, int k, int rows, int mode) {
        /** Whether the block streamed any stage (a cluster's last K slices can be empty on short rows). */
        boolean streamed() { return first != 0; }

        static Block of(long[] w, int o) {
            long a = w[o];
            return new Block((int) (a & 0xffff), (int) (a >>> 16 & 0xffff), (int) (a >>> 32 & 0xffff), (int) (a >>> 48 & 0xff),
                    w[o + 1], w[o + 2], w[o + 3], w[o + 4], (int) w[o + 5], (int) (w[o + 5] >>> 32), (int) (w[o + 6] & 0xff), (int) (w[o + 6] >>> 8 & 0xff));
        }
    }

    /**
     * One launch: its matrix, blocks seen, multiprocessors, first entry and last end (ns), per-block medians (µs), the
     * blocks that entered only after one of the launch's own blocks had ended (a second wave: they waited for its place),
     * and the time from the first block's entry to the last one's (µs).
     */
    record Launch(int n, int k, int grid, int blocks, int sms, long start, long end, double first, double stream, double tail, int late, double spread) {
        String kind() { return n + "x" + k; }
        double spanUs() { return (end - start) / 1e3; }
    }

    /** The records with ring numbers [from, to) (the counter before and after a step); the newest SLOTS when more were written. */
    static List<Block> read(long[] ring, long from, long to) {
        List<Block> out = new ArrayList<>();
        for (long i = Math.max(from, to - SLOTS); i < to; i++) out.add(Block.of(ring, (int) (i % SLOTS) * WORDS));
        return out;
    }

    /**
     * Blocks grouped into launches: in order of entry, a block joins the open launch of its matrix and grid until that
     * launch holds all its recorded blocks (its grid, at most {@link #TRACED_BLOCKS}); the next block of that key opens
     * a new one. (Launches of one matrix are a layer apart, so no block of the next can enter before the last of this
     * one; a time window instead split launches whose blocks waited for a multiprocessor, the twentieth session's first
     * run.) Launches come back in order of their first entry.
     */
    static List<Launch> launches(List<Block> blocks) {
        List<Block> sorted = new ArrayList<>(blocks);
        sorted.sort(Comparator.comparingLong(Block::entry));
        Map<String, List<Block>> open = new LinkedHashMap<>();
        List<List<Block>> done = new ArrayList<>();
        for (Block b : sorted) {
            String key = b.n() + "x" + b.k() + "/" + b.grid();
            List<Block> cur = open.get(key);
            if (cur == null) open.put(key, cur = new ArrayList<>());
            cur.add(b);
            if (cur.size() >= Math.min(b.grid(), TRACED_BLOCKS)) done.add(open.remove(key));
        }
        done.addAll(open.values());
        List<Launch> out = new ArrayList<>();
        for (List<Block> l : done) {
            long start = Long.MAX_VALUE, end = Long.MIN_VALUE;
            List<Block> streamed = l.stream().filter(Block::streamed).toList();
            double[] first = streamed.stream().mapToDouble(b -> (b.first() - b.entry()) / 1e3).toArray();
            double[] stream = streamed.stream().mapToDouble(b -> (b.last() - b.first()) / 1e3).toArray();
            double[] tail = streamed.stream().mapToDouble(b -> (b.end() - b.last()) / 1e3).toArray();
            Set<Integer> sms = new HashSet<>();
            long firstEnd = Long.MAX_VALUE, lastEntry = Long.MIN_VALUE;
            for (Block b : l) {
                start = Math.min(start, b.entry());
                end = Math.max(end, b.end());
                firstEnd = Math.min(firstEnd, b.end());
                lastEntry = Math.max(lastEntry, b.entry());
                sms.add(b.sm());
            }
            final long ended = firstEnd;
            int late = (int) l.stream().filter(b -> b.entry() >= ended).count();
            Block b0 = l.get(0);
            out.add(new Launch(b0.n(), b0.k(), b0.grid(), l.size(), sms.size(), start, end, median(first), median(stream), median(tail),
                    late, (lastEntry - start) / 1e3));
        }
        out.sort(Comparator.comparingLong(Launch::start));
        return out;
    }

    /**
     * Per matrix kind, in order of first appearance: launches, the first launch's blocks and multiprocessors, medians of
     * gap before, first, stream, tail, span (µs), of the blocks entering as a second wave, and of the entry spread (µs).
     */
    record KindSummary(String kind, int launches, int blocks, int sms, double gapBefore, double first, double stream, double tail, double span,
                       double late, double spread) {}

    static List<KindSummary> summarize(List<Launch> ls) {
        Map<String, List<Integer>> byKind = new LinkedHashMap<>();
        for (int i = 0; i < ls.size(); i++) byKind.computeIfAbsent(ls.get(i).kind(), x -> new ArrayList<>()).add(i);
        List<KindSummary> out = new ArrayList<>();
        for (var e : byKind.entrySet()) {
            List<Integer> idx = e.getValue();
            double[] gap = idx.stream().filter(i -> i > 0).mapToDouble(i -> (ls.get(i).start() - ls.get(i - 1).end()) / 1e3).toArray();
            Launch l0 = ls.get(idx.get(0));
            out.add(new KindSummary(e.getKey(), idx.size(), l0.blocks(), l0.sms(), gap.length == 0 ? Double.NaN : median(gap),
                    median(idx.stream().mapToDouble(i -> ls.get(i).first()).toArray()), median(idx.stream().mapToDouble(i -> ls.get(i).stream()).toArray()),
                    median(idx.stream().mapToDouble(i -> ls.get(i).tail()).toArray()), median(idx.stream().mapToDouble(i -> ls.get(i).spanUs()).toArray()),
                    median(idx.stream().mapToDouble(i -> ls.get(i).late()).toArray()), median(idx.stream().mapToDouble(i -> ls.get(i).spread()).toArray())));
        }
        return out;
    }

    /** {@link BenchDevice#median}, NaN for none (a launch whose blocks all had empty K slices). */
    private static double median(double[] v) { return v.length == 0 ? Double.NaN : BenchDevice.median(v); }

    /** The configurations part steptrace compares: a label and the JVM settings that pick trace kernels. */
    static final String[][] CONFIGS = {
            {"sbimmt4p wide and gate/up, cuBLAS below (the kernels of the routing before the twenty-ninth session but gate/up's sbimmq4p, which has no trace twin)", "fathom.cuda.tmaWide=8192", "fathom.cuda.tmaWideKernel=sbimmt4pt_bf16_8"},
            {"sbimmw4 wide, cuBLAS below", "fathom.cuda.tmaWide=8192", "fathom.cuda.tmaWideKernel=sbimmw4t_bf16_8"},
            {"sbimmt4p wide, gate/up through sbimmb4 (256-row boxes), cuBLAS below", "fathom.cuda.tmaWide=8192", "fathom.cuda.tmaWideKernel=sbimmt4pt_bf16_8",
                    "fathom.cuda.tmaGatedKernel=sbimmb4t_bf16_8"},
            {"sbimmt4 wide, sbimmh8 below", "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowRows=8", "fathom.cuda.tmaWideKernel=sbimmt4t_bf16_8", "fathom.cuda.tmaNarrowKernel=sbimmh8t_bf16_8"},
            {"sbimmw4 wide, sbimmv6 below", "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowRows=8", "fathom.cuda.tmaWideKernel=sbimmw4t_bf16_8", "fathom.cuda.tmaNarrowKernel=sbimmv6t_bf16_8"},
            {"sbimmt4p wide, sbimmh8 at 116 KB below (one block per SM)", "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowRows=8", "fathom.cuda.tmaWideKernel=sbimmt4pt_bf16_8",
                    "fathom.cuda.tmaNarrowKernel=sbimmh8t_bf16_8", "fathom.cuda.tmaNarrowSmemKb=116"}};

    /**
     * Part steptrace: each configuration of {@link #CONFIGS} in a llama-7b decode step of {@code rows} rows (graphs on);
     * with {@code -Dfathom.bench.out=DIR} (gpu-run.sh passes its $OUT) also every block of each step as a Chrome trace,
     * DIR/steptrace.json.gz ({@link #writeChrome}).
     */
    static void table(int rows) {
        Cuda cu = Cuda.get();
        System.out.printf("%n== TMA launches inside a llama-7b decode step (%d rows, graphs on; trace kernels as the model's TMA kernels)%n", rows);
        if (BenchTables.lacksSm90(cu, "the TMA kernels need")) return;
        System.out.println("   per matrix: launches in the step; blocks and SMs of one; medians over its launches (µs): gap = the previous traced launch's");
        System.out.println("   last block end to this launch's first entry (negative: overlapped), first stage, stream, tail, span; late = blocks that");
        System.out.println("   entered only after a block of their own launch ended (a second wave), spread = first to last block entry");
        int prompt = 128;
        Random rnd = new Random(11);
        Map<String, List<Block>> traced = new LinkedHashMap<>();
        try (LoadedModel m = ModelLoader.load("synthetic:llama-7b")) {
            Engine engine = Engine.discover();
            for (String[] cfg : CONFIGS)
                CudaSettings.with(List.of(cfg).subList(1, cfg.length), () -> {
                    RunProfile prof = RunProfile.defaults().withModel("synthetic:llama-7b").withBackend("cuda").withShape(rows, prompt, 8);
                    ExecutionPlan plan = engine.plan(m, prof, prompt + 32);
                    try (InferenceSession s = engine.open(m, plan, TelemetrySink.NOOP)) {
                        DecodeSteps d = DecodeSteps.prefilled(s, m, rows, prompt, rnd);
                        double[] t = d.time(3, 10);
                        long from = ringCount(cu);
                        d.decode();
                        long to = ringCount(cu);
                        List<Block> bs = blocks(cu, from, to);
                        traced.put(cfg[0], bs);
                        List<Launch> ls = launches(bs);
                        System.out.printf("%n-- %s: step %.3f ms (median of 10), %d traced launches, %d blocks%n", cfg[0], median(t), ls.size(), to - from);
                        // the label names what the configuration sets; options given to the JVM apply on top of it
                        System.out.println("   routing: " + SbiSplitK.Settings.read().routing());
                        System.out.printf("   %-12s %8s %6s %4s %8s %7s %7s %7s %7s %6s %7s%n", "N x K", "launches", "blocks", "SMs", "gap", "first", "stream",
                                "tail", "span", "late", "spread");
                        for (KindSummary k : summarize(ls))
                            System.out.printf("   %-12s %8d %6d %4d %8.1f %7.1f %7.1f %7.1f %7.1f %6.0f %7.1f%n", k.kind(), k.launches(), k.blocks(), k.sms(), k.gapBefore(),
                                    k.first(), k.stream(), k.tail(), k.span(), k.late(), k.spread());
                    }
                    return null;
                });
        }
        String dir = System.getProperty("fathom.bench.out", "").trim();
        if (!dir.isEmpty()) {
            // gzip: a full trace runs past the device tool's 16 MB a file (twenty-first session); Perfetto opens it as is
            Path file = Path.of(dir, "steptrace.json.gz");
            writeChrome(file, traced);
            System.out.println("   (every block of these steps: " + file + ", for Perfetto or chrome://tracing)");
        }
    }

    /**
     * The blocks of each configuration's step as Chrome Trace Event JSON, written atomically: one process per
     * configuration (its own time origin, the step's first block entry), one thread per multiprocessor and concurrent
     * block on it (lane 0, 1, ... as blocks overlap there), each block a complete event named by its matrix with its
     * first-stage wait, stream and tail nested inside. A file name ending in .gz is written gzip-compressed.
     */
    static void writeChrome(Path file, Map<String, List<Block>> byConfig) {
        ObjectMapper json = new ObjectMapper();
        ObjectNode root = json.createObjectNode();
        ArrayNode ev = root.putArray("traceEvents");
        int pid = 0;
        for (var e : byConfig.entrySet()) {
            pid++;
            ev.addObject().put("ph", "M").put("name", "process_name").put("pid", pid).putObject("args").put("name", e.getKey());
            List<Block> sorted = new ArrayList<>(e.getValue());
            sorted.sort(Comparator.comparingLong(Block::entry));
            long t0 = sorted.isEmpty() ? 0 : sorted.get(0).entry();
            Map<Integer, List<Long>> laneEnds = new TreeMap<>();   // per SM: when each lane's last block ended
            Set<Integer> named = new HashSet<>();
            for (Block b : sorted) {
                List<Long> ends = laneEnds.computeIfAbsent(b.sm(), x -> new ArrayList<>());
                int lane = 0;
                while (lane < ends.size() && ends.get(lane) > b.entry()) lane++;
                if (lane == ends.size()) ends.add(b.end());
                else ends.set(lane, b.end());
                int tid = b.sm() * 16 + Math.min(lane, 15);
                if (named.add(tid)) {
                    ev.addObject().put("ph", "M").put("name", "thread_name").put("pid", pid).put("tid", tid)
                            .putObject("args").put("name", "SM " + b.sm() + (lane == 0 ? "" : " (" + (lane + 1) + ")"));
                    ev.addObject().put("ph", "M").put("name", "thread_sort_index").put("pid", pid).put("tid", tid).putObject("args").put("sort_index", tid);
                }
                String kind = b.n() + "x" + b.k();
                var x = slice(ev, kind, "block", pid, tid, b.entry() - t0, b.end() - b.entry());
                x.putObject("args").put("block", b.block()).put("grid", b.grid()).put("cluster", b.cluster()).put("rows", b.rows()).put("mode", b.mode());
                if (b.streamed()) {
                    slice(ev, "wait", "stage", pid, tid, b.entry() - t0, b.first() - b.entry());
                    slice(ev, "stream", "stage", pid, tid, b.first() - t0, b.last() - b.first());
                    slice(ev, "tail", "stage", pid, tid, b.last() - t0, b.end() - b.last());
                }
            }
        }
        root.put("displayTimeUnit", "ns");
        root.putObject("metadata").put("generator", "Fathom StepTrace").put("configurations", byConfig.size());
        try {
            byte[] bytes = json.writeValueAsBytes(root);
            if (file.getFileName().toString().endsWith(".gz")) {
                var buf = new java.io.ByteArrayOutputStream(bytes.length / 8 + 64);
                try (var gz = new java.util.zip.GZIPOutputStream(buf)) {
                    gz.write(bytes);
                } catch (java.io.IOException ex) {
                    throw new java.io.UncheckedIOException(ex);   // in memory: does not happen
                }
                bytes = buf.toByteArray();
            }
            AtomicFiles.write(file, bytes);   // one sentence naming the file if it cannot
        } catch (JsonProcessingException ex) {
            throw new IllegalStateException("Cannot encode the step trace: " + ex.getMessage(), ex);
        }
    }

    /** A complete event from {@code startNs} (from the origin) lasting {@code durNs}, in µs as the format wants. */
    private static ObjectNode slice(ArrayNode ev, String name, String cat, int pid, int tid, long startNs, long durNs) {
        return ev.addObject().put("ph", "X").put("name", name).put("cat", cat).put("pid", pid).put("tid", tid)
                .put("ts", startNs / 1e3).put("dur", Math.max(0, durNs) / 1e3);
    }

    /** Records appended to the ring so far on {@code cu}'s device (after all its work is done). */
    static long ringCount(Cuda cu) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment count = a.allocate(8, 8);
            cu.synchronizeAll();   // the model's stream is non-blocking: the legacy stream does not wait for it
            cu.copyToHost(count, CudaModule.get(cu).global("fathom_tma_ring_n"), 4, 0L);
            cu.synchronizeAll();
            return Integer.toUnsignedLong(count.get(ValueLayout.JAVA_INT, 0));
        }
    }

    /** The blocks with ring numbers [from, to) on {@code cu}'s device. */
    static List<Block> blocks(Cuda cu, long from, long to) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment host = a.allocate((long) SLOTS * WORDS * 8, 8);
            cu.synchronizeAll();
            cu.copyToHost(host, CudaModule.get(cu).global("fathom_tma_ring"), (long) SLOTS * WORDS * 8, 0L);
            cu.synchronizeAll();
            return read(host.toArray(ValueLayout.JAVA_LONG), from, to);
        }
    }
}
