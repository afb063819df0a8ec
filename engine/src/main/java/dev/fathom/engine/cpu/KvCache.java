package dev.fathom.engine.cpu;

/**
 * Keys and values of every sequence slot for the layers of one shard, allocated up front:
 * [layer][slot] -> float[maxLen * kvDim].
 */
public final class KvCache {
    private final float[][][] k;
    private final float[][][] v;
    private final int maxLen;
    private final int kvDim;

    public KvCache(int layers, int slots, int maxLen, int kvDim) {
        this.maxLen = maxLen;
        this.kvDim = kvDim;
        long perSlot = (long) maxLen * kvDim;
        if (perSlot > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("KV cache row too long: " + perSlot);
        k = new float[layers][slots][];
        v = new float[layers][slots][];
        for (int l = 0; l < layers; l++)
            for (int s = 0; s < slots; s++) {
                k[l][s] = new float[(int) perSlot];
                v[l][s] = new float[(int) perSlot];
            }
    }

    public float[] keys(int layer, int slot) { return k[layer][slot]; }
    public float[] values(int layer, int slot) { return v[layer][slot]; }
    public int maxLen() { return maxLen; }
    public int kvDim() { return kvDim; }
    public int slots() { return k.length == 0 ? 0 : k[0].length; }

    /** Bytes held. */
    public long bytes() { return 2L * k.length * slots() * maxLen * kvDim * 4; }

    public static long bytesFor(int layers, int slots, int maxLen, int kvDim) { return bytesFor(layers, slots, maxLen, kvDim, 4); }

    /** The same for a cache of {@code elementBytes}-byte elements (a backend's, {@code Backend#kvElementBytes}). */
    public static long bytesFor(int layers, int slots, int maxLen, int kvDim, int elementBytes) {
        return 2L * layers * slots * maxLen * kvDim * elementBytes;
    }
}
