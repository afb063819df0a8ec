package dev.fathom.engine.cpu;

/**
 * Collectives among the tensor-parallel ranks of one model shard. The single-rank implementation does
 * nothing; the parallel engine supplies real ones.
 */
public interface Comm {
    Comm SINGLE = new Comm() {
        @Override public int rank() { return 0; }
        @Override public int size() { return 1; }
        @Override public void allReduceSum(float[] buf, int len) { }
        @Override public void allGather(float[] local, int localLen, float[] out) { System.arraycopy(local, 0, out, 0, localLen); }
    };

    int rank();

    int size();

    /** Sums {@code buf[0..len)} over all ranks; every rank gets the sum. */
    void allReduceSum(float[] buf, int len);

    /** Concatenates every rank's {@code local[0..localLen)} in rank order into {@code out}. */
    void allGather(float[] local, int localLen, float[] out);
}
