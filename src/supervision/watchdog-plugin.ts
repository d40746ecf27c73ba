import { round3 } from '../common/round.js';
import type { CoreConfig, FallbackConfig } from '../config/schema.js';
import type { WatchdogConfig } from './watchdog-settings.js';
// Its settings' schema, for its registry row.
export { watchdogSchema } from './watchdog-settings.js';
import type { BlockFigures, ModeSwitch, RunEvent, TickEvent, UnitEvent } from '../domain/events.js';
import type { Plugin, PluginContext, PluginReport } from '../domain/plugin.js';
import type { Mode, PoseEvent } from '../domain/pose.js';
import { SAMPLE_RATE } from '../domain/geometry.js';
import { SiSystemSampler, type SystemSampler } from './system-load.js';
import {
  LatencyDrift,
  MemoryDrift,
  NumericalDrift,
  ReturnProbe,
  systemData,
  UNKNOWN_SYSTEM,
  type LatencyDriftSettings,
  type MemoryReading,
  type MemorySettings,
  type NumericalSettings,
  type ReturnSettings,
  type SystemState,
  type Verdict,
} from './watchdog.js';

export interface WatchdogSettings {
  latency: LatencyDriftSettings & { check: boolean };
  memory: MemorySettings & { sampleEveryS: number };
  numerical: NumericalSettings;
  fallback: ReturnSettings;
  system: { sampleEveryS: number; busyLoadPct: number; busyStealPct: number };
  /** 0 = off. */
  softResetEveryS: number;
  sampleRate: number;
}

export interface WatchdogDeps {
  /** Wall clock in ms for the memory and system schedules (default performance.now). */
  now?: () => number;
  memory?: () => MemoryReading;
  /** null: no system sampling at all. */
  system?: SystemSampler | null;
}

/** The plug-in's settings from the configuration sections it reads. */
export function watchdogSettings(
  w: WatchdogConfig,
  f: FallbackConfig,
  ev: CoreConfig['eval'],
  stepSeconds: number,
  sampleRate = SAMPLE_RATE,
): WatchdogSettings {
  const l = w.latency;
  return {
    latency: {
      check: ev.streaming_latency.check,
      p50Ms: ev.streaming_latency.p50_ms,
      p95Ms: ev.streaming_latency.p95_ms,
      windowUnits: l.window_units,
      warmupUnits: ev.streaming_latency.warmup_steps,
      persistenceWindows: l.persistence_windows,
      trendWindows: l.trend_windows,
      trendMsPerMin: l.trend_ms_per_min,
      trendMinRiseMs: l.trend_min_rise_ms,
      trendConfidence: l.trend_confidence,
      baselineWindows: l.baseline_windows,
      starvationUnits: l.starvation_units,
      unitSeconds: stepSeconds,
      onRegression: l.on_regression,
      onContention: l.on_contention,
    },
    memory: {
      sampleEveryS: w.memory.sample_every_s,
      warmupS: w.memory.warmup_s,
      minSpanS: w.memory.min_span_s,
      rssMbPerHour: w.memory.rss_mb_per_hour,
      heapMbPerHour: w.memory.heap_mb_per_hour,
      externalMbPerHour: w.memory.external_mb_per_hour,
      minGrowthMb: w.memory.min_growth_mb,
      confidence: w.memory.confidence,
      onLeak: w.memory.on_leak,
    },
    numerical: {
      tolerance: ev.streaming_tolerance,
      alignmentCheck: ev.streaming_alignment_check,
      driftMse: w.numerical.drift_mse,
      driftMaxDiff: w.numerical.drift_max_diff,
      persistenceBlocks: w.numerical.persistence_blocks,
      offsetBlocks: w.numerical.offset_blocks,
      offsetLimit: w.numerical.offset_limit,
      onAlignmentFail: w.numerical.on_alignment_fail,
      onDrift: w.numerical.on_drift,
      onNonFinite: w.numerical.on_non_finite,
    },
    fallback: {
      enabled: f.return,
      quietS: f.quiet_s,
      quietUnits: f.quiet_units,
      preemptedMax: f.preempted_max,
      backoff: f.backoff,
      maxReturns: f.max_returns,
    },
    system: {
      sampleEveryS: w.system.sample_every_s,
      busyLoadPct: w.system.busy_load_pct,
      busyStealPct: w.system.busy_steal_pct,
    },
    softResetEveryS: w.soft_reset_every_s,
    sampleRate,
  };
}

const KEPT_VERDICTS = 50;

/**
 * The watchdog on the bus. Listens to `unit` (latency: streaming units are judged, exact units
 * probe for the return), `block` (numerical drift), `pose` (non-finite angles, stream time),
 * `tick` (memory and system samples, off the 50 Hz path), `mode` and `event` (what the session
 * did). Acts through the session's actions as configured (exact / reset / record) and records
 * every verdict as an `alarm` or `contention` event.
 */
export class WatchdogPlugin implements Plugin {
  readonly name = 'watchdog';
  private ctx: PluginContext | undefined;
  private latency!: LatencyDrift;
  private memory!: MemoryDrift;
  private numerical!: NumericalDrift;
  private probe!: ReturnProbe;
  private system: SystemState = UNKNOWN_SYSTEM;
  private sampler: SystemSampler | null = null;
  private sampling = false;
  private readonly now: () => number;
  private readonly readMemory: () => MemoryReading;
  private t0 = 0;
  private nextMemS = 0;
  private nextSysS = 0;
  private mode: Mode = 'streaming';
  /** Stream time (s) of the last pose. */
  private t = 0;
  private lastSoftReset = 0;
  /** The fallback being requested was for latency or contention (the probe may return from it). */
  private returnable = false;
  private readonly verdicts: (Verdict & { time: string; t: number })[] = [];
  private readonly switches: { t: number; to: Mode; reason: string }[] = [];
  private readonly counts = {
    alarms: 0,
    contention_episodes: 0,
    returns: 0,
    fallbacks_requested: 0,
    resets_requested: 0,
    soft_resets: 0,
    system_samples: 0,
    system_failures: 0,
  };

  readonly settings: WatchdogSettings;

  constructor(
    settings: WatchdogSettings,
    private readonly deps: WatchdogDeps = {},
  ) {
    this.settings = settings;
    this.now = deps.now ?? (() => performance.now());
    this.readMemory = deps.memory ?? (() => process.memoryUsage());
  }

  start(ctx: PluginContext): void {
    const s = this.settings;
    this.ctx = ctx;
    this.latency = new LatencyDrift(s.latency);
    this.memory = new MemoryDrift(s.memory);
    this.numerical = new NumericalDrift(s.numerical);
    this.probe = new ReturnProbe(s.fallback);
    this.sampler = this.deps.system === undefined ? new SiSystemSampler(s.system) : this.deps.system;
    this.mode = ctx.session.mode;
    this.t0 = this.now();
    ctx.bus.on(this, 'unit', (u) => this.onUnit(u));
    ctx.bus.on(this, 'block', (b) => this.onBlock(b));
    ctx.bus.on(this, 'pose', (p) => this.onPose(p));
    ctx.bus.on(this, 'tick', (k) => this.onTick(k));
    ctx.bus.on(this, 'mode', (m) => this.onMode(m));
    ctx.bus.on(this, 'event', (e) => this.onEvent(e));
    // A first system sample so that the first window has a load to compare with.
    this.sampleSystem();
  }

  stop(): void {
    this.ctx = undefined;
  }

  private onUnit(u: UnitEvent): void {
    if (u.mode === 'streaming') {
      if (!this.settings.latency.check) return;
      const v = this.latency.push(u.computeMs, u.cpuMs, u.sinceRestart, this.system);
      if (v) for (const x of v) this.handle(x);
      return;
    }
    const why = this.probe.exactUnit(this.t, u.computeMs, u.cpuMs, this.system);
    if (why && this.ctx && this.ctx.session.modeConfigured === 'streaming') {
      if (this.ctx.actions.requestMode('streaming', `watchdog: ${why}`)) {
        this.counts.returns++;
        this.switches.push({ t: this.t, to: 'streaming', reason: why });
      }
    }
  }

  private onBlock(b: BlockFigures): void {
    const v = this.numerical.block(b);
    if (v) for (const x of v) this.handle(x);
    const every = this.settings.softResetEveryS;
    // At a block boundary the streaming session restarts exactly as the shadow exact block
    // does, so the reset lands where streaming and exact agree (the alignment regression).
    if (every > 0 && this.mode === 'streaming' && this.t - this.lastSoftReset >= every && this.ctx) {
      this.lastSoftReset = this.t;
      this.counts.soft_resets++;
      this.ctx.actions.requestReset(
        `watchdog: periodic soft reset (every ${every} s) at the boundary of block ${b.block}`,
      );
    }
  }

  private onPose(p: PoseEvent): void {
    this.t = p.t;
    const v = this.numerical.pose(p.angles, p.step);
    if (v) this.handle(v);
  }

  private onTick(_k: TickEvent): void {
    const s = (this.now() - this.t0) / 1000;
    if (s >= this.nextMemS) {
      this.nextMemS = s + this.settings.memory.sampleEveryS;
      const v = this.memory.sample(s, this.readMemory());
      if (v) for (const x of v) this.handle(x);
    }
    if (s >= this.nextSysS) {
      this.nextSysS = s + this.settings.system.sampleEveryS;
      this.sampleSystem();
    }
  }

  private sampleSystem(): void {
    if (!this.sampler || this.sampling) return;
    this.sampling = true;
    this.sampler.sample().then(
      (st) => {
        this.system = st;
        this.counts.system_samples++;
        this.sampling = false;
      },
      () => {
        this.counts.system_failures++;
        this.sampling = false;
      },
    );
  }

  private onMode(m: ModeSwitch): void {
    this.mode = m.to;
    if (m.to === 'exact') {
      this.probe.fellBack(this.t, m.reason, this.latency.healthyPreemptedShare(), this.returnable);
      this.returnable = false;
    } else {
      this.latency.resume();
      this.numerical.restart();
    }
  }

  private onEvent(e: RunEvent): void {
    if (e.kind === 'gap' || e.kind === 'reset' || e.kind === 'overrun') this.numerical.restart();
  }

  private handle(v: Verdict): void {
    const ctx = this.ctx;
    if (!ctx) return;
    if (v.kind === 'alarm') this.counts.alarms++;
    else if (v.cause === 'contention') this.counts.contention_episodes++;
    this.verdicts.push({ ...v, time: new Date().toISOString(), t: this.t });
    if (this.verdicts.length > KEPT_VERDICTS) this.verdicts.shift();
    const data: Record<string, string | number | boolean | null> = { cause: v.cause, action: v.action };
    for (const [k, x] of Object.entries(v.data)) data[k] = typeof x === 'number' && !Number.isFinite(x) ? null : x;
    ctx.record(v.kind, Math.round(this.t * this.settings.sampleRate), v.detail, data);
    (v.kind === 'alarm' ? ctx.log.warn.bind(ctx.log) : ctx.log.info.bind(ctx.log))(
      { cause: v.cause, action: v.action },
      v.detail,
    );
    if (v.action === 'exact' && this.mode === 'streaming') {
      this.returnable = v.cause === 'latency_excess' || v.cause === 'latency_trend' || v.cause === 'contention';
      if (ctx.actions.requestMode('exact', `watchdog: ${v.detail}`)) {
        this.counts.fallbacks_requested++;
        this.switches.push({ t: this.t, to: 'exact', reason: v.detail });
      }
    } else if (v.action === 'reset' && this.mode === 'streaming') {
      this.counts.resets_requested++;
      ctx.actions.requestReset(`watchdog: ${v.detail}`);
    }
  }

  report(): PluginReport {
    if (!this.latency) return {};
    const l = this.latency;
    const latencyAlarms = this.verdicts.filter(
      (v) => v.cause === 'latency_excess' || v.cause === 'latency_trend',
    ).length;
    const checked = this.settings.latency.check;
    return {
      sections: {
        watchdog: {
          mode: this.mode,
          latency: {
            counts: { ...l.counts },
            starved: l.starved,
            baseline_p95_ms: l.baseline?.p95Ms ?? null,
            baseline_basis: l.baseline?.basis ?? null,
            last_window: l.lastWindow ? finiteOrNull(l.lastWindow) : null,
            trend_ms_per_min: l.lastTrend
              ? finiteOrNull({
                  slope: l.lastTrend.slope,
                  lo: l.lastTrend.lo,
                  hi: l.lastTrend.hi,
                  confidence: l.lastTrend.rising,
                  windows: l.lastTrend.n,
                })
              : null,
          },
          // The samples themselves are summary.memory.samples (the memory plug-in's series): one series per run.
          memory: { trends_after_warmup: this.memory.trends, alarms: this.memory.alarms, samples_kept: this.memory.n },
          numerical: {
            ...this.numerical.counts,
            mean_offset: Number.isFinite(this.numerical.meanOffset) ? this.numerical.meanOffset : null,
            last_block: this.numerical.lastBlock ? finiteOrNull(this.numerical.lastBlock) : null,
          },
          fallback: {
            return_enabled: this.settings.fallback.enabled,
            waiting_to_return: this.probe.waiting,
            returns: this.probe.returns,
            next_quiet_s: this.probe.holdS,
            returns_exhausted: this.probe.exhausted,
            last_preempted_share: Number.isFinite(this.probe.lastPreempted) ? round3(this.probe.lastPreempted) : null,
            quiet_preempted_share: round3(this.probe.quietShare),
            switches: this.switches,
          },
          system: systemData(this.system),
          verdicts: this.verdicts.map((v) => ({
            time: v.time,
            t: v.t,
            kind: v.kind,
            cause: v.cause,
            action: v.action,
            detail: v.detail,
          })),
        },
      },
      acceptance: {
        // The latency criterion itself is the latency monitor's; this adds how often it alarmed.
        latency: { violations: latencyAlarms },
        latency_drift: {
          enabled: checked,
          evaluated: l.counts.windows > 0,
          passed: checked ? latencyAlarms === 0 && !l.starved : null,
          alarms: latencyAlarms,
          contention_windows: l.counts.contention_windows,
          starved: l.starved,
        },
        memory_drift: {
          enabled: true,
          evaluated: this.memory.trends.rss !== null,
          passed: this.memory.alarms === 0,
          alarms: this.memory.alarms,
        },
      },
      counts: {
        watchdog_alarms: this.counts.alarms,
        memory_drift_alarms: this.memory.alarms,
        contention_episodes: this.counts.contention_episodes,
        watchdog_returns: this.counts.returns,
        watchdog_fallbacks: this.counts.fallbacks_requested,
        watchdog_resets: this.counts.resets_requested,
        soft_resets: this.counts.soft_resets,
        latency_units_judged: l.counts.judged,
        latency_units_warmup: l.counts.warmup_skipped,
        latency_restarts_seen: l.counts.restarts,
        non_finite_poses: this.numerical.counts.non_finite_poses,
      },
    };
  }
}

function finiteOrNull<T extends object>(o: T): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o))
    out[k] =
      typeof v === 'number' && !Number.isFinite(v) ? null : typeof v === 'number' ? Math.round(v * 1e6) / 1e6 : v;
  return out;
}
