package dev.fathom.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Test;

class MainTest {
    /** JavaFX's "Unable to open DISPLAY" becomes one sentence naming the display and what to do; other failures pass through. */
    @Test
    void anUnreachableDisplayIsOneSentenceNamingItAndOtherFailuresAreNotSwallowed() {
        var e = new UnsupportedOperationException("Unable to open DISPLAY");
        assertEquals("fathom: cannot open the workbench on display DISPLAY=:77: no X server answers there; start one (or run under xvfb-run),"
                + " or use './fathom --help' for the command line.", Main.displayError(e, ":77"));
        assertEquals(true, Main.displayError(e, null).contains("DISPLAY=(unset)"));
        assertNull(Main.displayError(new UnsupportedOperationException("something else"), ":77"));
        assertNull(Main.displayError(new UnsupportedOperationException(), ":77"));
    }
}
