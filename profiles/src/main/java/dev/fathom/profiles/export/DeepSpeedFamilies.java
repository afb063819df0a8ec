package dev.fathom.profiles.export;

import java.util.List;

/**
 * Which Hugging Face model families DeepSpeed's engines cover, as read from the DeepSpeed sources
 * (facts, not code):
 *
 * <ul>
 *   <li>kernel injection ({@code replace_with_kernel_inject}, the v1 engine behind
 *       {@code deepspeed.init_inference}): the policies listed in
 *       {@code deepspeed/module_inject/replace_policy.py} and implemented under
 *       {@code deepspeed/module_inject/containers/} — bert, distilbert, gpt2, gpt_neo, gptj, gpt_neox,
 *       opt, bloom, llama (HF and Meta llama2), internlm, clip and Megatron GPT (with DeepSpeed-MoE);
 *       there is no container for mistral, mixtral, falcon, phi or qwen;</li>
 *   <li>FastGen (the v2 ragged engine behind DeepSpeed-MII): the {@code model_type}s accepted by
 *       {@code build_hf_engine} in {@code deepspeed/inference/v2/engine_factory.py} — opt, llama,
 *       mistral, mixtral, falcon, phi, phi3, qwen, qwen2, qwen2_moe.</li>
 * </ul>
 */
public final class DeepSpeedFamilies {
    private DeepSpeedFamilies() {}

    /** Families whose layers {@code replace_with_kernel_inject} replaces with fused DeepSpeed kernels. */
    public static final List<String> KERNEL_INJECTION = List.of(
            "bert", "distilbert", "gpt2", "gpt_neo", "gptj", "gpt_neox", "opt", "bloom", "llama", "internlm",
            "clip", "megatron");

    /** Families FastGen (DeepSpeed-MII) can load. */
    public static final List<String> FASTGEN = List.of(
            "opt", "llama", "mistral", "mixtral", "falcon", "phi", "phi3", "qwen", "qwen2", "qwen2_moe");

    /** True when kernel injection covers the family. */
    public static boolean kernelInjection(String family) { return KERNEL_INJECTION.contains(family); }

    /** True when FastGen covers the family. */
    public static boolean fastGen(String family) { return FASTGEN.contains(family); }
}
