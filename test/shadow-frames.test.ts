import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type RingBuffer } from '../src/acquisition/ring-buffer.js';
import { POSE_DIM, RECEPTIVE_FIELD } from '../src/domain/geometry.js';
import type { BlockFigures, StepMetrics } from '../src/domain/events.js';
import { ExactPredictor } from '../src/inference/exact-predictor.js';
import { WindowFrameEncoder, type FrameEncoder } from '../src/inference/frame-encoder.js';
import { incrementalEncoderFrom } from '../src/inference/incremental-encoder.js';
import type { LoadedModels } from '../src/inference/models.js';
import { StreamingPredictor, type FeaturePolicy } from '../src/inference/streaming-predictor.js';
import { compareBlock } from '../src/domain/error-figures.js';
import { PairedStreamingPredictor, type ShadowHooks } from '../src/inference/paired-streaming.js';
import { ShadowRollout, type ShadowListener } from '../src/inference/shadow-rollout.js';
import { StepRecorder } from '../src/supervision/step-recorder.js';
import { goldenRing, incrementalCpuModels, maxAbsDiff, stepToEnd, type Steppable } from './helpers.js';
import { Harness } from './watchdog-harness.js';

type BlockComparison = BlockFigures;

const failOnShadowFailure: ShadowHooks = {
  onShadowFailed: (during, error) => assert.fail(`the shadow failed (${during}): ${String(error)}`),
};

/** The daemon's pairing: `streaming` with a live shadow exact rollout reporting to `listener`. */
function paired(
  m: LoadedModels,
  streaming: StreamingPredictor,
  listener: ShadowListener,
): { p: PairedStreamingPredictor; shadow: ShadowRollout } {
  const shadow = new ShadowRollout(new ExactPredictor(m.encoder, m.decoder, 10000, false), listener);
  return { p: new PairedStreamingPredictor(streaming, shadow, failOnShadowFailure), shadow };
}

async function stream(
  p: Steppable & { restartAt(s: number): void; finish?(): Promise<void> },
  ring: RingBuffer,
): Promise<Float32Array> {
  const out: number[] = [];
  p.restartAt(0);
  await stepToEnd(p, ring, (e) => void out.push(...e.angles));
  await p.finish?.();
  return new Float32Array(out);
}

/** The shadow as it was: a second, whole-window exact encoder per block and a stepped rollout. */
async function oldShadowBlocks(m: LoadedModels, ring: RingBuffer, blocks: number): Promise<Float32Array[]> {
  const exact = new ExactPredictor(m.encoder, m.decoder, 10000, false);
  exact.restartAt(0);
  const out: Float32Array[] = [];
  for (let b = 0; b < blocks; b++) out.push((await exact.runBlock(ring)).poses.slice());
  return out;
}

const cases: { policy: FeaturePolicy; encoder: 'incremental' | 'window'; oneRun?: boolean }[] = [
  { policy: 'exact_grid', encoder: 'incremental' },
  { policy: 'sliding_window', encoder: 'incremental' },
  { policy: 'exact_grid', encoder: 'incremental', oneRun: true },
  { policy: 'sliding_window', encoder: 'incremental', oneRun: true },
  { policy: 'exact_grid', encoder: 'window' },
];

for (const c of cases) {
  test(`the shadow from the streaming frames equals the old whole-window shadow (${c.policy}, ${c.encoder} encoder${c.oneRun ? ', one run per step' : ''}, ≤ 1e-6)`, async () => {
    const m = await incrementalCpuModels();
    const ring = goldenRing();
    const mkEncoder = (): FrameEncoder =>
      c.encoder === 'incremental'
        ? incrementalEncoderFrom(m)
        : new WindowFrameEncoder(m.encoder, c.policy === 'sliding_window' ? 1830 : RECEPTIVE_FIELD);
    const opts = { policy: c.policy, blockSamples: 10000, fusedStep: c.oneRun ? m.sessions['stream_step'] : undefined };
    const bare = await stream(new StreamingPredictor(mkEncoder(), m.decoder, opts), ring);

    const blocks: { c: BlockComparison; exact: Float32Array; steps: number }[] = [];
    const steps: StepMetrics[] = [];
    const streaming = new StreamingPredictor(mkEncoder(), m.decoder, opts);
    let exact: Float32Array | undefined;
    // The daemon's wiring: the step record and the compared blocks on a bus, the step recorder listening.
    const h = new Harness();
    await h.start(new StepRecorder({ blockPoints: 250 }, undefined));
    h.bus.on({ name: 'test' }, 'metrics', (s) => void steps.push(s));
    streaming.onStep = (r) => h.bus.emit('step', r);
    const { p, shadow: sup } = paired(m, streaming, {
      onShadowBlock: (r) => void (exact = r.poses.slice()),
      onBlock: (b) => {
        blocks.push({ c: { ...b, perStep: b.perStep.slice() }, exact: exact!, steps: streaming.stepsDone });
        h.bus.emit('block', b);
      },
    });
    const supervised = await stream(p, ring);
    h.bus.emit('tick', { uptimeS: 0, final: true });
    assert.deepEqual(h.errors, []);

    // Sharing the decoder run with the shadow leaves the streaming poses as they were.
    assert.equal(supervised.length, bare.length);
    assert.equal(supervised.length, 1000 * POSE_DIM);
    assert.ok(maxAbsDiff(supervised, bare) <= 1e-7, `streaming poses moved by ${maxAbsDiff(supervised, bare)}`);
    assert.ok(streaming.sharedSteps >= 990, `${streaming.sharedSteps} of 1000 steps carried a shadow point`);
    assert.equal(streaming.isFused, c.oneRun === true);
    if (c.oneRun) assert.ok(streaming.fusedSteps >= 998, `${streaming.fusedSteps} of 1000 steps in one run`);

    // Every block compared, at the end of that block (not one block later), against the old shadow's poses.
    assert.equal(blocks.length, 4);
    assert.equal(sup.shadowBlocksSkipped, 0);
    const old = await oldShadowBlocks(m, ring, 4);
    let worst = 0;
    for (let b = 0; b < 4; b++) {
      const got = blocks[b]!;
      assert.equal(got.c.block, b);
      assert.equal(got.c.startSample, b * 10000);
      assert.equal(got.steps, (b + 1) * 250, `block ${b} compared right after its last step`);
      worst = Math.max(worst, maxAbsDiff(got.exact, old[b]!));
      // The figures the old shadow gave for the same streamed poses.
      const streamed = supervised.subarray(b * 250 * POSE_DIM, (b + 1) * 250 * POSE_DIM);
      const ref = compareBlock(b, b * 250, b * 10000, b === 0, streamed, (i) => i, old[b]!, 250);
      assert.ok(
        Math.abs(got.c.main.max_diff - ref.main.max_diff) <= 1e-6,
        `block ${b} max_diff ${got.c.main.max_diff} vs ${ref.main.max_diff}`,
      );
      assert.ok(
        Math.abs(got.c.main.mse - ref.main.mse) <= 1e-10 + 1e-3 * ref.main.mse,
        `block ${b} mse ${got.c.main.mse} vs ${ref.main.mse}`,
      );
    }
    assert.ok(worst <= 1e-6, `new vs old shadow max |diff| ${worst}`);
    console.log(`# ${c.policy}/${c.encoder}: new vs old shadow poses max |diff| ${worst.toExponential(2)}`);
    // Every step's metrics line carries its error against exact.
    assert.equal(steps.length, 1000);
    assert.ok(steps.every((s) => s.mse_exact !== undefined && Number.isFinite(s.mse_exact)));
    assert.deepEqual(
      steps.map((s) => s.step),
      [...Array(1000).keys()],
    );
    // ...and it is the figure of its block's comparison.
    for (const b of blocks)
      for (let i = 0; i < 250; i += 50) assert.equal(steps[b.c.firstStep + i]!.mse_exact, b.c.perStep[2 * i + 1]);
  });
}

test('a session restart drops the shadow block it cuts, the new session blocks are compared', async () => {
  const m = await incrementalCpuModels();
  const ring = goldenRing();
  const streaming = new StreamingPredictor(incrementalEncoderFrom(m), m.decoder, {
    policy: 'exact_grid',
    blockSamples: 10000,
  });
  const blocks: BlockComparison[] = [];
  const { p, shadow: sup } = paired(m, streaming, { onBlock: (b) => void blocks.push(b) });
  p.restartAt(0);
  const noop = (): void => undefined;
  while (streaming.stepsDone < 100) await p.advance(ring, noop);
  // Restart in place at the next step's window: a new session whose block 0 starts there.
  const at = streaming.nextWindowStart;
  p.restartAt(at);
  while (ring.written >= p.nextReadyAt) await p.advance(ring, noop);
  await p.finish();
  assert.ok(blocks.length >= 2, `${blocks.length} blocks compared after the restart`);
  assert.equal(blocks[0]!.startSample, at);
  // The new session's block 0 starts from a reset like exact's: streaming reproduces it.
  assert.equal(blocks[0]!.aligned, true);
  assert.ok(blocks[0]!.main.max_diff <= 5e-5, `block 0 after the restart: max |diff| ${blocks[0]!.main.max_diff}`);
  assert.equal(sup.shadowBlocksSkipped, 0, 'the cut block was in progress, not pending: dropped with the restart');
});
