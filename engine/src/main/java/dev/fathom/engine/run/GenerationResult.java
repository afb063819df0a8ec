package dev.fathom.engine.run;

/**
 * What a generation produced.
 *
 * @param tokens        prompt + generated ids per sequence (sequences that stopped early are shorter)
 * @param promptLogits  [batch][prompt][vocab] or null
 * @param stepLogits    [batch][step][vocab] or null
 * @param prefillNs     prompt phase wall time
 * @param decodeNs      token phase wall time
 * @param decodeSteps   token-phase steps run
 * @param cancelled     stopped by the user
 */
public record GenerationResult(int[][] tokens, float[][][] promptLogits, float[][][] stepLogits, long prefillNs,
                               long decodeNs, int decodeSteps, boolean cancelled) {
    public double decodeMsPerStep() { return decodeSteps == 0 ? 0 : decodeNs / 1e6 / decodeSteps; }
}
