package dev.fathom.cuda;

import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.dataformat.csv.CsvMapper;
import com.fasterxml.jackson.dataformat.csv.CsvParser;
import dev.fathom.engine.Engine;
import dev.fathom.engine.model.LoadedModel;
import dev.fathom.engine.model.ModelLoader;
import dev.fathom.engine.plan.ExecutionPlan;
import dev.fathom.engine.run.InferenceSession;
import dev.fathom.engine.telemetry.TelemetrySink;
import dev.fathom.profiles.RunProfile;
import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Where a CUDA graph's time goes between its kernels, from Nsight Systems (gpu-run.sh step {@code nsys}): CudaBench part
 * {@code graphsteps} replays llama-7b decode graphs under several routings in one process, {@code nsys profile
 * --cuda-graph-trace=node} records every node, {@code nsys stats --report cuda_gpu_trace --format csv} lists them, and
 * {@link #main} reads that list. Every kernel node of one graph launch carries the launch's correlation id, so the
 * kernels group into launches; launches with the same kernel sequence, close together in time, are one graph, and for each graph, over its last
 * launches, each kernel name gets its calls, its time running, the time before it when no kernel of the launch ran
 * (idle), and the time it ran beside the kernels before it (overlap). Built in the twenty-fifth session: through
 * {@code sbimmv6} the 4096-row GEMMs are 145 µs a step faster one launch at a time and the graph is 5 % slower.
 */
final class GraphGaps {
    private GraphGaps() {}

    /** One kernel of the trace: start and duration (ns), the correlation id of its launch, its name. */
    record Kernel(long start, long dur, long corr, String name) {
        long end() { return start + dur; }
    }

    /**
     * A kernel name's figures in one graph, per launch, where it follows the kernel named {@code after} (empty for the
     * first): calls, µs running, µs idle before it, µs beside earlier kernels. Keyed by the pair, so one cuBLAS kernel
     * serving two projections (after attention, after the gated product) is two rows.
     */
    record Row(String name, String after, double calls, double runUs, double idleUs, double overlapUs) {}

    /** One graph: how many of its launches were summed, its kernels per launch, mean span, busy and idle µs, its rows in first-call order. */
    record Graph(int launches, int kernels, double spanUs, double busyUs, double idleUs, List<Row> rows) {}

    /**
     * The kernels of a cuda_gpu_trace CSV: columns found by name (Start, Duration, CorrId, Name, as Nsight Systems writes
     * them with their units after); copies and memsets ("[CUDA memcpy ...]") left out. A missing column is one sentence.
     */
    static List<Kernel> read(Reader csv, String what) throws IOException {
        CsvMapper m = new CsvMapper();
        m.enable(CsvParser.Feature.WRAP_AS_ARRAY);
        List<Kernel> out = new ArrayList<>();
        try (MappingIterator<String[]> it = m.readerFor(String[].class).readValues(csv)) {
            // hasNextValue / nextValue: a malformed line is an IOException here, not an unchecked one from hasNext / next
            if (!it.hasNextValue()) throw new IllegalArgumentException(what + ": empty; expected nsys stats --report cuda_gpu_trace --format csv output");
            String[] head = it.nextValue();
            int start = column(head, "Start", what), dur = column(head, "Duration", what), corr = column(head, "CorrId", what), name = column(head, "Name", what);
            while (it.hasNextValue()) {
                String[] r = it.nextValue();
                if (r.length <= Math.max(Math.max(start, dur), Math.max(corr, name)) || r[name].startsWith("[CUDA")) continue;
                try {
                    out.add(new Kernel(Long.parseLong(r[start].trim()), Long.parseLong(r[dur].trim()), Long.parseLong(r[corr].trim()), r[name]));
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException(what + ": row " + (out.size() + 2) + " has no whole-nanosecond Start, Duration or CorrId (" + String.join(",", r)
                            + "); run nsys stats without --timeunit");
                }
            }
        }
        return out;
    }

    private static int column(String[] head, String prefix, String what) {
        for (int i = 0; i < head.length; i++) if (head[i].trim().startsWith(prefix)) return i;
        throw new IllegalArgumentException(what + ": no " + prefix + " column (header: " + String.join(",", head)
                + "); expected nsys stats --report cuda_gpu_trace --format csv output");
    }

    /** Launches of one kernel sequence further apart than this (ns) belong to different graphs. */
    static final long RUN_GAP_NS = 500_000_000L;

    /**
     * The graphs among {@code kernels}, in the order of their first launch: launches (kernels sharing a correlation id,
     * two or more) grouped by their kernel sequence and, within one, into runs no more than {@link #RUN_GAP_NS} apart;
     * each graph summed over its last {@code last} launches.
     */
    static List<Graph> graphs(List<Kernel> kernels, int last) {
        Map<Long, List<Kernel>> byLaunch = new LinkedHashMap<>();
        kernels.stream().sorted((a, b) -> Long.compare(a.start(), b.start())).forEach(k -> byLaunch.computeIfAbsent(k.corr(), x -> new ArrayList<>()).add(k));
        // a graph: launches of one kernel sequence, each within RUN_GAP_NS of the one before (configurations whose graphs
        // have the same kernels, launched one after the other, stay apart: a session opens between them)
        Map<List<String>, List<List<Kernel>>> current = new LinkedHashMap<>();
        List<List<List<Kernel>>> runs = new ArrayList<>();
        for (List<Kernel> l : byLaunch.values()) {
            if (l.size() < 2) continue;
            List<String> seq = l.stream().map(Kernel::name).toList();
            List<List<Kernel>> run = current.get(seq);
            if (run == null || l.get(0).start() - run.get(run.size() - 1).get(0).start() > RUN_GAP_NS) {
                run = new ArrayList<>();
                current.put(seq, run);
                runs.add(run);
            }
            run.add(l);
        }
        List<Graph> out = new ArrayList<>();
        for (List<List<Kernel>> launches : runs) {
            List<List<Kernel>> use = launches.subList(Math.max(0, launches.size() - last), launches.size());
            Map<List<String>, double[]> rows = new LinkedHashMap<>();   // (name, after) -> calls, run, idle, overlap (ns, summed over launches)
            double span = 0, idle = 0;
            for (List<Kernel> l : use) {
                long frontier = l.get(0).start();   // the latest end among the kernels started so far
                String prev = "";
                for (Kernel k : l) {
                    double[] v = rows.computeIfAbsent(List.of(k.name(), prev), x -> new double[4]);
                    prev = k.name();
                    v[0]++;
                    v[1] += k.dur();
                    if (k.start() >= frontier) {
                        v[2] += k.start() - frontier;
                        idle += k.start() - frontier;
                    } else v[3] += Math.min(frontier, k.end()) - k.start();
                    frontier = Math.max(frontier, k.end());
                }
                span += frontier - l.get(0).start();
            }
            int n = use.size();
            List<Row> r = new ArrayList<>();
            rows.forEach((key, v) -> r.add(new Row(key.get(0), key.get(1), v[0] / n, v[1] / n / 1e3, v[2] / n / 1e3, v[3] / n / 1e3)));
            out.add(new Graph(n, use.get(0).size(), span / n / 1e3, (span - idle) / n / 1e3, idle / n / 1e3, r));
        }
        return out;
    }

    /** The tables of {@link #graphs}: one per graph, its rows, and the totals. */
    static String table(List<Graph> graphs) {
        StringBuilder sb = new StringBuilder();
        int i = 0;
        for (Graph g : graphs) {
            sb.append(String.format("%n== graph %d: %d kernels a launch, mean of its last %d launches: span %.1f µs = busy %.1f + idle %.1f%n",
                    ++i, g.kernels(), g.launches(), g.spanUs(), g.busyUs(), g.idleUs()));
            sb.append(String.format("   %-40s %-28s %6s %10s %10s %10s%n", "kernel", "after", "calls", "run µs", "idle µs", "beside µs"));
            for (Row r : g.rows())
                sb.append(String.format("   %-40s %-28s %6.0f %10.1f %10.1f %10.1f%n", cut(r.name(), 40), cut(r.after(), 28), r.calls(),
                        r.runUs(), r.idleUs(), r.overlapUs()));
        }
        if (graphs.size() > 1) {   // the graphs side by side: what a routing changes in span, busy and idle time
            sb.append(String.format("%n== the graphs side by side, µs per launch%n   %-6s %8s %10s %10s %10s%n", "graph", "kernels", "span", "busy", "idle"));
            i = 0;
            for (Graph g : graphs) sb.append(String.format("   %-6d %8d %10.1f %10.1f %10.1f%n", ++i, g.kernels(), g.spanUs(), g.busyUs(), g.idleUs()));
        }
        return sb.length() == 0 ? "no graph launches in the trace (was it recorded with --cuda-graph-trace=node?)\n" : sb.toString();
    }

    private static String cut(String s, int w) { return s.length() > w ? s.substring(0, w - 1) + "…" : s; }

    /**
     * CudaBench part graphsteps: llama-7b loaded once, then for each round ({@code -Dfathom.bench.graphRounds}, default 1),
     * each row count of {@code -Dfathom.bench.graphRows} (default 4; a list such as 2,4,8 times each) and each CudaBench
     * comparison part named by {@code -Dfathom.bench.graphVariants} (default llama48,nv6) a session under its settings: a
     * prefill, 3 decode steps and 20 more timed. The graphs appear in this order in {@link #main}'s tables. With more than
     * one part, it ends with {@link RoutingVerdict}'s table and verdict, the first part named the baseline.
     */
    static void steps() {
        List<Integer> rowCounts = rows();
        List<String> variants = variants();
        int rounds = rounds();
        System.out.printf("%n== llama-7b decode graphs at %s rows, one per configuration%s (gpu-run.sh nsys traces them; GraphGaps reads the trace)%n",
                rowCounts.stream().map(String::valueOf).collect(java.util.stream.Collectors.joining(", ")), rounds > 1 ? ", " + rounds + " rounds" : "");
        int prompt = 128;
        Random rnd = new Random(13);
        RoutingVerdict verdict = new RoutingVerdict(variants.get(0));
        try (LoadedModel m = ModelLoader.load("synthetic:llama-7b")) {
            Engine engine = Engine.discover();
            int i = 0;
            for (int round = 0; round < rounds; round++)
                for (int rows : rowCounts)
                    for (String v : variants) {
                        List<String> switches = ComparisonParts.switches(v);
                        int graph = ++i;
                        String named = switches.isEmpty() ? "defaults" : "-D" + String.join(" -D", switches);
                        try {
                            CudaSettings.with(switches, () -> {
                                RunProfile prof = RunProfile.defaults().withModel("synthetic:llama-7b").withBackend("cuda").withShape(rows, prompt, 8);
                                ExecutionPlan plan = engine.plan(m, prof, prompt + 32);
                                try (InferenceSession s = engine.open(m, plan, TelemetrySink.NOOP)) {
                                    double ms = BenchDevice.median(DecodeSteps.prefilled(s, m, rows, prompt, rnd).time(3, 20));
                                    verdict.add(rows, v, ms);
                                    System.out.printf("   graph %d: %s at %d rows (%s): step %.3f ms (median of 20, host)%n   routing: %s%n", graph, v, rows,
                                            named, ms, SbiSplitK.Settings.read().routing());
                                }
                                return null;
                            });
                        } catch (RuntimeException e) {   // one routing failing leaves the others' runs and the verdict over them
                            System.out.printf("   graph %d: %s at %d rows (%s): FAILED: %s%n", graph, v, rows, named, e.getMessage());
                        }
                    }
        }
        if (new java.util.HashSet<>(variants).size() > 1) System.out.print(verdict.table());
    }

    /** {@code -Dfathom.bench.graphRows}: decode rows of part graphsteps, one count or a comma-separated list, each 1..8 (default 4); one sentence otherwise. */
    static List<Integer> rows() { return CudaSettings.integers("fathom.bench.graphRows", 4, 1, 8); }

    /** {@code -Dfathom.bench.graphRounds}: how many times part graphsteps runs its whole list, 1..5 (default 1). */
    static int rounds() { return CudaSettings.integer("fathom.bench.graphRounds", 1, 1, 5); }

    /** {@code -Dfathom.bench.graphVariants}: CudaBench comparison parts, comma-separated (default llama48,nv6); one sentence for a name that is none. */
    static List<String> variants() { return parts("fathom.bench.graphVariants", "llama48,nv6"); }

    /** The CudaBench comparison parts {@code property} names, comma-separated (default {@code def}); one sentence for a name that is none. */
    static List<String> parts(String property, String def) {
        List<String> v = java.util.Arrays.stream(System.getProperty(property, def).split(",")).map(String::trim).toList();
        try {
            v.forEach(ComparisonParts::switches);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("-D" + property + ": " + e.getMessage(), e);
        }
        return v;
    }

    /** Reads a cuda_gpu_trace CSV and prints {@link #table}; exit 2 with one sentence on a bad file. */
    public static void main(String[] args) {
        if (args.length != 1) {
            System.err.println("usage: GraphGaps TRACE.csv  (nsys stats --report cuda_gpu_trace --format csv output)");
            System.exit(2);
        }
        if (args[0].isBlank()) {   // gpu-run.sh passes what nsys stats wrote: nothing when it failed
            System.err.println("GraphGaps: no trace CSV given; nsys stats wrote none (its output is in the step's -stats.txt)");
            System.exit(2);
        }
        Path p = Path.of(args[0]);
        try (Reader r = Files.newBufferedReader(p)) {
            System.out.print(table(graphs(read(r, p.toString()), 10)));
        } catch (IOException | IllegalArgumentException e) {
            System.err.println(e instanceof java.nio.file.NoSuchFileException ? p + ": no such file; give the CSV that nsys stats --report cuda_gpu_trace wrote"
                    : e instanceof IOException ? p + ": cannot be read as a CSV kernel list (" + e.getMessage().lines().findFirst().orElse("") + ")" : e.getMessage());
            System.exit(2);
        }
    }
}
