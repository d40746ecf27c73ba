import { alignmentTolerance, type CoreConfig } from '../config/schema.js';
import { configSection, pluginRow, type TableRow } from '../domain/registry.js';
import { AlignmentMonitor } from './alignment-monitor.js';
import { LatencyMonitor, latencyMonitorSettings } from './latency-monitor.js';
import { MemoryMonitor } from './memory-monitor.js';
import type { SupervisionEnv } from './supervision-env.js';
import { StateGuard } from './state-guard.js';
import { StepRecorder, stepRecorderSettings } from './step-recorder.js';
import { SystemdNotifyPlugin } from './systemd-notify.js';
import { WatchdogPlugin, watchdogSchema, watchdogSettings } from './watchdog-plugin.js';
import { SignalQualityPlugin } from './signal-quality-plugin.js';
import { ClockSyncMonitor } from './clock-sync.js';

// A registry imports every plug-in of its floor (each re-exports its settings' schema): its
// fan-in grows with the plug-ins. Past 12 project imports (the limit the layout check counts),
// split the table (say, the streaming supervisors apart) rather than raise it.

type Row = TableRow<CoreConfig, SupervisionEnv>;

/**
 * The `watchdog:` section (watchdog-settings.ts): the watchdog's, read as well by the supervisors
 * it bounds (clock check, state guard); composed once however many rows read it.
 */
const WATCHDOG = configSection('watchdog', watchdogSchema);

/** Only in a run that streams. */
const streams = <S>(env: SupervisionEnv, s: S): S | undefined => (env.streams ? s : undefined);

/** The supervisors, one row each, in start order. */
export const SUPERVISORS: readonly Row[] = [
  pluginRow({
    name: 'latency',
    settings: (_own: undefined, cfg: CoreConfig, env: SupervisionEnv) =>
      latencyMonitorSettings(
        { bounds: cfg.eval.streaming_latency, log: cfg.logging.latency },
        env.streams,
        env.providers,
        env.files.latency,
      ),
    create: (s) => new LatencyMonitor(s),
  }),
  pluginRow({ name: 'memory', settings: () => ({}), create: () => new MemoryMonitor() }),
  pluginRow({
    name: 'systemd_notify',
    settings: (_own: undefined, _cfg: CoreConfig, env: SupervisionEnv) =>
      env.notify?.enabled ? env.notify : undefined,
    create: (hub) => new SystemdNotifyPlugin(hub),
  }),
  pluginRow({
    name: 'clock_sync',
    section: WATCHDOG,
    settings: (w) => (w.clock_check_every_s > 0 ? { everyS: w.clock_check_every_s } : undefined),
    create: (s) => new ClockSyncMonitor(s.everyS),
  }),
  pluginRow({
    name: 'signal_quality',
    settings: (_own: undefined, _cfg: CoreConfig, env: SupervisionEnv) => env.signalQuality,
    create: (quality) => new SignalQualityPlugin(quality),
  }),
  pluginRow({
    name: 'step_recorder',
    settings: (_own: undefined, cfg: CoreConfig, env: SupervisionEnv) =>
      streams(env, stepRecorderSettings(cfg.eval.streaming_alignment_check, cfg.runtime.exact.block_samples)),
    create: (s, env) => new StepRecorder(s, env.truth),
  }),
  pluginRow({
    name: 'alignment',
    settings: (_own: undefined, cfg: CoreConfig, env: SupervisionEnv) =>
      streams(env, {
        tolerance: alignmentTolerance(cfg),
        enabled: cfg.eval.streaming_alignment_check,
        meta: {
          kind: 'live',
          feature_policy: cfg.runtime.streaming.feature_policy,
          encoder: cfg.runtime.streaming.encoder,
          note: 'live run: the first block of each session is the alignment check (streaming reset at its start); later blocks measure drift',
        },
        file: env.files.alignment,
      }),
    create: (s) => new AlignmentMonitor(s),
  }),
  pluginRow({
    name: 'watchdog',
    section: WATCHDOG,
    settings: (w, cfg: CoreConfig, env: SupervisionEnv) =>
      streams(
        env,
        watchdogSettings(
          w,
          cfg.runtime.fallback,
          { ...cfg.eval, streaming_tolerance: alignmentTolerance(cfg) },
          cfg.runtime.streaming.step_ms / 1000,
        ),
      ),
    create: (s) => new WatchdogPlugin(s),
  }),
  pluginRow({
    name: 'state_guard',
    section: WATCHDOG,
    settings: (w, _cfg: CoreConfig, env: SupervisionEnv) => streams(env, { limit: w.state_abs_limit }),
    create: (s, env) => new StateGuard(s.limit, env.stateMaxAbs),
  }),
];
