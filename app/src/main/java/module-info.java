/** The Fathom workbench (JavaFX) and its command-line entry, in one jar. */
module dev.fathom.app {
    requires dev.fathom.engine;
    requires dev.fathom.visualizer;
    requires info.picocli;
    requires com.fasterxml.jackson.databind; // JSON output of export and profiles list
    requires javafx.controls;
    requires org.controlsfx.controls;

    opens dev.fathom.app.cli to info.picocli;
    opens dev.fathom.app.support to com.fasterxml.jackson.databind;
    exports dev.fathom.app;
    exports dev.fathom.app.ui;
    exports dev.fathom.app.vm;
    exports dev.fathom.app.support;
}
