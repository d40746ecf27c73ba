import type { z } from 'zod';
import type { Plugin } from './plugin.js';

/**
 * A section of the configuration a plug-in declares beside itself: where it lives (a dotted
 * path such as `outputs.mqtt`) and its zod schema, the one declaration its settings type is
 * inferred from. The configuration is composed from the sections of the registries' rows, so a
 * plug-in with settings is its file plus its row. Several rows may read one section (the
 * supervisors share `watchdog`); it is composed once.
 */
export interface ConfigSection<O = unknown> {
  readonly path: string;
  readonly schema: z.ZodType<O>;
}

export function configSection<S extends z.ZodType>(path: string, schema: S): ConfigSection<z.output<S>> {
  return { path, schema: schema as z.ZodType<z.output<S>> };
}

/**
 * One row of a plug-in table: the plug-in's name, the section of the configuration it owns (if
 * any), what it needs from its own slice (already parsed and checked) and from the stream's
 * core configuration, and how to make it. `settings` answers undefined when the plug-in is not
 * in this run (turned off, or nothing for it to do). The plug-in itself never sees the whole
 * configuration, and a row reads no other plug-in's section. `C` is the core configuration the
 * stream runs with (model, runtime, input, eval, ...), `E` what the stream offers besides (its
 * predictors, shared servers, identity), `O` the row's own slice.
 */
export interface PluginRow<C, E, S, O = undefined> {
  readonly name: string;
  readonly section?: ConfigSection<O>;
  settings(own: O, cfg: C, env: E): S | undefined;
  create(settings: S, env: E): Plugin;
}

/** A row with its settings type hidden, so rows of different plug-ins share one table. */
export interface TableRow<C, E, O = unknown> {
  readonly name: string;
  readonly section?: ConfigSection<O> | undefined;
  build(cfg: C, env: E): Plugin | undefined;
}

/** The value at a dotted path of a parsed configuration. */
export function valueAt(cfg: unknown, path: string): unknown {
  let cur = cfg;
  for (const k of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

export function pluginRow<C, E, S, O = undefined>(row: PluginRow<C, E, S, O>): TableRow<C, E, O> {
  const { section } = row;
  return {
    name: row.name,
    section,
    build: (cfg, env) => {
      // The composed schema put this section's parsed value at its path: it has type O.
      const own = (section ? valueAt(cfg, section.path) : undefined) as O;
      const s = row.settings(own, cfg, env);
      return s === undefined ? undefined : row.create(s, env);
    },
  };
}

/** The plug-ins a table gives for one stream, in table order (the start order). */
export function buildPlugins<C, E>(table: readonly TableRow<C, E>[], cfg: C, env: E): Plugin[] {
  const out: Plugin[] = [];
  for (const row of table) {
    const p = row.build(cfg, env);
    if (p) out.push(p);
  }
  return out;
}
