import type { Config } from '../config/schema.js';
import type { RingBuffer } from '../acquisition/ring-buffer.js';
import type { Plugin } from '../domain/plugin.js';
import { LEFT_CONTEXT, rolloutPointsFor } from '../domain/geometry.js';
import type { ExactPredictor } from '../inference/exact-predictor.js';
import type { StreamingPredictor } from '../inference/streaming-predictor.js';
import { AlignmentMonitor } from './alignment-monitor.js';
import { StepRecorder } from './step-recorder.js';
import { LatencyMonitor } from './latency-monitor.js';
import { latencySettings } from './latency-report.js';
import { MemoryMonitor } from './memory-monitor.js';
import { StateGuard } from './state-guard.js';
import { WatchdogPlugin } from './watchdog-plugin.js';
import { SystemdNotifyPlugin } from './systemd-notify.js';
import type { NotifyHub } from './notify-hub.js';

export interface SupervisionEnv {
  /** The session's streaming predictor, when it can stream: the streaming supervisors run. */
  streaming: StreamingPredictor | undefined;
  /** A fresh exact rollout (the live shadow of the alignment check). */
  shadow(): ExactPredictor;
  /** The source's ground-truth joint angles, where it has them. */
  truth: RingBuffer | undefined;
  providers: Record<string, string>;
  /** The streaming decoder's largest |h| or |c|. */
  stateMaxAbs(): number;
  files: { latency: string; alignment: string };
  /** The daemon's systemd notify hub (inert without NOTIFY_SOCKET). */
  notify?: NotifyHub;
}

/** The supervisors of one stream, in start order. */
export function supervisorPlugins(cfg: Config, env: SupervisionEnv): Plugin[] {
  const plugins: Plugin[] = [
    new LatencyMonitor({ ...latencySettings(cfg), judged: env.streaming !== undefined && cfg.logging.latency.enabled && cfg.eval.streaming_latency.check, providers: env.providers, file: env.files.latency }),
    new MemoryMonitor(),
  ];
  if (env.notify?.enabled) plugins.push(new SystemdNotifyPlugin(env.notify));
  const streaming = env.streaming;
  if (!streaming) return plugins;
  const alignment = cfg.eval.streaming_alignment_check;
  plugins.push(
    new StepRecorder({ blockPoints: alignment ? rolloutPointsFor(LEFT_CONTEXT + cfg.runtime.exact.block_samples) : 0 }, env.truth),
    new AlignmentMonitor({
      tolerance: cfg.eval.streaming_tolerance,
      enabled: alignment,
      meta: {
        kind: 'live',
        feature_policy: cfg.runtime.streaming.feature_policy,
        encoder: cfg.runtime.streaming.encoder,
        note: 'live run: the first block of each session is the alignment check (streaming reset at its start); later blocks measure drift',
      },
      file: env.files.alignment,
    }, { streaming, shadow: env.shadow }),
    new WatchdogPlugin(cfg),
    new StateGuard(cfg.watchdog.state_abs_limit, env.stateMaxAbs),
  );
  return plugins;
}
