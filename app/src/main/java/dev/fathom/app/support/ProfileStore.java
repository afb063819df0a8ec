package dev.fathom.app.support;

import dev.fathom.profiles.RunProfile;

import java.nio.file.Path;

/**
 * Saves and reopens run profiles ({@link CodecProfileStore}: the profiles module's codec). The view models
 * depend on this interface only.
 */
public interface ProfileStore {
    /** Writes atomically; throws {@link dev.fathom.engine.EngineException} with a sentence on failure. */
    void save(Path file, RunProfile profile);

    RunProfile load(Path file);
}
