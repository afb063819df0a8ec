package dev.fathom.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashMap;
import java.util.Map;

/**
 * A kernel image built by nvcc at build time ({@code /cuda/fathom_kernels.fatbin} in the jar), loaded with
 * cuModuleLoadData so the driver picks the cubin for this GPU, plus a launcher that packs kernel arguments. A second
 * image, {@link #HOPPER} ({@code wgemm_sm90a.cu}), holds the kernels built for sm_90a alone (warpgroup MMA, which has
 * no portable form); {@link #hopper} loads it on compute capability 9.0 only.
 */
public final class CudaModule {
    public static final String RESOURCE = "/cuda/fathom_kernels.fatbin";
    /** The sm_90a image: kernels that use instructions only compute capability 9.0 runs (wgmma). */
    public static final String HOPPER = "/cuda/wgemm_sm90a.fatbin";
    /** one loaded image per device ordinal and resource */
    private static final Map<String, CudaModule> instances = new HashMap<>();

    private final Cuda cu;
    private final long module;
    private final Map<String, Long> functions = new HashMap<>();
    /** argument values (8 bytes each) followed by the pointer array cuLaunchKernel reads; reused per launch */
    private final MemorySegment argBuf = Arena.ofAuto().allocate(64 * 8 * 2, 16);

    private CudaModule(Cuda cu, byte[] image) {
        this.cu = cu;
        MemorySegment img = Arena.ofAuto().allocate(image.length + 1L, 16);
        MemorySegment.copy(image, 0, img, ValueLayout.JAVA_BYTE, 0, image.length);
        this.module = cu.loadModule(img);
    }

    /** True when the jar carries the kernel image (it is absent when the build machine had no nvcc). */
    public static boolean imagePresent() { return CudaModule.class.getResource(RESOURCE) != null; }

    /** The kernels loaded into device 0's primary context. */
    public static CudaModule get() { return get(Cuda.get()); }

    /** The kernels loaded into {@code cu}'s context (once per device; makes that context current on this thread). */
    public static CudaModule get(Cuda cu) { return load(cu, RESOURCE); }

    /**
     * Why the sm_90a image cannot run on a device of compute capability {@code major.minor}, or null when it can: its
     * cubin is for 9.0 only, and there is no PTX to compile for another GPU.
     */
    static String hopperRefusal(int major, int minor, boolean imagePresent) {
        if (major != 9 || minor != 0) return "the sm_90a kernels run on compute capability 9.0 (H100, H200) only, not " + major + "." + minor;
        return imagePresent ? null : "this build has no sm_90a kernels (" + HOPPER + " is missing: nvcc was missing when it was built)";
    }

    /** {@link #hopperRefusal(int, int, boolean)} for {@code cu}'s GPU and this build's jar. */
    static String hopperRefusal(Cuda cu) {
        return hopperRefusal(cu.ccMajor(), cu.ccMinor(), CudaModule.class.getResource(HOPPER) != null);
    }

    /**
     * The sm_90a image in {@code cu}'s context, or null where {@link #hopperRefusal} refuses it; a driver that cannot
     * load the cubin throws IllegalStateException with its reason.
     */
    public static CudaModule hopper(Cuda cu) {
        return hopperRefusal(cu) != null ? null : load(cu, HOPPER);
    }

    private static CudaModule load(Cuda cu, String resource) {
        synchronized (instances) {
            String key = cu.ordinal() + resource;
            CudaModule m = instances.get(key);
            if (m != null) return m;
            try (InputStream in = CudaModule.class.getResourceAsStream(resource)) {
                if (in == null) throw new IllegalStateException("this build has no CUDA kernels (nvcc was missing when it was built)");
                cu.makeCurrent();
                m = new CudaModule(cu, in.readAllBytes());
            } catch (IOException e) {
                throw new IllegalStateException("cannot read " + resource + ": " + e.getMessage(), e);
            }
            instances.put(key, m);
            return m;
        }
    }

    public Cuda cuda() { return cu; }

    public synchronized long fn(String name) {
        return functions.computeIfAbsent(name, n -> {
            long f = cu.function(module, n);
            if (carveout != -1) cu.setCarveout(f, carveout);
            return f;
        });
    }

    /** The shared-memory carveout every kernel of the image prefers (percent; -1: the driver's default). */
    private int carveout = -1;

    /**
     * Makes every kernel of the image, loaded or still to load, prefer {@code percent} of the L1/shared storage as shared
     * memory (-1 restores the driver's default): an experiment on whether kernels of different preferences keep each
     * other from starting early under programmatic dependent launch. At 100 % the llama-7b decode step did not change on
     * an H100 (twentieth session), so the model leaves the driver's default unless -Dfathom.cuda.carveout says otherwise.
     */
    public synchronized void setCarveout(int percent) {
        if (percent < -1 || percent > 100) throw new IllegalArgumentException("carveout " + percent + ": use -1 (the driver's default) or 0 to 100 percent");
        if (percent == carveout) return;
        carveout = percent;
        for (long f : functions.values()) cu.setCarveout(f, percent);
    }

    /** The carveout set by {@link #setCarveout} (-1: the driver's default). */
    public synchronized int carveout() { return carveout; }

    /** The device address of the image's {@code __device__} variable {@code name}. */
    public synchronized long global(String name) { return cu.global(module, name); }

    /**
     * Launches {@code name}; each argument is a Long (pointer or 64-bit integer), Integer, Float or Double, or a
     * MemorySegment holding a by-value parameter of any size (alive until this returns).
     * Kernel parameters are copied by the driver at the call, so one argument buffer serves every launch.
     */
    public synchronized void launch(String name, int gx, int gy, int bx, int smem, long stream, Object... args) {
        launch(false, name, gx, gy, bx, smem, stream, args);
    }

    /** Same; {@code pdl}: as a programmatic dependent launch ({@link Cuda#launchPdl}). */
    public synchronized void launch(boolean pdl, String name, int gx, int gy, int bx, int smem, long stream, Object... args) {
        launch(pdl, 1, name, gx, gy, 1, bx, smem, stream, args);
    }

    /** Same over a three-dimensional grid. */
    public synchronized void launch3(boolean pdl, String name, int gx, int gy, int gz, int bx, int smem, long stream, Object... args) {
        launch(pdl, 1, name, gx, gy, gz, bx, smem, stream, args);
    }

    /** Same in thread-block clusters of {@code clusterX} consecutive blocks along x (sm_90; 1: none). */
    public synchronized void launch(boolean pdl, int clusterX, String name, int gx, int gy, int bx, int smem, long stream, Object... args) {
        launch(pdl, clusterX, name, gx, gy, 1, bx, smem, stream, args);
    }

    private void launch(boolean pdl, int clusterX, String name, int gx, int gy, int gz, int bx, int smem, long stream, Object[] args) {
        long f = fn(name);
        MemorySegment ptrs = argBuf.asSlice(64 * 8);
        for (int i = 0; i < args.length; i++) {
            long off = i * 8L;
            switch (args[i]) {
                case Long l -> argBuf.set(ValueLayout.JAVA_LONG, off, l);
                case Integer v -> argBuf.set(ValueLayout.JAVA_INT, off, v);
                case Float v -> argBuf.set(ValueLayout.JAVA_FLOAT, off, v);
                case Double v -> argBuf.set(ValueLayout.JAVA_DOUBLE, off, v);
                case MemorySegment m -> {   // a parameter passed by value from native memory (a CUtensorMap): read at the call
                    ptrs.set(ValueLayout.ADDRESS, i * 8L, m);
                    continue;
                }
                default -> throw new IllegalArgumentException("kernel argument " + i + " of " + name + ": " + args[i]);
            }
            ptrs.set(ValueLayout.ADDRESS, i * 8L, argBuf.asSlice(off));
        }
        if (pdl || clusterX > 1) cu.launchEx(f, gx, gy, gz, bx, 1, 1, smem, stream, ptrs, pdl, clusterX);
        else cu.launch(f, gx, gy, gz, bx, 1, 1, smem, stream, ptrs);
    }
}
