import type { z } from 'zod';
import type { EmgSource, SourceContext } from './source.js';

/**
 * One row per source `--source` accepts. A row declares the keys it owns in the `acquisition:`
 * section (a zod shape, merged flat into the section) and gets exactly those, parsed, besides
 * the shared context. Adding a source is its module and one row in sources.ts.
 */
export interface SourceRow<Shape extends z.ZodRawShape = z.ZodRawShape> {
  /** The name as given to --source; a name ending in ':' takes an argument (replay:FILE). */
  readonly name: string;
  /** The keys it owns in the acquisition section, with their schemas. */
  readonly settings: Shape;
  /** Builds the source from the parsed section: the row picks its own keys out of it. */
  create(section: Readonly<Record<string, unknown>>, ctx: SourceContext): EmgSource | Promise<EmgSource>;
}

/** A row whose `create` sees only its own keys, typed from its shape. */
export function sourceRow<Shape extends z.ZodRawShape>(
  name: string,
  settings: Shape,
  create: (own: z.infer<z.ZodObject<Shape>>, ctx: SourceContext) => EmgSource | Promise<EmgSource>,
): SourceRow<Shape> {
  const keys = Object.keys(settings);
  return {
    name,
    settings,
    create(section, ctx) {
      const own: Record<string, unknown> = {};
      for (const k of keys) own[k] = section[k];
      // The section was parsed by a schema that holds this shape, so these keys have its types.
      return create(own as z.infer<z.ZodObject<Shape>>, ctx);
    },
  };
}
