import ort from 'onnxruntime-node';
import type { SourceInfo } from '../acquisition/source.js';
import type { LoadedModels } from '../inference/models.js';

/** model_info.json of a run: the models' own record plus what this process really got. */
export function runModelInfo(models: LoadedModels, encoderKind: string): Record<string, unknown> {
  return {
    ...models.info,
    runtime: {
      onnxruntime_node: ort.env.versions.node ?? null,
      execution_providers: models.providers,
      provider_attempts: models.attempts,
      load_ms: models.loadMs,
      streaming_encoder: encoderKind,
    },
  };
}

export function sourceSummary(info: SourceInfo): Record<string, unknown> {
  return {
    kind: info.kind,
    description: info.description,
    sample_rate: info.sampleRate,
    channels: info.channels,
    has_joint_angles: info.hasJointAngles,
    total_samples: info.totalSamples ?? null,
  };
}
