import type { ErrorAccumulator, ErrorFigures } from './error-figures.js';
import type { Mode, PoseEvent } from './pose.js';

/** Kinds of things that happen to a run and are recorded (events.jsonl, MQTT `event`, summary counts). */
export type RunEventKind =
  | 'gap'
  | 'bridged_gap'
  | 'overrun'
  | 'stall'
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
  | 'signal_quality';

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

/** A shadow exact block compared with the streaming poses of the same moments. */
export interface BlockFigures {
  /** Block index within the current session. */
  block: number;
  startSample: number;
  /**
   * True for a session's first block: streaming was reset at its start exactly like exact, so
   * the comparison is the plan's alignment regression. Later blocks measure drift.
   */
  aligned: boolean;
  /** Steps after the first. */
  main: ErrorFigures;
  /** The session's first output after warm-up (the plan allows it 2× the bounds). */
  boundary: ErrorFigures;
  /** Mean signed difference streaming − exact over the block's steps (low-frequency offset). */
  meanOffset: number;
  /** The sums behind the figures, for exact overall figures across blocks. */
  acc: { main: ErrorAccumulator; boundary: ErrorAccumulator };
}

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

/** Every event of one stream's bus, by name. */
export interface RunEvents {
  pose: PoseEvent;
  upsampled: UpsampledPose;
  unit: UnitEvent;
  step: StepMetrics;
  block: BlockFigures;
  event: RunEvent;
  mode: ModeSwitch;
  tick: TickEvent;
  error: PluginFailure;
}
