// Fathom CUDA kernels, part of fathom_kernels.cu (included there after splitk.cuh, not compiled alone): the small-batch
// (1..8 activation rows) GEMM over the tensor-core tile layout with the work split evenly over every warp of a
// one-wave grid ("stream-K"), for sm_80+ (no clusters). Host side: dev.fathom.cuda.SbiStreamK.
//
// Work order. The k tiles of the matrix (RT row tiles x KT k tiles of 512 bytes, W[rt][kt][lane][8]) are numbered
// slice by slice: K is cut into slices of `skt` k tiles (the last may be shorter), and within slice c the tiles run row
// tile by row tile, each row tile's len_c k tiles in order (len_c contiguous bytes x 512 in memory). A unit is one
// row tile within one slice (c, rt). Warp w of the nw warps (at most one per tile) takes numbers
// [w T / nw, (w + 1) T / nw) of the T = RT x KT, so every warp streams the same number of bytes (to one tile), and
// the block's warps read the activations of one or two slices (a working set of skt x 512 bytes per slice for 8 rows, which stays in L1).
//  - A lane's A fragment is one 16-byte load of the tile layout; its B fragment is its activation row g = lane / 4 at
//    k0 = 16 kt + 2q and k0 + 8 (two float2 loads, L1 hits after the first warp), rounded to bf16 (as cuBLAS's bf16
//    activations are; no hi/lo split: one mma per tile).
//  - Each warp keeps D tiles of weights in flight (register slots refilled as soon as they are consumed, across unit
//    boundaries).
//  - A warp's part of a unit is its 16 x 8 partial sums (one float4 per lane, 512 bytes). After its last tile the warp
//    stores each part in the unit's slot for it in the workspace, and takes a ticket of the unit's row tile. The warp with the row tile's last
//    ticket adds the slots in a fixed order (slice, then warp), applies the epilogue (modes 0/1/2 as the other SBI
//    kernels; mode 1 reads the tile's rows 0-7 as gates and 8-15 as ups) and sets the ticket back to 0. The result does
//    not depend on which warp finishes last.
//  - meta (host-computed, SbiStreamK.meta): [RT] contributions per row tile, then per unit (c * RT + rt) its first
//    contributing warp and how many warps contribute. ws: C x RT x mc slots of 32 float4 (mc: the most warps of any
//    unit). tickets: RT ints, 0 before the first launch; every launch leaves them 0.
//  - PDL: weights are requested before griddepcontrol.wait; activations, the workspace and the tickets are touched only
//    after it (the previous kernel, which may be this one, is complete by then).

#pragma once

// The position of a warp in the slice-major order: slice c, row tile rt, k tile kl within the slice (of len tiles).
struct SkCursor {
    int c, rt, kl, len;
    DEV void at(long i, int RT, int KT, int skt) {
        const long per = (long)RT * skt;
        c = (int)(i / per);
        len = min(skt, KT - c * skt);
        const long r = i - (long)c * per;
        rt = (int)(r / len);
        kl = (int)(r - (long)rt * len);
    }
    DEV int kt(int skt) const { return c * skt + kl; }
    // next tile; true when this step left a unit (the tile just passed was its last)
    DEV bool next(int RT, int KT, int skt) {
        if (++kl < len) return false;
        kl = 0;
        if (++rt == RT) {
            rt = 0;
            ++c;
            len = min(skt, KT - c * skt);
        }
        return true;
    }
};

// The epilogue of one finished row tile rt: s = {(g, 2q), (g, 2q+1), (g+8, 2q), (g+8, 2q+1)} of the 16 x 8 sums.
DEV void sk_epilogue(const float* s, int rt, const float* __restrict__ bias, const float* res, float* y, int ldy, int n,
                     int rows, int mode, int act) {
    const int lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
#pragma unroll
    for (int h = 0; h < 2; h++) {
        const int b = 2 * q + h;
        if (b >= rows) continue;
        if (mode == 1) {
            const int o = rt * 8 + g;
            if (o >= n) continue;
            float gv = s[h], uv = s[2 + h];
            if (bias) { gv += bias[rt * 16 + g]; uv += bias[rt * 16 + g + 8]; }
            y[(size_t)b * ldy + o] = activate(gv, act) * uv;
        } else {
#pragma unroll
            for (int half = 0; half < 2; half++) {
                const int o = rt * 16 + g + 8 * half;
                if (o >= n) continue;
                float v = s[2 * half + h];
                if (bias) v += bias[o];
                if (mode == 2) v = activate(v, act);
                else if (res) v += res[(size_t)b * ldy + o];
                y[(size_t)b * ldy + o] = v;
            }
        }
    }
}

// Warp w's finished parts: ns units u[i] with their partial sums p[i], each stored in the unit's slot for this warp; one
// fence; then a ticket of each unit's row tile, and for a row tile whose last ticket this warp took, the sum over every
// slot of the row tile in order (slice, then warp) and its epilogue.
__device__ __noinline__ void sk_flush(const float4* p, const int* us, int ns, int w, int RT, int C, int mc,
                                      const int* __restrict__ meta, float4* ws, int* tickets, const float* __restrict__ bias,
                                      const float* res, float* y, int ldy, int n, int rows, int mode, int act) {
    const int lane = threadIdx.x & 31;
    for (int i = 0; i < ns; i++) ws[((size_t)us[i] * mc + w - meta[RT + 2 * us[i]]) * 32 + lane] = p[i];
    __syncwarp();
    __threadfence();
    for (int i = 0; i < ns; i++) {
        const int rt = us[i] % RT;
        int old = 0;
        if (lane == 0) old = atomicAdd(&tickets[rt], 1);
        old = __shfl_sync(0xffffffffu, old, 0);
        if (old != meta[rt] - 1) continue;
        __threadfence();
        float s[4] = {0.f, 0.f, 0.f, 0.f};
        for (int c = 0; c < C; c++) {
            const int u = c * RT + rt, cnt = meta[RT + 2 * u + 1];
            for (int j = 0; j < cnt; j++) {
                const float4 v = __ldcg(ws + ((size_t)u * mc + j) * 32 + lane);
                s[0] += v.x; s[1] += v.y; s[2] += v.z; s[3] += v.w;
            }
        }
        sk_epilogue(s, rt, bias, res, y, ldy, n, rows, mode, act);
        if (lane == 0) tickets[rt] = 0;
    }
}

// Finished parts a warp holds before it flushes them.
#define SK_STASH 8

// D: weight tiles in flight per warp. A warp's finished parts wait in a stash until its last tile, so that it fences
// once, with no loads in flight; a range with more parts than the stash holds (only with very short slices or few
// warps) flushes when the stash is full and starts its stream again after the last finished part.
template <int D>
DEV void sbi_stream(const uint4* __restrict__ W, const float* __restrict__ x, int ldx, int K, int KT, int RT, int skt, int C,
                    int nw, int mc, const int* __restrict__ meta, float4* ws, int* tickets, const float* __restrict__ bias,
                    const float* res, float* y, int ldy, int n, int rows, int mode, int act, int vecx) {
    const int lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
    const int w = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    const long T = (long)RT * KT;
    pdl_trigger();
    if (w >= nw) return;   // the last block's spare warps (nw <= T: every other warp has tiles)
    const long e = (long)(w + 1) * T / nw;
    const uint4* wl = W + lane;
    const float* xr = x + (size_t)g * ldx;
    const bool xl = g < rows;
    float4 stash[SK_STASH];
    int su[SK_STASH];
    bool waited = false;
    for (long pos = (long)w * T / nw; pos < e;) {
        const int cnt = (int)(e - pos);
        SkCursor lc, cc;
        lc.at(pos, RT, KT, skt);
        cc = lc;
        uint4 buf[D];
#pragma unroll
        for (int u = 0; u < D; u++) {
            if (u < cnt) {
                buf[u] = ldg_stream(wl + ((size_t)lc.rt * KT + lc.kt(skt)) * 32);
                lc.next(RT, KT, skt);
            }
        }
        if (!waited) {
            pdl_wait();   // weights in flight; the activations and the workspace belong to the previous kernel until here
            waited = true;
        }
        float acc[4] = {0.f, 0.f, 0.f, 0.f};
        int ns = 0, done = cnt;
        for (int j = 0; j < cnt && done == cnt; j += D) {
            float xv[D][4];   // this group's activations first, so that their loads are in flight together
            SkCursor t = cc;
#pragma unroll
            for (int u = 0; u < D; u++) {
                xv[u][0] = xv[u][1] = xv[u][2] = xv[u][3] = 0.f;
                if (j + u < cnt) {
                    if (xl) x_quad(xr, K, t.kt(skt) * 16 + 2 * q, vecx, xv[u][0], xv[u][1], xv[u][2], xv[u][3]);
                    t.next(RT, KT, skt);
                }
            }
#pragma unroll
            for (int u = 0; u < D; u++) {
                if (j + u < cnt) {
                    const uint4 av = buf[u];
                    if (j + u + D < cnt) {   // refill the slot at once
                        buf[u] = ldg_stream(wl + ((size_t)lc.rt * KT + lc.kt(skt)) * 32);
                        lc.next(RT, KT, skt);
                    }
                    const __nv_bfloat162 b0 = __floats2bfloat162_rn(xv[u][0], xv[u][1]), b1 = __floats2bfloat162_rn(xv[u][2], xv[u][3]);
                    mma_bf16(acc, av, *reinterpret_cast<const uint32_t*>(&b0), *reinterpret_cast<const uint32_t*>(&b1));
                    const int c0 = cc.c, rt0 = cc.rt;
                    if (cc.next(RT, KT, skt) || j + u + 1 == cnt) {   // a part finished
                        stash[ns] = make_float4(acc[0], acc[1], acc[2], acc[3]);
                        su[ns++] = c0 * RT + rt0;
                        acc[0] = acc[1] = acc[2] = acc[3] = 0.f;
                        if (ns == SK_STASH && j + u + 1 < cnt) {   // full: flush, then stream on from the next tile
                            done = j + u + 1;
                            break;
                        }
                    }
                }
            }
        }
        sk_flush(stash, su, ns, w, RT, C, mc, meta, ws, tickets, bias, res, y, ldy, n, rows, mode, act);
        pos += done;
    }
}

#define SK_KERNEL(NAME, D, MINB)                                                                                  \
    extern "C" __global__ void __launch_bounds__(256, MINB) NAME(                                                 \
        const uint4* W, const float* x, int ldx, int K, int KT, int RT, int skt, int C, int nw, int mc,           \
        const int* meta, float4* ws, int* tickets, const float* bias, const float* res, float* y, int ldy, int n, \
        int rows, int mode, int act, int vecx) {                                                                  \
        sbi_stream<D>(W, x, ldx, K, KT, RT, skt, C, nw, mc, meta, ws, tickets, bias, res, y, ldy, n, rows, mode,  \
                      act, vecx);                                                                                 \
    }

SK_KERNEL(sbisk4_bf16_8, 4, 3)
SK_KERNEL(sbisk8_bf16_8, 8, 2)
