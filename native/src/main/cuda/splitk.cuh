// Fathom CUDA kernels, part of fathom_kernels.cu (included there after sbi_tile.cuh, not compiled alone): the
// small-batch (2..8 activation rows) GEMMs over the tensor-core tile layout that split K over the blocks of a
// thread-block cluster (sm_90; dev.fathom.cuda.SbiSplitK plans and launches them there only).
//
// Common layout. Block = 8 warps = 8 row tiles (128 output rows) x one K slice of ceil(KT / C) k tiles; grid =
// ceil(RT / 8) * C, the C slices of a row group in consecutive blocks (cluster dims (C, 1, 1)).
//  - The block stages its slice of the activations once in shared memory, already split into bf16 hi + lo and laid
//    out as mma B fragments [kt][lane] = {hi(k0, k0+1), hi(k0+8, k0+9), lo(..), lo(..)} (one conflict-free 16-byte
//    load per lane per k tile). For 4 rows or fewer only lanes 0-15 are stored; lanes 16-31 read them again, which
//    fills B columns 4-7 with copies that are never written out. Activations cross L2 once per block: 1/16 of the
//    weight bytes per activation row.
//  - Each warp streams its row tile's k tiles (512 contiguous bytes per tile) through a rolling register pipeline:
//    at least D tiles are always in flight, each consumed tile's register slot is refilled at once.
//  - Partial sums meet once: each block writes its 8 tiles x 16 rows x 8 columns to shared memory, and after one
//    cluster barrier every block reduces 1/C of the outputs over the C blocks' shared memory (distributed shared
//    memory) and applies the epilogue (modes 0/1/2 as sbi_mma), then a second barrier keeps its memory alive
//    until the cluster has read it.
//  - gamma != null: the RMS norm before this projection runs inside it (decode steps). x is the un-normed residual
//    stream; staging multiplies it by gamma and sums x^2 of each row over the block's slice, the C partial sums meet
//    through the cluster barrier that the partial outputs already cross, and the epilogue scales each row by
//    rsqrt(sum / K + eps) before bias, activation and residual: W·(x·inv·γ) = inv·(W·(x·γ)). No extra pass over x.
// Dynamic shared memory: the fragments, ceil(KT / C) * (rows <= 4 ? 16 : 32) * 16 bytes (dev.fathom.cuda.SbiSplitK).
// Tried and dropped (docs/benchmarks.md): the weights streamed through a ring of bulk copies (cp.async.bulk) per warp
// in shared memory: slower at every ring depth and cluster size, and the deeper the ring the slower.

#pragma once

#include "hopper_async.cuh"   // cluster_sync_all, ld_cluster

// The activations of k tile kt of the slice (kt0: the slice's first tile) for fragment lane q: RM = false (tile layout):
// k0 = 16 kt + 2q and the pairs at k0, k0 + 8 (x_quad); RM = true (row-major weights read in pairs of k tiles, below):
// k0 = 32 (kt / 2) + 8q + 4 (kt % 2) and four contiguous (x_pairs with gap 2).
template <bool RM>
DEV void x_slot(const float* xr, int K, int kt, int q, int vecx, float& x0, float& x1, float& x2, float& x3) {
    if (RM) x_pairs(xr, K, (kt >> 1) * 32 + 8 * q + 4 * (kt & 1), 2, vecx, x0, x1, x2, x3);
    else x_quad(xr, K, kt * 16 + 2 * q, vecx, x0, x1, x2, x3);
}

// The block's activation slice (k tiles kt0 .. kt0 + cnt) as mma fragments in `frag`; with gamma, x·gamma, and each
// row's sum of x^2 over the slice added into ss[row] (zeroed before, read after a barrier). 256 threads: a thread's
// fragment lane (and so its row) is the same on every pass. UNROLL passes issue their loads together.
template <int UNROLL, bool RM = false>
DEV void mmc_stage(uint4* frag, const float* __restrict__ x, int ldx, int K, int kt0, int cnt, int lnl, int rows, int vecx,
                   const float* __restrict__ gamma, float* ss) {
    const int nl = 1 << lnl, fl = threadIdx.x & (nl - 1), b = fl >> 2, q = fl & 3;
    const float* xr = x + (size_t)b * ldx;
    float sq = 0.f;
#pragma unroll UNROLL
    for (int e = threadIdx.x; e < cnt << lnl; e += blockDim.x) {
        const int kt = kt0 + (e >> lnl);
        float x0 = 0.f, x1 = 0.f, x2 = 0.f, x3 = 0.f;
        if (b < rows) x_slot<RM>(xr, K, kt, q, vecx, x0, x1, x2, x3);
        if (gamma) {
            sq += x0 * x0 + x1 * x1 + x2 * x2 + x3 * x3;
            float g0 = 0.f, g1 = 0.f, g2 = 0.f, g3 = 0.f;
            x_slot<RM>(gamma, K, kt, q, vecx, g0, g1, g2, g3);
            x0 *= g0; x1 *= g1; x2 *= g2; x3 *= g3;
        }
        uint4 v;
        split_bf16(x0, x1, v.x, v.z);
        split_bf16(x2, x3, v.y, v.w);
        frag[e] = v;
    }
    if (gamma) {   // lanes 4b..4b+3 (and 16 apart when 16 lanes are stored) hold row b
        sq += __shfl_xor_sync(0xffffffffu, sq, 1);
        sq += __shfl_xor_sync(0xffffffffu, sq, 2);
        if (nl == 16) sq += __shfl_xor_sync(0xffffffffu, sq, 16);
        const int lane = threadIdx.x & 31;
        if ((lane & 3) == 0 && lane < nl && b < rows) atomicAdd(&ss[b], sq);
    }
}

// After the block's mma: partial sums to shared memory, one cluster barrier, this block's 1/C of the outputs reduced
// over the cluster and written with the epilogue, a last barrier (the other blocks may still read this one's memory).
// Any block size of 8 warps or more: the outputs are shared over all its threads.
// rm: the tile's 16 rows are four SIMT gated groups [gate_a, gate_b, up_a, up_b] (row-major weights) instead of 8 gates
// then 8 ups (tile layout); only mode 1 reads them differently.
template <int TW = 8>   // TW: 16-row tiles per block (warps that hold one); tma.cuh's 64-row kernels pass 4
DEV void mmc_finish(float (*red)[16][8], const float* acc, const float* acc2, const float* ss, float* sinv, int C, int rank,
                    int rg, int RT, int K, const float* __restrict__ bias, const float* res, float* y, int ldy, int n, int rows,
                    int mode, int act, const float* gamma, float eps, bool rm = false) {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
    if (warp < TW) {   // warps past TW (tma.cuh's producer) hold no tile
        red[warp][g][2 * q] = acc[0] + acc2[0];
        red[warp][g][2 * q + 1] = acc[1] + acc2[1];
        red[warp][g + 8][2 * q] = acc[2] + acc2[2];
        red[warp][g + 8][2 * q + 1] = acc[3] + acc2[3];
    }
    if (C > 1) cluster_sync_all();
    else __syncthreads();
    if (gamma) {
        if (threadIdx.x < rows) {
            float s = 0.f;
            for (int c = 0; c < C; c++) s += C > 1 ? ld_cluster(&ss[threadIdx.x], c) : ss[threadIdx.x];
            sinv[threadIdx.x] = rsqrtf(s / K + eps);
        }
        __syncthreads();
    }
    const int orows = mode == 1 ? 8 : 16, per_b = TW * orows, total = per_b * rows;
    for (int e = rank * blockDim.x + threadIdx.x; e < total; e += C * blockDim.x) {
        const int b = e / per_b, tl = (e % per_b) / orows, r = e % orows;
        const int tt = rg * TW + tl;
        if (tt >= RT) continue;
        // mode 1: the gate and up rows of output tt * 8 + r within the tile
        const int gr = mode == 1 && rm ? (r >> 1) * 4 + (r & 1) : r, ur = mode == 1 && rm ? gr + 2 : r + 8;
        float s0 = 0.f, s1 = 0.f;
        for (int c = 0; c < C; c++) {
            if (C > 1) {
                s0 += ld_cluster(&red[tl][gr][b], c);
                if (mode == 1) s1 += ld_cluster(&red[tl][ur][b], c);
            } else {
                s0 += red[tl][gr][b];
                if (mode == 1) s1 += red[tl][ur][b];
            }
        }
        if (gamma) { s0 *= sinv[b]; s1 *= sinv[b]; }
        if (mode == 1) {
            if (bias) { s0 += bias[tt * 16 + gr]; s1 += bias[tt * 16 + ur]; }
            const int o = tt * 8 + r;
            if (o < n) y[(size_t)b * ldy + o] = activate(s0, act) * s1;
        } else {
            const int o = tt * 16 + r;
            if (o >= n) continue;
            if (bias) s0 += bias[o];
            if (mode == 2) s0 = activate(s0, act);
            else if (res) s0 += res[(size_t)b * ldy + o];
            y[(size_t)b * ldy + o] = s0;
        }
    }
    if (C > 1) cluster_sync_all();
}

// ------------------------------------------------------------------------------------------ register pipeline
// D: weight tiles in flight per warp (register slots; ptxas hoists each group's refills, so up to 2D at times);
// SU: staging passes whose activation loads are issued together
template <int D, int SU>
DEV void sbi_mmc(const uint4* __restrict__ W, const float* __restrict__ x, int ldx, int K, int KT, int RT, int C,
                 const float* __restrict__ bias, const float* res, float* y, int ldy, int n, int rows,
                 int mode, int act, int vecx, const float* __restrict__ gamma, float eps) {
    extern __shared__ uint4 frag[];
    __shared__ float red[8][16][8];
    __shared__ float ss[8], sinv[8];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int rank = blockIdx.x % C, rg = blockIdx.x / C;
    const int rt = rg * 8 + warp;
    const int per = (KT + C - 1) / C, kt0 = rank * per;
    const int cnt = max(0, min(KT, kt0 + per) - kt0);
    const bool live = rt < RT;
    const int lnl = rows <= 4 ? 4 : 5, nl = 1 << lnl;   // fragment lanes stored per k tile
    pdl_trigger();
    if (threadIdx.x < 8) ss[threadIdx.x] = 0.f;
    const uint4* wp = W + ((size_t)rt * KT + kt0) * 32 + lane;
    uint4 buf[D];
#pragma unroll
    for (int u = 0; u < D; u++)
        if (live && u < cnt) buf[u] = ldg_stream(wp + (size_t)u * 32);
    pdl_wait();   // weights in flight; the activations come from the previous kernel
    if (gamma) __syncthreads();   // ss zeroed
    mmc_stage<SU>(frag, x, ldx, K, kt0, cnt, lnl, rows, vecx, gamma, ss);
    __syncthreads();
    float acc[4] = {0.f, 0.f, 0.f, 0.f}, acc2[4] = {0.f, 0.f, 0.f, 0.f};   // hi and lo parts: two mma chains
    if (live) {
        const uint4* fp = frag + (lane & (nl - 1));
        const uint4* wn = wp + D * 32;   // the next tile to load
        int j0 = 0;
        for (; j0 + D <= cnt; j0 += D) {
#pragma unroll
            for (int u = 0; u < D; u++) {
                const uint4 bv = fp[u * nl];
                const uint4 a = buf[u];
                if (j0 + u + D < cnt) buf[u] = ldg_stream(wn + u * 32);   // refill the slot at once
                mma_bf16(acc, a, bv.x, bv.y);
                mma_bf16(acc2, a, bv.z, bv.w);
            }
            fp += D * nl;
            wn += D * 32;
        }
#pragma unroll
        for (int u = 0; u < D; u++) {   // the last cnt - j0 < D tiles, already loaded
            if (j0 + u < cnt) {
                const uint4 bv = fp[u * nl];
                mma_bf16(acc, buf[u], bv.x, bv.y);
                mma_bf16(acc2, buf[u], bv.z, bv.w);
            }
        }
    }
    mmc_finish(red, acc, acc2, ss, sinv, C, rank, rg, RT, K, bias, res, y, ldy, n, rows, mode, act, gamma, eps);
}

// ------------------------------------------------------------------------------------------ over row-major weights
// The same GEMM over the plain row-major BF16 rows the batch-1 GEMV reads (and cuBLAS reads in place for prompts), so a
// model needs one layout for every batch size. A row tile is 16 consecutive stored rows; K is walked in pairs of k
// tiles (32 columns): lane 4g + q loads 16 bytes (columns 8q .. 8q + 7 of the pair) from row g and from row g + 8,
// which are its A fragments of both k tiles once the pair's columns are relabelled - mma k slots {2q, 2q+1, 2q+8, 2q+9}
// of the first tile take columns 8q .. 8q + 3, of the second 8q + 4 .. 8q + 7. The staged activations use the same
// relabelling (x_slot<true>), so the sums are unchanged. A warp load covers 8 rows x 64 contiguous bytes.
// KT: k tiles of a row (whole 256-column chunks, so even); srows: stored rows (loads past them read nothing); the K
// slices are whole pairs. P pairs (2P registers of 16 bytes) in flight per warp.
// a 16-byte weight load that asks L2 to fetch the whole 256-byte segment around it from HBM (the warp reads the rest
// of each row's segment in its next three pairs)
DEV uint4 ldg_stream256(const uint4* p) {
    uint4 r;
    asm volatile("ld.global.nc.L1::no_allocate.L2::256B.v4.u32 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w) : "l"(p));
    return r;
}

template <bool H>
DEV uint4 ldg_rm(const uint4* p) { return H ? ldg_stream256(p) : ldg_stream(p); }   // H: the 256-byte fetch

// A block's part of a row-major split-K launch: its cluster rank (K slice), row group, and the slice's first pair of
// k tiles and pair count (whole pairs, the last slice shorter or empty)
struct MmrSlice { int rank, rg, kp0, cnt; };
DEV MmrSlice mmr_slice(int KT, int C) {
    const int rank = blockIdx.x % C, KP = KT >> 1, per = (KP + C - 1) / C, kp0 = rank * per;
    return {rank, static_cast<int>(blockIdx.x / C), kp0, max(0, min(KP, kp0 + per) - kp0)};
}

// The 8 activations of row xr at columns k0 .. k0 + 7 (zeros past K) as two float4 (XR below)
DEV void x_oct(const float* xr, int K, int k0, int vecx, float4& u, float4& v) {
    if (vecx && k0 + 8 <= K) {
        u = __ldg(reinterpret_cast<const float4*>(xr + k0));
        v = __ldg(reinterpret_cast<const float4*>(xr + k0 + 4));
    } else {
        float t[8];
#pragma unroll
        for (int e = 0; e < 8; e++) t[e] = k0 + e < K ? xr[k0 + e] : 0.f;
        u = make_float4(t[0], t[1], t[2], t[3]);
        v = make_float4(t[4], t[5], t[6], t[7]);
    }
}

// The B fragments of a pair's two k tiles from its 8 activations (the relabelling of x_slot<true>)
DEV void x_oct_frag(const float4& u, const float4& v, uint4& bv, uint4& bw) {
    split_bf16(u.x, u.y, bv.x, bv.z);
    split_bf16(u.z, u.w, bv.y, bv.w);
    split_bf16(v.x, v.y, bw.x, bw.z);
    split_bf16(v.z, v.w, bw.y, bw.w);
}

// XR: with gamma, x·gamma at columns k0 .. k0 + 7 and x^2 summed into sq first; then the B fragments (x_oct_frag)
DEV void xr_frag(float4 u, float4 v, const float* __restrict__ gamma, int K, int k0, int vecx, float& sq, uint4& bv, uint4& bw) {
    if (gamma) {
        sq += u.x * u.x + u.y * u.y + u.z * u.z + u.w * u.w + v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
        float4 gu, gv;
        x_oct(gamma, K, k0, vecx, gu, gv);
        u.x *= gu.x; u.y *= gu.y; u.z *= gu.z; u.w *= gu.w;
        v.x *= gv.x; v.y *= gv.y; v.z *= gv.z; v.w *= gv.w;
    }
    x_oct_frag(u, v, bv, bw);
}

// SKIP (timing experiments only, wrong results; CudaBench part `stages`): bit 1 leaves out the activation staging (the
// fragments are whatever shared memory holds), bit 2 the cluster reduction and epilogue (each warp stores its own
// partial tile), bit 4 the weight loads (the mma chain runs on zeros). Differences against SKIP = 0 place the time.
// XR (experiment): no staging at all; each lane loads its own activations for a pair (8 floats of its row at columns
// 32 j + 8q, L1-resident after the block's first warp) P pairs ahead, with the weights, and splits them into bf16 hi + lo
// as it uses them, so the weight stream starts at once and no barrier precedes it. With gamma each lane also loads the
// 8 gamma values of its columns, multiplies, and sums x^2; every warp walks the same slice, so warp 0's sums (lanes
// 4b..4b+3 hold row b) are the block's and go to ss[b] for mmc_finish as the staged path's do.
template <int P, int SU, bool H, int SKIP = 0, bool XR = false>
DEV void sbi_mmr(const uint4* __restrict__ W, const float* __restrict__ x, int ldx, int K, int KT, int RT, int C, int srows,
                 const float* __restrict__ bias, const float* res, float* y, int ldy, int n, int rows,
                 int mode, int act, int vecx, const float* __restrict__ gamma, float eps) {
    extern __shared__ uint4 frag[];
    __shared__ float red[8][16][8];
    __shared__ float ss[8], sinv[8];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
    const MmrSlice sl = mmr_slice(KT, C);
    const int rank = sl.rank, rg = sl.rg, rt = rg * 8 + warp, kp0 = sl.kp0, cnt = sl.cnt;
    const bool live = rt < RT;
    const bool r0 = rt * 16 + g < srows, r1 = rt * 16 + g + 8 < srows;
    const int lnl = rows <= 4 ? 4 : 5, nl = 1 << lnl;
    pdl_trigger();
    if (threadIdx.x < 8) ss[threadIdx.x] = 0.f;
    const size_t stride = (size_t)KT * 2;   // uint4s per row
    const uint4* w0 = W + (size_t)(rt * 16 + g) * stride + (size_t)kp0 * 4 + q;
    const uint4* w1 = w0 + 8 * stride;
    const uint4 zero = make_uint4(0u, 0u, 0u, 0u);
    constexpr bool LOADS = !(SKIP & 4);
    uint4 b0[P], b1[P];
#pragma unroll
    for (int u = 0; u < P; u++) {
        b0[u] = LOADS && live && r0 && u < cnt ? ldg_rm<H>(w0 + u * 4) : zero;
        b1[u] = LOADS && live && r1 && u < cnt ? ldg_rm<H>(w1 + u * 4) : zero;
    }
    pdl_wait();   // weights in flight; the activations come from the previous kernel
    // XR: this lane's activation row (rows <= 4: lanes 16-31 repeat lanes 0-15, as the staged fragments do)
    const int xb = (lane & (nl - 1)) >> 2;
    const bool xlive = XR && live && xb < rows;
    const float* xrow = x + (size_t)xb * ldx;
    float4 xu[XR ? P : 1], xv[XR ? P : 1];
    float xsq = 0.f;   // XR with gamma: this lane's sum of x^2 over its columns of the slice
    if (XR) {
#pragma unroll
        for (int u = 0; u < P; u++) {
            xu[u] = xv[u] = make_float4(0.f, 0.f, 0.f, 0.f);
            if (xlive && u < cnt) x_oct(xrow, K, 32 * (kp0 + u) + 8 * q, vecx, xu[u], xv[u]);
        }
    } else {
        if (gamma) __syncthreads();   // ss zeroed
        if (!(SKIP & 1)) mmc_stage<SU, true>(frag, x, ldx, K, 2 * kp0, 2 * cnt, lnl, rows, vecx, gamma, ss);
        __syncthreads();
    }
    float acc[4] = {0.f, 0.f, 0.f, 0.f}, acc2[4] = {0.f, 0.f, 0.f, 0.f};
    if (live) {
        const uint4* fp = frag + (lane & (nl - 1));
        int j0 = 0;
        for (; j0 + P <= cnt; j0 += P) {
#pragma unroll
            for (int u = 0; u < P; u++) {
                uint4 bv, bw;
                const int jn = j0 + u + P;
                if (XR) {
                    xr_frag(xu[u], xv[u], gamma, K, 32 * (kp0 + j0 + u) + 8 * q, vecx, xsq, bv, bw);
                    if (xlive && jn < cnt) x_oct(xrow, K, 32 * (kp0 + jn) + 8 * q, vecx, xu[u], xv[u]);
                } else {
                    bv = fp[(2 * u) * nl];
                    bw = fp[(2 * u + 1) * nl];
                }
                const uint4 a = make_uint4(b0[u].x, b1[u].x, b0[u].y, b1[u].y), c = make_uint4(b0[u].z, b1[u].z, b0[u].w, b1[u].w);
                if (LOADS && jn < cnt) {   // refill the slot at once
                    if (r0) b0[u] = ldg_rm<H>(w0 + jn * 4);
                    if (r1) b1[u] = ldg_rm<H>(w1 + jn * 4);
                }
                mma_bf16(acc, a, bv.x, bv.y);
                mma_bf16(acc2, a, bv.z, bv.w);
                mma_bf16(acc, c, bw.x, bw.y);
                mma_bf16(acc2, c, bw.z, bw.w);
            }
            fp += 2 * P * nl;
        }
#pragma unroll
        for (int u = 0; u < P; u++) {   // the last cnt - j0 < P pairs, already loaded
            if (j0 + u < cnt) {
                uint4 bv, bw;
                if (XR) xr_frag(xu[u], xv[u], gamma, K, 32 * (kp0 + j0 + u) + 8 * q, vecx, xsq, bv, bw);
                else { bv = fp[(2 * u) * nl]; bw = fp[(2 * u + 1) * nl]; }
                const uint4 a = make_uint4(b0[u].x, b1[u].x, b0[u].y, b1[u].y), c = make_uint4(b0[u].z, b1[u].z, b0[u].w, b1[u].w);
                mma_bf16(acc, a, bv.x, bv.y);
                mma_bf16(acc2, a, bv.z, bv.w);
                mma_bf16(acc, c, bw.x, bw.y);
                mma_bf16(acc2, c, bw.z, bw.w);
            }
        }
    }
    if (XR && gamma) {   // warp 0's row sums are the block's (lanes 16-31 repeat 0-15 at 4 rows or fewer)
        xsq += __shfl_xor_sync(0xffffffffu, xsq, 1);
        xsq += __shfl_xor_sync(0xffffffffu, xsq, 2);
        if (warp == 0 && (lane & 3) == 0 && lane < 4 * min(rows, 8) && lane < nl) ss[xb] = xsq;
    }
    if (SKIP & 2) {   // each warp's own partial tile, no reduction: rows x 16 outputs of the block's slot
        float* yw = y + ((size_t)blockIdx.x * 8 + warp) % max(1, n / 16) * 16;
        if (g < rows) {
            yw[(size_t)g * ldy + 2 * q] = acc[0] + acc2[0];
            yw[(size_t)g * ldy + 2 * q + 1] = acc[1] + acc2[1];
        }
        return;
    }
    mmc_finish(red, acc, acc2, ss, sinv, C, rank, rg, RT, K, bias, res, y, ldy, n, rows, mode, act, gamma, eps, true);
}

// The same GEMM over row-major rows with the weights in flight through a ring of S pair slots per warp in shared memory
// (cp.async, no registers held while in flight): each lane copies its own 2 x 16 bytes of a pair (rows g and g + 8) and
// later reads back only what it copied, so a per-thread cp.async.wait_group is the only synchronisation. S slots of 1 KB
// per warp are in flight from the first instruction, through the activation staging, to the last pair. Shared memory:
// the ring (8 warps x S KB) first, then the staged fragments (dev.fathom.cuda.SbiSplitK#smem).
template <int S>
DEV void sbi_mmra(const uint4* __restrict__ W, const float* __restrict__ x, int ldx, int K, int KT, int RT, int C, int srows,
                  const float* __restrict__ bias, const float* res, float* y, int ldy, int n, int rows,
                  int mode, int act, int vecx, const float* __restrict__ gamma, float eps) {
    const MmrSlice sl = mmr_slice(KT, C);   // the launch interface is sbi_mmr's, so the host plans both alike
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
    const int rank = sl.rank, rg = sl.rg, rt = rg * 8 + warp, kp0 = sl.kp0, cnt = sl.cnt;
    const bool live = rt < RT;
    extern __shared__ uint4 smem_ring[];
    __shared__ float red[8][16][8];
    __shared__ float ss[8], sinv[8];
    const bool r0 = live && rt * 16 + g < srows, r1 = live && rt * 16 + g + 8 < srows;
    const int lnl = rows <= 4 ? 4 : 5, nl = 1 << lnl;
    uint4* ring = smem_ring + (size_t)warp * S * 64 + lane;   // slot u, row half h: ring[(2u + h) * 32]
    uint4* frag = smem_ring + 8 * S * 64;
    pdl_trigger();
    if (threadIdx.x < 8) ss[threadIdx.x] = 0.f;
    const size_t stride = (size_t)KT * 2;
    const uint4* w0 = W + (size_t)(live ? rt * 16 + g : 0) * stride + (size_t)kp0 * 4 + q;
    const uint4* w1 = w0 + (r1 ? 8 * stride : 0);
#pragma unroll
    for (int u = 0; u < S; u++) {   // one group per slot, empty past the slice
        if (u < cnt) {
            cp_async16_zfill<true>(ring + (2 * u) * 32, w0 + u * 4, r0);
            cp_async16_zfill<true>(ring + (2 * u + 1) * 32, w1 + u * 4, r1);
        }
        cp_async_commit();
    }
    pdl_wait();   // weights in flight; the activations come from the previous kernel
    if (gamma) __syncthreads();
    mmc_stage<8, true>(frag, x, ldx, K, 2 * kp0, 2 * cnt, lnl, rows, vecx, gamma, ss);
    __syncthreads();
    float acc[4] = {0.f, 0.f, 0.f, 0.f}, acc2[4] = {0.f, 0.f, 0.f, 0.f};
    if (live) {
        const uint4* fp = frag + (lane & (nl - 1));
        for (int j0 = 0; j0 < cnt; j0 += S) {
#pragma unroll
            for (int u = 0; u < S; u++) {
                const int j = j0 + u;
                if (j < cnt) {
                    cp_async_wait<S - 1>();   // the group of pair j (the oldest of S) has landed
                    const uint4 b0 = ring[(2 * u) * 32], b1 = ring[(2 * u + 1) * 32];
                    const uint4 bv = fp[(2 * j) * nl], bw = fp[(2 * j + 1) * nl];
                    const uint4 a = make_uint4(b0.x, b1.x, b0.y, b1.y), c = make_uint4(b0.z, b1.z, b0.w, b1.w);
                    mma_bf16(acc, a, bv.x, bv.y);
                    mma_bf16(acc2, a, bv.z, bv.w);
                    mma_bf16(acc, c, bw.x, bw.y);
                    mma_bf16(acc2, c, bw.z, bw.w);
                    // refill the slot after the mma that read it (it holds the loaded registers) with pair j + S
                    if (j + S < cnt) {
                        cp_async16_zfill<true>(ring + (2 * u) * 32, w0 + (j + S) * 4, r0);
                        cp_async16_zfill<true>(ring + (2 * u + 1) * 32, w1 + (j + S) * 4, r1);
                    }
                    cp_async_commit();
                }
            }
        }
    }
    cp_async_wait<0>();
    mmc_finish(red, acc, acc2, ss, sinv, C, rank, rg, RT, K, bias, res, y, ldy, n, rows, mode, act, gamma, eps, true);
}

#define MMRA_KERNEL(NAME, S, MINB)                                                                            \
    extern "C" __global__ void __launch_bounds__(256, MINB) NAME(                                             \
        const uint4* W, const float* x, int ldx, int K, int KT, int RT, int C, int srows, const float* bias,  \
        const float* res, float* y, int ldy, int n, int rows, int mode, int act, int vecx,                    \
        const float* gamma, float eps) {                                                                      \
        sbi_mmra<S>(W, x, ldx, K, KT, RT, C, srows, bias, res, y, ldy, n, rows, mode, act, vecx, gamma, eps); \
    }
// experiments (CudaBench part stages): 4 slots (4 KB per warp in flight) and 8 slots (8 KB)
MMRA_KERNEL(sbimmra4_bf16_8, 4, 2)
MMRA_KERNEL(sbimmra8_bf16_8, 8, 2)

#define MMR_KERNEL(NAME, P, SU, H, MINB)                                                                      \
    extern "C" __global__ void __launch_bounds__(256, MINB) NAME(                                             \
        const uint4* W, const float* x, int ldx, int K, int KT, int RT, int C, int srows, const float* bias,  \
        const float* res, float* y, int ldy, int n, int rows, int mode, int act, int vecx,                    \
        const float* gamma, float eps) {                                                                      \
        sbi_mmr<P, SU, H>(W, x, ldx, K, KT, RT, C, srows, bias, res, y, ldy, n, rows, mode, act, vecx, gamma, eps); \
    }

// What the model runs on sm_90 at 2..8 rows where cuBLAS does not take them (it does by default since the ninth session:
// llama-7b decode steps 11-19 % faster in the model, docs/benchmarks.md; -Dfathom.cuda.blasRows=8 restores these): 2 pairs (2 KB per warp) in flight with 256-byte L2 fetches (80 registers:
// at 64, for 4 blocks per multiprocessor, it spills); 4 pairs for comparison. Plain 16-byte fetches (the same kernels
// without the hint) were 2-10 % slower on the Llama shapes and 0.12-0.2 ms slower per llama-7b step (docs/benchmarks.md).
MMR_KERNEL(sbimmr2p_bf16_8, 2, 8, true, 3)
MMR_KERNEL(sbimmr4p_bf16_8, 4, 8, true, 2)

// sbimmr2p_bf16_8 with stages left out (SKIP above; timing only, CudaBench part `stages`)
#define MMR_SKIP_KERNEL(NAME, SKIP)                                                                           \
    extern "C" __global__ void __launch_bounds__(256, 3) NAME(                                                \
        const uint4* W, const float* x, int ldx, int K, int KT, int RT, int C, int srows, const float* bias,  \
        const float* res, float* y, int ldy, int n, int rows, int mode, int act, int vecx,                    \
        const float* gamma, float eps) {                                                                      \
        sbi_mmr<2, 8, true, SKIP>(W, x, ldx, K, KT, RT, C, srows, bias, res, y, ldy, n, rows, mode, act, vecx, gamma, eps); \
    }
MMR_SKIP_KERNEL(sbimmr2p_skip1, 1)
MMR_SKIP_KERNEL(sbimmr2p_skip2, 2)
MMR_SKIP_KERNEL(sbimmr2p_skip3, 3)
MMR_SKIP_KERNEL(sbimmr2p_skip5, 5)
MMR_SKIP_KERNEL(sbimmr2p_skip7, 7)

// XR above: activations from L1 in the loop, no staging (experiment, CudaBench part `stages`)
#define MMR_XR_KERNEL(NAME, P, MINB)                                                                          \
    extern "C" __global__ void __launch_bounds__(256, MINB) NAME(                                             \
        const uint4* W, const float* x, int ldx, int K, int KT, int RT, int C, int srows, const float* bias,  \
        const float* res, float* y, int ldy, int n, int rows, int mode, int act, int vecx,                    \
        const float* gamma, float eps) {                                                                      \
        sbi_mmr<P, 1, true, 0, true>(W, x, ldx, K, KT, RT, C, srows, bias, res, y, ldy, n, rows, mode, act, vecx, gamma, eps); \
    }
MMR_XR_KERNEL(sbimmrx2_bf16_8, 2, 2)
MMR_XR_KERNEL(sbimmrx4_bf16_8, 4, 1)

#define MMC_KERNEL(NAME, D, SU, MINB)                                                                         \
    extern "C" __global__ void __launch_bounds__(256, MINB) NAME(                                             \
        const uint4* W, const float* x, int ldx, int K, int KT, int RT, int C, const float* bias,             \
        const float* res, float* y, int ldy, int n, int rows, int mode, int act, int vecx,                    \
        const float* gamma, float eps) {                                                                      \
        sbi_mmc<D, SU>(W, x, ldx, K, KT, RT, C, bias, res, y, ldy, n, rows, mode, act, vecx, gamma, eps);    \
    }

// What the model runs: 4 tiles per warp (64 registers, 4 blocks per multiprocessor), 8 staging passes' loads issued
// together (0-1 % faster than 2 on every Llama shape, docs/benchmarks.md). 8 tiles per warp (2 blocks) was slower at
// the planned cluster sizes (docs/cuda-b48-bench.log); it stays for CudaBench's comparison.
MMC_KERNEL(sbimmc4_bf16_8, 4, 8, 4)
MMC_KERNEL(sbimmc_bf16_8, 8, 2, 2)
