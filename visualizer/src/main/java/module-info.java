/** JavaFX / JFreeChart views of engine telemetry. */
module dev.fathom.visualizer {
    requires transitive dev.fathom.engine;
    requires transitive javafx.controls;
    requires javafx.swing;
    requires org.controlsfx.controls;
    requires org.jfree.jfreechart;
    requires org.jfree.chart.fx;

    exports dev.fathom.visualizer;
}
