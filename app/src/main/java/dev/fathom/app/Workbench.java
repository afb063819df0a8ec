package dev.fathom.app;

import javafx.application.Application;
import javafx.scene.Scene;
import javafx.scene.control.Label;
import javafx.scene.layout.StackPane;
import javafx.stage.Stage;

/** Launches the JavaFX workbench. */
public final class Workbench extends Application {
    public static void open(String[] args) {
        Application.launch(Workbench.class, args);
    }

    @Override
    public void start(Stage stage) {
        stage.setTitle("Fathom");
        stage.setScene(new Scene(new StackPane(new Label("Fathom workbench — synthetic:llama-1.1b (random weights) ready on the CPU backend")), 900, 600));
        stage.show();
    }
}
