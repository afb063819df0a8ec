package dev.fathom.engine.calibrate;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Direct I/O for the NVMe weight tier and the link speeds the streaming plan uses: {@code O_DIRECT}
 * ({@link com.sun.nio.file.ExtendedOpenOption#DIRECT}) channels and aligned reads into off-heap
 * segments, the disk read rate of a folder ({@link DiskRead}, measured once per folder per JVM) and the
 * host copy rate.
 */
public final class DiskBandwidth {
    /** Alignment used for direct I/O buffers, offsets and lengths (a multiple of every common block size). */
    public static final int ALIGN = 4096;

    private static final Map<Path, DiskRead> CACHE = new ConcurrentHashMap<>();

    private DiskBandwidth() {}

    /** The disk read rate of {@code dir} with a 128 MiB file and O_DIRECT, measured once per folder per JVM. */
    public static DiskRead cached(Path dir) {
        Path key = dir.toAbsolutePath().normalize();
        return CACHE.computeIfAbsent(key, d -> {
            try {
                return DiskRead.measure(d, 128L << 20);
            } catch (IOException e) {
                throw new dev.fathom.engine.EngineException("Cannot write a test file in " + d + " to measure its read speed ("
                        + e.getClass().getSimpleName() + ": " + e.getMessage() + "): set --nvme-dir (or the profile's placement.nvmeDir) to a writable folder.", e);
            }
        });
    }

    /** Opens {@code file} for reading with O_DIRECT, or null when the filesystem refuses it. */
    public static FileChannel openDirect(Path file) {
        try {
            return FileChannel.open(file, StandardOpenOption.READ, com.sun.nio.file.ExtendedOpenOption.DIRECT);
        } catch (UnsupportedOperationException | IOException e) {
            return null;
        }
    }

    /**
     * Reads {@code dst.byteSize()} bytes at {@code position} into {@code dst} (aligned segment, aligned
     * length and position when the channel is direct), in chunks of at most 64 MiB.
     */
    public static void readFully(FileChannel ch, long position, MemorySegment dst) throws IOException {
        long done = 0, n = dst.byteSize();
        while (done < n) {
            long len = Math.min(n - done, 64L << 20);
            ByteBuffer bb = dst.asSlice(done, len).asByteBuffer();
            while (bb.hasRemaining()) {
                int r = ch.read(bb, position + done + bb.position());
                if (r < 0) throw new IOException("unexpected end of file at byte " + (position + done + bb.position()));
            }
            done += len;
        }
    }

    /** Host memory copy bandwidth (one thread, {@code MemorySegment.copy} between two 64 MiB buffers), bytes/s. */
    public static double hostCopy() {
        Double c = hostCopy;
        if (c != null) return c;
        try (Arena arena = Arena.ofConfined()) {
            long n = 64L << 20;
            MemorySegment a = arena.allocate(n, ALIGN), b = arena.allocate(n, ALIGN);
            a.fill((byte) 1);
            MemorySegment.copy(a, 0, b, 0, n);
            long best = Long.MAX_VALUE;
            for (int i = 0; i < 3; i++) {
                long t0 = System.nanoTime();
                MemorySegment.copy(a, 0, b, 0, n);
                best = Math.min(best, System.nanoTime() - t0);
            }
            hostCopy = n * 1e9 / Math.max(1, best);
        }
        return hostCopy;
    }

    private static volatile Double hostCopy;
}
