import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../src/common/logger.js';
import { loadConfig } from '../src/daemon/config.js';
import { leadOffBits } from '../src/acquisition/ads1299/frame.js';
import { REG, registerImage } from '../src/acquisition/ads1299/registers.js';
import { SignalQualityMonitor } from '../src/acquisition/signal-quality.js';
import type { ChannelQuality } from '../src/acquisition/source.js';
import { createSource } from '../src/acquisition/sources.js';
import { newPoseEvent } from '../src/domain/pose.js';
import { MqttSink } from '../src/outputs/mqtt-sink.js';
import { driveSource } from './acquisition-helpers.js';
import { runCli } from './helpers.js';
import { assertSchema, mqttConfig } from './mqtt-helpers.js';

const FS = 2000;

function monitor(
  changes: { c: ChannelQuality; at: number }[],
  over: Partial<ConstructorParameters<typeof SignalQualityMonitor>[0]> = {},
): SignalQualityMonitor {
  return new SignalQualityMonitor(
    {
      channels: 4,
      sampleRate: FS,
      hopSamples: 200,
      blocks: 2,
      mainsHz: 50,
      clipLevel: 1,
      flatRange: 0,
      maxClipFraction: 0.01,
      maxMainsShare: 0.5,
      ...over,
    },
    (c, at) => changes.push({ c, at }),
  );
}

/** A reproducible uniform noise in [-a, a). */
function noise(seed: number): (a: number) => number {
  let s = seed >>> 0;
  return (a) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 4294967296 - 0.5) * 2 * a;
  };
}

test('signal quality: RMS, mains share, clipping and a flat line per channel, judged every hop', () => {
  const changes: { c: ChannelQuality; at: number }[] = [];
  const m = monitor(changes);
  const rnd = noise(1);
  const f = new Float32Array(4);
  for (let n = 0; n < 4000; n++) {
    f[0] = rnd(0.1); // noise: good
    f[1] = 0.05 * Math.sin((2 * Math.PI * 50 * n) / FS) + rnd(0.01); // hum over a little noise
    f[2] = n >= 2000 && n % 10 === 0 ? 1.5 : rnd(0.1); // clips 10 % of the time from 1 s on
    f[3] = n >= 1000 ? 0.25 : rnd(0.1); // stuck from 0.5 s on
    m.push(f, 0);
  }
  const r = m.report();
  assert.equal(r.window_ms, 200);
  const [ok, hum, clip, flat] = r.channels;
  assert.deepEqual(ok!.reasons, []);
  assert.ok(Math.abs(ok!.rms - 0.1 / Math.sqrt(3)) < 0.01, `noise RMS ${ok!.rms}`);
  assert.ok(ok!.mains_share < 0.05, `noise mains share ${ok!.mains_share}`);
  assert.deepEqual(hum!.reasons, ['mains']);
  assert.ok(hum!.mains_share > 0.9, `hum share ${hum!.mains_share}`);
  assert.deepEqual(clip!.reasons, ['clipping']);
  assert.equal(clip!.clipped, 40);
  assert.equal(clip!.clipped_total, 200);
  assert.deepEqual(flat!.reasons, ['flat']);
  assert.equal(r.bad_mask, 0b1110);
  // Each went bad once, at the first hop whose window shows it.
  const at = Object.fromEntries(changes.map((x) => [x.c.channel, x.at]));
  assert.deepEqual(Object.keys(at).sort(), ['1', '2', '3']);
  assert.equal(at[1], 200);
  assert.equal(at[2], 2200);
  assert.equal(at[3], 1400, 'flat once the whole window is flat');
  assert.ok(changes.every((x) => !x.c.ok));
});

test('signal quality: 60 Hz mains is measured when configured, 50 Hz hum then is not', () => {
  const mk = (mainsHz: number): number => {
    const m = monitor([], { mainsHz, channels: 1 });
    for (let n = 0; n < 800; n++) m.push([Math.sin((2 * Math.PI * 60 * n) / FS)], 0);
    return m.report().channels[0]!.mains_share;
  };
  assert.ok(mk(60) > 0.99);
  assert.ok(mk(50) < 0.05);
});

test('ADS1299 lead-off: registers per the datasheet when enabled, flags decoded from the status word', () => {
  const base = {
    daisyChain: true,
    clockOut: true,
    sampleRate: 2000,
    gains: Array(8).fill(24),
    biasDrive: true,
  } as const;
  const on = registerImage({ ...base, reference: 'srb1', leadOff: true });
  assert.equal(on.get(REG.LOFF), 0x00, 'DC lead-off, 6 nA, 95 % threshold');
  assert.equal(on.get(REG.LOFF_SENSP), 0xff);
  assert.equal(on.get(REG.LOFF_SENSN), 0x00, 'SRB1: negative inputs share the reference pin');
  assert.equal(on.get(REG.CONFIG4), 0x02, 'PD_LOFF_COMP');
  assert.equal(registerImage({ ...base, reference: 'differential', leadOff: true }).get(REG.LOFF_SENSN), 0xff);
  const off = registerImage({ ...base, reference: 'srb1' });
  assert.equal(off.get(REG.LOFF_SENSP), 0x00);
  assert.equal(off.get(REG.CONFIG4), 0x00);
  // 1100 | LOFF_STATP 0x09 | LOFF_STATN 0x20 | GPIO 0x0
  const w = 0xc00000 | (0x09 << 12) | (0x20 << 4);
  assert.equal(leadOffBits(Uint8Array.of(w >> 16, (w >> 8) & 0xff, w & 0xff), 0), 0x29);
});

test('ads1299-sim: a detached electrode is flagged (lead-off) within a second and clears when reattached; hum is measured', async () => {
  const cfg = loadConfig(undefined, [
    'input.source=ads1299-sim',
    'input.duration_s=4',
    'acquisition.ads1299.lead_off=true',
    'acquisition.ads1299.sim.detach_channels=[3]',
    'acquisition.ads1299.sim.detach_at_s=1',
    'acquisition.ads1299.sim.detach_for_s=1.5',
    'acquisition.ads1299.sim.hum_volts=0.002',
    'acquisition.ads1299.sim.hum_channels=[9]',
    'acquisition.quality.mains_hz=60',
  ]);
  const src = await createSource(cfg, silentLogger());
  const r = await driveSource(src, 16_000);
  assert.equal(r.ring.written, 8000);
  const q = r.notes.filter((n) => n.kind === 'signal_quality');
  const ch3 = q.filter((n) => n.data?.['channel'] === 3);
  assert.equal(ch3.length, 2, JSON.stringify(q));
  assert.equal(ch3[0]!.data?.['ok'], false);
  assert.match(String(ch3[0]!.data?.['reasons']), /lead_off/);
  assert.ok(
    ch3[0]!.atSample >= 2000 && ch3[0]!.atSample <= 2000 + FS,
    `flagged at sample ${ch3[0]!.atSample}, detached at 2000`,
  );
  assert.equal(ch3[1]!.data?.['ok'], true);
  assert.ok(
    ch3[1]!.atSample >= 5000 && ch3[1]!.atSample <= 5000 + FS,
    `cleared at sample ${ch3[1]!.atSample}, reattached at 5000`,
  );
  const hum = q.find((n) => n.data?.['channel'] === 9);
  assert.match(String(hum?.data?.['reasons']), /mains/);
  const rep = src.quality!();
  assert.ok(rep);
  assert.equal(rep.mains_hz, 60);
  assert.equal(rep.bad_mask, 1 << 9, 'only the humming channel is bad at the end');
  assert.ok(
    rep.channels[9]!.mains_share > 0.5 && rep.channels[0]!.mains_share < 0.2,
    JSON.stringify(rep.channels.map((c) => c.mains_share)),
  );
  assert.ok(rep.channels[3]!.clipped_total > 0);
  assert.equal(src.qualityMask!(8000), 1 << 9);
  assert.equal(src.qualityMask!(ch3[0]!.atSample) & (1 << 3), 1 << 3, 'channel 3 bad from its event on');
  assert.equal(src.qualityMask!(ch3[0]!.atSample - 1) & (1 << 3), 0);
});

test('sources on the main thread are judged too: a synthetic run reports per-channel quality', async () => {
  const syn = await createSource(
    loadConfig(undefined, ['input.source=synthetic', 'input.duration_s=1']),
    silentLogger(),
  );
  await driveSource(syn, 4000);
  const rep = syn.quality!();
  assert.ok(rep && rep.channels.length === 16 && rep.bad_mask === 0, JSON.stringify(rep));
  assert.ok(
    rep.channels.every((c) => c.rms > 0.3 && c.rms < 3),
    'model-scale RMS',
  );
});

test('the pose quality flag: in the poses file while a channel is bad, in the MQTT pose, in summary.json', () => {
  const dir = mkdtempSync(join(tmpdir(), 'myostream-quality-'));
  try {
    const poses = join(dir, 'poses.jsonl');
    const root = join(dir, 'runs');
    const r = runCli([
      // At speed 0 the source runs far ahead of the poses: each pose still gets the mask judged for its own samples.
      'run',
      '--source',
      'ads1299-sim',
      '--duration',
      '3',
      '--speed',
      '0',
      '--set',
      `outputs.poses_out=${poses}`,
      '--set',
      `outputs.artifacts_root=${root}`,
      '--set',
      'outputs.mqtt.enabled=false',
      '--set',
      'acquisition.ads1299.lead_off=true',
      '--set',
      'acquisition.ads1299.sim.detach_channels=[2]',
      '--set',
      'acquisition.ads1299.sim.detach_at_s=1',
    ]);
    assert.equal(r.status, 0, r.stderr);
    const lines = readFileSync(poses, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { t: number; quality?: number });
    assert.equal(lines[0]!.quality, undefined, 'clean poses keep the four fields');
    assert.equal(lines.at(-1)!.quality, 1 << 2);
    const first = lines.find((l) => l.quality !== undefined)!;
    assert.ok(first.t > 1 && first.t < 2.1, `flag from t = ${first.t}`);
    const run = join(root, 'latest');
    const summary = JSON.parse(readFileSync(join(run, 'summary.json'), 'utf8')) as {
      signal_quality: { bad_channels: number[] };
      counts: Record<string, number>;
    };
    assert.deepEqual(summary.signal_quality.bad_channels, [2]);
    assert.equal(summary.counts['channels_went_bad'], 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const e = newPoseEvent('streaming', new Float32Array(20));
  e.quality = 5;
  const body = JSON.parse(new MqttSink(mqttConfig(), { mode: 'streaming' }).encodePose(e)) as Record<string, unknown>;
  assertSchema('mqtt_pose', body);
  assert.equal(body['quality'], 5);
});
