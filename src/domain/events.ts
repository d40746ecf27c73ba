import type { BlockFigures } from './error-figures.js';
import type { Mode, PoseEvent } from './pose.js';

/** Kinds of things that happen to a run and are recorded (events.jsonl, MQTT `event`, summary counts). */
export type RunEventKind =
  | 'gap'
  | 'bridged_gap'
  | 'overrun'
  | 'stall'
  /** A stall is over: samples come again (not another stall: `stalls` counts `stall` only). */
  | 'stall_end'
  | 'reinit'
  | 'source_end'
  | 'mode_switch'
  | 'reset'
  | 'error'
  | 'output_failed'
  | 'plugin_failed'
  | 'bad_samples'
  | 'contention'
  | 'alarm'
  | 'config_reload'
  | 'signal_quality'
  /** A replayed recording's amplitude is far off the model's scale (stored in volts, say). */
  | 'signal_scale';

/** One recorded happening of a stream, on the bus as `event` and a line of events.jsonl. */
export interface RunEvent {
  /** Wall-clock ISO time. */
  time: string;
  kind: RunEventKind;
  /** Absolute input sample the event refers to. */
  atSample: number;
  detail: string;
  /** Extra machine-readable fields (counts, names, figures); kept flat and JSON-safe. */
  data?: Readonly<Record<string, string | number | boolean | null>>;
}

/** A switch of the running predictor between modes, as recorded in summary.json and on MQTT. */
export interface ModeSwitch {
  time: string;
  at_step: number;
  at_sample: number;
  from: Mode;
  to: Mode;
  reason: string;
}

/** Once per computed unit (a streaming step or an exact block), after its poses were emitted. */
export interface UnitEvent {
  mode: Mode;
  /** T_compute of the unit, ms of wall time around the model calls. */
  computeMs: number;
  /** CPU time of this thread over the same span, ms (NaN where the platform cannot tell). */
  cpuMs: number;
  /** Run-wide index of the unit's last pose. */
  lastStep: number;
  /** Samples in the ring when the unit finished. */
  ringWritten: number;
  /** Units since the predictor last (re)started: warm-up is the first few. */
  sinceRestart: number;
}

/**
 * One streaming step as the predictor computed it, on the bus as `step` right after its pose
 * (one object reused for every step: listeners copy what they keep).
 */
export interface StepRecord {
  /** Step index within the predictor's session (0 after every restart). */
  sessionStep: number;
  /** Run-wide index of the step's pose (the pose event's `step`). */
  step: number;
  /** The step's nominal time, s: its window's end over the sample rate. */
  t: number;
  /** Absolute sample where the predictor's session began. */
  sessionOrigin: number;
  /** Absolute sample count the step waited for: its input was complete with sample readyAt − 1. */
  readyAt: number;
  /** T_compute: encoder run(s) + interpolation + decoder step, ms of wall time. */
  computeMs: number;
  /** The decoder's feature: between 40-sample-grid frames frameLo and frameHi at weight frameWeight. */
  frameLo: number;
  frameHi: number;
  frameWeight: number;
  /** The step's pose (a view, valid during the call). */
  angles: Float32Array;
  /** performance.now() when the step's last input sample arrived (NaN: not known). */
  inputArrivedAt: number;
  /** performance.now() when every `pose` listener (the outputs) had returned: the session stamps it. */
  handledAt: number;
}

/** One line of streaming_metrics.jsonl: a streaming step with its figures. */
export interface StepMetrics {
  step: number;
  t: number;
  mode: 'streaming';
  t_compute_ms: number;
  e2e_ms?: number;
  mae_exact?: number;
  mse_exact?: number;
  mae_truth?: number;
  mse_truth?: number;
}

export type { BlockFigures } from './error-figures.js';

/** A plug-in that threw or failed, and what was done about it. */
export interface PluginFailure {
  plugin: string;
  /** The bus event being handled, or 'start' / 'stop' / 'io'. */
  during: string;
  message: string;
  disabled: boolean;
}

/** The periodic heartbeat every plug-in may act on (artifacts refresh, health, status line). */
export interface TickEvent {
  /** Seconds since the stream started. */
  uptimeS: number;
  final: boolean;
}

/** Exact mode's poses upsampled to the input rate (runtime.exact.upsample_to_input_rate); reused per sample. */
export interface UpsampledPose {
  /** Absolute input sample index the pose is for. */
  sample: number;
  angles: Float32Array;
}

/**
 * A pose an output handed to a network link (MQTT's <prefix>/pose), with its age then: the one
 * measurement of pose age that latency_stats.json, summary.json and /metrics read. One object
 * reused for every pose.
 */
export interface PublishedPose {
  /** Run-wide step of the pose. */
  step: number;
  /** ms from the arrival of its newest input sample to the publish (NaN: arrival not known). */
  ageMs: number;
}

/** Every event of one stream's bus, by name. */
export interface RunEvents {
  pose: PoseEvent;
  /**
   * The pose through the stream's One Euro filter (outputs.smoothing), with the raw pose's t,
   * step, mode and arrival time; emitted while its `pose` is being handed round (the smoothing
   * stage listens to `pose`), so a listener that needs both pairs them by step. One object reused.
   */
  smoothed: PoseEvent;
  published: PublishedPose;
  upsampled: UpsampledPose;
  unit: UnitEvent;
  step: StepRecord;
  metrics: StepMetrics;
  block: BlockFigures;
  event: RunEvent;
  mode: ModeSwitch;
  tick: TickEvent;
  error: PluginFailure;
}
