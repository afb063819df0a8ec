// Fathom CUDA kernels: the sm_90 asynchronous-copy helpers (mbarriers and TMA box loads) shared by tma.cuh (the
// 2..8-row decode GEMMs, in fathom_kernels.cu) and wgemm_sm90a.cu (the prompt GEMM on warpgroup MMA, its own image).

#pragma once

#include <stdint.h>
#include <cuda.h>   // CUtensorMap

#ifndef DEV
#define DEV __device__ __forceinline__
#endif

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
