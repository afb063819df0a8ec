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
    unsigned* llCounter;               // local [2]: launches done, blocks done in the current launch (tp_allreduce_ll)
    float* llRecv[TP_MAX_RANKS];       // tp_allreduce_ll receive buffers of each rank: [3][tp][cap], idle slots = sentinel
};


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
        store_release_sys(d->flags[threadIdx.x] + b * tp + rank, seq);
        const unsigned* mine = d->flags[rank] + b * tp + threadIdx.x;
        unsigned long long t0 = tp_now_ns();
        while ((int)(load_acquire_sys(mine) - seq) < 0) {
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

// ------------------------------------------------------------------------------------------ one-shot, flag-free
// tp_allreduce_ll: the data is its own flag (the "Lamport" form). Every idle float of llRecv holds the sentinel
// 0x80000000 (-0.0f); a sender turns -0.0 into +0.0 (same sum) and stores its rows straight into the peers'
// llRecv[seq % 3][rank]; the receiver polls each of its elements until no lane holds the sentinel, sums, and
// writes the sentinel back. No fence and no separate flag round trip: one NVLink store latency per all-reduce.
// Rows are whole per block (block b owns rows b, b + grid, ...), so the block can also apply the norm that
// follows the residual add (xn = norm(out row) with nw/nb), saving that kernel: pass nw = null to skip it.
// Three buffers: a sender writes buffer k again three launches later, after two launches in which it polled
// data the receiver pushed only after finishing (and resetting) its read of buffer k.
// Grid = min(rows, TP_MAX_BLOCKS) (all resident); each block pushes all its rows before it polls any.

#define TP_SENTINEL 0x80000000u

DEV float tp_unneg0(float v) { return __fadd_rn(v, 0.f); }   // -0.0 -> +0.0, every other value unchanged

DEV bool tp_ready(float4 v) {
    return __float_as_uint(v.x) != TP_SENTINEL && __float_as_uint(v.y) != TP_SENTINEL
        && __float_as_uint(v.z) != TP_SENTINEL && __float_as_uint(v.w) != TP_SENTINEL;
}

// The pollers' watchdog: every 1024 polls, trap once a wait on a peer has lasted 10 s (a rank that never came).
DEV void tp_watchdog(int it, unsigned long long& t0, int rank, int from) {
    if ((it & 1023) != 0) return;
    const unsigned long long t = tp_now_ns();
    if (t0 == 0) t0 = t;
    else if (t - t0 > 10000000000ull) {
        printf("tp_allreduce_ll: rank %d waited 10 s for rank %d\n", rank, from);
        __trap();
    }
}

DEV float4 tp_poll4(const float* p, int rank, int from) {
    float4 v;
    unsigned long long t0 = 0;
    for (int it = 0;; it++) {
        asm volatile("ld.volatile.global.v4.f32 {%0, %1, %2, %3}, [%4];" : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w) : "l"(p) : "memory");
        if (tp_ready(v)) return v;
        tp_watchdog(it, t0, rank, from);
    }
}

DEV float tp_poll1(const float* p, int rank, int from) {
    float v;
    unsigned long long t0 = 0;
    for (int it = 0;; it++) {
        asm volatile("ld.volatile.global.f32 %0, [%1];" : "=f"(v) : "l"(p) : "memory");
        if (__float_as_uint(v) != TP_SENTINEL) return v;
        tp_watchdog(it, t0, rank, from);
    }
}

// (block sums: block_sum of fathom_kernels.cu, which includes this file after defining it)

// out[row] = res[row] + (bias + sum_r part_r[row]) for rows [0, rows) of h floats; then, when nw != null,
// xn[row] = norm(out[row]) (rms: x * rsqrt(mean x^2 + eps) * nw; else (x - mean) * rstd * nw + nb).
// res, bias, nb may be null; out may equal res. Block size: a multiple of 32, at most 1024.
extern "C" __global__ void tp_allreduce_ll(const TpComm* __restrict__ d, const float* part, float* out, const float* res,
                                           const float* bias, int h, int rows, long cap,
                                           const float* nw, const float* nb, float* xn, float eps, int rms) {
    __shared__ float sh[32];
    __shared__ unsigned seqShared;
    const int rank = d->rank, tp = d->tp;
    if (threadIdx.x == 0) seqShared = d->llCounter[0];
    __syncthreads();
    const int buf = seqShared % 3;
    const bool vec = (h & 3) == 0;
    // 1. push every row this block owns to every peer
    for (int row = blockIdx.x; row < rows; row += gridDim.x) {
        const float* src = part + (long)row * h;
        for (int p = 0; p < tp; p++) {
            if (p == rank) continue;
            float* dst = d->llRecv[p] + ((long)buf * tp + rank) * cap + (long)row * h;
            if (vec) {
                for (int i = 4 * threadIdx.x; i < h; i += 4 * blockDim.x) {
                    float4 v = *reinterpret_cast<const float4*>(src + i);
                    v.x = tp_unneg0(v.x); v.y = tp_unneg0(v.y); v.z = tp_unneg0(v.z); v.w = tp_unneg0(v.w);
                    __stcg(reinterpret_cast<float4*>(dst + i), v);
                }
            } else {
                for (int i = threadIdx.x; i < h; i += blockDim.x) __stcg(dst + i, tp_unneg0(src[i]));
            }
        }
    }
    // 2. per row: poll the peers' rows, sum in rank order, bias, residual; reset the slots; then the norm
    float* mine = d->llRecv[rank] + (long)buf * tp * cap;
    for (int row = blockIdx.x; row < rows; row += gridDim.x) {
        const long o = (long)row * h;
        float s1 = 0.f, s2 = 0.f;
        if (vec) {
            for (int i = 4 * threadIdx.x; i < h; i += 4 * blockDim.x) {
                float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
                for (int r = 0; r < tp; r++) {
                    float4 v;
                    if (r == rank) v = *reinterpret_cast<const float4*>(part + o + i);
                    else {
                        float* q = mine + (long)r * cap + o + i;
                        v = tp_poll4(q, rank, r);
                        const float sn = __uint_as_float(TP_SENTINEL);
                        *reinterpret_cast<float4*>(q) = make_float4(sn, sn, sn, sn);
                    }
                    if (r == 0) acc = v;
                    else { acc.x += v.x; acc.y += v.y; acc.z += v.z; acc.w += v.w; }
                }
                if (bias) {
                    float4 bv = *reinterpret_cast<const float4*>(bias + i);
                    acc.x += bv.x; acc.y += bv.y; acc.z += bv.z; acc.w += bv.w;
                }
                if (res) {
                    float4 rv = *reinterpret_cast<const float4*>(res + o + i);
                    acc.x = rv.x + acc.x; acc.y = rv.y + acc.y; acc.z = rv.z + acc.z; acc.w = rv.w + acc.w;
                }
                *reinterpret_cast<float4*>(out + o + i) = acc;
                if (rms) s1 += acc.x * acc.x + acc.y * acc.y + acc.z * acc.z + acc.w * acc.w;
                else s1 += acc.x + acc.y + acc.z + acc.w;
            }
        } else {
            for (int i = threadIdx.x; i < h; i += blockDim.x) {
                float acc = 0.f;
                for (int r = 0; r < tp; r++) {
                    float v;
                    if (r == rank) v = part[o + i];
                    else {
                        float* q = mine + (long)r * cap + o + i;
                        v = tp_poll1(q, rank, r);
                        *q = __uint_as_float(TP_SENTINEL);
                    }
                    acc = r == 0 ? v : acc + v;
                }
                if (bias) acc += bias[i];
                if (res) acc = res[o + i] + acc;
                out[o + i] = acc;
                s1 += rms ? acc * acc : acc;
            }
        }
        if (nw) {
            // each thread re-reads only the elements it wrote itself, so no barrier is needed before the sums
            float mean = 0.f, inv;
            if (rms) {
                inv = rsqrtf(block_sum(s1, sh) / h + eps);
            } else {
                mean = block_sum(s1, sh) / h;
                if (vec) {
                    for (int i = 4 * threadIdx.x; i < h; i += 4 * blockDim.x) {
                        float4 v = *reinterpret_cast<const float4*>(out + o + i);
                        float a = v.x - mean, b = v.y - mean, c = v.z - mean, e = v.w - mean;
                        s2 += a * a + b * b + c * c + e * e;
                    }
                } else {
                    for (int i = threadIdx.x; i < h; i += blockDim.x) { float a = out[o + i] - mean; s2 += a * a; }
                }
                inv = rsqrtf(block_sum(s2, sh) / h + eps);
            }
            if (vec) {
                for (int i = 4 * threadIdx.x; i < h; i += 4 * blockDim.x) {
                    float4 v = *reinterpret_cast<const float4*>(out + o + i);
                    float4 w = *reinterpret_cast<const float4*>(nw + i);
                    float4 y = make_float4((v.x - mean) * inv * w.x, (v.y - mean) * inv * w.y, (v.z - mean) * inv * w.z, (v.w - mean) * inv * w.w);
                    if (nb) {
                        float4 b = *reinterpret_cast<const float4*>(nb + i);
                        y.x += b.x; y.y += b.y; y.z += b.z; y.w += b.w;
                    }
                    *reinterpret_cast<float4*>(xn + o + i) = y;
                }
            } else {
                for (int i = threadIdx.x; i < h; i += blockDim.x) {
                    float y = (out[o + i] - mean) * inv * nw[i];
                    if (nb) y += nb[i];
                    xn[o + i] = y;
                }
            }
            __syncthreads();   // sh is reused by the next row's sums
        }
    }
    // 3. the last block to finish advances the launch counter (read by the next launch, after this one ends)
    if (threadIdx.x == 0) {
        __threadfence();
        unsigned prev = atomicAdd(d->llCounter + 1, 1u);
        if (prev == gridDim.x - 1) {
            d->llCounter[1] = 0;
            d->llCounter[0] = seqShared + 1;
        }
    }
}
