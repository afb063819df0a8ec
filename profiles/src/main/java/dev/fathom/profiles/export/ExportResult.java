package dev.fathom.profiles.export;

import java.nio.file.Path;
import java.util.List;

/**
 * What an export wrote.
 *
 * @param target   the target
 * @param outDir   the directory the files are in
 * @param files    the files written, config first, {@code EXPORT_NOTES.md} last
 * @param warnings what the profile asks for that the target cannot express (also in {@code EXPORT_NOTES.md})
 */
public record ExportResult(Target target, Path outDir, List<Path> files, List<String> warnings) {
    public ExportResult {
        files = List.copyOf(files);
        warnings = List.copyOf(warnings);
    }
}
