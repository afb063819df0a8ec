package dev.fathom.profiles.export;

import com.fasterxml.jackson.databind.JsonNode;

import dev.fathom.profiles.HardwarePresets;
import dev.fathom.profiles.HardwareProfile;
import dev.fathom.profiles.JsonText;
import dev.fathom.profiles.Precision;
import dev.fathom.profiles.RunProfile;
import dev.fathom.profiles.RunProfile.Placement;
import dev.fathom.profiles.RunProfile.Tier;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every key an export writes is one that DeepSpeed's (or DeepSpeed-MII's) config classes define.
 * The allowed names below were read from the sources (field names and their aliases):
 *
 * <ul>
 *   <li>microsoft/DeepSpeed {@code deepspeed/inference/config.py}: {@code DeepSpeedInferenceConfig},
 *       {@code DeepSpeedTPConfig}, {@code DeepSpeedMoEConfig}, {@code QuantizationConfig},
 *       {@code WeightQuantConfig}/{@code BaseQuantConfig};</li>
 *   <li>{@code deepspeed/runtime/constants.py}: top-level batch, precision and logging keys;</li>
 *   <li>{@code deepspeed/runtime/zero/config.py}: {@code DeepSpeedZeroConfig} (with its
 *       {@code stage3_*} aliases);</li>
 *   <li>{@code deepspeed/runtime/zero/offload_config.py}: {@code DeepSpeedZeroOffloadParamConfig};</li>
 *   <li>{@code deepspeed/runtime/swap_tensor/constants.py} and {@code aio_config.py}: the {@code aio}
 *       keys, with {@code thread_count} before 0.16.4 and {@code intra_op_parallelism} from 0.16.4
 *       (PR #7056);</li>
 *   <li>microsoft/DeepSpeed-MII {@code mii/config.py}: {@code MIIConfig} and {@code ModelConfig}.</li>
 * </ul>
 */
class DeepSpeedKeysTest {

    static final Set<String> INFERENCE_TOP = Set.of("replace_with_kernel_inject", "kernel_inject", "dtype",
            "tensor_parallel", "tp", "enable_cuda_graph", "use_triton", "triton_autotune", "zero", "triangular_masking",
            "tm", "moe", "quant", "checkpoint", "base_dir", "set_empty_params", "save_mp_checkpoint_path",
            "checkpoint_config", "ckpt_config", "return_tuple", "training_mp_size", "replace_method", "injection_policy",
            "injection_dict", "injection_policy_tuple", "config", "args", "max_out_tokens", "max_tokens",
            "min_out_tokens", "min_tokens", "transposed_mode", "mp_size", "mpu", "ep_size", "ep_group", "expert_group",
            "ep_mp_group", "expert_mp_group", "moe_experts", "moe_type", "tp_grain_size");
    static final Set<String> TP = Set.of("enabled", "tp_size", "mpu", "tp_group");
    static final Set<String> MOE = Set.of("enabled", "ep_size", "moe_experts", "num_experts", "type", "ep_mp_group",
            "ep_group", "expert_group");
    static final Set<String> QUANT = Set.of("enabled", "activation", "weight", "qkv");
    static final Set<String> QUANT_WEIGHT = Set.of("enabled", "num_bits", "q_type", "q_groups",
            "quantized_initialization", "post_init_quant");

    static final Set<String> DS_TOP = Set.of("train_batch_size", "train_micro_batch_size_per_gpu",
            "gradient_accumulation_steps", "steps_per_print", "wall_clock_breakdown", "memory_breakdown", "fp16",
            "bf16", "zero_optimization", "aio");
    static final Set<String> ENABLED = Set.of("enabled", "loss_scale", "initial_scale_power", "loss_scale_window",
            "hysteresis", "min_loss_scale");
    static final Set<String> ZERO = Set.of("stage", "contiguous_gradients", "reduce_scatter", "reduce_bucket_size",
            "use_multi_rank_bucket_allreduce", "allgather_partitions", "allgather_bucket_size", "overlap_comm",
            "load_from_fp32_weights", "elastic_checkpoint", "offload_param", "offload_optimizer", "sub_group_size",
            "prefetch_bucket_size", "stage3_prefetch_bucket_size", "param_persistence_threshold",
            "stage3_param_persistence_threshold", "model_persistence_threshold", "stage3_model_persistence_threshold",
            "max_live_parameters", "stage3_max_live_parameters", "max_reuse_distance", "stage3_max_reuse_distance",
            "gather_16bit_weights_on_model_save", "stage3_gather_16bit_weights_on_model_save",
            "ignore_unused_parameters", "round_robin_gradients", "zero_hpz_partition_size", "zero_quantized_weights",
            "zero_quantized_nontrainable_weights", "zero_quantized_gradients", "memory_efficient_linear",
            "override_module_apply");
    static final Set<String> OFFLOAD_PARAM = Set.of("device", "nvme_path", "buffer_count", "buffer_size",
            "max_in_cpu", "pin_memory");
    static final Set<String> OFFLOAD_DEVICES = Set.of("none", "cpu", "nvme");
    static final Set<String> AIO_BEFORE_0_16_4 = Set.of("block_size", "queue_depth", "thread_count", "single_submit",
            "overlap_events", "use_gds");
    static final Set<String> AIO_FROM_0_16_4 = Set.of("io_backend", "block_size", "queue_depth",
            "intra_op_parallelism", "single_submit", "overlap_events", "use_gds");

    static final Set<String> MII_TOP = Set.of("deployment_name", "deployment_type", "model_config", "port_number",
            "enable_restful_api", "restful_api_host", "restful_api_port", "restful_processes", "hostfile", "version",
            "instance_type");
    static final Set<String> MII_MODEL = Set.of("model_name_or_path", "tokenizer", "task", "tensor_parallel",
            "quantization_mode", "inference_engine_config", "torch_dist_port", "zmq_port_number", "replica_num",
            "replica_configs", "device_map", "max_length", "sync_debug", "profile_model_time");

    /** Allowed keys per JSON path of an object ("$" is the root). */
    static Map<String, Set<String>> schema(Target t, DeepSpeedVersion v) {
        return switch (t) {
            case DEEPSPEED -> Map.of("$", INFERENCE_TOP, "$.tensor_parallel", TP, "$.moe", MOE, "$.quant", QUANT,
                    "$.quant.weight", QUANT_WEIGHT);
            case ZERO_INFERENCE -> Map.of("$", DS_TOP, "$.fp16", ENABLED, "$.bf16", Set.of("enabled"),
                    "$.zero_optimization", ZERO, "$.zero_optimization.offload_param", OFFLOAD_PARAM,
                    "$.aio", v.usesIntraOpParallelism() ? AIO_FROM_0_16_4 : AIO_BEFORE_0_16_4);
            case MII -> Map.of("$", MII_TOP, "$.model_config", MII_MODEL);
        };
    }

    static void walk(JsonNode node, String path, Map<String, Set<String>> schema, List<String> bad) {
        if (!node.isObject()) return;
        Set<String> allowed = schema.get(path);
        for (var it = node.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (allowed == null || !allowed.contains(k)) bad.add(path + "." + k);
            walk(node.get(k), path + "." + k, schema, bad);
        }
    }

    static List<RunProfile> profiles() {
        List<RunProfile> out = new ArrayList<>();
        for (Precision pr : Precision.values()) {
            for (Tier w : Tier.values()) {
                for (RunProfile.Parallelism par : List.of(Fixtures.par(1, 1, 1, 1), Fixtures.par(2, 2, 2, 2),
                        new RunProfile.Parallelism(4, 1, 1, 3, 3, 1, "baseline"))) {
                    out.add(Fixtures.profile("m", pr, 2, 64, 16, par,
                            new Placement(w, Tier.HOST, w == Tier.NVME ? "/nvme" : null, 1, 1L << 34, 1L << 35, 1L << 30)));
                }
            }
        }
        return out;
    }

    @Test
    void everyWrittenKeyIsDefinedByDeepSpeed() {
        int checked = 0;
        List<ExportModel> models = List.of(Fixtures.LLAMA_7B, Fixtures.MIXTRAL, Fixtures.OPT_30B, Fixtures.GPT2, Fixtures.NEOX);
        List<HardwareProfile> hws = List.of(HardwarePresets.A100_40GB, HardwarePresets.H200);
        for (String version : List.of("0.14.0", "0.16.3", "0.16.4", "0.16.5", "0.17.0")) {
            ExportOptions opts = ExportOptions.defaults().withDeepspeedVersion(version).withCudaGraph(true);
            for (Target t : Target.values()) {
                for (ExportModel m : models) {
                    for (RunProfile p : profiles()) {
                        if (m.isMoe() ? m.numExperts() % p.parallel().ep() != 0 : false) continue;
                        for (HardwareProfile hw : hws) {
                            var r = Exporter.render(t, p, m, hw, opts);
                            JsonNode config = JsonText.parse(r.files().get(t.configFile()), t.configFile());
                            List<String> bad = new ArrayList<>();
                            walk(config, "$", schema(t, opts.deepspeedVersion()), bad);
                            assertTrue(bad.isEmpty(), t + " " + m.family() + " " + version + " wrote unknown keys " + bad);
                            checked++;
                        }
                    }
                }
            }
        }
        assertTrue(checked > 1000, "checked " + checked);
    }

    @Test
    void theCheckerCatchesAWrongKey() {
        List<String> bad = new ArrayList<>();
        walk(JsonText.parse("{\"zero_optimization\": {\"stage\": 3, \"offload_params\": {}}}", "x"), "$",
                schema(Target.ZERO_INFERENCE, DeepSpeedVersion.DEFAULT), bad);
        assertEquals(List.of("$.zero_optimization.offload_params"), bad);
    }

    @Test
    void aioThreadKeyFollowsTheDeepSpeedVersion() {
        RunProfile p = Fixtures.OPT_NVME;
        for (var e : Map.of("0.16.3", "thread_count", "0.15.0", "thread_count", "0.16.4", "intra_op_parallelism",
                "0.16.5", "intra_op_parallelism", "1.0.0", "intra_op_parallelism").entrySet()) {
            var r = Exporter.render(Target.ZERO_INFERENCE, p, Fixtures.OPT_30B, HardwarePresets.A6000,
                    ExportOptions.defaults().withDeepspeedVersion(e.getKey()).withAio(1 << 20, 16, 4, false, true));
            JsonNode aio = JsonText.parse(r.files().get("ds_config.json"), "ds_config.json").get("aio");
            String other = e.getValue().equals("thread_count") ? "intra_op_parallelism" : "thread_count";
            assertEquals(4, aio.get(e.getValue()).intValue(), e.getKey());
            assertFalse(aio.has(other), e.getKey());
            assertEquals(16, aio.get("queue_depth").intValue());
        }
    }

    @Test
    void offloadDeviceFollowsTheWeightTier() {
        for (Tier w : Tier.values()) {
            RunProfile p = Fixtures.OPT_NVME.withPlacement(new Placement(w, Tier.DEVICE, "/nvme", 1, 0, 0, 0));
            var r = Exporter.render(Target.ZERO_INFERENCE, p, Fixtures.OPT_30B, HardwarePresets.A6000, ExportOptions.defaults());
            JsonNode root = JsonText.parse(r.files().get("ds_config.json"), "ds_config.json");
            String device = root.at("/zero_optimization/offload_param/device").asText();
            assertTrue(OFFLOAD_DEVICES.contains(device));
            assertEquals(switch (w) { case DEVICE -> "none"; case HOST -> "cpu"; case NVME -> "nvme"; }, device);
            assertEquals(w == Tier.NVME, root.has("aio"));
            assertEquals(3, root.at("/zero_optimization/stage").intValue());
        }
    }
}
