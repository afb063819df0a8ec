/** CUDA backend over the CUDA driver API (through the Foreign Function & Memory API) and Fathom's own kernels. */
module dev.fathom.cuda {
    requires dev.fathom.engine;
    requires com.fasterxml.jackson.databind; // StepTrace's Chrome trace of a decode step's blocks
    requires com.fasterxml.jackson.dataformat.csv; // GraphGaps reads Nsight Systems' kernel list (quoted C++ names with commas)

    exports dev.fathom.cuda;

    provides dev.fathom.engine.backend.Backend with dev.fathom.cuda.CudaBackend;
}
