import { z } from 'zod';
import type { ConfigSection } from '../domain/registry.js';
import { coreRules, coreShape, TOP_LEVEL_ORDER, type CoreConfig } from './schema.js';

type AnySchema = z.ZodType;
type Shape = Record<string, AnySchema>;

function innerObject(s: AnySchema): z.ZodObject | undefined {
  let cur: z.core.$ZodType = s;
  for (;;) {
    const def = cur._zod.def as { type: string; innerType?: z.core.$ZodType };
    if ((def.type === 'default' || def.type === 'prefault') && def.innerType) cur = def.innerType;
    else return def.type === 'object' ? (cur as z.ZodObject) : undefined;
  }
}

/** `to` with the description (and other metadata) of the first of `from` that has one: a wrapper would hide it. */
function withMetaOf(to: AnySchema, ...from: AnySchema[]): AnySchema {
  for (const f of from) {
    const m = z.globalRegistry.get(f);
    if (m) return to.meta(m);
  }
  return to;
}

/**
 * Puts `schema` at `path` in `shape`: the objects on the way are the core's (extended) or new
 * strict ones, each defaulting to `{}` so that a section may be left out of the file.
 */
function place(shape: Shape, path: readonly string[], schema: AnySchema, where: string): void {
  const [head, ...rest] = path;
  if (head === undefined) return;
  const existing = shape[head];
  if (rest.length === 0) {
    const needsDefault =
      innerObject(schema) !== undefined && schema._zod.def.type !== 'prefault' && schema._zod.def.type !== 'default';
    if (existing === undefined) shape[head] = needsDefault ? withMetaOf(schema.prefault({}), schema) : schema;
    else if (existing !== schema) throw new Error(`configuration section ${where} is declared twice`);
    return;
  }
  const obj = existing === undefined ? z.object({}).strict() : innerObject(existing);
  if (!obj) throw new Error(`configuration section ${where}: ${head} is not a section that can hold keys`);
  const inner: Shape = { ...(obj.shape as Shape) };
  place(inner, rest, schema, where);
  // safeExtend keeps the object's own checks (a core section's refinements) and its strictness.
  shape[head] = withMetaOf(obj.safeExtend(inner).prefault({}), ...(existing ? [existing, obj] : []));
}

/**
 * The configuration schema made of the core sections (config/schema.ts) and the sections the
 * plug-in rows declare, in the order the rows give (after the core keys of a shared section
 * such as `outputs`). Strict at every level; the core's cross-key rules run on the whole. The
 * same section object read by several rows is placed once; two different schemas at one path
 * are a programming error, refused here.
 */
export function composeConfigSchema(
  sections: readonly ConfigSection[],
): z.ZodType<CoreConfig & Record<string, unknown>> {
  const shape: Shape = { ...(coreShape as Shape) };
  const placed = new Map<string, AnySchema>();
  for (const s of sections) {
    const seen = placed.get(s.path);
    if (seen === s.schema) continue;
    if (seen !== undefined) throw new Error(`configuration section ${s.path} is declared twice`);
    placed.set(s.path, s.schema);
    place(shape, s.path.split('.'), s.schema, s.path);
  }
  const rank = (k: string): number => {
    const i = TOP_LEVEL_ORDER.indexOf(k);
    return i >= 0 ? i : TOP_LEVEL_ORDER.indexOf('streams') - 0.5;
  };
  const ordered: Shape = {};
  for (const k of Object.keys(shape).sort((a, b) => rank(a) - rank(b))) ordered[k] = shape[k]!;
  return z
    .object(ordered)
    .strict()
    .superRefine((c, ctx) => coreRules(c as CoreConfig, ctx)) as unknown as z.ZodType<
    CoreConfig & Record<string, unknown>
  >;
}
