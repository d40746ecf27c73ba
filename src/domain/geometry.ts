/**
 * The model's fixed facts (SPEC §2). model_info.json repeats them; the model loader refuses a
 * model whose recorded geometry differs, so these constants and the graphs cannot drift apart.
 */
export const SAMPLE_RATE = 2000;
export const NUM_CHANNELS = 16;
export const LEFT_CONTEXT = 1790;
export const RIGHT_CONTEXT = 0;
export const RECEPTIVE_FIELD = LEFT_CONTEXT + 1;
export const ENCODER_STRIDE = 80;
export const FEATURE_DIM = 64;
export const POSE_DIM = 20;
export const DECODER_INPUT_DIM = FEATURE_DIM + POSE_DIM;
export const LSTM_LAYERS = 2;
export const LSTM_HIDDEN = 512;
export const ROLLOUT_FREQ = 50;
/** Samples per 50 Hz output step. */
export const STEP_SAMPLES = SAMPLE_RATE / ROLLOUT_FREQ;
/** Upstream's num_position_steps, stated at 2 kHz. */
export const NUM_POSITION_STEPS_2KHZ = 500;

export const JOINT_NAMES: readonly string[] = [
  'THUMB_CMC_FE',
  'THUMB_CMC_AA',
  'THUMB_MCP_FE',
  'THUMB_IP_FE',
  ...['INDEX', 'MIDDLE', 'RING', 'PINKY'].flatMap((f) => [`${f}_MCP_AA`, `${f}_MCP_FE`, `${f}_PIP_FE`, `${f}_DIP_FE`]),
];

/** Encoder output frames for an input of `samples` samples (0 when too short). */
export function framesFor(samples: number): number {
  return samples < RECEPTIVE_FIELD ? 0 : Math.floor((samples - RECEPTIVE_FIELD) / ENCODER_STRIDE) + 1;
}

/**
 * Python's round(): halves go to the even neighbour. The position-step count is
 * round(500 × 50 / 2000) = round(12.5) = 12; Math.round would give 13.
 */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const diff = x - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

export const POSITION_STEPS = roundHalfEven(NUM_POSITION_STEPS_2KHZ * (ROLLOUT_FREQ / SAMPLE_RATE));

/** Number of 50 Hz points the exact rollout makes for a window of `windowSamples`. */
export function rolloutPointsFor(windowSamples: number): number {
  const seconds = (windowSamples - LEFT_CONTEXT - RIGHT_CONTEXT) / SAMPLE_RATE;
  return roundHalfEven(seconds * ROLLOUT_FREQ);
}
