import ort from 'onnxruntime-node';
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
