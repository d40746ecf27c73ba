import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, validateConfig } from '../src/daemon/config.js';
import { resolveStreams } from '../src/config/streams.js';
import { EmbeddedBroker } from '../src/outputs/embedded-broker.js';
import { CLI, ROOT, cliEnv } from './helpers.js';
import { Subscriber, assertSchema, waitFor } from './mqtt-helpers.js';

interface Identity {
  hand: string | null;
  hand_from: string;
  band: { band_id: string; source: string; chip_ids: (string | null)[] };
}

async function runAndCollect(
  node: string,
  extra: string[],
  source = 'replay:test/fixtures/upstream_small.hdf5',
): Promise<{ meta: Identity; status: Identity; health: Identity }> {
  const broker = await EmbeddedBroker.start({ port: 0 });
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const sub = await Subscriber.open(url, `myostream/${node}/#`);
  try {
    const child = spawn(
      process.execPath,
      [
        CLI,
        'run',
        '--speed',
        '0',
        '--quiet',
        '--artifacts',
        mkdtempSync(join(tmpdir(), 'myo-id-')),
        '--source',
        source,
        '--set',
        `outputs.mqtt.broker=${url}`,
        '--set',
        `outputs.mqtt.node_id=${node}`,
        '--set',
        'logging.level=error',
        ...extra,
      ],
      { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: cliEnv() },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    assert.equal(code, 0, stderr);
    await waitFor(
      'meta, status and health',
      () => sub.on('/meta').length > 0 && sub.on('/status').length > 0 && sub.on('/health').length > 0,
      5000,
    );
    const meta = sub.on('/meta')[0]!.body;
    const status = sub.on('/status').find((m) => m.body['state'] === 'online')!.body;
    const health = sub.on('/health').at(-1)!.body;
    assertSchema('mqtt_meta', meta);
    assertSchema('mqtt_status', status);
    assertSchema('mqtt_health', health);
    return {
      meta: meta as unknown as Identity,
      status: status as unknown as Identity,
      health: health as unknown as Identity,
    };
  } finally {
    await sub.close();
    await broker.close();
  }
}

test('meta, the status birth and health name the hand (from the HDF5 side attribute) and the band', async () => {
  const r = await runAndCollect('idrec', ['--set', 'input.band_id=band-7']);
  for (const m of [r.meta, r.status, r.health]) {
    assert.equal(m.hand, 'right', 'the fixture says side=right');
    assert.equal(m.hand_from, 'recording');
    assert.equal(m.band.band_id, 'band-7');
    assert.match(m.band.source, /^replay:.*upstream_small\.hdf5/);
    assert.deepEqual(m.band.chip_ids, []);
  }
});

test("ADS1299 simulator: the first retained meta and birth already carry one ID per chip (the chain's second chip: null, unreadable)", async () => {
  // Two daisy-chained chips, 16 channels; 0.5 s of signal is enough: the IDs are read before any sample.
  const r = await runAndCollect(
    'idadc',
    ['--set', 'input.duration_s=0.5', '--set', 'acquisition.ads1299.topology=daisy'],
    'ads1299-sim',
  );
  for (const [what, m] of [
    ['meta', r.meta],
    ['birth', r.status],
    ['health', r.health],
  ] as const) {
    assert.deepEqual(m.band.chip_ids, ['0x3e', null], `${what}: chip 1 read, chip 2 of the chain not readable`);
  }
});

test('ADS1299 simulator with separate chip selects: both IDs read', async () => {
  const r = await runAndCollect(
    'idsep',
    [
      '--set',
      'input.duration_s=0.5',
      '--set',
      'acquisition.ads1299.topology=separate',
      '--set',
      'acquisition.ads1299.chip_selects=[0,1]',
    ],
    'ads1299-sim',
  );
  assert.deepEqual(r.meta.band.chip_ids, ['0x3e', '0x3e']);
  assert.deepEqual(r.status.band.chip_ids, ['0x3e', '0x3e']);
});

test('input.hand overrides the recording', async () => {
  const r = await runAndCollect('idcfg', ['--set', 'input.hand=left']);
  assert.equal(r.meta.hand, 'left');
  assert.equal(r.meta.hand_from, 'config');
  assert.equal(r.status.hand, 'left');
});

test('the two-band configuration names both hands and both bands', () => {
  const streams = resolveStreams(loadConfig(join(ROOT, 'configs', 'two-bands.yaml')), validateConfig);
  assert.deepEqual(
    streams.map((s) => [s.id, s.cfg.input.hand, s.cfg.input.band_id]),
    [
      ['left', 'left', 'band-a'],
      ['right', 'right', 'band-b'],
    ],
  );
});
