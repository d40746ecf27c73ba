import type { z } from 'zod';
import { composeConfigSchema } from '../config/compose.js';
import { configJsonSchemaOf } from '../config/json-schema.js';
import { loadConfigWith, validateConfigWith, type LoadOptions, type ValueOrigin } from '../config/load.js';
import type { CoreConfig } from '../config/schema.js';
import { acquisitionSettings, type AcquisitionSettings } from '../acquisition/sources.js';
import { configSection, type ConfigSection } from '../domain/registry.js';
import type { LiveViewSettings } from '../outputs/live-view-settings.js';
import type { MetricsSettings } from '../outputs/metrics-settings.js';
import type { MqttConfig } from '../outputs/mqtt-settings.js';
import type { SmoothingSettings } from '../outputs/smoothing-settings.js';
import type { WatchdogConfig } from '../supervision/watchdog-settings.js';
import { PLUGIN_TABLE } from './plugin-table.js';

export { configToYaml, type LoadOptions } from '../config/load.js';

/**
 * The whole configuration as the daemon sees it: the core sections plus the plug-in sections it
 * reads itself (the run's heartbeat, the paths it checks, the process-wide live-view and metrics
 * servers, the embedded broker). Each part's type is inferred from its one schema. A plug-in
 * whose settings only its own row reads adds nothing here: its section is composed from its row.
 */
export type Config = CoreConfig & {
  acquisition: AcquisitionSettings;
  outputs: {
    poses_out: string;
    mqtt: MqttConfig;
    smoothing: SmoothingSettings;
    live_view: LiveViewSettings;
    metrics: MetricsSettings;
  };
  watchdog: WatchdogConfig;
};

/**
 * The keys a SIGHUP applies to the running daemon (run-command.ts's reloader); a change of any
 * other key is refused with its name in the log until a restart. docs/config.md's SIGHUP
 * column is made from this list.
 */
export const SIGHUP_APPLIES: readonly string[] = ['logging.level'];

/** A configuration composed from plug-in rows, and its loading, validation and JSON Schema. */
export interface ComposedConfig<T> {
  readonly schema: z.ZodType<T>;
  /** The file (if any), then the `--set key=value` overrides in order, validated: what the CLI does. */
  readonly load: (file: string | undefined, overrides?: readonly string[], opts?: LoadOptions) => T;
  readonly validate: (raw: unknown, source?: string, origin?: ValueOrigin) => T;
  /** What schemas/config_snapshot.schema.json holds. */
  readonly jsonSchema: () => Record<string, unknown>;
}

/**
 * The `acquisition:` section, composed from the source and ADC rows (acquisition/sources.ts,
 * acquisition/adc-devices.ts), each of which declares its keys beside itself; every stream has
 * a source, so every composition has it.
 */
const ACQUISITION_SECTION = configSection('acquisition', acquisitionSettings);

/**
 * The configuration the core and the given rows' sections make (config/compose.ts). The daemon
 * composes it from its plug-in table; a test may add rows of its own to see a new plug-in's
 * section join `--set`, validation and the snapshot.
 */
export function composeConfig<T extends Config = Config>(
  rows: readonly { readonly section?: ConfigSection | undefined }[],
): ComposedConfig<T> {
  const sections = [ACQUISITION_SECTION, ...rows.flatMap((r) => (r.section ? [r.section] : []))];
  const schema = composeConfigSchema(sections) as unknown as z.ZodType<T>;
  return {
    schema,
    load: (file, overrides = [], opts = {}) => loadConfigWith(schema, file, overrides, opts),
    validate: (raw, source, origin) => validateConfigWith(schema, raw, source, origin),
    jsonSchema: () => configJsonSchemaOf(schema),
  };
}

const composed = composeConfig(PLUGIN_TABLE);

/** The configuration's schema: the core sections and every registered plug-in's. */
export const configSchema = composed.schema;
export const loadConfig = composed.load;
export const validateConfig = composed.validate;
export const configJsonSchema = composed.jsonSchema;
