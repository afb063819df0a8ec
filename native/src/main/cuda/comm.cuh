// Tensor-parallel all-reduce over peer-mapped memory (GPUs of one host with P2P access, NVLink on the H200
// machines), for the small messages of a decode step (one hidden-state row per token: 16 KB in fp32 at
// h = 4096). Included at the end of fathom_kernels.cu; launched by dev.fathom.cuda.PeerAllReduce.
//
// Every rank owns, in its own device memory:
//   recv    [2 parities][tp senders][cap] floats  the partials the peers push here
//   flags   [TP_MAX_BLOCKS][tp senders] u32       the sequence number each sender last delivered, per block
//   counter [TP_MAX_BLOCKS] u32                   the last sequence number this rank's block b completed
// and a TpComm descriptor holding those pointers for every rank (peer pointers are valid here because each
// context has cuCtxEnablePeerAccess to the others; addresses are unified).
//
// One launch: block b takes a contiguous chunk of the n elements; seq = counter[b] + 1. It stores its chunk
// of the local partial into every peer's recv[seq & 1][rank] (P2P stores), fences at system scope, stores
// seq into the peer's flags[b][rank], spins until its own flags[b][p] reached seq for every peer p, then
// writes out = res + (bias + sum over ranks 0..tp-1 of the partials), the ranks' partials added in rank
// order so every rank computes the same bits. counter[b] = seq at the end. All state lives in device memory,
// so a CUDA graph of these launches replays correctly, and no host sync is needed per all-reduce.
//
// Why two parities are enough: a sender starts round seq+2 (same parity as seq) only after it saw the
// receiver's flag for seq+1, which the receiver set in a launch that follows, on its stream, the launch
// that read round seq. Why it cannot deadlock: block b only waits for block b of the peers; the grid is at
// most TP_MAX_BLOCKS (< the SM count), so all blocks of a launch are resident together, and each rank's
// stream reaches its launches independently of the others. A peer that never arrives (its host thread
// failed) trips a 10 s timeout that traps the kernel, so the host sees an error instead of a hang.

#define TP_MAX_RANKS 8
#define TP_MAX_BLOCKS 32

struct TpComm {
    int rank;
    int tp;
    unsigned* counter;                 // local [TP_MAX_BLOCKS]
    float* recv[TP_MAX_RANKS];         // recv buffer of each rank (peer-mapped pointers)
    unsigned* flags[TP_MAX_RANKS];     // flags of each rank (peer-mapped pointers)
};

DEV unsigned tp_load_acquire(const unsigned* p) {
    unsigned v;
    asm volatile("ld.acquire.sys.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
    return v;
}

DEV void tp_store_release(unsigned* p, unsigned v) {
    asm volatile("st.release.sys.global.u32 [%0], %1;" :: "l"(p), "r"(v) : "memory");
}

DEV unsigned long long tp_now_ns() {
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
}

// out[i] = res[i] + (bias[i % h] + sum_r part_r[i]) for i < n; res and bias may be null; out may equal res.
// cap = elements per (parity, sender) slot of recv; n <= cap. Grid: blocks <= TP_MAX_BLOCKS, any block size.
extern "C" __global__ void tp_allreduce(const TpComm* __restrict__ d, const float* part, float* out, const float* res,
                                        const float* bias, int h, long n, long cap) {
    const int rank = d->rank, tp = d->tp, b = blockIdx.x;
    __shared__ unsigned seqShared;
    if (threadIdx.x == 0) seqShared = d->counter[b] + 1;
    __syncthreads();
    const unsigned seq = seqShared;
    const int par = seq & 1;
    const bool vec = (n & 3) == 0 && (h & 3) == 0;
    long per = (n + gridDim.x - 1) / gridDim.x;
    per = (per + 3) & ~3L;
    const long lo = min(n, (long)b * per), hi = min(n, lo + per);

    // 1. push this rank's chunk to every peer
    for (int p = 0; p < tp; p++) {
        if (p == rank) continue;
        float* dst = d->recv[p] + ((long)par * tp + rank) * cap;
        if (vec) {
            for (long i = lo + 4 * threadIdx.x; i < hi; i += 4L * blockDim.x)
                *reinterpret_cast<float4*>(dst + i) = *reinterpret_cast<const float4*>(part + i);
        } else {
            for (long i = lo + threadIdx.x; i < hi; i += blockDim.x) dst[i] = part[i];
        }
    }
    __threadfence_system();
    __syncthreads();
    // 2. announce it, then wait for the peers' chunks of this block
    if (threadIdx.x < tp && threadIdx.x != rank) {
        tp_store_release(d->flags[threadIdx.x] + b * tp + rank, seq);
        const unsigned* mine = d->flags[rank] + b * tp + threadIdx.x;
        unsigned long long t0 = tp_now_ns();
        while ((int)(tp_load_acquire(mine) - seq) < 0) {
            if (tp_now_ns() - t0 > 10000000000ull) {   // 10 s: the peer never came
                printf("tp_allreduce: rank %d block %d waited 10 s for rank %d (seq %u)\n", rank, b, (int)threadIdx.x, seq);
                __trap();
            }
        }
    }
    __syncthreads();
    // 3. sum in rank order (identical bits on every rank), then bias, then the residual
    const float* mineRecv = d->recv[rank] + (long)par * tp * cap;
    if (vec) {
        for (long i = lo + 4 * threadIdx.x; i < hi; i += 4L * blockDim.x) {
            float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
            for (int r = 0; r < tp; r++) {
                float4 v = r == rank ? *reinterpret_cast<const float4*>(part + i)
                                     : __ldcg(reinterpret_cast<const float4*>(mineRecv + (long)r * cap + i));
                if (r == 0) acc = v;
                else { acc.x += v.x; acc.y += v.y; acc.z += v.z; acc.w += v.w; }
            }
            if (bias) {
                float4 bv = *reinterpret_cast<const float4*>(bias + i % h);
                acc.x += bv.x; acc.y += bv.y; acc.z += bv.z; acc.w += bv.w;
            }
            if (res) {
                float4 rv = *reinterpret_cast<const float4*>(res + i);
                acc.x = rv.x + acc.x; acc.y = rv.y + acc.y; acc.z = rv.z + acc.z; acc.w = rv.w + acc.w;
            }
            *reinterpret_cast<float4*>(out + i) = acc;
        }
    } else {
        for (long i = lo + threadIdx.x; i < hi; i += blockDim.x) {
            float acc = 0.f;
            for (int r = 0; r < tp; r++) {
                float v = r == rank ? part[i] : __ldcg(mineRecv + (long)r * cap + i);
                acc = r == 0 ? v : acc + v;
            }
            if (bias) acc += bias[i % h];
            if (res) acc = res[i] + acc;
            out[i] = acc;
        }
    }
    if (threadIdx.x == 0) d->counter[b] = seq;
}
