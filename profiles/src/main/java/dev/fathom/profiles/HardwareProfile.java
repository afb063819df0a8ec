package dev.fathom.profiles;

import java.util.Map;

/**
 * What a machine can do, from a datasheet or measured by {@code fathom calibrate}.
 *
 * @param version          schema version
 * @param name             identifier, e.g. {@code h100-sxm} or {@code this-machine}
 * @param description      one line for people
 * @param deviceKind       {@code cpu} or {@code gpu}
 * @param devices          devices of this kind in the machine (GPUs, or 1 for a CPU)
 * @param memoryPerDevice  bytes of memory per device (RAM for a CPU)
 * @param memoryBandwidth  peak (or measured) memory read bandwidth per device, bytes/s
 * @param peakFlops        peak FLOP/s per device, by precision id (f32, bf16, f16, int8)
 * @param hostLink         host-to-device bandwidth per device, bytes/s (0 for a CPU)
 * @param nvmeRead         NVMe read bandwidth, bytes/s
 * @param interconnect     GPU-to-GPU bandwidth per device, bytes/s (0 if none)
 * @param measured         true when the figures were measured on this machine
 */
public record HardwareProfile(
        int version,
        String name,
        String description,
        String deviceKind,
        int devices,
        long memoryPerDevice,
        double memoryBandwidth,
        Map<String, Double> peakFlops,
        double hostLink,
        double nvmeRead,
        double interconnect,
        boolean measured) {

    public static final int CURRENT_VERSION = 1;

    public HardwareProfile {
        peakFlops = peakFlops == null ? Map.of() : Map.copyOf(peakFlops);
    }

    /** Peak FLOP/s for a precision id, or the f32 figure, or 0. */
    public double flops(String precision) {
        Double v = peakFlops.get(precision);
        if (v == null) v = peakFlops.get("f32");
        return v == null ? 0 : v;
    }

    /** A copy with another device count (e.g. a preset board with fewer GPUs). */
    public HardwareProfile withDevices(int n) {
        return new HardwareProfile(version, name, description, deviceKind, n, memoryPerDevice, memoryBandwidth,
                peakFlops, hostLink, nvmeRead, interconnect, measured);
    }

    /** A copy with another name and description (e.g. when saving a measured profile). */
    public HardwareProfile withName(String newName, String newDescription) {
        return new HardwareProfile(version, newName, newDescription, deviceKind, devices, memoryPerDevice,
                memoryBandwidth, peakFlops, hostLink, nvmeRead, interconnect, measured);
    }
}
