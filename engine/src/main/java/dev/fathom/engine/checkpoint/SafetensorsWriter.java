package dev.fathom.engine.checkpoint;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fathom.engine.tensor.Tensor;
import dev.fathom.profiles.AtomicFiles;

import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;

/** Writes tensors as a safetensors file, atomically (temp file + rename). */
public final class SafetensorsWriter {
    private SafetensorsWriter() {}

    public static void write(Path path, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode header = json.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode m = header.putObject("__metadata__");
            metadata.forEach(m::put);
        }
        long off = 0;
        for (var e : tensors.entrySet()) {
            Tensor t = e.getValue();
            ObjectNode n = header.putObject(e.getKey());
            n.put("dtype", t.dtype().name());
            var sh = n.putArray("shape");
            for (long d : t.shape()) sh.add(d);
            var o = n.putArray("data_offsets");
            o.add(off);
            off += t.byteSize();
            o.add(off);
        }
        byte[] hb = json.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
        int pad = (8 - hb.length % 8) % 8;
        byte[] padded = new byte[hb.length + pad];
        System.arraycopy(hb, 0, padded, 0, hb.length);
        for (int i = hb.length; i < padded.length; i++) padded[i] = ' ';
        AtomicFiles.write(path, out -> {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, padded.length);
            out.write(len.array());
            out.write(padded);
            byte[] buf = new byte[1 << 20];
            for (Tensor t : tensors.values()) writeData(t, out, buf);
        });
    }

    private static void writeData(Tensor t, OutputStream out, byte[] buf) throws IOException {
        int es = t.dtype().size;
        long rowBytes = (long) t.cols() * es;
        MemorySegment d = t.data();
        for (int r = 0; r < t.rows(); r++) {
            long base = (long) r * t.ld() * es;
            long done = 0;
            while (done < rowBytes) {
                int n = (int) Math.min(buf.length, rowBytes - done);
                MemorySegment.copy(d, java.lang.foreign.ValueLayout.JAVA_BYTE, base + done, buf, 0, n);
                out.write(buf, 0, n);
                done += n;
            }
        }
    }
}
