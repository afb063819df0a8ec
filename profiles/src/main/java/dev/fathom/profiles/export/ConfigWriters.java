package dev.fathom.profiles.export;

import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.fathom.profiles.JsonText;
import dev.fathom.profiles.Precision;
import dev.fathom.profiles.RunProfile.Tier;
import dev.fathom.profiles.export.Exporter.Ctx;

/**
 * Builds the three config documents. Key names are those of DeepSpeed's config classes:
 * {@code deepspeed/inference/config.py} (init_inference), {@code deepspeed/runtime/constants.py},
 * {@code deepspeed/runtime/zero/config.py}, {@code deepspeed/runtime/zero/offload_config.py} and
 * {@code deepspeed/runtime/swap_tensor/constants.py} (ZeRO-Inference), and DeepSpeed-MII's
 * {@code mii/config.py} ({@code MIIConfig}, {@code ModelConfig}).
 */
final class ConfigWriters {
    private ConfigWriters() {}

    /** {@code ds_inference_config.json} for {@code deepspeed.init_inference}. */
    static ObjectNode inference(Ctx c) {
        var par = c.p.parallel();
        Precision pr = c.precision();
        boolean covered = DeepSpeedFamilies.kernelInjection(c.m.family());
        boolean inject = c.opts.kernelInject() && covered;
        if (c.opts.kernelInject() && !covered) {
            c.warn("DeepSpeed's kernel injection has no policy for the '" + c.m.family() + "' family (it covers "
                    + String.join(", ", DeepSpeedFamilies.KERNEL_INJECTION) + "), so replace_with_kernel_inject is false "
                    + "and DeepSpeed splits the model with automatic tensor parallelism (AutoTP) and PyTorch kernels.");
        }
        if (pr == Precision.INT8 && !inject) {
            c.warn("INT8 in deepspeed.init_inference needs kernel injection, which is off for this model; "
                    + "the int8 dtype will not take effect.");
        }
        boolean graph = c.opts.cudaGraph();
        if (graph && par.tp() > 1) {
            c.warn("CUDA-graph capture was asked for, but DeepSpeed does not support it with tensor parallelism (tp="
                    + par.tp() + "); enable_cuda_graph is false.");
            graph = false;
        } else if (graph && !inject) {
            c.warn("CUDA-graph capture needs kernel injection, which is off for this model; enable_cuda_graph is false.");
            graph = false;
        }
        if (par.pp() > 1) {
            c.warn("deepspeed.init_inference has no pipeline-parallel inference schedule: the profile's pp=" + par.pp()
                    + " stages are dropped and each replica is split only by tp=" + par.tp() + " (" + par.tp()
                    + " GPU" + (par.tp() == 1 ? "" : "s") + " instead of " + par.tp() * par.pp() + ").");
        }
        if (par.dp() > 1) {
            c.mapping.add("init_inference builds a single tensor-parallel group, so dp=" + par.dp()
                    + " becomes " + par.dp() + " separate launches in launch.sh, one per replica, each on its own GPUs and port.");
        }
        ObjectNode o = JsonText.object();
        o.putObject("tensor_parallel").put("tp_size", par.tp());
        o.put("dtype", Ctx.dsDtype(pr));
        o.put("replace_with_kernel_inject", inject);
        o.put("enable_cuda_graph", graph);
        o.put("max_out_tokens", c.maxTokens());
        if (c.m.isMoe()) {
            ObjectNode moe = o.putObject("moe");
            moe.put("enabled", true);
            moe.put("ep_size", par.ep());
            moe.putArray("moe_experts").add(c.m.numExperts());
            moe.put("type", "standard");
            if (!"megatron".equals(c.m.family())) {
                c.warn("The moe section (ep_size=" + par.ep() + ") applies to DeepSpeed-MoE layers (Megatron-DeepSpeed "
                        + "checkpoints); a Hugging Face '" + c.m.family() + "' model is not converted to them, so its "
                        + "experts are not expert-parallel here; the mii target (FastGen) runs Mixtral-style MoE natively.");
            }
            if (par.ep() > 1) {
                c.mapping.add("The " + par.moeAllToAll() + " all-to-all choice has no DeepSpeed key; DeepSpeed-MoE uses its own exchange.");
            }
        }
        if (pr == Precision.INT8) {
            ObjectNode q = o.putObject("quant");
            q.put("enabled", true);
            ObjectNode w = q.putObject("weight");
            w.put("enabled", true);
            w.put("num_bits", 8);
        }
        return o;
    }

    /** {@code ds_config.json} for ZeRO-Inference (ZeRO stage 3 with parameter offload). */
    static ObjectNode zero(Ctx c) {
        var par = c.p.parallel();
        var pl = c.p.placement();
        Precision pr = c.precision();
        if (par.tp() > 1 || par.pp() > 1) {
            c.warn("ZeRO-Inference partitions weights across data-parallel ranks and has no tensor or pipeline "
                    + "parallelism: tp=" + par.tp() + " and pp=" + par.pp() + " are dropped and the export runs dp="
                    + par.dp() + " rank" + (par.dp() == 1 ? "" : "s") + ".");
        }
        if (pr == Precision.INT8) {
            c.warn("ZeRO-Inference's config has no int8 weight setting; the export runs "
                    + Ctx.dsDtype(c.loadPrecision()) + ".");
        }
        if (pl.kvCache() != Tier.DEVICE || pl.kvOffloadThreshold() > 0) {
            c.warn("KV-cache offload (KV cache on " + Ctx.tierName(pl.kvCache()) + ", threshold "
                    + pl.kvOffloadThreshold() + " bytes) has no DeepSpeed config key; the KV cache stays in GPU memory.");
        }
        Precision run = c.loadPrecision();
        long layer = c.m.parametersPerLayer();
        int elem = run == Precision.F32 ? 4 : 2;

        ObjectNode o = JsonText.object();
        o.putObject("fp16").put("enabled", run == Precision.F16);
        o.putObject("bf16").put("enabled", run == Precision.BF16);
        ObjectNode z = o.putObject("zero_optimization");
        z.put("stage", 3);
        z.put("stage3_prefetch_bucket_size", (long) pl.prefetch() * layer);
        z.put("stage3_param_persistence_threshold", c.m.hiddenSize());
        long live = pl.deviceMemory() > 0 ? pl.deviceMemory() / elem : (long) (pl.prefetch() + 1) * layer;
        z.put("stage3_max_live_parameters", live);
        ObjectNode off = z.putObject("offload_param");
        switch (pl.weights()) {
            case DEVICE -> {
                c.warn("The profile keeps weights on the device, so offload_param.device is none and ZeRO stage 3 only "
                        + "partitions them across the " + par.dp() + " GPU" + (par.dp() == 1 ? "" : "s") + "; choose host or nvme weights to stream them.");
                off.put("device", "none");
            }
            case HOST -> {
                off.put("device", "cpu");
                off.put("pin_memory", true);
            }
            case NVME -> {
                String path = c.opts.nvmePath() != null ? c.opts.nvmePath() : pl.nvmeDir();
                if (path == null || path.isBlank()) {
                    path = "/local_nvme";
                    c.warn("No NVMe directory is set, so nvme_path is the placeholder /local_nvme; point it at a directory on a local NVMe drive.");
                }
                off.put("device", "nvme");
                off.put("nvme_path", path);
                off.put("pin_memory", true);
                off.put("buffer_count", Math.max(5, pl.prefetch() + 2));
                off.put("buffer_size", roundUp(Math.max(100_000_000L, c.m.largestTensorElements()), 1 << 20));
                long inCpu = pl.hostMemory() > 0 ? pl.hostMemory() / elem : 1_000_000_000L;
                off.put("max_in_cpu", inCpu);
                c.mapping.add("aio thread setting `" + c.opts.deepspeedVersion().aioThreadKey() + "` is the name DeepSpeed "
                        + c.opts.deepspeedVersion() + " reads (`thread_count` before 0.16.4, `intra_op_parallelism` from 0.16.4).");
            }
        }
        if (pl.weights() != Tier.NVME && pl.hostMemory() > 0) {
            c.mapping.add("The host memory budget applies to NVMe offload only (max_in_cpu); with weights on "
                    + Ctx.tierName(pl.weights()) + " DeepSpeed holds all offloaded weights in host memory.");
        }
        if (pl.weights() == Tier.NVME) {
            ObjectNode aio = o.putObject("aio");
            aio.put("block_size", c.opts.aioBlockSize());
            aio.put("queue_depth", c.opts.aioQueueDepth());
            aio.put(c.opts.deepspeedVersion().aioThreadKey(), c.opts.aioThreads());
            aio.put("single_submit", c.opts.aioSingleSubmit());
            aio.put("overlap_events", c.opts.aioOverlapEvents());
        }
        o.put("train_batch_size", (long) c.p.batch() * par.dp());
        o.put("train_micro_batch_size_per_gpu", c.p.batch());
        o.put("gradient_accumulation_steps", 1);
        o.put("steps_per_print", 2000);
        o.put("wall_clock_breakdown", false);
        return o;
    }

    /** {@code mii_config.json} for {@code mii.serve(mii_config=...)}. */
    static ObjectNode mii(Ctx c) {
        var par = c.p.parallel();
        if (!DeepSpeedFamilies.fastGen(c.m.family())) {
            c.warn("DeepSpeed-MII's FastGen engine has no implementation for the '" + c.m.family() + "' family (it loads "
                    + String.join(", ", DeepSpeedFamilies.FASTGEN) + "); mii.serve will refuse this model, so use the deepspeed target.");
        }
        if (par.pp() > 1) {
            c.warn("DeepSpeed-MII has no pipeline parallelism: the profile's pp=" + par.pp() + " stages are dropped and each "
                    + "replica is split only by tensor_parallel=" + par.tp() + ".");
        }
        if (c.p.precision() != Precision.AUTO && c.precision() != c.m.precision()) {
            c.warn("DeepSpeed-MII has no dtype setting (FastGen runs the checkpoint's " + Ctx.dsDtype(c.m.precision())
                    + " weights), so precision " + c.p.precision().id() + " is not applied.");
        }
        ObjectNode o = JsonText.object();
        o.put("deployment_name", c.deploymentName());
        ObjectNode mc = o.putObject("model_config");
        mc.put("model_name_or_path", c.m.hfModel());
        mc.put("tensor_parallel", par.tp());
        mc.put("replica_num", par.dp());
        mc.put("max_length", c.maxTokens());
        mc.put("torch_dist_port", c.opts.masterPort());
        o.put("port_number", 50050);
        return o;
    }

    private static long roundUp(long v, long step) { return (v + step - 1) / step * step; }
}
