package dev.fathom.app.cli;

import dev.fathom.engine.calibrate.Calibrator;
import dev.fathom.engine.calibrate.Calibrator.Calibration;
import dev.fathom.engine.util.TextTable;
import dev.fathom.profiles.HardwareProfile;
import dev.fathom.profiles.HardwareStore;
import dev.fathom.profiles.ProfileCodec;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code fathom calibrate}: measure this machine and save it as the "this-machine" hardware profile. */
@Command(name = "calibrate", mixinStandardHelpOptions = true,
        description = {"Measure this machine (memory bandwidth, GEMM rate, disk read) as the this-machine profile.",
                "Memory read bandwidth (1 and N threads), F32 GEMM rate and disk read speed (O_DIRECT) are saved as the",
                "'this-machine' hardware profile that plans and exports are checked against."})
public final class CalibrateCommand implements Callable<Integer> {
    @Option(names = "--json", description = "print the saved profile as JSON")
    boolean json;

    @Option(names = "--quick", description = "small buffers (a few seconds; caches inflate the figures)")
    boolean quick;

    @Option(names = "--disk-dir", paramLabel = "DIR", description = "folder on the disk to measure (default: the system temp folder)")
    Path diskDir;

    @Option(names = "--threads", defaultValue = "0", description = "threads for the multi-threaded figures (0 = one per core)")
    int threads;

    @Option(names = "--no-save", description = "measure and print without saving")
    boolean noSave;

    @Spec CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut(), err = spec.commandLine().getErr();
        Path dir = diskDir != null ? diskDir : Path.of(System.getProperty("java.io.tmpdir"));
        Calibrator.Options base = quick ? Calibrator.Options.quick(dir) : Calibrator.Options.full(dir);
        Calibrator.Options o = new Calibrator.Options(base.memoryBytes(), base.gemmN(), base.diskBytes(), dir, threads, base.passes());
        Calibration c;
        try (ProgressBar bar = new ProgressBar(err)) {
            c = Calibrator.run(o, bar::update);
        }
        HardwareProfile h = c.toProfile();
        Path saved = noSave ? null : HardwareStore.saveThisMachine(h);
        if (json) out.print(ProfileCodec.writeHardware(h));
        else {
            TextTable t = new TextTable("measurement", ">1 thread", ">" + c.threads() + " threads");
            t.row("memory read", TextTable.gbps(c.bandwidth1()), TextTable.gbps(c.bandwidthN()));
            t.row("F32 GEMM", TextTable.flops(c.gemm1()), TextTable.flops(c.gemmN()));
            if (c.disk() != null) t.row("disk read" + (c.disk().direct() ? " (O_DIRECT)" : " (page cache)"), "", TextTable.gbps(c.disk().bytesPerSecond()));
            t.row("host → device", "", "0 (no accelerator)");
            t.row("memory", "", TextTable.bytes(c.memoryBytes()));
            out.print(t.render());
            for (String n : c.notes()) out.println("note: " + n);
            if (saved != null) out.println("saved " + saved);
        }
        out.flush();
        if (quick) err.println("fathom: --quick uses small buffers that fit in caches; run without it for figures to plan with.");
        return 0;
    }
}
