package dev.fathom.engine.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A view of tensor data: shape, dtype and a memory segment (usually a slice of a memory-mapped
 * safetensors file). No math lives here; backends read the segment directly.
 *
 * <p>A 2-D tensor may be a column slice of a wider matrix: {@link #ld()} is then the distance between
 * rows in elements (the row stride), larger than {@link #cols()}. Everything else is dense row-major.
 */
public final class Tensor {
    public static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final String name;
    private final DType dtype;
    private final long[] shape;
    private final MemorySegment data;
    private final long ld;

    public Tensor(String name, DType dtype, long[] shape, MemorySegment data) {
        this(name, dtype, shape, data, shape.length == 0 ? 1 : shape[shape.length - 1]);
    }

    private Tensor(String name, DType dtype, long[] shape, MemorySegment data, long ld) {
        this.name = name;
        this.dtype = dtype;
        this.shape = shape.clone();
        this.data = data;
        this.ld = ld;
    }

    public String name() { return name; }
    public DType dtype() { return dtype; }
    public long[] shape() { return shape.clone(); }
    public int rank() { return shape.length; }
    public long dim(int i) { return shape[i < 0 ? shape.length + i : i]; }
    public MemorySegment data() { return data; }

    public long numel() {
        long n = 1;
        for (long d : shape) n *= d;
        return n;
    }

    /** Rows of a 2-D tensor (or the product of all leading dims). */
    public int rows() { return (int) (numel() / cols()); }
    /** Last dimension. */
    public int cols() { return shape.length == 0 ? 1 : (int) shape[shape.length - 1]; }
    /** Row stride in elements. */
    public long ld() { return ld; }
    public boolean contiguous() { return ld == cols(); }

    /** Bytes this view covers when read once (rows x cols x element size). */
    public long byteSize() { return numel() * dtype.size; }

    /** Element {@code i} of a contiguous tensor as float. */
    public float getFloat(long i) {
        return switch (dtype) {
            case F32 -> data.get(F32, i * 4);
            case BF16 -> DType.bf16ToFloat(data.get(I16, i * 2));
            case F16 -> Float.float16ToFloat(data.get(I16, i * 2));
            case F64 -> (float) data.get(F64, i * 8);
            case I32 -> data.get(I32, i * 4);
            case I64 -> data.get(I64, i * 8);
            case I8 -> data.get(ValueLayout.JAVA_BYTE, i);
            case U8, BOOL -> data.get(ValueLayout.JAVA_BYTE, i) & 0xff;
        };
    }

    /** Element (r, c) of a 2-D view as float, honouring the row stride. */
    public float get(int r, int c) { return getFloat(r * ld + c); }

    public int getInt(long i) {
        return switch (dtype) {
            case I32 -> data.get(I32, i * 4);
            case I64 -> (int) data.get(I64, i * 8);
            default -> (int) getFloat(i);
        };
    }

    /** Copies row {@code r} of a 2-D view into {@code dst[off..off+cols)} as float. */
    public void readRow(int r, float[] dst, int off) {
        int n = cols();
        long base = (long) r * ld;
        switch (dtype) {
            case F32 -> MemorySegment.copy(data, F32, base * 4, dst, off, n);
            default -> { for (int c = 0; c < n; c++) dst[off + c] = getFloat(base + c); }
        }
    }

    /** All elements as a dense float array (rows packed). */
    public float[] toFloatArray() {
        if (numel() > Integer.MAX_VALUE - 8) throw new IllegalStateException(name + " is too large for a Java array");
        float[] out = new float[(int) numel()];
        int rows = rows(), cols = cols();
        for (int r = 0; r < rows; r++) readRow(r, out, r * cols);
        return out;
    }

    public int[] toIntArray() {
        int[] out = new int[(int) numel()];
        for (int i = 0; i < out.length; i++) out[i] = getInt(i);
        return out;
    }

    /** Rows {@code [from, to)} of a 2-D view, zero-copy. */
    public Tensor sliceRows(int from, int to) {
        long[] s = {to - from, cols()};
        long es = dtype.size;
        long end = ((long) (to - 1) * ld + cols()) * es;
        MemorySegment seg = to == from ? data.asSlice(0, 0) : data.asSlice((long) from * ld * es, end - (long) from * ld * es);
        return new Tensor(name + "[" + from + ":" + to + ",:]", dtype, s, seg, ld);
    }

    /** Columns {@code [from, to)} of a 2-D view, zero-copy (the row stride is kept). */
    public Tensor sliceCols(int from, int to) {
        int rows = rows();
        long es = dtype.size;
        long start = (long) from * es;
        long end = ((long) (rows - 1) * ld + to) * es;
        return new Tensor(name + "[:," + from + ":" + to + "]", dtype, new long[]{rows, to - from},
                data.asSlice(start, end - start), ld);
    }

    /** Elements {@code [from, to)} of a 1-D tensor, zero-copy. */
    public Tensor slice1d(int from, int to) {
        return new Tensor(name + "[" + from + ":" + to + "]", dtype, new long[]{to - from},
                data.asSlice((long) from * dtype.size, (long) (to - from) * dtype.size));
    }

    /** Same data, new shape (contiguous tensors only). */
    public Tensor reshape(long... newShape) {
        if (!contiguous()) throw new IllegalStateException("reshape of a strided view " + name);
        long n = 1;
        for (long d : newShape) n *= d;
        if (n != numel()) throw new IllegalArgumentException("reshape " + Arrays.toString(shape) + " -> " + Arrays.toString(newShape));
        return new Tensor(name, dtype, newShape, data);
    }

    public Tensor rename(String newName) { return new Tensor(newName, dtype, shape, data, ld); }

    /** A dense F32 tensor holding {@code values}, allocated in {@code arena}. */
    public static Tensor ofFloats(String name, long[] shape, float[] values, Arena arena) {
        MemorySegment seg = arena.allocate((long) values.length * 4, 64);
        MemorySegment.copy(values, 0, seg, F32, 0, values.length);
        return new Tensor(name, DType.F32, shape, seg);
    }

    /** A dense tensor of {@code dtype} holding {@code values} converted, allocated in {@code arena}. */
    public static Tensor of(String name, DType dtype, long[] shape, float[] values, Arena arena) {
        MemorySegment seg = arena.allocate((long) values.length * dtype.size, 64);
        for (int i = 0; i < values.length; i++) {
            switch (dtype) {
                case F32 -> seg.set(F32, i * 4L, values[i]);
                case BF16 -> seg.set(I16, i * 2L, DType.floatToBf16(values[i]));
                case F16 -> seg.set(I16, i * 2L, Float.floatToFloat16(values[i]));
                default -> throw new IllegalArgumentException("of(" + dtype + ")");
            }
        }
        return new Tensor(name, dtype, shape, seg);
    }

    public static Tensor ofInts(String name, long[] shape, int[] values, Arena arena) {
        MemorySegment seg = arena.allocate((long) values.length * 4, 64);
        MemorySegment.copy(values, 0, seg, I32, 0, values.length);
        return new Tensor(name, DType.I32, shape, seg);
    }

    @Override
    public String toString() { return name + " " + dtype + Arrays.toString(shape); }
}
