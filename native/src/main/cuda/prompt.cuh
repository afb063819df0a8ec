// Fathom CUDA kernels, part 3 of fathom_kernels.cu (included there, not compiled alone): the prompt phase.
//
// Large-batch GEMMs run in cuBLAS (bf16 x bf16 -> fp32, tensor cores), which wants row-major weights; the
// weights stay in the SBI layouts that the decode kernels read, and one projection at a time is unpacked into a
// row-major scratch buffer just before its GEMM (a read and a write of the weight bytes: a few % of a prompt
// GEMM's time at a few hundred rows). Around cuBLAS: the activations are rounded to bf16 once per GEMM, the
// residual and bias are written into the output first so cuBLAS accumulates onto them (beta = 1), and the gated
// and activated MLP epilogues run as one element-wise pass. Prompt attention runs over tiles of up to 64 query
// rows of one sequence that share each key/value tile in shared memory (flash-attention's online softmax, fp32).

#pragma once

// ------------------------------------------------------------------------------------------ unpack to row-major

// Tensor-core tile layout W[rt][kt][lane][8] (see sbi_tile.cuh) -> row-major bf16 [RT*16][ldo], ldo = KT*16.
// A warp takes one row tile and four k tiles (2 KB read as one 16-byte vector per lane per tile), scatters the
// fragments into shared memory as 16 rows x 64 columns, and writes each row's 128 bytes as 8 lanes' 16-byte
// stores, so reads and writes both move whole cache lines. grid-stride over (rt, group of 4 kt); 256 threads.
extern "C" __global__ void __launch_bounds__(256) untile_mma_bf16(const uint4* __restrict__ W, int KT, int RT, uint4* __restrict__ out, int ldo) {
    __shared__ uint32_t sm[8][16][33];   // per warp: 16 rows x 32 words (64 bf16), padded
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
    const int KG = (KT + 3) >> 2;
    const long items = (long)RT * KG;
    for (long item = (long)blockIdx.x * 8 + warp; item < items; item += (long)gridDim.x * 8) {
        const int rt = (int)(item / KG), kg = (int)(item % KG);
        const int tiles = min(4, KT - kg * 4);
#pragma unroll
        for (int u = 0; u < 4; u++) {
            if (u < tiles) {
                const uint4 v = W[((size_t)rt * KT + kg * 4 + u) * 32 + lane];
                sm[warp][g][u * 8 + q] = v.x;           // (g,   2q..2q+1)
                sm[warp][g + 8][u * 8 + q] = v.y;       // (g+8, 2q..)
                sm[warp][g][u * 8 + 4 + q] = v.z;       // (g,   2q+8..)
                sm[warp][g + 8][u * 8 + 4 + q] = v.w;   // (g+8, 2q+8..)
            }
        }
        __syncwarp();
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int e = i * 32 + lane, row = e >> 3, c4 = e & 7;   // 16 rows x 8 vectors of 4 words
            if ((c4 >> 1) < tiles) {
                const uint32_t* w = sm[warp][row] + c4 * 4;
                out[(((size_t)rt * 16 + row) * ldo + (size_t)kg * 64) / 8 + c4] = make_uint4(w[0], w[1], w[2], w[3]);
            }
        }
        __syncwarp();
    }
}

// 4-row SIMT layout W[g][c][r][lane][8] (bf16: 8 per vector, chunk of 256) -> row-major bf16 [G*4][ldo], ldo = Kc*256.
// Each 16-byte vector is 8 consecutive columns of one row: a straight copy with a computed destination.
extern "C" __global__ void untile_simt_bf16(const uint4* __restrict__ W, int Kc, int G, uint4* __restrict__ out, int ldo) {
    const long total = (long)G * Kc * 128;
    for (long v = blockIdx.x * (long)blockDim.x + threadIdx.x; v < total; v += (long)gridDim.x * blockDim.x) {
        const int lane = (int)(v & 31), r = (int)((v >> 5) & 3);
        const long gc = v >> 7;
        const int g = (int)(gc / Kc), c = (int)(gc % Kc);
        const long row = (long)g * 4 + r;
        out[(row * ldo + (long)c * 256 + lane * 8) >> 3] = W[v];
    }
}

// INT8 weight-only rows (Int8Layout: int8 [R][ldq] bytes, then fp32 scales [R][ng], scale j covering columns
// [j << glog, (j + 1) << glog)) -> row-major bf16 [R][ldo], w = bf16(q * scale): the form untile_simt_bf16 gives the
// BF16 SIMT layout of the same matrix (stored rows in the same order, since Int8Layout keeps the SIMT row orders;
// ldo = K rounded up to 256), so PromptGemm's cuBLAS call and epilogues take either. Columns K..ldo are written
// as zeros (their scale index may lie past the row's scales, so they are not read). A thread makes one 16-byte
// vector of 8 columns from 8 int8 bytes; 8 columns never straddle a scale group (groups are >= 16, powers of two).
extern "C" __global__ void dequant_i8_bf16(const uint2* __restrict__ Q, int ldq, const float* __restrict__ S, int ng, int glog,
                                           int K, int R, uint4* __restrict__ out, int ldo) {
    const int vpr = ldo >> 3;
    const long total = (long)R * vpr;
    for (long v = blockIdx.x * (long)blockDim.x + threadIdx.x; v < total; v += (long)gridDim.x * blockDim.x) {
        const long row = v / vpr;
        const int c = (int)(v % vpr) * 8;
        uint4 o = make_uint4(0u, 0u, 0u, 0u);
        if (c < K) {   // bytes K..c+7 of the last vector are the layout's zero padding
            const uint2 q = Q[(row * ldq + c) >> 3];
            const float s = S[row * ng + (c >> glog)];
            const uint32_t w[2] = {q.x, q.y};
            uint32_t r[4];
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const uint32_t word = w[i >> 1] >> (16 * (i & 1));
                const float lo = (float)(int8_t)(word & 0xff) * s, hi = (float)(int8_t)((word >> 8) & 0xff) * s;
                const __nv_bfloat162 p = __floats2bfloat162_rn(lo, hi);
                r[i] = *reinterpret_cast<const uint32_t*>(&p);
            }
            o = make_uint4(r[0], r[1], r[2], r[3]);
        }
        out[v] = o;
    }
}

// ------------------------------------------------------------------------------------------ around cuBLAS

// y[r][k] = bf16(x[r * ldx + k]) for k < K: the GEMM input, rows packed with stride K
extern "C" __global__ void rows_to_bf16(const float* __restrict__ x, int ldx, int rows, int K, __nv_bfloat16* __restrict__ y) {
    pdl_trigger();   // the multiply after it, a wgemmt launched PDL (-Dfathom.cuda.wgemmPdl), may start streaming its weights
    const long total = (long)rows * K;
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x) {
        const long r = i / K, k = i % K;
        y[i] = __float2bfloat16_rn(x[r * ldx + k]);
    }
}

// y[r][o] = (res ? res[r][o] : 0) + (bias ? bias[o] : 0), o < n; row stride ldy for y and res (res may be y)
extern "C" __global__ void rows_prefill(float* y, int ldy, int n, int rows, const float* __restrict__ bias, const float* res) {
    const long total = (long)rows * n;
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x) {
        const long r = i / n;
        const int o = (int)(i % n);
        float v = res ? res[r * ldy + o] : 0.f;
        if (bias) v += bias[o];
        y[r * ldy + o] = v;
    }
}

// y[r][o] = act(y[r][o] + bias[o]), o < n (the non-gated MLP up-projection)
extern "C" __global__ void rows_bias_act(float* y, int ldy, int n, int rows, const float* __restrict__ bias, int act) {
    const long total = (long)rows * n;
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x) {
        const long r = i / n;
        const int o = (int)(i % n);
        float v = y[r * ldy + o];
        if (bias) v += bias[o];
        y[r * ldy + o] = activate(v, act);
    }
}

// Gated pairs in stored-row order: group g of `group` rows holds gate rows then the matching up rows (half each).
// y[r][o] = act(c[r][gate] + bias[gate]) * (c[r][up] + bias[up]),  gate = (o / half) * group + o % half, up = gate + half
// (rows_gated_bf16: y in bf16, the down projection's cuBLAS input)
template <typename OutT>
DEV void rows_gated_impl(const float* __restrict__ c, int ldc, OutT* __restrict__ y, int ldy, int n, int rows,
                         const float* __restrict__ bias, int group, int act) {
    pdl_trigger();   // the down projection's wgemmt, launched PDL (-Dfathom.cuda.wgemmPdl), may start streaming its weights
    const int half = group >> 1;
    const long total = (long)rows * n;
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x) {
        const long r = i / n;
        const int o = (int)(i % n);
        const int gi = (o / half) * group + o % half, ui = gi + half;
        float gate = c[r * ldc + gi], up = c[r * ldc + ui];
        if (bias) { gate += bias[gi]; up += bias[ui]; }
        store_out(y + r * ldy + o, activate(gate, act) * up);
    }
}
extern "C" __global__ void rows_gated(const float* __restrict__ c, int ldc, float* __restrict__ y, int ldy, int n, int rows,
                                      const float* __restrict__ bias, int group, int act) {
    rows_gated_impl<float>(c, ldc, y, ldy, n, rows, bias, group, act);
}
extern "C" __global__ void rows_gated_bf16(const float* __restrict__ c, int ldc, __nv_bfloat16* __restrict__ y, int ldy, int n,
                                           int rows, const float* __restrict__ bias, int group, int act) {
    rows_gated_impl<__nv_bfloat16>(c, ldc, y, ldy, n, rows, bias, group, act);
}

// ------------------------------------------------------------------------------------------ prompt attention
// grid = (heads, tiles), block = 256. tiles[2t] = first row, tiles[2t+1] = row count (1..TQ) of a run of rows of
// one sequence (same slot; positions arbitrary), TQ = 32 * RPT query rows per block. Keys/values of that slot are
// read in tiles of 32 positions into shared memory, once for all the block's query rows; each row keeps a running
// max and sum (online softmax) and masks positions after its own. fp32 throughout (the same math as attention_rows,
// summed in another order).
// Thread t owns query rows t/8 (+ 32 when RPT = 2), score columns t%8 + 8c (c < 4), output dims t%8 + 8i.
// dynamic smem = (TQ*(hd+1) + 32*(hd+1) + 32*hd + TQ*33 + 4*TQ) floats. Instances for hd <= 64, 128, 256, each with
// 64-row tiles (attention_tiles_*) and 32-row tiles (attention_tiles32_*: half the work per block, twice the blocks,
// for prompts too short to give every multiprocessor two 64-row blocks: one sequence of 128 rows is 32 heads x 2).

#define ATT_TK 32

// A thread's float4s of key/value tile j0 (positions past `last` read as zeros), every load in flight at once.
template <int IT>
DEV void att_load_kv(float4 (&kr)[IT], float4 (&vr)[IT], const float* __restrict__ kb, const float* __restrict__ vb,
                     int kvDim, int hd, int j0, int last, int tid) {
#pragma unroll
    for (int it = 0; it < IT; it++) {
        const int e = (tid + it * 256) * 4, jj = e / hd, d = e % hd, j = j0 + jj;
        kr[it] = vr[it] = make_float4(0.f, 0.f, 0.f, 0.f);
        if (e < ATT_TK * hd && j <= last) {
            kr[it] = __ldg(reinterpret_cast<const float4*>(kb + (size_t)j * kvDim + d));
            vr[it] = __ldg(reinterpret_cast<const float4*>(vb + (size_t)j * kvDim + d));
        }
    }
}

template <int ATT_MAXD, int RPT = 2>
DEV void attention_tiles(
        const float* __restrict__ qkv, int ld, int n, const int* __restrict__ meta, const int* __restrict__ tiles,
        int heads, int kvHeads, int hd, const float* __restrict__ kc, const float* __restrict__ vc, int maxLen,
        float scale, float* __restrict__ out, int ldo) {
    constexpr int ATT_TQ = 32 * RPT;
    extern __shared__ float4 att_smem[];
    float* qs = reinterpret_cast<float*>(att_smem);     // [TQ][hd+1], pre-scaled
    float* ks = qs + ATT_TQ * (hd + 1);                // [32][hd+1]
    float* vs = ks + ATT_TK * (hd + 1);                // [32][hd]
    float* ps = vs + ATT_TK * hd;                      // [TQ][33] scores, then probabilities
    float* rowM = ps + ATT_TQ * 33;                    // running max
    float* rowL = rowM + ATT_TQ;                       // running sum
    float* rowA = rowL + ATT_TQ;                       // rescale of this key tile
    int* rowP = reinterpret_cast<int*>(rowA + ATT_TQ); // position (-1: no row)
    __shared__ int maxPos;
    const int h = blockIdx.x, tile = blockIdx.y, tid = threadIdx.x;
    const int r0 = tiles[2 * tile], cnt = tiles[2 * tile + 1];
    const int slot = meta[2 * n + r0];
    const int kvh = h / (heads / kvHeads), kvDim = kvHeads * hd;
    if (tid == 0) maxPos = -1;
    __syncthreads();
    if (tid < ATT_TQ) {
        const int p = tid < cnt ? meta[n + r0 + tid] : -1;
        rowP[tid] = p;
        rowM[tid] = -INFINITY;
        rowL[tid] = 0.f;
        if (p >= 0) atomicMax(&maxPos, p);
    }
    if ((hd & 3) == 0 && (ld & 3) == 0) {   // every load in flight at once (a strided loop waits for each in turn)
        constexpr int IT = (ATT_TQ * ATT_MAXD / 4 + 255) / 256;
        float4 qv[IT];
#pragma unroll
        for (int it = 0; it < IT; it++) {
            const int e = (tid + it * 256) * 4, i = e / hd, d = e % hd;
            qv[it] = i < cnt && e < ATT_TQ * hd
                         ? *reinterpret_cast<const float4*>(qkv + (size_t)(r0 + i) * ld + h * hd + d)
                         : make_float4(0.f, 0.f, 0.f, 0.f);
        }
#pragma unroll
        for (int it = 0; it < IT; it++) {
            const int e = (tid + it * 256) * 4, i = e / hd, d = e % hd;
            if (e < ATT_TQ * hd) {
                float* q = qs + i * (hd + 1) + d;
                q[0] = qv[it].x * scale; q[1] = qv[it].y * scale; q[2] = qv[it].z * scale; q[3] = qv[it].w * scale;
            }
        }
    } else {
        for (int e = tid; e < ATT_TQ * hd; e += blockDim.x) {
            const int i = e / hd, d = e % hd;
            qs[i * (hd + 1) + d] = i < cnt ? qkv[(size_t)(r0 + i) * ld + h * hd + d] * scale : 0.f;
        }
    }
    const int rq = tid >> 3, cq = tid & 7;
    float acc[RPT][ATT_MAXD / 8];
#pragma unroll
    for (int r = 0; r < RPT; r++)
#pragma unroll
        for (int i = 0; i < ATT_MAXD / 8; i++) acc[r][i] = 0.f;
    const float* kb = kc + (size_t)slot * maxLen * kvDim + kvh * hd;
    const float* vb = vc + (size_t)slot * maxLen * kvDim + kvh * hd;
    __syncthreads();
    const int last = maxPos;
    constexpr int KV_IT = (ATT_TK * ATT_MAXD / 4 + 255) / 256;   // float4s of a key (value) tile per thread
    const bool vecKV = (hd & 3) == 0;
    float4 kr[KV_IT], vr[KV_IT];
    if (vecKV && RPT == 2) att_load_kv<KV_IT>(kr, vr, kb, vb, kvDim, hd, 0, last, tid);
    for (int j0 = 0; j0 <= last; j0 += ATT_TK) {
        __syncthreads();   // the previous tile's K, V and P are consumed
        if (vecKV) {
            // 64-row tiles: this tile was loaded during the last one's work, the next is loaded during this one's (measured
            // 7 % faster at batch 32); 32-row tiles load each tile here (the registers held across the tile cost more)
            if (RPT == 1) att_load_kv<KV_IT>(kr, vr, kb, vb, kvDim, hd, j0, last, tid);
#pragma unroll
            for (int it = 0; it < KV_IT; it++) {
                const int e = (tid + it * 256) * 4, jj = e / hd, d = e % hd;
                if (e < ATT_TK * hd) {
                    float* k = ks + jj * (hd + 1) + d;
                    k[0] = kr[it].x; k[1] = kr[it].y; k[2] = kr[it].z; k[3] = kr[it].w;
                    *reinterpret_cast<float4*>(vs + jj * hd + d) = vr[it];
                }
            }
            if (RPT == 2) att_load_kv<KV_IT>(kr, vr, kb, vb, kvDim, hd, j0 + ATT_TK, last, tid);
        } else {
            for (int e = tid; e < ATT_TK * hd; e += blockDim.x) {
                const int jj = e / hd, d = e % hd, j = j0 + jj;
                float kv = 0.f, vv = 0.f;
                if (j <= last) { kv = kb[(size_t)j * kvDim + d]; vv = vb[(size_t)j * kvDim + d]; }
                ks[jj * (hd + 1) + d] = kv;
                vs[jj * hd + d] = vv;
            }
        }
        __syncthreads();
        float s[RPT][4];
#pragma unroll
        for (int r = 0; r < RPT; r++)
#pragma unroll
            for (int c = 0; c < 4; c++) s[r][c] = 0.f;
        const float* q0 = qs + rq * (hd + 1);
        const float* q1 = qs + (rq + 32 * (RPT - 1)) * (hd + 1);
        for (int d = 0; d < hd; d++) {
            const float a0 = q0[d], a1 = q1[d];
#pragma unroll
            for (int c = 0; c < 4; c++) {
                const float kv = ks[(cq + 8 * c) * (hd + 1) + d];
                s[0][c] = fmaf(a0, kv, s[0][c]);
                if (RPT == 2) s[RPT - 1][c] = fmaf(a1, kv, s[RPT - 1][c]);
            }
        }
#pragma unroll
        for (int i = 0; i < RPT; i++) {
            const int row = rq + 32 * i, p = rowP[row];
#pragma unroll
            for (int c = 0; c < 4; c++) {
                const int col = cq + 8 * c;
                ps[row * 33 + col] = j0 + col <= p ? s[i][c] : -INFINITY;
            }
        }
        __syncthreads();
        if ((tid >> 2) < ATT_TQ) {   // online softmax: 4 adjacent lanes per row, 8 columns each (whole warps idle past TQ)
            const int row = tid >> 2, part = tid & 3;
            float v[8], tmax = -INFINITY;
#pragma unroll
            for (int c = 0; c < 8; c++) { v[c] = ps[row * 33 + part * 8 + c]; tmax = fmaxf(tmax, v[c]); }
            tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, 1));
            tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, 2));
            const float mOld = rowM[row], mNew = fmaxf(mOld, tmax);
            float sum = 0.f, alpha = 1.f;
            if (mNew != -INFINITY) {
                alpha = mOld == -INFINITY ? 0.f : expf(mOld - mNew);
#pragma unroll
                for (int c = 0; c < 8; c++) { v[c] = v[c] == -INFINITY ? 0.f : expf(v[c] - mNew); sum += v[c]; }
            } else {
#pragma unroll
                for (int c = 0; c < 8; c++) v[c] = 0.f;
            }
#pragma unroll
            for (int c = 0; c < 8; c++) ps[row * 33 + part * 8 + c] = v[c];
            sum += __shfl_xor_sync(0xffffffffu, sum, 1);
            sum += __shfl_xor_sync(0xffffffffu, sum, 2);
            if (part == 0) {
                rowL[row] = rowL[row] * alpha + sum;
                rowM[row] = mNew;
                rowA[row] = alpha;
            }
        }
        __syncthreads();
        const float al0 = rowA[rq], al1 = rowA[rq + 32 * (RPT - 1)];
#pragma unroll
        for (int i = 0; i < ATT_MAXD / 8; i++) { acc[0][i] *= al0; if (RPT == 2) acc[RPT - 1][i] *= al1; }
        const int kmax = min(ATT_TK, last - j0 + 1);
        for (int jj = 0; jj < kmax; jj++) {
            const float p0 = ps[rq * 33 + jj], p1 = ps[(rq + 32 * (RPT - 1)) * 33 + jj];
            const float* vr = vs + jj * hd;
#pragma unroll
            for (int i = 0; i < ATT_MAXD / 8; i++) {
                const int d = cq + 8 * i;
                if (d < hd) {
                    const float vv = vr[d];
                    acc[0][i] = fmaf(p0, vv, acc[0][i]);
                    if (RPT == 2) acc[RPT - 1][i] = fmaf(p1, vv, acc[RPT - 1][i]);
                }
            }
        }
    }
    __syncthreads();
#pragma unroll
    for (int i = 0; i < RPT; i++) {
        const int row = rq + 32 * i;
        if (row >= cnt) continue;
        const float inv = 1.f / rowL[row];
        float* o = out + (size_t)(r0 + row) * ldo + h * hd;
#pragma unroll
        for (int k = 0; k < ATT_MAXD / 8; k++) {
            const int d = cq + 8 * k;
            if (d < hd) o[d] = acc[i][k] * inv;
        }
    }
}

#define ATT_KERNEL(D)                                                                                         \
    extern "C" __global__ void __launch_bounds__(256) attention_tiles_##D(                                    \
        const float* qkv, int ld, int n, const int* meta, const int* tiles, int heads, int kvHeads, int hd,   \
        const float* kc, const float* vc, int maxLen, float scale, float* out, int ldo) {                    \
        attention_tiles<D>(qkv, ld, n, meta, tiles, heads, kvHeads, hd, kc, vc, maxLen, scale, out, ldo);    \
    }                                                                                                         \
    extern "C" __global__ void __launch_bounds__(256) attention_tiles32_##D(                                  \
        const float* qkv, int ld, int n, const int* meta, const int* tiles, int heads, int kvHeads, int hd,   \
        const float* kc, const float* vc, int maxLen, float scale, float* out, int ldo) {                    \
        attention_tiles<D, 1>(qkv, ld, n, meta, tiles, heads, kvHeads, hd, kc, vc, maxLen, scale, out, ldo); \
    }

ATT_KERNEL(64)
ATT_KERNEL(128)
ATT_KERNEL(256)
