package dev.fathom.engine.calibrate;

import com.sun.nio.file.ExtendedOpenOption;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Sequential read speed of the disk under a folder: writes a temporary file, syncs it, then reads it
 * back with {@code O_DIRECT} ({@link ExtendedOpenOption#DIRECT}) through block-aligned buffers, so the
 * page cache is bypassed. Where the file system refuses {@code O_DIRECT} (tmpfs, some overlays), it
 * reads through the page cache instead and says so in the note, since that figure is then memory speed.
 *
 * @param bytesPerSecond the read rate
 * @param direct         true when the read bypassed the page cache
 * @param note           one sentence for people on how it was measured
 */
public record DiskRead(double bytesPerSecond, boolean direct, String note) {
    private static final int CHUNK = 4 << 20;

    /** Measures with a file of about {@code bytes} in {@code dir}; the file is deleted afterwards. */
    public static DiskRead measure(Path dir, long bytes) throws IOException {
        Files.createDirectories(dir);
        Path f = Files.createTempFile(dir, ".fathom-calibrate-", ".bin");
        try {
            long size = Math.max(CHUNK, bytes / CHUNK * CHUNK);
            write(f, size);
            int align = (int) Math.max(4096, blockSize(f));
            ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK + align).alignedSlice(align);
            buf.limit(CHUNK / align * align);
            String why;
            try (FileChannel ch = FileChannel.open(f, new OpenOption[]{StandardOpenOption.READ, ExtendedOpenOption.DIRECT})) {
                double r = read(ch, buf, size);
                return new DiskRead(r, true, String.format("read %d MiB with O_DIRECT from %s", size >> 20, dir));
            } catch (UnsupportedOperationException | IOException e) {
                why = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
            }
            try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
                double r = read(ch, buf.clear(), size);
                return new DiskRead(r, false, String.format("read %d MiB through the page cache from %s (O_DIRECT refused: %s), "
                        + "so the figure is closer to memory speed than disk speed", size >> 20, dir, why));
            }
        } finally {
            Files.deleteIfExists(f);
        }
    }

    private static long blockSize(Path f) {
        try {
            return Files.getFileStore(f).getBlockSize();
        } catch (IOException | UnsupportedOperationException e) {
            return 4096;
        }
    }

    private static void write(Path f, long size) throws IOException {
        ByteBuffer b = ByteBuffer.allocateDirect(CHUNK);
        byte[] noise = new byte[CHUNK];
        ThreadLocalRandom.current().nextBytes(noise);
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            for (long done = 0; done < size; done += CHUNK) {
                b.clear();
                b.put(noise);
                b.flip();
                while (b.hasRemaining()) ch.write(b);
            }
            ch.force(true);
        }
    }

    private static double read(FileChannel ch, ByteBuffer buf, long size) throws IOException {
        long t0 = System.nanoTime(), pos = 0;
        while (pos < size) {
            buf.clear();
            buf.limit(Math.min(buf.capacity() / 4096 * 4096, (int) Math.min(Integer.MAX_VALUE, size - pos)));
            int n = ch.read(buf, pos);
            if (n <= 0) break;
            pos += n;
        }
        long ns = System.nanoTime() - t0;
        if (pos < size) throw new IOException("short read: " + pos + " of " + size + " bytes");
        return pos / (ns / 1e9);
    }
}
