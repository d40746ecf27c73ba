import { z } from 'zod';

/** JSON Schema of a complete configuration (what config_snapshot.yaml holds), from its composed schema. */
export function configJsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
  return {
    title: 'config_snapshot.yaml: the effective configuration after --set overrides',
    ...z.toJSONSchema(schema, { io: 'output' }),
  };
}
