package dev.fathom.profiles.export;

import dev.fathom.profiles.ProfileException;

import java.util.List;

/**
 * Choices an export needs that a run profile does not hold.
 *
 * @param deepspeedVersion the DeepSpeed release the files are for (decides {@code aio} key names)
 * @param gpusPerNode      GPUs per host (0 = the hardware profile's device count)
 * @param hosts            host names for the hostfile (empty = {@code localhost} for one node, placeholders otherwise)
 * @param nvmePath         NVMe directory for ZeRO-Inference (null = the profile's {@code placement.nvmeDir})
 * @param kernelInject     use DeepSpeed's fused kernels where the model family has an injection policy
 * @param cudaGraph        ask for CUDA-graph capture (only possible with kernel injection and tp=1)
 * @param aioBlockSize     {@code aio.block_size} in bytes
 * @param aioQueueDepth    {@code aio.queue_depth}
 * @param aioThreads       the {@code aio} thread setting ({@code thread_count} / {@code intra_op_parallelism})
 * @param aioSingleSubmit  {@code aio.single_submit}
 * @param aioOverlapEvents {@code aio.overlap_events}
 * @param masterPort       first rendezvous port of the launcher
 * @param deploymentName   MII deployment name (null = derived from the model name)
 * @param prompt           the prompt the entry script sends
 */
public record ExportOptions(DeepSpeedVersion deepspeedVersion, int gpusPerNode, List<String> hosts, String nvmePath,
                            boolean kernelInject, boolean cudaGraph, int aioBlockSize, int aioQueueDepth, int aioThreads,
                            boolean aioSingleSubmit, boolean aioOverlapEvents, int masterPort, String deploymentName,
                            String prompt) {

    public ExportOptions {
        deepspeedVersion = deepspeedVersion == null ? DeepSpeedVersion.DEFAULT : deepspeedVersion;
        hosts = hosts == null ? List.of() : List.copyOf(hosts);
        for (String h : hosts) {
            if (h == null || !h.matches("[A-Za-z0-9._-]+")) {
                throw new ProfileException(null, null, "Host name '" + h + "' is not usable in a hostfile; use letters, digits, '.', '_' or '-'.");
            }
        }
        if (gpusPerNode < 0) throw bad("gpusPerNode must be 0 (from the hardware profile) or positive, found " + gpusPerNode);
        if (aioBlockSize <= 0) throw bad("aioBlockSize must be positive, found " + aioBlockSize);
        if (aioQueueDepth <= 0) throw bad("aioQueueDepth must be positive, found " + aioQueueDepth);
        if (aioThreads <= 0) throw bad("aioThreads must be positive, found " + aioThreads);
        if (masterPort <= 0 || masterPort > 65535) throw bad("masterPort must be a TCP port, found " + masterPort);
        prompt = prompt == null ? "DeepSpeed is" : prompt;
    }

    /** DeepSpeed 0.16.5, hosts from the hardware profile, kernel injection on, DeepSpeed's aio defaults. */
    public static ExportOptions defaults() {
        return new ExportOptions(DeepSpeedVersion.DEFAULT, 0, List.of(), null, true, false, 1 << 20, 8, 1,
                false, true, 29500, null, "DeepSpeed is");
    }

    public ExportOptions withDeepspeedVersion(String v) { return withDeepspeedVersion(DeepSpeedVersion.parse(v)); }
    public ExportOptions withDeepspeedVersion(DeepSpeedVersion v) { return new ExportOptions(v, gpusPerNode, hosts, nvmePath, kernelInject, cudaGraph, aioBlockSize, aioQueueDepth, aioThreads, aioSingleSubmit, aioOverlapEvents, masterPort, deploymentName, prompt); }
    public ExportOptions withGpusPerNode(int n) { return new ExportOptions(deepspeedVersion, n, hosts, nvmePath, kernelInject, cudaGraph, aioBlockSize, aioQueueDepth, aioThreads, aioSingleSubmit, aioOverlapEvents, masterPort, deploymentName, prompt); }
    public ExportOptions withHosts(List<String> h) { return new ExportOptions(deepspeedVersion, gpusPerNode, h, nvmePath, kernelInject, cudaGraph, aioBlockSize, aioQueueDepth, aioThreads, aioSingleSubmit, aioOverlapEvents, masterPort, deploymentName, prompt); }
    public ExportOptions withNvmePath(String p) { return new ExportOptions(deepspeedVersion, gpusPerNode, hosts, p, kernelInject, cudaGraph, aioBlockSize, aioQueueDepth, aioThreads, aioSingleSubmit, aioOverlapEvents, masterPort, deploymentName, prompt); }
    public ExportOptions withKernelInject(boolean k) { return new ExportOptions(deepspeedVersion, gpusPerNode, hosts, nvmePath, k, cudaGraph, aioBlockSize, aioQueueDepth, aioThreads, aioSingleSubmit, aioOverlapEvents, masterPort, deploymentName, prompt); }
    public ExportOptions withCudaGraph(boolean c) { return new ExportOptions(deepspeedVersion, gpusPerNode, hosts, nvmePath, kernelInject, c, aioBlockSize, aioQueueDepth, aioThreads, aioSingleSubmit, aioOverlapEvents, masterPort, deploymentName, prompt); }
    public ExportOptions withAio(int blockSize, int queueDepth, int threads, boolean singleSubmit, boolean overlapEvents) { return new ExportOptions(deepspeedVersion, gpusPerNode, hosts, nvmePath, kernelInject, cudaGraph, blockSize, queueDepth, threads, singleSubmit, overlapEvents, masterPort, deploymentName, prompt); }
    public ExportOptions withDeploymentName(String n) { return new ExportOptions(deepspeedVersion, gpusPerNode, hosts, nvmePath, kernelInject, cudaGraph, aioBlockSize, aioQueueDepth, aioThreads, aioSingleSubmit, aioOverlapEvents, masterPort, n, prompt); }
    public ExportOptions withPrompt(String p) { return new ExportOptions(deepspeedVersion, gpusPerNode, hosts, nvmePath, kernelInject, cudaGraph, aioBlockSize, aioQueueDepth, aioThreads, aioSingleSubmit, aioOverlapEvents, masterPort, deploymentName, p); }

    private static ProfileException bad(String s) { return new ProfileException(null, null, "Export option " + s + "."); }
}
