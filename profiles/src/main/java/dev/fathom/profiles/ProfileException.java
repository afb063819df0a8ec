package dev.fathom.profiles;

/**
 * A profile (or an export built from one) that cannot be used, explained in one sentence for people,
 * e.g. {@code profile.json: $.parallel.tp must be a positive integer, found "two".}
 */
public final class ProfileException extends RuntimeException {
    private final String source;
    private final String jsonPath;

    /**
     * @param source   where the JSON came from (a file name), or null
     * @param jsonPath the JSON path of the offending value ({@code $} for the whole document), or null
     * @param sentence what is wrong, starting with the path when there is one, ending with a full stop
     */
    public ProfileException(String source, String jsonPath, String sentence, Throwable cause) {
        super(source == null ? sentence : source + ": " + sentence, cause);
        this.source = source;
        this.jsonPath = jsonPath;
    }

    public ProfileException(String source, String jsonPath, String sentence) {
        this(source, jsonPath, sentence, null);
    }

    /** The file or label the JSON came from, or null. */
    public String source() { return source; }

    /** The JSON path of the offending value, e.g. {@code $.parallel.tp}, or null when none applies. */
    public String jsonPath() { return jsonPath; }
}
