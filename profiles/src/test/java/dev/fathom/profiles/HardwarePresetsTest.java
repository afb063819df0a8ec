package dev.fathom.profiles;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HardwarePresetsTest {
    static final boolean UPDATE = Boolean.getBoolean("fathom.updateGolden");

    @Test
    void allSixPresetsByName() {
        assertEquals(List.of("a100-40gb", "a100-80gb", "a6000", "v100-32gb", "h100-sxm", "h200"), HardwarePresets.names());
        for (HardwareProfile h : HardwarePresets.all()) {
            assertSame(h, HardwarePresets.byName(h.name().toUpperCase()));
            assertEquals("gpu", h.deviceKind());
            assertFalse(h.measured());
            assertEquals(HardwarePresets.DEFAULT_NVME_READ, h.nvmeRead());
            assertTrue(h.description().contains("not from the datasheet"), h.description());
            assertTrue(h.flops("f16") > h.flops("f32"), h.name());
        }
    }

    @Test
    void datasheetFigures() {
        assertEquals(3.35e12, HardwarePresets.H100_SXM.memoryBandwidth());
        assertEquals(4.8e12, HardwarePresets.H200.memoryBandwidth());
        assertEquals(141L << 30, HardwarePresets.H200.memoryPerDevice());
        assertEquals(2039e9, HardwarePresets.A100_80GB.memoryBandwidth());
        assertEquals(312e12, HardwarePresets.A100_40GB.flops("bf16"));
        assertEquals(1979e12, HardwarePresets.H100_SXM.flops("int8"));
        assertEquals(48L << 30, HardwarePresets.A6000.memoryPerDevice());
        assertFalse(HardwarePresets.V100_32GB.peakFlops().containsKey("bf16"), "V100 has no bf16");
        assertEquals(125e12, HardwarePresets.V100_32GB.flops("f16"));
    }

    @Test
    void unknownPresetListsTheNames() {
        var e = assertThrows(ProfileException.class, () -> HardwarePresets.byName("b200"));
        assertEquals("Unknown hardware preset 'b200': use one of a100-40gb, a100-80gb, a6000, v100-32gb, h100-sxm, h200.",
                e.getMessage());
    }

    /** The shipped JSON resources are the constants, written by the codec (regenerate with -Dfathom.updateGolden=true). */
    @Test
    void jsonResourcesMatchTheConstants() throws Exception {
        Path dir = Path.of("src/main/resources/dev/fathom/profiles/hardware");
        for (HardwareProfile h : HardwarePresets.all()) {
            String expected = ProfileCodec.writeHardware(h);
            if (UPDATE) AtomicFiles.writeString(dir.resolve(h.name() + ".json"), expected);
            else assertEquals(expected, Files.readString(dir.resolve(h.name() + ".json")), h.name());
            if (!UPDATE) assertEquals(h, ProfileCodec.readHardware(HardwarePresets.resourceJson(h.name()), h.name()));
        }
    }

    @AfterEach
    void clearProperty() { System.clearProperty(HardwareStore.CONFIG_DIR_PROPERTY); }

    @Test
    void thisMachineIsStoredUnderTheConfigDir(@TempDir Path dir) {
        System.setProperty(HardwareStore.CONFIG_DIR_PROPERTY, dir.toString());
        assertEquals(dir.resolve("hardware/this-machine.json"), HardwareStore.thisMachineFile());
        assertTrue(HardwareStore.loadThisMachine().isEmpty());
        var e = assertThrows(ProfileException.class, () -> HardwareStore.resolve("this-machine"));
        assertTrue(e.getMessage().contains("fathom calibrate"), e.getMessage());

        HardwareProfile measured = new HardwareProfile(1, "laptop", "measured by calibrate", "cpu", 1, 32L << 30,
                38.2e9, java.util.Map.of("f32", 9.1e11), 0, 2.9e9, 0, true);
        Path f = HardwareStore.saveThisMachine(measured);
        assertTrue(Files.isRegularFile(f));
        HardwareProfile back = HardwareStore.loadThisMachine().orElseThrow();
        assertEquals(measured.withName("this-machine", "measured by calibrate"), back);
        assertEquals(back, HardwareStore.resolve("this-machine"));
        assertSame(HardwarePresets.A6000, HardwareStore.resolve("a6000"));
    }

    @Test
    void defaultConfigDirIsUnderHome() {
        assertEquals(Path.of(System.getProperty("user.home"), ".config", "fathom", "hardware", "this-machine.json"),
                HardwareStore.thisMachineFile());
    }
}
