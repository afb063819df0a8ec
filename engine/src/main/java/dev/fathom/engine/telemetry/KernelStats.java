package dev.fathom.engine.telemetry;

/**
 * Aggregate of one kernel name over a run.
 *
 * @param name    kernel name
 * @param calls   launches
 * @param totalNs summed duration
 * @param bytes   summed bytes moved
 * @param flops   summed FLOPs
 */
public record KernelStats(String name, long calls, long totalNs, long bytes, long flops) {
    public double totalMs() { return totalNs / 1e6; }
    public double meanUs() { return calls == 0 ? 0 : totalNs / 1e3 / calls; }
    public double gbPerS() { return totalNs == 0 ? 0 : bytes / (double) totalNs; }
    public double gflopPerS() { return totalNs == 0 ? 0 : flops / (double) totalNs; }

    KernelStats plus(long ns, long b, long f) { return new KernelStats(name, calls + 1, totalNs + ns, bytes + b, flops + f); }
}
