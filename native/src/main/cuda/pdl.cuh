// Fathom CUDA kernels: programmatic dependent launch (sm_90), shared by the main image and the sm_90a image.
// Each kernel lets the next one on the stream be scheduled early (trigger, at its start) and waits for the previous
// one's results where it first needs them (wait, after its first weight loads are in flight in the GEMMs), so a
// kernel's launch and weight streaming overlap the tail of the one before (decode steps; the prompt's wgemmt with
// -Dfathom.cuda.wgemmPdl). Both are no-ops for a kernel not launched that way, and before sm_90.

#pragma once

#ifndef DEV
#define DEV __device__ __forceinline__
#endif

DEV void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
DEV void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
