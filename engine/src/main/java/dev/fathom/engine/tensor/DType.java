package dev.fathom.engine.tensor;

import dev.fathom.engine.EngineException;

/** Element types of safetensors files that the engine reads or writes. */
public enum DType {
    F32(4), F16(2), BF16(2), I32(4), I64(8), I8(1), U8(1), BOOL(1), F64(8);

    public final int size;

    DType(int size) { this.size = size; }

    public boolean isFloat() { return this == F32 || this == F16 || this == BF16 || this == F64; }

    /** Parses a safetensors dtype string; {@code where} names the file and tensor for the error. */
    public static DType parse(String s, String where) {
        try {
            return valueOf(s);
        } catch (IllegalArgumentException e) {
            throw new EngineException(where + " has dtype '" + s
                    + "', which Fathom does not read: convert the checkpoint to F32, F16 or BF16.");
        }
    }

    /** bfloat16 bits to float: the upper half of an IEEE float. */
    public static float bf16ToFloat(short bits) { return Float.intBitsToFloat((bits & 0xffff) << 16); }

    /** float to bfloat16 bits, round to nearest even (NaN stays NaN). */
    public static short floatToBf16(float f) {
        int b = Float.floatToRawIntBits(f);
        if ((b & 0x7fffffff) > 0x7f800000) return (short) ((b >>> 16) | 0x40);
        int rounding = 0x7fff + ((b >>> 16) & 1);
        return (short) ((b + rounding) >>> 16);
    }
}
