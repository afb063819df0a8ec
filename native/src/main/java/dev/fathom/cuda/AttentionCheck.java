package dev.fathom.cuda;

import dev.fathom.cuda.CudaSelfCheck.GemmResult;
import dev.fathom.engine.tensor.DType;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Checks of the attention kernels on the GPU against float64 on the CPU, on fresh random inputs with NaN-poisoned
 * outputs: the per-row and tiled kernels (prompt phase), and the decode kernel with RoPE and the KV append inside
 * ({@code attention_decode}). Run by {@link CudaSelfCheck} and {@code CudaGpuTest}.
 */
final class AttentionCheck {
    private AttentionCheck() {}

    private static final String[] NAMES = {"rows   ", "tiles  ", "tiles32", "mma    ", "mma32  ", "rows kb", "mma kb ", "mma32kb"};

    /** {@code v} rounded to bf16 (nearest even) and widened back: the values a bf16 KV cache holds. */
    static float[] bf16Round(float[] v) {
        float[] r = new float[v.length];
        for (int i = 0; i < v.length; i++) r[i] = DType.bf16ToFloat(DType.floatToBf16(v[i]));
        return r;
    }

    /** {@code v} as bf16 (nearest even; NaN stays NaN) in {@code a}. */
    static MemorySegment bf16(float[] v, Arena a) {
        MemorySegment m = a.allocate(2L * v.length, 16);
        for (int i = 0; i < v.length; i++) m.setAtIndex(ValueLayout.JAVA_SHORT, i, DType.floatToBf16(v[i]));
        return m;
    }

    /** What a cache element holds for the kernel's float value {@code v}: v rounded once to bf16 ({@code bf16Kv}), or v. */
    static double stored(double v, boolean bf16Kv) { return bf16Kv ? DType.bf16ToFloat(DType.floatToBf16((float) v)) : v; }

    /** Element {@code at} of a cache copied back ({@code bf16Kv}: bf16 elements), as a float. */
    static float cacheAt(MemorySegment m, long at, boolean bf16Kv) {
        return bf16Kv ? DType.bf16ToFloat(m.getAtIndex(ValueLayout.JAVA_SHORT, at)) : m.getAtIndex(ValueLayout.JAVA_FLOAT, at);
    }

    /**
     * The tolerance of an {@link #attention} result: 1e-5 for the fp32 kernels; 1e-2 for attention_mma, whose q, k,
     * probabilities and v enter the tensor cores as bf16 (about 3e-3 relative measured; its sums are fp32).
     */
    static double tolerance(GemmResult r) { return r.what().startsWith("attention mma") ? 1e-2 : 1e-5; }

    /**
     * Both attention kernels (per row, and over query tiles as the prompt phase runs) on fresh random q, k, v
     * against a float64 CPU softmax(q·k/sqrt(hd))·v, causal per row. One sequence per slot of the given lengths,
     * its rows consecutive; outputs poisoned with NaN first. Returns {rows, 64-row tiles, 32-row tiles}, for the head
     * dims attention_mma has (on compute capability 8+) {mma over 64-row tiles, over 32-row tiles}, then the kernels over
     * a bf16 cache ({@code _kb}; the cache rounded to bf16, the reference taken over the rounded values): {rows} and, where
     * attention_mma runs, {mma over 64-row tiles, over 32-row tiles}.
     */
    static GemmResult[] attention(int hd, int heads, int kvHeads, int[] lens, long seed) {
        CudaModule mod = CudaModule.get();
        Cuda cu = mod.cuda();
        cu.makeCurrent();
        Random rnd = new Random(seed);
        int slots = lens.length, maxLen = Arrays.stream(lens).max().orElse(1) + 3, n = Arrays.stream(lens).sum();
        int kvDim = kvHeads * hd, qkvDim = (heads + 2 * kvHeads) * hd, od = heads * hd;
        float[] qkv = new float[n * qkvDim], kc = new float[slots * maxLen * kvDim], vc = new float[kc.length];
        for (int i = 0; i < qkv.length; i++) qkv[i] = (float) rnd.nextGaussian();
        for (int i = 0; i < kc.length; i++) { kc[i] = (float) rnd.nextGaussian(); vc[i] = (float) rnd.nextGaussian(); }
        int[] meta = new int[3 * n], slotOf = new int[n];
        for (int s = 0, r = 0; s < slots; s++)
            for (int p = 0; p < lens[s]; p++, r++) { meta[r] = 0; meta[n + r] = p; meta[2 * n + r] = s; slotOf[r] = s; }
        int[] tl = new int[2 * n], tl32 = new int[2 * n];
        int tc = AttentionLaunch.queryTiles(slotOf, 64, tl), tc32 = AttentionLaunch.queryTiles(slotOf, 32, tl32);
        float scale = (float) (1 / Math.sqrt(hd));
        float[] kcb = bf16Round(kc), vcb = bf16Round(vc);
        double[] ref = reference(qkv, kc, vc, meta, n, heads, kvHeads, hd, maxLen, scale),
                refb = reference(qkv, kcb, vcb, meta, n, heads, kvHeads, hd, maxLen, scale);
        long stream = cu.streamCreate();
        List<Long> mem = new ArrayList<>();
        try (Arena a = Arena.ofShared()) {
            long dQ = CudaSelfCheck.dev(cu, mem, SbiLayout.floats(qkv, a), stream), dK = CudaSelfCheck.dev(cu, mem, SbiLayout.floats(kc, a), stream),
                    dV = CudaSelfCheck.dev(cu, mem, SbiLayout.floats(vc, a), stream);
            long dKb = CudaSelfCheck.dev(cu, mem, bf16(kc, a), stream), dVb = CudaSelfCheck.dev(cu, mem, bf16(vc, a), stream);
            long dM = CudaSelfCheck.dev(cu, mem, a.allocateFrom(ValueLayout.JAVA_INT, meta), stream);
            long dT = CudaSelfCheck.dev(cu, mem, a.allocateFrom(ValueLayout.JAVA_INT, Arrays.copyOf(tl, 2 * tc)), stream);
            long dT32 = CudaSelfCheck.dev(cu, mem, a.allocateFrom(ValueLayout.JAVA_INT, Arrays.copyOf(tl32, 2 * tc32)), stream);
            long dO = cu.malloc(4L * n * od);
            mem.add(dO);
            boolean mma = AttentionLaunch.mmaHeadDim(hd) && cu.ccMajor() >= 8;
            int[] variants = mma ? new int[]{0, 1, 2, 3, 4, 5, 6, 7} : new int[]{0, 1, 2, 5};
            GemmResult[] out = new GemmResult[variants.length];
            for (int vi = 0; vi < variants.length; vi++) {
                int v = variants[vi];
                boolean kb = v >= 5;
                long k = kb ? dKb : dK, vv = kb ? dVb : dV;
                cu.fill32(dO, 0x7fc00000, (long) n * od, stream);
                if (v == 0 || v == 5) {
                    int smem = AttentionLaunch.rowsSmem(hd, maxLen);
                    String kn = AttentionLaunch.kvKernel("attention_rows", kb);
                    if (smem > 48 * 1024) cu.setMaxDynamicShared(mod.fn(kn), smem);
                    mod.launch(kn, heads, n, AttentionLaunch.ROWS_THREADS, smem, stream, dQ, qkvDim, n, dM, heads, kvHeads, hd, k, vv,
                            maxLen, scale, dO, od);
                } else if (v == 3 || v == 4 || v == 6 || v == 7) {   // attention_mma (bf16 tensor cores), 64- or 32-row query tiles
                    int tq = v == 3 || v == 6 ? 64 : 32, smem = AttentionLaunch.mmaSmem(hd, kb);
                    String kn = AttentionLaunch.mmaKernel(hd, kb);
                    if (smem > 48 * 1024) cu.setMaxDynamicShared(mod.fn(kn), smem);
                    mod.launch(kn, heads, tq == 64 ? tc : tc32, AttentionLaunch.mmaThreads(tq), smem, stream, dQ, qkvDim, n, dM, tq == 64 ? dT : dT32,
                            heads, kvHeads, hd, k, vv, maxLen, scale, dO, od);
                } else {   // v 1: 64-row query tiles, v 2: 32-row tiles
                    int tq = v == 1 ? 64 : 32;
                    int smem = AttentionLaunch.tilesSmem(hd, tq);
                    String kn = AttentionLaunch.tilesKernel(hd, tq);
                    if (smem > 48 * 1024) cu.setMaxDynamicShared(mod.fn(kn), smem);
                    mod.launch(kn, heads, v == 1 ? tc : tc32, 256, smem, stream, dQ, qkvDim, n, dM, v == 1 ? dT : dT32, heads, kvHeads, hd, dK, dV,
                            maxLen, scale, dO, od);
                }
                double[] want = kb ? refb : ref;
                MemorySegment ho = a.allocate(4L * n * od, 16);
                cu.copyToHost(ho, dO, 4L * n * od, stream);
                cu.synchronize(stream);
                double num = 0, den = 0;
                boolean written = true;
                for (int i = 0; i < n * od; i++) {
                    float g = ho.getAtIndex(ValueLayout.JAVA_FLOAT, i);
                    if (Float.isNaN(g)) written = false;
                    num += (g - want[i]) * (g - want[i]);
                    den += want[i] * want[i];
                }
                out[vi] = new GemmResult(String.format("attention %s hd=%d heads=%d/%d lens=%s", NAMES[v], hd, heads, kvHeads,
                        Arrays.toString(lens)), Math.sqrt(num / den), written);
            }
            return out;
        } finally {
            for (long p : mem) cu.free(p);
            cu.streamDestroy(stream);
        }
    }

    /** float64 softmax(q·k/sqrt(hd))·v over cache rows 0..p of each row's slot (causal), GQA heads mapped to their group. */
    private static double[] reference(float[] qkv, float[] kc, float[] vc, int[] meta, int n, int heads, int kvHeads, int hd, int maxLen,
                                      float scale) {
        int kvDim = kvHeads * hd, qkvDim = (heads + 2 * kvHeads) * hd, od = heads * hd;
        double[] ref = new double[n * od];
        for (int r = 0; r < n; r++)
            for (int h = 0; h < heads; h++) {
                int kvh = h / (heads / kvHeads), p = meta[n + r], s = meta[2 * n + r];
                double[] sc = new double[p + 1];
                double m = Double.NEGATIVE_INFINITY, sum = 0;
                for (int j = 0; j <= p; j++) {
                    double d = 0;
                    for (int e = 0; e < hd; e++) d += (double) qkv[r * qkvDim + h * hd + e] * kc[(s * maxLen + j) * kvDim + kvh * hd + e];
                    sc[j] = d * scale;
                    m = Math.max(m, sc[j]);
                }
                for (int j = 0; j <= p; j++) { sc[j] = Math.exp(sc[j] - m); sum += sc[j]; }
                for (int e = 0; e < hd; e++) {
                    double o = 0;
                    for (int j = 0; j <= p; j++) o += sc[j] * vc[(s * maxLen + j) * kvDim + kvh * hd + e];
                    ref[r * od + h * hd + e] = o / sum;
                }
            }
        return ref;
    }

    /**
     * attention_decode (RoPE + KV append + attention, positions split over {@code splits} blocks) on fresh random q, k,
     * v, cache and rotation angles, one row per sequence at the given positions, against float64: rotate q and the new
     * k over the first {@code rot} dims, attend over the cache plus the new position. Output and the cache row the kernel
     * appends are poisoned first; the kernel runs twice, as attention_decode and then attention_decode_late (its split
     * counters must have reset, and the two outputs must agree bit for bit), and both runs are compared.
     */
    static GemmResult attentionDecode(int hd, int heads, int kvHeads, int rot, int[] positions, int splits, int minChunk, long seed) {
        return attentionDecode(hd, heads, kvHeads, rot, positions, splits, minChunk, seed, false);
    }

    /**
     * The same over a cache of bf16 ({@code bf16Kv}: attention_decode_kb / _late_kb): the cache is rounded to bf16 and
     * the reference taken over the rounded values (the new position's k and v are used unrounded, as the kernel does),
     * and the appended rows must equal the rotated k and plain v rounded to bf16.
     */
    static GemmResult attentionDecode(int hd, int heads, int kvHeads, int rot, int[] positions, int splits, int minChunk, long seed,
                                      boolean bf16Kv) {
        CudaModule mod = CudaModule.get();
        Cuda cu = mod.cuda();
        cu.makeCurrent();
        Random rnd = new Random(seed);
        int n = positions.length, slots = n, maxLen = Arrays.stream(positions).max().orElse(0) + 3, half = rot / 2;
        int kvDim = kvHeads * hd, qkvDim = (heads + 2 * kvHeads) * hd, od = heads * hd, group = heads / kvHeads;
        float[] qkv = new float[n * qkvDim], kc = new float[slots * maxLen * kvDim], vc = new float[kc.length];
        float[] cs = new float[maxLen * Math.max(half, 1) * 2];
        for (int i = 0; i < qkv.length; i++) qkv[i] = (float) rnd.nextGaussian();
        for (int i = 0; i < kc.length; i++) { kc[i] = (float) rnd.nextGaussian(); vc[i] = (float) rnd.nextGaussian(); }
        if (bf16Kv) {
            kc = bf16Round(kc);
            vc = bf16Round(vc);
        }
        for (int i = 0; i < cs.length / 2; i++) {
            double ang = rnd.nextDouble() * 2 * Math.PI;
            cs[2 * i] = (float) Math.cos(ang);
            cs[2 * i + 1] = (float) Math.sin(ang);
        }
        int[] meta = new int[3 * n];
        for (int r = 0; r < n; r++) { meta[n + r] = positions[r]; meta[2 * n + r] = n - 1 - r; }   // slots reversed
        for (int r = 0; r < n; r++)   // the appended rows start as NaN on the device
            for (int e = 0; e < kvDim; e++) {
                int at = ((n - 1 - r) * maxLen + positions[r]) * kvDim + e;
                kc[at] = Float.NaN;
                vc[at] = Float.NaN;
            }
        double[][] rq = new double[n * heads][], rk = new double[n * kvHeads][];
        for (int r = 0; r < n; r++) {
            int p = positions[r];
            for (int hh = 0; hh < heads + kvHeads; hh++) {
                double[] v = new double[hd];
                for (int i = 0; i < hd; i++) v[i] = qkv[r * qkvDim + hh * hd + i];
                for (int i = 0; i < half; i++) {
                    double c = cs[2 * (p * half + i)], sn = cs[2 * (p * half + i) + 1], x1 = v[i], x2 = v[i + half];
                    v[i] = x1 * c - x2 * sn;
                    v[i + half] = x2 * c + x1 * sn;
                }
                if (hh < heads) rq[r * heads + hh] = v;
                else rk[r * kvHeads + hh - heads] = v;
            }
        }
        float scale = (float) (1 / Math.sqrt(hd));
        double[] ref = new double[n * od];
        for (int r = 0; r < n; r++)
            for (int h = 0; h < heads; h++) {
                int kvh = h / group, p = positions[r], s = n - 1 - r;
                double[] sc = new double[p + 1];
                double m = Double.NEGATIVE_INFINITY, sum = 0;
                for (int j = 0; j <= p; j++) {
                    double d = 0;
                    for (int e = 0; e < hd; e++)
                        d += rq[r * heads + h][e] * (j == p ? rk[r * kvHeads + kvh][e] : kc[(s * maxLen + j) * kvDim + kvh * hd + e]);
                    sc[j] = d * scale;
                    m = Math.max(m, sc[j]);
                }
                for (int j = 0; j <= p; j++) { sc[j] = Math.exp(sc[j] - m); sum += sc[j]; }
                for (int e = 0; e < hd; e++) {
                    double o = 0;
                    for (int j = 0; j <= p; j++)
                        o += sc[j] * (j == p ? qkv[r * qkvDim + (heads + kvHeads + kvh) * hd + e] : vc[(s * maxLen + j) * kvDim + kvh * hd + e]);
                    ref[r * od + h * hd + e] = o / sum;
                }
            }
        long stream = cu.streamCreate();
        List<Long> mem = new ArrayList<>();
        try (Arena a = Arena.ofShared()) {
            long dQ = CudaSelfCheck.dev(cu, mem, SbiLayout.floats(qkv, a), stream), dC = CudaSelfCheck.dev(cu, mem, SbiLayout.floats(cs, a), stream);
            long dK = CudaSelfCheck.dev(cu, mem, bf16Kv ? bf16(kc, a) : SbiLayout.floats(kc, a), stream),
                    dV = CudaSelfCheck.dev(cu, mem, bf16Kv ? bf16(vc, a) : SbiLayout.floats(vc, a), stream);
            int eb = AttentionLaunch.kvElementBytes(bf16Kv);
            long dM = CudaSelfCheck.dev(cu, mem, a.allocateFrom(ValueLayout.JAVA_INT, meta), stream);
            long dP = cu.malloc(4L * n * heads * splits * (hd + 2)), dN = cu.malloc(4L * n * heads), dO = cu.malloc(4L * n * od);
            mem.addAll(List.of(dP, dN, dO));
            cu.fill32(dN, 0, (long) n * heads, stream);
            int cap = AttentionLaunch.scoreCap(maxLen, splits, minChunk), smem = AttentionLaunch.decodeSmem(hd, cap);
            // run 0: attention_decode (cache loads before the PDL wait), run 1: attention_decode_late (all after), which
            // must also give the same output bit for bit; the second run also finds the counters the first one reset
            String[] kernels = {AttentionLaunch.kvKernel("attention_decode", bf16Kv), AttentionLaunch.kvKernel("attention_decode_late", bf16Kv)};
            if (smem > 48 * 1024) for (String kn : kernels) cu.setMaxDynamicShared(mod.fn(kn), smem);
            double worst = 0;
            boolean written = true;
            float[] first = new float[n * od];
            for (int run = 0; run < kernels.length; run++) {
                cu.fill32(dO, 0x7fc00000, (long) n * od, stream);
                mod.launch3(false, kernels[run], heads, n, splits, AttentionLaunch.DECODE_THREADS, smem, stream, dQ, qkvDim, n, dM,
                        heads, kvHeads, hd, rot, dC, dK, dV, maxLen, scale, minChunk, cap, dP, dN, dO, od);
                MemorySegment ho = a.allocate(4L * n * od, 16), hk = a.allocate((long) eb * kc.length, 16), hv = a.allocate((long) eb * kc.length, 16),
                        hn = a.allocate(4L * n * heads, 16);
                cu.copyToHost(ho, dO, 4L * n * od, stream);
                cu.copyToHost(hk, dK, (long) eb * kc.length, stream);
                cu.copyToHost(hv, dV, (long) eb * kc.length, stream);
                cu.copyToHost(hn, dN, 4L * n * heads, stream);
                cu.synchronize(stream);
                double num = 0, den = 0;
                for (int i = 0; i < n * od; i++) {
                    float g = ho.getAtIndex(ValueLayout.JAVA_FLOAT, i);
                    if (Float.isNaN(g)) written = false;
                    if (run == 0) first[i] = g;
                    else if (Float.floatToRawIntBits(g) != Float.floatToRawIntBits(first[i])) written = false;   // not identical
                    num += (g - ref[i]) * (g - ref[i]);
                    den += ref[i] * ref[i];
                }
                for (int r = 0; r < n; r++)   // the appended cache rows: rotated k, plain v
                    for (int e = 0; e < kvDim; e++) {
                        long at = ((long) (n - 1 - r) * maxLen + positions[r]) * kvDim + e;
                        double wk = stored(rk[r * kvHeads + e / hd][e % hd], bf16Kv), wv = stored(qkv[r * qkvDim + (heads + kvHeads) * hd + e], bf16Kv);
                        float gk = cacheAt(hk, at, bf16Kv), gv = cacheAt(hv, at, bf16Kv);
                        if (Float.isNaN(gk) || Float.isNaN(gv)) written = false;
                        num += (gk - wk) * (gk - wk) + (gv - wv) * (gv - wv);
                        den += wk * wk + wv * wv;
                    }
                for (int i = 0; i < n * heads; i++) if (hn.getAtIndex(ValueLayout.JAVA_INT, i) != 0) written = false;   // counters reset
                worst = Math.max(worst, Math.sqrt(num / den));
            }
            return new GemmResult(String.format("attention decode%s hd=%d heads=%d/%d rot=%d pos=%s splits=%d chunk>=%d", bf16Kv ? " kb" : "", hd, heads, kvHeads, rot,
                    Arrays.toString(positions), splits, minChunk), worst, written);
        } finally {
            for (long p : mem) cu.free(p);
            cu.streamDestroy(stream);
        }
    }

    /**
     * The prompt phase's RoPE + KV append ({@code rope_kv_rows}, float32 or bf16 cache) on fresh random rows against
     * float64: sequences of {@code lens} rows (positions 0.., slots reversed) with their heads split over {@code splits}
     * blocks per row ({@link AttentionLaunch#ropeSplits}); the cache is NaN-poisoned first. q and k heads must come back
     * rotated over the first {@code rot} dims (the rest and v untouched), each row's k and v in its cache row (rounded
     * to bf16 from the kernel's fp32 values with {@code bf16Kv}).
     */
    static GemmResult ropeKvRows(int hd, int heads, int kvHeads, int rot, int[] lens, int splits, boolean bf16Kv, long seed) {
        CudaModule mod = CudaModule.get();
        Cuda cu = mod.cuda();
        cu.makeCurrent();
        Random rnd = new Random(seed);
        int slots = lens.length, n = Arrays.stream(lens).sum(), maxLen = Arrays.stream(lens).max().orElse(1) + 2, half = rot / 2;
        int kvDim = kvHeads * hd, qkvDim = (heads + 2 * kvHeads) * hd;
        float[] qkv = new float[n * qkvDim], cs = new float[maxLen * Math.max(half, 1) * 2];
        for (int i = 0; i < qkv.length; i++) qkv[i] = (float) rnd.nextGaussian();
        for (int i = 0; i < cs.length / 2; i++) {
            double ang = rnd.nextDouble() * 2 * Math.PI;
            cs[2 * i] = (float) Math.cos(ang);
            cs[2 * i + 1] = (float) Math.sin(ang);
        }
        int[] meta = new int[3 * n];
        for (int s = 0, r = 0; s < slots; s++)
            for (int p = 0; p < lens[s]; p++, r++) { meta[n + r] = p; meta[2 * n + r] = slots - 1 - s; }
        double[] want = new double[qkv.length];   // the rows after the kernel
        for (int r = 0; r < n; r++) {
            int p = meta[n + r];
            for (int i = 0; i < qkvDim; i++) want[r * qkvDim + i] = qkv[r * qkvDim + i];
            for (int hh = 0; hh < heads + kvHeads; hh++)
                for (int i = 0; i < half; i++) {
                    int at = r * qkvDim + hh * hd + i;
                    double c = cs[2 * (p * half + i)], sn = cs[2 * (p * half + i) + 1], x1 = qkv[at], x2 = qkv[at + half];
                    want[at] = x1 * c - x2 * sn;
                    want[at + half] = x2 * c + x1 * sn;
                }
        }
        long cacheLen = (long) slots * maxLen * kvDim;
        int eb = AttentionLaunch.kvElementBytes(bf16Kv);
        long stream = cu.streamCreate();
        List<Long> mem = new ArrayList<>();
        try (Arena a = Arena.ofShared()) {
            long dQ = CudaSelfCheck.dev(cu, mem, SbiLayout.floats(qkv, a), stream), dC = CudaSelfCheck.dev(cu, mem, SbiLayout.floats(cs, a), stream);
            long dM = CudaSelfCheck.dev(cu, mem, a.allocateFrom(ValueLayout.JAVA_INT, meta), stream);
            long dK = cu.malloc(eb * cacheLen + 4), dV = cu.malloc(eb * cacheLen + 4);   // + 4: the bf16 fill's last pair
            mem.addAll(List.of(dK, dV));
            if (bf16Kv) {   // bf16 NaN pairs
                cu.fill32(dK, 0x7fc07fc0, (cacheLen + 1) / 2, stream);
                cu.fill32(dV, 0x7fc07fc0, (cacheLen + 1) / 2, stream);
            } else {
                cu.fill32(dK, 0x7fc00000, cacheLen, stream);
                cu.fill32(dV, 0x7fc00000, cacheLen, stream);
            }
            mod.launch(AttentionLaunch.kvKernel("rope_kv_rows", bf16Kv), n, splits, 256, 0, stream, dQ, qkvDim, n, dM, heads, kvHeads, hd, rot,
                    dC, dK, dV, maxLen);
            MemorySegment hq = a.allocate(4L * qkv.length, 16), hk = a.allocate(eb * cacheLen, 16), hv = a.allocate(eb * cacheLen, 16);
            cu.copyToHost(hq, dQ, 4L * qkv.length, stream);
            cu.copyToHost(hk, dK, eb * cacheLen, stream);
            cu.copyToHost(hv, dV, eb * cacheLen, stream);
            cu.synchronize(stream);
            double num = 0, den = 0;
            boolean written = true;
            for (int i = 0; i < qkv.length; i++) {
                float g = hq.getAtIndex(ValueLayout.JAVA_FLOAT, i);
                if (Float.isNaN(g)) written = false;
                num += (g - want[i]) * (g - want[i]);
                den += want[i] * want[i];
            }
            for (int r = 0; r < n; r++)
                for (int e = 0; e < kvDim; e++) {
                    long at = ((long) meta[2 * n + r] * maxLen + meta[n + r]) * kvDim + e;
                    int kAt = r * qkvDim + heads * hd + e;
                    // a bf16 cache holds the kernel's own fp32 k and v rounded once
                    double wk = bf16Kv ? stored(hq.getAtIndex(ValueLayout.JAVA_FLOAT, kAt), true) : want[kAt],
                            wv = bf16Kv ? stored(hq.getAtIndex(ValueLayout.JAVA_FLOAT, kAt + kvDim), true) : want[kAt + kvDim];
                    float gk = cacheAt(hk, at, bf16Kv), gv = cacheAt(hv, at, bf16Kv);
                    if (Float.isNaN(gk) || Float.isNaN(gv)) written = false;
                    num += (gk - wk) * (gk - wk) + (gv - wv) * (gv - wv);
                    den += wk * wk + wv * wv;
                }
            return new GemmResult(String.format("rope_kv_rows%s hd=%d heads=%d/%d rot=%d lens=%s splits=%d", bf16Kv ? "_kb" : "", hd, heads, kvHeads, rot,
                    Arrays.toString(lens), splits), Math.sqrt(num / den), written);
        } finally {
            for (long p : mem) cu.free(p);
            cu.streamDestroy(stream);
        }
    }
}
