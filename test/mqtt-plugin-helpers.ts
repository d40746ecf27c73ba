import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../src/common/logger.js';
import { EventBus } from '../src/domain/bus.js';
import type { ModeSwitch, RunEvent, RunEvents } from '../src/domain/events.js';
import { JOINT_NAMES } from '../src/domain/geometry.js';
import type { MergedReport, Plugin, PluginContext, SessionView } from '../src/domain/plugin.js';
import type { Mode } from '../src/domain/pose.js';
import { RunArtifacts } from '../src/outputs/artifacts.js';

/** What the plug-ins asked of the session: the boundary the control plane is tested at. */
export interface ActionCalls {
  mode: { mode: Mode; reason: string }[];
  reset: string[];
  snapshot: number;
  align: number[];
}

export interface Harness {
  bus: EventBus<RunEvents>;
  ctx: PluginContext;
  session: { -readonly [K in keyof SessionView]: SessionView[K] };
  calls: ActionCalls;
  failures: { plugin: string; during: string; error: unknown }[];
  recorded: RunEvent[];
  /** Resolves a pending align() call (the test decides when the "session" finishes it). */
  alignGate: { release: (() => void) | undefined };
}

export interface HarnessOptions {
  streamId?: string;
  multi?: boolean;
  /** Modes the session can switch to (default both). */
  available?: Mode[];
  /** Plug-ins whose report() the merged report is made of (besides the one under test). */
  reporters?: Plugin[];
  /** When true, align() waits for alignGate.release(). */
  gatedAlign?: boolean;
}

/**
 * A real bus and a PluginContext whose actions record each call and behave as the session does:
 * requestMode answers from the available modes and then switches (a `mode` event on the bus,
 * between "units": on the next turn of the event loop), align resolves with figures in
 * streaming_alignment.json's shape.
 */
export function harness(o: HarnessOptions = {}): Harness {
  const failures: Harness['failures'] = [];
  const bus = new EventBus<RunEvents>((owner, during, error) => failures.push({ plugin: owner.name, during, error }));
  const dir = mkdtempSync(join(tmpdir(), 'myo-mqttplug-'));
  const artifacts = RunArtifacts.create(dir, dir);
  const session: Harness['session'] = {
    mode: 'streaming',
    modeConfigured: 'streaming',
    poses: 0,
    samples: 0,
    unitsSinceRestart: 0,
    startedAt: new Date(),
    exit: '',
  };
  const calls: ActionCalls = { mode: [], reset: [], snapshot: 0, align: [] };
  const recorded: RunEvent[] = [];
  const available = new Set<Mode>(o.available ?? ['streaming', 'exact']);
  const reporters = o.reporters ?? [];
  const alignGate: Harness['alignGate'] = { release: undefined };
  const plugins: Plugin[] = [];
  const h: Harness = {
    bus,
    session,
    calls,
    failures,
    recorded,
    alignGate,
    ctx: {
      stream: {
        id: o.streamId ?? 'main',
        multi: o.multi ?? false,
        channels: 16,
        sampleRate: 2000,
        poseDim: 20,
        jointNames: JOINT_NAMES,
        stepSamples: 40,
        sourceDescription: 'test',
        hasJointAngles: false,
      },
      bus,
      log: silentLogger(),
      artifacts,
      session,
      actions: {
        requestMode(mode, reason) {
          calls.mode.push({ mode, reason });
          if (!available.has(mode)) return false;
          if (mode !== session.mode) {
            setImmediate(() => {
              const sw: ModeSwitch = {
                time: new Date().toISOString(),
                at_step: session.poses,
                at_sample: session.samples,
                from: session.mode,
                to: mode,
                reason,
              };
              session.mode = mode;
              bus.emit('mode', sw);
            });
          }
          return true;
        },
        requestReset(reason) {
          calls.reset.push(reason);
        },
        snapshot() {
          calls.snapshot++;
          artifacts.writeJson('summary.json', { snapshot: calls.snapshot });
        },
        async align(blocks) {
          calls.align.push(blocks);
          if (o.gatedAlign) await new Promise<void>((r) => (alignGate.release = r));
          return { blocks, mse: 1.2e-6, max_diff: 3.4e-5, passed: true };
        },
      },
      record(kind, atSample, detail, data) {
        const e: RunEvent = { time: new Date().toISOString(), kind, atSample, detail, ...(data ? { data } : {}) };
        recorded.push(e);
        bus.emit('event', e);
      },
      fail(error, during) {
        failures.push({ plugin: 'ctx.fail', during, error });
      },
      report(): MergedReport {
        const m: MergedReport = { sections: {}, acceptance: {}, counts: {}, disabled: [] };
        for (const p of [...reporters, ...plugins]) {
          const r = p.report?.();
          Object.assign(m.sections, r?.sections ?? {});
          Object.assign(m.acceptance, r?.acceptance ?? {});
          for (const [k, v] of Object.entries(r?.counts ?? {})) m.counts[k] = (m.counts[k] ?? 0) + v;
        }
        return m;
      },
    },
  };
  (h as Harness & { plugins: Plugin[] }).plugins = plugins;
  return h;
}

/** Starts `p` in the harness and includes its report in ctx.report(). */
export async function startPlugin(h: Harness, p: Plugin): Promise<void> {
  (h as Harness & { plugins: Plugin[] }).plugins.push(p);
  await p.start(h.ctx);
}

export async function stopPlugin(h: Harness, p: Plugin): Promise<void> {
  h.bus.removeListeners(p);
  await p.stop();
}

/** Another plug-in's report, as the latency and watchdog supervisors contribute theirs. */
export function reporter(name: string, sections: Record<string, unknown>, counts: Record<string, number> = {}): Plugin {
  return { name, start: () => undefined, stop: () => undefined, report: () => ({ sections, counts }) };
}
