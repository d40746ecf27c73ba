import type { Logger } from '../common/logger.js';
import type { EventBus, Owner } from './bus.js';
import type { RunEvent, RunEventKind, RunEvents } from './events.js';
import type { Mode } from './pose.js';

// The contract's vocabulary, so that a plug-in (and its host) imports one module.
export type { Mode, PoseEvent } from './pose.js';
export type {
  ModeSwitch,
  PublishedPose,
  RunEvent,
  RunEventKind,
  RunEvents,
  UnitEvent,
  UpsampledPose,
  StepMetrics,
  StepRecord,
  BlockFigures,
  TickEvent,
} from './events.js';

/** What a stream is, from its source and its model (checked against each other at start). */
export interface StreamInfo {
  /** `stream_id` of the configuration; "main" for the single default stream. */
  readonly id: string;
  /** True when the daemon runs several streams (topics and artifact folders are then per stream). */
  readonly multi: boolean;
  readonly channels: number;
  readonly sampleRate: number;
  readonly poseDim: number;
  readonly jointNames: readonly string[];
  /** Input samples per 50 Hz step. */
  readonly stepSamples: number;
  readonly sourceDescription: string;
  readonly hasJointAngles: boolean;
  /** The source's kind (synthetic, replay, ads1299, ads1299-sim, i2c, i2c-sim): what paces it. */
  readonly sourceKind?: string;
  /** The hand the source says it records (an HDF5 recording's `side`), when it says. */
  readonly sourceHand?: 'left' | 'right';
  /** ADC chip IDs (hex) once read at start; the array fills in place, empty for other sources. */
  readonly chipIds?: readonly (string | null)[];
  /** Resolves once chipIds is final (the ADC read at start); absent for sources without chips. */
  readonly identified?: Promise<void>;
}

/** An append-only JSON-lines artifact. */
export interface JsonlSink {
  readonly path: string;
  readonly lines: number;
  write(record: unknown): void;
  flush(): void;
  close(): void;
}

/**
 * A write of the run folder that failed, as summary.json records it: one entry per file and
 * error code, with the first failure's message and time, how often it failed and when last
 * (a summary rewritten every heartbeat on a full disk fails every heartbeat).
 */
export interface ArtifactFailure {
  file: string;
  code: string;
  message: string;
  time: string;
  count: number;
  last_time: string;
}

/** One run folder: every file replaced atomically, JSON-lines files grow by whole lines. */
export interface ArtifactStore {
  readonly dir: string;
  path(name: string): string;
  /** Replaces the file atomically; false when the disk refused it (recorded in `failed`, never thrown). */
  writeJson(name: string, value: unknown): boolean;
  writeYaml(name: string, value: unknown): boolean;
  jsonl(name: string): JsonlSink;
  /** The writes of this folder that failed, oldest first. */
  readonly failed: readonly ArtifactFailure[];
}

/** What a plug-in may read of the session it runs in. */
export interface SessionView {
  readonly mode: Mode;
  readonly modeConfigured: Mode;
  /** Poses emitted so far (= the next pose's run-wide step). */
  readonly poses: number;
  /** Samples that reached the ring. */
  readonly samples: number;
  /** Units computed since the predictor last (re)started. */
  readonly unitsSinceRestart: number;
  readonly startedAt: Date;
  /** Why the session ended, once it has: completed | interrupted | error. */
  readonly exit: string;
}

/** Requests a plug-in makes of the session; they are carried out between units, in order. */
export interface SessionActions {
  /** Switch the running predictor; false when that mode is not available in this session. */
  requestMode(mode: Mode, reason: string): boolean;
  /** Restart the predictor in place (fresh decoder state, same timeline). */
  requestReset(reason: string): void;
  /** Write every artifact now (a plug-in's `tick` with final = false). */
  snapshot(): void;
  /**
   * The alignment regression (exact vs streaming, each reset at a block start) over the last
   * `blocks` exact blocks still held in the ring, run off the 50 Hz loop's critical path.
   * Resolves to the same figures `myostream align` writes (streaming_alignment.json's shape).
   */
  align(blocks: number): Promise<Record<string, unknown>>;
}

/** One acceptance criterion in summary.json. */
export interface Acceptance {
  enabled: boolean;
  evaluated: boolean;
  passed: boolean | null;
  [detail: string]: unknown;
}

/** A plug-in's part of summary.json and of the health message. */
export interface PluginReport {
  /** Top-level keys this plug-in owns. */
  sections?: Record<string, unknown>;
  /**
   * Criteria it judges, as summary.acceptance.<name>. Entries of the same name from several
   * plug-ins are merged field by field (a judge gives enabled/evaluated/passed, others add detail).
   */
  acceptance?: Record<string, Partial<Acceptance>>;
  /** Counters merged into summary.counts. */
  counts?: Record<string, number>;
  /**
   * Levels as they are now (a link up = 1, channels bad), for gauges a scrape reads; a name
   * absent means unknown. Not in summary.json: the sections carry the same facts in full.
   */
  gauges?: Record<string, number>;
}

export interface PluginContext {
  readonly stream: StreamInfo;
  readonly bus: EventBus<RunEvents>;
  readonly log: Logger;
  readonly artifacts: ArtifactStore;
  readonly session: SessionView;
  readonly actions: SessionActions;
  /** Records something that happened: it goes on the bus as `event` (events.jsonl, MQTT, counts). */
  record(kind: RunEventKind, atSample: number, detail: string, data?: RunEvent['data']): void;
  /**
   * Reports a failure this plug-in cannot recover from (an output's write failed with ENOSPC,
   * say): the host stops and disables it, records `plugin_failed`, and the run goes on.
   */
  fail(error: unknown, during: string): void;
  /** Every plug-in's report merged: what summary.json and health are made of. */
  report(): MergedReport;
}

export interface MergedReport {
  sections: Record<string, unknown>;
  acceptance: Record<string, Acceptance>;
  counts: Record<string, number>;
  /** Gauges by name (a later report's value wins); optional so that a hand-made report may leave it out. */
  gauges?: Record<string, number>;
  /** Plug-ins that failed and were disabled, with why. */
  disabled: { plugin: string; during: string; message: string }[];
}

/**
 * An output or a supervisor. The constructor only stores its settings; `start` subscribes to
 * the bus and opens what it needs; `stop` releases it (the host removes its listeners). Plug-ins
 * never hold each other: they talk through the bus and ask the session through `actions`.
 */
export interface Plugin extends Owner {
  readonly name: string;
  start(ctx: PluginContext): void | Promise<void>;
  /** Called once, also after a failure; must not throw for a half-started plug-in. */
  stop(): void | Promise<void>;
  report?(): PluginReport;
}
