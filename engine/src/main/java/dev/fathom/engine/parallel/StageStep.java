package dev.fathom.engine.parallel;

import dev.fathom.engine.telemetry.TelemetryEvent.Phase;

/**
 * What one pipeline stage pass needs: the sequences' KV slots, their start positions, the new tokens per
 * sequence ({@code t}), the tokens themselves ({@code [slots.length * t]}, row-major; only the first stage
 * embeds them), the phase, and whether the last stage returns logits of every position or each sequence's last.
 */
public record StageStep(int[] slots, int[] start, int t, int[] tokens, Phase phase, boolean allPositions) {}
