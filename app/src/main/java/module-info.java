/** The Fathom workbench (JavaFX) and its command-line entry, in one jar. */
module dev.fathom.app {
    requires dev.fathom.engine;
    requires dev.fathom.visualizer;
    requires info.picocli;
    requires com.fasterxml.jackson.databind; // JSON output of export and profiles list
    requires javafx.controls;

    opens dev.fathom.app.cli to info.picocli;
    exports dev.fathom.app;
}
