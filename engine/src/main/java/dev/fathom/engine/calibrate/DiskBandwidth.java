package dev.fathom.engine.calibrate;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Measures how fast a directory's disk delivers data: a scratch file is written, synced, and read back
 * with {@code O_DIRECT} ({@link com.sun.nio.file.ExtendedOpenOption#DIRECT}) into an aligned off-heap
 * buffer, so the page cache does not flatter the figure. When the filesystem refuses {@code O_DIRECT}
 * (tmpfs, some overlay filesystems) the read goes through the page cache and the result says so.
 */
public final class DiskBandwidth {
    /** Alignment used for direct I/O buffers, offsets and lengths (a multiple of every common block size). */
    public static final int ALIGN = 4096;

    /**
     * @param bytesPerSec read bandwidth
     * @param direct      whether the read bypassed the page cache
     * @param bytes       bytes read
     */
    public record Result(double bytesPerSec, boolean direct, long bytes) {
        public String describe() {
            return String.format("%.2f GB/s (%s, %d MB)", bytesPerSec / 1e9, direct ? "O_DIRECT" : "page cache, O_DIRECT refused", bytes >> 20);
        }
    }

    private static final Map<Path, Result> CACHE = new ConcurrentHashMap<>();

    private DiskBandwidth() {}

    /** Measures once per directory per JVM, with a 128 MiB scratch file. */
    public static Result cached(Path dir) {
        Path key = dir.toAbsolutePath().normalize();
        return CACHE.computeIfAbsent(key, d -> {
            try {
                return measure(d, 128L << 20);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
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

    /** Writes a scratch file of {@code bytes} (rounded up to {@link #ALIGN}) in {@code dir}, reads it back, deletes it. */
    public static Result measure(Path dir, long bytes) throws IOException {
        Files.createDirectories(dir);
        long n = (bytes + ALIGN - 1) / ALIGN * ALIGN;
        Path f = Files.createTempFile(dir, "fathom-disk-", ".bin");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(Math.min(n, 16L << 20), ALIGN);
            for (long i = 0; i < buf.byteSize(); i += 8) buf.set(java.lang.foreign.ValueLayout.JAVA_LONG, i, i * 0x9E3779B97F4A7C15L);
            try (FileChannel w = FileChannel.open(f, StandardOpenOption.WRITE)) {
                for (long off = 0; off < n; off += buf.byteSize()) {
                    ByteBuffer bb = buf.asSlice(0, Math.min(buf.byteSize(), n - off)).asByteBuffer();
                    while (bb.hasRemaining()) w.write(bb, off + bb.position());
                }
                w.force(true);
            }
            FileChannel d = openDirect(f);
            boolean direct = d != null;
            FileChannel ch = d != null ? d : FileChannel.open(f, StandardOpenOption.READ);
            MemorySegment dst = arena.allocate(Math.min(n, 32L << 20), ALIGN);
            long t0 = System.nanoTime();
            try (ch) {
                for (long off = 0; off < n; off += dst.byteSize()) {
                    long len = Math.min(dst.byteSize(), n - off);
                    readFully(ch, off, dst.asSlice(0, len));
                }
            }
            long dt = Math.max(1, System.nanoTime() - t0);
            return new Result(n * 1e9 / dt, direct, n);
        } finally {
            Files.deleteIfExists(f);
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

    /** Prints the bandwidth of a directory: {@code java ... DiskBandwidth [DIR] [MB]}. */
    public static void main(String[] args) throws IOException {
        Path dir = Path.of(args.length > 0 ? args[0] : System.getProperty("java.io.tmpdir"));
        long mb = args.length > 1 ? Long.parseLong(args[1]) : 256;
        System.out.println("disk read " + dir + ": " + measure(dir, mb << 20).describe());
        System.out.printf("host copy: %.2f GB/s%n", hostCopy() / 1e9);
    }
}
