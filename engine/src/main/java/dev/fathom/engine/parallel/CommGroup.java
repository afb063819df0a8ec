package dev.fathom.engine.parallel;

import dev.fathom.engine.cpu.Comm;
import dev.fathom.engine.telemetry.TelemetryEvent;
import dev.fathom.engine.telemetry.TelemetrySink;

import java.util.Arrays;
import java.util.concurrent.CancellationException;
import java.util.concurrent.Phaser;

/**
 * Collectives among the rank threads of one group, over shared memory: every rank publishes the array
 * it contributes, all meet at a {@link Phaser}, then each reads what it needs. Sums are taken in rank
 * order, so every rank gets bit-identical results (replicated activations stay replicated).
 *
 * <p>A failing rank calls {@link #abort()}: the phaser terminates and every rank waiting in (or later
 * entering) a collective of this group gets a {@link CancellationException} instead of hanging.
 */
public final class CommGroup {
    /** A message of one rank to another in an all-to-all: {@code data[0..dataLen)} floats and {@code meta[0..metaLen)} ints. */
    public record Parcel(float[] data, int dataLen, int[] meta, int metaLen) {
        public static final Parcel EMPTY = new Parcel(new float[0], 0, new int[0], 0);
        long bytes() { return 4L * (dataLen + metaLen); }
    }

    private final String name;
    private final int size;
    private final int[] globalRanks;
    private final Phaser phaser;
    private final TelemetrySink sink;
    private final float[][] shared;          // per rank: the array it contributes to the current collective
    private final int[] lens;                // per rank: its length
    private final Parcel[][] boxes;          // [src][dst] for all-to-all
    private final float[][] result = {new float[0], new float[0]};   // double-buffered all-reduce sums
    private volatile boolean aborted;

    /**
     * @param name        shown in errors, e.g. {@code tp[stage 0, replica 1]}
     * @param globalRanks global rank of each member (telemetry)
     */
    public CommGroup(String name, int[] globalRanks, TelemetrySink sink) {
        this.name = name;
        this.size = globalRanks.length;
        this.globalRanks = globalRanks.clone();
        this.phaser = new Phaser(size);
        this.sink = sink;
        this.shared = new float[size][];
        this.lens = new int[size];
        this.boxes = new Parcel[size][];
    }

    public int size() { return size; }
    public String name() { return name; }

    /** The view of member {@code rank} (0-based within the group). */
    public Member member(int rank) {
        if (rank < 0 || rank >= size) throw new IllegalArgumentException(name + ": rank " + rank + " of " + size);
        return new Member(rank);
    }

    /** Ends the group: ranks waiting in a collective, and any that enter one later, get a CancellationException. */
    public void abort() {
        aborted = true;
        phaser.forceTermination();
    }

    private void sync() {
        if (aborted) throw new CancellationException(name + ": a rank of this group failed");
        int ph = phaser.arrive();
        if (ph < 0 || phaser.awaitAdvance(ph) < 0 || aborted)
            throw new CancellationException(name + ": a rank of this group failed");
    }

    /** One rank's handle on the group; not thread-safe (one rank = one thread at a time). */
    public final class Member implements Comm {
        private final int rank;
        private int parity;

        private Member(int rank) { this.rank = rank; }

        @Override public int rank() { return rank; }
        @Override public int size() { return size; }
        public int globalRank() { return globalRanks[rank]; }
        public CommGroup group() { return CommGroup.this; }

        @Override
        public void allReduceSum(float[] buf, int len) {
            if (size == 1) return;
            int p = parity;
            parity ^= 1;
            if (rank == 0 && result[p].length < len) result[p] = new float[len];
            shared[rank] = buf;
            lens[rank] = len;
            sync();
            for (int r = 1; r < size; r++)
                if (lens[r] != len) throw new IllegalStateException(name + ": all-reduce of " + len + " floats met " + lens[r] + " on rank " + r);
            float[] res = result[p];
            int from = (int) ((long) len * rank / size), to = (int) ((long) len * (rank + 1) / size);
            float[] first = shared[0];
            for (int i = from; i < to; i++) {
                float s = first[i];
                for (int r = 1; r < size; r++) s += shared[r][i];
                res[i] = s;
            }
            sync();
            System.arraycopy(res, 0, buf, 0, len);
        }

        @Override
        public void allGather(float[] local, int localLen, float[] out) { allGatherV(local, localLen, out); }

        /** Concatenates every rank's {@code local[0..len)} (lengths may differ) in rank order into {@code out}; returns the total. */
        public int allGatherV(float[] local, int len, float[] out) {
            if (size == 1) {
                System.arraycopy(local, 0, out, 0, len);
                return len;
            }
            shared[rank] = local;
            lens[rank] = len;
            sync();
            int off = 0;
            for (int r = 0; r < size; r++) {
                System.arraycopy(shared[r], 0, out, off, lens[r]);
                off += lens[r];
            }
            sync();
            return off;
        }

        /** Lengths the ranks will contribute to an all-gather, exchanged first so receivers can size buffers. */
        public int[] allGatherLengths(int len) {
            if (size == 1) return new int[]{len};
            lens[rank] = len;
            sync();
            int[] out = lens.clone();
            sync();
            return out;
        }

        /**
         * All-to-all: {@code send[d]} goes to rank d (null = nothing); returns what every rank sent to this
         * one, indexed by source, copied into fresh arrays. Emits a {@link TelemetryEvent.CollectiveSpan}.
         */
        public Parcel[] allToAll(Parcel[] send, String op) {
            long t0 = System.nanoTime();
            long bytes = 0;
            Parcel[] out = new Parcel[size];
            if (size == 1) {
                out[0] = copy(send[0]);
                bytes = out[0].bytes();
            } else {
                boxes[rank] = send;
                sync();
                for (int s = 0; s < size; s++) {
                    out[s] = copy(boxes[s][rank]);
                    bytes += out[s].bytes();
                }
                sync();
            }
            if (sink.enabled())
                sink.emit(new TelemetryEvent.CollectiveSpan(op, globalRanks[rank], size, bytes, t0, System.nanoTime() - t0));
            return out;
        }

        private static Parcel copy(Parcel p) {
            if (p == null || (p.dataLen() == 0 && p.metaLen() == 0)) return Parcel.EMPTY;
            return new Parcel(Arrays.copyOf(p.data(), p.dataLen()), p.dataLen(), Arrays.copyOf(p.meta(), p.metaLen()), p.metaLen());
        }
    }
}
