// Fathom CUDA kernels: the MLP activations by code (ModelConfig's activation as CudaModel passes it), shared by the
// main image (fathom_kernels.cu: the SBI-GEMM epilogues, rows_gated, rows_bias_act) and the sm_90a image
// (wgemm_sm90a.cu: the swapped prompt GEMM's gated epilogue), so both compute the same function.

#pragma once

#ifndef DEV
#define DEV __device__ __forceinline__
#endif

// 0 gelu (erf), 1 gelu (tanh approximation), 2 relu, anything else silu
DEV float activate(float x, int act) {
    switch (act) {
        case 0: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));                        // gelu (erf)
        case 1: return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x))); // gelu_tanh
        case 2: return x > 0.f ? x : 0.f;                                                              // relu
        default: return x / (1.0f + expf(-x));                                                         // silu
    }
}
