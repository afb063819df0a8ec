// Fathom CUDA kernels, part of fathom_kernels.cu (included there after attention_mma.cuh, whose cp.async helpers it
// uses; not compiled alone). Requires sm_80+ (mma.sync bf16, ldmatrix, cp.async, discard.L2).
//
// ------------------------------------------------------------------------------------------ pgemm: GEMMs of 8..128 rows
// y[m, n] (fp32, row stride ldy) (+)= x[m, k] (bf16, row stride ldx) · W[n, k]ᵀ (bf16, row-major, row stride ldw):
// what cublasGemmEx computes for the prompt phase (dev.fathom.cuda.PromptGemm), for the row counts where a GEMM still
// costs what it takes to read W once (a 128-token prompt at batch 1, decode steps at batch 8..32). There cuBLAS leaves
// part of the card idle: a 128-row output tile per 128 columns gives 32 tiles for a 4096-wide projection on 132
// multiprocessors, 172 (1.3 waves) for Llama-7B's gate + up. Here every output tile's K is split into `splits`
// consecutive ranges chosen on the host so that the units (tile, K range) fill whole waves
// (dev.fathom.cuda.Pgemm#plan), and the ranges of a tile meet deterministically:
//  - block = 8 warps (2 along M x 4 along N), tile BM x 128 columns, K in steps of 64;
//  - STAGES-deep cp.async ring in shared memory (x tile BM x 64 and W tile 128 x 64 per stage, 16-byte chunks
//    XOR-swizzled by row so that the cp.async stores and the ldmatrix loads are bank-conflict free), rows past m or n
//    and columns past k zero-filled;
//  - each warp: (BM / 2) x 32 outputs as mma.m16n8k16 bf16 fragments with fp32 accumulators, A from x and B from W
//    (W's rows are the B operand's columns: ldmatrix without transpose gives the fragments);
//  - splits > 1: each unit writes its fp32 partial tile to the workspace in fragment order (each thread its own float4s)
//    and takes a ticket for its tile; the unit that takes the last ticket sums the tile's partials in split order
//    (its own from registers, the others from L2), so the result does not depend on which unit finished last; it then
//    resets the ticket (graph replays find it at 0) and discards the partials from L2 (discard.global.L2: no write-back
//    of lines nobody reads again);
//  - epilogue: y = sum (+ y when accumulate), fp32, rows < m and columns < n only.
// Needs k, ldx and ldw multiples of 8 and 16-byte aligned x and W (checked on the host).
#pragma once

#define PG_BN 128
#define PG_BK 64
#define PG_THREADS 256

// element offset of 16-byte chunk `c` (0..7) of row `r` in a [rows][64] bf16 stage tile
DEV int pg_swz(int r, int c) { return r * PG_BK + ((c ^ (r & 7)) << 3); }

DEV void pg_ldsm4(uint32_t* d, const __nv_bfloat16* p) {
    const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(p));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3]) : "r"(s));
}

DEV void pg_mma(float* c, const uint32_t* a, uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Stage one K step (columns k0 .. k0 + 63) of x rows m0.. and W rows n0.. into sa / sb.
template <int BM>
DEV void pg_stage(__nv_bfloat16* sa, __nv_bfloat16* sb, const __nv_bfloat16* __restrict__ x, int ldx,
                  const __nv_bfloat16* __restrict__ w, int ldw, int m, int n, int k, int m0, int n0, int k0, int tid) {
#pragma unroll
    for (int i = 0; i < BM * 8 / PG_THREADS; i++) {
        const int e = tid + i * PG_THREADS, r = e >> 3, c = e & 7, gk = k0 + c * 8;
        const bool ok = m0 + r < m && gk < k;
        cp_async16_zfill(sa + pg_swz(r, c), ok ? x + (size_t)(m0 + r) * ldx + gk : x, ok);
    }
#pragma unroll
    for (int i = 0; i < PG_BN * 8 / PG_THREADS; i++) {
        const int e = tid + i * PG_THREADS, r = e >> 3, c = e & 7, gk = k0 + c * 8;
        const bool ok = n0 + r < n && gk < k;
        cp_async16_zfill(sb + pg_swz(r, c), ok ? w + (size_t)(n0 + r) * ldw + gk : w, ok);
    }
}

// grid (tilesN * splits, ceil(m / BM)); block PG_THREADS; dynamic shared memory STAGES * (BM + 128) * 64 * 2 bytes.
// ws: ceil(m / BM) * tilesN * splits * BM * 128 floats (splits > 1); tickets: ceil(m / BM) * tilesN ints, all 0.
template <int BM, int STAGES>
DEV void pgemm(const __nv_bfloat16* __restrict__ w, int ldw, const __nv_bfloat16* __restrict__ x, int ldx,
               float* __restrict__ y, int ldy, int n, int k, int m, int accumulate, int splits,
               float* __restrict__ ws, int* __restrict__ tickets) {
    constexpr int MT = BM / 32;                          // m16 tiles per warp (2 warps along M)
    constexpr int SA = BM * PG_BK, STAGE = SA + PG_BN * PG_BK;
    constexpr int PART = BM * PG_BN;                     // floats of one partial tile
    extern __shared__ float4 pg_smem4[];
    __nv_bfloat16* smem = reinterpret_cast<__nv_bfloat16*>(pg_smem4);
    __shared__ int lastUnit;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, wm = warp >> 2, wn = warp & 3;
    const int tile = blockIdx.x / splits, s = blockIdx.x % splits;
    const int n0 = tile * PG_BN, m0 = blockIdx.y * BM;
    const int kIters = (k + PG_BK - 1) / PG_BK;
    const int it0 = (int)((long long)s * kIters / splits), iters = (int)((long long)(s + 1) * kIters / splits) - it0;

    float acc[MT][4][4];
#pragma unroll
    for (int a = 0; a < MT; a++)
#pragma unroll
        for (int b = 0; b < 4; b++)
#pragma unroll
            for (int c = 0; c < 4; c++) acc[a][b][c] = 0.f;

#pragma unroll
    for (int st = 0; st < STAGES - 1; st++) {
        if (st < iters) pg_stage<BM>(smem + st * STAGE, smem + st * STAGE + SA, x, ldx, w, ldw, m, n, k, m0, n0, (it0 + st) * PG_BK, tid);
        cp_async_commit();
    }
    // this lane's ldmatrix rows: A (x) rows of matrix lane / 8 = {rows 0-7, 8-15} x {k 0-7, 8-15};
    // B (W) rows of matrices {n 0-7 k 0-7, n 0-7 k 8-15, n 8-15 k 0-7, n 8-15 k 8-15}
    const int aRow = wm * (BM / 2) + (lane & 15), aHalf = lane >> 4;
    const int bRow = wn * 32 + (lane & 7) + ((lane >> 4) << 3), bHalf = (lane >> 3) & 1;
    for (int i = 0; i < iters; i++) {
        cp_async_wait<STAGES - 2>();
        __syncthreads();   // stage i landed for every thread; stage i - 1's slot is free
        const int nx = i + STAGES - 1;
        if (nx < iters) {
            __nv_bfloat16* sa = smem + (nx % STAGES) * STAGE;
            pg_stage<BM>(sa, sa + SA, x, ldx, w, ldw, m, n, k, m0, n0, (it0 + nx) * PG_BK, tid);
        }
        cp_async_commit();
        const __nv_bfloat16* sa = smem + (i % STAGES) * STAGE;
        const __nv_bfloat16* sb = sa + SA;
        // fragments double-buffered: step kk + 1's ldmatrix loads are issued before step kk's mma
        uint32_t af[2][MT][4], bf[2][4][2];
        auto frags = [&](int buf, int kk) {
#pragma unroll
            for (int mt = 0; mt < MT; mt++) pg_ldsm4(af[buf][mt], sa + pg_swz(aRow + mt * 16, kk * 2 + aHalf));
#pragma unroll
            for (int p = 0; p < 2; p++) {
                uint32_t r[4];
                pg_ldsm4(r, sb + pg_swz(bRow + p * 16, kk * 2 + bHalf));
                bf[buf][2 * p][0] = r[0]; bf[buf][2 * p][1] = r[1]; bf[buf][2 * p + 1][0] = r[2]; bf[buf][2 * p + 1][1] = r[3];
            }
        };
        frags(0, 0);
#pragma unroll
        for (int kk = 0; kk < PG_BK / 16; kk++) {
            if (kk + 1 < PG_BK / 16) frags((kk + 1) & 1, kk + 1);
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
#pragma unroll
                for (int nt = 0; nt < 4; nt++) pg_mma(acc[mt][nt], af[kk & 1][mt], bf[kk & 1][nt][0], bf[kk & 1][nt][1]);
        }
    }
    cp_async_wait<0>();

    if (splits > 1) {
        const int unitRow = blockIdx.y * gridDim.x;   // the units of this row of tiles
        float4* mine = reinterpret_cast<float4*>(ws + (size_t)(unitRow + blockIdx.x) * PART);
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int nt = 0; nt < 4; nt++)
                __stcg(mine + (mt * 4 + nt) * PG_THREADS + tid, make_float4(acc[mt][nt][0], acc[mt][nt][1], acc[mt][nt][2], acc[mt][nt][3]));
        __threadfence();
        __syncthreads();
        int* ticket = tickets + blockIdx.y * (gridDim.x / splits) + tile;
        if (tid == 0) lastUnit = atomicAdd(ticket, 1) == splits - 1;
        __syncthreads();
        if (!lastUnit) return;
        __threadfence();
        const float4* first = reinterpret_cast<const float4*>(ws + (size_t)(unitRow + tile * splits) * PART);
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int nt = 0; nt < 4; nt++) {
                float4 t = make_float4(0.f, 0.f, 0.f, 0.f);
                for (int q = 0; q < splits; q++) {
                    const float4 v = q == s ? make_float4(acc[mt][nt][0], acc[mt][nt][1], acc[mt][nt][2], acc[mt][nt][3])
                                            : __ldcg(first + (size_t)q * (PART / 4) + (mt * 4 + nt) * PG_THREADS + tid);
                    t.x += v.x; t.y += v.y; t.z += v.z; t.w += v.w;
                }
                acc[mt][nt][0] = t.x; acc[mt][nt][1] = t.y; acc[mt][nt][2] = t.z; acc[mt][nt][3] = t.w;
            }
        if (tid == 0) *ticket = 0;
        __syncthreads();   // every thread has read the partials
        const char* lines = reinterpret_cast<const char*>(first);
        for (int l = tid; l < splits * PART * 4 / 128; l += PG_THREADS)
            asm volatile("discard.global.L2 [%0], 128;" ::"l"(lines + (size_t)l * 128) : "memory");
    }

    const int g = lane >> 2, q = lane & 3;
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const int r = m0 + wm * (BM / 2) + mt * 16 + g + h * 8;
            if (r >= m) continue;
            float* yr = y + (size_t)r * ldy;
#pragma unroll
            for (int nt = 0; nt < 4; nt++) {
                const int c = n0 + wn * 32 + nt * 8 + 2 * q;
#pragma unroll
                for (int e = 0; e < 2; e++)
                    if (c + e < n) {
                        const float v = acc[mt][nt][2 * h + e];
                        yr[c + e] = accumulate ? v + yr[c + e] : v;
                    }
            }
        }
}

// MINB: blocks per multiprocessor the registers must allow (the 3-stage 128-row ring fits two in shared memory)
#define PGEMM_KERNEL(NAME, BM, STAGES, MINB)                                                                      \
    extern "C" __global__ void __launch_bounds__(PG_THREADS, MINB) NAME(                                               \
        const __nv_bfloat16* w, int ldw, const __nv_bfloat16* x, int ldx, float* y, int ldy, int n, int k, int m, \
        int accumulate, int splits, float* ws, int* tickets) {                                                   \
        pgemm<BM, STAGES>(w, ldw, x, ldx, y, ldy, n, k, m, accumulate, splits, ws, tickets);                     \
    }
PGEMM_KERNEL(pgemm_bf16_32x4, 32, 4, 2)
PGEMM_KERNEL(pgemm_bf16_64x4, 64, 4, 2)
PGEMM_KERNEL(pgemm_bf16_128x3, 128, 3, 2)
PGEMM_KERNEL(pgemm_bf16_128x4, 128, 4, 1)
