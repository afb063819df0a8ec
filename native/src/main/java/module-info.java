/** CUDA backend over the CUDA driver API (JCuda) and Fathom's own kernels. */
module dev.fathom.cuda {
    requires dev.fathom.engine;
    requires jcuda;

    provides dev.fathom.engine.backend.Backend with dev.fathom.cuda.CudaBackend;
}
