package dev.fathom.app.support;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.fathom.profiles.AtomicFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What the workbench remembers between starts: window geometry and recent models/profiles, as
 * {@code workbench.json} in {@code ~/.config/fathom} (or {@code -Dfathom.config.dir}, used by tests).
 *
 * @param x         window x (NaN = let the system choose)
 * @param y         window y
 * @param width     window width
 * @param height    window height
 * @param maximized window maximised
 * @param recent    recent model references (checkpoint folders and synthetic presets), newest first
 * @param lastDir   folder the last file chooser was in (may be null)
 */
public record AppSettings(double x, double y, double width, double height, boolean maximized, List<String> recent, String lastDir) {
    public static final int MAX_RECENT = 10;
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    public AppSettings {
        recent = recent == null ? List.of() : List.copyOf(recent);
    }

    public static AppSettings defaults() { return new AppSettings(Double.NaN, Double.NaN, 1400, 900, false, List.of(), null); }

    public static Path dir() {
        String d = System.getProperty("fathom.config.dir");
        if (d != null && !d.isBlank()) return Path.of(d);
        String xdg = System.getenv("XDG_CONFIG_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".config");
        return base.resolve("fathom");
    }

    public static Path file() { return dir().resolve("workbench.json"); }

    /** The saved settings, or the defaults when there are none or they cannot be read. */
    public static AppSettings load() {
        Path f = file();
        if (!Files.isRegularFile(f)) return defaults();
        try {
            return JSON.readValue(Files.readString(f), AppSettings.class);
        } catch (IOException | RuntimeException e) {
            System.err.println("fathom: ignoring " + f + " (" + e.getMessage() + "); starting with default window settings.");
            return defaults();
        }
    }

    public void save() {
        try {
            AtomicFiles.write(file(), out -> JSON.writeValue(out, this));
        } catch (IOException e) {
            System.err.println("fathom: cannot save window settings to " + file() + ": " + e.getMessage());
        }
    }

    public AppSettings withGeometry(double nx, double ny, double w, double h, boolean max) {
        return new AppSettings(nx, ny, w, h, max, recent, lastDir);
    }

    public AppSettings withRecent(String ref) {
        List<String> l = new ArrayList<>(recent);
        l.remove(ref);
        l.addFirst(ref);
        while (l.size() > MAX_RECENT) l.removeLast();
        return new AppSettings(x, y, width, height, maximized, l, lastDir);
    }

    public AppSettings withLastDir(String d) { return new AppSettings(x, y, width, height, maximized, recent, d); }
}
