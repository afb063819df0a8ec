package dev.fathom.engine.cpu.vector;

import dev.fathom.engine.tensor.DType;

import java.lang.foreign.MemorySegment;

/**
 * A projection weight [rows, cols] in the form the vector kernels read: in place from the checkpoint
 * (F32, BF16, F16 with a row stride), converted to another float dtype, or INT8 weight-only quantized.
 *
 * <p>INT8 layout: {@code data} holds rows x cols signed bytes (row stride {@code cols}); {@code scales}
 * holds rows x groups float32 on the heap (group g covers columns [g*GROUP, (g+1)*GROUP)); w = q * scale.
 * (Scales live in a Java array: read per group, a heap load measured twice as fast as a shared-arena one.)
 *
 * @param format   element format
 * @param rows     output features
 * @param cols     input features
 * @param data     element bytes
 * @param ldBytes  bytes between the starts of two rows
 * @param scales   INT8 only: [rows * groups] float32
 * @param groups   INT8 only: groups per row
 */
public record PackedWeight(Format format, int rows, int cols, MemorySegment data, long ldBytes, float[] scales,
                           int groups) {
    /** Columns per INT8 scale: a multiple of four vectors of bytes read as int lanes (64 with AVX-512). */
    public static final int GROUP = Math.max(64, 4 * jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length());

    public enum Format {
        F32(4), BF16(2), F16(2), INT8(1);
        public final int size;
        Format(int size) { this.size = size; }

        public static Format of(DType d) {
            return switch (d) {
                case F32 -> F32;
                case BF16 -> BF16;
                case F16 -> F16;
                default -> throw new IllegalArgumentException("no packed format for " + d);
            };
        }
    }

    /** Bytes read when the whole weight is used once (elements plus scales). */
    public long bytes() {
        return (long) rows * cols * format.size + (scales == null ? 0 : (long) rows * groups * 4);
    }

    public long rowOffset(int r) { return r * ldBytes; }
}
