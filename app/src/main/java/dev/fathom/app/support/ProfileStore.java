package dev.fathom.app.support;

import dev.fathom.profiles.RunProfile;

import java.nio.file.Path;

/**
 * Saves and reopens run profiles. {@link JacksonProfileStore} writes the RunProfile record with Jackson
 * until the profiles module's codec (versioned, strict) is merged; then an adapter over it replaces it.
 */
public interface ProfileStore {
    /** Writes atomically; throws {@link dev.fathom.engine.EngineException} with a sentence on failure. */
    void save(Path file, RunProfile profile);

    RunProfile load(Path file);
}
