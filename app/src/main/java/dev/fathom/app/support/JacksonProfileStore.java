package dev.fathom.app.support;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.fathom.engine.EngineException;
import dev.fathom.engine.util.AtomicFiles;
import dev.fathom.profiles.RunProfile;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** RunProfile as JSON through Jackson's record support, saved atomically. */
public final class JacksonProfileStore implements ProfileStore {
    private final ObjectMapper json = new ObjectMapper()
            .enable(SerializationFeature.INDENT_OUTPUT)
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    @Override
    public void save(Path file, RunProfile profile) {
        try {
            AtomicFiles.write(file, out -> json.writeValue(out, profile));
        } catch (IOException e) {
            throw new EngineException("Cannot save the profile to " + file + " (" + e.getMessage() + "): choose a writable folder.", e);
        }
    }

    @Override
    public RunProfile load(Path file) {
        try {
            RunProfile p = json.readValue(Files.readString(file), RunProfile.class);
            if (p.version() > RunProfile.CURRENT_VERSION)
                throw new EngineException(file + " is a version " + p.version() + " profile but this Fathom reads up to version "
                        + RunProfile.CURRENT_VERSION + ": update Fathom.");
            return p;
        } catch (NoSuchFileException e) {
            throw new EngineException("Profile " + file + " does not exist: choose an existing profile file.", e);
        } catch (IOException e) {
            String why = e.getMessage() == null ? e.toString() : e.getMessage().lines().findFirst().orElse("");
            throw new EngineException(file + " is not a Fathom profile (" + why + "): fix the JSON or save a new profile.", e);
        }
    }
}
