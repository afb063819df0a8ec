package dev.fathom.profiles.export;

import dev.fathom.profiles.Precision;
import dev.fathom.profiles.RunProfile;
import dev.fathom.profiles.RunProfile.Parallelism;
import dev.fathom.profiles.RunProfile.Placement;
import dev.fathom.profiles.RunProfile.Sampling;
import dev.fathom.profiles.RunProfile.Tier;

/** Models and profiles the export tests share. Sizes follow the models' Hugging Face config.json. */
final class Fixtures {
    private Fixtures() {}

    static final ExportModel LLAMA_7B = new ExportModel("llama", "meta-llama/Llama-2-7b-hf", 32, 4096, 32, 32, 1, 1,
            4096, 13_476_839_424L, "f16", 32000, 11008);
    static final ExportModel MIXTRAL = new ExportModel("mixtral", "mistralai/Mixtral-8x7B-v0.1", 32, 4096, 32, 8, 8, 2,
            32768, 93_405_585_408L, "bf16", 32000, 14336);
    static final ExportModel OPT_30B = new ExportModel("opt", "facebook/opt-30b", 48, 7168, 56, 56, 1, 1,
            2048, 59_914_158_080L, "f16", 50272, 28672);
    static final ExportModel GPT2 = ExportModel.dense("gpt2", "gpt2", 12, 768, 12, 12, 1024, 248_900_000L, "f32");
    static final ExportModel NEOX = ExportModel.dense("gpt_neox", "EleutherAI/pythia-1.4b", 24, 2048, 16, 16, 2048,
            2_829_000_000L, "f16");

    static RunProfile profile(String model, Precision pr, int batch, int prompt, int gen, Parallelism par, Placement pl) {
        return new RunProfile(1, model, "cuda", pr, batch, prompt, gen, par, pl, Sampling.GREEDY, 0, "a100-80gb");
    }

    static Parallelism par(int tp, int pp, int ep, int dp) { return new Parallelism(tp, pp, ep, dp, 0, 0, "pcc"); }

    static final RunProfile LLAMA_TP2 = profile("/models/llama-2-7b", Precision.BF16, 4, 128, 32, par(2, 1, 1, 1),
            Placement.DEFAULT);

    static final RunProfile MIXTRAL_HYBRID = new RunProfile(1, "/models/mixtral", "cuda", Precision.AUTO, 16, 256, 64,
            new Parallelism(2, 2, 2, 2, 4, 2, "pcc"), Placement.DEFAULT,
            new Sampling(false, 0.8, 50, 0.9, 42, true), 0, "h100-sxm");

    static final RunProfile OPT_NVME = profile("/models/opt-30b", Precision.F16, 8, 512, 32, par(1, 1, 1, 2),
            new Placement(Tier.NVME, Tier.DEVICE, "/mnt/nvme0/fathom", 2, 0, 64L << 30, 0));

    static final RunProfile MIXTRAL_MII = new RunProfile(1, "/models/mixtral", "cuda", Precision.AUTO, 8, 1024, 256,
            par(2, 1, 1, 2), Placement.DEFAULT, Sampling.GREEDY, 0, "h100-sxm");
}
