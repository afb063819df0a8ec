package dev.fathom.profiles;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class AtomicFilesTest {

    @Test
    void replacesContentAndLeavesNoTemporaryFile(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("a.json");
        AtomicFiles.writeString(f, "first");
        AtomicFiles.writeString(f, "second");
        assertEquals("second", Files.readString(f));
        try (var s = Files.list(dir)) {
            assertEquals(1, s.count());
        }
    }

    @Test
    void aFailedRenameKeepsTheOldTargetAndCleansUp(@TempDir Path dir) throws Exception {
        Path target = dir.resolve("busy");
        Files.createDirectories(target);
        Files.writeString(target.resolve("keep.txt"), "old");
        assertThrows(UncheckedIOException.class, () -> AtomicFiles.writeString(target, "new"));
        assertEquals("old", Files.readString(target.resolve("keep.txt")));
        try (var s = Files.list(dir)) {
            assertEquals(1, s.count(), "the temporary file was removed");
        }
    }
}
