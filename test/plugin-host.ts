import { silentLogger } from '../src/common/logger.js';
import { EventBus } from '../src/domain/bus.js';
import type { RunEvent, RunEvents } from '../src/domain/events.js';
import { JOINT_NAMES, POSE_DIM, SAMPLE_RATE, STEP_SAMPLES } from '../src/domain/geometry.js';
import type { ArtifactStore, JsonlSink, PluginContext, PluginReport, StreamInfo, Plugin } from '../src/domain/plugin.js';

/**
 * A minimal host for driving one plug-in in a test: a real EventBus, the stream's facts, and a
 * context that records what the plug-in records or fails with. Artifacts are refused: the
 * plug-ins tested with it write none.
 */
export interface TestHost {
  ctx: PluginContext;
  bus: EventBus<RunEvents>;
  recorded: RunEvent[];
  failures: { error: unknown; during: string }[];
  listenerErrors: { owner: string; event: string; error: unknown }[];
}

export function testHost(streamId = 'main', multi = false, reports: () => PluginReport[] = () => []): TestHost {
  const listenerErrors: TestHost['listenerErrors'] = [];
  const bus = new EventBus<RunEvents>((owner, event, error) => listenerErrors.push({ owner: owner.name, event, error }));
  const recorded: RunEvent[] = [];
  const failures: TestHost['failures'] = [];
  const stream: StreamInfo = {
    id: streamId, multi, channels: 16, sampleRate: SAMPLE_RATE, poseDim: POSE_DIM, jointNames: JOINT_NAMES,
    stepSamples: STEP_SAMPLES, sourceDescription: 'recorded poses', hasJointAngles: false,
  };
  const noArtifacts = (): never => {
    throw new Error('this test host keeps no artifacts');
  };
  const artifacts: ArtifactStore = { dir: '', path: noArtifacts, writeJson: noArtifacts, writeYaml: noArtifacts, jsonl: noArtifacts as () => JsonlSink };
  const ctx: PluginContext = {
    stream, bus, log: silentLogger(), artifacts,
    session: { mode: 'streaming', modeConfigured: 'streaming', poses: 0, samples: 0, unitsSinceRestart: 0, startedAt: new Date(), exit: 'running' },
    actions: { requestMode: () => false, requestReset: () => undefined, snapshot: () => undefined, align: async () => ({}) },
    record(kind, atSample, detail, data) {
      const e: RunEvent = { time: new Date().toISOString(), kind, atSample, detail, ...(data ? { data } : {}) };
      recorded.push(e);
      bus.emit('event', e);
    },
    fail(error, during) {
      failures.push({ error, during });
    },
    report() {
      const merged = { sections: {}, acceptance: {}, counts: {} as Record<string, number>, disabled: [] };
      for (const r of reports()) {
        Object.assign(merged.sections, r.sections ?? {});
        Object.assign(merged.acceptance, r.acceptance ?? {});
        for (const [k, v] of Object.entries(r.counts ?? {})) merged.counts[k] = (merged.counts[k] ?? 0) + v;
      }
      return merged;
    },
  };
  return { ctx, bus, recorded, failures, listenerErrors };
}

export async function startPlugin(p: Plugin, host: TestHost): Promise<void> {
  await p.start(host.ctx);
}
