// Fathom CUDA kernels: SBI-GEMM (small-batch GEMM over weight layouts transformed at load time) and the
// Deep-Fusion regions of one decoder layer (norm, RoPE + KV append, attention, gated/activated MLP and
// bias + residual epilogues fused into the GEMMs, MoE gather/scatter), plus a read-bandwidth probe.
// Two weight layouts: the 4-row SIMT layout below (F32/F16/BF16) and the tensor-core tile layout of
// sbi_tile.cuh (BF16; included below), chosen per model by dev.fathom.cuda.CudaModel.
//
// Built by native/src/main/cuda/build.sh (called from the Maven build, phase generate-resources):
//   nvcc -O3 -std=c++17 -fatbin -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90
//        -gencode arch=compute_90,code=compute_90 -o target/classes/cuda/fathom_kernels.fatbin
// The jar carries the fatbin; CudaModule loads it with cuModuleLoadData, and the driver picks the
// sm_80 / sm_90 cubin (or JIT-compiles the PTX on newer chips). nvcc 13.0, driver API 12+.
//
// Conventions: activations are float32 rows (row stride passed as ld*); weights of a projection are
// [out, in] repacked at load time by dev.fathom.cuda.SbiLayout into
//   W[g][c][r][lane][e]   g = out/4 groups, c = K chunks of 32*EPV, r = 4 rows, lane = 32, e = EPV
// with EPV = 16 / sizeof(weight) elements, so lane `lane` of a warp loads one 16-byte vector per row
// and one warp instruction reads 512 contiguous bytes (4 full 128-byte lines). Rows and K are padded
// with zeros to whole groups and chunks.
//
// SBI-GEMM launch layout: 256 threads (8 warps) per block; `ks` warps (split-K, 1/2/4/8) share one
// group of 4 output rows, each taking every ks-th K chunk; 8/ks groups per block; grid = ceil(G / (8/ks)).
// Lanes reduce with warp shuffles; the ks partial sums of a group meet once in shared memory.

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#define DEV __device__ __forceinline__

// ------------------------------------------------------------------------------------------ helpers

// 16 bytes global -> shared without a register (cp.async, sm_80+), zeros where !valid; L2: ask L2 to fetch the 256-byte
// segment around it. Groups: commit after a set of copies, wait until at most N groups are pending (this thread's).
template <bool L2 = false>
DEV void cp_async16_zfill(void* dst, const void* src, bool valid) {
    const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(dst));
    if (L2) asm volatile("cp.async.cg.shared.global.L2::256B [%0], [%1], 16, %2;" ::"r"(s), "l"(src), "r"(valid ? 16 : 0) : "memory");
    else asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(s), "l"(src), "r"(valid ? 16 : 0) : "memory");
}
DEV void cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N>
DEV void cp_async_wait() { asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory"); }

DEV uint4 ldg_stream(const uint4* p) {
    uint4 r;
    asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w) : "l"(p));
    return r;
}

#include "pdl.cuh"   // pdl_trigger, pdl_wait

// Acquire loads and release stores of a 32-bit flag at a scope: gpu (blocks of one kernel: tma.cuh's stream-K owners)
// or sys (peers over NVLink: comm.cuh's all-reduce)
#define FATHOM_FLAG_OPS(SCOPE)                                                                          \
    DEV unsigned load_acquire_##SCOPE(const unsigned* p) {                                              \
        unsigned v;                                                                                     \
        asm volatile("ld.acquire." #SCOPE ".global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");       \
        return v;                                                                                       \
    }                                                                                                   \
    DEV void store_release_##SCOPE(unsigned* p, unsigned v) {                                           \
        asm volatile("st.release." #SCOPE ".global.u32 [%0], %1;" ::"l"(p), "r"(v) : "memory");         \
    }
FATHOM_FLAG_OPS(gpu)
FATHOM_FLAG_OPS(sys)

template <typename WT> struct Vec;  // 16 bytes of weights -> EPV floats

template <> struct Vec<float> {
    static constexpr int EPV = 4;
    static DEV void unpack(const uint4& u, float* f) {
        f[0] = __uint_as_float(u.x); f[1] = __uint_as_float(u.y); f[2] = __uint_as_float(u.z); f[3] = __uint_as_float(u.w);
    }
};
template <> struct Vec<__nv_bfloat16> {
    static constexpr int EPV = 8;
    static DEV void unpack(const uint4& u, float* f) {
        const uint32_t w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
        for (int i = 0; i < 4; i++) { f[2 * i] = __uint_as_float(w[i] << 16); f[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u); }
    }
};
template <> struct Vec<__half> {
    static constexpr int EPV = 8;
    static DEV void unpack(const uint4& u, float* f) {
        const uint32_t w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
        for (int i = 0; i < 4; i++) {
            __half2 h = *reinterpret_cast<const __half2*>(&w[i]);
            float2 v = __half22float2(h);
            f[2 * i] = v.x; f[2 * i + 1] = v.y;
        }
    }
};

// A kernel output of either float32 or bf16 (the prompt path's cuBLAS inputs), rounded to nearest even.
DEV void store_out(float* p, float v) { *p = v; }
DEV void store_out(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }

// The KV cache holds float32 (models with F32 / F16 / INT8 projections) or bf16 (BF16 models, as DeepSpeed and
// transformers keep it in the model's dtype: half the bytes every decode step reads). The attention kernels are
// templates over the element type KT; kv_ld4 reads four consecutive elements as floats (16 or 8 bytes, aligned),
// kv_st writes one (rounded to nearest even).
// The raw form of four elements (a float4 or a uint2 of bf16 pairs), for loads held in registers before they are used:
// kv_raw loads, kv_cvt widens (kv_ld4 = both).
template <typename KT> struct KvRaw { using T = float4; };
template <> struct KvRaw<__nv_bfloat16> { using T = uint2; };
DEV float4 kv_raw(const float* p) { return __ldg(reinterpret_cast<const float4*>(p)); }
DEV uint2 kv_raw(const __nv_bfloat16* p) { return __ldg(reinterpret_cast<const uint2*>(p)); }
DEV float4 kv_cvt(const float4& v) { return v; }
DEV float4 kv_cvt(const uint2& u) {
    return make_float4(__uint_as_float(u.x << 16), __uint_as_float(u.x & 0xffff0000u),
                       __uint_as_float(u.y << 16), __uint_as_float(u.y & 0xffff0000u));
}
DEV void kv_st(float* p, float v) { *p = v; }
DEV void kv_st(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }
template <typename KT>
DEV float4 kv_ld4(const KT* p) { return kv_cvt(kv_raw(p)); }

#include "activation.cuh"   // activate(x, act)

// ------------------------------------------------------------------------------------------ block reduce

DEV float block_sum(float v, float* sh) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nw = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    float t = 0.f;
    for (int i = 0; i < nw; i++) t += sh[i];
    return t;
}

DEV float block_max(float v, float* sh) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nw = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    float t = -INFINITY;
    for (int i = 0; i < nw; i++) t = fmaxf(t, sh[i]);
    return t;
}

// ------------------------------------------------------------------------------------------ SBI-GEMM

// The end of every SIMT SBI-GEMM (sbi_gemm, sbi8_gemm in int8.cuh): lanes -> lane 0 by shuffles, the ks split-K
// partial sums of a group meet once in shared memory, then the epilogue `mode` (see sbi_gemm) writes y. rowScale
// (shared memory, written before the call; null: none) scales each activation row's sums before bias and activation.
template <int NB>
DEV void sbi_epilogue(float (&acc)[4][NB], int ks, int G, const float* __restrict__ bias, const float* res, float* y,
                      int ldy, int n, int rows, int mode, int act, const float* rowScale = nullptr) {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int gpb = 8 / ks;
    // lanes -> lane 0 by shuffles (no shared-memory tree)
#pragma unroll
    for (int r = 0; r < 4; r++)
#pragma unroll
        for (int b = 0; b < NB; b++) {
            float v = acc[r][b];
#pragma unroll
            for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
            acc[r][b] = v;
        }
    __shared__ float red[8][4 * NB];
    if (lane == 0) {
#pragma unroll
        for (int r = 0; r < 4; r++)
#pragma unroll
            for (int b = 0; b < NB; b++) red[warp][r * NB + b] = acc[r][b];
    }
    __syncthreads();
    const int t = threadIdx.x;
    if (mode == 1) {
        if (t < gpb * 2 * NB) {
            const int gl = t / (2 * NB), i = (t / NB) % 2, b = t % NB;
            const int gg = blockIdx.x * gpb + gl;
            if (gg < G && b < rows) {
                float gate = 0.f, up = 0.f;
                for (int q = 0; q < ks; q++) { gate += red[gl * ks + q][i * NB + b]; up += red[gl * ks + q][(i + 2) * NB + b]; }
                if (rowScale) { gate *= rowScale[b]; up *= rowScale[b]; }
                if (bias) { gate += bias[gg * 4 + i]; up += bias[gg * 4 + i + 2]; }
                const int o = gg * 2 + i;
                if (o < n) y[(size_t)b * ldy + o] = activate(gate, act) * up;
            }
        }
    } else if (t < gpb * 4 * NB) {
        const int gl = t / (4 * NB), r = (t / NB) % 4, b = t % NB;
        const int gg = blockIdx.x * gpb + gl;
        if (gg < G && b < rows) {
            const int o = gg * 4 + r;
            if (o < n) {
                float v = 0.f;
                for (int q = 0; q < ks; q++) v += red[gl * ks + q][r * NB + b];
                if (rowScale) v *= rowScale[b];
                if (bias) v += bias[o];
                if (mode == 2) v = activate(v, act);
                else if (res) v += res[(size_t)b * ldy + o];
                y[(size_t)b * ldy + o] = v;
            }
        }
    }
}

// mode 0: y = acc + bias + res           (o = g*4 + r < n)
// mode 1: gated pairs: rows of a group are [gate_a, gate_b, up_a, up_b]; y[g*2+i] = act(gate_i) * up_i
// mode 2: y = act(acc + bias)
// RM = 1: the same reading order over plain row-major rows (row stride Kc chunks): lane `lane` of the warp of group g
// still loads 16 bytes at column c*CH + lane*EPV of each of its 4 rows, so every warp load is 512 contiguous bytes;
// the rows are just not interleaved by chunk (cuBLAS reads this form directly in the prompt phase).
// NORM = 1 (RMS norm fused into the prologue of the projection that follows it, decode steps): x is the un-normed
// residual stream and gamma the norm weight; the loop multiplies x by gamma as it reads it, and the epilogue scales each
// row's sums by rsqrt(mean(x^2) + eps), computed once per block from the same (by then cache-resident) row, before bias,
// activation and residual: W·(x·inv·gamma) = inv·(W·(x·gamma)). Saves a launch and a dependent step per norm.
template <typename WT, int NB, int RM = 0, int NORM = 0>
DEV void sbi_gemm(const uint4* __restrict__ W, const float* __restrict__ x, int ldx, int K, int Kc, int G, int ks,
                  const float* __restrict__ bias, const float* res, float* y, int ldy, int n, int rows,
                  int mode, int act, int vecx, const float* __restrict__ gamma = nullptr, float eps = 0.f) {
    constexpr int EPV = Vec<WT>::EPV;
    constexpr int CH = 32 * EPV;
    constexpr int U = 2;   // K chunks whose loads a warp issues together (4 measured 5-15 % slower on every Llama shape)
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int gpb = 8 / ks;
    const int g = blockIdx.x * gpb + warp / ks;
    const int s = warp % ks;
    pdl_trigger();
    float acc[4][NB];
#pragma unroll
    for (int r = 0; r < 4; r++)
#pragma unroll
        for (int b = 0; b < NB; b++) acc[r][b] = 0.f;

    if (g < G) {
        const uint4* wp = W + (size_t)g * Kc * 128 + lane;
        const size_t cs = RM ? 32 : 128, rs = RM ? (size_t)Kc * 32 : 32;   // uint4 strides of a chunk and a row
        for (int c0 = s; c0 < Kc; c0 += U * ks) {
            uint4 wv[U][4];
#pragma unroll
            for (int u = 0; u < U; u++) {
                const int c = c0 + u * ks;
                if (c < Kc) {
#pragma unroll
                    for (int r = 0; r < 4; r++) wv[u][r] = ldg_stream(wp + (size_t)c * cs + r * rs);
                }
            }
            if (c0 == s) pdl_wait();   // weights in flight; the activations come from the previous kernel
#pragma unroll
            for (int u = 0; u < U; u++) {
                const int c = c0 + u * ks;
                if (c >= Kc) break;
                const int k0 = c * CH + lane * EPV;
                float wf[4][EPV];
#pragma unroll
                for (int r = 0; r < 4; r++) Vec<WT>::unpack(wv[u][r], wf[r]);
                float gv[EPV];
                if (NORM) {
                    if (vecx && k0 + EPV <= K) {
#pragma unroll
                        for (int e = 0; e < EPV; e += 4) {
                            float4 t = __ldg(reinterpret_cast<const float4*>(gamma + k0 + e));
                            gv[e] = t.x; gv[e + 1] = t.y; gv[e + 2] = t.z; gv[e + 3] = t.w;
                        }
                    } else {
#pragma unroll
                        for (int e = 0; e < EPV; e++) gv[e] = k0 + e < K ? gamma[k0 + e] : 0.f;
                    }
                }
#pragma unroll
                for (int b = 0; b < NB; b++) {
                    if (b >= rows) break;
                    float xv[EPV];
                    const float* xr = x + (size_t)b * ldx + k0;
                    if (vecx && k0 + EPV <= K) {
#pragma unroll
                        for (int e = 0; e < EPV; e += 4) {
                            float4 t = __ldg(reinterpret_cast<const float4*>(xr + e));
                            xv[e] = t.x; xv[e + 1] = t.y; xv[e + 2] = t.z; xv[e + 3] = t.w;
                        }
                    } else {
#pragma unroll
                        for (int e = 0; e < EPV; e++) xv[e] = k0 + e < K ? xr[e] : 0.f;
                    }
                    if (NORM) {
#pragma unroll
                        for (int e = 0; e < EPV; e++) xv[e] *= gv[e];
                    }
#pragma unroll
                    for (int r = 0; r < 4; r++)
#pragma unroll
                        for (int e = 0; e < EPV; e++) acc[r][b] = fmaf(wf[r][e], xv[e], acc[r][b]);
                }
            }
        }
    }
    pdl_wait();   // (returns at once if done above) before the epilogue reads the residual
    __shared__ float sinv[NB];
    if (NORM) {   // rows is the same for every thread: the block reductions are reached by all
        __shared__ float shn[32];
        for (int b = 0; b < NB && b < rows; b++) {
            const float* xr = x + (size_t)b * ldx;
            float ss = 0.f;
            if (vecx) {
                for (int i = threadIdx.x * 4; i + 4 <= K; i += blockDim.x * 4) {
                    const float4 t = *reinterpret_cast<const float4*>(xr + i);
                    ss += t.x * t.x + t.y * t.y + t.z * t.z + t.w * t.w;
                }
                for (int i = (K & ~3) + threadIdx.x; i < K; i += blockDim.x) ss += xr[i] * xr[i];
            } else {
                for (int i = threadIdx.x; i < K; i += blockDim.x) ss += xr[i] * xr[i];
            }
            ss = block_sum(ss, shn);
            if (threadIdx.x == 0) sinv[b] = rsqrtf(ss / K + eps);
        }
    }
    sbi_epilogue<NB>(acc, ks, G, bias, res, y, ldy, n, rows, mode, act, NORM ? sinv : nullptr);
}

#define SBI_KERNEL(NAME, WT, NB)                                                                              \
    extern "C" __global__ void __launch_bounds__(256) NAME(                                                   \
        const uint4* W, const float* x, int ldx, int K, int Kc, int G, int ks, const float* bias,             \
        const float* res, float* y, int ldy, int n, int rows, int mode, int act, int vecx) {                  \
        sbi_gemm<WT, NB>(W, x, ldx, K, Kc, G, ks, bias, res, y, ldy, n, rows, mode, act, vecx);              \
    }

SBI_KERNEL(sbi_f32_1, float, 1)
SBI_KERNEL(sbi_f32_2, float, 2)
SBI_KERNEL(sbi_f32_4, float, 4)
SBI_KERNEL(sbi_f32_8, float, 8)
SBI_KERNEL(sbi_bf16_1, __nv_bfloat16, 1)
SBI_KERNEL(sbi_bf16_2, __nv_bfloat16, 2)
SBI_KERNEL(sbi_bf16_4, __nv_bfloat16, 4)
SBI_KERNEL(sbi_bf16_8, __nv_bfloat16, 8)
SBI_KERNEL(sbi_f16_1, __half, 1)
SBI_KERNEL(sbi_f16_2, __half, 2)
SBI_KERNEL(sbi_f16_4, __half, 4)
SBI_KERNEL(sbi_f16_8, __half, 8)

#define SBI_RM_KERNEL(NAME, WT, NB)                                                                           \
    extern "C" __global__ void __launch_bounds__(256) NAME(                                                   \
        const uint4* W, const float* x, int ldx, int K, int Kc, int G, int ks, const float* bias,             \
        const float* res, float* y, int ldy, int n, int rows, int mode, int act, int vecx) {                  \
        sbi_gemm<WT, NB, 1>(W, x, ldx, K, Kc, G, ks, bias, res, y, ldy, n, rows, mode, act, vecx);           \
    }

SBI_RM_KERNEL(sbirm_bf16_1, __nv_bfloat16, 1)
SBI_RM_KERNEL(sbirm_bf16_2, __nv_bfloat16, 2)
SBI_RM_KERNEL(sbirm_bf16_4, __nv_bfloat16, 4)
SBI_RM_KERNEL(sbirm_bf16_8, __nv_bfloat16, 8)

// The same with the RMS norm of x fused in (NORM = 1 above): two more parameters, gamma and eps.
#define SBI_NORM_KERNEL(NAME, WT, NB, RM)                                                                     \
    extern "C" __global__ void __launch_bounds__(256) NAME(                                                   \
        const uint4* W, const float* x, int ldx, int K, int Kc, int G, int ks, const float* bias,             \
        const float* res, float* y, int ldy, int n, int rows, int mode, int act, int vecx, const float* gamma, \
        float eps) {                                                                                          \
        sbi_gemm<WT, NB, RM, 1>(W, x, ldx, K, Kc, G, ks, bias, res, y, ldy, n, rows, mode, act, vecx, gamma, eps); \
    }

SBI_NORM_KERNEL(sbin_f32_1, float, 1, 0)
SBI_NORM_KERNEL(sbin_f32_2, float, 2, 0)
SBI_NORM_KERNEL(sbin_f32_4, float, 4, 0)
SBI_NORM_KERNEL(sbin_f32_8, float, 8, 0)
SBI_NORM_KERNEL(sbin_bf16_1, __nv_bfloat16, 1, 0)
SBI_NORM_KERNEL(sbin_bf16_2, __nv_bfloat16, 2, 0)
SBI_NORM_KERNEL(sbin_bf16_4, __nv_bfloat16, 4, 0)
SBI_NORM_KERNEL(sbin_bf16_8, __nv_bfloat16, 8, 0)
SBI_NORM_KERNEL(sbin_f16_1, __half, 1, 0)
SBI_NORM_KERNEL(sbin_f16_2, __half, 2, 0)
SBI_NORM_KERNEL(sbin_f16_4, __half, 4, 0)
SBI_NORM_KERNEL(sbin_f16_8, __half, 8, 0)
SBI_NORM_KERNEL(sbirmn_bf16_1, __nv_bfloat16, 1, 1)
SBI_NORM_KERNEL(sbirmn_bf16_2, __nv_bfloat16, 2, 1)
SBI_NORM_KERNEL(sbirmn_bf16_4, __nv_bfloat16, 4, 1)
SBI_NORM_KERNEL(sbirmn_bf16_8, __nv_bfloat16, 8, 1)

#include "sbi_tile.cuh"   // tensor-core tile layout kernels
#include "splitk.cuh"     // 2..8 rows over the tiles, K split over a thread-block cluster (sm_90)
#include "tma.cuh"        // 2..8 rows over row-major weights fed by TMA copies (sm_90)
#include "prompt.cuh"     // prompt phase: row-major unpacking for cuBLAS, epilogues, tiled attention
#include "attention_mma.cuh"   // prompt attention on tensor cores (models with BF16 weights)

// ------------------------------------------------------------------------------------------ norms
// grid = rows, block = 256. rms: y = x * rsqrt(mean(x^2) + eps) * w;  layer: (x - mean) * rstd * w + b

// One block per row: y[r] = norm(x[rowIdx ? rowIdx[r] : r]) * w (+ b); RMS or LayerNorm. OutT float (norm_rows) or
// bf16 (norm_rows_bf16: the prompt path's cuBLAS input, rounded where it is made instead of in a pass of its own).

template <typename OutT>
DEV void norm_rows_impl(const float* x, const int* rowIdx, OutT* y, int h, const float* w, const float* b, float eps, int rms) {
    __shared__ float sh[32];
    pdl_trigger();
    pdl_wait();
    const int r = blockIdx.x;
    const float* xr = x + (size_t)(rowIdx ? rowIdx[r] : r) * h;
    OutT* yr = y + (size_t)r * h;
    float inv, mean = 0.f;
    if (rms) {
        float ss = 0.f;
        for (int i = threadIdx.x; i < h; i += blockDim.x) ss += xr[i] * xr[i];
        ss = block_sum(ss, sh);
        inv = rsqrtf(ss / h + eps);
    } else {
        float s = 0.f;
        for (int i = threadIdx.x; i < h; i += blockDim.x) s += xr[i];
        mean = block_sum(s, sh) / h;
        float v = 0.f;
        for (int i = threadIdx.x; i < h; i += blockDim.x) { float d = xr[i] - mean; v += d * d; }
        v = block_sum(v, sh) / h;
        inv = rsqrtf(v + eps);
    }
    for (int i = threadIdx.x; i < h; i += blockDim.x) {
        float v = (xr[i] - mean) * inv * w[i];
        if (b) v += b[i];
        store_out(yr + i, v);
    }
}

extern "C" __global__ void norm_rows(const float* x, const int* rowIdx, float* y, int h, const float* w,
                                     const float* b, float eps, int rms) {
    norm_rows_impl<float>(x, rowIdx, y, h, w, b, eps, rms);
}
extern "C" __global__ void norm_rows_bf16(const float* x, const int* rowIdx, __nv_bfloat16* y, int h, const float* w,
                                          const float* b, float eps, int rms) {
    norm_rows_impl<__nv_bfloat16>(x, rowIdx, y, h, w, b, eps, rms);
}

// ------------------------------------------------------------------------------------------ embedding
// grid = rows, block = 256. meta = [tokens n][positions n][slots n]

extern "C" __global__ void embed_rows(const float* __restrict__ table, const float* __restrict__ pos, int posOffset,
                                      const int* __restrict__ meta, int n, float* __restrict__ x, int h) {
    pdl_trigger();
    pdl_wait();
    const int r = blockIdx.x;
    const int tok = meta[r], p = meta[n + r] + posOffset;
#pragma unroll 4   // (restrict: the loads of several passes go out together)
    for (int i = threadIdx.x; i < h; i += blockDim.x) {
        float v = table[(size_t)tok * h + i];
        if (pos) v += pos[(size_t)p * h + i];
        x[(size_t)r * h + i] = v;
    }
}

// ------------------------------------------------------------------------------------------ RoPE + KV append
// qkv row = [q heads*hd | k kvHeads*hd | v kvHeads*hd]; rotates pairs (i, i+rot/2)
// of the first `rot` dims of each q and k head (GPT-NeoX / Llama half rotation), then appends k, v to the
// cache [slot][maxLen][kvDim] of this layer at the row's position.

template <typename KT>
DEV void rope_kv_append_impl(float* qkv, int ld, int n, const int* meta, int heads, int kvHeads, int hd,
                             int rot, const float2* cosSin, KT* kc, KT* vc, int maxLen) {
    // grid = (rows, heads + kvHeads): block (r, hh) rotates q or k head hh of row r; k heads then go to the cache
    // with their v head. block = 64.
    pdl_trigger();
    pdl_wait();
    const int r = blockIdx.x, hh = blockIdx.y;
    const int p = meta[n + r], slot = meta[2 * n + r];
    float* v = qkv + (size_t)r * ld + hh * hd;   // k heads follow q heads contiguously
    const int half = rot / 2;
    for (int i = threadIdx.x; i < half; i += blockDim.x) {
        const float2 t2 = cosSin[(size_t)p * half + i];   // host table [maxLen][rot/2] of (cos, sin), computed in double
        const float x1 = v[i], x2 = v[i + half];
        v[i] = x1 * t2.x - x2 * t2.y;
        v[i + half] = x2 * t2.x + x1 * t2.y;
    }
    if (hh < heads) return;
    __syncthreads();
    const int kvDim = kvHeads * hd, kh = hh - heads;
    const size_t base = ((size_t)slot * maxLen + p) * kvDim + (size_t)kh * hd;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        kv_st(kc + base + d, v[d]);
        kv_st(vc + base + d, v[kvDim + d]);
    }
}

// Same for many rows (the prompt phase): blocks of 256 threads, grid (rows, S): block (r, s) takes the s-th of S equal
// ranges of the row's q and k heads, threads over their (head, pair), then the k and v heads of its k heads into the
// cache (instead of a 64-thread block per head and row). S = 1 for many rows; a short prompt splits its rows' heads
// so that the grid fills the GPU (dev.fathom.cuda.AttentionLaunch#ropeSplits).
template <typename KT>
DEV void rope_kv_rows_impl(float* qkv, int ld, int n, const int* meta, int heads, int kvHeads, int hd,
                           int rot, const float2* cosSin, KT* kc, KT* vc, int maxLen) {
    // The rotation is in place, so the compiler cannot move a pass's loads above the previous pass's stores: each
    // thread loads RKV passes' pairs before storing any (the loads of a row overlap instead of following each other).
    constexpr int RKV = 4;
    const int r = blockIdx.x;
    const int p = meta[n + r], slot = meta[2 * n + r];
    float* row = qkv + (size_t)r * ld;
    const int H = heads + kvHeads, per = (H + gridDim.y - 1) / gridDim.y;
    const int h0 = min(H, (int)blockIdx.y * per), h1 = min(H, h0 + per);
    const int half = rot / 2, total = (h1 - h0) * half;
    for (int e0 = threadIdx.x; e0 < total; e0 += RKV * blockDim.x) {
        float x1[RKV], x2[RKV];
        float2 t2[RKV];
#pragma unroll
        for (int u = 0; u < RKV; u++) {
            const int e = e0 + u * blockDim.x;
            if (e < total) {
                const int hh = h0 + e / half, i = e % half;
                const float* v = row + hh * hd;
                t2[u] = cosSin[(size_t)p * half + i];
                x1[u] = v[i];
                x2[u] = v[i + half];
            }
        }
#pragma unroll
        for (int u = 0; u < RKV; u++) {
            const int e = e0 + u * blockDim.x;
            if (e < total) {
                const int hh = h0 + e / half, i = e % half;
                float* v = row + hh * hd;
                v[i] = x1[u] * t2[u].x - x2[u] * t2[u].y;
                v[i + half] = x2[u] * t2[u].x + x1[u] * t2[u].y;
            }
        }
    }
    __syncthreads();
    // this block's k heads (and their v heads): cache columns d0 .. d1
    const int kvDim = kvHeads * hd, d0 = (max(h0, heads) - heads) * hd, d1 = (max(h1, heads) - heads) * hd;
    const size_t base = ((size_t)slot * maxLen + p) * kvDim;
    const float* k = row + heads * hd;
    for (int dd = d0 + threadIdx.x; dd < d1; dd += RKV * blockDim.x) {   // the same for the k and v rows into the cache
        float kv[RKV], vv[RKV];
#pragma unroll
        for (int u = 0; u < RKV; u++) {
            const int d = dd + u * blockDim.x;
            if (d < d1) { kv[u] = k[d]; vv[u] = k[kvDim + d]; }
        }
#pragma unroll
        for (int u = 0; u < RKV; u++) {
            const int d = dd + u * blockDim.x;
            if (d < d1) { kv_st(kc + base + d, kv[u]); kv_st(vc + base + d, vv[u]); }
        }
    }
}

// the kernels, float32 and bf16 (_kb) caches; same parameters
#define ROPE_KERNELS(SUF, KT)                                                                                 \
    extern "C" __global__ void rope_kv_append##SUF(float* qkv, int ld, int n, const int* meta, int heads,     \
            int kvHeads, int hd, int rot, const float2* cosSin, KT* kc, KT* vc, int maxLen) {                 \
        rope_kv_append_impl<KT>(qkv, ld, n, meta, heads, kvHeads, hd, rot, cosSin, kc, vc, maxLen);          \
    }                                                                                                         \
    extern "C" __global__ void rope_kv_rows##SUF(float* qkv, int ld, int n, const int* meta, int heads,       \
            int kvHeads, int hd, int rot, const float2* cosSin, KT* kc, KT* vc, int maxLen) {                 \
        rope_kv_rows_impl<KT>(qkv, ld, n, meta, heads, kvHeads, hd, rot, cosSin, kc, vc, maxLen);            \
    }
ROPE_KERNELS(, float)
ROPE_KERNELS(_kb, __nv_bfloat16)

#include "attention.cuh"   // decode attention: attention_rows, attention_decode(_late)

// ------------------------------------------------------------------------------------------ small element-wise

// Greedy sampling on the device: out[r] = the index of the largest of the n logits of row r, the first such index on
// ties (as Sampler.argmax; NaNs never win). grid = rows, block = ARGMAX_THREADS. Each thread keeps the best of its
// strided elements (visited in increasing order), then warps and the block pick the larger value, the lower index on
// ties. A decode step then copies back 4 bytes per sequence instead of its logits.
#define ARGMAX_THREADS 1024
DEV void argmax_pick(float& bv, int& bi, float v, int i) {
    if (v > bv || (v == bv && i < bi)) { bv = v; bi = i; }
}
extern "C" __global__ void __launch_bounds__(ARGMAX_THREADS) argmax_rows(const float* logits, int n, int* out) {
    __shared__ float sv[32];
    __shared__ int si[32];
    const float* row = logits + (size_t)blockIdx.x * n;
    float bv = -INFINITY;
    int bi = INT_MAX;
    for (int i = threadIdx.x; i < n; i += blockDim.x) argmax_pick(bv, bi, row[i], i);
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
        const float v = __shfl_xor_sync(0xffffffffu, bv, off);
        const int i = __shfl_xor_sync(0xffffffffu, bi, off);
        argmax_pick(bv, bi, v, i);
    }
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    if (lane == 0) { sv[warp] = bv; si[warp] = bi; }
    __syncthreads();
    if (warp == 0) {
        const int nw = blockDim.x >> 5;
        bv = lane < nw ? sv[lane] : -INFINITY;
        bi = lane < nw ? si[lane] : INT_MAX;
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) {
            const float v = __shfl_xor_sync(0xffffffffu, bv, off);
            const int i = __shfl_xor_sync(0xffffffffu, bi, off);
            argmax_pick(bv, bi, v, i);
        }
        if (lane == 0) out[blockIdx.x] = bi == INT_MAX ? 0 : bi;   // every logit NaN: 0, as Sampler.argmax
    }
}

// y[j] = src[idx[j]] (rows of width h); grid = m, block = 256
extern "C" __global__ void gather_rows(const float* src, const int* idx, float* y, int h) {
    const int j = blockIdx.x;
    const float* s = src + (size_t)idx[j] * h;
    for (int i = threadIdx.x; i < h; i += blockDim.x) y[(size_t)j * h + i] = s[i];
}

// out[idx[j]] += w[j] * y[j]; rows distinct within one launch; grid = m, block = 256
extern "C" __global__ void scatter_add_rows(float* out, const int* idx, const float* w, const float* y, int h) {
    const int j = blockIdx.x;
    float* o = out + (size_t)idx[j] * h;
    const float wt = w[j];
    for (int i = threadIdx.x; i < h; i += blockDim.x) o[i] += wt * y[(size_t)j * h + i];
}

// y = a + b, n elements
extern "C" __global__ void add_vec(float* y, const float* a, const float* b, long n) {
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) y[i] = a[i] + b[i];
}

// ------------------------------------------------------------------------------------------ bench helpers

// Reads n 16-byte vectors once and writes one word per block so the loads stay. Each block reads U x 16 bytes x
// blockDim contiguous per pass, every thread with its U loads in flight together (grid-stride over the passes).
// read_probe (U = 1) measures the 4 GiB read ceiling; read_probe_u4 one weight matrix's bytes (bench part sizes), and
// read_probe_u4p the same as a programmatic dependent launch that lets the next launch start at once and never waits,
// the most that overlapping back-to-back kernels can give.
template <int U, int PDL>
DEV void read_probe_loads(const uint4* p, long n, unsigned* out) {
    if (PDL) pdl_trigger();
    unsigned acc = 0;
    const long per = (long)U * blockDim.x;
    for (long base = blockIdx.x * per; base < n; base += (long)gridDim.x * per) {
        uint4 v[U];
#pragma unroll
        for (int u = 0; u < U; u++) {
            const long i = base + u * blockDim.x + threadIdx.x;
            v[u] = i < n ? ldg_stream(p + i) : make_uint4(0, 0, 0, 0);
        }
#pragma unroll
        for (int u = 0; u < U; u++) acc ^= v[u].x ^ v[u].y ^ v[u].z ^ v[u].w;
    }
    if (acc == 0x9e3779b9u) out[blockIdx.x] = acc;  // practically never true; keeps the loads alive
}
extern "C" __global__ void read_probe(const uint4* p, long n, unsigned* out) { read_probe_loads<1, 0>(p, n, out); }
extern "C" __global__ void __launch_bounds__(256) read_probe_u4(const uint4* p, long n, unsigned* out) { read_probe_loads<4, 0>(p, n, out); }
extern "C" __global__ void __launch_bounds__(256) read_probe_u4p(const uint4* p, long n, unsigned* out) { read_probe_loads<4, 1>(p, n, out); }

// fills n 16-bit values with pseudo-random bf16 in [-1, 1) (hash of index and seed)
extern "C" __global__ void fill_bf16(unsigned short* p, long n, unsigned seed) {
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
        unsigned h = (unsigned)i * 2654435761u ^ seed;
        h ^= h >> 15; h *= 2246822519u; h ^= h >> 13; h *= 3266489917u; h ^= h >> 16;
        float f = (h >> 8) * (1.0f / 8388608.0f) - 1.0f;
        p[i] = (unsigned short)(__float_as_uint(f) >> 16);
    }
}

// fp32 -> bf16 (round to nearest even), for feeding cuBLAS in the benchmark
extern "C" __global__ void f32_to_bf16(const float* x, __nv_bfloat16* y, long n) {
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) y[i] = __float2bfloat16_rn(x[i]);
}
#include "comm.cuh"
#include "int8.cuh"   // INT8 weight-only SBI-GEMM (sbi8_*)
