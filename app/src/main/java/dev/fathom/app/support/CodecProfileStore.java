package dev.fathom.app.support;

import dev.fathom.engine.EngineException;
import dev.fathom.profiles.ProfileCodec;
import dev.fathom.profiles.ProfileException;
import dev.fathom.profiles.RunProfile;

import java.nio.file.Path;

/** Run profiles through the profiles module's strict, versioned codec (the CLI reads the same files). */
public final class CodecProfileStore implements ProfileStore {
    @Override
    public void save(Path file, RunProfile profile) {
        try {
            ProfileCodec.saveRun(profile, file);
        } catch (ProfileException e) {
            throw new EngineException(e.getMessage(), e);
        }
    }

    @Override
    public RunProfile load(Path file) {
        try {
            return ProfileCodec.loadRun(file);
        } catch (ProfileException e) {
            throw new EngineException(e.getMessage(), e);
        }
    }
}
