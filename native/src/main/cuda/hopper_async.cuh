// Fathom CUDA kernels: the sm_90 helpers (cluster barriers and distributed-shared-memory loads, mbarriers, TMA box
// loads) shared by splitk.cuh and tma.cuh (the 2..8-row decode GEMMs, in fathom_kernels.cu) and wgemm_sm90a.cu (the
// prompt GEMM on warpgroup MMA, its own image).

#pragma once

#include <stdint.h>
#include <cuda.h>   // CUtensorMap

#ifndef DEV
#define DEV __device__ __forceinline__
#endif

// Thread-block clusters (sm_90; a block barrier before): every thread of every block of the cluster arrives and waits,
// shared-memory writes before it visible to the cluster after it.
DEV void cluster_sync_all() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("barrier.cluster.arrive.release.aligned;\n\tbarrier.cluster.wait.acquire.aligned;" ::: "memory");
#else
    __syncthreads();
#endif
}

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
// the distributed-shared-memory address of shared address `p` in the block of cluster rank `rank`
DEV uint32_t cluster_addr(const void* p, int rank) {
    uint32_t r;
    asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(r) : "r"(static_cast<uint32_t>(__cvta_generic_to_shared(p))), "r"(rank));
    return r;
}
#endif
// reads the float at shared address `p` of the block of cluster rank `rank`
DEV float ld_cluster(const float* p, int rank) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    float v;
    asm volatile("ld.shared::cluster.f32 %0, [%1];" : "=f"(v) : "r"(cluster_addr(p, rank)) : "memory");
    return v;
#else
    return *p;
#endif
}
// the four floats at shared address `p` (16-byte aligned) of the block of cluster rank `rank`
DEV float4 ld_cluster4(const float* p, int rank) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    float4 v;
    asm volatile("ld.shared::cluster.v4.f32 {%0, %1, %2, %3}, [%4];" : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w) : "r"(cluster_addr(p, rank)) : "memory");
    return v;
#else
    return *reinterpret_cast<const float4*>(p);
#endif
}

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
DEV uint32_t smem_u32(const void* p) { return static_cast<uint32_t>(__cvta_generic_to_shared(p)); }
DEV void mbar_init(uint64_t* b, unsigned count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_u32(b)), "r"(count) : "memory");
}
DEV void mbar_expect_tx(uint64_t* b, unsigned bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_u32(b)), "r"(bytes) : "memory");
}
DEV void mbar_arrive(uint64_t* b) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(smem_u32(b)) : "memory");
}
DEV void mbar_wait(uint64_t* b, unsigned parity) {
    const uint32_t a = smem_u32(b);
    asm volatile(
        "{\n\t.reg .pred P;\n"
        "WAIT_%=:\n\t"
        "mbarrier.try_wait.parity.shared::cta.b64 P, [%0], %1;\n\t"
        "@!P bra WAIT_%=;\n}" ::"r"(a), "r"(parity) : "memory");
}
// one 2-D box of tensor map `map` at coordinates (c0 inner, c1 outer) into shared `dst`, completing on `bar`
DEV void tma_load_2d(void* dst, const CUtensorMap* map, int c0, int c1, uint64_t* bar) {
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];"
                 ::"r"(smem_u32(dst)), "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(smem_u32(bar)) : "memory");
}
DEV void ldmatrix_x4(uint4& a, uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(a.x), "=r"(a.y), "=r"(a.z), "=r"(a.w) : "r"(addr));
}
#endif
