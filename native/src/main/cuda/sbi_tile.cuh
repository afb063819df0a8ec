// Fathom CUDA kernels, part 2 of fathom_kernels.cu (included there, not compiled alone): SBI-GEMM over the
// tensor-core tile layout — the batch-1 FMA GEMV (sbitile_bf16_1), the small-batch mma.m16n8k16 kernels
// (sbimma_bf16_8 / _32; the split-K cluster kernels for 2..8 rows are in splitk.cuh) and the prompt-phase
// GEMM (tilegemm_bf16). Build, versions and conventions: see the head of fathom_kernels.cu. Requires sm_80+
// (mma.sync bf16).

#pragma once

// ------------------------------------------------------------------------------------------ SBI-GEMM on tensor cores
// BF16 weights in the tensor-core tile layout W[rt][kt][lane][8]: one 16x16 tile per (rt, kt), lane
// t = 4*g + q holds exactly its mma.m16n8k16 A fragment {(g,2q..2q+1), (g+8,2q..), (g,2q+8..), (g+8,2q+8..)},
// so one 16-byte load per lane and 512 contiguous bytes per warp feed one tensor-core instruction with no
// shuffles or shared memory. The activations (fp32) are split into bf16 hi + lo parts and multiplied twice,
// which keeps float32-level accuracy (relative error ~1e-5) at no cost in a memory-bound kernel.
// Launch: 256 threads; ks warps split K of one 16-row tile, 8/ks tiles per block; NT n-tiles of 8 batch rows;
// each warp keeps MMA_UNROLL tile loads (16 B per lane each) in flight.

DEV void mma_bf16(float* c, const uint4& a, uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a.x), "r"(a.y), "r"(a.z), "r"(a.w), "r"(b0), "r"(b1));
}

DEV void split_bf16(float x0, float x1, uint32_t& hi, uint32_t& lo) {
    __nv_bfloat162 h = __floats2bfloat162_rn(x0, x1);
    __nv_bfloat162 l = __floats2bfloat162_rn(x0 - __low2float(h), x1 - __high2float(h));
    hi = *reinterpret_cast<uint32_t*>(&h);
    lo = *reinterpret_cast<uint32_t*>(&l);
}

// Activations xr[k0], xr[k0+1], xr[k0+gap], xr[k0+gap+1] into x0..x3, which hold zeros on entry and keep them past K;
// vecx: two float2 loads (K and the row stride even). gap 8: what lane q of a tile reads at k0 = 16 * kt + 2q (x_quad);
// gap 2: four contiguous values (the split-K kernel over row-major rows).
DEV void x_pairs(const float* xr, int K, int k0, int gap, int vecx, float& x0, float& x1, float& x2, float& x3) {
    if (vecx && k0 + gap + 2 <= K) {
        float2 v0 = __ldg(reinterpret_cast<const float2*>(xr + k0)), v1 = __ldg(reinterpret_cast<const float2*>(xr + k0 + gap));
        x0 = v0.x; x1 = v0.y; x2 = v1.x; x3 = v1.y;
    } else {
        if (k0 < K) x0 = xr[k0];
        if (k0 + 1 < K) x1 = xr[k0 + 1];
        if (k0 + gap < K) x2 = xr[k0 + gap];
        if (k0 + gap + 1 < K) x3 = xr[k0 + gap + 1];
    }
}

DEV void x_quad(const float* xr, int K, int k0, int vecx, float& x0, float& x1, float& x2, float& x3) {
    x_pairs(xr, K, k0, 8, vecx, x0, x1, x2, x3);
}

// The mma B fragment of activation row b at k0 = 16 * kt + 2q (lane 4 * (b % 8) + q), fp32 split into bf16 hi + lo:
// {hi(k0, k0+1), hi(k0+8, k0+9), lo(k0, k0+1), lo(k0+8, k0+9)}; zeros past `rows` and past K.
DEV uint4 x_fragment(const float* __restrict__ x, int ldx, int K, int b, int rows, int k0, int vecx) {
    float x0 = 0.f, x1 = 0.f, x2 = 0.f, x3 = 0.f;
    if (b < rows) {
        const float* xr = x + (size_t)b * ldx;
        x_quad(xr, K, k0, vecx, x0, x1, x2, x3);
    }
    uint4 v;
    split_bf16(x0, x1, v.x, v.z);
    split_bf16(x2, x3, v.y, v.w);
    return v;
}

// 8 tiles (4 KB per warp) of loads in flight before the first use
#define MMA_UNROLL 8

template <int NT>
DEV void sbi_mma(const uint4* __restrict__ W, const float* __restrict__ x, int ldx, int K, int KT, int RT, int ks,
                 const float* __restrict__ bias, const float* res, float* y, int ldy, int n, int rows,
                 int mode, int act, int vecx) {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
    const int tpb = 8 / ks;
    const int rt = blockIdx.x * tpb + warp / ks, s = warp % ks;
    pdl_trigger();
    float acc[NT][4];
#pragma unroll
    for (int t = 0; t < NT; t++) acc[t][0] = acc[t][1] = acc[t][2] = acc[t][3] = 0.f;
    float acc2[NT][4];   // lo parts accumulate separately: two independent mma chains
#pragma unroll
    for (int t = 0; t < NT; t++) acc2[t][0] = acc2[t][1] = acc2[t][2] = acc2[t][3] = 0.f;
    if (rt < RT) {
        const uint4* wp = W + (size_t)rt * KT * 32 + lane;
        const int step = MMA_UNROLL * ks;
        for (int c0 = s; c0 < KT; c0 += step) {
            uint4 a[MMA_UNROLL];
#pragma unroll
            for (int u = 0; u < MMA_UNROLL; u++) {
                const int c = c0 + u * ks;
                if (c < KT) a[u] = ldg_stream(wp + (size_t)c * 32);
            }
            if (c0 == s) pdl_wait();   // weights in flight; activations from the previous kernel
#pragma unroll
            for (int u = 0; u < MMA_UNROLL; u++) {
                const int c = c0 + u * ks;
                if (c >= KT) break;
                const int k0 = c * 16 + 2 * q;
#pragma unroll
                for (int t = 0; t < NT; t++) {
                    const uint4 bv = x_fragment(x, ldx, K, t * 8 + g, rows, k0, vecx);
                    mma_bf16(acc[t], a[u], bv.x, bv.y);
                    mma_bf16(acc2[t], a[u], bv.z, bv.w);
                }
            }
        }
    }
    pdl_wait();
#pragma unroll
    for (int t = 0; t < NT; t++)
#pragma unroll
        for (int i = 0; i < 4; i++) acc[t][i] += acc2[t][i];
    __shared__ float red[8][16][8 * NT + 1];
#pragma unroll
    for (int t = 0; t < NT; t++) {
        red[warp][g][t * 8 + 2 * q] = acc[t][0];
        red[warp][g][t * 8 + 2 * q + 1] = acc[t][1];
        red[warp][g + 8][t * 8 + 2 * q] = acc[t][2];
        red[warp][g + 8][t * 8 + 2 * q + 1] = acc[t][3];
    }
    __syncthreads();
    const int cols = 8 * NT;
    if (mode == 1) {
        for (int e = threadIdx.x; e < tpb * 8 * cols; e += blockDim.x) {
            const int tl = e / (8 * cols), r = (e / cols) % 8, b = e % cols;
            const int tt = blockIdx.x * tpb + tl;
            if (tt >= RT || b >= rows) continue;
            float gate = 0.f, up = 0.f;
            for (int w = 0; w < ks; w++) { gate += red[tl * ks + w][r][b]; up += red[tl * ks + w][r + 8][b]; }
            if (bias) { gate += bias[tt * 16 + r]; up += bias[tt * 16 + r + 8]; }
            const int o = tt * 8 + r;
            if (o < n) y[(size_t)b * ldy + o] = activate(gate, act) * up;
        }
    } else {
        for (int e = threadIdx.x; e < tpb * 16 * cols; e += blockDim.x) {
            const int tl = e / (16 * cols), r = (e / cols) % 16, b = e % cols;
            const int tt = blockIdx.x * tpb + tl;
            if (tt >= RT || b >= rows) continue;
            const int o = tt * 16 + r;
            if (o >= n) continue;
            float v = 0.f;
            for (int w = 0; w < ks; w++) v += red[tl * ks + w][r][b];
            if (bias) v += bias[o];
            if (mode == 2) v = activate(v, act);
            else if (res) v += res[(size_t)b * ldy + o];
            y[(size_t)b * ldy + o] = v;
        }
    }
}

// Batch-1 GEMV over the same tile layout with plain FMAs (no activation rounding, fewer registers, more
// warps per SM): lane 4g+q holds rows g and g+8 at k = 2q, 2q+1, 2q+8, 2q+9 of each 16x16 tile; the four
// lanes of a row group meet by shuffles, the ks warps of a tile in shared memory. Same launch layout.
extern "C" __global__ void __launch_bounds__(256, 3) sbitile_bf16_1(
        const uint4* __restrict__ W, const float* __restrict__ x, int ldx, int K, int KT, int RT, int ks,
        const float* __restrict__ bias, const float* res, float* y, int ldy, int n, int rows, int mode, int act, int vecx) {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
    const int tpb = 8 / ks;
    const int rt = blockIdx.x * tpb + warp / ks, s = warp % ks;
    pdl_trigger();
    float a0 = 0.f, a1 = 0.f, b0 = 0.f, b1 = 0.f;
    if (rt < RT) {
        const uint4* wp = W + (size_t)rt * KT * 32 + lane;
        const int step = MMA_UNROLL * ks;
        for (int c0 = s; c0 < KT; c0 += step) {
            uint4 a[MMA_UNROLL];
#pragma unroll
            for (int u = 0; u < MMA_UNROLL; u++) {
                const int c = c0 + u * ks;
                if (c < KT) a[u] = ldg_stream(wp + (size_t)c * 32);
            }
            if (c0 == s) pdl_wait();   // weights in flight; activations from the previous kernel
#pragma unroll
            for (int u = 0; u < MMA_UNROLL; u++) {
                const int c = c0 + u * ks;
                if (c >= KT) break;
                float x0 = 0.f, x1 = 0.f, x2 = 0.f, x3 = 0.f;
                x_quad(x, K, c * 16 + 2 * q, vecx, x0, x1, x2, x3);
                float w[8];
                Vec<__nv_bfloat16>::unpack(a[u], w);   // w0,w1: (g, k0..); w2,w3: (g+8, k0..); w4,w5: (g, k0+8..); w6,w7: (g+8, k0+8..)
                a0 = fmaf(w[0], x0, a0); b0 = fmaf(w[1], x1, b0); a0 = fmaf(w[4], x2, a0); b0 = fmaf(w[5], x3, b0);
                a1 = fmaf(w[2], x0, a1); b1 = fmaf(w[3], x1, b1); a1 = fmaf(w[6], x2, a1); b1 = fmaf(w[7], x3, b1);
            }
        }
    }
    pdl_wait();
    a0 += b0;
    a1 += b1;
    a0 += __shfl_xor_sync(0xffffffffu, a0, 1);
    a0 += __shfl_xor_sync(0xffffffffu, a0, 2);
    a1 += __shfl_xor_sync(0xffffffffu, a1, 1);
    a1 += __shfl_xor_sync(0xffffffffu, a1, 2);
    __shared__ float red[8][16];
    if (q == 0) { red[warp][g] = a0; red[warp][g + 8] = a1; }
    __syncthreads();
    const int t = threadIdx.x;
    if (mode == 1) {
        if (t < tpb * 8) {
            const int tl = t / 8, r = t % 8, tt = blockIdx.x * tpb + tl;
            if (tt < RT) {
                float gate = 0.f, up = 0.f;
                for (int w = 0; w < ks; w++) { gate += red[tl * ks + w][r]; up += red[tl * ks + w][r + 8]; }
                if (bias) { gate += bias[tt * 16 + r]; up += bias[tt * 16 + r + 8]; }
                const int o = tt * 8 + r;
                if (o < n) y[o] = activate(gate, act) * up;
            }
        }
    } else if (t < tpb * 16) {
        const int tl = t / 16, r = t % 16, tt = blockIdx.x * tpb + tl;
        const int o = tt * 16 + r;
        if (tt < RT && o < n) {
            float v = 0.f;
            for (int w = 0; w < ks; w++) v += red[tl * ks + w][r];
            if (bias) v += bias[o];
            if (mode == 2) v = activate(v, act);
            else if (res) v += res[o];
            y[o] = v;
        }
    }
}

// Prompt-phase GEMM over the same tile layout: a block computes 128 output rows (one 16-row tile per warp)
// x 64 activation rows. Per step of 64 K, the block stages the activations once in shared memory, already
// split into bf16 hi/lo and arranged as mma B fragments (one 16-byte LDS per lane per fragment); each warp
// loads its 4 A fragments straight from the tile layout. grid = (ceil(rows / 64), ceil(RT / warps)), 256 or 128 threads,
// batch tiles fastest so blocks sharing a weight panel run together and share it through L2. Gated mode
// needs no shared memory: rows g (gate) and g + 8 (up) of a tile sit in the same lane's accumulators.
extern "C" __global__ void __launch_bounds__(256) tilegemm_bf16(
        const uint4* __restrict__ W, const float* __restrict__ x, int ldx, int K, int KT, int RT, int ks,
        const float* __restrict__ bias, const float* res, float* y, int ldy, int n, int rows, int mode, int act, int vecx) {
    __shared__ uint4 bs[4][8][32];   // [k tile][n tile][lane] = {hi(k0,k0+1), hi(k0+8,k0+9), lo.., lo..}
    pdl_trigger();
    pdl_wait();
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
    const int rt = blockIdx.y * (blockDim.x >> 5) + warp;   // 8 warps (many rows) or 4 (few rows: more blocks)
    const int n0 = blockIdx.x * 64;
    float acc[8][4];
#pragma unroll
    for (int t = 0; t < 8; t++) acc[t][0] = acc[t][1] = acc[t][2] = acc[t][3] = 0.f;
    const uint4* wp = W + (size_t)rt * KT * 32 + lane;
    for (int kt0 = 0; kt0 < KT; kt0 += 4) {
        uint4 a[4];
#pragma unroll
        for (int u = 0; u < 4; u++) a[u] = (rt < RT && kt0 + u < KT) ? ldg_stream(wp + (size_t)(kt0 + u) * 32) : make_uint4(0, 0, 0, 0);
        __syncthreads();   // previous step's fragments are consumed
#pragma unroll 4
        for (int e = threadIdx.x; e < 1024; e += blockDim.x) {   // fragment index: kt (4) x t (8) x lane (32)
            const int fl = e & 31, ft = (e >> 5) & 7, fk = e >> 8;
            const int b = n0 + ft * 8 + (fl >> 2);
            const int k0 = (kt0 + fk) * 16 + 2 * (fl & 3);
            bs[fk][ft][fl] = x_fragment(x, ldx, K, b, rows, k0, vecx);
        }
        __syncthreads();
#pragma unroll
        for (int u = 0; u < 4; u++) {
#pragma unroll
            for (int t = 0; t < 8; t++) {
                const uint4 bv = bs[u][t][lane];
                mma_bf16(acc[t], a[u], bv.x, bv.y);
                mma_bf16(acc[t], a[u], bv.z, bv.w);
            }
        }
    }
    if (rt >= RT) return;
#pragma unroll
    for (int t = 0; t < 8; t++) {
#pragma unroll
        for (int j = 0; j < 2; j++) {
            const int b = n0 + t * 8 + 2 * q + j;
            if (b >= rows) continue;
            if (mode == 1) {
                const int o = rt * 8 + g;
                float gate = acc[t][j], up = acc[t][2 + j];
                if (bias) { gate += bias[rt * 16 + g]; up += bias[rt * 16 + g + 8]; }
                if (o < n) y[(size_t)b * ldy + o] = activate(gate, act) * up;
            } else {
#pragma unroll
                for (int hh = 0; hh < 2; hh++) {
                    const int o = rt * 16 + g + 8 * hh;
                    if (o >= n) continue;
                    float v = acc[t][2 * hh + j];
                    if (bias) v += bias[o];
                    if (mode == 2) v = activate(v, act);
                    else if (res) v += res[(size_t)b * ldy + o];
                    y[(size_t)b * ldy + o] = v;
                }
            }
        }
    }
}

#define MMA_KERNEL(NAME, NT)                                                                                  \
    extern "C" __global__ void __launch_bounds__(256) NAME(                                                   \
        const uint4* W, const float* x, int ldx, int K, int KT, int RT, int ks, const float* bias,            \
        const float* res, float* y, int ldy, int n, int rows, int mode, int act, int vecx) {                  \
        sbi_mma<NT>(W, x, ldx, K, KT, RT, ks, bias, res, y, ldy, n, rows, mode, act, vecx);                  \
    }

MMA_KERNEL(sbimma_bf16_8, 1)
MMA_KERNEL(sbimma_bf16_32, 4)
