package dev.fathom.cuda;

import dev.fathom.engine.cpu.CpuModel;

/**
 * The gating of one MoE layer as the GPU consumes it: each row's top-k experts and weights (the CPU backend's
 * {@link CpuModel#route}, so both backends pick the same experts), inverted from token → experts into expert → rows.
 * {@code rows[start[x] .. start[x + 1])} are the rows routed to expert x, in row order, and {@code weights} holds the
 * matching gate weights: the dense gather / scatter tables of the paper's table gating (no one-hot einsum).
 */
record MoeTable(int[] start, int[] rows, float[] weights) {
    /** Routes the {@code n} rows of {@code router} logits [n, experts] to {@code topK} experts each. */
    static MoeTable of(float[] router, int n, int experts, int topK) {
        int[] choice = new int[n * topK], count = new int[experts];
        float[] weight = new float[n * topK];
        for (int i = 0; i < n; i++) CpuModel.route(router, i * experts, experts, topK, choice, weight, i * topK, count);
        int[] start = new int[experts + 1];
        for (int x = 0; x < experts; x++) start[x + 1] = start[x] + count[x];
        int[] fill = start.clone(), rows = new int[n * topK];
        float[] w = new float[n * topK];
        for (int i = 0; i < n * topK; i++) {
            int pos = fill[choice[i]]++;
            rows[pos] = i / topK;
            w[pos] = weight[i];
        }
        return new MoeTable(start, rows, w);
    }

    /** Rows routed to expert {@code x}. */
    int count(int x) { return start[x + 1] - start[x]; }
}
