package dev.fathom.profiles;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Where user hardware profiles live: {@code ~/.config/fathom/hardware/}, or
 * {@code <fathom.config.dir>/hardware/} when the system property {@code fathom.config.dir} is set.
 * The measured "this machine" profile ({@code fathom calibrate}) is {@code this-machine.json} there.
 */
public final class HardwareStore {
    /** System property that replaces {@code ~/.config/fathom}. */
    public static final String CONFIG_DIR_PROPERTY = "fathom.config.dir";
    /** Name of the measured profile of the machine Fathom runs on. */
    public static final String THIS_MACHINE = "this-machine";

    private HardwareStore() {}

    /** Fathom's configuration directory. */
    public static Path configDir() {
        String p = System.getProperty(CONFIG_DIR_PROPERTY);
        if (p != null && !p.isBlank()) return Path.of(p);
        return Path.of(System.getProperty("user.home"), ".config", "fathom");
    }

    /** The directory of user hardware profiles. */
    public static Path hardwareDir() { return configDir().resolve("hardware"); }

    /** The file of the "this machine" profile. */
    public static Path thisMachineFile() { return hardwareDir().resolve(THIS_MACHINE + ".json"); }

    /** The measured profile of this machine, or empty when {@code fathom calibrate} has not been run. */
    public static Optional<HardwareProfile> loadThisMachine() {
        Path f = thisMachineFile();
        return Files.isRegularFile(f) ? Optional.of(ProfileCodec.loadHardware(f)) : Optional.empty();
    }

    /** Saves the measured profile atomically under the name {@code this-machine}; returns the file. */
    public static Path saveThisMachine(HardwareProfile measured) {
        HardwareProfile h = measured.name().equals(THIS_MACHINE) ? measured
                : measured.withName(THIS_MACHINE, measured.description());
        Path f = thisMachineFile();
        ProfileCodec.saveHardware(h, f);
        return f;
    }

    /**
     * The hardware profile a run profile names: {@code this-machine} (measured, from the config
     * directory), a file {@code <name>.json} in the hardware directory, or a datasheet preset.
     */
    public static HardwareProfile resolve(String name) {
        if (THIS_MACHINE.equals(name)) {
            return loadThisMachine().orElseThrow(() -> new ProfileException(null, null,
                    "No measured profile of this machine at " + thisMachineFile()
                            + ": run 'fathom calibrate' or choose a preset (" + String.join(", ", HardwarePresets.names()) + ")."));
        }
        if (name != null && name.matches("[A-Za-z0-9._-]+")) {
            Path f = hardwareDir().resolve(name + ".json");
            if (Files.isRegularFile(f)) return ProfileCodec.loadHardware(f);
        }
        return HardwarePresets.byName(name);
    }
}
