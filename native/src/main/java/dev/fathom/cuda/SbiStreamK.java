package dev.fathom.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * Host side of the stream-K small-batch GEMM over the tensor-core tile layout (streamk.cuh): 1 to 8 activation rows,
 * a one-wave grid whose warps each stream the same number of weight tiles. K is cut into slices of {@code skt} k
 * tiles; the tiles are numbered slice by slice, row tile by row tile, and warp w takes numbers [w T / nw, (w + 1) T /
 * nw). A warp's part of one (slice, row tile) unit is one partial sum; the warp with a row tile's last ticket adds the
 * row tile's partials in a fixed order and writes the output. This class plans the grid and the slices, computes the
 * table the kernel reads (who contributes to what), and owns the workspace.
 */
final class SbiStreamK {
    private SbiStreamK() {}

    /** 4 and 8 weight tiles in flight per warp (3 and 2 blocks of 256 threads per multiprocessor). */
    static final List<String> KERNELS = List.of("sbisk4_bf16_8", "sbisk8_bf16_8");
    /** Activation rows per launch, at most (one mma n-tile). */
    static final int MAX_ROWS = 8;
    /** The slice length the plan aims at: 64 k tiles (1024 columns), 32 KB of fp32 activations at 8 rows. */
    static final int SLICE_TILES = 64;

    /** Blocks per multiprocessor the kernel's register budget allows (its __launch_bounds__ minimum). */
    static int blocksPerSm(String kernel) {
        return switch (kernel) {
            case "sbisk4_bf16_8" -> 3;
            case "sbisk8_bf16_8" -> 2;
            default -> throw new IllegalArgumentException(kernel + " is not a stream-K kernel: use one of " + String.join(", ", KERNELS));
        };
    }

    /**
     * A launch: kernel, blocks (256 threads each), row tiles, k tiles, slice length and count, the most warps any unit
     * has ({@code mc}), and the kernel's table ({@link #meta}).
     */
    record Plan(String kernel, int blocks, int warps, int rowTiles, int kTiles, int sliceTiles, int slices, int maxContrib, int[] meta) {

        /** Workspace bytes: one 512-byte slot per (unit, contributing warp). */
        long workspaceBytes() { return (long) slices * rowTiles * maxContrib * 512; }

        /** Ticket bytes: one int per row tile. */
        long ticketBytes() { return 4L * rowTiles; }
    }

    /** Slices of {@code skt} k tiles over {@code kt} (the last shorter). */
    static int slices(int kt, int skt) { return (kt + skt - 1) / skt; }

    /** The slice length nearest {@link #SLICE_TILES} that cuts {@code kt} k tiles into equal-ish slices. */
    static int sliceTiles(int kt) {
        int c = Math.max(1, Math.round(kt / (float) SLICE_TILES));
        return (kt + c - 1) / c;
    }

    /** The plan on {@code sms} multiprocessors with the default slice length. */
    static Plan plan(String kernel, int rowTiles, int kTiles, int sms) {
        return plan(kernel, rowTiles, kTiles, sms * blocksPerSm(kernel), sliceTiles(kTiles));
    }

    /** The plan with a given grid (at most) and slice length. */
    static Plan plan(String kernel, int rowTiles, int kTiles, int blocks, int skt) {
        if (rowTiles < 1 || kTiles < 1 || blocks < 1 || skt < 1)
            throw new IllegalArgumentException("stream-K plan: row tiles, k tiles, blocks and slice length must be positive");
        int c = slices(kTiles, skt);
        // at most one warp per tile, so that every warp has tiles (the kernel's last block may have idle warps)
        int nw = (int) Math.min(8L * blocks, (long) rowTiles * kTiles);
        int[] meta = meta(rowTiles, kTiles, skt, nw);
        int mc = 0;
        for (int u = 0; u < c * rowTiles; u++) mc = Math.max(mc, meta[rowTiles + 2 * u + 1]);
        return new Plan(kernel, (nw + 7) / 8, nw, rowTiles, kTiles, skt, c, mc, meta);
    }

    /** First tile number of warp {@code w} of {@code nw} over {@code t} tiles. */
    static long start(int w, int nw, long t) { return w * t / nw; }

    /** The warp whose numbers hold tile {@code i}. */
    static int warpOf(long i, int nw, long t) { return (int) (((i + 1) * nw - 1) / t); }

    /**
     * The kernel's table: [rt] how many warp parts the row tile's output adds (over all slices), then per unit
     * u = c * RT + rt its first warp and its number of warps.
     */
    static int[] meta(int rt, int kt, int skt, int nw) {
        int c = slices(kt, skt);
        long t = (long) rt * kt;
        int[] m = new int[rt + 2 * c * rt];
        for (int s = 0; s < c; s++) {
            int len = Math.min(skt, kt - s * skt);
            long off = (long) rt * s * skt;
            for (int r = 0; r < rt; r++) {
                long a = off + (long) r * len, e = a + len;
                int first = warpOf(a, nw, t), last = warpOf(e - 1, nw, t);
                int u = s * rt + r;
                m[rt + 2 * u] = first;
                m[rt + 2 * u + 1] = last - first + 1;
                m[r] += last - first + 1;
            }
        }
        return m;
    }

    /** Device memory of one plan: its table, workspace and tickets (zeroed; every launch leaves them zero). */
    static final class Workspace implements AutoCloseable {
        final Plan plan;
        final long meta, ws, tickets;
        private final Cuda cu;

        Workspace(Cuda cu, Plan p, long stream) {
            this.cu = cu;
            this.plan = p;
            long m = 0, w = 0, t = 0;
            try (Arena a = Arena.ofConfined()) {
                m = cu.malloc(4L * p.meta().length);
                w = cu.malloc(Math.max(512, p.workspaceBytes()));
                t = cu.malloc(p.ticketBytes());
                MemorySegment h = a.allocate(4L * p.meta().length, 16);
                MemorySegment.copy(p.meta(), 0, h, ValueLayout.JAVA_INT, 0, p.meta().length);
                cu.copyToDevice(m, h, 4L * p.meta().length, stream);
                cu.fill32(t, 0, p.rowTiles(), stream);
                cu.synchronize(stream);
            } catch (RuntimeException e) {
                for (long ptr : new long[]{m, w, t}) if (ptr != 0) cu.free(ptr);
                throw e;
            }
            meta = m;
            ws = w;
            tickets = t;
        }

        /** The tickets as they are now (after the stream's work so far): all 0 between launches. */
        int[] tickets(long stream) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment h = a.allocate(plan.ticketBytes(), 16);
                cu.copyToHost(h, tickets, plan.ticketBytes(), stream);
                cu.synchronize(stream);
                return h.toArray(ValueLayout.JAVA_INT);
            }
        }

        @Override
        public void close() {
            cu.free(meta);
            cu.free(ws);
            cu.free(tickets);
        }
    }

    /** y[rows, ldy] = epilogue(x[rows, ldx] · Wᵀ) over the tile layout of {@code s} (modes as the other SBI kernels). */
    static void launch(CudaModule mod, boolean pdl, Workspace d, long stream, long w, SbiLayout.Shape s, long x, int ldx,
                       long bias, long res, long y, int ldy, int rows, int mode, int act, int vec) {
        Plan p = d.plan;
        if (!s.mma()) throw new IllegalArgumentException(p.kernel() + " reads the tile layout only");
        if (rows < 1 || rows > MAX_ROWS) throw new IllegalArgumentException(p.kernel() + ": 1.." + MAX_ROWS + " rows, not " + rows);
        mod.launch(pdl, p.kernel(), p.blocks(), 1, 256, 0, stream, w, x, ldx, s.k(), p.kTiles(), p.rowTiles(), p.sliceTiles(), p.slices(),
                p.warps(), p.maxContrib(), d.meta, d.ws, d.tickets, bias, res, y, ldy, s.n(), rows, mode, act, vec);
    }
}
