package dev.fathom.engine;

/**
 * An error the user can act on: the message is one sentence that names the file, tensor, field or
 * setting and what to do. The CLI prints only the message (the trace with --debug); the GUI shows it.
 */
public class EngineException extends RuntimeException {
    public EngineException(String message) { super(message); }
    public EngineException(String message, Throwable cause) { super(message, cause); }
}
