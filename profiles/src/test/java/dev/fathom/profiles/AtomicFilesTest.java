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

    @Test
    void aBodyThatClosesItsStreamStillLandsWhole(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        java.nio.file.Path f = dir.resolve("closing.json");
        AtomicFiles.write(f, out -> {
            out.write("{\"a\": 1}".getBytes(java.nio.charset.StandardCharsets.UTF_8));
            out.close();   // as Jackson's writeValue does
        });
        org.junit.jupiter.api.Assertions.assertEquals("{\"a\": 1}", java.nio.file.Files.readString(f));
        var perms = java.nio.file.Files.getPosixFilePermissions(f);
        org.junit.jupiter.api.Assertions.assertTrue(perms.contains(java.nio.file.attribute.PosixFilePermission.OTHERS_READ), perms.toString());
    }
}
