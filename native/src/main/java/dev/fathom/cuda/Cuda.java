package dev.fathom.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.HashMap;
import java.util.Map;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The CUDA driver API ({@code libcuda.so.1}) through the Foreign Function &amp; Memory API. One binding for
 * the driver and for cuBLAS ({@link Cublas}) so device pointers are plain {@code long}s that both accept;
 * JCuda 12 could not reach the CUDA 13 cuBLAS, and its pinned allocations stop at 2 GiB.
 *
 * <p>Every call checks its {@code CUresult} and throws {@link CudaException} naming the call and error.
 */
public final class Cuda {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final Arena LIB_ARENA = Arena.ofAuto();
    private static final int MAX_DEVICES = 64;
    /** one binding per device ordinal (its primary context), created on first use */
    private static final Cuda[] instances = new Cuda[MAX_DEVICES];
    private static volatile Throwable loadFailure;

    private final SymbolLookup lib;
    private final Map<String, MethodHandle> handles = new HashMap<>();
    private final int device;
    private final long context;
    private final int smCount;
    private final int ccMajor;
    private final int ccMinor;
    private final String name;

    /** A driver call that returned an error. */
    public static final class CudaException extends RuntimeException {
        public final int code;
        CudaException(String call, int code, String name) {
            super(call + " failed: " + name + " (" + code + ")");
            this.code = code;
        }
    }

    private final int ordinal;
    private final int deviceCount;

    private Cuda(int ordinal) {
        this.ordinal = ordinal;
        lib = SymbolLookup.libraryLookup("libcuda.so.1", LIB_ARENA);
        check("cuInit", (int) call("cuInit", FunctionDescriptor.of(JAVA_INT, JAVA_INT), 0));
        try (Arena a = Arena.ofConfined()) {
            MemorySegment i = a.allocate(JAVA_INT);
            check("cuDeviceGetCount", (int) call("cuDeviceGetCount", FunctionDescriptor.of(JAVA_INT, ADDRESS), i));
            deviceCount = i.get(JAVA_INT, 0);
            if (deviceCount == 0) throw new CudaException("cuDeviceGetCount", 100, "CUDA_ERROR_NO_DEVICE");
            if (ordinal >= deviceCount) throw new CudaException("cuDeviceGet(" + ordinal + ")", 101, "CUDA_ERROR_INVALID_DEVICE");
            check("cuDeviceGet", (int) call("cuDeviceGet", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), i, ordinal));
            device = i.get(JAVA_INT, 0);
            MemorySegment c = a.allocate(ADDRESS);
            check("cuDevicePrimaryCtxRetain", (int) call("cuDevicePrimaryCtxRetain", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), c, device));
            context = c.get(JAVA_LONG, 0);
            makeCurrent();
            smCount = attribute(16);   // CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT
            ccMajor = attribute(75);
            ccMinor = attribute(76);
            MemorySegment nm = a.allocate(256);
            check("cuDeviceGetName", (int) call("cuDeviceGetName", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), nm, 256, device));
            name = nm.getString(0);
        }
    }

    /** The process-wide driver binding (device 0, primary context); throws if there is no driver or device. */
    public static Cuda get() { return get(0); }

    /**
     * The binding of device {@code ordinal} (its primary context), one per device for the process; throws if
     * there is no driver or no such device. Work for this device must be issued after {@link #makeCurrent()}.
     */
    public static Cuda get(int ordinal) {
        if (ordinal < 0 || ordinal >= MAX_DEVICES) throw new IllegalArgumentException("device " + ordinal);
        synchronized (instances) {
            Cuda c = instances[ordinal];
            if (c != null) return c;
            if (loadFailure != null) throw new IllegalStateException(loadFailure.getMessage(), loadFailure);
            try {
                c = new Cuda(ordinal);
            } catch (Throwable t) {
                if (ordinal == 0) loadFailure = t;   // no driver or no device at all: remember it
                throw t instanceof RuntimeException re ? re : new IllegalStateException(t.getMessage(), t);
            }
            return instances[ordinal] = c;
        }
    }

    /** Number of CUDA devices the driver sees. */
    public int deviceCount() { return deviceCount; }

    /** This binding's device ordinal. */
    public int ordinal() { return ordinal; }

    /** True when this device can read and write {@code peer}'s memory directly (NVLink or PCIe P2P). */
    public boolean canAccessPeer(Cuda peer) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment i = a.allocate(JAVA_INT);
            check("cuDeviceCanAccessPeer", (int) call("cuDeviceCanAccessPeer", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT),
                    i, device, peer.device));
            return i.get(JAVA_INT, 0) != 0;
        }
    }

    /**
     * Maps {@code peer}'s allocations into this context (cuCtxEnablePeerAccess): kernels of this device may then
     * load and store through {@code peer}'s device pointers (unified addressing). Calling it twice is harmless.
     */
    public void enablePeerAccess(Cuda peer) {
        makeCurrent();
        int rc = (int) call("cuCtxEnablePeerAccess", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_INT), peer.context, 0);
        if (rc != 704) check("cuCtxEnablePeerAccess", rc);   // 704: CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED
    }

    public int smCount() { return smCount; }
    public String name() { return name; }
    public String computeCapability() { return ccMajor + "." + ccMinor; }

    /** Binds the primary context to the calling thread (each thread that issues work must call it). */
    public void makeCurrent() {
        check("cuCtxSetCurrent", (int) call("cuCtxSetCurrent", FunctionDescriptor.of(JAVA_INT, JAVA_LONG), context));
    }

    private int attribute(int attr) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment i = a.allocate(JAVA_INT);
            check("cuDeviceGetAttribute", (int) call("cuDeviceGetAttribute", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), i, attr, device));
            return i.get(JAVA_INT, 0);
        }
    }

    // ------------------------------------------------------------------ plumbing

    MethodHandle handle(String fn, FunctionDescriptor d) {
        synchronized (handles) {
            return handles.computeIfAbsent(fn, f -> LINKER.downcallHandle(lib.find(f).orElseThrow(
                    () -> new UnsatisfiedLinkError("libcuda.so.1 has no " + f)), d));
        }
    }

    Object call(String fn, FunctionDescriptor d, Object... args) {
        try {
            return handle(fn, d).invokeWithArguments(args);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(fn + ": " + t, t);
        }
    }

    void check(String fn, int rc) {
        if (rc == 0) return;
        String n = "CUDA error";
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            int r = (int) handle("cuGetErrorName", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS)).invokeExact(rc, p);
            if (r == 0) n = p.get(ADDRESS, 0).reinterpret(128).getString(0);
        } catch (Throwable ignored) {
            // keep the generic name
        }
        throw new CudaException(fn, rc, n);
    }

    private long outLong(String fn, FunctionDescriptor d, Object... rest) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(JAVA_LONG);
            Object[] args = new Object[rest.length + 1];
            args[0] = p;
            System.arraycopy(rest, 0, args, 1, rest.length);
            check(fn, (int) call(fn, d, args));
            return p.get(JAVA_LONG, 0);
        }
    }

    // ------------------------------------------------------------------ memory

    private static final FunctionDescriptor ALLOC = FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG);
    private static final FunctionDescriptor P1 = FunctionDescriptor.of(JAVA_INT, JAVA_LONG);
    private static final FunctionDescriptor CPY_H2D = FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_LONG);
    private static final FunctionDescriptor CPY_D2H = FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_LONG);
    private static final FunctionDescriptor MEMSET = FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_LONG);

    /** Device allocation of {@code bytes} (at least 1). */
    public long malloc(long bytes) { return outLong("cuMemAlloc_v2", ALLOC, Math.max(bytes, 1)); }

    public void free(long ptr) { if (ptr != 0) check("cuMemFree_v2", (int) call("cuMemFree_v2", P1, ptr)); }

    public void copyToDevice(long dst, MemorySegment src, long bytes, long stream) {
        check("cuMemcpyHtoDAsync_v2", (int) call("cuMemcpyHtoDAsync_v2", CPY_H2D, dst, src, bytes, stream));
    }

    public void copyToHost(MemorySegment dst, long src, long bytes, long stream) {
        check("cuMemcpyDtoHAsync_v2", (int) call("cuMemcpyDtoHAsync_v2", CPY_D2H, dst, src, bytes, stream));
    }

    /** Device-to-device copy on {@code stream}. */
    public void copyDeviceToDevice(long dst, long src, long bytes, long stream) {
        check("cuMemcpyDtoDAsync_v2", (int) call("cuMemcpyDtoDAsync_v2",
                FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG), dst, src, bytes, stream));
    }

    /**
     * Copies {@code bytes} from {@code src} (this device) to {@code dst} on {@code peer}'s device on {@code stream}
     * (cuMemcpyPeerAsync): direct over NVLink / PCIe P2P once peer access is enabled, staged by the driver otherwise.
     */
    public void copyPeer(long dst, Cuda peer, long src, long bytes, long stream) {
        check("cuMemcpyPeerAsync", (int) call("cuMemcpyPeerAsync",
                FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG),
                dst, peer.context, src, context, bytes, stream));
    }

    public void fill32(long dst, int value, long count, long stream) {
        check("cuMemsetD32Async", (int) call("cuMemsetD32Async", MEMSET, dst, value, count, stream));
    }

    /** Page-locked host memory of {@code bytes} (cuMemHostAlloc, portable), as a segment of that size. */
    public MemorySegment hostAlloc(long bytes) {
        long p = outLong("cuMemHostAlloc", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT), Math.max(bytes, 1), 1);
        return MemorySegment.ofAddress(p).reinterpret(bytes);
    }

    /** Pinned host memory also mapped into the device's address space (CU_MEMHOSTALLOC_PORTABLE | DEVICEMAP). */
    public MemorySegment hostAllocMapped(long bytes) {
        long p = outLong("cuMemHostAlloc", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT), Math.max(bytes, 1), 3);
        return MemorySegment.ofAddress(p).reinterpret(bytes);
    }

    /** The device address of mapped host memory from {@link #hostAllocMapped}. */
    public long devicePointer(MemorySegment mappedHost) {
        return outLong("cuMemHostGetDevicePointer_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT), mappedHost, 0);
    }

    public void hostFree(MemorySegment p) {
        if (p != null && p.address() != 0) check("cuMemFreeHost", (int) call("cuMemFreeHost", FunctionDescriptor.of(JAVA_INT, ADDRESS), p));
    }

    /** Work queued on {@code stream} after this call waits for {@code event}'s last recorded work (none recorded: no wait). */
    public void streamWaitEvent(long stream, long event) {
        check("cuStreamWaitEvent", (int) call("cuStreamWaitEvent", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_INT), stream, event, 0));
    }

    /** [free, total] device memory in bytes. */
    public long[] memInfo() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment f = a.allocate(JAVA_LONG), t = a.allocate(JAVA_LONG);
            check("cuMemGetInfo_v2", (int) call("cuMemGetInfo_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), f, t));
            return new long[]{f.get(JAVA_LONG, 0), t.get(JAVA_LONG, 0)};
        }
    }

    // ------------------------------------------------------------------ modules and launches

    public long loadModule(MemorySegment image) {
        return outLong("cuModuleLoadData", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), image);
    }

    public long function(long module, String name) {
        try (Arena a = Arena.ofConfined()) {
            return outLong("cuModuleGetFunction", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS), module, a.allocateFrom(name));
        }
    }

    /** The device address of a module's {@code __device__} variable {@code name} (cuModuleGetGlobal). */
    public long global(long module, String name) {
        try (Arena a = Arena.ofConfined()) {
            return outLong("cuModuleGetGlobal_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS),
                    MemorySegment.NULL, module, a.allocateFrom(name));
        }
    }

    /**
     * CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT: the share of a multiprocessor's L1/shared storage the kernel
     * prefers as shared memory, in percent, or -1 for the driver's default (CU_SHAREDMEM_CARVEOUT_DEFAULT).
     */
    public void setCarveout(long fn, int percent) {
        check("cuFuncSetAttribute", (int) call("cuFuncSetAttribute", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_INT), fn, 9, percent));
    }

    /** CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES. */
    public void setMaxDynamicShared(long fn, int bytes) {
        check("cuFuncSetAttribute", (int) call("cuFuncSetAttribute", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_INT), fn, 8, bytes));
    }

    /** CUtensorMapDataType values of cuda.h this code encodes. */
    public static final int TMAP_BF16 = 9, TMAP_F32 = 7;
    /** CUtensorMapSwizzle: 128-byte. */
    public static final int SWIZZLE_128B = 3;
    /** Bytes of a CUtensorMap (16 quadwords), passed to a kernel by value. */
    public static final int TENSOR_MAP_BYTES = 128;

    /**
     * Encodes a 2-D tiled tensor map (cuTensorMapEncodeTiled) into {@code out} (128 bytes, 64-byte aligned): a row-major
     * matrix at device address {@code addr} of {@code rows} x {@code cols} elements of {@code dtype}, rows {@code strideBytes}
     * apart (a multiple of 16), copied in boxes of {@code boxRows} x {@code boxCols}; out-of-bounds elements read as zeros.
     * {@code l2Promote256}: the copies ask L2 for whole 256-byte segments.
     */
    public void tensorMap2d(MemorySegment out, long addr, int dtype, long cols, long rows, long strideBytes, int boxCols, int boxRows,
                            int swizzle, boolean l2Promote256) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment dims = a.allocate(JAVA_LONG, 2), strides = a.allocate(JAVA_LONG, 1), box = a.allocate(JAVA_INT, 2),
                    elem = a.allocate(JAVA_INT, 2);
            dims.setAtIndex(JAVA_LONG, 0, cols);
            dims.setAtIndex(JAVA_LONG, 1, rows);
            strides.setAtIndex(JAVA_LONG, 0, strideBytes);
            box.setAtIndex(JAVA_INT, 0, boxCols);
            box.setAtIndex(JAVA_INT, 1, boxRows);
            elem.setAtIndex(JAVA_INT, 0, 1);
            elem.setAtIndex(JAVA_INT, 1, 1);
            check("cuTensorMapEncodeTiled", (int) call("cuTensorMapEncodeTiled", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT,
                    JAVA_LONG, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT),
                    out, dtype, 2, addr, dims, strides, box, elem, 0, swizzle, l2Promote256 ? 3 : 0, 0));
        }
    }

    private static final FunctionDescriptor LAUNCH = FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT,
            JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS, ADDRESS);
    private MethodHandle launchHandle;

    /** cuLaunchKernel with {@code params} = array of pointers to the argument values. */
    public void launch(long fn, int gx, int gy, int gz, int bx, int by, int bz, int smem, long stream, MemorySegment params) {
        MethodHandle h = launchHandle;
        if (h == null) launchHandle = h = handle("cuLaunchKernel", LAUNCH);
        int rc;
        try {
            rc = (int) h.invokeExact(fn, gx, gy, gz, bx, by, bz, smem, stream, params, MemorySegment.NULL);
        } catch (Throwable t) {
            throw new IllegalStateException("cuLaunchKernel: " + t, t);
        }
        check("cuLaunchKernel", rc);
    }

    private static final FunctionDescriptor LAUNCH_EX = FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS);
    private MethodHandle launchExHandle;
    /** CUlaunchConfig (56 bytes) followed by up to two CUlaunchAttributes (72 bytes each). */
    private MemorySegment launchConfig;

    /**
     * cuLaunchKernelEx with programmatic stream serialization (programmatic dependent launch, sm_90): the kernel may
     * be scheduled before the previous kernel on the stream finishes, once that one triggers; it must wait
     * ({@code griddepcontrol.wait}) before using the previous kernel's results, as Fathom's decode kernels do.
     */
    public void launchPdl(long fn, int gx, int gy, int gz, int bx, int by, int bz, int smem, long stream, MemorySegment params) {
        launchEx(fn, gx, gy, gz, bx, by, bz, smem, stream, params, true, 1);
    }

    /**
     * cuLaunchKernelEx with optional programmatic dependent launch ({@link #launchPdl}) and thread-block clusters of
     * {@code clusterX} consecutive blocks along x (sm_90; 1 = no cluster attribute; gx must be a multiple of it).
     */
    public synchronized void launchEx(long fn, int gx, int gy, int gz, int bx, int by, int bz, int smem, long stream, MemorySegment params,
                                      boolean pdl, int clusterX) {
        MethodHandle h = launchExHandle;
        if (h == null) launchExHandle = h = handle("cuLaunchKernelEx", LAUNCH_EX);
        MemorySegment c = launchConfig;
        if (c == null) launchConfig = c = LIB_ARENA.allocate(56 + 2 * 72, 16);
        c.fill((byte) 0);
        int[] dims = {gx, gy, gz, bx, by, bz, smem};
        for (int i = 0; i < dims.length; i++) c.set(JAVA_INT, 4L * i, dims[i]);
        c.set(JAVA_LONG, 32, stream);
        c.set(ADDRESS, 40, c.asSlice(56));
        int n = 0;
        if (pdl) {
            long a = 56 + 72L * n++;
            c.set(JAVA_INT, a, 6);       // CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION
            c.set(JAVA_INT, a + 8, 1);   // value.programmaticStreamSerializationAllowed
        }
        if (clusterX > 1) {
            long a = 56 + 72L * n++;
            c.set(JAVA_INT, a, 4);       // CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION
            c.set(JAVA_INT, a + 8, clusterX);
            c.set(JAVA_INT, a + 12, 1);
            c.set(JAVA_INT, a + 16, 1);
        }
        c.set(JAVA_INT, 48, n);
        int rc;
        try {
            rc = (int) h.invokeExact(c, fn, params, MemorySegment.NULL);
        } catch (Throwable t) {
            throw new IllegalStateException("cuLaunchKernelEx: " + t, t);
        }
        check("cuLaunchKernelEx", rc);
    }

    /** Compute capability major version (9 for Hopper). */
    public int ccMajor() { return ccMajor; }

    /** Compute capability minor version (0 for H100 and H200). */
    public int ccMinor() { return ccMinor; }

    // ------------------------------------------------------------------ streams, events, graphs

    public long streamCreate() { return outLong("cuStreamCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), 1); }

    /** Waits for all work of this context, every stream's (cuCtxSynchronize; makes the context current first). */
    public void synchronizeAll() {
        makeCurrent();
        check("cuCtxSynchronize", (int) call("cuCtxSynchronize", FunctionDescriptor.of(JAVA_INT)));
    }

    public void synchronize(long stream) { check("cuStreamSynchronize", (int) call("cuStreamSynchronize", P1, stream)); }

    public void streamDestroy(long stream) { check("cuStreamDestroy_v2", (int) call("cuStreamDestroy_v2", P1, stream)); }

    public long eventCreate() { return outLong("cuEventCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), 0); }

    public void eventRecord(long ev, long stream) {
        check("cuEventRecord", (int) call("cuEventRecord", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG), ev, stream));
    }

    public void eventSynchronize(long ev) { check("cuEventSynchronize", (int) call("cuEventSynchronize", P1, ev)); }

    public void eventDestroy(long ev) { check("cuEventDestroy_v2", (int) call("cuEventDestroy_v2", P1, ev)); }

    /** Milliseconds between two recorded events. */
    public float elapsedMs(long start, long end) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment f = a.allocate(JAVA_FLOAT);
            check("cuEventElapsedTime", (int) call("cuEventElapsedTime", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG), f, start, end));
            return f.get(JAVA_FLOAT, 0);
        }
    }

    /** Starts capturing {@code stream} into a graph (thread-local capture mode). */
    public void beginCapture(long stream) {
        check("cuStreamBeginCapture_v2", (int) call("cuStreamBeginCapture_v2", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_INT), stream, 1));
    }

    /** Ends the capture and instantiates it: returns [graph, exec]. */
    public long[] endCapture(long stream) {
        long graph;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment g = a.allocate(JAVA_LONG);
            check("cuStreamEndCapture", (int) call("cuStreamEndCapture", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS), stream, g));
            graph = g.get(JAVA_LONG, 0);
        }
        long exec = outLong("cuGraphInstantiateWithFlags", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG), graph, 0L);
        return new long[]{graph, exec};
    }

    public void graphLaunch(long exec, long stream) {
        check("cuGraphLaunch", (int) call("cuGraphLaunch", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG), exec, stream));
    }

    public void graphDestroy(long graph, long exec) {
        check("cuGraphExecDestroy", (int) call("cuGraphExecDestroy", P1, exec));
        check("cuGraphDestroy", (int) call("cuGraphDestroy", P1, graph));
    }

    static MemoryLayout pointerSized() { return ValueLayout.JAVA_LONG; }
}
