// Attention over the KV cache for decode steps and short per-row runs: attention_rows (a block per head and row) and
// attention_decode / attention_decode_late (RoPE + KV append + attention in one kernel, positions split over blocks),
// with their warp and block helpers. Included by fathom_kernels.cu (which defines DEV, pdl_*, block_sum/max); the
// prompt phase's tiled attention is in prompt.cuh. Host side: dev.fathom.cuda.AttentionLaunch.

// ------------------------------------------------------------------------------------------ attention

// One lane's share of q·k over a head of h4 float4s (lanes take every 32nd); k4 in shared memory.
DEV float lane_dot(const float4* q4, const float4* k4, int h4, int lane) {
    float s = 0.f;
    for (int i = lane; i < h4; i += 32) {
        const float4 kv = k4[i], qv = q4[i];
        s = fmaf(qv.x, kv.x, s); s = fmaf(qv.y, kv.y, s);
        s = fmaf(qv.z, kv.z, s); s = fmaf(qv.w, kv.w, s);
    }
    return s;
}

// The same over a cached key row k of either element type (read-only loads, kv_ld4).
template <typename KT>
DEV float lane_dot_kv(const float4* q4, const KT* k, int h4, int lane) {
    float s = 0.f;
    for (int i = lane; i < h4; i += 32) {
        const float4 kv = kv_ld4(k + 4 * i), qv = q4[i];
        s = fmaf(qv.x, kv.x, s); s = fmaf(qv.y, kv.y, s);
        s = fmaf(qv.z, kv.z, s); s = fmaf(qv.w, kv.w, s);
    }
    return s;
}

// sc[0, cnt) <- exp(sc - max) in place; returns (max, sum of the exponentials). Ends with a barrier (every sc written).
DEV float2 block_softmax(float* sc, int cnt, float* sh) {
    float m = -INFINITY;
    for (int t = threadIdx.x; t < cnt; t += blockDim.x) m = fmaxf(m, sc[t]);
    m = block_max(m, sh);
    float sum = 0.f;
    for (int t = threadIdx.x; t < cnt; t += blockDim.x) { float e = expf(sc[t] - m); sc[t] = e; sum += e; }
    return make_float2(m, block_sum(sum, sh));
}

DEV float warp_sum(float v) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}
// grid = (heads, rows), block = 512, dynamic smem = (hd + roundup4(maxLen) + 4 * 512) floats (q, scores, partials).
// Causal over positions 0..pos of the row's slot; GQA maps head h to kv head h / (heads / kvHeads); prompt
// and token phases alike. hd % 4 == 0. Scores: a warp per position (lanes split the head dim into float4s, a shuffle
// reduction), four positions in flight per warp. Output: groups of hd/4 threads (one float4 of the head each) take
// positions in turn, so each group reads a whole value row coalesced; groups meet once in shared memory.

template <typename KT>
DEV void attention_rows_impl(const float* qkv, int ld, int n, const int* meta, int heads, int kvHeads,
                             int hd, const KT* kc, const KT* vc, int maxLen, float scale, float* out, int ldo) {
    extern __shared__ float4 smem4[];
    float* smem = reinterpret_cast<float*>(smem4);
    __shared__ float sh[32];
    float* sq = smem;
    float* sc = smem + hd;
    float* part = sc + ((maxLen + 3) & ~3);   // 16-byte aligned for the float4 partials
    pdl_trigger();
    pdl_wait();
    const int h = blockIdx.x, r = blockIdx.y;
    const int p = meta[n + r], slot = meta[2 * n + r];
    const int L = p + 1;
    const int kvh = h / (heads / kvHeads), kvDim = kvHeads * hd;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) sq[d] = qkv[(size_t)r * ld + h * hd + d];
    __syncthreads();
    const KT* kb = kc + (size_t)slot * maxLen * kvDim + kvh * hd;
    const KT* vb = vc + (size_t)slot * maxLen * kvDim + kvh * hd;
    const int h4 = hd >> 2;
    const float4* q4 = reinterpret_cast<const float4*>(sq);
    {   // scores: a warp per key row (lanes split the head dim, one float4 each), four rows in flight per warp
        const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nw = blockDim.x >> 5;
        for (int j0 = warp; j0 < L; j0 += 4 * nw) {
            float s[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
            for (int u = 0; u < 4; u++) {
                const int j = j0 + u * nw;
                if (j >= L) break;
                s[u] = lane_dot_kv(q4, kb + (size_t)j * kvDim, h4, lane);
            }
#pragma unroll
            for (int u = 0; u < 4; u++) {
                s[u] = warp_sum(s[u]);
                const int j = j0 + u * nw;
                if (lane == 0 && j < L) sc[j] = s[u] * scale;
            }
        }
    }
    __syncthreads();
    const float inv = 1.f / block_softmax(sc, L, sh).y;
    const int groups = blockDim.x / h4, grp = threadIdx.x / h4, c = threadIdx.x % h4;
    float4 o = make_float4(0.f, 0.f, 0.f, 0.f);
    if (grp < groups) {
#pragma unroll 4
        for (int j = grp; j < L; j += groups) {
            const float pj = sc[j];
            const float4 v = kv_ld4(vb + (size_t)j * kvDim + 4 * c);
            o.x = fmaf(pj, v.x, o.x); o.y = fmaf(pj, v.y, o.y); o.z = fmaf(pj, v.z, o.z); o.w = fmaf(pj, v.w, o.w);
        }
        reinterpret_cast<float4*>(part)[grp * h4 + c] = o;
    }
    __syncthreads();
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float a = 0.f;
        for (int g2 = 0; g2 < groups; g2++) a += part[g2 * hd + d];
        out[(size_t)r * ldo + h * hd + d] = a * inv;
    }
}

// float32 and bf16 (_kb) caches; same parameters
#define ROWS_KERNEL(NAME, KT)                                                                                 \
    extern "C" __global__ void NAME(const float* qkv, int ld, int n, const int* meta, int heads, int kvHeads, \
                                    int hd, const KT* kc, const KT* vc, int maxLen, float scale, float* out, int ldo) { \
        attention_rows_impl<KT>(qkv, ld, n, meta, heads, kvHeads, hd, kc, vc, maxLen, scale, out, ldo);      \
    }
ROWS_KERNEL(attention_rows, float)
ROWS_KERNEL(attention_rows_kb, __nv_bfloat16)

// ------------------------------------------------------------------------------------------ decode attention
// Decode steps (one new row per sequence, distinct slots): RoPE + KV append + attention in one kernel, the positions
// split over gridDim.z blocks per (head, row) so a step's few heads still fill the GPU (flash-decoding style).
// grid = (heads, rows, S), block = DEC_THREADS, dynamic smem = (2 * hd + roundup4(scCap) + 4 * DEC_THREADS) floats.
// A row of L = p + 1 positions uses S' = min(S, ceil(L / minChunk)) of its S blocks (the rest return at once): short
// contexts run one block per head with no merge, long ones split. Block (h, r, s < S') takes positions
// [s*c, min(L, (s+1)*c)) with c = ceil(L / S') <= scCap:
//  - q of head h is rotated on the fly (pairs (i, i + rot/2), as rope_kv_append) into shared memory;
//  - the block holding position p rotates the row's new k itself and reads it (and the new v) from there and the qkv
//    row, never from the cache, so no block waits for another's append; the first head of each KV group also writes
//    k and v to the cache;
//  - scores, a local softmax (max m, sum l) and the unnormalized value sum o go to part[(r*heads + h)*S + s] as
//    [o (hd) | m | l] (S counted as gridDim.z in the layout: rows of different lengths split differently); the last
//    block of (h, r) to finish (a counter, reset after use so graph replays start at 0)
//    merges the S partials: out = Σ e^(m_s - M) o_s / Σ e^(m_s - M) l_s. With S = 1 the block writes out directly.
// hd % 4 == 0 and hd <= 4 * DEC_THREADS. Scores: a warp per position, eight positions in flight per warp.
#define DEC_THREADS 512
#ifndef DEC_KPRE
#define DEC_KPRE 4   // key positions per warp loaded before the wait (8 keys and 8 values spilled at 128 registers)
#endif
#ifndef DEC_VPRE
#define DEC_VPRE 4   // value positions per thread group loaded before the wait
#endif

template <bool PRE, typename KT>
DEV void attention_decode_impl(
        const float* qkv, int ld, int n, const int* meta, int heads, int kvHeads, int hd, int rot, const float2* cosSin,
        KT* kc, KT* vc, int maxLen, float scale, int minChunk, int scCap, float* part, unsigned* counters, float* out,
        int ldo) {
    extern __shared__ float4 dec_smem4[];   // (a name of its own: a template may not redeclare attention_rows's)
    float* smem = reinterpret_cast<float*>(dec_smem4);
    __shared__ float sh[32];
    __shared__ unsigned last;
    float* sq = smem;
    float* sk = smem + hd;
    float* sc = sk + hd;
    float* pt = sc + ((scCap + 3) & ~3);
    pdl_trigger();
    // Before the wait, everything that does not come from the kernel before (the QKV projection): the row's position
    // and slot (written by the host before the step) and the cached keys and values of the positions before it
    // (written by earlier steps, which had finished before this step was launched). DEC_KPRE positions per warp for the
    // scores and DEC_VPRE per thread group for the weighted sum are loaded here (head dims up to 128: one float4 per lane),
    // so their HBM round trips overlap the QKV projection's tail instead of following it.
    const int h = blockIdx.x, r = blockIdx.y, sp = blockIdx.z;
    const int p = meta[n + r], slot = meta[2 * n + r];
    const int L = p + 1, S = min((int)gridDim.z, (L + minChunk - 1) / minChunk);
    if (sp >= S) return;
    const int chunk = (L + S - 1) / S, j0 = sp * chunk, j1 = min(L, j0 + chunk);
    const int group = heads / kvHeads, kvh = h / group, kvDim = kvHeads * hd, half = rot / 2;
    const KT* kb = kc + (size_t)slot * maxLen * kvDim + kvh * hd;
    const KT* vb = vc + (size_t)slot * maxLen * kvDim + kvh * hd;
    const int h4 = hd >> 2, cnt = max(0, j1 - j0), cc = max(0, min(j1, p) - j0);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nw = blockDim.x >> 5;
    const int groups = blockDim.x / h4, grp = threadIdx.x / h4, c = threadIdx.x % h4;
    const bool pre = PRE && h4 <= 32;
    using Raw = typename KvRaw<KT>::T;   // held as loaded (a bf16 cache: half the registers)
    Raw kp[DEC_KPRE], vp[DEC_VPRE];
#pragma unroll
    for (int u = 0; u < (DEC_KPRE > DEC_VPRE ? DEC_KPRE : DEC_VPRE); u++) {
        const int tk = warp + u * nw, tv = grp + u * groups;
        if (u < DEC_KPRE)
            kp[u] = pre && tk < cc && lane < h4 ? kv_raw(kb + (size_t)(j0 + tk) * kvDim + 4 * lane) : Raw{};
        if (u < DEC_VPRE)
            vp[u] = pre && grp < groups && tv < cc ? kv_raw(vb + (size_t)(j0 + tv) * kvDim + 4 * c) : Raw{};
    }
    pdl_wait();
    const float* row = qkv + (size_t)r * ld;
    const float2* cs = cosSin + (size_t)p * half;
    const bool mine = j0 <= p && p < j1;   // this block holds the new position
    for (int i = threadIdx.x; i < hd; i += blockDim.x) {
        const float* qh = row + h * hd;
        float v;
        if (i < half) v = qh[i] * cs[i].x - qh[i + half] * cs[i].y;
        else if (i < rot) v = qh[i] * cs[i - half].x + qh[i - half] * cs[i - half].y;
        else v = qh[i];
        sq[i] = v;
        if (mine) {
            const float* kh = row + (heads + kvh) * hd;
            float k;
            if (i < half) k = kh[i] * cs[i].x - kh[i + half] * cs[i].y;
            else if (i < rot) k = kh[i] * cs[i - half].x + kh[i - half] * cs[i - half].y;
            else k = kh[i];
            sk[i] = k;
            if (h % group == 0) {
                const size_t at = ((size_t)slot * maxLen + p) * kvDim + (size_t)kvh * hd + i;
                kv_st(kc + at, k);
                kv_st(vc + at, row[(heads + kvHeads + kvh) * hd + i]);
            }
        }
    }
    __syncthreads();
    const float* vnew = row + (heads + kvHeads + kvh) * hd;
    // cnt positions, of which the first cc are in the cache (read-only loads) and, in the block that holds it, the last
    // is the new one (k from shared memory, v from the qkv row), handled after the loops
    const float4* q4 = reinterpret_cast<const float4*>(sq);
    {   // scores: a warp per position (lanes split the head dim), eight positions in flight per warp
        for (int t0 = warp; t0 < cc; t0 += 8 * nw) {
            float s[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
#pragma unroll
            for (int u = 0; u < 8; u++) {
                const int t = t0 + u * nw;
                if (t >= cc) break;
                if (pre && t0 == warp && u < DEC_KPRE) {   // loaded before the wait; the same sum as lane_dot's single step
                    if (lane < h4) {
                        const float4 qv = q4[lane], kv = kv_cvt(kp[u]);
                        float a = 0.f;
                        a = fmaf(qv.x, kv.x, a); a = fmaf(qv.y, kv.y, a);
                        a = fmaf(qv.z, kv.z, a); a = fmaf(qv.w, kv.w, a);
                        s[u] = a;
                    }
                } else {
                    s[u] = lane_dot_kv(q4, kb + (size_t)(j0 + t) * kvDim, h4, lane);
                }
            }
#pragma unroll
            for (int u = 0; u < 8; u++) {
                s[u] = warp_sum(s[u]);
                const int t = t0 + u * nw;
                if (lane == 0 && t < cc) sc[t] = s[u] * scale;
            }
        }
        if (mine && warp == nw - 1) {   // the new position
            const float s1 = warp_sum(lane_dot(q4, reinterpret_cast<const float4*>(sk), h4, lane));
            if (lane == 0) sc[cnt - 1] = s1 * scale;
        }
    }
    __syncthreads();
    const float2 ml = block_softmax(sc, cnt, sh);
    const float m = ml.x, l = ml.y;
    if (grp < groups) {
        float4 o = make_float4(0.f, 0.f, 0.f, 0.f);
        int tFrom = grp;
        if (pre) {   // the first DEC_VPRE positions of this group were loaded before the wait
#pragma unroll
            for (int u = 0; u < DEC_VPRE; u++) {
                const int t = grp + u * groups;
                if (t < cc) {
                    const float pj = sc[t];
                    const float4 v = kv_cvt(vp[u]);
                    o.x = fmaf(pj, v.x, o.x); o.y = fmaf(pj, v.y, o.y); o.z = fmaf(pj, v.z, o.z); o.w = fmaf(pj, v.w, o.w);
                }
            }
            tFrom = grp + DEC_VPRE * groups;
        }
#pragma unroll 8
        for (int t = tFrom; t < cc; t += groups) {
            const float pj = sc[t];
            const float4 v = kv_ld4(vb + (size_t)(j0 + t) * kvDim + 4 * c);
            o.x = fmaf(pj, v.x, o.x); o.y = fmaf(pj, v.y, o.y); o.z = fmaf(pj, v.z, o.z); o.w = fmaf(pj, v.w, o.w);
        }
        if (mine && grp == 0) {
            const float pj = sc[cnt - 1];
            const float4 v = __ldg(reinterpret_cast<const float4*>(vnew) + c);
            o.x = fmaf(pj, v.x, o.x); o.y = fmaf(pj, v.y, o.y); o.z = fmaf(pj, v.z, o.z); o.w = fmaf(pj, v.w, o.w);
        }
        reinterpret_cast<float4*>(pt)[grp * h4 + c] = o;
    }
    __syncthreads();
    float* dst = out + (size_t)r * ldo + h * hd;
    if (S == 1) {
        const float inv = 1.f / l;
        for (int d = threadIdx.x; d < hd; d += blockDim.x) {
            float a = 0.f;
            for (int g2 = 0; g2 < groups; g2++) a += pt[g2 * hd + d];
            dst[d] = a * inv;
        }
        return;
    }
    const size_t unit = (size_t)hd + 2, Z = gridDim.z;
    float* mine_part = part + ((size_t)(r * heads + h) * Z + sp) * unit;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float a = 0.f;
        for (int g2 = 0; g2 < groups; g2++) a += pt[g2 * hd + d];
        mine_part[d] = a;
    }
    if (threadIdx.x == 0) { mine_part[hd] = m; mine_part[hd + 1] = l; }
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) {
        unsigned* ctr = counters + (size_t)r * heads + h;
        last = atomicAdd(ctr, 1u) == (unsigned)(S - 1);
        if (last) *ctr = 0u;   // every block of (h, r) has counted: ready for the next step
    }
    __syncthreads();
    if (!last) return;
    __threadfence();
    const float* all = part + (size_t)(r * heads + h) * Z * unit;
    float M = -INFINITY;
    for (int s2 = 0; s2 < S; s2++) M = fmaxf(M, __ldcg(all + s2 * unit + hd));
    float den = 0.f;
    for (int s2 = 0; s2 < S; s2++) {
        const float ms = __ldcg(all + s2 * unit + hd);
        den += ms == -INFINITY ? 0.f : expf(ms - M) * __ldcg(all + s2 * unit + hd + 1);
    }
    const float inv = 1.f / den;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float a = 0.f;
        for (int s2 = 0; s2 < S; s2++) {
            const float ms = __ldcg(all + s2 * unit + hd);
            if (ms != -INFINITY) a += expf(ms - M) * __ldcg(all + s2 * unit + d);
        }
        dst[d] = a * inv;
    }
}

// attention_decode: with the cache loads before the wait (the default); attention_decode_late: all of them after it, as
// before (-Dfathom.cuda.decodePrefetch=false, for comparison). Same parameters, same results bit for bit.
#define DEC_KERNEL(NAME, PRE, KT, LB)                                                                               \
    extern "C" __global__ void __launch_bounds__ LB NAME(                                                    \
        const float* qkv, int ld, int n, const int* meta, int heads, int kvHeads, int hd, int rot,                \
        const float2* cosSin, KT* kc, KT* vc, int maxLen, float scale, int minChunk, int scCap, float* part, \
        unsigned* counters, float* out, int ldo) {                                                                \
        attention_decode_impl<PRE, KT>(qkv, ld, n, meta, heads, kvHeads, hd, rot, cosSin, kc, vc, maxLen, scale,     \
                                   minChunk, scCap, part, counters, out, ldo);                                    \
    }
// LB: launch bounds; the bf16 prefetching kernel says "one block per multiprocessor" (else ptxas keeps it to 64
// registers and spills; at one block it takes 96, as the float32 kernel takes 104 unasked). Tried and dropped: 16
// positions in flight per warp over a bf16 cache (the bytes in flight of float32): 1.5-3 % slower per step at batch 8
// and 32, 128 and 1024 positions (docs/benchmarks.md).
DEC_KERNEL(attention_decode, true, float, (DEC_THREADS))
DEC_KERNEL(attention_decode_late, false, float, (DEC_THREADS))
DEC_KERNEL(attention_decode_kb, true, __nv_bfloat16, (DEC_THREADS, 1))   // the same over a bf16 cache
DEC_KERNEL(attention_decode_late_kb, false, __nv_bfloat16, (DEC_THREADS))
