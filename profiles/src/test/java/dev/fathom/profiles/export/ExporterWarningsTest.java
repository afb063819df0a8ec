package dev.fathom.profiles.export;

import com.fasterxml.jackson.databind.JsonNode;

import dev.fathom.profiles.HardwarePresets;
import dev.fathom.profiles.HardwareProfile;
import dev.fathom.profiles.JsonText;
import dev.fathom.profiles.Precision;
import dev.fathom.profiles.ProfileException;
import dev.fathom.profiles.RunProfile;
import dev.fathom.profiles.RunProfile.Placement;
import dev.fathom.profiles.RunProfile.Tier;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ExporterWarningsTest {
    static final ExportOptions D = ExportOptions.defaults();

    static Exporter.Rendered render(Target t, RunProfile p, ExportModel m) {
        return Exporter.render(t, p, m, HardwarePresets.A100_80GB, D);
    }

    static void assertWarned(Exporter.Rendered r, String fragment) {
        assertTrue(r.warnings().stream().anyMatch(w -> w.contains(fragment)), "no warning with '" + fragment + "' in " + r.warnings());
        String notes = r.files().get(Exporter.NOTES_FILE);
        for (String w : r.warnings()) assertTrue(notes.contains("- " + w + "\n"), "notes lack: " + w);
    }

    @Test
    void pipelineParallelismIsNeverDroppedSilently() {
        RunProfile p = Fixtures.LLAMA_TP2.withParallel(Fixtures.par(2, 4, 1, 1));
        for (Target t : Target.values()) {
            var r = render(t, p, Fixtures.LLAMA_7B);
            assertWarned(r, "pp=4");
        }
    }

    @Test
    void hybridMicroBatchingIsWarned() {
        RunProfile p = Fixtures.LLAMA_TP2.withParallel(new RunProfile.Parallelism(2, 1, 1, 1, 4, 0, "pcc"));
        for (Target t : Target.values()) assertWarned(render(t, p, Fixtures.LLAMA_7B), "micro-batch counts");
    }

    @Test
    void cleanProfileHasNoWarnings() {
        var r = render(Target.DEEPSPEED, Fixtures.LLAMA_TP2, Fixtures.LLAMA_7B);
        assertEquals(List.of(), r.warnings());
        assertTrue(r.files().get(Exporter.NOTES_FILE).contains("None: everything the profile asks for is expressed"));
    }

    @Test
    void kernelInjectionCoverage() {
        RunProfile p = Fixtures.LLAMA_TP2.withParallel(Fixtures.par(2, 1, 1, 1));
        for (ExportModel m : List.of(Fixtures.GPT2, Fixtures.NEOX, Fixtures.OPT_30B, Fixtures.LLAMA_7B)) {
            var r = render(Target.DEEPSPEED, p.withParallel(Fixtures.par(1, 1, 1, 1)), m);
            JsonNode cfg = JsonText.parse(r.files().get("ds_inference_config.json"), "x");
            assertTrue(cfg.get("replace_with_kernel_inject").booleanValue(), m.family());
        }
        var r = render(Target.DEEPSPEED, p, Fixtures.MIXTRAL);
        assertWarned(r, "no policy for the 'mixtral' family");
        assertFalse(JsonText.parse(r.files().get("ds_inference_config.json"), "x").get("replace_with_kernel_inject").booleanValue());
    }

    @Test
    void fastGenCoverage() {
        RunProfile p = Fixtures.LLAMA_TP2.withParallel(Fixtures.par(1, 1, 1, 1)).withPrecision(Precision.AUTO);
        assertWarned(render(Target.MII, p, Fixtures.GPT2), "no implementation for the 'gpt2' family");
        assertWarned(render(Target.MII, p, Fixtures.NEOX), "no implementation for the 'gpt_neox' family");
        assertEquals(List.of(), render(Target.MII, p, Fixtures.LLAMA_7B).warnings());
        assertWarned(render(Target.MII, p.withPrecision(Precision.INT8), Fixtures.LLAMA_7B), "no dtype setting");
    }

    @Test
    void int8AndMoeSectionsOfInitInference() {
        RunProfile p = Fixtures.LLAMA_TP2.withPrecision(Precision.INT8);
        JsonNode cfg = JsonText.parse(render(Target.DEEPSPEED, p, Fixtures.LLAMA_7B).files().get("ds_inference_config.json"), "x");
        assertEquals("int8", cfg.get("dtype").asText());
        assertTrue(cfg.at("/quant/enabled").booleanValue());
        assertEquals(8, cfg.at("/quant/weight/num_bits").intValue());
        assertFalse(cfg.has("moe"));

        RunProfile moe = Fixtures.LLAMA_TP2.withParallel(Fixtures.par(2, 1, 4, 1)).withPrecision(Precision.AUTO);
        var r = render(Target.DEEPSPEED, moe, Fixtures.MIXTRAL);
        cfg = JsonText.parse(r.files().get("ds_inference_config.json"), "x");
        assertEquals(4, cfg.at("/moe/ep_size").intValue());
        assertEquals(8, cfg.at("/moe/moe_experts/0").intValue());
        assertEquals("standard", cfg.at("/moe/type").asText());
        assertEquals("bf16", cfg.get("dtype").asText(), "auto takes the checkpoint dtype");
    }

    @Test
    void tpThatDoesNotDivideHeadsIsAnError() {
        var e = assertThrows(ProfileException.class, () -> render(Target.DEEPSPEED,
                Fixtures.LLAMA_TP2.withParallel(Fixtures.par(3, 1, 1, 1)), Fixtures.LLAMA_7B));
        assertEquals("profile: $.parallel.tp is 3, which does not divide the model's 32 attention heads.", e.getMessage());
        assertEquals("$.parallel.tp", e.jsonPath());
        var ep = assertThrows(ProfileException.class, () -> render(Target.MII,
                Fixtures.LLAMA_TP2.withParallel(Fixtures.par(2, 1, 3, 1)), Fixtures.MIXTRAL));
        assertEquals("$.parallel.ep", ep.jsonPath());
    }

    @Test
    void offloadPlacementOnGpuOnlyTargetsIsWarned() {
        RunProfile p = Fixtures.LLAMA_TP2.withPlacement(new Placement(Tier.HOST, Tier.DEVICE, null, 1, 0, 0, 0));
        assertWarned(render(Target.DEEPSPEED, p, Fixtures.LLAMA_7B), "weights on host");
        assertWarned(render(Target.MII, p, Fixtures.LLAMA_7B), "weights on host");
        var z = render(Target.ZERO_INFERENCE, p.withPlacement(new Placement(Tier.NVME, Tier.HOST, null, 1, 0, 0, 0)), Fixtures.LLAMA_7B);
        assertWarned(z, "KV-cache offload");
        assertWarned(z, "placeholder /local_nvme");
    }

    @Test
    void weightsThatDoNotFitAreWarned() {
        RunProfile p = Fixtures.profile("m", Precision.AUTO, 1, 16, 16, Fixtures.par(1, 1, 1, 1), Placement.DEFAULT);
        var r = Exporter.render(Target.DEEPSPEED, p, Fixtures.MIXTRAL, HardwarePresets.A100_40GB, D);
        assertWarned(r, "raise tp");
    }

    @Test
    void multiNodeLayout() {
        RunProfile p = Fixtures.LLAMA_TP2.withParallel(Fixtures.par(8, 1, 1, 2));
        HardwareProfile hw = HardwarePresets.A100_80GB.withDevices(4);
        var r = Exporter.render(Target.DEEPSPEED, p, Fixtures.LLAMA_7B, hw, D);
        assertWarned(r, "placeholder hosts node1 to node4");
        assertEquals("node1 slots=4\nnode2 slots=4\nnode3 slots=4\nnode4 slots=4\n", r.files().get("hostfile"));
        String launch = r.files().get("launch.sh");
        assertTrue(launch.contains("deepspeed --hostfile hostfile --include node1:0,1,2,3@node2:0,1,2,3 --master_port 29500 "), launch);
        assertTrue(launch.contains("--include node3:0,1,2,3@node4:0,1,2,3 --master_port 29501 "), launch);

        var z = Exporter.render(Target.ZERO_INFERENCE, Fixtures.OPT_NVME.withParallel(Fixtures.par(1, 1, 1, 8)),
                Fixtures.OPT_30B, hw, D.withHosts(List.of("a", "b")));
        assertEquals("a slots=4\nb slots=4\n", z.files().get("hostfile"));
        assertTrue(z.files().get("launch.sh").contains("deepspeed --hostfile hostfile --num_nodes 2 --num_gpus 4 --master_port 29500 run_inference.py"));
        assertTrue(z.warnings().stream().noneMatch(w -> w.contains("placeholder")));

        var tooFew = assertThrows(ProfileException.class, () -> Exporter.render(Target.ZERO_INFERENCE,
                Fixtures.OPT_NVME.withParallel(Fixtures.par(1, 1, 1, 8)), Fixtures.OPT_30B, hw, D.withHosts(List.of("a"))));
        assertTrue(tooFew.getMessage().contains("needs 2 hosts"), tooFew.getMessage());
    }

    @Test
    void cpuHardwareProfileIsWarned() {
        HardwareProfile cpu = new HardwareProfile(1, "this-machine", "", "cpu", 1, 64L << 30, 40e9,
                Map.of("f32", 1e12), 0, 3e9, 0, true);
        var r = Exporter.render(Target.DEEPSPEED, Fixtures.LLAMA_TP2, Fixtures.LLAMA_7B, cpu, D);
        assertWarned(r, "describes a CPU");
        assertEquals("localhost slots=2\n", r.files().get("hostfile"));
    }

    @Test
    void deepSpeedVersions() {
        assertEquals(new DeepSpeedVersion(0, 16, 4), DeepSpeedVersion.parse("v0.16.4"));
        assertEquals(new DeepSpeedVersion(0, 17, 0), DeepSpeedVersion.parse("0.17"));
        assertEquals(new DeepSpeedVersion(0, 16, 5), DeepSpeedVersion.parse("0.16.5+cu121"));
        assertFalse(DeepSpeedVersion.parse("0.16.3").usesIntraOpParallelism());
        assertTrue(DeepSpeedVersion.parse("0.16.4").usesIntraOpParallelism());
        assertTrue(DeepSpeedVersion.parse("0.16.10").usesIntraOpParallelism());
        var e = assertThrows(ProfileException.class, () -> DeepSpeedVersion.parse("latest"));
        assertEquals("'latest' is not a DeepSpeed version; write it like 0.16.5.", e.getMessage());
        assertEquals(Target.ZERO_INFERENCE, Target.parse("zero_inference"));
        assertThrows(ProfileException.class, () -> Target.parse("vllm"));
    }

    @Test
    void samplingReachesTheEntryScripts() {
        RunProfile p = Fixtures.MIXTRAL_MII.withSampling(new RunProfile.Sampling(false, 0.6, 0, 0.8, 7, false));
        String mii = render(Target.MII, p, Fixtures.MIXTRAL).files().get("run_inference.py");
        assertTrue(mii.contains("GENERATE = {\"max_new_tokens\": 256, \"ignore_eos\": True, \"do_sample\": True, \"temperature\": 0.6, \"top_p\": 0.8}"), mii);
        String ds = render(Target.DEEPSPEED, p, Fixtures.MIXTRAL).files().get("run_inference.py");
        assertTrue(ds.contains("\"min_new_tokens\": 256"), ds);
        assertTrue(ds.contains("torch.manual_seed(7)"), ds);
        String quoted = Exporter.render(Target.DEEPSPEED, Fixtures.LLAMA_TP2, Fixtures.LLAMA_7B, HardwarePresets.A100_80GB,
                D.withPrompt("say \"hi\"\n")).files().get("run_inference.py");
        assertTrue(quoted.contains("PROMPT = \"say \\\"hi\\\"\\n\""), quoted);
    }
}
