package dev.fathom.engine.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fathom.engine.EngineException;
import dev.fathom.engine.tensor.DType;
import dev.fathom.engine.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One memory-mapped {@code .safetensors} file: an 8-byte little-endian header length, a JSON header
 * naming each tensor's dtype, shape and byte range, then the data. Tensors are zero-copy views of the
 * mapping. Every structural problem is reported as one sentence naming the file and tensor.
 */
public final class SafetensorsFile implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long MAX_HEADER = 100L << 20;

    private final Path path;
    private final Arena arena;
    private final Map<String, Tensor> tensors;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path path, Arena arena, Map<String, Tensor> tensors, Map<String, String> metadata) {
        this.path = path;
        this.arena = arena;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /** Maps {@code path} read-only and parses its header. */
    public static SafetensorsFile open(Path path) {
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) throw new EngineException(path + " is too short to be a safetensors file (" + size
                    + " bytes): the file is truncated; download or write it again.");
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(lenBuf, 0);
            long headerLen = lenBuf.getLong(0);
            if (headerLen <= 0 || headerLen > size - 8 || headerLen > MAX_HEADER)
                throw new EngineException(path + " declares a header of " + headerLen + " bytes but the file has "
                        + size + " bytes: the file is truncated or not a safetensors file.");
            ByteBuffer hb = ByteBuffer.allocate((int) headerLen);
            while (hb.hasRemaining()) if (ch.read(hb, 8 + hb.position()) < 0) break;
            JsonNode header;
            try {
                header = JSON.readTree(new String(hb.array(), StandardCharsets.UTF_8));
            } catch (IOException e) {
                throw new EngineException(path + " has a header that is not valid JSON: the file is damaged; write it again.");
            }
            if (header == null || !header.isObject())
                throw new EngineException(path + " has a header that is not a JSON object: the file is damaged; write it again.");
            long dataStart = 8 + headerLen;
            long dataLen = size - dataStart;
            MemorySegment all = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            MemorySegment data = all.asSlice(dataStart, dataLen);
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            Map<String, String> meta = new LinkedHashMap<>();
            List<long[]> ranges = new ArrayList<>();
            List<String> rangeNames = new ArrayList<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = header.properties().iterator(); it.hasNext(); ) {
                var e = it.next();
                String name = e.getKey();
                JsonNode t = e.getValue();
                if (name.equals("__metadata__")) {
                    t.properties().forEach(m -> meta.put(m.getKey(), m.getValue().asText()));
                    continue;
                }
                String where = path + ": tensor '" + name + "'";
                if (!t.hasNonNull("dtype") || !t.hasNonNull("shape") || !t.hasNonNull("data_offsets"))
                    throw new EngineException(where + " lacks dtype, shape or data_offsets in the header: the file is damaged.");
                DType dt = DType.parse(t.get("dtype").asText(), where);
                JsonNode sh = t.get("shape");
                long[] shape = new long[sh.size()];
                long numel = 1;
                for (int i = 0; i < shape.length; i++) {
                    shape[i] = sh.get(i).asLong(-1);
                    if (shape[i] < 0) throw new EngineException(where + " has a negative dimension in its shape: the file is damaged.");
                    numel = Math.multiplyExact(numel, shape[i]);
                }
                JsonNode off = t.get("data_offsets");
                if (off.size() != 2) throw new EngineException(where + " has data_offsets without two entries: the file is damaged.");
                long begin = off.get(0).asLong(-1), end = off.get(1).asLong(-1);
                if (begin < 0 || end < begin || end > dataLen)
                    throw new EngineException(where + " has data_offsets [" + begin + ", " + end + "] outside the "
                            + dataLen + " data bytes of the file: the file is truncated or damaged.");
                if (end - begin != numel * dt.size)
                    throw new EngineException(where + " covers " + (end - begin) + " bytes but its shape and dtype need "
                            + numel * dt.size + ": the file is damaged.");
                ranges.add(new long[]{begin, end, ranges.size()});
                rangeNames.add(name);
                tensors.put(name, new Tensor(name, dt, shape, data.asSlice(begin, end - begin)));
            }
            List<long[]> sorted = new ArrayList<>(ranges);
            sorted.sort(Comparator.comparingLong(r -> r[0]));
            for (int i = 1; i < sorted.size(); i++) {
                long[] a = sorted.get(i - 1), b = sorted.get(i);
                if (b[0] < a[1] && b[1] > b[0] && a[1] > a[0])
                    throw new EngineException(path + ": tensors '" + rangeNames.get((int) a[2]) + "' and '"
                            + rangeNames.get((int) b[2]) + "' have overlapping data_offsets: the file is damaged.");
            }
            return new SafetensorsFile(path, arena, Collections.unmodifiableMap(tensors), Collections.unmodifiableMap(meta));
        } catch (EngineException e) {
            arena.close();
            throw e;
        } catch (IOException e) {
            arena.close();
            throw new EngineException("Cannot read " + path + ": " + e.getMessage() + ".", e);
        } catch (ArithmeticException e) {
            arena.close();
            throw new EngineException(path + " declares a tensor shape too large to address: the file is damaged.");
        }
    }

    public Path path() { return path; }
    public Map<String, Tensor> tensors() { return tensors; }
    public Map<String, String> metadata() { return metadata; }
    public Tensor get(String name) { return tensors.get(name); }

    @Override
    public void close() { arena.close(); }
}
