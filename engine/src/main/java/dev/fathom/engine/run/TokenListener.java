package dev.fathom.engine.run;

/** Receives tokens as they are chosen (from the generating thread). */
@FunctionalInterface
public interface TokenListener {
    TokenListener NONE = (seq, token, step) -> { };

    /** @param step 0-based index of the generated token within its sequence */
    void onToken(int sequence, int token, int step);
}
