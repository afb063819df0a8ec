package dev.fathom.cuda;

import java.util.ArrayList;
import java.util.List;

/**
 * CudaBench's comparison parts: the llama bench run again under one part's switches, named in its output, so two
 * routings are compared in one run on one machine. Part {@code graphsteps} ({@link GraphGaps}) and part {@code
 * prefillsteps} ({@link PrefillSteps}) run several of them on one loaded model and read a verdict from them
 * ({@link RoutingVerdict}).
 */
final class ComparisonParts {
    private ComparisonParts() {}

    /**
     * A same-run comparison: the preset at {@code batches} with {@code switches} ("name=value" system properties) set
     * for that part only, under a line naming them.
     */
    record Variant(String part, String what, String preset, int[] batches, String... switches) {}

    /** The settings of comparison part {@code part} (parts graphsteps and prefillsteps run them in one process); one sentence for a name that is none. */
    static List<String> switches(String part) {
        for (Variant v : ALL) if (v.part().equals(part)) return List.of(v.switches());
        throw new IllegalArgumentException("no comparison part " + part + "; use some of "
                + String.join(", ", ALL.stream().map(Variant::part).toList()));
    }

    /** The comparison parts, in the order they run. */
    static List<Variant> all() { return ALL; }

    private static final List<Variant> ALL = List.copyOf(build());

    private static List<Variant> build() {
        List<Variant> v = new ArrayList<>(List.of(
                new Variant("pdl", "decode graphs without programmatic dependent launch", "llama-7b", new int[]{1}, "fathom.cuda.pdl=false"),
                new Variant("late", "decode attention loading the cache after the wait", "llama-7b", new int[]{1}, "fathom.cuda.decodePrefetch=false"),
                new Variant("rope1", "prompt RoPE + KV append in one block per row", "llama-7b", new int[]{1, 8}, "fathom.cuda.ropeSplit=false"),
                new Variant("tiles64", "prompt attention in 64-row query tiles", "llama-7b", new int[]{1}, "fathom.cuda.attTileRows=64"),
                new Variant("attfp32", "prompt attention on the fp32 SIMT kernel (attention_tiles), not tensor cores", "llama-7b", new int[]{1, 8, 32},
                        "fathom.cuda.attMma=false"),
                new Variant("nohandoff", "prompt GEMM inputs rounded to bf16 in passes of their own (no norm / gated-output handoff)", "llama-7b",
                        new int[]{1, 8, 32}, "fathom.cuda.bf16Handoff=false"),
                new Variant("llama48", "", "llama-7b", new int[]{2, 4, 8}),
                new Variant("old48", "the decode routing before the twenty-ninth session: the 4096-row outputs' 2..8 rows through cuBLAS, the wider ones through the TMA kernels",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWide=8192"),
                new Variant("nowgemm", "prompt GEMMs all through cuBLAS (the default before the twenty-ninth session and in the thirtieth)", "llama-7b", new int[]{1},
                        "fathom.cuda.wgemm=false"),
                new Variant("wgon", "the default, set outright (the twenty-ninth session's, again since the thirty-first): prompt GEMMs of 64..128 rows whose blocks stream at least 64 K blocks through wgemmt_bf16",
                        "llama-7b", new int[]{1}, "fathom.cuda.wgemm=true"),
                new Variant("wggated", "as wgon, with the gated pairs (gate/up) written as act(gate) * up in bf16 by wgemmt's gated epilogue: no fp32 product, no rows_gated pass",
                        "llama-7b", new int[]{1}, "fathom.cuda.wgemm=true", "fathom.cuda.wgemmGated=true"),
                new Variant("ctxbf16", "as wgon, with the prompt attention writing its output in bf16 for the output projection (no rounding pass before it)",
                        "llama-7b", new int[]{1}, "fathom.cuda.wgemm=true", "fathom.cuda.ctxBf16=true"),
                new Variant("wgfused", "as wgon, with all three: the gated epilogue (wggated), the attention's bf16 output (ctxbf16) and PDL (wgpdl)",
                        "llama-7b", new int[]{1}, "fathom.cuda.wgemm=true", "fathom.cuda.wgemmGated=true", "fathom.cuda.ctxBf16=true", "fathom.cuda.wgemmPdl=true"),
                new Variant("wgpdl", "as wgon, with wgemmt launched as a programmatic dependent launch: its first stages' weights stream while the kernel before ends",
                        "llama-7b", new int[]{1}, "fathom.cuda.wgemm=true", "fathom.cuda.wgemmPdl=true"),
                new Variant("nowgemm2", "nowgemm again, after wgon, so that cuBLAS, wgemmt, cuBLAS run in one process (llama1, first, carries the process's warm-up)",
                        "llama-7b", new int[]{1}, "fathom.cuda.wgemm=false"),
                new Variant("wgemm", "prompt GEMMs of 64..512 rows through wgemm_bf16 (warpgroup MMA, sm_90a, the weights as the M operand), not cuBLAS", "llama-7b",
                        new int[]{1}, "fathom.cuda.wgemm=true", "fathom.cuda.wgemmKernel=wgemm_bf16", "fathom.cuda.wgemmMaxRows=512", "fathom.cuda.wgemmMinStream=0"),
                new Variant("wgemmt", "every prompt GEMM of 64..128 rows through wgemmt_bf16, the output projection too (wgon leaves it on cuBLAS)", "llama-7b",
                        new int[]{1}, "fathom.cuda.wgemm=true", "fathom.cuda.wgemmMinStream=0"),
                new Variant("wgemmt64", "as wgon, the output projection (too short a stream for wgemmt_bf16) through wgemmt64_bf16: 64-token tiles, whole K",
                        "llama-7b", new int[]{1}, "fathom.cuda.wgemm=true", "fathom.cuda.wgemmShortKernel=wgemmt64_bf16"),
                new Variant("wgstag1", "as wgon, wgemmt's weight slabs starting their K walks one block apart",
                        "llama-7b", new int[]{1}, "fathom.cuda.wgemm=true", "fathom.cuda.wgemmStagger=1"),
                new Variant("wgemmall", "prompt GEMMs of every row count from 64 through wgemmt_bf16, batch 8 and 32 prompts too", "llama-7b",
                        new int[]{1, 8, 32}, "fathom.cuda.wgemm=true", "fathom.cuda.wgemmMaxRows=4096", "fathom.cuda.wgemmMinStream=0"),
                new Variant("notma", "decode GEMMs of 2..8 rows all through cuBLAS, the wide ones too (no TMA kernel)", "llama-7b", new int[]{2, 4, 8},
                        "fathom.cuda.tmaWide=0"),
                new Variant("tmaall", "decode GEMMs of 2..8 rows all through the TMA kernels, the 4096-row outputs too (" + SbiSplitK.NARROW_KERNEL + ")",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowRows=8"),
                new Variant("tmah8", "decode GEMMs of 2..8 rows all through the TMA kernels, the 4096-row outputs through sbimmh8_bf16_8",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowRows=8", "fathom.cuda.tmaNarrowKernel=sbimmh8_bf16_8"),
                new Variant("wd4", "the wide matrices' 2..8 rows through sbimmd4_bf16_8 (two consumer warps per tile)", "llama-7b", new int[]{2, 4, 8},
                        "fathom.cuda.tmaWideKernel=sbimmd4_bf16_8"),
                new Variant("wd8", "the wide matrices' 2..8 rows through sbimmd8_bf16_8 (two consumer warps per tile, 8 stages)", "llama-7b",
                        new int[]{2, 4, 8}, "fathom.cuda.tmaWideKernel=sbimmd8_bf16_8"),
                new Variant("alld", "decode GEMMs of 2..8 rows all through the two-warps-per-tile TMA kernels (sbimmd4 wide, sbimme12 narrow)", "llama-7b",
                        new int[]{2, 4, 8}, "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowRows=8", "fathom.cuda.tmaWideKernel=sbimmd4_bf16_8", "fathom.cuda.tmaNarrowKernel=sbimme12_bf16_8"),
                new Variant("ww2", "the wide matrices' 2..8 rows through sbimmw2_bf16_8 (two chunks a stage, 2 stages)", "llama-7b", new int[]{2, 4, 8},
                        "fathom.cuda.tmaWideKernel=sbimmw2_bf16_8"),
                new Variant("ww4", "the wide matrices' 2..8 rows through sbimmw4_bf16_8 (two chunks a stage, 4 stages)", "llama-7b", new int[]{2, 4, 8},
                        "fathom.cuda.tmaWideKernel=sbimmw4_bf16_8"),
                new Variant("allw", "decode GEMMs of 2..8 rows all through the two-chunk TMA kernels (sbimmw4 wide, sbimmv6 narrow)", "llama-7b",
                        new int[]{2, 4, 8}, "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowRows=8", "fathom.cuda.tmaWideKernel=sbimmw4_bf16_8", "fathom.cuda.tmaNarrowKernel=sbimmv6_bf16_8"),
                new Variant("carve100", "every kernel of ours preferring all of the L1/shared storage as shared memory", "llama-7b", new int[]{2, 4, 8},
                        "fathom.cuda.carveout=100"),
                new Variant("allw100", "all-TMA (sbimmw4 wide, sbimmv6 narrow) with every kernel of ours preferring all shared memory", "llama-7b",
                        new int[]{2, 4, 8}, "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowRows=8", "fathom.cuda.tmaWideKernel=sbimmw4_bf16_8", "fathom.cuda.tmaNarrowKernel=sbimmv6_bf16_8",
                        "fathom.cuda.carveout=100"),
                new Variant("pf", "the wide matrices' 2..8 rows through sbimmt4p_bf16_8 (tensor maps prefetched at entry)", "llama-7b", new int[]{2, 4, 8},
                        "fathom.cuda.tmaWideKernel=sbimmt4p_bf16_8"),
                new Variant("pfall", "decode GEMMs of 2..8 rows all through the TMA kernels with tensor maps prefetched (sbimmt4p wide, sbimmh8p narrow)",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowRows=8", "fathom.cuda.tmaWideKernel=sbimmt4p_bf16_8", "fathom.cuda.tmaNarrowKernel=sbimmh8p_bf16_8"),
                new Variant("gub4", "gate/up's 2..8 rows through sbimmb4_bf16_8 (256-row boxes: 86 blocks, one wave), the other wide ones as before",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaGatedKernel=sbimmb4_bf16_8"),
                new Variant("gub4p", "gate/up's 2..8 rows through sbimmb4p_bf16_8 (256-row boxes, maps prefetched), the other wide ones as before",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaGatedKernel=sbimmb4p_bf16_8"),
                new Variant("gut4p", "gate/up's 2..8 rows through the wide kernel " + SbiSplitK.WIDE_KERNEL + " (128-row boxes: 172 blocks), the default before the twenty-third session",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaGatedKernel=" + SbiSplitK.WIDE_KERNEL),
                new Variant("fit6", "QKV and the head through sbimms6p_bf16_8 (96-row boxes: QKV in 128 blocks), gate/up through sbimmb4p_bf16_8",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWideKernel=sbimms6p_bf16_8", "fathom.cuda.tmaGatedKernel=sbimmb4p_bf16_8"),
                new Variant("fit4", "QKV and the head through sbimms4p_bf16_8 (96-row boxes, 4 stages), gate/up through sbimmb4p_bf16_8",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWideKernel=sbimms4p_bf16_8", "fathom.cuda.tmaGatedKernel=sbimmb4p_bf16_8"),
                new Variant("fit", "every wide matrix through the box height that fills the multiprocessors best (QKV sbimms6p, gate/up sbimmq4p, head sbimmb4p)",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWideKernel=fit", "fathom.cuda.tmaGatedKernel=fit"),
                new Variant("sk4", "the wide matrices' 2..8 rows through the stream-K sbimmk4p_bf16_8 (units cut evenly over two blocks per multiprocessor)",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWideKernel=sbimmk4p_bf16_8"),
                new Variant("skall", "decode GEMMs of 2..8 rows all through the stream-K sbimmk4p_bf16_8, the 4096-row outputs too", "llama-7b",
                        new int[]{2, 4, 8}, "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowRows=8", "fathom.cuda.tmaWideKernel=sbimmk4p_bf16_8", "fathom.cuda.tmaNarrowKernel=sbimmk4p_bf16_8"),
                new Variant("so4", "the wide matrices' 2..8 rows through the stream-K sbimmo4p_bf16_8 (row groups owned by one block, pieces flagged mid-run)",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWideKernel=sbimmo4p_bf16_8"),
                new Variant("wpad", "the wide and gated TMA kernels' launches asking for 116 KB of shared memory (one block per multiprocessor: the next grid, let in early by PDL, cannot double up)",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWideSmemKb=116"),
                new Variant("nv6", "decode GEMMs of 2..8 rows all through the TMA kernels, the 4096-row outputs through sbimmv6_bf16_8 (the fastest there in a CUDA graph, twenty-fourth session)",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowRows=8", "fathom.cuda.tmaNarrowKernel=sbimmv6_bf16_8"),
                new Variant("nv6plain", "as nv6, the 4096-row outputs' TMA kernel launched plainly (not PDL: its blocks enter after the kernel before ends)",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowRows=8", "fathom.cuda.tmaNarrowKernel=sbimmv6_bf16_8", "fathom.cuda.tmaNarrowPdl=false"),
                new Variant("nv6n", "as nv6 through sbimmv6n_bf16_8, which never lets the next kernel in early (it enters once the grid has ended, as after a cuBLAS node)",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowRows=8", "fathom.cuda.tmaNarrowKernel=sbimmv6n_bf16_8"),
                new Variant("nv6n4", "as nv6n up to 4 rows; the 4096-row outputs' 5..8 rows through cuBLAS (twenty-sixth session: nv6n 3-5 % shorter at 4 rows, 1 % longer at 8)",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowKernel=sbimmv6n_bf16_8", "fathom.cuda.tmaNarrowRows=4"),
                new Variant("widen", "the wide and gated matrices' 2..8 rows through sbimmt4pn_bf16_8 / sbimmq4pn_bf16_8, the defaults' kernels never letting the next kernel in early",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWideKernel=sbimmt4pn_bf16_8", "fathom.cuda.tmaGatedKernel=sbimmq4pn_bf16_8"),
                new Variant("alln4", "widen and nv6n4 together: no TMA kernel lets the next one in early, the 4096-row outputs through sbimmv6n_bf16_8 up to 4 rows",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowKernel=sbimmv6n_bf16_8", "fathom.cuda.tmaNarrowRows=4",
                        "fathom.cuda.tmaWideKernel=sbimmt4pn_bf16_8", "fathom.cuda.tmaGatedKernel=sbimmq4pn_bf16_8"),
                new Variant("nopdl48", "decode graphs at 2..8 rows without programmatic dependent launch (the baseline for nv6nopdl)", "llama-7b",
                        new int[]{2, 4, 8}, "fathom.cuda.pdl=false"),
                new Variant("nv6nopdl", "as nv6, the graph without programmatic dependent launch: whether the 4096-row outputs through sbimmv6, faster per kernel, lose only where kernels overlap",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowRows=8", "fathom.cuda.tmaNarrowKernel=sbimmv6_bf16_8", "fathom.cuda.pdl=false"),
                new Variant("again", "the defaults again, after the variants above, so that drift over the run shows beside llama48's figures",
                        "llama-7b", new int[]{2, 4, 8}),
                new Variant("wideb4", "the wide matrices' 2..8 rows through sbimmb4_bf16_8 (256-row boxes)", "llama-7b",
                        new int[]{2, 4, 8}, "fathom.cuda.tmaWideKernel=sbimmb4_bf16_8"),
                new Variant("t4late", "the wide matrices' 2..8 rows through sbimmt4l_bf16_8 (the next kernel let in after the last stage)", "llama-7b",
                        new int[]{2, 4, 8}, "fathom.cuda.tmaWideKernel=sbimmt4l_bf16_8"),
                new Variant("h8late", "all TMA, the 4096-row outputs through sbimmh8l_bf16_8 (the next kernel let in after the last stage)", "llama-7b",
                        new int[]{2, 4, 8}, "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowRows=8", "fathom.cuda.tmaNarrowKernel=sbimmh8l_bf16_8"),
                new Variant("alllate", "all TMA, every launch letting the next kernel in after its last stage (sbimmt4l wide, sbimmh12l narrow)", "llama-7b",
                        new int[]{2, 4, 8}, "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowRows=8", "fathom.cuda.tmaWideKernel=sbimmt4l_bf16_8", "fathom.cuda.tmaNarrowKernel=sbimmh12l_bf16_8"),
                new Variant("h8pad", "all TMA, the 4096-row outputs through sbimmh8_bf16_8 padded to 116 KB of shared memory (one block per multiprocessor)",
                        "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowRows=8", "fathom.cuda.tmaNarrowKernel=sbimmh8_bf16_8", "fathom.cuda.tmaNarrowSmemKb=116"),
                new Variant("tmat4", "decode GEMMs of 2..8 rows all through sbimmt4_bf16_8, the 4096-row outputs too", "llama-7b", new int[]{2, 4, 8},
                        "fathom.cuda.tmaWide=1", "fathom.cuda.tmaNarrowRows=8", "fathom.cuda.tmaNarrowKernel=sbimmt4_bf16_8"),
                new Variant("tmanorm", "the norms fused into the TMA kernel over the wide matrices", "llama-7b", new int[]{2, 4, 8},
                        "fathom.cuda.tmaFuseNorm=true"),
                new Variant("splitk48", "decode GEMMs of 2..8 rows through the split-K cluster kernels, not cuBLAS", "llama-7b", new int[]{2, 4, 8},
                        "fathom.cuda.blasRows=8"),
                new Variant("sknorm", "split-K kernels with separate norm kernels", "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.blasRows=8",
                        "fathom.cuda.fuseNorm=false"),
                new Variant("tiles", "tensor-core tile layout at 2..8 rows", "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.mma=true"),
                new Variant("rmsimt", "row-major rows through the SIMT kernels at 2..4 rows", "llama-7b", new int[]{2, 4}, "fathom.cuda.blasRows=8",
                        "fathom.cuda.splitK=false")));
        for (String kn : java.util.stream.Stream.concat(SbiSplitK.ROW_MAJOR_KERNELS.stream(), TmaKernels.TMA_KERNELS.stream()).toList())   // part = the kernel's name
            v.add(new Variant(kn, "row-major split-K kernel", "llama-7b", new int[]{2, 4, 8}, "fathom.cuda.blasRows=8", "fathom.cuda.splitKKernel=" + kn));
        v.addAll(List.of(
                new Variant("rowsattn", "separate RoPE + KV append and attention kernels", "llama-7b", new int[]{8, 32}, "fathom.cuda.fusedAttention=false"),
                new Variant("split", "decode attention over blocks of at least 16 positions", "llama-7b", new int[]{1}, "fathom.cuda.decodeChunk=16"),
                new Variant("unfused", "separate norm, RoPE and attention kernels", "llama-7b", new int[]{1, 8, 32},
                        "fathom.cuda.fuseNorm=false", "fathom.cuda.fusedAttention=false"),
                new Variant("tile32", "decode GEMMs of up to 32 rows through the small-batch kernels, not cuBLAS", "llama-7b", new int[]{16, 32},
                        "fathom.cuda.blasRows=32"),
                new Variant("simt", "tensor-core tile layout at batch 1", "llama-7b", new int[]{1}, "fathom.cuda.mma=true"),
                new Variant("pageable", "pageable host buffers for the row metadata and the logits", "llama-7b", new int[]{1, 8, 32}, "fathom.cuda.pinnedHost=false"),
                new Variant("flatlogits", "logits copied into one array, then split per sequence", "llama-7b", new int[]{1, 8, 32},
                        "fathom.cuda.flatLogits=true"),
                new Variant("noqueue", "greedy steps in generate one at a time (each waits for the last), not queued ahead", "llama-7b",
                        new int[]{1, 8, 32}, "fathom.cuda.queueSteps=false"),
                new Variant("hostargmax", "greedy tokens picked on the host from copied logits, not on the GPU", "llama-7b", new int[]{1, 8, 32},
                        "fathom.cuda.gpuArgmax=false"),
                new Variant("kvf32", "KV cache in float32, not bf16", "llama-7b", new int[]{1, 8, 32}, "fathom.cuda.kvBf16=false"),
                new Variant("ctx1k", "1024-token prompts, bf16 KV cache", "llama-7b", new int[]{1, 32}, "fathom.bench.prompt=1024"),
                new Variant("ctx1kf32", "1024-token prompts, KV cache in float32", "llama-7b", new int[]{1, 32}, "fathom.bench.prompt=1024",
                        "fathom.cuda.kvBf16=false")));
        return v;
    }
}
