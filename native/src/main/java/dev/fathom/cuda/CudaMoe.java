package dev.fathom.cuda;

import dev.fathom.engine.telemetry.TelemetryEvent;
import dev.fathom.engine.telemetry.TelemetryEvent.Phase;
import dev.fathom.engine.telemetry.TelemetrySink;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.function.LongUnaryOperator;

/**
 * The MoE block of a {@link CudaModel} layer: the router GEMM, top-k table gating on the host ({@link MoeTable}: the
 * same experts as the CPU backend picks), then per expert a gather of its rows, the gated GEMM, the down GEMM and a
 * weighted scatter-add, and last the residual. Owns the block's device buffers, sized for {@code maxRows} rows.
 */
final class CudaMoe {
    private final CudaModel model;
    private final Cuda cu;
    private final long stream;
    private final TelemetrySink sink;
    private final int h, ffn, experts, topK;
    /** [rows, h] expert sum, gathered rows, [rows, ffn] activations, [rows, h] expert output, [rows, experts] router logits, the tables. */
    private final long out, in, act, y, router, tables;

    CudaMoe(CudaModel model, Cuda cu, long stream, TelemetrySink sink, LongUnaryOperator alloc, int maxRows, int h, int ffn,
            int experts, int topK) {
        this.model = model;
        this.cu = cu;
        this.stream = stream;
        this.sink = sink;
        this.h = h;
        this.ffn = ffn;
        this.experts = experts;
        this.topK = topK;
        out = alloc.applyAsLong(4L * maxRows * h);
        in = alloc.applyAsLong(4L * maxRows * h);
        act = alloc.applyAsLong(4L * maxRows * ffn);
        y = alloc.applyAsLong(4L * maxRows * h);
        router = alloc.applyAsLong(4L * maxRows * experts);
        tables = alloc.applyAsLong(8L * maxRows * topK);
    }

    /**
     * xn [n, h] (the normed rows) through the layer's experts, added onto the residual stream x [n, h]; {@code layer} and
     * {@code phase} label the host gating span.
     */
    void run(CudaModel.Layer w, int n, long x, long xn, int layer, Phase phase) {
        int e = experts;
        model.gemms().gemm("moe.router", w.router(), xn, h, n, router, e, 0, 0);
        float[] r = new float[n * e];
        try (Arena a = Arena.ofConfined()) {
            MemorySegment hr = a.allocate(4L * n * e, 16);
            cu.copyToHost(hr, router, 4L * n * e, stream);
            cu.synchronize(stream);
            MemorySegment.copy(hr, ValueLayout.JAVA_FLOAT, 0, r, 0, r.length);
            long t0 = System.nanoTime();
            MoeTable table = MoeTable.of(r, n, e, topK);
            int[] start = table.start();
            MemorySegment tab = a.allocate(8L * n * topK, 16);   // [rows | weights] by expert
            MemorySegment.copy(table.rows(), 0, tab, ValueLayout.JAVA_INT, 0, n * topK);
            MemorySegment.copy(table.weights(), 0, tab, ValueLayout.JAVA_FLOAT, 4L * n * topK, n * topK);
            cu.copyToDevice(tables, tab, 8L * n * topK, stream);
            cu.fill32(out, 0, (long) n * h, stream);
            if (sink.enabled())
                sink.emit(new TelemetryEvent.KernelSpan("moe.gate", "cuda:" + cu.ordinal(), 0, layer, phase, t0, System.nanoTime() - t0, 4L * n * e, 4L * n * e));
            for (int ei = 0; ei < e; ei++) {
                int m = table.count(ei);
                if (m == 0) continue;
                long rows = tables + 4L * start[ei], wts = tables + 4L * ((long) n * topK + start[ei]);
                CudaModel.Mat[] ex = w.experts().get(ei);
                model.timed("moe.gather", 8L * m * h, 0, () -> model.launch("gather_rows", m, 1, 256, 0, stream, xn, rows, in, h));
                model.gemms().gemm("moe.expert.gate_up", ex[0], in, h, m, act, ffn, 0, 1);
                model.gemms().gemm("moe.expert.down", ex[1], act, ffn, m, y, h, 0, 0);
                model.timed("moe.scatter", 12L * m * h, 2L * m * h, () -> model.launch("scatter_add_rows", m, 1, 256, 0, stream, out, rows, wts, y, h));
            }
            long total = (long) n * h;
            model.timed("moe.residual", 12L * total, total, () -> model.launch("add_vec", (int) Math.min(4096, (total + 255) / 256), 1, 256, 0, stream, x, x, out, total));
            cu.synchronize(stream);   // the host table must outlive the async copy
        }
    }
}
