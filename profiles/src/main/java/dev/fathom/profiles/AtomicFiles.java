package dev.fathom.profiles;

import java.io.BufferedOutputStream;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.file.attribute.PosixFilePermissions;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * Writes files so that a crash never leaves half a file: the bytes go to a temporary file in the
 * target's own directory, are forced to disk, and the temporary file is then renamed over the target
 * with {@link StandardCopyOption#ATOMIC_MOVE}.
 */
public final class AtomicFiles {
    private AtomicFiles() {}

    /** Writes UTF-8 text atomically, creating parent directories; throws {@link UncheckedIOException} on I/O failure. */
    public static void writeString(Path target, String text) {
        write(target, text.getBytes(StandardCharsets.UTF_8));
    }

    /** Something that writes a file's content to a stream. */
    @FunctionalInterface
    public interface Body {
        void write(OutputStream out) throws IOException;
    }

    /** Writes bytes atomically, creating parent directories; throws {@link UncheckedIOException} on I/O failure. */
    public static void write(Path target, byte[] bytes) {
        try {
            write(target, out -> out.write(bytes));
        } catch (IOException e) {
            throw new UncheckedIOException("Could not write " + target.toAbsolutePath() + ": " + e.getMessage(), e);
        }
    }

    /**
     * Streams {@code body} into a temporary file beside {@code target}, forces it to disk and renames it
     * over the target; on failure the target is untouched and the temporary file removed. The file gets
     * the usual {@code rw-r--r--} rather than the owner-only mode of a temporary file.
     */
    public static void write(Path target, Body body) throws IOException {
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, "." + abs.getFileName() + ".", ".tmp");
        try {
            try {
                Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rw-r--r--"));
            } catch (UnsupportedOperationException ignored) {
                // not a POSIX file system: keep its default
            }
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING);
                 OutputStream out = new BufferedOutputStream(Channels.newOutputStream(ch), 1 << 16)) {
                body.write(new java.io.FilterOutputStream(out) {
                    @Override public void write(byte[] b, int off, int len) throws IOException { out.write(b, off, len); }
                    @Override public void close() throws IOException { out.flush(); }   // a body that closes (Jackson does) must not close the channel before force
                });
                out.flush();
                ch.force(true);
            }
            try {
                Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                // Same directory, so this is still a rename on every file system we know of.
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
