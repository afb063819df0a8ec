package dev.fathom.engine.offload;

import dev.fathom.engine.EngineException;
import dev.fathom.engine.calibrate.DiskBandwidth;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The NVMe tier: one file per layer ({@code layer-NNN.bin}, the packed layer padded to 4 KiB) in a
 * private folder under the chosen directory, written once and read back with {@code O_DIRECT} into
 * aligned buffers (through the page cache, with a note, where the filesystem refuses O_DIRECT). The
 * folder is deleted on {@link #close()}.
 */
public final class NvmeStore implements LayerStore {
    private final Path dir;
    private final Map<Integer, Path> files = new HashMap<>();
    private final Map<Integer, FileChannel> channels = new HashMap<>();
    private boolean direct = true;
    private long bytes;

    /** @param parent directory to create the layer folder in (null = {@code java.io.tmpdir}) */
    public NvmeStore(String parent) {
        Path p = Path.of(parent == null || parent.isBlank() ? System.getProperty("java.io.tmpdir") : parent);
        try {
            Files.createDirectories(p);
            dir = Files.createTempDirectory(p, "fathom-weights-");
        } catch (IOException | UnsupportedOperationException e) {
            throw new EngineException("Cannot create the NVMe weight folder in " + p + " (" + e.getMessage()
                    + "): point --nvme-dir (placement.nvmeDir) at a writable directory.");
        }
    }

    public Path dir() { return dir; }
    /** False once the filesystem refused O_DIRECT and reads went through the page cache. */
    public synchronized boolean direct() { return direct; }

    /** Writes layer {@code layer} packed into its file. */
    public void put(int layer, LayerPack pack) {
        Path f = dir.resolve(String.format("layer-%03d.bin", layer));
        try (Arena a = Arena.ofConfined(); FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            MemorySegment seg = a.allocate(pack.bytes(), LayerPack.ALIGN);
            pack.pack(seg);
            for (long off = 0; off < seg.byteSize(); ) {
                ByteBuffer bb = seg.asSlice(off, Math.min(64L << 20, seg.byteSize() - off)).asByteBuffer();
                while (bb.hasRemaining()) ch.write(bb, off + bb.position());
                off += bb.capacity();
            }
            ch.force(false);
        } catch (IOException e) {
            throw new EngineException("Writing layer " + layer + " to " + f + " failed (" + e.getMessage()
                    + "): free disk space or point --nvme-dir at another directory.");
        }
        FileChannel rc = DiskBandwidth.openDirect(f);
        synchronized (this) {
            if (rc == null) {
                direct = false;
                try {
                    rc = FileChannel.open(f, StandardOpenOption.READ);
                } catch (IOException e) {
                    throw new EngineException("Cannot reopen " + f + " (" + e.getMessage() + "): check --nvme-dir.");
                }
            }
            files.put(layer, f);
            channels.put(layer, rc);
            bytes += pack.bytes();
        }
    }

    @Override public String tier() { return "nvme"; }
    @Override public String transferKind() { return "nvme-read"; }
    @Override public synchronized long bytes() { return bytes; }

    @Override
    public String note() {
        return direct() ? null : "the filesystem of " + dir + " refused O_DIRECT: NVMe-tier reads go through the page cache";
    }

    @Override
    public void read(int layer, MemorySegment dst) throws IOException {
        FileChannel ch;
        synchronized (this) { ch = channels.get(layer); }
        if (ch == null) throw new IllegalStateException("layer " + layer + " is not in the NVMe tier");
        DiskBandwidth.readFully(ch, 0, dst);
    }

    @Override
    public synchronized void close() {
        for (FileChannel c : channels.values()) {
            try { c.close(); } catch (IOException ignored) { }
        }
        channels.clear();
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> {
                try { Files.deleteIfExists(p); } catch (IOException ignored) { }
            });
        } catch (IOException ignored) { }
    }
}
