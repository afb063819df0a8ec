package dev.fathom.cuda;

import dev.fathom.engine.cpu.vector.PackedWeight;
import dev.fathom.engine.cpu.vector.VectorKernels;
import dev.fathom.engine.model.Linear;
import dev.fathom.engine.tensor.DType;
import dev.fathom.engine.tensor.Tensor;
import dev.fathom.profiles.Precision;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Host-side INT8 logic of the CUDA backend: quantization, the packed buffer as the sbi8 kernels read it, launch sizing. */
class Int8LayoutTest {
    private static float[] gaussian(Random rnd, int n, float scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) rnd.nextGaussian() * scale;
        return v;
    }

    @Test
    void quantizationIsSymmetricPerGroupWithinHalfAStep() {
        Random rnd = new Random(3);
        int k = 300, group = 64, ng = Int8Layout.scaleGroups(k, group);
        float[] row = gaussian(rnd, k, 0.05f);
        for (int i = 128; i < 192; i++) row[i] = 0f;   // an all-zero group: scale 0, q 0
        row[5] = -1.5f;                                 // the group's max |w| maps to -127
        try (Arena a = Arena.ofConfined()) {
            MemorySegment q = a.allocate(k);
            float[] sc = new float[ng];
            Int8Layout.quantize(row, k, group, q, 0, sc, 0);
            assertEquals(5, ng);
            assertEquals(1.5f / 127f, sc[0]);
            assertEquals(-127, q.get(ValueLayout.JAVA_BYTE, 5));
            assertEquals(0f, sc[2]);
            for (int i = 0; i < k; i++) {
                byte v = q.get(ValueLayout.JAVA_BYTE, i);
                float s = sc[i / group];
                assertTrue(v >= -127 && v <= 127);
                assertTrue(Math.abs(v * s - row[i]) <= s / 2 * 1.0001f, "column " + i + ": within half a step");
                if (s == 0f) assertEquals(0, v);
            }
            float max = 0;   // the last, partial group (columns 256..299) has its own scale
            for (int i = 256; i < k; i++) max = Math.max(max, Math.abs(row[i]));
            assertEquals(max / 127f, sc[4]);
        }
    }

    @Test
    void packedBufferReproducesTheDequantizedProductInTheKernelsOrder() {
        Random rnd = new Random(7);
        for (int group : new int[]{16, 64, 128, 1024})
            for (int[] nk : new int[][]{{5, 3}, {13, 172}, {64, 600}, {8, 1030}, {20, 512}}) {
                int n = nk[0], k = nk[1], rows = 3;
                try (Arena a = Arena.ofConfined()) {
                    float[] wv = gaussian(rnd, n * k, 0.1f);
                    Tensor w = Tensor.of("w", DType.BF16, new long[]{n, k}, wv, a);
                    float[] x = gaussian(rnd, rows * k, 1f);
                    int[][] order = SbiLayout.stacked(w);
                    SbiLayout.Shape[] s = new SbiLayout.Shape[1];
                    MemorySegment p = Int8Layout.pack(new Tensor[]{w}, order[0], order[1], n, k, group, a, s);
                    int stored = Int8Layout.storedRows(s[0]);
                    assertEquals((n + 3) / 4 * 4, stored);
                    assertEquals((k + 511) / 512, s[0].kChunks());
                    assertEquals(DType.I8, s[0].dtype());
                    assertEquals((long) stored * s[0].kChunks() * 512, Int8Layout.scaleOffset(s[0]), "int8 rows first, K padded to 512");
                    assertEquals(0, Int8Layout.scaleOffset(s[0]) % 16, "scales aligned");
                    assertEquals(Int8Layout.scaleOffset(s[0]) + 4L * stored * Int8Layout.scaleGroups(k, group), p.byteSize());
                    for (int r = 0; r < stored; r++)   // the K padding of every row is zero
                        for (int kk = k; kk < s[0].kChunks() * 512; kk++)
                            assertEquals(0, p.get(ValueLayout.JAVA_BYTE, (long) r * s[0].kChunks() * 512 + kk));
                    float[] deq = Int8Layout.dequantize(p, s[0], group);
                    float[] y = Int8Layout.emulate(p, s[0], group, x, rows);
                    for (int b = 0; b < rows; b++)
                        for (int o = 0; o < stored; o++) {
                            double ref = 0;
                            for (int i = 0; i < k; i++) ref += (double) deq[o * k + i] * x[b * k + i];
                            assertEquals(ref, y[b * stored + o], 1e-4 * (1 + Math.abs(ref)), "group " + group + " " + n + "x" + k + " row " + b + " out " + o);
                            if (o >= n) assertEquals(0f, y[b * stored + o], "padding rows are zero");
                            else for (int i = 0; i < k; i++)   // and the weights are the matrix's, within half a step
                                assertEquals(w.get(o, i), deq[o * k + i], Int8Layout.scale(p, s[0], group, o, i / group) / 2 * 1.0001 + 1e-12);
                        }
                }
            }
    }

    @Test
    void gatedPairsKeepTheSimtRowOrderAndPerRowScales() {
        Random rnd = new Random(11);
        int f = 6, k = 200, group = 32;
        try (Arena a = Arena.ofConfined()) {
            Tensor gate = Tensor.of("g", DType.F32, new long[]{f, k}, gaussian(rnd, f * k, 0.1f), a);
            Tensor up = Tensor.of("u", DType.F32, new long[]{f, k}, gaussian(rnd, f * k, 3f), a);
            int[][] order = SbiLayout.gatedPairs(f);
            SbiLayout.Shape[] s = new SbiLayout.Shape[1];
            MemorySegment p = Int8Layout.pack(new Tensor[]{gate, up}, order[0], order[1], f, k, group, a, s);
            assertEquals(3, s[0].groups());
            for (int g = 0; g < 3; g++)
                for (int i = 0; i < 2; i++)
                    for (int c = 0; c < k; c += 37) {
                        int o = 2 * g + i;
                        assertEquals(gate.get(o, c), Int8Layout.weight(p, s[0], group, g * 4 + i, c), Int8Layout.scale(p, s[0], group, g * 4 + i, c / group));
                        assertEquals(up.get(o, c), Int8Layout.weight(p, s[0], group, g * 4 + 2 + i, c), Int8Layout.scale(p, s[0], group, g * 4 + 2 + i, c / group));
                    }
        }
    }

    /** With the CPU backend's group size, both backends dequantize to the same weights: the same products to float rounding. */
    @Test
    void sameGroupDequantizesLikeTheCpuBackend() {
        Random rnd = new Random(5);
        int n = 24, k = 3 * PackedWeight.GROUP + 40, rows = 2, group = PackedWeight.GROUP;
        try (Arena a = Arena.ofConfined(); VectorKernels cpu = new VectorKernels(1, Precision.INT8)) {
            Tensor w = Tensor.of("w", DType.F32, new long[]{n, k}, gaussian(rnd, n * k, 0.2f), a);
            float[] x = gaussian(rnd, rows * k, 1f), want = new float[rows * n];
            cpu.linear(x, rows, new Linear(w, null), false, want);
            int[][] order = SbiLayout.stacked(w);
            SbiLayout.Shape[] s = new SbiLayout.Shape[1];
            MemorySegment p = Int8Layout.pack(new Tensor[]{w}, order[0], order[1], n, k, group, a, s);
            float[] deq = Int8Layout.dequantize(p, s[0], group);
            double num = 0, den = 0;
            for (int b = 0; b < rows; b++)
                for (int o = 0; o < n; o++) {
                    double ref = 0;
                    for (int i = 0; i < k; i++) ref += (double) deq[o * k + i] * x[b * k + i];
                    num += (ref - want[b * n + o]) * (ref - want[b * n + o]);
                    den += ref * ref;
                }
            assertTrue(Math.sqrt(num / den) < 1e-6, "CPU INT8 vs Int8Layout dequantized: " + Math.sqrt(num / den));
        }
    }

    @Test
    void launchSplitsKAndCoversEveryGroup() {
        int sms = 132;
        SbiLayout.Shape sq = Int8Layout.shape(4096, 4096, 4096), wide = Int8Layout.shape(32000, 4096, 32000),
                longK = Int8Layout.shape(4096, 11008, 4096), tiny = Int8Layout.shape(64, 300, 64);
        assertEquals(8, sq.kChunks());
        assertEquals(22, longK.kChunks());
        assertEquals(2, Int8Layout.plan(sq, sms).ks(), "4096 rows = 1024 groups: split in two for a wave of 2048 warps");
        assertEquals(1, Int8Layout.plan(wide, sms).ks(), "8000 groups fill the GPU unsplit");
        assertEquals(2, Int8Layout.plan(longK, sms).ks());
        assertEquals(1, Int8Layout.plan(tiny, sms).ks(), "one chunk of K cannot be split");
        assertEquals(1, Int8Layout.plan(Int8Layout.shape(4096, 512, 4096), sms).ks(), "no more warps on a group than chunks");
        for (SbiLayout.Shape s : List.of(sq, wide, longK, tiny))
            for (int ks : new int[]{1, 2, 4, 8}) {
                SbiLayout.Launch l = Int8Layout.launch(s, ks);
                int gpb = SbiLayout.WARPS / ks;
                assertTrue((long) l.blocks() * gpb >= s.groups(), "every group gets a warp set");
                assertTrue((long) (l.blocks() - 1) * gpb < s.groups(), "no empty block");
            }
        assertThrows(IllegalArgumentException.class, () -> Int8Layout.launch(sq, 3));
    }

    @Test
    void batchesOfAtMostEightRowsCoverEveryRowOnce() {
        for (int rows : new int[]{1, 2, 3, 5, 8, 9, 16, 130}) {
            List<Int8Layout.Batch> bs = Int8Layout.batches(rows, Int8Layout.PREFIX);
            int next = 0;
            for (Int8Layout.Batch b : bs) {
                assertEquals(next, b.first());
                assertTrue(b.rows() >= 1 && b.rows() <= 8);
                int nb = Integer.parseInt(b.kernel().substring(Int8Layout.PREFIX.length()));
                assertTrue(nb >= b.rows() && (nb == 1 || nb == 2 || nb == 4 || nb == 8) && nb < 2 * b.rows(), b.toString());
                next += b.rows();
            }
            assertEquals(rows, next);
            assertEquals((rows + 7) / 8, bs.size());
        }
    }

    @Test
    void kernelVariantsAndTheirSharedMemory() {
        assertEquals(81920, Int8Layout.PIPE_SMEM);
        assertEquals(Int8Layout.PIPE_SMEM, Int8Layout.smem(Int8Layout.PREFIX));
        assertEquals(0, Int8Layout.smem(Int8Layout.REGS_PREFIX));
        assertEquals("sbi8r_4", Int8Layout.batches(3, Int8Layout.REGS_PREFIX).getFirst().kernel());
        String old = System.getProperty("fathom.cuda.int8.kernel");
        try {
            System.clearProperty("fathom.cuda.int8.kernel");
            assertEquals(Int8Layout.REGS_PREFIX, Int8Layout.kernelPrefix(), "the register kernels by default (decode steps)");
            System.setProperty("fathom.cuda.int8.kernel", "pipe");
            assertEquals(Int8Layout.PREFIX, Int8Layout.kernelPrefix());
        } finally {
            if (old == null) System.clearProperty("fathom.cuda.int8.kernel");
            else System.setProperty("fathom.cuda.int8.kernel", old);
        }
    }

    @Test
    void byteCountsAndGroupSizes() {
        SbiLayout.Shape s = Int8Layout.shape(4096, 4096, 4096);
        assertEquals(4096L * 4096 + 4096L * 32 * 4, Int8Layout.readBytes(s, 128));
        assertEquals(Int8Layout.readBytes(s, 128), Int8Layout.bytes(s, 128), "K = 4096 fills its chunks: nothing padded");
        SbiLayout.Shape odd = Int8Layout.shape(10, 1030, 12);
        assertEquals(12L * 1040 + 12L * 9 * 4, Int8Layout.readBytes(odd, 128), "lanes past K read nothing");
        assertTrue(Int8Layout.readBytes(odd, 128) < Int8Layout.bytes(odd, 128));
        assertEquals(7, Int8Layout.groupShift(128));
        assertThrows(IllegalArgumentException.class, () -> Int8Layout.checkGroup(100));
        assertThrows(IllegalArgumentException.class, () -> Int8Layout.checkGroup(8));
        assertThrows(IllegalArgumentException.class, () -> Int8Layout.shape(5, 10, 5));
        String old = System.getProperty("fathom.cuda.int8.group");
        try {
            System.clearProperty("fathom.cuda.int8.group");
            assertEquals(Int8Layout.DEFAULT_GROUP, Int8Layout.group());
            System.setProperty("fathom.cuda.int8.group", "64");
            assertEquals(64, Int8Layout.group());
        } finally {
            if (old == null) System.clearProperty("fathom.cuda.int8.group");
            else System.setProperty("fathom.cuda.int8.group", old);
        }
    }

    @Test
    void precisionChoosesTheFloatDtypeUnlessForced() {
        String old = System.getProperty("fathom.cuda.weights");
        try {
            System.clearProperty("fathom.cuda.weights");
            assertEquals(DType.BF16, MatPacker.floatDtype(DType.F32, Precision.BF16));
            assertEquals(DType.F16, MatPacker.floatDtype(DType.BF16, Precision.F16));
            assertEquals(DType.F32, MatPacker.floatDtype(DType.BF16, Precision.F32));
            assertEquals(DType.BF16, MatPacker.floatDtype(DType.BF16, Precision.AUTO));
            assertEquals(DType.F32, MatPacker.floatDtype(DType.F64, Precision.AUTO));
            System.setProperty("fathom.cuda.weights", "bf16");
            assertEquals(DType.BF16, MatPacker.floatDtype(DType.F32, Precision.F32), "the property overrides (checks, benchmarks)");
        } finally {
            if (old == null) System.clearProperty("fathom.cuda.weights");
            else System.setProperty("fathom.cuda.weights", old);
        }
    }
}
