// Fathom CUDA kernels, sm_90a image (built alone by build.sh for arch sm_90a, loaded on compute capability 9.0 only):
// the prompt-phase GEMM on Hopper's warpgroup MMA (wgmma) fed by the Tensor Memory Accelerator.
//
// Why: at 128 rows (a batch-1 prompt of 128 tokens) a llama-7b projection is close to the memory bound (128 FLOP per
// weight byte), and cuBLAS read the projections at 71-87 % of the read ceiling on the H100s measured and at less on an
// H200 (docs/benchmarks.md, eleventh and later sessions); the mma.sync GEMM of the eleventh session reached 0.45-0.67x
// cuBLAS there, bound by its own tensor-core issue rate. wgmma reads both operands from shared memory with no register
// staging, so one warpgroup keeps the tensor cores fed while TMA streams the weights.
//
// y[t][o] (+)= sum_k x[t][k] * W[o][k], x bf16 [M][ldx], W bf16 [N][ldw] (row-major: K contiguous), y fp32 [M][ldy].
//  - Block: 3 warpgroups. Warpgroup 0 is the producer (one thread issues the TMA copies); warpgroups 1 and 2 each
//    compute 64 weight rows x 128 tokens with wgmma.m64n128k16 (swap-AB: the weights are the M operand, the tokens
//    the N operand, so a short prompt still fills the instruction). Block tile 128 weight rows x 128 tokens.
//  - A stage is 64 columns of K (128 bytes, one 128-byte swizzle row): the 128 x 64 weight box and the 128 x 64
//    token box, 32 KB; WG_STAGES stages in flight. Rows past N or M and columns past K arrive as zeros. Each consumer
//    warp hands a stage back (one arrive of 8 on its empty barrier) once its MMAs of that stage are done.
//  - Grid: wTiles x tTiles x splits, flattened with the token tile fastest (the blocks that share a weight tile run
//    together and read it from L2 once). splits > 1 divides K (split-K) so a matrix of few tiles fills the machine;
//    the partial sums meet in y by vector reductions (red.global.add.v4.f32), onto what the caller put there.
//  - Epilogue: both consumer warpgroups finish, then each stages its 64 x 128 accumulators through shared memory
//    (the freed stages) as [token][64 outputs] and writes 16-byte vectors: y = acc (+ y when accumulate) for one
//    split, a reduction into y for several.
//  - wgemmp_bf16, the persistent form: one block per multiprocessor walks the units, so a block's epilogue overlaps
//    the loads of its next unit (the first form runs one block per multiprocessor too, shared memory being what it
//    is, and so drains and refills its pipeline at every unit: 1-3 waves of them at 128 rows).
//  - wgemmc_bf16, the cluster form: a tile's K splits run as one cluster, stage their partial sums in shared memory, and
//    each block adds up 1/splits of the tile's rows over the cluster (distributed shared memory) and writes them once:
//    no 16-byte reductions into y (25 MB for QKV at 128 rows in the first form) and no zeroing pass before them.
// Dynamic shared memory: 1 KB (alignment) + WG_STAGES x 32 KB + the barriers; wgemmp: WGP_STAGES x 32 KB + 68 KB.

#include <cuda_bf16.h>
#include <stdint.h>

#define DEV __device__ __forceinline__

#include "hopper_async.cuh"
#include "activation.cuh"   // activate(x, act): the gated epilogue's, as the main image's rows_gated
#include "pdl.cuh"          // pdl_trigger, pdl_wait: wgemmt under -Dfathom.cuda.wgemmPdl

#define WG_BM 128
#define WG_BN 128
#define WG_BK 64
#define WG_STAGES 6
#define WGP_STAGES 4   // the persistent kernel's: its epilogue keeps 68 KB of its own
#define WG2_STAGES 4   // wgemm2_bf16's: 48 KB stages (a 256-row weight box and the token box)
#define WG_W_BYTES (WG_BM * WG_BK * 2)
#define WG_STAGE_BYTES (WG_W_BYTES + WG_BN * WG_BK * 2)
#define WG_EPI_LD 68   // floats per staged token row: 64 outputs + 4, so the fragment stores hit 32 banks

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
// Shared-memory matrix descriptor of a K-major operand under the 128-byte swizzle: start address, leading offset
// unused (1), 1024 bytes between groups of 8 rows (8 rows x 128 bytes), swizzle mode 1 (128 B). The k-th 16-column
// slice of a 64-column box starts 32 k bytes in.
DEV uint64_t wg_desc(uint32_t addr) {
    return (uint64_t)((addr & 0x3FFFF) >> 4) | ((uint64_t)1 << 16) | ((uint64_t)(1024 >> 4) << 32) | ((uint64_t)1 << 62);
}
DEV void wg_fence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
DEV void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }
template <int N>
DEV void wg_wait() { asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(N) : "memory"); }
// d[64 x 128] += A[64 x 16] * B[128 x 16]^T, both from shared memory (descriptors a, b); fp32 accumulators
DEV void wg_mma(float (&d)[64], uint64_t a, uint64_t b) {
    asm volatile(
        "{\n\t.reg .pred p;\n\tsetp.ne.b32 p, %66, 0;\n\t"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63}, %64, %65, p, 1, 1, 0, 0;\n}"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
        : "l"(a), "l"(b), "r"(1) : "memory");
}
DEV void red_add_v4(float* p, float4 v) {
    asm volatile("red.global.add.v4.f32 [%0], {%1, %2, %3, %4};" ::"l"(p), "f"(v.x), "f"(v.y), "f"(v.z), "f"(v.w) : "memory");
}
#endif

// One 16-byte group of outputs (n of them valid, 1..4) into y: added by reductions (`reduce`: other blocks add to
// the same outputs), else stored, onto what y holds when `accumulate`.
DEV void wg_store(float* dst, float4 v, int n, bool reduce, int accumulate) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
    if (n >= 4) {
        if (reduce) red_add_v4(dst, v);
        else {
            if (accumulate) {
                const float4 old = *reinterpret_cast<const float4*>(dst);
                v.x += old.x; v.y += old.y; v.z += old.z; v.w += old.w;
            }
            *reinterpret_cast<float4*>(dst) = v;
        }
        return;
    }
    for (int c = 0; c < n; c++) {   // the last 1..3 outputs of a row
        const float vc = c == 0 ? v.x : c == 1 ? v.y : v.z;
        if (reduce) atomicAdd(dst + c, vc);
        else dst[c] = accumulate ? dst[c] + vc : vc;
    }
#endif
}

// WGC: the cluster form's last step. The `splits` blocks of a tile (a cluster, rank = split) have staged their partial
// sums in shared memory; block `rank` adds up its 1/splits of the tile's 128 token rows over the cluster's blocks (in
// rank order: the same sum every run) and writes them once. 384 threads, 32 groups of 4 outputs a row.
DEV void wg_cluster_sum(const float* epi, float* y, int ldy, int N, int M, int wt, int tt, int splits, int rank, int accumulate) {
    const int tok0 = rank * WG_BN / splits, tok1 = (rank + 1) * WG_BN / splits;
    for (int j = threadIdx.x; j < (tok1 - tok0) * 32; j += blockDim.x) {
        const int tok = tok0 + (j >> 5), cw = (j >> 4) & 1, c = (j & 15) * 4;
        const int row = tt * WG_BN + tok, o = wt * WG_BM + cw * 64 + c;
        if (row >= M || o >= N) continue;
        const float* p = epi + cw * WG_BN * WG_EPI_LD + tok * WG_EPI_LD + c;
        float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
        for (int q = 0; q < splits; q++) {
            const float4 w = ld_cluster4(p, q);
            v.x += w.x; v.y += w.y; v.z += w.z; v.w += w.w;
        }
        wg_store(y + (size_t)row * ldy + o, v, N - o, false, accumulate);
    }
}

#define WG_UNIT 0      // a block per unit (tile x split)
#define WG_PERSIST 1   // a block per multiprocessor walking the units
#define WG_CLUSTER 2   // a block per unit, a tile's splits one cluster summing in distributed shared memory

// The body of the kernels (MODE above). WG_PERSIST: the producer streams the next unit's stages while the consumers run
// this one's epilogue, which has shared memory of its own (WGP_STAGES stages + 2 x 128 x 68 floats). The others stage
// the epilogue in the freed stages. Units: WG_UNIT and WG_PERSIST number them with the token tile fastest, then the
// weight tile, then the split; WG_CLUSTER with the split fastest (a cluster's blocks are consecutive).
// PROBE (timing only, the output is garbage): WG_PROBE_LOADS streams the stages and hands each back unread (no MMA),
// WG_PROBE_MMA runs the MMAs over stages that are never loaded (the producer arrives on the full barrier itself), so
// CudaBench part wgprobe can tell a slow weight stream from slow MMAs or a pipeline that does not overlap the two.
#define WG_PROBE_NONE 0
#define WG_PROBE_LOADS 1
#define WG_PROBE_MMA 2

// SL: 64-row weight slabs per consumer warpgroup. 1: the 128-row tile above. 2 (wgemm2_bf16, the first form only): a
// 256-row tile, each consumer warpgroup two m64n128k16 accumulators (128 floats a thread), 4 stages of 48 KB, so that
// twice the weight bytes are in flight per multiprocessor for the same token bytes.
template <int MODE, int PROBE = WG_PROBE_NONE, int SL = 1>
DEV void wgemm_body(const CUtensorMap* mapW, const CUtensorMap* mapX, int N, int M, int kBlocks, int splits, int wTiles,
                    int tTiles, float* __restrict__ y, int ldy, int accumulate) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
    constexpr bool PERSIST = MODE == WG_PERSIST;
    constexpr int S = SL == 2 ? WG2_STAGES : PERSIST ? WGP_STAGES : WG_STAGES;
    constexpr int BM = WG_BM * SL, W_BYTES = BM * WG_BK * 2, STAGE_BYTES = W_BYTES + WG_BN * WG_BK * 2;
    static_assert(SL == 1 || MODE == WG_UNIT, "the 256-row tile is for the first form only");
    extern __shared__ unsigned char wg_smem[];
    unsigned char* base = reinterpret_cast<unsigned char*>((reinterpret_cast<uintptr_t>(wg_smem) + 1023) & ~uintptr_t(1023));
    float* epi = reinterpret_cast<float*>(PERSIST ? base + S * STAGE_BYTES : base);
    uint64_t* full = reinterpret_cast<uint64_t*>(base + S * STAGE_BYTES + (PERSIST ? 2 * WG_BN * WG_EPI_LD * 4 : 0));
    uint64_t* empty = full + S;
    const int units = wTiles * tTiles * splits;
    const int first = blockIdx.x, step = PERSIST ? gridDim.x : units;
    const int wg = threadIdx.x >> 7, t = threadIdx.x & 127;
    // a unit's tiles and split
    auto decode = [&](int u, int& tt, int& wt, int& sp) {
        if (MODE == WG_CLUSTER) { sp = u % splits; tt = (u / splits) % tTiles; wt = u / splits / tTiles; }
        else { tt = u % tTiles; wt = (u / tTiles) % wTiles; sp = u / tTiles / wTiles; }
    };
    if (threadIdx.x == 0) {
        asm volatile("prefetch.tensormap [%0];" ::"l"(reinterpret_cast<uint64_t>(mapW)) : "memory");
        asm volatile("prefetch.tensormap [%0];" ::"l"(reinterpret_cast<uint64_t>(mapX)) : "memory");
        for (int s = 0; s < S; s++) { mbar_init(&full[s], 1); mbar_init(&empty[s], 8); }   // empty: a warp of each consumer
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    __syncthreads();
    int tt, wt, sp;
    if (wg == 0) {   // producer: one thread, the stages of every unit in turn (g counts stage fills)
        if (SL == 2) asm volatile("setmaxnreg.dec.sync.aligned.u32 40;" ::: "memory");   // its registers to the consumers
        if (t == 0) {
            int g = 0;
            for (int u = first; u < units; u += step) {
                decode(u, tt, wt, sp);
                const int kb0 = (int)((long)sp * kBlocks / splits), kb1 = (int)((long)(sp + 1) * kBlocks / splits);
                for (int kb = kb0; kb < kb1; kb++, g++) {
                    const int s = g % S;
                    if (g >= S) mbar_wait(&empty[s], ((g / S) - 1) & 1);
                    unsigned char* st = base + s * STAGE_BYTES;
                    if (PROBE == WG_PROBE_MMA) { mbar_arrive(&full[s]); continue; }
                    mbar_expect_tx(&full[s], STAGE_BYTES);
                    tma_load_2d(st, mapW, kb * WG_BK, wt * BM, &full[s]);
                    tma_load_2d(st + W_BYTES, mapX, kb * WG_BK, tt * WG_BN, &full[s]);
                }
            }
        }
        if (MODE == WG_CLUSTER) {   // the producer's threads help sum the tile once the cluster has staged it
            __syncwarp();
            decode(first, tt, wt, sp);
            cluster_sync_all();
            wg_cluster_sum(epi, y, ldy, N, M, wt, tt, splits, sp, accumulate);
            cluster_sync_all();   // no block leaves while the others read its shared memory
        }
        return;   // the consumers' named barriers count their own threads: the producer takes no part in them
    }
    const int cw = wg - 1, warp = t >> 5, lane = t & 31;
    if (SL == 2) asm volatile("setmaxnreg.inc.sync.aligned.u32 232;" ::: "memory");   // 128 accumulators and the rest
    int g = 0;
    for (int u = first; u < units; u += step) {
        decode(u, tt, wt, sp);
        const int nk = (int)((long)(sp + 1) * kBlocks / splits) - (int)((long)sp * kBlocks / splits);
        float d[SL][64];
#pragma unroll
        for (int h = 0; h < SL; h++)
#pragma unroll
            for (int j = 0; j < 64; j++) d[h][j] = 0.f;
        // pinned here, or the compiler sinks the zeros next to the first MMA and ptxas serializes every wgmma (C7515)
#pragma unroll
        for (int h = 0; h < SL; h++)
#pragma unroll
            for (int j = 0; j < 64; j++) asm volatile("" : "+f"(d[h][j])::"memory");
        for (int i = 0; i < nk; i++, g++) {
            const int s = g % S;
            mbar_wait(&full[s], (g / S) & 1);
            const uint32_t st = smem_u32(base + s * STAGE_BYTES);
            const uint32_t wa = st + cw * SL * 64 * 128, xa = st + W_BYTES;
            if (PROBE != WG_PROBE_LOADS) {
                wg_fence();
#pragma unroll
                for (int k = 0; k < WG_BK / 16; k++)
#pragma unroll
                    for (int h = 0; h < SL; h++) wg_mma(d[h], wg_desc(wa + h * 64 * 128 + 32 * k), wg_desc(xa + 32 * k));
                wg_commit();
                wg_wait<1>();   // this warp's MMAs of the stage before are done: hand that stage back
            }
            if (i > 0 && lane == 0) mbar_arrive(&empty[(g - 1) % S]);
        }
        wg_wait<0>();
        // the accumulators are written by the MMAs, which the compiler does not see finish: pin every read after the wait
#pragma unroll
        for (int h = 0; h < SL; h++)
#pragma unroll
            for (int j = 0; j < 64; j++) asm volatile("" : "+f"(d[h][j])::"memory");
        if (PERSIST) {
            if (lane == 0) mbar_arrive(&empty[(g - 1) % S]);   // the unit's last stage, for the next unit's fills
            asm volatile("bar.sync %0, 128;" ::"r"(2 + cw) : "memory");   // this warpgroup's reads of the last epilogue are done
        } else {
            asm volatile("bar.sync 1, 256;" ::: "memory");   // every stage is read (both warpgroups' MMAs done): reuse them
        }
#pragma unroll
        for (int h = 0; h < SL; h++) {
            float* e = epi + (cw * SL + h) * WG_BN * WG_EPI_LD;
#pragma unroll
            for (int b = 0; b < 16; b++)
#pragma unroll
                for (int q = 0; q < 4; q++) {
                    const int o = 16 * warp + (lane >> 2) + 8 * (q >> 1), tok = 8 * b + 2 * (lane & 3) + (q & 1);
                    e[tok * WG_EPI_LD + o] = d[h][4 * b + q];
                }
        }
        if (MODE == WG_CLUSTER) {
            cluster_sync_all();
            wg_cluster_sum(epi, y, ldy, N, M, wt, tt, splits, sp, accumulate);
            cluster_sync_all();
            return;
        }
        asm volatile("bar.sync %0, 128;" ::"r"(2 + cw) : "memory");
        const int t0 = tt * WG_BN;
        for (int h = 0; h < SL; h++) {
            const float* e = epi + (cw * SL + h) * WG_BN * WG_EPI_LD;
            const int o0 = wt * BM + (cw * SL + h) * 64;
#pragma unroll 4
            for (int r = 0; r < 16; r++) {
                const int j = r * 128 + t, tok = j >> 4, c = (j & 15) * 4;
                const int row = t0 + tok, o = o0 + c;
                if (row >= M || o >= N) continue;
                wg_store(y + (size_t)row * ldy + o, *reinterpret_cast<const float4*>(e + tok * WG_EPI_LD + c), N - o, splits > 1, accumulate);
            }
        }
    }
#endif
}

// The entry points of the forms above, each a wgemm_body<MODE, PROBE, SL>:
//  - wgemm_bf16: a block per unit (weight tile x token tile x K split); grid = wTiles * tTiles * splits.
//  - wgemmp_bf16: persistent; grid = min(units, multiprocessors), each block walking units gridDim.x apart.
//  - wgemmc_bf16: a block per unit, launched in clusters of `splits` blocks (at most 8) that sum a tile's splits in
//    distributed shared memory and write each output once: no reductions in global memory, y not zeroed first.
//  - wgemm_probe_loads, wgemm_probe_mma: the first form's timing probes (PROBE above): loads without MMAs, MMAs
//    without loads.
//  - wgemm2_bf16: the first form with a 256-row weight tile (SL = 2); grid = ceil(N / 256) * tTiles * splits.
#define WG_KERNEL(NAME, MODE, PROBE, SL)                                                                                   \
    extern "C" __global__ void __launch_bounds__(384, 1)                                                                 \
    NAME(const __grid_constant__ CUtensorMap mapW, const __grid_constant__ CUtensorMap mapX, int N, int M, int kBlocks, \
         int splits, int wTiles, int tTiles, float* __restrict__ y, int ldy, int accumulate) {                          \
        wgemm_body<MODE, PROBE, SL>(&mapW, &mapX, N, M, kBlocks, splits, wTiles, tTiles, y, ldy, accumulate);        \
    }
WG_KERNEL(wgemm_bf16, WG_UNIT, WG_PROBE_NONE, 1)
WG_KERNEL(wgemmp_bf16, WG_PERSIST, WG_PROBE_NONE, 1)
WG_KERNEL(wgemmc_bf16, WG_CLUSTER, WG_PROBE_NONE, 1)
WG_KERNEL(wgemm_probe_loads, WG_UNIT, WG_PROBE_LOADS, 1)
WG_KERNEL(wgemm_probe_mma, WG_UNIT, WG_PROBE_MMA, 1)
WG_KERNEL(wgemm2_bf16, WG_UNIT, WG_PROBE_NONE, 2)

// ---- wgemmt: tokens as the M operand, weights as the N operand ----------------------------------------------------
// Why (twenty-ninth session, H100, Nsight Compute on the 128-row llama-7b multiplies): cuBLAS runs them as one wave of
// 128 blocks that each stream a whole K (QKV: nvjet ..._96x128_64x7: 96 weight rows x 128 tokens, 7 stages; the
// 4096-row outputs 64x64 tiles), with no K split, while the forms above split K into 3-4 short units a block (the
// 128-row tile leaves 96 tiles for QKV); their loads alone (no MMA) took as long as the whole kernel. With the tokens
// as wgmma's M operand (two consumer warpgroups x 64 tokens) the weights are the N operand, whose width is any multiple
// of 8: the planner (Wgemm.plan) picks the width NW of {64, 96, 128, 176, 192} and the K split that fill the waves
// best with the fewest splits (QKV: 96 wide, 128 blocks, no split).
//  - A stage: the token box (64 K columns of CW x 64 tokens) then the NW x 64 weight box, both 128-byte swizzled;
//    wgt_stages(NW, CW) stages: as many as 223 KB hold, at most 8 (12 with one consumer warpgroup).
//  - CW consumer warpgroups of 64 tokens: 2 (wgemmt_bf16_<NW>: 128-token tiles) or 1 (wgemmt64_bf16_<NW>: 64-token
//    tiles, 256 threads, for matrices too narrow to give a wave of whole-K blocks at 128 tokens a tile: the 4096 x 4096
//    output projection at 128 rows is 64 slabs of 64 x 2 token tiles = 128 blocks, as cuBLAS's 64 x 64 tiles).
//  - Accumulators: m64nNWk16, NW/2 floats a thread: rows are tokens, columns outputs; stored straight from the
//    registers as pairs of outputs (8-byte stores, or vector reductions into y when K is split).
//  - Gated epilogue (group > 0; one K split, no accumulation: the host's Wgemm.gatedRefusal): the weights are the MLP's
//    gate and up rows stored in groups of `group` (4: the row-major and SIMT layouts, 16: the tile layout), the first
//    half of each group gate rows, the second half the up rows they pair with (SbiLayout.gatedPairs). y gets
//    act(gate + bias) * (up + bias) at output (o / group) * group/2 + o % group for each gate row o, as rows_gated
//    computes it from a full fp32 product (outputs below nOut, an even count), without writing that product (llama-7b, 128 rows: 11 MB written and read
//    back, and a launch, per layer) and in bf16 when outBf16 (the down projection's input). A thread holds outputs
//    o, o + 1 of 8-column block b at o = 8b + 2 (lane & 3) (+ the slab's first): with groups of 4 the up pair of a gate
//    pair is the neighbouring lane's (lane ^ 1), with groups of 16 the same lane's in block b + 1. NW is a multiple
//    of 16, so a slab holds whole groups.
//  - Programmatic dependent launch (-Dfathom.cuda.wgemmPdl launches it so): a block lets the next kernel in at its start,
//    and its producer puts the weight boxes of its first stages in flight before griddepcontrol.wait (the weights are
//    constants), the token boxes after it, so the pipeline fills while the kernel before (the norm, or the gate/up
//    multiply before down) ends. The consumers wait too before the epilogue reads or writes y. Launched plainly (early
//    0) the kernel neither triggers nor waits and loads each stage's tokens and weights together, as before.
#define WGT_SMEM_MAX (227 * 1024 - 4096)   // SbiSplitK.MAX_SMEM
__host__ __device__ constexpr int wgt_stages(int nw, int cw) {
    return (WGT_SMEM_MAX - 1280) / (cw * 64 * WG_BK * 2 + nw * WG_BK * 2) < (cw == 2 ? 8 : 12)
               ? (WGT_SMEM_MAX - 1280) / (cw * 64 * WG_BK * 2 + nw * WG_BK * 2) : (cw == 2 ? 8 : 12);
}

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
DEV void wgt_mma(float (&d)[32], uint64_t a, uint64_t b) {   // m64n64k16
    asm volatile(
        "{\n\t.reg .pred p;\n\tsetp.ne.b32 p, %34, 0;\n\t"
        "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}, %32, %33, p, 1, 1, 0, 0;\n}"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
        : "l"(a), "l"(b), "r"(1) : "memory");
}
DEV void wgt_mma(float (&d)[48], uint64_t a, uint64_t b) {   // m64n96k16
    asm volatile(
        "{\n\t.reg .pred p;\n\tsetp.ne.b32 p, %50, 0;\n\t"
        "wgmma.mma_async.sync.aligned.m64n96k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47}, %48, %49, p, 1, 1, 0, 0;\n}"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47])
        : "l"(a), "l"(b), "r"(1) : "memory");
}
DEV void wgt_mma(float (&d)[64], uint64_t a, uint64_t b) {   // m64n128k16
    asm volatile(
        "{\n\t.reg .pred p;\n\tsetp.ne.b32 p, %66, 0;\n\t"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63}, %64, %65, p, 1, 1, 0, 0;\n}"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
        : "l"(a), "l"(b), "r"(1) : "memory");
}
DEV void wgt_mma(float (&d)[88], uint64_t a, uint64_t b) {   // m64n176k16
    asm volatile(
        "{\n\t.reg .pred p;\n\tsetp.ne.b32 p, %90, 0;\n\t"
        "wgmma.mma_async.sync.aligned.m64n176k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63,%64,%65,%66,%67,%68,%69,%70,%71,%72,%73,%74,%75,%76,%77,%78,%79,%80,%81,%82,%83,%84,%85,%86,%87}, %88, %89, p, 1, 1, 0, 0;\n}"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87])
        : "l"(a), "l"(b), "r"(1) : "memory");
}
DEV void wgt_mma(float (&d)[96], uint64_t a, uint64_t b) {   // m64n192k16
    asm volatile(
        "{\n\t.reg .pred p;\n\tsetp.ne.b32 p, %98, 0;\n\t"
        "wgmma.mma_async.sync.aligned.m64n192k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63,%64,%65,%66,%67,%68,%69,%70,%71,%72,%73,%74,%75,%76,%77,%78,%79,%80,%81,%82,%83,%84,%85,%86,%87,%88,%89,%90,%91,%92,%93,%94,%95}, %96, %97, p, 1, 1, 0, 0;\n}"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95])
        : "l"(a), "l"(b), "r"(1) : "memory");
}
DEV void red_add_v2(float* p, float a, float b) {
    asm volatile("red.global.add.v2.f32 [%0], {%1, %2};" ::"l"(p), "f"(a), "f"(b) : "memory");
}
#endif

// Two outputs o, o + 1 of token row `dst` (n of them valid: 1 or 2 or more): reduced, or stored (+ y when accumulate).
DEV void wgt_store2(float* dst, float a, float b, int n, bool reduce, int accumulate) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
    if (n >= 2) {
        if (reduce) red_add_v2(dst, a, b);
        else {
            if (accumulate) {
                const float2 old = *reinterpret_cast<const float2*>(dst);
                a += old.x; b += old.y;
            }
            *reinterpret_cast<float2*>(dst) = make_float2(a, b);
        }
    } else if (n == 1) {
        if (reduce) atomicAdd(dst, a);
        else dst[0] = accumulate ? dst[0] + a : a;
    }
#endif
}

// Gated outputs n, n + 1 of token row `row` (y of ldy elements, fp32 or bf16): act(g + bias) * (u + bias) for gate rows
// o, o + 1 and their up rows o + half, o + half + 1.
DEV void wgt_gated2(float* y, int ldy, int outBf16, int row, int n, float g0, float g1, float u0, float u1,
                    const float* __restrict__ bias, int o, int half, int act) {
    if (bias) { g0 += bias[o]; g1 += bias[o + 1]; u0 += bias[o + half]; u1 += bias[o + half + 1]; }
    const float a = activate(g0, act) * u0, b = activate(g1, act) * u1;
    if (outBf16) *reinterpret_cast<__nv_bfloat162*>(reinterpret_cast<__nv_bfloat16*>(y) + (size_t)row * ldy + n) = __floats2bfloat162_rn(a, b);
    else *reinterpret_cast<float2*>(y + (size_t)row * ldy + n) = make_float2(a, b);
}

template <int NW, int CW>
DEV void wgemmt_body(const CUtensorMap* mapW, const CUtensorMap* mapX, int N, int M, int kBlocks, int splits, int wTiles,
                     int tTiles, float* __restrict__ y, int ldy, int accumulate, int stagger, const float* __restrict__ bias,
                     int group, int act, int outBf16, int nOut, int early) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
    constexpr int S = wgt_stages(NW, CW), X_BYTES = CW * 64 * WG_BK * 2, STAGE = X_BYTES + NW * WG_BK * 2, R = NW / 2, TOK = CW * 64;
    static_assert(NW % 16 == 0, "the gated epilogue needs whole groups of 16 in a slab");
    extern __shared__ unsigned char wg_smem[];
    unsigned char* base = reinterpret_cast<unsigned char*>((reinterpret_cast<uintptr_t>(wg_smem) + 1023) & ~uintptr_t(1023));
    uint64_t* full = reinterpret_cast<uint64_t*>(base + S * STAGE);
    uint64_t* empty = full + S;
    const int u = blockIdx.x, tt = u % tTiles, wt = (u / tTiles) % wTiles, sp = u / tTiles / wTiles;
    const int kb0 = (int)((long)sp * kBlocks / splits), kb1 = (int)((long)(sp + 1) * kBlocks / splits);
    const int wg = threadIdx.x >> 7, t = threadIdx.x & 127;
    if (threadIdx.x == 0) {
        asm volatile("prefetch.tensormap [%0];" ::"l"(reinterpret_cast<uint64_t>(mapW)) : "memory");
        asm volatile("prefetch.tensormap [%0];" ::"l"(reinterpret_cast<uint64_t>(mapX)) : "memory");
        for (int s = 0; s < S; s++) { mbar_init(&full[s], 1); mbar_init(&empty[s], 4 * CW); }   // empty: a warp of each consumer
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    __syncthreads();
    if (early) pdl_trigger();
    if (wg == 0) {
        if (t == 0) {
            // stagger > 0: weight slab wt starts its K walk wt * stagger blocks in and wraps, so that the blocks of a wave
            // read different columns of their rows at a time rather than all the same 128 bytes of every row (rows 8 KB
            // apart for K = 4096); the token tiles of one slab stay together (they share its weights in L2).
            const int nkb = kb1 - kb0, rot = stagger > 0 && nkb > 0 ? (int)((long)wt * stagger % nkb) : 0;
            auto kblock = [&](int g) { return kb0 + (g + rot < nkb ? g + rot : g + rot - nkb); };
            const int pre = !early ? 0 : nkb < S ? nkb : S;   // launched plainly: every stage in the loop below, tokens first
            for (int g = 0; g < pre; g++) {   // the first stages' weights (constants) before the kernel before ends
                mbar_expect_tx(&full[g], STAGE);
                tma_load_2d(base + g * STAGE + X_BYTES, mapW, kblock(g) * WG_BK, wt * NW, &full[g]);
            }
            if (early) pdl_wait();   // the tokens are the kernel before's output
            for (int g = 0; g < pre; g++) tma_load_2d(base + g * STAGE, mapX, kblock(g) * WG_BK, tt * TOK, &full[g]);
            for (int g = pre; g < nkb; g++) {
                const int kb = kblock(g), s = g % S;
                if (g >= S) mbar_wait(&empty[s], ((g / S) - 1) & 1);
                unsigned char* st = base + s * STAGE;
                mbar_expect_tx(&full[s], STAGE);
                tma_load_2d(st, mapX, kb * WG_BK, tt * TOK, &full[s]);
                tma_load_2d(st + X_BYTES, mapW, kb * WG_BK, wt * NW, &full[s]);
            }
        }
        return;
    }
    const int cw = wg - 1, warp = t >> 5, lane = t & 31;
    float d[R];
#pragma unroll
    for (int j = 0; j < R; j++) d[j] = 0.f;
#pragma unroll
    for (int j = 0; j < R; j++) asm volatile("" : "+f"(d[j])::"memory");   // pinned: see wgemm_body
    const int nk = kb1 - kb0;
    for (int i = 0; i < nk; i++) {
        const int s = i % S;
        mbar_wait(&full[s], (i / S) & 1);
        const uint32_t st = smem_u32(base + s * STAGE);
        const uint32_t xa = st + cw * 64 * 128, wa = st + X_BYTES;
        wg_fence();
#pragma unroll
        for (int k = 0; k < WG_BK / 16; k++) wgt_mma(d, wg_desc(xa + 32 * k), wg_desc(wa + 32 * k));
        wg_commit();
        wg_wait<1>();
        if (i > 0 && lane == 0) mbar_arrive(&empty[(i - 1) % S]);
    }
    wg_wait<0>();
#pragma unroll
    for (int j = 0; j < R; j++) asm volatile("" : "+f"(d[j])::"memory");
    if (early) pdl_wait();   // (done by the time the tokens arrived) y may be the kernel before's output or input
    const int tok0 = tt * TOK + cw * 64 + 16 * warp + (lane >> 2), o0 = wt * NW + 2 * (lane & 3);
    if (group == 4) {   // gated, groups of 4: the up pair from lane ^ 1; the even lanes (gate pairs) write
#pragma unroll
        for (int b = 0; b < NW / 8; b++)
#pragma unroll
            for (int h = 0; h < 2; h++) {
                const float g0 = d[4 * b + 2 * h], g1 = d[4 * b + 2 * h + 1];
                const float u0 = __shfl_xor_sync(0xffffffffu, g0, 1), u1 = __shfl_xor_sync(0xffffffffu, g1, 1);
                const int row = tok0 + 8 * h, o = o0 + 8 * b;
                if ((lane & 1) == 0 && row < M && o < N && (o >> 1) < nOut) wgt_gated2(y, ldy, outBf16, row, o >> 1, g0, g1, u0, u1, bias, o, 2, act);
            }
        return;
    }
    if (group == 16) {   // gated, groups of 16: block b even holds gate rows, b + 1 their up rows, in the same lane
#pragma unroll
        for (int b = 0; b < NW / 8; b += 2)
#pragma unroll
            for (int h = 0; h < 2; h++) {
                const int row = tok0 + 8 * h, o = o0 + 8 * b, n = (o >> 4) * 8 + (o & 15);
                if (row < M && o < N && n < nOut)
                    wgt_gated2(y, ldy, outBf16, row, n, d[4 * b + 2 * h], d[4 * b + 2 * h + 1], d[4 * b + 4 + 2 * h],
                               d[4 * b + 4 + 2 * h + 1], bias, o, 8, act);
            }
        return;
    }
#pragma unroll
    for (int b = 0; b < NW / 8; b++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const int row = tok0 + 8 * h, o = o0 + 8 * b;
            if (row < M && o < N)
                wgt_store2(y + (size_t)row * ldy + o, d[4 * b + 2 * h], d[4 * b + 2 * h + 1], N - o, splits > 1, accumulate);
        }
#endif
}

// The entry points: wgemmt_bf16_<NW> (128-token tiles, 384 threads) and wgemmt64_bf16_<NW> (64-token tiles, 256).
// bias, group, act, outBf16, nOut: the gated epilogue's (group 0: none, y fp32 += or = the product); early: launched as a
// programmatic dependent launch (the weights-first prologue and the waits; 0: the loads in order, no trigger, no wait).
#define WGT_KERNEL(NAME, NW, CW)                                                                                           \
    extern "C" __global__ void __launch_bounds__(128 + (CW) * 128, 1)                                                    \
    NAME(const __grid_constant__ CUtensorMap mapW, const __grid_constant__ CUtensorMap mapX, int N, int M, int kBlocks, \
         int splits, int wTiles, int tTiles, float* __restrict__ y, int ldy, int accumulate, int stagger,               \
         const float* __restrict__ bias, int group, int act, int outBf16, int nOut, int early) {                        \
        wgemmt_body<NW, CW>(&mapW, &mapX, N, M, kBlocks, splits, wTiles, tTiles, y, ldy, accumulate, stagger, bias,   \
                            group, act, outBf16, nOut, early);                                                           \
    }
WGT_KERNEL(wgemmt_bf16_64, 64, 2)
WGT_KERNEL(wgemmt_bf16_96, 96, 2)
WGT_KERNEL(wgemmt_bf16_128, 128, 2)
WGT_KERNEL(wgemmt_bf16_176, 176, 2)
WGT_KERNEL(wgemmt_bf16_192, 192, 2)
WGT_KERNEL(wgemmt64_bf16_64, 64, 1)
WGT_KERNEL(wgemmt64_bf16_96, 96, 1)
WGT_KERNEL(wgemmt64_bf16_128, 128, 1)
WGT_KERNEL(wgemmt64_bf16_176, 176, 1)
WGT_KERNEL(wgemmt64_bf16_192, 192, 1)
