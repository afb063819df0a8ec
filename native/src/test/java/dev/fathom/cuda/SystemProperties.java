package dev.fathom.cuda;

/** Tests that set a {@code -D} switch for the length of one block and restore what was there. */
final class SystemProperties {
    private SystemProperties() {}

    /** Runs {@code body} with {@code key} set to {@code value}, then restores the key's earlier value (or clears it). */
    static void with(String key, String value, Runnable body) {
        String old = System.getProperty(key);
        System.setProperty(key, value);
        try {
            body.run();
        } finally {
            if (old == null) System.clearProperty(key);
            else System.setProperty(key, old);
        }
    }
}
