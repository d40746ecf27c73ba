import { ROLLOUT_FREQ } from '../domain/geometry.js';
import type { RunEventKind } from '../domain/events.js';
import type { Plugin, PluginContext, PluginReport } from '../domain/plugin.js';
import { newPoseEvent, type PoseEvent } from '../domain/pose.js';
// Its settings' schema, for its registry row.
export { smoothingOf, smoothingSchema } from './smoothing-settings.js';
import { OneEuroFilter, type OneEuroSettings } from './one-euro.js';

/** Steps further apart than this in stream time are a gap: the filter starts afresh. */
const CONTINUITY_TOLERANCE_S = 1e-4;

/**
 * The smoothed companion of the pose stream: a One Euro filter per joint, fed every pose (also
 * those the link drops, so the filter stays continuous), started afresh on a mode switch, a jump
 * in stream time (a gap, a restart of the timeline) and on the run events onEvent() is given. The returned event carries
 * the raw pose's t, step, mode and arrival time; it and its angles are reused for every pose.
 */
export class PoseSmoother {
  private readonly filter: OneEuroFilter;
  private readonly out: PoseEvent;
  private lastT = NaN;
  private lastMode = '';
  /** Times the filter started afresh (the first pose included). */
  restarts = 0;

  constructor(
    joints: number,
    readonly settings: OneEuroSettings,
  ) {
    this.filter = new OneEuroFilter(joints, settings, ROLLOUT_FREQ);
    this.out = newPoseEvent('streaming', new Float32Array(joints));
  }

  reset(): void {
    this.lastT = NaN;
  }

  /** A run event: the filter must not glide across a hole in the input or a predictor restart. */
  onEvent(kind: RunEventKind): void {
    if (kind === 'gap' || kind === 'bridged_gap' || kind === 'reset' || kind === 'reinit') this.reset();
  }

  update(e: PoseEvent): PoseEvent {
    const continuous =
      e.mode === this.lastMode && Math.abs(e.t - this.lastT - 1 / ROLLOUT_FREQ) < CONTINUITY_TOLERANCE_S;
    if (!continuous) {
      this.filter.reset();
      this.restarts++;
    }
    this.lastT = e.t;
    this.lastMode = e.mode;
    const o = this.out;
    o.t = e.t;
    o.step = e.step;
    o.mode = e.mode;
    o.inputArrivedAt = e.inputArrivedAt;
    this.filter.apply(e.angles, o.angles);
    return o;
  }
}

/**
 * The stream's one smoothed stream (outputs.smoothing): every pose through a PoseSmoother, put on
 * the bus as `smoothed` for the outputs that show it (MQTT's <prefix>/pose/smoothed, the live
 * view's smoothed hand), so the filter runs once per pose whoever shows it. Its row comes before
 * theirs; they pair a smoothed pose with its raw one by step either way.
 */
export class PoseSmoothingPlugin implements Plugin {
  readonly name = 'smoothing';
  private smoother: PoseSmoother | undefined;

  constructor(readonly settings: OneEuroSettings) {}

  start(ctx: PluginContext): void {
    const smoother = new PoseSmoother(ctx.stream.poseDim, this.settings);
    this.smoother = smoother;
    const bus = ctx.bus;
    // Fed every pose, also those an output drops, so the filter stays continuous.
    bus.on(this, 'pose', (e) => bus.emit('smoothed', smoother.update(e)));
    bus.on(this, 'event', (e) => smoother.onEvent(e.kind));
  }

  stop(): void {}

  report(): PluginReport {
    const { min_cutoff, beta, d_cutoff } = this.settings;
    return { sections: { smoothing: { min_cutoff, beta, d_cutoff, restarts: this.smoother?.restarts ?? 0 } } };
  }
}
