package dev.fathom.engine.run;

import dev.fathom.engine.telemetry.KernelStats;
import dev.fathom.engine.util.TextTable;

import java.util.ArrayList;
import java.util.List;

/** Renders a {@link RunRecord} for people: model, plan, headline figures, and the kernel table. */
public final class RunRecordText {
    private RunRecordText() {}

    /** The summary block and the {@code maxKernels} largest kernels (all when &lt;= 0). */
    public static String render(RunRecord r, int maxKernels) {
        StringBuilder sb = new StringBuilder();
        var m = r.model();
        var s = r.summary();
        List<String[]> kv = new ArrayList<>();
        kv.add(new String[]{"model", m.source() + (m.synthetic() ? " (random weights: outputs are meaningless)" : "")});
        kv.add(new String[]{"shape", m.shape()});
        kv.add(new String[]{"weights", TextTable.bytes(m.weightBytes()) + " " + m.weightDtype()});
        kv.add(new String[]{"backend", r.profile().backend() + " (" + r.layout() + ")"});
        kv.add(new String[]{"batch", s.batch() + " x " + s.promptTokens() + " prompt tokens, " + s.generatedTokens() + " generated"
                + (s.cancelled() ? " (cancelled)" : "")});
        kv.add(new String[]{"prompt phase", String.format("%.1f ms", s.prefillMs())});
        kv.add(new String[]{"token phase", String.format("%.2f ms/token (%d steps, %.1f ms)", s.decodeMsPerToken(), s.decodeSteps(), s.decodeMs())});
        kv.add(new String[]{"throughput", String.format("%.2f tokens/s end to end", s.tokensPerSecond())});
        if (s.bytesPerToken() > 0) {
            kv.add(new String[]{"bytes/step", TextTable.bytes(s.bytesPerToken())});
            kv.add(new String[]{"achieved", String.format("%.2f GB/s in the token phase", s.achievedGBps())});
        }
        if (r.droppedEvents() > 0)
            kv.add(new String[]{"telemetry", r.droppedEvents() + " events dropped past the recorder's bound (aggregates are complete)"});
        sb.append(TextTable.keyValues(kv));
        if (!r.kernels().isEmpty()) {
            sb.append('\n');
            TextTable t = new TextTable("kernel", ">calls", ">total ms", ">mean us", ">GB/s", ">GFLOP/s", ">share");
            long all = 0;
            for (KernelStats k : r.kernels()) all += k.totalNs();
            int n = 0;
            for (KernelStats k : r.kernels()) {
                if (maxKernels > 0 && n++ >= maxKernels) break;
                t.row(k.name(), k.calls(), String.format("%.2f", k.totalMs()), String.format("%.1f", k.meanUs()),
                        String.format("%.2f", k.gbPerS()), String.format("%.2f", k.gflopPerS()),
                        String.format("%.1f%%", all == 0 ? 0 : 100.0 * k.totalNs() / all));
            }
            sb.append(t.render());
            if (maxKernels > 0 && r.kernels().size() > maxKernels)
                sb.append("(").append(r.kernels().size() - maxKernels).append(" more kernels in the JSON report)\n");
        }
        return sb.toString();
    }
}
