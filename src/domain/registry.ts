import type { Plugin } from './plugin.js';

/**
 * One row of a plug-in table: the plug-in's name, the part of the stream's configuration it
 * reads (its settings slice, already parsed and checked by the configuration's schema), and how
 * to make it from that slice. `settings` answers undefined when the plug-in is not in this run
 * (turned off, or nothing for it to do). The plug-in itself never sees the whole configuration.
 * `C` is the configuration, `E` what the stream offers besides (its predictors, shared servers).
 */
export interface PluginRow<C, E, S> {
  readonly name: string;
  settings(cfg: C, env: E): S | undefined;
  create(settings: S, env: E): Plugin;
}

/** A row with its settings type hidden, so rows of different plug-ins share one table. */
export interface TableRow<C, E> {
  readonly name: string;
  build(cfg: C, env: E): Plugin | undefined;
}

export function pluginRow<C, E, S>(row: PluginRow<C, E, S>): TableRow<C, E> {
  return {
    name: row.name,
    build: (cfg, env) => {
      const s = row.settings(cfg, env);
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
