// ------------------------------------------------------------------------------------------ prompt attention on tensor cores
// attention_mma_<HD> (HD = 16, 32, 64, 128): the prompt-phase attention of models with BF16 weights, whose prompt
// GEMMs already round their activations to bf16 for cuBLAS. Same parameters and output as attention_tiles_* (the fp32
// SIMT kernel F32 / F16 models keep), flash-attention style:
//  - grid (heads, query tiles), a warp per 16 query rows of the tile (blockDim = 32 * tile rows / 16);
//  - each warp keeps its rows of q as mma.m16n8k16 A fragments (bf16) in registers for the whole kernel;
//  - key and value tiles of ATTM_KT positions are copied from the cache (fp32, or bf16 in the _kb kernels) into
//    shared memory by cp.async
//    (zero-filled past the tile's last position), two buffers: tile t + 1 is in flight while tile t is used;
//  - S = q·kᵀ on tensor cores (bf16 inputs, fp32 sums), the causal mask per row, an online softmax in base 2 on the
//    accumulator fragments (rows reduced over the four lanes that share them), and O += P·V on tensor cores with P
//    taken straight from S's fragments (the m16n8 C layout of two key tiles is the A layout of one k step);
//  - O / l to out as fp32, or in the _kbo kernels (bf16 cache) as bf16: the output projection's cuBLAS / wgemm input,
//    without a rounding pass of its own (-Dfathom.cuda.ctxBf16).
// Shared memory: 2 x ATTM_KT x ((HD + 8) + (HD + 4)) floats, or 2 x ATTM_KT x 2 (HD + 8) bf16 (the paddings make the
// fragment loads of K and V bank-conflict free); see dev.fathom.cuda.AttentionLaunch#mmaSmem.
#define ATTM_KT 32


DEV uint32_t pack_bf16(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
}

// Shared-memory row strides (elements) of the staged key and value tiles: float32 cache HD + 8 / HD + 4, bf16 cache
// HD + 8 both (a 16-byte multiple per row; the fragment loads below stay bank-conflict free for HD = 16..128).
template <int HD, typename KT> struct AttmStride {
    static constexpr int K = HD + 8, V = sizeof(KT) == 2 ? HD + 8 : HD + 4;
};

template <int HD, typename KT>
DEV void attm_stage(KT* ks, KT* vs, const KT* __restrict__ kb, const KT* __restrict__ vb, int kvDim, int j0,
                    int last, int tid, int nt) {
    constexpr int KS = AttmStride<HD, KT>::K, VS = AttmStride<HD, KT>::V, E = 16 / sizeof(KT), VE = HD / E;
    for (int e = tid; e < ATTM_KT * VE; e += nt) {
        const int jj = e / VE, d = (e % VE) * E, j = j0 + jj;
        const bool ok = j <= last;
        const size_t off = ok ? (size_t)j * kvDim + d : 0;
        cp_async16_zfill(ks + jj * KS + d, kb + off, ok);
        cp_async16_zfill(vs + jj * VS + d, vb + off, ok);
    }
    cp_async_commit();
}

// mma B fragments from the staged tiles: two elements of a key row (k dims c, c + 1: one 32-bit word of a bf16 tile),
// and two value rows r, r + 1 at one dim (a stride of VS apart), packed as bf16 pairs (low half first).
DEV uint32_t attm_pair(const float* p) { const float2 v = *reinterpret_cast<const float2*>(p); return pack_bf16(v.x, v.y); }
DEV uint32_t attm_pair(const __nv_bfloat16* p) { return *reinterpret_cast<const uint32_t*>(p); }
DEV uint32_t attm_cols(const float* p, int stride) { return pack_bf16(p[0], p[stride]); }
DEV uint32_t attm_cols(const __nv_bfloat16* p, int stride) {
    const unsigned short* u = reinterpret_cast<const unsigned short*>(p);
    return (uint32_t)u[0] | ((uint32_t)u[stride] << 16);
}

// Two outputs of a row, o and o + 1: fp32, or bf16 rounded to nearest even.
DEV void attm_out2(float* p, float a, float b) { *reinterpret_cast<float2*>(p) = make_float2(a, b); }
DEV void attm_out2(__nv_bfloat16* p, float a, float b) { *reinterpret_cast<__nv_bfloat162*>(p) = __floats2bfloat162_rn(a, b); }

template <int HD, typename KT, typename OT = float>
DEV void attention_mma(const float* __restrict__ qkv, int ld, int n, const int* __restrict__ meta, const int* __restrict__ tiles,
                       int heads, int kvHeads, const KT* __restrict__ kc, const KT* __restrict__ vc, int maxLen,
                       float scale, OT* __restrict__ out, int ldo) {
    constexpr int KS = AttmStride<HD, KT>::K, VS = AttmStride<HD, KT>::V, KK = HD / 16, NT = HD / 8;
    extern __shared__ float4 attm_smem4[];
    KT* kbuf = reinterpret_cast<KT*>(attm_smem4);   // [2][KT][KS]
    KT* vbuf = kbuf + 2 * ATTM_KT * KS;             // [2][KT][VS]
    __shared__ int lastPos;
    const int h = blockIdx.x, tile = blockIdx.y, tid = threadIdx.x, nthreads = blockDim.x;
    const int warp = tid >> 5, lane = tid & 31, g = lane >> 2, q = lane & 3;
    const int r0 = tiles[2 * tile], cnt = tiles[2 * tile + 1];
    const int slot = meta[2 * n + r0];
    const int kvh = h / (heads / kvHeads), kvDim = kvHeads * HD;
    const int ra = warp * 16 + g, rb = ra + 8;   // this lane's two query rows (of the tile)
    const int pa = ra < cnt ? meta[n + r0 + ra] : -1, pb = rb < cnt ? meta[n + r0 + rb] : -1;
    int wl = max(pa, pb);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) wl = max(wl, __shfl_xor_sync(0xffffffffu, wl, o));
    if (tid == 0) lastPos = -1;
    __syncthreads();
    if (lane == 0 && wl >= 0) atomicMax(&lastPos, wl);
    const KT* kb = kc + (size_t)slot * maxLen * kvDim + kvh * HD;
    const KT* vb = vc + (size_t)slot * maxLen * kvDim + kvh * HD;
    // q fragments of rows ra / rb (zeros for rows past the tile)
    uint4 qf[KK];
    {
        const float* qa = qkv + (size_t)(r0 + ra) * ld + h * HD;
        const float* qb = qkv + (size_t)(r0 + rb) * ld + h * HD;
        const float2 z = make_float2(0.f, 0.f);
#pragma unroll
        for (int kk = 0; kk < KK; kk++) {
            const int c0 = 16 * kk + 2 * q;
            const float2 a0 = pa >= 0 ? *reinterpret_cast<const float2*>(qa + c0) : z;
            const float2 a1 = pb >= 0 ? *reinterpret_cast<const float2*>(qb + c0) : z;
            const float2 a2 = pa >= 0 ? *reinterpret_cast<const float2*>(qa + c0 + 8) : z;
            const float2 a3 = pb >= 0 ? *reinterpret_cast<const float2*>(qb + c0 + 8) : z;
            qf[kk] = make_uint4(pack_bf16(a0.x, a0.y), pack_bf16(a1.x, a1.y), pack_bf16(a2.x, a2.y), pack_bf16(a3.x, a3.y));
        }
    }
    __syncthreads();
    const int last = lastPos;
    const float sl2 = scale * 1.4426950408889634f;   // scores in base 2
    float o[NT][4];
#pragma unroll
    for (int i = 0; i < NT; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
    float ma = -INFINITY, mb = -INFINITY, la = 0.f, lb = 0.f;   // running max (base 2) and this lane's part of the sum
    if (last >= 0) attm_stage<HD, KT>(kbuf, vbuf, kb, vb, kvDim, 0, last, tid, nthreads);
    for (int j0 = 0, t = 0; j0 <= last; j0 += ATTM_KT, t++) {
        const int cur = t & 1;
        if (j0 + ATTM_KT <= last) {   // the next tile into the other buffer (freed by the barrier at the end of the last step)
            attm_stage<HD, KT>(kbuf + (cur ^ 1) * ATTM_KT * KS, vbuf + (cur ^ 1) * ATTM_KT * VS, kb, vb, kvDim, j0 + ATTM_KT, last, tid, nthreads);
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        if (j0 <= wl) {   // keys this warp's rows can see
            const KT* ks = kbuf + cur * ATTM_KT * KS;
            const KT* vs = vbuf + cur * ATTM_KT * VS;
            float s[ATTM_KT / 8][4];
#pragma unroll
            for (int jt = 0; jt < ATTM_KT / 8; jt++) {
                s[jt][0] = s[jt][1] = s[jt][2] = s[jt][3] = 0.f;
                const KT* kr = ks + (8 * jt + g) * KS + 2 * q;
#pragma unroll
                for (int kk = 0; kk < KK; kk++) mma_bf16(s[jt], qf[kk], attm_pair(kr + 16 * kk), attm_pair(kr + 16 * kk + 8));
            }
            float xa = -INFINITY, xb = -INFINITY;
#pragma unroll
            for (int jt = 0; jt < ATTM_KT / 8; jt++) {
                const int j = j0 + 8 * jt + 2 * q;
                s[jt][0] = j <= pa ? s[jt][0] * sl2 : -INFINITY;
                s[jt][1] = j + 1 <= pa ? s[jt][1] * sl2 : -INFINITY;
                s[jt][2] = j <= pb ? s[jt][2] * sl2 : -INFINITY;
                s[jt][3] = j + 1 <= pb ? s[jt][3] * sl2 : -INFINITY;
                xa = fmaxf(xa, fmaxf(s[jt][0], s[jt][1]));
                xb = fmaxf(xb, fmaxf(s[jt][2], s[jt][3]));
            }
            xa = fmaxf(xa, __shfl_xor_sync(0xffffffffu, xa, 1));
            xa = fmaxf(xa, __shfl_xor_sync(0xffffffffu, xa, 2));
            xb = fmaxf(xb, __shfl_xor_sync(0xffffffffu, xb, 1));
            xb = fmaxf(xb, __shfl_xor_sync(0xffffffffu, xb, 2));
            const float na = fmaxf(ma, xa), nb = fmaxf(mb, xb);
            const float aa = na == -INFINITY ? 1.f : exp2f(ma - na), ab = nb == -INFINITY ? 1.f : exp2f(mb - nb);
            ma = na;
            mb = nb;
            float sa = 0.f, sb = 0.f;
#pragma unroll
            for (int jt = 0; jt < ATTM_KT / 8; jt++) {
                s[jt][0] = s[jt][0] == -INFINITY ? 0.f : exp2f(s[jt][0] - na);
                s[jt][1] = s[jt][1] == -INFINITY ? 0.f : exp2f(s[jt][1] - na);
                s[jt][2] = s[jt][2] == -INFINITY ? 0.f : exp2f(s[jt][2] - nb);
                s[jt][3] = s[jt][3] == -INFINITY ? 0.f : exp2f(s[jt][3] - nb);
                sa += s[jt][0] + s[jt][1];
                sb += s[jt][2] + s[jt][3];
            }
            la = la * aa + sa;
            lb = lb * ab + sb;
#pragma unroll
            for (int i = 0; i < NT; i++) { o[i][0] *= aa; o[i][1] *= aa; o[i][2] *= ab; o[i][3] *= ab; }
#pragma unroll
            for (int k2 = 0; k2 < ATTM_KT / 16; k2++) {
                const uint4 pf = make_uint4(pack_bf16(s[2 * k2][0], s[2 * k2][1]), pack_bf16(s[2 * k2][2], s[2 * k2][3]),
                                            pack_bf16(s[2 * k2 + 1][0], s[2 * k2 + 1][1]), pack_bf16(s[2 * k2 + 1][2], s[2 * k2 + 1][3]));
                const KT* v0 = vs + (16 * k2 + 2 * q) * VS + g;
#pragma unroll
                for (int i = 0; i < NT; i++) {
                    const KT* vp = v0 + 8 * i;
                    mma_bf16(o[i], pf, attm_cols(vp, VS), attm_cols(vp + 8 * VS, VS));
                }
            }
        }
        __syncthreads();   // this buffer is refilled by the next step's stage
    }
    la += __shfl_xor_sync(0xffffffffu, la, 1);
    la += __shfl_xor_sync(0xffffffffu, la, 2);
    lb += __shfl_xor_sync(0xffffffffu, lb, 1);
    lb += __shfl_xor_sync(0xffffffffu, lb, 2);
    const float ia = la > 0.f ? 1.f / la : 0.f, ib = lb > 0.f ? 1.f / lb : 0.f;
    OT* oa = out + (size_t)(r0 + ra) * ldo + h * HD + 2 * q;
    OT* ob = out + (size_t)(r0 + rb) * ldo + h * HD + 2 * q;
#pragma unroll
    for (int i = 0; i < NT; i++) {
        if (ra < cnt) attm_out2(oa + 8 * i, o[i][0] * ia, o[i][1] * ia);
        if (rb < cnt) attm_out2(ob + 8 * i, o[i][2] * ib, o[i][3] * ib);
    }
}

#define ATTM_KERNEL(NAME, D, KT, OT)                                                                          \
    extern "C" __global__ void __launch_bounds__(128) NAME(                                                   \
        const float* qkv, int ld, int n, const int* meta, const int* tiles, int heads, int kvHeads, int hd,   \
        const KT* kc, const KT* vc, int maxLen, float scale, OT* out, int ldo) {                             \
        attention_mma<D, KT, OT>(qkv, ld, n, meta, tiles, heads, kvHeads, kc, vc, maxLen, scale, out, ldo);  \
    }
ATTM_KERNEL(attention_mma_16, 16, float, float)
ATTM_KERNEL(attention_mma_32, 32, float, float)
ATTM_KERNEL(attention_mma_64, 64, float, float)
ATTM_KERNEL(attention_mma_128, 128, float, float)
ATTM_KERNEL(attention_mma_kb_16, 16, __nv_bfloat16, float)   // bf16 cache
ATTM_KERNEL(attention_mma_kb_32, 32, __nv_bfloat16, float)
ATTM_KERNEL(attention_mma_kb_64, 64, __nv_bfloat16, float)
ATTM_KERNEL(attention_mma_kb_128, 128, __nv_bfloat16, float)
ATTM_KERNEL(attention_mma_kbo_16, 16, __nv_bfloat16, __nv_bfloat16)   // bf16 cache, bf16 output
ATTM_KERNEL(attention_mma_kbo_32, 32, __nv_bfloat16, __nv_bfloat16)
ATTM_KERNEL(attention_mma_kbo_64, 64, __nv_bfloat16, __nv_bfloat16)
ATTM_KERNEL(attention_mma_kbo_128, 128, __nv_bfloat16, __nv_bfloat16)
