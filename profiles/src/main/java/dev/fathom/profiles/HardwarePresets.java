package dev.fathom.profiles;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Hardware profiles from vendor datasheets, one per GPU model, shaped as the usual board or
 * workstation. Every figure is per device:
 *
 * <ul>
 *   <li>memory: the datasheet capacity read as GiB (what the driver reports, give or take);</li>
 *   <li>memory bandwidth: datasheet peak, decimal GB/s;</li>
 *   <li>peak FLOP/s: dense (no 2:4 sparsity) tensor-core rates for bf16/f16/int8, the plain FP32
 *       rate (not TF32) for f32; a precision the chip lacks is left out;</li>
 *   <li>host link and interconnect: one direction, i.e. half the datasheet's bidirectional figure;</li>
 *   <li>NVMe read: 3.5 GB/s, an assumed PCIe Gen4 data-centre SSD, not a GPU datasheet figure.</li>
 * </ul>
 *
 * The same profiles ship as JSON under {@code dev/fathom/profiles/hardware/<name>.json} for people
 * to copy and edit; a test keeps the two in step.
 */
public final class HardwarePresets {
    private HardwarePresets() {}

    private static final long GIB = 1L << 30;
    /** Assumed NVMe read bandwidth for presets (not a datasheet figure). */
    public static final double DEFAULT_NVME_READ = 3.5e9;
    private static final String NVME_NOTE = "NVMe read 3.5 GB/s is an assumed SSD figure, not from the datasheet";

    private static HardwareProfile gpu(String name, String description, int devices, long memGiB, double bw,
                                       double f32, Double bf16, double f16, Double int8,
                                       double hostLink, double interconnect) {
        var flops = new java.util.LinkedHashMap<String, Double>();
        flops.put("f32", f32);
        if (bf16 != null) flops.put("bf16", bf16);
        flops.put("f16", f16);
        if (int8 != null) flops.put("int8", int8);
        return new HardwareProfile(HardwareProfile.CURRENT_VERSION, name, description + "; " + NVME_NOTE + ".",
                "gpu", devices, memGiB * GIB, bw, Map.copyOf(flops), hostLink, DEFAULT_NVME_READ, interconnect, false);
    }

    /** NVIDIA A100 SXM4 40GB, 8-GPU HGX board: 1555 GB/s HBM2, 19.5 TF f32, 312 TF bf16/f16, 624 TOPS int8, NVLink3 600 GB/s, PCIe Gen4. */
    public static final HardwareProfile A100_40GB = gpu("a100-40gb",
            "NVIDIA A100 SXM4 40GB (datasheet), 8-GPU HGX board: 1555 GB/s HBM2, 19.5 TFLOP/s f32, 312 TFLOP/s bf16/f16 and "
                    + "624 TOP/s int8 dense, NVLink 600 GB/s and PCIe Gen4 64 GB/s bidirectional (stored per direction)",
            8, 40, 1555e9, 19.5e12, 312e12, 312e12, 624e12, 32e9, 300e9);

    /** NVIDIA A100 SXM4 80GB, 8-GPU HGX board: 2039 GB/s HBM2e, otherwise as the 40GB part. */
    public static final HardwareProfile A100_80GB = gpu("a100-80gb",
            "NVIDIA A100 SXM4 80GB (datasheet), 8-GPU HGX board: 2039 GB/s HBM2e, 19.5 TFLOP/s f32, 312 TFLOP/s bf16/f16 and "
                    + "624 TOP/s int8 dense, NVLink 600 GB/s and PCIe Gen4 64 GB/s bidirectional (stored per direction)",
            8, 80, 2039e9, 19.5e12, 312e12, 312e12, 624e12, 32e9, 300e9);

    /** NVIDIA RTX A6000 48GB, two cards joined by an NVLink bridge: 768 GB/s GDDR6, 38.7 TF f32, 154.8 TF bf16/f16, 309.7 TOPS int8. */
    public static final HardwareProfile A6000 = gpu("a6000",
            "NVIDIA RTX A6000 48GB (datasheet), two cards with an NVLink bridge: 768 GB/s GDDR6, 38.7 TFLOP/s f32, "
                    + "154.8 TFLOP/s bf16/f16 and 309.7 TOP/s int8 dense, NVLink bridge 112.5 GB/s and PCIe Gen4 64 GB/s "
                    + "bidirectional (stored per direction)",
            2, 48, 768e9, 38.7e12, 154.8e12, 154.8e12, 309.7e12, 32e9, 56.25e9);

    /** NVIDIA V100 SXM2 32GB, 8-GPU board: 900 GB/s HBM2, 15.7 TF f32, 125 TF f16 tensor; no bf16, no int8 tensor rate. */
    public static final HardwareProfile V100_32GB = gpu("v100-32gb",
            "NVIDIA V100 SXM2 32GB (datasheet), 8-GPU board: 900 GB/s HBM2, 15.7 TFLOP/s f32, 125 TFLOP/s f16 tensor, "
                    + "no bf16 and no int8 tensor rate listed, NVLink 300 GB/s and PCIe Gen3 32 GB/s bidirectional "
                    + "(stored per direction)",
            8, 32, 900e9, 15.7e12, null, 125e12, null, 16e9, 150e9);

    /** NVIDIA H100 SXM5 80GB, 8-GPU HGX board: 3.35 TB/s HBM3, 67 TF f32, 989 TF bf16/f16, 1979 TOPS int8, NVLink4 900 GB/s, PCIe Gen5. */
    public static final HardwareProfile H100_SXM = gpu("h100-sxm",
            "NVIDIA H100 SXM5 80GB (datasheet), 8-GPU HGX board: 3.35 TB/s HBM3, 67 TFLOP/s f32, 989 TFLOP/s bf16/f16 and "
                    + "1979 TOP/s int8 dense, NVLink 900 GB/s and PCIe Gen5 128 GB/s bidirectional (stored per direction)",
            8, 80, 3.35e12, 67e12, 989e12, 989e12, 1979e12, 64e9, 450e9);

    /** NVIDIA H200 SXM 141GB, 8-GPU HGX board: 4.8 TB/s HBM3e, compute as H100 SXM. */
    public static final HardwareProfile H200 = gpu("h200",
            "NVIDIA H200 SXM 141GB (datasheet), 8-GPU HGX board: 4.8 TB/s HBM3e, 67 TFLOP/s f32, 989 TFLOP/s bf16/f16 and "
                    + "1979 TOP/s int8 dense, NVLink 900 GB/s and PCIe Gen5 128 GB/s bidirectional (stored per direction)",
            8, 141, 4.8e12, 67e12, 989e12, 989e12, 1979e12, 64e9, 450e9);

    private static final List<HardwareProfile> ALL = List.of(A100_40GB, A100_80GB, A6000, V100_32GB, H100_SXM, H200);

    /** Every preset, in a stable order. */
    public static List<HardwareProfile> all() { return ALL; }

    /** The preset names, in the order of {@link #all()}. */
    public static List<String> names() {
        List<String> out = new ArrayList<>();
        for (HardwareProfile h : ALL) out.add(h.name());
        return out;
    }

    /** The preset of that name (case-insensitive); throws a {@link ProfileException} listing the known names. */
    public static HardwareProfile byName(String name) {
        String n = name == null ? "" : name.trim().toLowerCase(Locale.ROOT);
        for (HardwareProfile h : ALL) if (h.name().equals(n)) return h;
        throw new ProfileException(null, null, "Unknown hardware preset '" + name + "': use one of "
                + String.join(", ", names()) + ".");
    }

    /** The JSON resource shipped for a preset name, as text. */
    public static String resourceJson(String name) {
        String res = "hardware/" + byName(name).name() + ".json";
        try (InputStream in = HardwarePresets.class.getResourceAsStream(res)) {
            if (in == null) throw new IllegalStateException("The preset resource " + res + " is missing from the jar.");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
