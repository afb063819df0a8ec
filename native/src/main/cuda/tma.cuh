// Fathom CUDA kernels, part of fathom_kernels.cu (included there after splitk.cuh, not compiled alone): the 2..8-row
// GEMM over row-major BF16 weights fed by the Tensor Memory Accelerator (sm_90; dev.fathom.cuda.SbiSplitK plans and
// launches it with two tensor maps it encodes on the host).
//
// Why: the fourteenth session's measurements (docs/benchmarks.md) placed the split-K kernels' loss at 4-8 rows in the
// activation staging before the weight stream and the cluster reduction after it, and showed cuBLAS's nvjet kernels
// feeding 128 x 8 tiles through a deep shared-memory pipeline of TMA copies. This kernel does the same with the
// launch interface and epilogue of the split-K kernels:
//  - Block = 8 consumer warps (one 16-row tile each: 128 output rows) + 1 producer warp; grid = ceil(RT / 8) * C with
//    the C K slices of a row group in one cluster (C = 1: whole K, no reduction across blocks). The sbimmh kernels
//    have 4 consumer warps and 64-row boxes: as many blocks at half the C (the nineteenth session's traces showed
//    clusters of 4 reaching only 120 of 132 multiprocessors, 8 of them running two blocks); sbimmb has 16 and 256-row
//    boxes (TW, the template's tiles per block).
//  - A stage is 64 columns of K: the 128 x 64 weight box (16 KB, 128-byte swizzle) and the 8 x 64 activation box
//    (fp32, two 8 x 32 boxes, 128-byte swizzle; rows past `rows` and columns past K arrive as zeros), both landing on
//    the stage's mbarrier. S stages are in flight from the first instruction; the activations need no staging pass
//    and cross L2 once per block and stage (1/8 of the weight bytes at 8 rows).
//  - Consumers: per 16-column k tile one ldmatrix.x4 gives the mma A fragment of the warp's 16 rows (conflict-free
//    under the swizzle); the B fragment is the lane's four activations, split into bf16 hi + lo (two mma chains, as
//    the other kernels: float32-level accuracy). Each warp releases a stage with one arrive on its empty barrier.
//  - gamma != null: the RMS norm runs inside, as XR does it: each lane multiplies its activations by gamma, warp 0
//    sums x^2 per row, and mmc_finish scales by rsqrt(mean + eps).
//  - The end is mmc_finish of splitk.cuh (one cluster barrier and a DSMEM reduction when C > 1).
// Dynamic shared memory: S stages of CPS chunks of (TW x 2 KB weights + 2 KB activations), + 1 KB (the boxes are 1 KB
// aligned for the swizzle); 18 KB a stage for the 128-row kernels.

#pragma once

#include <cuda.h>   // CUtensorMap

#define TMA_X_BYTES (8 * 64 * 4)

#include "hopper_async.cuh"   // smem_u32, mbarriers, tma_load_2d, ldmatrix_x4

// The lane's gamma values of the 64-column chunk at k0: for each k tile kt of 16, columns 16 kt + 2q, + 1, + 8, + 9
// (zeros past K; K % 4 == 0, which the activation map needs, so col < K covers col + 1)
DEV void tma_gamma(const float* __restrict__ gamma, int K, int k0, int q, float* gv) {
#pragma unroll
    for (int kt = 0; kt < 4; kt++) {
        const int col = k0 + kt * 16 + 2 * q;
        const float2 ga = col < K ? __ldg(reinterpret_cast<const float2*>(gamma + col)) : make_float2(0.f, 0.f);
        const float2 gb = col + 8 < K ? __ldg(reinterpret_cast<const float2*>(gamma + col + 8)) : make_float2(0.f, 0.f);
        gv[4 * kt] = ga.x; gv[4 * kt + 1] = ga.y; gv[4 * kt + 2] = gb.x; gv[4 * kt + 3] = gb.y;
    }
}

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
// k tile kt of a stage: the warp's mma A fragment (one ldmatrix.x4 from the swizzled weight box at st, rows arow; lane
// matrix m, row i) and the lane's four activations of row g from the two swizzled 8 x 32 boxes at xs (xrow: row g, the
// lane's half of a 16-byte chunk): columns 16 kt' + 2q, + 1, + 8, + 9 of box kt / 2 (kt' = kt % 2)
DEV void tma_ktile(uint32_t st, const unsigned char* xs, int kt, uint32_t arow, uint32_t xrow, int m, int i, int g, int q,
                   uint4& a, float& x0, float& x1, float& x2, float& x3) {
    const int c = 2 * kt + (m >> 1);
    ldmatrix_x4(a, st + arow + ((c ^ i) << 4));
    const int h = kt >> 1, c0 = (kt & 1) * 4 + (q >> 1);   // box, logical chunk of column 16 kt' + 2q
    const float2 u = *reinterpret_cast<const float2*>(xs + h * 1024 + xrow + ((c0 ^ g) << 4));
    const float2 v = *reinterpret_cast<const float2*>(xs + h * 1024 + xrow + (((c0 + 2) ^ g) << 4));
    x0 = u.x; x1 = u.y; x2 = v.x; x3 = v.y;
}
// the activations split into bf16 hi + lo, one mma chain each (float32-level accuracy)
DEV void tma_mma_hilo(float* acc, float* acc2, const uint4& a, float x0, float x1, float x2, float x3) {
    uint32_t h0, l0, h1, l1;
    split_bf16(x0, x1, h0, l0);
    split_bf16(x2, x3, h1, l1);
    mma_bf16(acc, a, h0, h1);
    mma_bf16(acc2, a, l0, l1);
}
#endif

// TR (the trace variants sbimm*t_bf16_8, CudaBench part tmatrace): thread 0 of each block writes 8 words to
// fathom_tma_trace[(act * TMA_TRACE_BLOCKS + block) * 8 ...] (act: 0 or 1, so two launches in a row keep both; mode 0
// never reads it): its multiprocessor, %globaltimer (ns) at entry, when consumer warp 0 has the first and the last
// stage, and once every thread of the block is done, then the same three points as clock64 cycles after entry.
// Every traced block also appends a record to the ring fathom_tma_ring (slot = fathom_tma_ring_n++ modulo its size), so
// the launches of a whole decode step can be read back in order (CudaBench part steptrace): word 0 = SM | block << 16 |
// grid << 32 | C << 48, words 1-4 the four timer points, word 5 = n | K << 32, word 6 = rows | mode << 8, word 7 = 0.
#define TMA_TRACE_BLOCKS 4096
#define TMA_RING_SLOTS 65536
__device__ unsigned long long fathom_tma_trace[2 * TMA_TRACE_BLOCKS * 8];
__device__ unsigned long long fathom_tma_ring[TMA_RING_SLOTS * 8];
__device__ unsigned int fathom_tma_ring_n;
DEV unsigned long long gtimer() {
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
}
// thread 0 (after the block's last barrier): the end point, then the block's record to fathom_tma_trace and the ring
DEV void tma_trace_end(unsigned long long* tg, unsigned long long* tc, int act, int C, int n, int K, int rows, int mode) {
    if (threadIdx.x != 0 || blockIdx.x >= TMA_TRACE_BLOCKS) return;
    tg[3] = gtimer();
    tc[3] = clock64();
    unsigned smid;
    asm volatile("mov.u32 %0, %%smid;" : "=r"(smid));
    unsigned long long* o = fathom_tma_trace + ((act & 1) * TMA_TRACE_BLOCKS + blockIdx.x) * 8;
    o[0] = smid; o[1] = tg[0]; o[2] = tg[1]; o[3] = tg[2]; o[4] = tg[3];
    o[5] = tc[1] - tc[0]; o[6] = tc[2] - tc[0]; o[7] = tc[3] - tc[0];
    unsigned long long* r = fathom_tma_ring + (atomicAdd(&fathom_tma_ring_n, 1u) % TMA_RING_SLOTS) * 8ull;
    r[0] = smid | (unsigned long long)blockIdx.x << 16 | (unsigned long long)gridDim.x << 32 | (unsigned long long)C << 48;
    r[1] = tg[0]; r[2] = tg[1]; r[3] = tg[2]; r[4] = tg[3];
    r[5] = (unsigned)n | (unsigned long long)(unsigned)K << 32;
    r[6] = (unsigned)rows | (unsigned long long)(unsigned)mode << 8;
    r[7] = 0;
}

// S: stages in flight; TW: 16-row tiles of a block (8: 128-row boxes; 4: 64-row boxes, twice the blocks of a matrix
// without splitting K); KS: consumer warps per tile, each multiplying 64 / KS columns of every stage (KS = 2, sbimmd and
// sbimme, streamed a block slower than KS = 1: the multiply does not set the rate); CPS: 64-column chunks per stage,
// each its weight box and activation boxes, waited on and freed together (CPS = 2, sbimmw and sbimmv, streamed a block
// 40 % faster: copies alone stream a block at 70-85 GB/s, the kernels with one chunk a stage at 24-37, so each stage's
// wait and release sets the rate; nineteenth session). Launch: 32 TW KS + 32 threads, cluster (C, 1, 1); after the
// two maps, the split-K kernels' arguments less W, ldx, srows (the maps carry them) and vecx (the copies need no vector
// switch).
// FL, flags (twentieth session): MMT_PREFETCH (sbimmt4p, sbimmh8p): the producer lane prefetches both tensor maps into
// the descriptor cache at entry, before the barriers are set up, so that the first copy need not fetch them from the
// kernel parameters; MMT_LATE (sbimmt4l, sbimmh8l, sbimmh12l): the block lets the next kernel launch (PDL) only once its
// consumers have taken the last stage, not at entry, so that kernels two launches ahead do not take multiprocessors
// while this one streams; MMT_NOTRIG (sbimmv6n): the block never lets the next kernel in early, so it launches only when
// this grid has ended, as after a cuBLAS node (twenty-fifth session: through sbimmv6 the 4096-row GEMMs are faster one
// launch at a time and the decode graph is slower, and a cuBLAS node ends the chain of early launches where ours extend it).
#define MMT_PREFETCH 1
#define MMT_LATE 2
#define MMT_NOTRIG 4
template <int S, int TW, int KS, bool TR, int CPS = 1, int FL = 0>
DEV void sbi_mmt(const CUtensorMap* tmW, const CUtensorMap* tmX, int K, int KT, int RT, int C,
                 const float* __restrict__ bias, const float* res, float* y, int ldy, int n, int rows,
                 int mode, int act, const float* __restrict__ gamma, float eps) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    constexpr int WB = TW * 16 * 128, CB = WB + TMA_X_BYTES, SB = CPS * CB;   // a chunk: the TW x 16-row weight box, the activations
    extern __shared__ __align__(1024) unsigned char tma_smem[];
    __shared__ float red[TW > 8 ? TW : 8][16][8];   // a 16 x 8 sum per tile (mmc_finish)
    __shared__ float ss[8], sinv[8];
    __shared__ uint64_t full[S], empty[S];
    __shared__ float part[KS > 1 ? TW : 1][32][4];   // KS > 1: the second k half's sums, added to the first's
    constexpr int CW = TW * KS;   // consumer warps
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
    const int rank = blockIdx.x % C, rg = blockIdx.x / C;
    const int NC = KT >> 2, per = (NC + C - 1) / C, kc0 = rank * per;   // 64-column chunks: all, per slice, first
    const int cnt = max(0, min(NC, kc0 + per) - kc0), nst = (cnt + CPS - 1) / CPS;   // chunks, stages of this block
    unsigned char* base = reinterpret_cast<unsigned char*>((reinterpret_cast<uintptr_t>(tma_smem) + 1023) & ~uintptr_t(1023));
    unsigned long long tg[4] = {0, 0, 0, 0}, tc[4] = {0, 0, 0, 0};
    if (TR) { tg[0] = gtimer(); tc[0] = clock64(); }
    if ((FL & MMT_PREFETCH) && threadIdx.x == CW * 32) {
        asm volatile("prefetch.tensormap [%0];" ::"l"(reinterpret_cast<uint64_t>(tmW)) : "memory");
        asm volatile("prefetch.tensormap [%0];" ::"l"(reinterpret_cast<uint64_t>(tmX)) : "memory");
    }
    if (!(FL & (MMT_LATE | MMT_NOTRIG))) pdl_trigger();
    if (threadIdx.x < 8) ss[threadIdx.x] = 0.f;
    if (threadIdx.x == 0) {
        for (int s = 0; s < S; s++) { mbar_init(&full[s], 1); mbar_init(&empty[s], CW); }
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    __syncthreads();
    float acc[4] = {0.f, 0.f, 0.f, 0.f}, acc2[4] = {0.f, 0.f, 0.f, 0.f};
    float xsq = 0.f;
    if (warp == CW) {   // producer: one lane issues every copy
        if (lane == 0) {
            const int pre = min(S, nst);
            for (int j = 0; j < pre; j++) {   // the weights of the first S stages before waiting on the previous kernel
                const int nc = min(CPS, cnt - j * CPS);
                mbar_expect_tx(&full[j], nc * CB);
                for (int c = 0; c < nc; c++) tma_load_2d(base + j * SB + c * CB, tmW, (kc0 + j * CPS + c) * 64, rg * TW * 16, &full[j]);
            }
            pdl_wait();   // the activations come from the previous kernel
            for (int j = 0; j < pre; j++)
                for (int c = 0; c < min(CPS, cnt - j * CPS); c++) {
                    unsigned char* xs = base + j * SB + c * CB + WB;
                    tma_load_2d(xs, tmX, (kc0 + j * CPS + c) * 64, 0, &full[j]);
                    tma_load_2d(xs + 1024, tmX, (kc0 + j * CPS + c) * 64 + 32, 0, &full[j]);
                }
            for (int j = S; j < nst; j++) {
                const int s = j % S, nc = min(CPS, cnt - j * CPS);
                mbar_wait(&empty[s], ((j / S) - 1) & 1);   // the CW consumers are done with the slot's last use
                mbar_expect_tx(&full[s], nc * CB);
                for (int c = 0; c < nc; c++) {
                    unsigned char* st = base + s * SB + c * CB;
                    const int col = (kc0 + j * CPS + c) * 64;
                    tma_load_2d(st, tmW, col, rg * TW * 16, &full[s]);
                    tma_load_2d(st + WB, tmX, col, 0, &full[s]);
                    tma_load_2d(st + WB + 1024, tmX, col + 32, 0, &full[s]);
                }
            }
        }
        __syncwarp();
        pdl_wait();   // the whole warp: it writes outputs in mmc_finish, reading res
    } else {   // every consumer walks the pipeline (tiles past RT hold zeros and are not written): CW arrivals per stage
        pdl_wait();   // res and gamma may come from the previous kernel
        // warp = kh TW + tile: tile's 16 rows, k tiles [kh 4 / KS, (kh + 1) 4 / KS) of each 64-column stage
        const int tile = warp % TW, kh = warp / TW;
        // ldmatrix: lane l gives row 16 tile + 8 (m & 1) + i of matrix m = l / 8 (i = l % 8), 16-byte chunk 2 kt + (m >> 1)
        const int m = lane >> 3, i = lane & 7;
        const uint32_t arow = (tile * 16 + (m & 1) * 8 + i) * 128;
        // the lane's activations: row g, columns 16 kt' + 2q (+1) and + 8 (+9) of each 32-column box (kt' = kt % 2)
        const uint32_t xrow = g * 128 + (q & 1) * 8;
        // gamma != null: the lane's 16 gamma values of the next chunk are loaded while the current one is multiplied (the
        // first measurement, H100, loaded them after each stage's wait: the norm variant read at 28-45 % of the plain one)
        // (CPS > 1: each chunk's gamma is loaded as the chunk starts)
        float gcur[16], gnext[16];
        if (CPS == 1 && gamma && cnt > 0) tma_gamma(gamma, K, kc0 * 64, q, gcur);
        for (int j = 0; j < nst; j++) {
            if (CPS == 1 && gamma && j + 1 < cnt) tma_gamma(gamma, K, (kc0 + j + 1) * 64, q, gnext);
            const int s = j % S;
            mbar_wait(&full[s], (j / S) & 1);
            if (TR && threadIdx.x == 0) {
                if (j == 0) { tg[1] = gtimer(); tc[1] = clock64(); }
                if (j == nst - 1) { tg[2] = gtimer(); tc[2] = clock64(); }
            }
#pragma unroll
          for (int ch = 0; ch < CPS; ch++) {
            if (CPS > 1 && j * CPS + ch >= cnt) break;
            if (CPS > 1 && gamma) tma_gamma(gamma, K, (kc0 + j * CPS + ch) * 64, q, gcur);
            const uint32_t st = smem_u32(base + s * SB + ch * CB);
            const unsigned char* xs = base + s * SB + ch * CB + WB;
#pragma unroll
            for (int kk = 0; kk < 4 / KS; kk++) {
                const int kt = kh * (4 / KS) + kk;
                uint4 a;
                float x0, x1, x2, x3;
                tma_ktile(st, xs, kt, arow, xrow, m, i, g, q, a, x0, x1, x2, x3);
                if (gamma) {
                    xsq += x0 * x0 + x1 * x1 + x2 * x2 + x3 * x3;
                    // gcur indexed by compile-time positions only (kt depends on kh at run time; KS = 2: kh picks a half)
                    const int lo = 4 * kk, hi = KS > 1 ? 4 * (kk + 2) : lo;
                    x0 *= kh ? gcur[hi] : gcur[lo]; x1 *= kh ? gcur[hi + 1] : gcur[lo + 1];
                    x2 *= kh ? gcur[hi + 2] : gcur[lo + 2]; x3 *= kh ? gcur[hi + 3] : gcur[lo + 3];
                }
                tma_mma_hilo(acc, acc2, a, x0, x1, x2, x3);
            }
          }
            __syncwarp();
            if (lane == 0) mbar_arrive(&empty[s]);
            if (CPS == 1 && gamma) {
#pragma unroll
                for (int e = 0; e < 16; e++) gcur[e] = gnext[e];
            }
        }
    }
    if (FL & MMT_LATE) pdl_trigger();   // every stage taken (the producer's warp: every copy issued)
    if (gamma && warp % TW == 0 && warp < CW) {   // tile 0's warps walked every chunk of the slice: their row sums are the block's
        xsq += __shfl_xor_sync(0xffffffffu, xsq, 1);
        xsq += __shfl_xor_sync(0xffffffffu, xsq, 2);
        if (q == 0 && g < rows) atomicAdd(&ss[g], xsq);   // ss read after mmc_finish's barrier
    }
    if (KS > 1) {   // one k half's sums into the other's (KS = 2)
        if (warp >= TW && warp < CW)
            for (int e = 0; e < 4; e++) part[warp - TW][lane][e] = acc[e] + acc2[e];
        __syncthreads();
        if (warp < TW)
            for (int e = 0; e < 4; e++) acc[e] += part[warp][lane][e];
    }
    static_assert(KS == 1 || KS == 2, "one or two consumer warps per tile");
    static_assert(TW * 16 <= 256 && TW * KS <= 31, "a weight box has at most 256 rows; a block at most 1024 threads");
    mmc_finish<TW>(red, acc, acc2, ss, sinv, C, rank, rg, RT, K, bias, res, y, ldy, n, rows, mode, act, gamma, eps, true);
    if (TR) __syncthreads();
    if (TR) tma_trace_end(tg, tc, act, C, n, K, rows, mode);
#else
    __trap();   // sm_90 only (SbiSplitK never launches it elsewhere)
#endif
}

#define MMT_KERNEL_FL(NAME, S, TW, KS, TR, CPS, FL)                                                              \
    extern "C" __global__ void __launch_bounds__(TW * KS * 32 + 32, 1) NAME(                                  \
        const __grid_constant__ CUtensorMap tmW, const __grid_constant__ CUtensorMap tmX, int K, int KT,      \
        int RT, int C, const float* bias, const float* res, float* y, int ldy, int n, int rows, int mode,     \
        int act, const float* gamma, float eps) {                                                             \
        sbi_mmt<S, TW, KS, TR, CPS, FL>(&tmW, &tmX, K, KT, RT, C, bias, res, y, ldy, n, rows, mode, act, gamma, eps); \
    }
#define MMT_KERNEL(NAME, S, TW, KS, TR, CPS) MMT_KERNEL_FL(NAME, S, TW, KS, TR, CPS, 0)
// experiments (CudaBench part tma): 128-row boxes in 4 stages (72 KB in flight per block, 2 blocks per multiprocessor),
// 8 (144 KB), 12 (216 KB); 64-row boxes (10 KB a stage) in 8 (80 KB) and 12 (120 KB); with two consumer warps per tile:
// sbimmd (128-row boxes, 16 consumer warps) and sbimme (64-row boxes, 8); two chunks a stage: sbimmw (128-row boxes,
// 36 KB a stage, 2 or 4 stages) and sbimmv (64-row boxes, 20 KB a stage, 6 stages). (32-row boxes with two consumer
// warps, 128 blocks over 4096 outputs without a split, streamed at half the rate per block of the 64-row boxes with as
// many bytes in flight: measured and dropped, nineteenth session.)
MMT_KERNEL(sbimmt4_bf16_8, 4, 8, 1, false, 1)
MMT_KERNEL(sbimmt8_bf16_8, 8, 8, 1, false, 1)
MMT_KERNEL(sbimmt12_bf16_8, 12, 8, 1, false, 1)
MMT_KERNEL(sbimmh8_bf16_8, 8, 4, 1, false, 1)
MMT_KERNEL(sbimmh12_bf16_8, 12, 4, 1, false, 1)
MMT_KERNEL(sbimmd4_bf16_8, 4, 8, 2, false, 1)
MMT_KERNEL(sbimmd8_bf16_8, 8, 8, 2, false, 1)
MMT_KERNEL(sbimme12_bf16_8, 12, 4, 2, false, 1)
MMT_KERNEL(sbimmw2_bf16_8, 2, 8, 1, false, 2)
MMT_KERNEL(sbimmw4_bf16_8, 4, 8, 1, false, 2)
MMT_KERNEL(sbimmv6_bf16_8, 6, 4, 1, false, 2)
MMT_KERNEL_FL(sbimmv6n_bf16_8, 6, 4, 1, false, 2, MMT_NOTRIG)   // never triggers: the next kernel enters after this grid
// 256-row boxes (16 consumer warps, 34 KB a stage, one block per multiprocessor): the gated gate/up pair of llama-7b
// (22016 stored rows) in 86 blocks, one wave, where sbimmt4's 172 blocks need two to a multiprocessor (twentieth session)
MMT_KERNEL(sbimmb4_bf16_8, 4, 16, 1, false, 1)
MMT_KERNEL(sbimmb4t_bf16_8, 4, 16, 1, true, 1)
// boxes sized so a matrix fills the multiprocessors in one wave (twenty-first session): 96-row boxes (6 consumer warps;
// 12288 outputs in 128 blocks, 11008 in 115), 192-row (12; 22016 in 115) and 256-row, all with the maps prefetched
MMT_KERNEL_FL(sbimms4p_bf16_8, 4, 6, 1, false, 1, MMT_PREFETCH)
MMT_KERNEL_FL(sbimms6p_bf16_8, 6, 6, 1, false, 1, MMT_PREFETCH)
MMT_KERNEL_FL(sbimmq4p_bf16_8, 4, 12, 1, false, 1, MMT_PREFETCH)
MMT_KERNEL_FL(sbimmb4p_bf16_8, 4, 16, 1, false, 1, MMT_PREFETCH)
// the tensor maps prefetched at entry; the next kernel let in after the last stage
MMT_KERNEL_FL(sbimmt4p_bf16_8, 4, 8, 1, false, 1, MMT_PREFETCH)
MMT_KERNEL_FL(sbimmh8p_bf16_8, 8, 4, 1, false, 1, MMT_PREFETCH)
MMT_KERNEL_FL(sbimmt4l_bf16_8, 4, 8, 1, false, 1, MMT_LATE)
MMT_KERNEL_FL(sbimmh8l_bf16_8, 8, 4, 1, false, 1, MMT_LATE)
MMT_KERNEL_FL(sbimmh12l_bf16_8, 12, 4, 1, false, 1, MMT_LATE)
// the wide and gated kernels of the decode step never letting the next kernel in early (twenty-sixth session: so made,
// the 4096-row outputs' kernel turned a loss in the decode graph into a gain at 4 rows)
MMT_KERNEL_FL(sbimmt4pn_bf16_8, 4, 8, 1, false, 1, MMT_PREFETCH | MMT_NOTRIG)
MMT_KERNEL_FL(sbimmq4pn_bf16_8, 4, 12, 1, false, 1, MMT_PREFETCH | MMT_NOTRIG)
// the same writing fathom_tma_trace
MMT_KERNEL(sbimmt4t_bf16_8, 4, 8, 1, true, 1)
MMT_KERNEL(sbimmt8t_bf16_8, 8, 8, 1, true, 1)
MMT_KERNEL(sbimmh8t_bf16_8, 8, 4, 1, true, 1)
MMT_KERNEL(sbimmd4t_bf16_8, 4, 8, 2, true, 1)
MMT_KERNEL(sbimme12t_bf16_8, 12, 4, 2, true, 1)
MMT_KERNEL(sbimmw4t_bf16_8, 4, 8, 1, true, 2)
MMT_KERNEL(sbimmv6t_bf16_8, 6, 4, 1, true, 2)
MMT_KERNEL_FL(sbimmt4pt_bf16_8, 4, 8, 1, true, 1, MMT_PREFETCH)

// ------------------------------------------------------------------------------------------ stream-K over the TMA pipeline
// sbi_mmk (sbimmk*): the sbi_mmt pipeline with the work cut evenly over a grid of G blocks, no clusters. The twenty-second
// session's tables left cuBLAS ahead at 4-8 rows exactly on the matrices with fewer than 132 boxes of any height tried
// (11008 x 4096: 86 boxes of 128 rows), where one box per block leaves multiprocessors idle or, split over a cluster, gives
// some multiprocessors a block more than others. Here the units are (row group, 64-column chunk) pairs, numbered chunk by
// chunk within a row group, row group by row group: U = RG x NC of them. Block b streams units [start(b), start(b + 1)),
// start(b) = b q + min(b, r) with q = U / G, r = U % G (G <= U), so blocks differ by at most one unit (16 KB), and the
// pipeline runs on across row groups without draining.
//  - Where a block's units of a row group end, each consumer warp stores its 16 x 8 sums (hi + lo) to the workspace slot
//    rg + b (unique: along the unit order each new (row group, block) pair raises rg + b by one or two), warp 0 the row
//    sums of x^2 (fused norm), and starts again from zero.
//  - After its last unit the block fences, and per row group it touched takes a ticket (tickets[rg]; none where it holds
//    the whole row group). The block that takes a row group's last ticket adds its pieces in slot order (so the sums do not
//    depend on which block came last), resets the ticket to 0 for the next launch, and runs mmc_finish's epilogue.
//  - The workspace and tickets are the module's (SbiSplitK.StreamKSpace): launches of these kernels on a device must not
//    overlap, which one stream and programmatic dependent launch guarantee (every workspace access follows pdl_wait).
// Launch: G blocks of 32 TW + 32 threads, no cluster; after sbi_mmt's arguments less C, the workspace and tickets.
DEV int smk_start(int b, int q, int r) { return b * q + min(b, r); }
DEV int smk_block(int u, int q, int r) { return u < r * (q + 1) ? u / (q + 1) : r + (u - r * (q + 1)) / q; }

template <int S, int TW, int FL, bool TR, bool OWN = false>
DEV void sbi_mmk(const CUtensorMap* tmW, const CUtensorMap* tmX, int K, int KT, int RT,
                 const float* __restrict__ bias, const float* res, float* y, int ldy, int n, int rows,
                 int mode, int act, const float* __restrict__ gamma, float eps, float* ws, unsigned* tickets) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    constexpr int WB = TW * 16 * 128, CB = WB + TMA_X_BYTES, SLOT = TW * 128 + 8;
    extern __shared__ __align__(1024) unsigned char tma_smem[];
    __shared__ float red[TW > 8 ? TW : 8][16][8];
    __shared__ float ss[8], sinv[8];
    __shared__ uint64_t full[S], empty[S];
    __shared__ int lastTicket;
    float fin[4] = {0.f, 0.f, 0.f, 0.f}, finx = 0.f;   // OWN: the owned last row group's sums, all pieces added (consumers)
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
    const int NC = KT >> 2, RG = (RT + TW - 1) / TW, U = RG * NC, G = gridDim.x, b = blockIdx.x;
    const int qu = U / G, ru = U % G, u0 = smk_start(b, qu, ru), cnt = smk_start(b + 1, qu, ru) - u0;
    unsigned char* base = reinterpret_cast<unsigned char*>((reinterpret_cast<uintptr_t>(tma_smem) + 1023) & ~uintptr_t(1023));
    unsigned long long tg[4] = {0, 0, 0, 0}, tc[4] = {0, 0, 0, 0};   // TR: as sbi_mmt's; the end after the row groups finished
    if (TR) { tg[0] = gtimer(); tc[0] = clock64(); }
    if ((FL & MMT_PREFETCH) && threadIdx.x == TW * 32) {
        asm volatile("prefetch.tensormap [%0];" ::"l"(reinterpret_cast<uint64_t>(tmW)) : "memory");
        asm volatile("prefetch.tensormap [%0];" ::"l"(reinterpret_cast<uint64_t>(tmX)) : "memory");
    }
    pdl_trigger();
    if (threadIdx.x == 0) {
        for (int s = 0; s < S; s++) { mbar_init(&full[s], 1); mbar_init(&empty[s], TW); }
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    __syncthreads();
    if (warp == TW) {   // producer: one lane issues every copy
        if (lane == 0) {
            const int pre = min(S, cnt);
            for (int j = 0; j < pre; j++) {   // the weights of the first S stages before waiting on the previous kernel
                const int u = u0 + j;
                mbar_expect_tx(&full[j], CB);
                tma_load_2d(base + j * CB, tmW, (u % NC) * 64, (u / NC) * TW * 16, &full[j]);
            }
            pdl_wait();   // the activations come from the previous kernel
            for (int j = 0; j < pre; j++) {
                unsigned char* xs = base + j * CB + WB;
                const int col = ((u0 + j) % NC) * 64;
                tma_load_2d(xs, tmX, col, 0, &full[j]);
                tma_load_2d(xs + 1024, tmX, col + 32, 0, &full[j]);
            }
            for (int j = S; j < cnt; j++) {
                const int s = j % S, u = u0 + j, col = (u % NC) * 64;
                mbar_wait(&empty[s], ((j / S) - 1) & 1);   // the TW consumers are done with the slot's last use
                mbar_expect_tx(&full[s], CB);
                unsigned char* st = base + s * CB;
                tma_load_2d(st, tmW, col, (u / NC) * TW * 16, &full[s]);
                tma_load_2d(st + WB, tmX, col, 0, &full[s]);
                tma_load_2d(st + WB + 1024, tmX, col + 32, 0, &full[s]);
            }
        }
        __syncwarp();
        pdl_wait();   // the whole warp: it writes outputs in mmc_finish, reading res
    } else {   // consumer warp `warp`: the 16-row tile `warp` of each unit's row group
        pdl_wait();   // res, gamma and the workspace may be the previous kernel's
        const int m = lane >> 3, i = lane & 7;
        const uint32_t arow = (warp * 16 + (m & 1) * 8 + i) * 128, xrow = g * 128 + (q & 1) * 8;
        float acc[4] = {0.f, 0.f, 0.f, 0.f}, acc2[4] = {0.f, 0.f, 0.f, 0.f}, xsq = 0.f;
        float gcur[16], gnext[16];
        if (gamma && cnt > 0) tma_gamma(gamma, K, (u0 % NC) * 64, q, gcur);
        // OWN: the last row group this block streams, whether it owns it (streams its first chunk), and its pieces
        const int rgL = (u0 + cnt - 1) / NC;
        const bool ownL = OWN && cnt > 0 && rgL * NC >= u0;
        const int npL = ownL ? smk_block(rgL * NC + NC - 1, qu, ru) - b + 1 : 1;
        float4 pf[2] = {make_float4(0.f, 0.f, 0.f, 0.f), make_float4(0.f, 0.f, 0.f, 0.f)};
        float pfx[2] = {0.f, 0.f};
        for (int j = 0; j < cnt; j++) {
            const int u = u0 + j, s = j % S;
            if (gamma && j + 1 < cnt) tma_gamma(gamma, K, ((u + 1) % NC) * 64, q, gnext);
            if (OWN && ownL && j == cnt - 1) {   // the first two later pieces, loaded while the last stage is multiplied
#pragma unroll
                for (int p = 1; p < 3; p++)
                    if (p < npL) {
                        const int sl = rgL + b + p;
                        while (load_acquire_gpu(tickets + sl * TW + warp) == 0u) {}
                        pf[p - 1] = __ldcg(reinterpret_cast<const float4*>(ws + (size_t)sl * SLOT) + warp * 32 + lane);
                        if (gamma && warp == 0) pfx[p - 1] = __ldcg(ws + (size_t)sl * SLOT + TW * 128 + g);
                    }
            }
            mbar_wait(&full[s], (j / S) & 1);
            if (TR && threadIdx.x == 0) {
                if (j == 0) { tg[1] = gtimer(); tc[1] = clock64(); }
                if (j == cnt - 1) { tg[2] = gtimer(); tc[2] = clock64(); }
            }
            const uint32_t st = smem_u32(base + s * CB);
            const unsigned char* xs = base + s * CB + WB;
#pragma unroll
            for (int kt = 0; kt < 4; kt++) {
                uint4 a;
                float x0, x1, x2, x3;
                tma_ktile(st, xs, kt, arow, xrow, m, i, g, q, a, x0, x1, x2, x3);
                if (gamma) {
                    xsq += x0 * x0 + x1 * x1 + x2 * x2 + x3 * x3;
                    x0 *= gcur[4 * kt]; x1 *= gcur[4 * kt + 1]; x2 *= gcur[4 * kt + 2]; x3 *= gcur[4 * kt + 3];
                }
                tma_mma_hilo(acc, acc2, a, x0, x1, x2, x3);
            }
            __syncwarp();
            if (lane == 0) mbar_arrive(&empty[s]);
            if (gamma) {
#pragma unroll
                for (int e = 0; e < 16; e++) gcur[e] = gnext[e];
            }
            // OWN: the owner keeps its last row group in registers; every other piece goes to the workspace
            if (((u + 1) % NC == 0 || j == cnt - 1) && !(OWN && ownL && j == cnt - 1)) {   // the block's units of row group u / NC end: its piece to slot rg + b
                float* p = ws + (size_t)(u / NC + b) * SLOT;
                __stcg(reinterpret_cast<float4*>(p) + warp * 32 + lane,
                       make_float4(acc[0] + acc2[0], acc[1] + acc2[1], acc[2] + acc2[2], acc[3] + acc2[3]));
                if (gamma && warp == 0) {   // tile 0's warp walked every chunk: its row sums are the piece's
                    float t = xsq;
                    t += __shfl_xor_sync(0xffffffffu, t, 1);
                    t += __shfl_xor_sync(0xffffffffu, t, 2);
                    if (q == 0) __stcg(p + TW * 128 + g, t);
                }
                if (OWN && (u / NC) * NC < u0) {   // a piece of a row group an earlier block owns: visible, then this warp's flag
                    __threadfence();
                    __syncwarp();
                    if (lane == 0) store_release_gpu(tickets + (u / NC + b) * TW + warp, 1u);
                }
#pragma unroll
                for (int e = 0; e < 4; e++) { acc[e] = 0.f; acc2[e] = 0.f; }
                xsq = 0.f;
            }
        }
        if (OWN && ownL) {   // the owned last row group: own sums, then the later blocks' pieces in block order
            float t = xsq;
            t += __shfl_xor_sync(0xffffffffu, t, 1);
            t += __shfl_xor_sync(0xffffffffu, t, 2);
#pragma unroll
            for (int e = 0; e < 4; e++) fin[e] = acc[e] + acc2[e];
#pragma unroll
            for (int p = 1; p < 3; p++)
                if (p < npL) {
                    fin[0] += pf[p - 1].x; fin[1] += pf[p - 1].y; fin[2] += pf[p - 1].z; fin[3] += pf[p - 1].w;
                    t += pfx[p - 1];
                }
            for (int p = 3; p < npL; p++) {
                const int sl = rgL + b + p;
                while (load_acquire_gpu(tickets + sl * TW + warp) == 0u) {}
                const float4 v = __ldcg(reinterpret_cast<const float4*>(ws + (size_t)sl * SLOT) + warp * 32 + lane);
                fin[0] += v.x; fin[1] += v.y; fin[2] += v.z; fin[3] += v.w;
                if (gamma && warp == 0) t += __ldcg(ws + (size_t)sl * SLOT + TW * 128 + g);
            }
            __syncwarp();
            if (lane == 0)
                for (int p = 1; p < npL; p++) tickets[(rgL + b + p) * TW + warp] = 0u;   // read: ready for the next launch
            finx = t;
        }
    }
    if (OWN) {   // each row group this block owns, in order: the workspace's (whole row groups before the last), then the last from registers
        __syncthreads();
        const int rgA = u0 / NC, rgB = cnt > 0 ? (u0 + cnt - 1) / NC : rgA - 1;
        const float zero[4] = {0.f, 0.f, 0.f, 0.f};
        for (int rg = rgA; rg <= rgB; rg++) {
            if (rg * NC < u0) continue;   // its owner is an earlier block
            float a[4] = {fin[0], fin[1], fin[2], fin[3]};
            if (rg < rgB) {   // a whole row group in the middle of the run: one piece, this block's, in its slot
                const float4 v = warp < TW ? __ldcg(reinterpret_cast<const float4*>(ws + (size_t)(rg + b) * SLOT) + warp * 32 + lane)
                                           : make_float4(0.f, 0.f, 0.f, 0.f);
                a[0] = v.x; a[1] = v.y; a[2] = v.z; a[3] = v.w;
                if (gamma && threadIdx.x < 8) ss[threadIdx.x] = __ldcg(ws + (size_t)(rg + b) * SLOT + TW * 128 + threadIdx.x);
            } else if (gamma && warp == 0 && q == 0) {
                ss[g] = finx;
            }
            mmc_finish<TW>(red, a, zero, ss, sinv, 1, 0, rg, RT, K, bias, res, y, ldy, n, rows, mode, act, gamma, eps, true);
            __syncthreads();   // red and ss serve the next row group
        }
        if (TR) tma_trace_end(tg, tc, act, 1, n, K, rows, mode);
        return;
    }
    __threadfence();   // every piece of this block visible before its tickets
    __syncthreads();
    const int rgA = u0 / NC, rgB = cnt > 0 ? (u0 + cnt - 1) / NC : rgA - 1;
    for (int rg = rgA; rg <= rgB; rg++) {
        const int first = smk_block(rg * NC, qu, ru), np = smk_block(rg * NC + NC - 1, qu, ru) - first + 1;
        if (threadIdx.x == 0) {
            int last = 1;
            if (np > 1) {
                last = atomicAdd(&tickets[rg], 1u) == (unsigned)(np - 1);
                if (last) tickets[rg] = 0u;   // every piece has arrived: ready for the next launch
            }
            lastTicket = last;
        }
        __syncthreads();
        if (lastTicket) {   // the row group's pieces, in slot order
            __threadfence();
            float a[4] = {0.f, 0.f, 0.f, 0.f};
            const float zero[4] = {0.f, 0.f, 0.f, 0.f};
            const float* p0 = ws + (size_t)(rg + first) * SLOT;
            if (warp < TW)
                for (int pc = 0; pc < np; pc++) {
                    const float4 v = __ldcg(reinterpret_cast<const float4*>(p0 + (size_t)pc * SLOT) + warp * 32 + lane);
                    a[0] += v.x; a[1] += v.y; a[2] += v.z; a[3] += v.w;
                }
            if (gamma && threadIdx.x < 8) {
                float t = 0.f;
                for (int pc = 0; pc < np; pc++) t += __ldcg(p0 + (size_t)pc * SLOT + TW * 128 + threadIdx.x);
                ss[threadIdx.x] = t;   // read after mmc_finish's barrier
            }
            mmc_finish<TW>(red, a, zero, ss, sinv, 1, 0, rg, RT, K, bias, res, y, ldy, n, rows, mode, act, gamma, eps, true);
        }
        __syncthreads();   // red, ss and lastTicket serve the next row group
    }
    if (TR) tma_trace_end(tg, tc, act, 1, n, K, rows, mode);
#else
    __trap();   // sm_90 only (SbiSplitK never launches it elsewhere)
#endif
}

#define MMK_KERNEL_OWN(NAME, S, TW, FL, TR, OWN)                                                                  \
    extern "C" __global__ void __launch_bounds__(TW * 32 + 32, 1) NAME(                                         \
        const __grid_constant__ CUtensorMap tmW, const __grid_constant__ CUtensorMap tmX, int K, int KT, int RT,   \
        const float* bias, const float* res, float* y, int ldy, int n, int rows, int mode, int act,              \
        const float* gamma, float eps, float* ws, unsigned* tickets) {                                           \
        sbi_mmk<S, TW, FL, TR, OWN>(&tmW, &tmX, K, KT, RT, bias, res, y, ldy, n, rows, mode, act, gamma, eps, ws, tickets); \
    }
#define MMK_KERNEL_TR(NAME, S, TW, FL, TR) MMK_KERNEL_OWN(NAME, S, TW, FL, TR, false)
#define MMK_KERNEL(NAME, S, TW, FL) MMK_KERNEL_TR(NAME, S, TW, FL, false)
// 128-row boxes in 4 stages (73 KB: two blocks per multiprocessor) and 8 (145 KB: one); 64-row boxes in 8 stages (81 KB:
// two); all with the tensor maps prefetched (twenty-third session)
MMK_KERNEL(sbimmk4p_bf16_8, 4, 8, MMT_PREFETCH)
MMK_KERNEL(sbimmk8p_bf16_8, 8, 8, MMT_PREFETCH)
MMK_KERNEL(sbimmkh8p_bf16_8, 8, 4, MMT_PREFETCH)
// the same writing fathom_tma_trace (CudaBench part tmatrace): where a balanced grid's time goes
MMK_KERNEL_TR(sbimmk4pt_bf16_8, 4, 8, MMT_PREFETCH, true)
MMK_KERNEL_TR(sbimmk8pt_bf16_8, 8, 8, MMT_PREFETCH, true)
// OWN (twenty-third session, after the trace of the above put their loss in the tail): the block that streams a row
// group's first chunk owns it (its pieces of that row group come last, at the end of its run); the later blocks' pieces
// are stored and flagged per warp mid-run (tickets as flags, one per slot and warp), the owner loads the first two
// while its last stage is multiplied, adds them in block order and resets their flags; no fence, ticket or block-wide
// exchange after the last stage but the epilogue. The flags are spun on, so the plan keeps every block resident.
MMK_KERNEL_OWN(sbimmo4p_bf16_8, 4, 8, MMT_PREFETCH, false, true)
MMK_KERNEL_OWN(sbimmo8p_bf16_8, 8, 8, MMT_PREFETCH, false, true)
MMK_KERNEL_OWN(sbimmo4pt_bf16_8, 4, 8, MMT_PREFETCH, true, true)

// tma_probe_wW: how fast TMA copies alone stream a row-major BF16 matrix, by box shape (CudaBench part tmaprobe): block
// b reads rows [128 b, 128 b + 128) over all K in stages of 128 rows x W columns, issued as 128 x 64 / W boxes of
// (128 x 64 / W) rows x W columns (W = 64: the 128-byte swizzled map the GEMM kernels read; 128 and 256: unswizzled
// maps, 256 and 512 contiguous bytes per row), S stages so that 128 KB are in flight; one warp waits each stage and
// frees it, nothing is multiplied. Launch: 64 threads, one block per 128 rows; K a multiple of W.
template <int W>
DEV void tma_probe(const CUtensorMap* tm, int K, unsigned* out) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    constexpr int R = 128 * 64 / W, NB = 128 / R, SB = 128 * W * 2, S = 8 * 64 / W;
    extern __shared__ __align__(1024) unsigned char tma_smem[];
    __shared__ uint64_t full[S], empty[S];
    unsigned char* base = reinterpret_cast<unsigned char*>((reinterpret_cast<uintptr_t>(tma_smem) + 1023) & ~uintptr_t(1023));
    const int nc = K / W, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    if (threadIdx.x == 0) {
        for (int s = 0; s < S; s++) { mbar_init(&full[s], 1); mbar_init(&empty[s], 1); }
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    __syncthreads();
    if (warp == 1) {
        if (lane == 0)
            for (int j = 0; j < nc; j++) {
                const int s = j % S;
                if (j >= S) mbar_wait(&empty[s], ((j / S) - 1) & 1);
                mbar_expect_tx(&full[s], SB);
                for (int b = 0; b < NB; b++)
                    tma_load_2d(base + s * SB + b * R * W * 2, tm, j * W, blockIdx.x * 128 + b * R, &full[s]);
            }
    } else {
        unsigned acc = 0;
        for (int j = 0; j < nc; j++) {
            const int s = j % S;
            mbar_wait(&full[s], (j / S) & 1);
            acc += base[s * SB + lane * 4];
            __syncwarp();
            if (lane == 0) mbar_arrive(&empty[s]);
        }
        if (acc == 0xffffffffu) out[0] = acc;   // never true in practice: keeps the reads
    }
#else
    __trap();
#endif
}
#define TMA_PROBE(W) \
    extern "C" __global__ void __launch_bounds__(64, 1) tma_probe_w##W(const __grid_constant__ CUtensorMap tm, int K, unsigned* out) { \
        tma_probe<W>(&tm, K, out); \
    }
TMA_PROBE(64)
TMA_PROBE(128)
TMA_PROBE(256)
