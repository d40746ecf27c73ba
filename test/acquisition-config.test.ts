import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../src/common/errors.js';
import { loadConfig } from '../src/daemon/config.js';
import { ads1299WorkerConfig } from '../src/acquisition/ads1299/options.js';
import { z } from 'zod';
import { ADC_DEVICES } from '../src/acquisition/adc-devices.js';
import { acquisitionSettings, SOURCE_NAMES, sourceContext } from '../src/acquisition/sources.js';
import { silentLogger } from '../src/common/logger.js';
import { DEFAULT_CONFIG } from '../src/daemon/bootstrap.js';

function refusal(sets: string[]): string {
  try {
    loadConfig(undefined, sets);
  } catch (e) {
    assert.ok(e instanceof UserError, String(e));
    return e.message;
  }
  return assert.fail('expected a refusal');
}

test('acquisition defaults: chardev binding, daisy chain on spidev0.0, gain 24, preprocessing auto', () => {
  const a = loadConfig(undefined).acquisition;
  assert.equal(a.gpio_binding, 'chardev');
  assert.equal(a.ads1299.topology, 'daisy');
  assert.deepEqual(a.ads1299.chip_selects, [0]);
  assert.equal(a.ads1299.gain, 24);
  assert.equal(a.ads1299.spi_mode, 1);
  assert.deepEqual(
    a.ads1299.channel_map,
    Array.from({ length: 16 }, (_, i) => i),
  );
  assert.equal(a.preprocess.enabled, 'auto');
  assert.equal(a.preprocess.bad_sample_policy, 'hold_last');
});

test('the shipped configuration carries the acquisition block with the defaults', () => {
  const shipped = loadConfig(DEFAULT_CONFIG).acquisition;
  assert.deepEqual(shipped, loadConfig(undefined).acquisition);
});

test('acquisition keys are validated with the key, the value and the rule', () => {
  assert.match(refusal(['acquisition.gpio_binding=libgpiod']), /acquisition\.gpio_binding = "libgpiod"/);
  assert.match(
    refusal(['acquisition.ads1299.chip_selects=[0, 1]']),
    /chip_selects = \[0,1\]: a daisy chain uses one chip select/,
  );
  assert.match(
    refusal(['acquisition.ads1299.topology=separate']),
    /topology separate needs two different chip selects/,
  );
  assert.match(
    refusal(['acquisition.ads1299.topology=separate', 'acquisition.ads1299.chip_selects=[1, 1]']),
    /two different chip selects/,
  );
  assert.match(refusal(['acquisition.ads1299.gain=3']), /acquisition\.ads1299\.gain = 3/);
  assert.match(
    refusal(['acquisition.ads1299.channel_map=[0,0,2,3,4,5,6,7,8,9,10,11,12,13,14,15]']),
    /must name each ADC channel 0-15 exactly once/,
  );
  assert.match(refusal(['acquisition.preprocess.highpass_order=3']), /highpass_order = 3/);
  assert.match(refusal(['acquisition.preprocess.bad_sample_policy=interpolate']), /bad_sample_policy/);
  assert.match(refusal(['acquisition.ads1299.spi_clock_hz=50000000']), /spi_clock_hz/);
  assert.match(refusal(['acquisition.ads1299.gpoimon=x']), /unknown key acquisition\.ads1299\.gpoimon/);
});

test('gains given in ring channel order reach the driver in ADC order through the channel map', () => {
  const map = [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7];
  const gains = [12, 12, 12, 12, 12, 12, 12, 12, 24, 24, 24, 24, 24, 24, 24, 24];
  const cfg = loadConfig(undefined, [
    'acquisition.ads1299.topology=separate',
    'acquisition.ads1299.chip_selects=[0, 1]',
    `acquisition.ads1299.channel_map=${JSON.stringify(map)}`,
    `acquisition.ads1299.gain=${JSON.stringify(gains)}`,
    'input.duration_s=2',
  ]);
  const w = ads1299WorkerConfig(cfg.acquisition.ads1299, sourceContext(cfg, silentLogger()), false);
  assert.deepEqual(
    w.driver.gains.slice(0, 8),
    Array(8).fill(24),
    'ADC channels 0-7 (first chip) are ring channels 8-15',
  );
  assert.deepEqual(w.driver.gains.slice(8), Array(8).fill(12));
  assert.equal(w.maxSamples, 4000);
  assert.equal(w.hardware?.gpioBinding, 'chardev');
  assert.ok(w.preprocess, 'preprocessing is on for live hardware under auto');
  const simCfg = loadConfig(undefined, ['acquisition.preprocess.enabled=false']);
  const sim = ads1299WorkerConfig(simCfg.acquisition.ads1299, sourceContext(simCfg, silentLogger()), true);
  assert.equal(sim.preprocess, undefined);
  assert.equal(sim.hardware, undefined);
  assert.equal(sim.sim?.seed, 1);
});

/** Every key below `node` in a JSON Schema, with its description (undefined when it has none). */
function describedKeys(node: Record<string, unknown>, path: string, out: Map<string, unknown>): Map<string, unknown> {
  const props = node['properties'] as Record<string, Record<string, unknown>> | undefined;
  for (const [k, v] of Object.entries(props ?? {})) {
    out.set(`${path}.${k}`, v['description']);
    describedKeys(v, `${path}.${k}`, out);
  }
  return out;
}

test('every acquisition key says in one sentence what it does (the configuration reference prints it)', () => {
  const keys = describedKeys(z.toJSONSchema(acquisitionSettings, { io: 'input' }), 'acquisition', new Map());
  assert.ok(keys.size > 70, `${keys.size} keys`);
  for (const [key, d] of keys) {
    assert.equal(typeof d, 'string', `${key} has no description`);
    assert.match(d as string, /^\S.*\.$/s, `${key}: "${String(d)}" is not a sentence`);
  }
  assert.match(
    String(keys.get('acquisition.i2c.bus_hz')),
    /modelled here .* not set/,
    'bus_hz says it only models the bus',
  );
});

test('the section is composed from the rows: each ADC of the table has its key, its two sources, and a worker module', () => {
  const a = loadConfig(undefined).acquisition as Record<string, unknown>;
  for (const d of ADC_DEVICES) {
    assert.ok(a[d.key] && typeof a[d.key] === 'object', `acquisition.${d.key}`);
    assert.ok(
      SOURCE_NAMES.split(', ').includes(d.key) && SOURCE_NAMES.split(', ').includes(`${d.key}-sim`),
      SOURCE_NAMES,
    );
    assert.equal(typeof d.open, 'function');
  }
  assert.deepEqual(
    ADC_DEVICES.map((d) => d.key),
    ['ads1299', 'i2c'],
  );
});

test("acquisition.i2c.sample_rate is gone: the rate is the pipeline's, written to the ADC at set-up", () => {
  assert.match(refusal(['acquisition.i2c.sample_rate=1000']), /unknown key acquisition\.i2c\.sample_rate/);
  assert.match(
    refusal(['acquisition.i2c.channels=16', 'acquisition.i2c.bits_per_sample=32', 'acquisition.i2c.data_register=1']),
    /acquisition\.i2c\.data_register = 1: the data block \(16 channels × 4 bytes from 0x1\) must end by 0x40/,
  );
});
