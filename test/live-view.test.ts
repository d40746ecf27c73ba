import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PACKAGE_ROOT } from '../src/common/paths.js';
import { liveViewSchema, type LiveViewSettings } from '../src/outputs/live-view-settings.js';
import { JOINT_NAMES } from '../src/domain/geometry.js';
import { newPoseEvent } from '../src/domain/pose.js';
import { LiveViewServer } from '../src/outputs/live-view-server.js';
import { LiveViewPlugin } from '../src/outputs/live-view.js';
import { PoseSmoothingPlugin } from '../src/outputs/pose-smoothing.js';
import { hostPlugins } from './live-host.js';

const settings = (over: Partial<LiveViewSettings> = {}): LiveViewSettings =>
  liveViewSchema.parse({ enabled: true, port: 0, ...over });

function get(
  url: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, url), { headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
        // An event stream never ends: its first message is enough.
        if (res.headers['content-type']?.startsWith('text/event-stream') && body.includes('\n\n')) {
          resolve({ status: res.statusCode!, body, type: res.headers['content-type'] ?? '' });
          req.destroy();
        }
      });
      res.on('end', () => resolve({ status: res.statusCode!, body, type: res.headers['content-type'] ?? '' }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Connects a viewer to /events; once the streams message has arrived, `emit` feeds the bus; gives
 * the streams message and the first pose frame (their data lines).
 */
function firstFrame(url: string, emit: () => void): Promise<{ streams: string; pose: string }> {
  return new Promise((resolve) => {
    let body = '';
    let emitted = false;
    const req = request(new URL('/events', url), { agent: false }, (res) =>
      res.on('data', (c: Buffer) => {
        body += c.toString();
        if (!emitted && body.includes('event: streams')) {
          emitted = true;
          emit();
        }
        const streams = /event: streams\ndata: (.*)\n/.exec(body);
        const pose = /event: pose\ndata: (.*)\n/.exec(body);
        if (streams && pose) {
          resolve({ streams: streams[1]!, pose: pose[1]! });
          req.destroy();
        }
      }),
    );
    req.end();
  });
}

test('live view settings: loopback by default, a network address only with allow_remote', () => {
  const d = liveViewSchema.parse({});
  assert.equal(d.enabled, false);
  assert.equal(d.host, '127.0.0.1');
  assert.equal(d.port, 8087);
  const bad = liveViewSchema.safeParse({ host: '0.0.0.0' });
  assert.equal(bad.success, false);
  assert.deepEqual(bad.error.issues[0]!.path, ['host']);
  assert.match(bad.error.issues[0]!.message, /allow_remote/);
  assert.equal(liveViewSchema.safeParse({ host: '0.0.0.0', allow_remote: true }).success, true);
  for (const h of ['localhost', '::1', '127.0.0.2', '[::1]'])
    assert.equal(liveViewSchema.safeParse({ host: h }).success, true, h);
  assert.equal(liveViewSchema.safeParse({ hots: 'x' }).success, false, 'unknown keys are refused');
});

test('the server serves the page from the package, refuses other hosts, methods and too many viewers', async () => {
  const s = new LiveViewServer(settings({ max_viewers: 1 }));
  const url = await s.listen();
  try {
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await get(url, '/');
    assert.equal(page.status, 200);
    assert.match(page.body, /<script type="module" src="\/live\.js">/);
    assert.equal((await get(url, '/hand-model.js')).status, 200);
    assert.equal((await get(url, '/../package.json')).status, 404);
    assert.equal((await get(url, '/', { host: 'evil.example:8087' })).status, 421);
    const first = await new Promise<{ status: number; destroy: () => void; body: string }>((resolve) => {
      const req = request(new URL('/events', url), (res) => {
        let body = '';
        res.on('data', (c: Buffer) => {
          body += c.toString();
          if (body.includes('event: streams')) resolve({ status: res.statusCode!, destroy: () => req.destroy(), body });
        });
      });
      req.end();
    });
    assert.equal(first.status, 200);
    const second = await get(url, '/events');
    assert.equal(second.status, 503);
    assert.match(second.body, /max_viewers/);
    assert.equal(s.refused, 1);
    first.destroy();
  } finally {
    await s.close();
  }
});

test('a viewer that does not read loses frames (counted) while one that reads gets the newest', async () => {
  const s = new LiveViewServer(settings({ max_viewers: 4, rate_hz: 1 }));
  const url = new URL(await s.listen());
  const ch = s.addStream('main', JOINT_NAMES);
  // The slow viewer: sends its request and never reads a byte.
  const slow = connect(Number(url.port), '127.0.0.1');
  slow.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  slow.pause();
  let fastBody = '';
  const fast = request(new URL('/events', url), (res) =>
    res.on('data', (c: Buffer) => {
      fastBody = (fastBody + c.toString()).slice(-4096);
    }),
  );
  fast.end();
  while (s.viewerCount < 2) await new Promise((r) => setTimeout(r, 10));

  const pose = newPoseEvent('streaming', new Float32Array(JOINT_NAMES.length));
  // Five poses between two sends: four are coalesced, the newest goes out.
  for (let i = 0; i < 5; i++) {
    pose.step = i;
    ch.pose(pose);
  }
  s.flush();
  assert.equal(ch.counts.coalesced, 4);
  assert.equal(ch.counts.sent, 2);

  let step = 5;
  for (let round = 0; round < 400 && ch.counts.dropped === 0; round++) {
    for (let i = 0; i < 200; i++) {
      pose.step = step++;
      pose.angles.fill(Math.sin(step));
      ch.pose(pose);
      s.flush();
    }
    await new Promise((r) => setImmediate(r));
  }
  assert.ok(ch.counts.dropped > 0, 'frames for the slow viewer were dropped');
  // The reader catches up: the last pose reaches it.
  const last = step - 1;
  const deadline = Date.now() + 20_000;
  while (!fastBody.includes(`"step":${last},`) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    ch.pose(pose);
    s.flush();
  }
  assert.ok(fastBody.includes(`"step":${last},`), 'the reading viewer got the newest pose');
  slow.destroy();
  fast.destroy();
  await s.close();
});

test('plug-in on a real bus: copies poses (the producer reuses its object), reports counts, shares one server between streams', async () => {
  // As the daemon does it: one server, not yet listening, handed to both streams' plug-ins,
  // which start at the same time; the first start makes it listen.
  const shared = new LiveViewServer(settings());
  const pl = new LiveViewPlugin(settings(), shared);
  const pr = new LiveViewPlugin(settings(), shared);
  const [left, right] = await Promise.all([hostPlugins([pl], 'left', true), hostPlugins([pr], 'right', true)]);
  const url = shared.url;
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  try {
    const hello = await get(url, '/events');
    assert.match(hello.body, /"id":"left".*"id":"right"/s);
    // A viewer connected first, then one pose whose object the producer overwrites at once
    // (producers reuse it): the frame must carry the values as they were at emit time.
    const frame = (
      await firstFrame(url, () => {
        const pose = newPoseEvent('streaming', new Float32Array(20));
        pose.angles[5] = 0.25;
        pose.step = 7;
        left.bus.emit('pose', pose);
        left.bus.emit('unit', {
          mode: 'streaming',
          computeMs: 1.5,
          cpuMs: 1,
          lastStep: 7,
          ringWritten: 0,
          sinceRestart: 1,
        });
        pose.angles[5] = 9;
        pose.step = 8;
      })
    ).pose;
    assert.deepEqual(left.report().disabled, []);
    const f = JSON.parse(frame) as { s: string; a: number[]; mode: string; step: number; ms: number };
    assert.equal(f.s, 'left');
    assert.equal(f.step, 7);
    assert.equal(f.ms, 1.5);
    assert.equal(f.a.length, 20);
    assert.equal(f.a[5], 0.25);
    const rep = left.report();
    assert.ok((rep.counts['live_view_frames_sent'] ?? 0) >= 1);
    assert.equal((rep.sections['live_view'] as { url: string }).url, url);
  } finally {
    await left.stop();
    await right.stop();
    await shared.close();
  }
});

test('a plug-in without a shared server owns one: listens in start; a taken port disables it and the run goes on', async () => {
  const own = new LiveViewPlugin(settings());
  const host = await hostPlugins([own]);
  const url = (host.report().sections['live_view'] as { url: string }).url;
  assert.equal((await get(url, '/')).status, 200);
  const clash = new LiveViewPlugin(settings({ port: Number(new URL(url).port) }));
  const other = await hostPlugins([clash]);
  const disabled = other.report().disabled;
  assert.equal(disabled.length, 1);
  assert.match(disabled[0]!.message, /outputs\.live_view: cannot listen on 127\.0\.0\.1:\d+ \(EADDRINUSE\)/);
  await other.stop();
  // A shared server on a taken port: every stream's live view is disabled alike, each run goes on.
  const taken = new LiveViewServer(settings({ port: Number(new URL(url).port) }));
  const hosts = await Promise.all(
    ['left', 'right'].map((id) => hostPlugins([new LiveViewPlugin(settings(), taken)], id, true)),
  );
  for (const h of hosts) {
    assert.match(h.report().disabled[0]?.message ?? '', /EADDRINUSE/);
    await h.stop();
  }
  await taken.close();
  await host.stop();
  await assert.rejects(get(url, '/'), /ECONNREFUSED/);
});

test('hand model: straight at zero, flexion folds toward the palm, abduction turns toward the thumb', async () => {
  const hm = (await import(pathToFileURL(join(PACKAGE_ROOT, 'web', 'live', 'hand-model.js')).href)) as {
    handPoints(a: ArrayLike<number>, names: readonly string[]): { digits: Record<string, number[][]> };
    FINGERS: Record<string, { base: number[]; lengths: number[] }>;
  };
  const zero = new Float32Array(20);
  const z = hm.handPoints(zero, JOINT_NAMES).digits;
  const len = hm.FINGERS['INDEX']!.lengths.reduce((a, b) => a + b, 0);
  const base = hm.FINGERS['INDEX']!.base;
  const tip = z['INDEX']![3]!;
  assert.ok(Math.abs(tip[1]! - base[1]! - len) < 1e-9 && Math.abs(tip[2]!) < 1e-9, 'index straight along +y');
  const a = new Float32Array(20);
  a[JOINT_NAMES.indexOf('INDEX_MCP_FE')] = Math.PI / 2;
  const bent = hm.handPoints(a, JOINT_NAMES).digits['INDEX']!;
  assert.ok(
    Math.abs(bent[3]![2]! + len) < 1e-4 && Math.abs(bent[3]![1]! - base[1]!) < 1e-4,
    '90° MCP flexion points the finger into the palm (−z)',
  );
  const b = new Float32Array(20);
  b[JOINT_NAMES.indexOf('INDEX_MCP_AA')] = 0.3;
  assert.ok(
    hm.handPoints(b, JOINT_NAMES).digits['INDEX']![3]![0]! > tip[0]!,
    'abduction moves the tip toward the thumb (+x)',
  );
  const c = new Float32Array(20);
  c[JOINT_NAMES.indexOf('THUMB_CMC_FE')] = 0.5;
  assert.ok(
    hm.handPoints(c, JOINT_NAMES).digits['THUMB']![3]![0]! < z['THUMB']![3]![0]!,
    'thumb CMC flexion moves it across the palm',
  );
  const d = new Float32Array(20);
  d[JOINT_NAMES.indexOf('THUMB_IP_FE')] = 1;
  const th = hm.handPoints(d, JOINT_NAMES).digits['THUMB']!;
  assert.deepEqual(th[2], z['THUMB']![2], 'IP flexion moves only the distal segment');
  assert.notDeepEqual(th[3], z['THUMB']![3]);
});

test('with smoothing on, frames carry the smoothed pose beside the raw one, and the page offers the switch', async () => {
  // The smoothing stage computes the smoothed stream once; the live view only shows it.
  const host = await hostPlugins(
    [
      new PoseSmoothingPlugin({ min_cutoff: 2, beta: 0.5, d_cutoff: 1 }),
      new LiveViewPlugin(settings(), undefined, true),
    ],
    'left',
    true,
  );
  const url = (host.report().sections['live_view'] as { url: string }).url;
  try {
    // Ten still poses, then a step of 1 rad in one joint: the raw frame jumps, the smoothed one lags.
    const frame = await firstFrame(url, () => {
      const pose = newPoseEvent('streaming', new Float32Array(20));
      for (let i = 0; i <= 10; i++) {
        pose.t = 0.915 + i * 0.02;
        pose.step = i;
        pose.angles[5] = i === 10 ? 1 : 0;
        host.bus.emit('pose', pose);
      }
    });
    const streams = JSON.parse(frame.streams) as { streams: { id: string; smoothed: boolean }[] };
    assert.deepEqual(
      streams.streams.map((s) => [s.id, s.smoothed]),
      [['left', true]],
    );
    const f = JSON.parse(frame.pose) as { step: number; a: number[]; sa: number[] };
    assert.equal(f.step, 10);
    assert.equal(f.a[5], 1);
    assert.equal(f.sa.length, 20);
    assert.ok(f.sa[5]! > 0 && f.sa[5]! < 1, `smoothed ${f.sa[5]} lags the raw step`);
    assert.equal(f.sa[0], 0);
    const page = await get(url, '/');
    assert.match(page.body, /id="smoothed"/);
    const script = await get(url, '/live.js');
    assert.match(script.body, /live\.view === 'smoothed' && p\.frame\.sa/);
  } finally {
    await host.stop();
  }
});

test('without smoothing, frames carry the raw pose only', async () => {
  const plugin = new LiveViewPlugin(settings());
  const host = await hostPlugins([plugin], 'left', true);
  const url = (host.report().sections['live_view'] as { url: string }).url;
  try {
    const hello = await get(url, '/events');
    assert.match(hello.body, /"smoothed":false/);
  } finally {
    await host.stop();
  }
});
