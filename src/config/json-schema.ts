import { z } from 'zod';
import { configSchema } from './schema.js';

/** JSON Schema of a complete configuration (what config_snapshot.yaml holds). */
export function configJsonSchema(): Record<string, unknown> {
  return { title: 'config_snapshot.yaml: the effective configuration after --set overrides', ...z.toJSONSchema(configSchema, { io: 'output' }) };
}
