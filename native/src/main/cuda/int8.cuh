// INT8 weight-only SBI-GEMM: y[rows, n] = epilogue(x[rows, K] · (q * scale)ᵀ), fp32 activations and accumulation.
// Included at the end of fathom_kernels.cu (uses ldg_stream, pdl_trigger/pdl_wait, sbi_epilogue).
//
// Layout (dev.fathom.cuda.Int8Layout), one buffer per projection:
//   W       [stored rows][Kc * 512] int8, row-major, K padded with zeros to whole chunks of 512 columns
//   scales  [stored rows][ceil(K / group)] float32 (group = 1 << glog columns, a power of two >= 16)
// Rows in groups of 4 as in the SIMT layout (stacked, or gated pairs [gate_a, gate_b, up_a, up_b]), so the launch is
// sbi_gemm's: 256 threads, `ks` warps split one group's K chunks, 8/ks groups per block, grid = ceil(G / (8/ks)), and
// the same epilogues (sbi_epilogue). Lane `lane` loads the 16 bytes (16 weights) at column c*512 + lane*16 of each of
// its 4 rows: every warp load reads 512 contiguous bytes. Lanes whose columns start past K load nothing, so the chunk
// padding is never read. A lane's 16 weights lie in one scale group (group >= 16).
//
// Dequantization: 8 weights at a time are turned into exact floats q (one byte permute and one subtraction each),
// dotted with 8 activations, and the partial sum is multiplied by the scale once (SW = 0: one FMA per 8 weights and
// row); SW = 1 multiplies every unpacked weight by its scale instead (one FMUL per weight): on an H200 within ±4 % of
// SW = 0 on every Llama-7B shape and batch (the loads, not the arithmetic, set the pace); kept for CudaBench's int8 part.

// 8 signed bytes (lo, hi) -> 8 floats. The byte, made unsigned by flipping its top bit (q + 128), becomes the low
// mantissa byte of 2^23 (a byte permute with 0x4B000000); subtracting 2^23 + 128 leaves q exactly. Cheaper than I2F,
// which issues at a quarter of the FP32 rate on sm_80 / sm_90.
DEV void i8_unpack8(uint32_t lo, uint32_t hi, float* f) {
    const uint32_t w[2] = {lo ^ 0x80808080u, hi ^ 0x80808080u};
#pragma unroll
    for (int i = 0; i < 8; i++) f[i] = __uint_as_float(__byte_perm(w[i >> 2], 0x4B000000u, 0x7540u | (i & 3))) - 8388736.f;
}

// 8 activations from column k of row xr: two float4 loads when allowed, zeros past K otherwise.
DEV void i8_load_x8(const float* xr, int k, int K, int vecx, float* xv) {
    if (vecx && k + 8 <= K) {
        const float4 a = __ldg(reinterpret_cast<const float4*>(xr + k)), b = __ldg(reinterpret_cast<const float4*>(xr + k + 4));
        xv[0] = a.x; xv[1] = a.y; xv[2] = a.z; xv[3] = a.w; xv[4] = b.x; xv[5] = b.y; xv[6] = b.z; xv[7] = b.w;
    } else {
#pragma unroll
        for (int e = 0; e < 8; e++) xv[e] = k + e < K ? xr[k + e] : 0.f;
    }
}

// One K chunk of a lane: the 16 weights at columns k0..k0+15 of each of its 4 rows (wv, one 16-byte load per row) with
// their scales (sc), against the activations of up to NB rows, into acc. The 16 bytes go as two halves of 8 weights.
template <int NB, int SW>
DEV void sbi8_chunk(const uint4 (&wv)[4], const float (&sc)[4], const float* __restrict__ x, int ldx, int k0, int K,
                    int rows, int vecx, float (&acc)[4][NB]) {
#pragma unroll
    for (int h = 0; h < 2; h++) {
        float wf[4][8];
#pragma unroll
        for (int r = 0; r < 4; r++) {
            i8_unpack8(h ? wv[r].z : wv[r].x, h ? wv[r].w : wv[r].y, wf[r]);
            if (SW) {
#pragma unroll
                for (int e = 0; e < 8; e++) wf[r][e] *= sc[r];
            }
        }
#pragma unroll
        for (int b = 0; b < NB; b++) {
            if (b >= rows) break;
            float xv[8];
            i8_load_x8(x + (size_t)b * ldx, k0 + 8 * h, K, vecx, xv);
#pragma unroll
            for (int r = 0; r < 4; r++) {
                if (SW) {
#pragma unroll
                    for (int e = 0; e < 8; e++) acc[r][b] = fmaf(wf[r][e], xv[e], acc[r][b]);
                } else {
                    float p = wf[r][0] * xv[0];
#pragma unroll
                    for (int e = 1; e < 8; e++) p = fmaf(wf[r][e], xv[e], p);
                    acc[r][b] = fmaf(sc[r], p, acc[r][b]);
                }
            }
        }
    }
}

// Register kernel (sbi8r_*, the model's default, and sbi8w_* with SW = 1): sbi_gemm's loop, two chunks of loads in
// registers per step. Measured on an H200 it is the faster one at 1 and 4 rows (decode steps).
template <int NB, int SW>
DEV void sbi8_gemm(const uint4* __restrict__ W, const float* __restrict__ x, int ldx, int K, int Kc, int G, int ks,
                   const float* __restrict__ bias, const float* res, float* y, int ldy, int n, int rows,
                   int mode, int act, int vecx, const float* __restrict__ scales, int glog) {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int g = blockIdx.x * (8 / ks) + warp / ks;
    const int s = warp % ks;
    pdl_trigger();
    float acc[4][NB] = {};
    if (g < G) {
        const int ng = (K + (1 << glog) - 1) >> glog;   // scales per row
        const size_t rs = (size_t)Kc * 32;              // uint4 per row
        const uint4* wp = W + (size_t)g * 4 * rs + lane;
        const float* sp = scales + (size_t)g * 4 * ng;
        for (int c0 = s; c0 < Kc; c0 += 2 * ks) {
            uint4 wv[2][4];
            float sc[2][4];
#pragma unroll
            for (int u = 0; u < 2; u++) {
                const int c = c0 + u * ks, k0 = c * 512 + lane * 16;
                if (c < Kc && k0 < K) {
#pragma unroll
                    for (int r = 0; r < 4; r++) {
                        wv[u][r] = ldg_stream(wp + (size_t)c * 32 + r * rs);
                        sc[u][r] = __ldg(sp + r * ng + (k0 >> glog));
                    }
                }
            }
            if (c0 == s) pdl_wait();   // weights and scales in flight; the activations come from the previous kernel
#pragma unroll
            for (int u = 0; u < 2; u++) {
                const int k0 = (c0 + u * ks) * 512 + lane * 16;
                if (c0 + u * ks < Kc && k0 < K) sbi8_chunk<NB, SW>(wv[u], sc[u], x, ldx, k0, K, rows, vecx, acc);
            }
        }
    }
    pdl_wait();   // (returns at once if done above) before the epilogue reads the residual
    sbi_epilogue<NB>(acc, ks, G, bias, res, y, ldy, n, rows, mode, act);
}

// Asynchronous global -> shared copies (sm_80+): 16 bytes through L2 only (cg), 4 bytes (ca, the smallest size).
DEV void cp_async16(void* dst, const void* src) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"((unsigned)__cvta_generic_to_shared(dst)), "l"(src) : "memory");
}
DEV void cp_async4(void* dst, const void* src) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4;" ::"r"((unsigned)__cvta_generic_to_shared(dst)), "l"(src) : "memory");
}
// (cp_async_commit / cp_async_wait<N>: attention_mma.cuh, included before)

// Pipelined kernel (sbi8_*; faster at 8 rows, e.g. prompts; CudaModel uses it with -Dfathom.cuda.int8.kernel=pipe):
// the same reading order and arithmetic, but each warp streams its chunks
// through a ring of SBI8_STAGES stages in shared memory with cp.async, so STAGES - 1 chunks (6 KB a warp) stay in
// flight while it computes one, whatever its registers. A stage holds one chunk: [4 rows][32 lanes] x 16 bytes, then
// [4 rows][32 lanes] scales. Each lane reads back only what it copied itself, so waiting for its own copies
// (cp.async.wait_group) is all the synchronisation there is. Dynamic shared memory: SBI8_SMEM bytes a block.
#define SBI8_STAGES 4
#define SBI8_STAGE_BYTES 2560
#define SBI8_SMEM (8 * SBI8_STAGES * SBI8_STAGE_BYTES)

template <int NB>
DEV void sbi8_pipe_gemm(const uint4* __restrict__ W, const float* __restrict__ x, int ldx, int K, int Kc, int G, int ks,
                        const float* __restrict__ bias, const float* res, float* y, int ldy, int n, int rows,
                        int mode, int act, int vecx, const float* __restrict__ scales, int glog) {
    constexpr int S = SBI8_STAGES;
    extern __shared__ uint4 sbi8_ring[];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int g = blockIdx.x * (8 / ks) + warp / ks;
    const int s = warp % ks;
    pdl_trigger();
    float acc[4][NB] = {};
    char* ring = reinterpret_cast<char*>(sbi8_ring) + (size_t)warp * S * SBI8_STAGE_BYTES;
    const int nc = g < G ? (Kc - s + ks - 1) / ks : 0;   // chunks s, s + ks, ... of this warp
    const int ng = (K + (1 << glog) - 1) >> glog;
    const size_t rs = (size_t)Kc * 32;
    const uint4* wp = W + (size_t)(g < G ? g : 0) * 4 * rs + lane;
    const float* sp = scales + (size_t)(g < G ? g : 0) * 4 * ng;
    // chunk i into stage i % S (nothing past the warp's chunks or past K), one commit group per chunk either way
    auto issue = [&](int i) {
        const int k0 = (s + i * ks) * 512 + lane * 16;
        if (i < nc && k0 < K) {
            char* st = ring + (i % S) * SBI8_STAGE_BYTES;
#pragma unroll
            for (int r = 0; r < 4; r++) {
                cp_async16(st + r * 512 + lane * 16, wp + (size_t)(s + i * ks) * 32 + r * rs);
                cp_async4(st + 2048 + (r * 32 + lane) * 4, sp + r * ng + (k0 >> glog));
            }
        }
        cp_async_commit();
    };
#pragma unroll
    for (int i = 0; i < S - 1; i++) issue(i);
    pdl_wait();   // weights and scales in flight; the activations come from the previous kernel
    for (int i = 0; i < nc; i++) {
        issue(i + S - 1);          // into the stage read in the previous step (this lane's reads of it are done)
        cp_async_wait<S - 1>();    // chunk i's group is complete
        const int k0 = (s + i * ks) * 512 + lane * 16;
        if (k0 < K) {
            const char* st = ring + (i % S) * SBI8_STAGE_BYTES;
            uint4 wv[4];
            float sc[4];
#pragma unroll
            for (int r = 0; r < 4; r++) {
                wv[r] = *reinterpret_cast<const uint4*>(st + r * 512 + lane * 16);
                sc[r] = *reinterpret_cast<const float*>(st + 2048 + (r * 32 + lane) * 4);
            }
            sbi8_chunk<NB, 0>(wv, sc, x, ldx, k0, K, rows, vecx, acc);
        }
    }
    cp_async_wait<0>();
    sbi_epilogue<NB>(acc, ks, G, bias, res, y, ldy, n, rows, mode, act);
}

// Parameters: sbirm_bf16_*'s, then the scales and log2 of the scale group.
#define SBI8_PARAMS                                                                                           \
    const uint4 *W, const float *x, int ldx, int K, int Kc, int G, int ks, const float *bias, const float *res, \
        float *y, int ldy, int n, int rows, int mode, int act, int vecx, const float *scales, int glog
#define SBI8_ARGS W, x, ldx, K, Kc, G, ks, bias, res, y, ldy, n, rows, mode, act, vecx, scales, glog
#define SBI8_KERNEL(NAME, NB, SW) \
    extern "C" __global__ void __launch_bounds__(256) NAME(SBI8_PARAMS) { sbi8_gemm<NB, SW>(SBI8_ARGS); }
#define SBI8_PIPE_KERNEL(NAME, NB) \
    extern "C" __global__ void __launch_bounds__(256) NAME(SBI8_PARAMS) { sbi8_pipe_gemm<NB>(SBI8_ARGS); }

SBI8_PIPE_KERNEL(sbi8_1, 1)
SBI8_PIPE_KERNEL(sbi8_2, 2)
SBI8_PIPE_KERNEL(sbi8_4, 4)
SBI8_PIPE_KERNEL(sbi8_8, 8)
SBI8_KERNEL(sbi8r_1, 1, 0)
SBI8_KERNEL(sbi8r_2, 2, 0)
SBI8_KERNEL(sbi8r_4, 4, 0)
SBI8_KERNEL(sbi8r_8, 8, 0)
SBI8_KERNEL(sbi8w_1, 1, 1)
SBI8_KERNEL(sbi8w_2, 2, 1)
SBI8_KERNEL(sbi8w_4, 4, 1)
SBI8_KERNEL(sbi8w_8, 8, 1)
