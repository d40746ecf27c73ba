import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadConfig } from '../src/daemon/config.js';
import { ROOT } from './helpers.js';

test('configs/production.yaml loads with the current schema and says what a base station runs', () => {
  const c = loadConfig(join(ROOT, 'configs', 'production.yaml'));
  assert.equal(c.input.source, 'ads1299');
  assert.equal(c.input.duration_s, 0);
  assert.equal(c.acquisition.ads1299.simulate, false);
  assert.equal(c.acquisition.preprocess.enabled, true);
  assert.equal(c.outputs.mqtt.enabled, true);
  assert.equal(c.outputs.mqtt.broker, 'mqtt://127.0.0.1:1883');
  assert.equal(c.outputs.mqtt.password_env, 'MYOSTREAM_MQTT_PASSWORD');
  assert.notEqual(c.outputs.mqtt.username, '');
  // "" resolves to $STATE_DIRECTORY/runs under the unit.
  assert.equal(c.outputs.artifacts_root, '');
  assert.equal(c.outputs.poses_out, '');
  assert.equal(c.logging.format, 'json');
  assert.equal(c.model.mode, 'streaming');
});

test('the demo stays the default configuration of npm start', () => {
  const c = loadConfig(join(ROOT, 'configs', 'realtime_config.yaml'));
  assert.match(c.input.source, /^replay:/);
  assert.equal(c.outputs.mqtt.broker, 'embedded');
});
