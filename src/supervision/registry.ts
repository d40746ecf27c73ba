import type { Config } from '../config/schema.js';
import type { Plugin } from '../domain/plugin.js';
import { AlignmentMonitor } from './alignment-monitor.js';
import { LatencyMonitor } from './latency-monitor.js';
import { latencySettings } from './latency-report.js';
import { MemoryMonitor } from './memory-monitor.js';
import { StateGuard } from './state-guard.js';
import { WatchdogPlugin } from './watchdog-plugin.js';
import { SystemdNotifyPlugin } from './systemd-notify.js';
import type { NotifyHub } from './notify-hub.js';
import type { SignalQualityReport } from '../acquisition/signal-quality.js';
import { SignalQualityPlugin } from './signal-quality-plugin.js';

export interface SupervisionEnv {
  /** The session streams (its streaming predictor exists): streaming supervisors run. */
  streaming: boolean;
  providers: Record<string, string>;
  /** The streaming decoder's largest |h| or |c|. */
  stateMaxAbs(): number;
  files: { latency: string; alignment: string };
  /** The daemon's systemd notify hub (inert without NOTIFY_SOCKET). */
  notify?: NotifyHub;
  /** The source's per-channel signal quality. */
  signalQuality?: () => SignalQualityReport | undefined;
}

/** The supervisors of one stream, in start order. */
export function supervisorPlugins(cfg: Config, env: SupervisionEnv): Plugin[] {
  const plugins: Plugin[] = [
    new LatencyMonitor({ ...latencySettings(cfg), judged: env.streaming && cfg.logging.latency.enabled && cfg.eval.streaming_latency.check, providers: env.providers, file: env.files.latency }),
    new MemoryMonitor(),
  ];
  if (env.notify?.enabled) plugins.push(new SystemdNotifyPlugin(env.notify));
  if (env.signalQuality) plugins.push(new SignalQualityPlugin(env.signalQuality));
  if (!env.streaming) return plugins;
  plugins.push(
    new AlignmentMonitor({
      tolerance: cfg.eval.streaming_tolerance,
      enabled: cfg.eval.streaming_alignment_check,
      meta: {
        kind: 'live',
        feature_policy: cfg.runtime.streaming.feature_policy,
        encoder: cfg.runtime.streaming.encoder,
        note: 'live run: the first block of each session is the alignment check (streaming reset at its start); later blocks measure drift',
      },
      file: env.files.alignment,
    }),
    new WatchdogPlugin(cfg),
    new StateGuard(cfg.watchdog.state_abs_limit, env.stateMaxAbs),
  );
  return plugins;
}
