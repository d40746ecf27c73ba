import { join } from 'node:path';
import { UserError, errorMessage, exitCodeOf } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { validateConfig, type Config } from './config.js';
import { resolveStreams } from '../config/streams.js';
import { RunArtifacts, artifactsRoot, pruneRuns } from '../outputs/artifacts.js';
import { LiveViewServer } from '../outputs/live-view-server.js';
import type { NotifyHub } from '../supervision/notify-hub.js';
import { streamPlugins } from './plugins.js';
import { StreamSession } from './stream-session.js';
import { checkSharedSettings, openStreams, perStreamMqtt, sharedBroker } from './stream-setup.js';

export interface DaemonOptions {
  quiet: boolean;
  /** The daemon's systemd notify hub: READY, health-gated WATCHDOG pings, STATUS=. */
  notify?: NotifyHub;
  /** --artifacts: the run folder (streams get sub-folders when there are several). */
  artifactsDir?: string;
  signal?: AbortSignal;
  /** Each stream adds its listener here: a SIGHUP reload is recorded in every stream's events. */
  reloadListeners?: ReloadListener[];
}

/** What a SIGHUP reload did: top-level sections changed, applied live, refused (need a restart), or why it failed. */
export interface ReloadOutcome {
  applied: string[];
  refused: string[];
  error?: string;
}

export type ReloadListener = (r: ReloadOutcome) => void;

/**
 * `myostream run`: every configured stream from start to finish. One stream's fault or
 * fallback never touches another: each has its own source, predictors, plug-ins and state; a
 * stream that fails ends alone and the process exits with its code (1, or 2 for bad input
 * found after start) once the others have finished.
 */
export async function runDaemon(cfg: Config, log: Logger, o: DaemonOptions): Promise<number> {
  const streams = resolveStreams(cfg, validateConfig);
  checkSharedSettings(streams);
  const multi = streams.length > 1;
  const { sources, models, infos } = await openStreams(streams, log);
  const broker = await sharedBroker(streams, log);
  // One page for every stream of the process: the first stream's plug-in starts it listening.
  const liveView = cfg.outputs.live_view.enabled ? new LiveViewServer(cfg.outputs.live_view, log) : undefined;
  // Retention before the new folder exists: oldest first, never a run whose process lives.
  if (!o.artifactsDir) pruneRuns(artifactsRoot(cfg.outputs.artifacts_root), cfg.outputs.retention, log);
  const root = RunArtifacts.create(cfg.outputs.artifacts_root, o.artifactsDir, cfg.outputs);
  try {
    const sessions = streams.map((s, i) => {
      const scfg = multi ? perStreamMqtt(s, broker?.url) : s.cfg;
      const slog = multi ? log.child({ stream: s.id }) : log;
      return new StreamSession({
        cfg: scfg,
        log: slog,
        models: models[i]!,
        source: sources[i]!,
        info: infos[i]!,
        artifacts: multi ? RunArtifacts.create('', join(root.dir, s.id), cfg.outputs) : root,
        plugins: (env) =>
          streamPlugins(
            {
              cfg: scfg,
              models: models[i]!,
              quiet: o.quiet,
              ...(liveView ? { liveView } : {}),
              ...(o.notify ? { notify: o.notify } : {}),
            },
            env,
          ),
      });
    });
    for (const session of sessions)
      o.reloadListeners?.push((r) =>
        session.record('config_reload', reloadDetail(r), {
          applied: r.applied.join(','),
          refused: r.refused.join(','),
          error: r.error ?? null,
        }),
      );
    if (multi)
      root.writeJson('streams.json', {
        streams: streams.map((s, i) => ({
          stream_id: s.id,
          source: infos[i]!.sourceDescription,
          artifacts: join(root.dir, s.id),
        })),
      });
    // A model file that changed on disk since its digest was cached ends the run: what runs must
    // be what model_info.json and the artifacts say ran.
    const stop = new AbortController();
    o.signal?.addEventListener('abort', () => stop.abort(), { once: true });
    let modelChanged: string | undefined;
    for (const m of models) {
      m.backgroundVerification.catch((e: unknown) => {
        modelChanged ??= errorMessage(e);
        log.error(`model verification failed: ${modelChanged}; ending the run`);
        stop.abort(new UserError(`model verification failed: ${modelChanged}`));
      });
    }
    const results = await Promise.allSettled(sessions.map((s) => s.run(stop.signal)));
    let code = modelChanged ? 2 : 0;
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') {
        code = Math.max(code, r.value);
      } else {
        // The code the stream recorded in its summary: 2 for bad input found after start, else 1.
        code = Math.max(code, exitCodeOf(r.reason));
        if (!multi) throw r.reason;
        log.error({ stream: streams[i]!.id }, `stream ${streams[i]!.id} failed: ${errorMessage(r.reason)}`);
      }
    });
    return code;
  } finally {
    await liveView?.close();
    await broker?.close();
  }
}

function reloadDetail(r: ReloadOutcome): string {
  if (r.error !== undefined) return `configuration reload failed, the run goes on unchanged: ${r.error}`;
  const parts = [];
  if (r.applied.length) parts.push(`applied ${r.applied.join(', ')}`);
  if (r.refused.length) parts.push(`${r.refused.join(', ')} changed but need a restart`);
  return `configuration reloaded: ${parts.length ? parts.join('; ') : 'unchanged'}`;
}
