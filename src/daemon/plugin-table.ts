import type { CoreConfig } from '../config/schema.js';
import type { TableRow } from '../domain/registry.js';
import { ARTIFACTS_ROW, OUTPUTS, type OutputsEnv } from '../outputs/registry.js';
import { SUPERVISORS } from '../supervision/registry.js';
import type { SupervisionEnv } from '../supervision/supervision-env.js';

/** What every row of the table may use besides its settings slice. */
export type StreamEnv = OutputsEnv & SupervisionEnv;

/**
 * The one plug-in table, in start order: the artifacts writer first (it records what happens
 * to every other plug-in, and stops last), then the supervisors, so that an output's first
 * report already has their sections, then the outputs. Adding a plug-in is its file and its
 * row in supervision/registry.ts or outputs/registry.ts; the row's section (if it has one)
 * joins the configuration through daemon/config.ts.
 */
export const PLUGIN_TABLE: readonly TableRow<CoreConfig, StreamEnv>[] = [ARTIFACTS_ROW, ...SUPERVISORS, ...OUTPUTS];
