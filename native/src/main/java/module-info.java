/** CUDA backend over the CUDA driver API (through the Foreign Function & Memory API) and Fathom's own kernels. */
module dev.fathom.cuda {
    requires dev.fathom.engine;

    exports dev.fathom.cuda;

    provides dev.fathom.engine.backend.Backend with dev.fathom.cuda.CudaBackend;
}
