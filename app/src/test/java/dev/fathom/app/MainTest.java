package dev.fathom.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class MainTest {
    /** JavaFX's "Unable to open DISPLAY" becomes one sentence naming the display and what to do; other failures pass through. */
    @Test
    void anUnreachableDisplayIsOneSentenceNamingItAndOtherFailuresAreNotSwallowed() {
        var e = new UnsupportedOperationException("Unable to open DISPLAY");
        assertEquals("fathom: cannot open the workbench on DISPLAY=:77: no X server answers there; start an X server (or run under xvfb-run),"
                + " or use './fathom --help' for the command line.", Main.displayError(e, ":77"));
        assertTrue(Main.displayError(e, null).startsWith("fathom: cannot open the workbench: DISPLAY is unset; "), Main.displayError(e, null));
        assertTrue(Main.displayError(e, " ").contains("DISPLAY is unset"));
        assertNull(Main.displayError(new UnsupportedOperationException("something else"), ":77"));
        assertNull(Main.displayError(new UnsupportedOperationException(), ":77"));
    }
}
