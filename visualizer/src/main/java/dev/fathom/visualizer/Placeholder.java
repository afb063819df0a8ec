package dev.fathom.visualizer;

/** Marker until the views land. */
public final class Placeholder {
    private Placeholder() {}
}
