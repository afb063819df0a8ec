/** CUDA backend over the CUDA driver API (through the Foreign Function & Memory API) and Fathom's own kernels. */
module dev.fathom.cuda {
    requires dev.fathom.engine;
    requires com.fasterxml.jackson.databind; // StepTrace's Chrome trace of a decode step's blocks

    exports dev.fathom.cuda;

    provides dev.fathom.engine.backend.Backend with dev.fathom.cuda.CudaBackend;
}
