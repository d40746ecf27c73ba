import { readFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '../common/errors.js';
import { PACKAGE_ROOT } from '../common/paths.js';
import type { ModeSwitch } from '../domain/events.js';
import type { MergedReport, PluginContext } from '../domain/plugin.js';
import { identityFields } from './mqtt-messages.js';
import type { MqttStats, ModelSummary, StreamIdentity } from './mqtt-types.js';

/** A report section whose JSON is longer than this is replaced by a note in health and status (summary.json has it whole). */
export const MAX_SECTION_BYTES = 8192;

let cachedVersion: string | undefined;

/** The software version from the installed package.json ("unknown" if unreadable). */
export function softwareVersion(): string {
  if (cachedVersion === undefined) {
    try {
      const v = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version?: unknown }).version;
      cachedVersion = typeof v === 'string' ? v : 'unknown';
    } catch {
      cachedVersion = 'unknown';
    }
  }
  return cachedVersion;
}

/**
 * The merged report, each section bounded: other plug-ins decide what they report (latency,
 * memory, watchdog…) and a long series in one of them must not make every health message large.
 */
export function boundedReport(r: MergedReport): Record<string, unknown> {
  const sections: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r.sections)) {
    let n: number;
    try {
      n = JSON.stringify(v)?.length ?? 0;
    } catch (e) {
      sections[k] = { omitted: `not serialisable: ${errorMessage(e)}` };
      continue;
    }
    sections[k] = n > MAX_SECTION_BYTES ? { omitted: `${n} bytes; whole in summary.json` } : v;
  }
  return { sections, acceptance: r.acceptance, counts: r.counts, disabled: r.disabled };
}

export interface HealthSource {
  readonly ctx: PluginContext;
  readonly nodeId: string;
  readonly streamId: string;
  readonly instance: string;
  readonly version: string;
  readonly model: ModelSummary;
  stats(): MqttStats;
  /** The last mode switch of the run, if any: the health's "why" of the mode. */
  lastSwitch(): ModeSwitch | undefined;
  /** Monotonic milliseconds; injected by tests. */
  now?: () => number;
  /** The hand and band (meta's), when the output knows them. */
  identity?: () => StreamIdentity;
}

/** Builds the <prefix>/health payload. The pose rate is measured between periodic messages. */
export class HealthBuilder {
  private windowStart: { at: number; poses: number } | undefined;
  private readonly now: () => number;
  private readonly startedAt: number;

  constructor(private readonly src: HealthSource) {
    this.now = src.now ?? (() => performance.now());
    this.startedAt = this.now();
  }

  /** `periodic`: this message closes a rate window (the ones on request leave it open). */
  async build(periodic: boolean): Promise<Record<string, unknown>> {
    const { ctx } = this.src;
    const t = this.now();
    const poses = ctx.session.poses;
    const w = this.windowStart ?? { at: this.startedAt, poses: 0 };
    const windowS = (t - w.at) / 1000;
    const rate = windowS > 0 ? (poses - w.poses) / windowS : null;
    if (periodic) this.windowStart = { at: t, poses };
    const sw = this.src.lastSwitch();
    const st = this.src.stats();
    const mem = process.memoryUsage();
    return {
      ts: Date.now(),
      node_id: this.src.nodeId,
      stream_id: this.src.streamId,
      instance: this.src.instance,
      version: this.src.version,
      ...identityFields(this.src.identity?.()),
      uptime_s: round((t - this.startedAt) / 1000, 1),
      mode: ctx.session.mode,
      mode_configured: ctx.session.modeConfigured,
      mode_reason: sw ? sw.reason : 'configured',
      mode_since: sw ? sw.time : ctx.session.startedAt.toISOString(),
      rate_hz: rate === null ? null : round(rate, 2),
      window_s: round(windowS, 1),
      poses,
      samples: ctx.session.samples,
      mqtt: {
        connected: st.connected,
        published: st.published,
        dropped: st.dropped,
        dropped_disconnected: st.dropped_disconnected,
        dropped_backpressure: st.dropped_backpressure,
        reconnects: st.reconnects,
        events_dropped: st.events_dropped,
      },
      process: {
        rss_mb: round(mem.rss / 2 ** 20, 1),
        heap_used_mb: round(mem.heapUsed / 2 ** 20, 1),
        heap_total_mb: round(mem.heapTotal / 2 ** 20, 1),
      },
      model: this.src.model,
      disk: await diskSpace(ctx.artifacts.dir),
      ...boundedReport(ctx.report()),
    };
  }
}

/** Space left where this run's artifacts go (statfs is asynchronous: it never holds up the loop). */
export async function diskSpace(dir: string): Promise<Record<string, unknown>> {
  try {
    const s = await statfs(dir);
    const free = s.bavail * s.bsize;
    const total = s.blocks * s.bsize;
    return { dir, free_bytes: free, total_bytes: total, free_pct: total > 0 ? round((100 * free) / total, 1) : null };
  } catch (e) {
    return { dir, error: errorMessage(e) };
  }
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
