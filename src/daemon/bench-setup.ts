import { RingBuffer } from '../acquisition/ring-buffer.js';
import type { Config } from './config.js';
import { LEFT_CONTEXT, NUM_CHANNELS, RECEPTIVE_FIELD, STEP_SAMPLES } from '../domain/geometry.js';
import { ExactPredictor } from '../inference/exact-predictor.js';
import { WindowFrameEncoder } from '../inference/frame-encoder.js';
import { incrementalEncoderFrom, INCREMENTAL_MODEL_KEY } from '../inference/incremental-encoder.js';
import { precisionKey, type LoadedModels } from '../inference/models.js';
import { PairedStreamingPredictor } from '../inference/paired-streaming.js';
import { ShadowRollout } from '../inference/shadow-rollout.js';
import { STREAM_STEP_MODEL_KEY } from '../inference/stream-step.js';
import { StreamingPredictor, type FeaturePolicy } from '../inference/streaming-predictor.js';
import { Path, TimedFrameEncoder, benchSignal } from './bench-paths.js';

/** The bench's input in a ring: enough for every step of every path and two exact blocks. */
export function benchInput(
  models: LoadedModels,
  blockSamples: number,
  totalSteps: number,
): { ring: RingBuffer; signal: { source: string } } {
  const samples = Math.max(RECEPTIVE_FIELD + 39 + STEP_SAMPLES * totalSteps + 2 * 80, LEFT_CONTEXT + 2 * blockSamples);
  const signal = benchSignal(models.dir, samples);
  const ring = RingBuffer.create(samples, NUM_CHANNELS);
  ring.append(signal.data);
  return { ring, signal };
}

/**
 * The five paths `myostream bench` steps side by side (window, incremental, bare, bare_two_runs,
 * supervised), each restarted at sample 0. The supervised path is the bare step with the live
 * shadow exact block riding along, as the alignment check attaches it in the daemon.
 */
export function benchPaths(cfg: Config, models: LoadedModels, policy: FeaturePolicy, steps: number) {
  const windowSamples = policy === 'sliding_window' ? cfg.runtime.streaming.window_samples : RECEPTIVE_FIELD;
  const blockSamples = cfg.runtime.exact.block_samples;
  const opts = { policy, blockSamples };
  const liveOpts = { policy: cfg.runtime.streaming.feature_policy, blockSamples };
  const winEnc = new TimedFrameEncoder(new WindowFrameEncoder(models.encoder, windowSamples));
  const incInner = incrementalEncoderFrom(models);
  const incEnc = new TimedFrameEncoder(incInner);
  // The daemon's step is timed whole: a timing wrapper around its encoder would hide the
  // incremental encoder from the predictor, which then could neither fuse nor spread its steps.
  const fusedStep = cfg.runtime.streaming.fused_step ? models.sessions[STREAM_STEP_MODEL_KEY] : undefined;
  const liveFused = { ...liveOpts, fusedStep };
  const bareStreaming = new StreamingPredictor(incrementalEncoderFrom(models), models.decoder, liveFused);
  const shadow = new ExactPredictor(models.encoder, models.decoder, blockSamples, false);
  const supStreaming = new StreamingPredictor(incrementalEncoderFrom(models), models.decoder, liveFused);
  // A shadow failure would leave `supervised` timing the bare step: the bench refuses to go on.
  const supervised = new PairedStreamingPredictor(
    supStreaming,
    new ShadowRollout(shadow, { onBlock: () => undefined }),
    {
      onShadowFailed: (during, error) => {
        throw new Error(
          `bench: the live shadow failed (${during}): ${error instanceof Error ? error.message : String(error)}`,
        );
      },
    },
  );
  const paths = [
    new Path('window', new StreamingPredictor(winEnc, models.decoder, opts), winEnc, steps),
    new Path('incremental', new StreamingPredictor(incEnc, models.decoder, opts), incEnc, steps),
    new Path('bare', bareStreaming, undefined, steps),
    new Path(
      'bare_two_runs',
      new StreamingPredictor(incrementalEncoderFrom(models), models.decoder, liveOpts),
      undefined,
      steps,
    ),
    new Path('supervised', supervised, undefined, steps),
  ] as const;
  for (const p of paths) p.predictor.restartAt(0);
  return {
    paths,
    windowSamples,
    liveOpts,
    incInner,
    bareStreaming,
    supStreaming,
    supervised,
    shadow,
    int8: int8Paths(cfg, models, liveOpts, steps),
  };
}

/**
 * The same bare and supervised steps on the int8 graphs (model.precision int8), when the model
 * folder has them: stepped in turn with the fp32 paths. The supervised one's shadow is fp32
 * exact, as in the daemon: its frames come from the fp32 twin encoder, its decoder steps run
 * on their own.
 */
function int8Paths(
  cfg: Config,
  models: LoadedModels,
  liveOpts: { policy: FeaturePolicy; blockSamples: number },
  steps: number,
) {
  const decoder = models.sessions[precisionKey('decoder_step', 'int8')];
  if (!decoder || !models.sessions[precisionKey(INCREMENTAL_MODEL_KEY, 'int8')]) return undefined;
  const fusedStep = cfg.runtime.streaming.fused_step
    ? models.sessions[precisionKey(STREAM_STEP_MODEL_KEY, 'int8')]
    : undefined;
  const opts = { ...liveOpts, fusedStep, companionOwnRuns: true };
  const bareStreaming = new StreamingPredictor(incrementalEncoderFrom(models, { precision: 'int8' }), decoder, opts);
  const supStreaming = new StreamingPredictor(incrementalEncoderFrom(models, { precision: 'int8' }), decoder, opts);
  const supervised = new PairedStreamingPredictor(
    supStreaming,
    new ShadowRollout(new ExactPredictor(models.encoder, models.decoder, liveOpts.blockSamples, false), {
      onBlock: () => undefined,
    }),
    {
      onShadowFailed: (during, error) => {
        throw new Error(
          `bench: the int8 path's live shadow failed (${during}): ${error instanceof Error ? error.message : String(error)}`,
        );
      },
    },
  );
  const paths = [
    new Path('bare_int8', bareStreaming, undefined, steps),
    new Path('supervised_int8', supStreaming, undefined, steps),
  ] as const;
  for (const p of paths) p.predictor.restartAt(0);
  return { paths, bareStreaming, supStreaming, supervised };
}
