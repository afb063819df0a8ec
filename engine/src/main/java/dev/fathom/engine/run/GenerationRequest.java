package dev.fathom.engine.run;

import dev.fathom.profiles.RunProfile;

/**
 * What to generate.
 *
 * @param prompts         token ids per sequence, all of equal length
 * @param maxNewTokens    tokens to add per sequence
 * @param sampling        token selection
 * @param keepPromptLogits keep logits of every prompt position (for dumps and checks)
 * @param keepStepLogits  keep the logits that chose each generated token
 */
public record GenerationRequest(int[][] prompts, int maxNewTokens, RunProfile.Sampling sampling,
                                boolean keepPromptLogits, boolean keepStepLogits) {
    public int batch() { return prompts.length; }
    public int promptLen() { return prompts[0].length; }
}
