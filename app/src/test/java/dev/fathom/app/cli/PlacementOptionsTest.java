package dev.fathom.app.cli;

import dev.fathom.engine.EngineException;
import dev.fathom.profiles.RunProfile;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;

import static org.junit.jupiter.api.Assertions.*;

class PlacementOptionsTest {
    @Test
    void sizes() {
        assertEquals(512L << 20, PlacementOptions.parseSize("--x", "512M"));
        assertEquals(2L << 30, PlacementOptions.parseSize("--x", "2G"));
        assertEquals(3L << 29, PlacementOptions.parseSize("--x", "1.5g"));
        assertEquals(2L << 30, PlacementOptions.parseSize("--x", "2GiB"));
        assertEquals(1000, PlacementOptions.parseSize("--x", "1000"));
        for (String bad : new String[]{"12Q", "-1G", "G", "", "2D", "1e9"}) {
            EngineException e = assertThrows(EngineException.class, () -> PlacementOptions.parseSize("--device-memory", bad), bad);
            assertTrue(e.getMessage().startsWith("--device-memory '") && e.getMessage().endsWith("."), e.getMessage());
        }
    }

    @Test
    void flagsReachThePlacement() {
        PlacementOptions o = new PlacementOptions();
        new CommandLine(new Object() {
            @CommandLine.Mixin PlacementOptions p = o;
        }).parseArgs("--weights", "NVMe", "--nvme-dir", "/x", "--prefetch", "3", "--device-memory", "1G", "--host-memory", "4G");
        RunProfile.Placement p = o.applyTo(RunProfile.Placement.DEFAULT);
        assertEquals(RunProfile.Tier.NVME, p.weights());
        assertEquals("/x", p.nvmeDir());
        assertEquals(3, p.prefetch());
        assertEquals(1L << 30, p.deviceMemory());
        assertEquals(4L << 30, p.hostMemory());
        assertThrows(EngineException.class, () -> PlacementOptions.parseTier("disk"));
        assertEquals(RunProfile.Tier.DEVICE, p.kvCache(), "the KV cache stays where the base profile had it");
    }

    @Test
    void kvCacheFlag() {
        PlacementOptions o = new PlacementOptions();
        new CommandLine(new Object() {
            @CommandLine.Mixin PlacementOptions p = o;
        }).parseArgs("--kv-cache", "host");
        assertEquals(RunProfile.Tier.HOST, o.applyTo(RunProfile.Placement.DEFAULT).kvCache());
        o.kvCache = "nvme";
        EngineException e = assertThrows(EngineException.class, () -> o.applyTo(RunProfile.Placement.DEFAULT));
        assertTrue(e.getMessage().startsWith("--kv-cache 'nvme'"), e.getMessage());
        o.kvCache = "ram";
        e = assertThrows(EngineException.class, () -> o.applyTo(RunProfile.Placement.DEFAULT));
        assertEquals("--kv-cache 'ram' is not a tier: use device or host.", e.getMessage());
    }

    @Test
    void planCommandPrintsTiers() {
        CommandLine cl = FathomCommand.commandLine();
        StringWriter out = new StringWriter(), err = new StringWriter();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        int rc = cl.execute("plan", "--model", "synthetic:llama-tiny", "--weights", "nvme", "--prefetch", "1", "--device-memory", "6M");
        assertEquals(0, rc, err.toString());
        String s = out.toString();
        assertTrue(s.contains("tiers") && s.contains("nvme") && s.contains("ring of 2"), s);
        assertTrue(s.contains("hide"), s);
        rc = cl.execute("plan", "--model", "synthetic:llama-tiny", "--device-memory", "lots");
        assertEquals(FathomCommand.EXIT_INPUT, rc);
        assertTrue(err.toString().contains("--device-memory 'lots' is not a size"), err.toString());
    }
}
