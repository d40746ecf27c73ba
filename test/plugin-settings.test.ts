import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { UserError } from '../src/common/errors.js';
import type { CoreConfig } from '../src/config/schema.js';
import type { Plugin } from '../src/domain/plugin.js';
import { buildPlugins, configSection, pluginRow } from '../src/domain/registry.js';
import { composeConfig, configToYaml, loadConfig, type Config } from '../src/daemon/config.js';
import { PLUGIN_TABLE } from '../src/daemon/plugin-table.js';

// A plug-in that exists only in this file: its settings' schema, its class, its row. Nothing
// else in the project names it, yet the configuration takes its section once the row joins.
const echoSchema = z
  .object({
    enabled: z.boolean().default(false).meta({ description: 'Turns the echo on.' }),
    gain: z.number().min(0).max(10).default(1).meta({ description: 'What the echo multiplies by.' }),
  })
  .strict();
type EchoSettings = z.output<typeof echoSchema>;

class EchoPlugin implements Plugin {
  readonly name = 'echo';
  constructor(
    readonly settings: EchoSettings,
    readonly mode: string,
  ) {}
  start(): void {}
  stop(): void {}
}

const echoRow = pluginRow({
  name: 'echo',
  section: configSection('outputs.echo', echoSchema),
  settings: (own: EchoSettings, cfg: CoreConfig) => (own.enabled ? { own, mode: cfg.model.mode } : undefined),
  create: (s) => new EchoPlugin(s.own, s.mode),
});

const withEcho = composeConfig<Config & { outputs: { echo: EchoSettings } }>([...PLUGIN_TABLE, echoRow]);

function refusal(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
    return e.message;
  }
  assert.fail('expected the configuration to be refused');
}

test('a plug-in added from outside is configured by --set and by the file, through its own section', () => {
  const c = withEcho.load(undefined, ['outputs.echo.enabled=true', 'outputs.echo.gain=2.5', 'model.mode=exact']);
  assert.deepEqual(c.outputs.echo, { enabled: true, gain: 2.5 });
  assert.equal(c.outputs.mqtt.enabled, true, 'the real sections are all still there');
  assert.deepEqual(
    withEcho.load(undefined).outputs.echo,
    { enabled: false, gain: 1 },
    'its defaults when the section is left out',
  );
  const dir = mkdtempSync(join(tmpdir(), 'myo-echo-'));
  const file = join(dir, 'echo.yaml');
  writeFileSync(file, 'outputs:\n  echo:\n    enabled: true\n    gain: 3\n');
  assert.equal(withEcho.load(file).outputs.echo.gain, 3);

  // The row gets its own slice and the core configuration, and makes the plug-in from them.
  const plugins = buildPlugins([echoRow], c, {});
  assert.equal(plugins.length, 1);
  assert.deepEqual((plugins[0] as EchoPlugin).settings, { enabled: true, gain: 2.5 });
  assert.equal((plugins[0] as EchoPlugin).mode, 'exact');
  assert.deepEqual(buildPlugins([echoRow], withEcho.load(undefined), {}), [], 'off by default: not in the run');
});

test("a bad value of the new plug-in's key is one line naming the key, where it came from and why", () => {
  const bad = refusal(() => withEcho.load(undefined, ['outputs.echo.gain=11']));
  assert.equal(bad.split('\n').length, 1);
  assert.match(bad, /^--set outputs\.echo\.gain=11: outputs\.echo\.gain = 11: .*10/);
  assert.match(
    refusal(() => withEcho.load(undefined, ['outputs.echo.gian=1'])),
    /unknown key outputs\.echo\.gian/,
    'strict: a misspelt key is an error',
  );
  assert.match(
    refusal(() => withEcho.validate({ outputs: { ehco: {} } }, 'x.yaml')),
    /^config file x\.yaml: unknown key outputs\.ehco$/,
    'the section the row joined stays strict',
  );
  assert.match(
    refusal(() => withEcho.load(undefined, ['outputs.echo.gain=loud'])),
    /outputs\.echo\.gain = "loud": .*number/,
  );
  // The real configuration, without the row, does not know the key.
  assert.match(
    refusal(() => loadConfig(undefined, ['outputs.echo.gain=2'])),
    /unknown key outputs\.echo/,
  );
});

test("the new plug-in's settings appear in the config snapshot and its JSON Schema", () => {
  const c = withEcho.load(undefined, ['outputs.echo.enabled=true', 'outputs.echo.gain=2.5']);
  assert.match(configToYaml(c), /\n {2}echo:\n {4}enabled: true\n {4}gain: 2\.5\n/);
  const schema = withEcho.jsonSchema() as {
    properties: {
      outputs: {
        properties: Record<string, { properties: Record<string, { maximum?: number; description?: string }> }>;
      };
    };
  };
  const echo = schema.properties.outputs.properties['echo'];
  assert.ok(echo, 'outputs.echo is in the JSON Schema');
  assert.equal(echo.properties['gain']!.maximum, 10);
  assert.equal(echo.properties['gain']!.description, 'What the echo multiplies by.');
});

test('two different schemas at one path are refused when the configuration is composed', () => {
  const clash = pluginRow({
    name: 'clash',
    section: configSection('outputs.mqtt', z.object({}).strict()),
    settings: () => undefined,
    create: () => new EchoPlugin({ enabled: false, gain: 1 }, ''),
  });
  assert.throws(() => composeConfig([...PLUGIN_TABLE, clash]), /outputs\.mqtt is declared twice/);
});
