import { silentLogger } from '../src/common/logger.js';
import { JOINT_NAMES, POSE_DIM, SAMPLE_RATE, STEP_SAMPLES } from '../src/domain/geometry.js';
import type { ArtifactStore, Plugin } from '../src/domain/plugin.js';
import { PluginHost, type HostedContext } from '../src/daemon/plugin-host.js';

/**
 * One stream's plug-in host, as the daemon makes it, around the given plug-ins: the real
 * PluginHost and its bus, a stream of 20 joints. The live view writes no artifacts, so the
 * store refuses every write (a test would fail loudly if it tried).
 */
export async function hostPlugins(plugins: Plugin[], streamId = 'main', multi = false): Promise<PluginHost> {
  const noArtifacts = (): never => {
    throw new Error('the live view keeps no artifacts');
  };
  const artifacts: ArtifactStore = {
    dir: '',
    path: noArtifacts,
    writeJson: noArtifacts,
    writeYaml: noArtifacts,
    jsonl: noArtifacts,
    failed: [],
  };
  const ctx: HostedContext = {
    stream: {
      id: streamId,
      multi,
      channels: 16,
      sampleRate: SAMPLE_RATE,
      poseDim: POSE_DIM,
      jointNames: JOINT_NAMES,
      stepSamples: STEP_SAMPLES,
      sourceDescription: 'recorded poses',
      hasJointAngles: false,
    },
    log: silentLogger(),
    artifacts,
    session: {
      mode: 'streaming',
      modeConfigured: 'streaming',
      poses: 0,
      samples: 0,
      unitsSinceRestart: 0,
      startedAt: new Date(),
      exit: 'running',
    },
    actions: {
      requestMode: () => false,
      requestReset: () => undefined,
      snapshot: () => undefined,
      align: async () => ({}),
    },
  };
  const host = new PluginHost(plugins, silentLogger());
  await host.start(ctx);
  return host;
}
