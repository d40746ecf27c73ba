import { EventBus } from '../src/domain/bus.js';
import type { RunEvent, RunEventKind, RunEvents, UnitEvent } from '../src/domain/events.js';
import type { ArtifactStore, MergedReport, Plugin, PluginContext, SessionView } from '../src/domain/plugin.js';
import type { Mode, PoseEvent } from '../src/domain/pose.js';
import { silentLogger } from '../src/common/logger.js';

/**
 * A small session for driving supervisors: a real bus, actions that carry out mode switches at
 * once (emitting `mode` as the session does) and a record that goes on the bus as `event`.
 */
export class Harness {
  readonly bus: EventBus<RunEvents>;
  readonly errors: unknown[] = [];
  readonly events: RunEvent[] = [];
  readonly modeRequests: { mode: Mode; reason: string }[] = [];
  readonly resets: string[] = [];
  mode: Mode = 'streaming';
  private step = 0;
  private sinceRestart = 0;
  readonly pose: PoseEvent = { t: 0, step: 0, mode: 'streaming', angles: new Float32Array(20), inputArrivedAt: NaN };
  readonly ctx: PluginContext;

  constructor(modeConfigured: Mode = 'streaming') {
    this.bus = new EventBus<RunEvents>((_o, _e, err) => this.errors.push(err));
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the session view's getters, which have their own `this`, read the harness
    const h = this;
    const session: SessionView = {
      get mode() {
        return h.mode;
      },
      modeConfigured,
      get poses() {
        return h.step;
      },
      samples: 0,
      get unitsSinceRestart() {
        return h.sinceRestart;
      },
      startedAt: new Date(),
      exit: 'running',
    };
    const artifacts: ArtifactStore = {
      dir: '',
      path: (n) => n,
      writeJson: () => true,
      writeYaml: () => true,
      jsonl: () => {
        throw new Error('not used');
      },
      failed: [],
    };
    this.ctx = {
      stream: {
        id: 'main',
        multi: false,
        channels: 16,
        sampleRate: 2000,
        poseDim: 20,
        jointNames: [],
        stepSamples: 40,
        sourceDescription: 'test',
        hasJointAngles: false,
      },
      bus: this.bus,
      log: silentLogger(),
      artifacts,
      session,
      actions: {
        requestMode: (mode, reason) => {
          this.modeRequests.push({ mode, reason });
          if (mode === this.mode) return false;
          const from = this.mode;
          this.mode = mode;
          this.sinceRestart = 0;
          this.bus.emit('mode', {
            time: new Date().toISOString(),
            at_step: this.step,
            at_sample: this.step * 40,
            from,
            to: mode,
            reason,
          });
          return true;
        },
        requestReset: (reason) => {
          this.resets.push(reason);
          this.sinceRestart = 0;
        },
        snapshot: () => undefined,
        align: async () => ({}),
      },
      record: (kind: RunEventKind, atSample: number, detail: string, data?: RunEvent['data']) => {
        const e: RunEvent = { time: new Date().toISOString(), kind, atSample, detail, ...(data ? { data } : {}) };
        this.events.push(e);
        this.bus.emit('event', e);
      },
      fail: (err) => this.errors.push(err),
      report: (): MergedReport => ({ sections: {}, acceptance: {}, counts: {}, disabled: [] }),
    };
  }

  async start(...plugins: Plugin[]): Promise<void> {
    for (const p of plugins) await p.start(this.ctx);
  }

  /** One streaming step: its pose, then its unit. */
  streamingStep(wallMs: number, cpuMs: number): void {
    this.pose.t = ((this.step + 1) * 40 + 1790) / 2000;
    this.pose.step = this.step;
    this.pose.mode = 'streaming';
    this.bus.emit('pose', this.pose);
    const u: UnitEvent = {
      mode: 'streaming',
      computeMs: wallMs,
      cpuMs,
      lastStep: this.step,
      ringWritten: 0,
      sinceRestart: this.sinceRestart,
    };
    this.step++;
    this.sinceRestart++;
    this.bus.emit('unit', u);
  }

  /** One exact block of 250 poses, then its unit. */
  exactBlock(wallMs: number, cpuMs: number): void {
    for (let i = 0; i < 250; i++) {
      this.pose.t = ((this.step + 1) * 40 + 1790) / 2000;
      this.pose.step = this.step++;
      this.pose.mode = 'exact';
      this.bus.emit('pose', this.pose);
    }
    const u: UnitEvent = {
      mode: 'exact',
      computeMs: wallMs,
      cpuMs,
      lastStep: this.step - 1,
      ringWritten: 0,
      sinceRestart: this.sinceRestart++,
    };
    this.bus.emit('unit', u);
  }

  /** Steps in the current mode for `seconds` of stream. */
  run(seconds: number, wallMs: number, cpuMs: number): void {
    if (this.mode === 'streaming') for (let i = 0; i < seconds * 50; i++) this.streamingStep(wallMs, cpuMs);
    else for (let i = 0; i < seconds / 5; i++) this.exactBlock(wallMs * 250, cpuMs * 250);
  }

  tick(): void {
    this.bus.emit('tick', { uptimeS: 0, final: false });
  }

  kinds(): string[] {
    return this.events.map((e) => `${e.kind}:${String(e.data?.['cause'] ?? '')}`);
  }
}
