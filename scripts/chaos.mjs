#!/usr/bin/env node
// Seeded chaos: drives the real daemon (the CLI over dist/, real files on a tmpfs, a real
// mosquitto, the simulators) through random schedules of faults and checks the promises after
// each. A development tool: it needs the devDependency ajv (schemas), root (it mounts a tmpfs)
// and mosquitto on PATH.
//
//   npm run chaos -- --seed 7 --schedules 50        # 50 schedules from seed 7
//   npm run chaos -- --seed 7 --only 12             # replays schedule 12 of seed 7
//   npm run chaos -- --replay '<schedule JSON>'     # replays a printed schedule (or a JSON array of them, or a file)
//   options: --keep (leave the work folders), --json FILE (every result), --quiet (table only),
//            --list (print the schedules, run nothing)
//
// Exit: 0 every invariant held, 1 some did not (each failure printed with its replay line),
// 2 cannot run here (not root, no mosquitto, no dist/).
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  closeSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
  linkSync,
  copyFileSync,
  readSync,
} from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'dist', 'src', 'main.js');
const require = createRequire(import.meta.url);

// ---------------------------------------------------------------------------------------------
// Arguments

function usage(msg) {
  process.stderr.write(
    `chaos: ${msg}\nusage: npm run chaos -- [--seed N] [--schedules K] [--only I[,J…]] [--replay JSON] [--keep] [--json FILE] [--quiet] [--list]\n`,
  );
  process.exit(2);
}

function parseArgs(argv) {
  const o = {
    seed: 1,
    schedules: 10,
    only: undefined,
    replay: undefined,
    keep: false,
    json: undefined,
    quiet: false,
    list: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
    if (a === '--seed') o.seed = Number(val());
    else if (a === '--schedules') o.schedules = Number(val());
    else if (a === '--only') o.only = val().split(',').map(Number);
    else if (a === '--replay') o.replay = val();
    else if (a === '--keep') o.keep = true;
    else if (a === '--json') o.json = val();
    else if (a === '--quiet') o.quiet = true;
    else if (a === '--list') o.list = true;
    else usage(`unknown argument ${a}`);
  }
  if (!Number.isInteger(o.seed) || o.seed < 0) usage('--seed takes a whole number ≥ 0');
  if (!Number.isInteger(o.schedules) || o.schedules < 1) usage('--schedules takes a whole number ≥ 1');
  if (o.only && o.only.some((n) => !Number.isInteger(n) || n < 0)) usage('--only takes schedule numbers (0-based)');
  return o;
}

// ---------------------------------------------------------------------------------------------
// Seeded schedules

function mulberry32(a) {
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Schedule i of seed s depends on (s, i) only: --only I replays it without the others. */
function scheduleRng(seed, index) {
  let h = 2166136261;
  for (const b of `${seed}:${index}`) h = Math.imul(h ^ b.charCodeAt(0), 16777619);
  return mulberry32(h >>> 0);
}

/** Plug-ins and the hooks the host runs for each (failpoints plugin.<name>.<hook>). */
const PLUGINS = [
  'artifacts',
  'latency',
  'memory',
  'clock_sync',
  'signal_quality',
  'step_recorder',
  'alignment',
  'watchdog',
  'state_guard',
  'poses_file',
  'metrics',
  'mqtt',
];
const HOOKS = ['start', 'listener', 'report', 'stop'];
const ARTIFACTS = [
  'summary.json',
  'events.jsonl',
  'streaming_metrics.jsonl',
  'latency_stats.json',
  'streaming_alignment.json',
  'poses.jsonl',
];

const SOURCES = [
  { name: 'synthetic', speed: 1 },
  { name: 'synthetic', speed: 0 },
  { name: 'ads1299-sim', speed: 1 },
  { name: 'i2c-sim', speed: 1 },
];

/** Fault kinds; `when` says which sources can have it. */
const FAULTS = {
  disk_full: { when: () => true },
  artifact_error: { when: () => true },
  plugin_throw: { when: () => true },
  shadow_throw: { when: () => true },
  broker_restart: { when: () => true },
  adc_stall: { when: (s) => s === 'i2c-sim' },
  nack_burst: { when: (s) => s === 'i2c-sim' },
  lost_drdy: { when: (s) => s === 'i2c-sim' || s === 'ads1299-sim' },
  detach: { when: (s) => s === 'ads1299-sim' },
  sighup: { when: () => true },
  sigstop: { when: () => true },
  sigkill_restart: { when: () => true },
  model_replaced: { when: () => true },
};

function makeSchedule(seed, index) {
  const r = scheduleRng(seed, index);
  const int = (lo, hi) => lo + Math.floor(r() * (hi - lo + 1));
  const pick = (xs) => xs[Math.floor(r() * xs.length)];
  const src = pick(SOURCES);
  // Signal seconds: unpaced runs go through theirs several times faster than real time.
  const signal_s = src.speed === 0 ? int(20, 40) : int(6, 10);
  const wall = src.speed === 0 ? 4 : signal_s;
  const kinds = Object.keys(FAULTS).filter((k) => FAULTS[k].when(src.name));
  const n = int(1, 3);
  const faults = [];
  const at = () => Math.round(r() * 0.7 * wall * 10) / 10;
  for (let f = 0; f < n; f++) {
    const kind = pick(kinds.filter((k) => !faults.some((x) => x.kind === k)));
    if (kind === undefined) break;
    const fault = { kind };
    switch (kind) {
      case 'disk_full':
        Object.assign(fault, { at: at(), for_s: int(1, 3) });
        break;
      case 'artifact_error':
        Object.assign(fault, { file: pick(ARTIFACTS), error: pick(['enospc', 'eio']), hit: int(1, 6) });
        break;
      case 'plugin_throw': {
        const hook = pick(HOOKS);
        Object.assign(fault, {
          plugin: pick(PLUGINS),
          hook,
          hit: hook === 'listener' ? int(1, 2000) : hook === 'report' ? int(1, 8) : 1,
        });
        break;
      }
      case 'shadow_throw':
        Object.assign(fault, { hit: int(1, 400) });
        break;
      case 'broker_restart':
        Object.assign(fault, { at: at(), for_s: int(1, 3) });
        break;
      case 'adc_stall':
        Object.assign(fault, { conversion: int(2000, 2000 * (signal_s - 2)) });
        break;
      case 'nack_burst':
        Object.assign(fault, { every: int(2000, 8000), frames: int(2, 200) });
        break;
      case 'lost_drdy':
        Object.assign(fault, { every: int(500, 6000) });
        break;
      case 'detach':
        Object.assign(fault, { channel: int(0, 15), at_s: int(1, signal_s - 2), for_s: int(0, 3) });
        break;
      case 'sighup':
        Object.assign(fault, { at: at(), fixed_after_s: int(1, 2) });
        break;
      case 'sigstop':
        Object.assign(fault, { at: at(), for_s: int(2, 15) / 10 });
        break;
      case 'sigkill_restart':
        Object.assign(fault, { at: at() });
        break;
      case 'model_replaced':
        Object.assign(fault, { at: at(), file: pick(['decoder_rollout.onnx', 'encoder.onnx', 'stream_step.onnx']) });
        break;
    }
    faults.push(fault);
  }
  return { seed, index, source: src.name, speed: src.speed, signal_s, faults };
}

/** Whether process `pid` catches SIGHUP (signal 1: bit 0 of SigCgt in /proc/PID/status). */
function catchesSighup(pid) {
  try {
    const m = /^SigCgt:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m !== null && (BigInt(`0x${m[1]}`) & 1n) === 1n;
  } catch {
    return false;
  }
}

function describeFault(f) {
  switch (f.kind) {
    case 'disk_full':
      return `disk full @${f.at}s for ${f.for_s}s`;
    case 'artifact_error':
      return `${f.error} ${f.file} #${f.hit}`;
    case 'plugin_throw':
      return `throw ${f.plugin}.${f.hook}${f.hook === 'listener' || f.hook === 'report' ? ` #${f.hit}` : ''}`;
    case 'shadow_throw':
      return `throw shadow #${f.hit}`;
    case 'broker_restart':
      return `broker down @${f.at}s for ${f.for_s}s`;
    case 'adc_stall':
      return `ADC stall @conv ${f.conversion}`;
    case 'nack_burst':
      return `NACK ${f.frames} every ${f.every}`;
    case 'lost_drdy':
      return `lost DRDY every ${f.every}`;
    case 'detach':
      return `detach ch${f.channel} @${f.at_s}s for ${f.for_s || '∞'}s`;
    case 'sighup':
      return `SIGHUP broken @${f.at}s, fixed +${f.fixed_after_s}s`;
    case 'sigstop':
      return `SIGSTOP @${f.at}s for ${f.for_s}s`;
    case 'sigkill_restart':
      return `SIGKILL @${f.at}s + restart`;
    case 'model_replaced':
      return `replace ${f.file} @${f.at}s`;
  }
  return f.kind;
}

// ---------------------------------------------------------------------------------------------
// The world: a tmpfs, mosquitto, files

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });
}

function portOpen(port) {
  return new Promise((r) => {
    const c = tcpConnect(port, '127.0.0.1', () => {
      c.destroy();
      r(true);
    });
    c.on('error', () => r(false));
  });
}

class Broker {
  constructor(dir, port) {
    this.port = port;
    this.conf = join(dir, 'mosquitto.conf');
    writeFileSync(this.conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
    this.proc = undefined;
  }
  async start() {
    this.proc = spawn('mosquitto', ['-c', this.conf], { stdio: 'ignore' });
    // Progress deadline: mosquitto either listens or exits; 20 s without either is a failure.
    for (let waited = 0; ; waited += 50) {
      if (await portOpen(this.port)) return;
      if (this.proc.exitCode !== null) throw new Error(`mosquitto exited ${this.proc.exitCode} on port ${this.port}`);
      if (waited > 20_000) throw new Error(`mosquitto did not listen on ${this.port}`);
      await sleep(50);
    }
  }
  async stop() {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await gone;
  }
}

function mountTmpfs(dir, sizeK) {
  mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeK}k`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0)
    throw new Error(`mount -t tmpfs ${dir}: ${r.stderr.trim() || r.error?.message || `exit ${r.status}`}`);
  return () => spawnSync('umount', ['-l', dir]);
}

/** Writes a filler file until the filesystem refuses (ENOSPC); returns its path. */
function fillDisk(dir) {
  const path = join(dir, '.chaos-filler');
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024, 0x55);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (e) {
    if (e.code !== 'ENOSPC') throw e;
  } finally {
    closeSync(fd);
  }
  // The last partial chunk may leave a few blocks: fill those with small writes too.
  const fd2 = openSync(path, 'a');
  try {
    for (;;) writeSync(fd2, chunk, 0, 512);
  } catch {
    /* full */
  } finally {
    closeSync(fd2);
  }
  return path;
}

/** A model folder of hard links to the package's models (a replaced file gets a new inode there only). */
function linkModels(dir) {
  mkdirSync(dir, { recursive: true });
  const src = join(ROOT, 'models');
  for (const f of readdirSync(src)) {
    if (!f.endsWith('.onnx') && f !== 'model_info.json') continue;
    try {
      linkSync(join(src, f), join(dir, f));
    } catch {
      copyFileSync(join(src, f), join(dir, f));
    }
  }
}

/** Replaces `file` atomically with other bytes of the same size (one byte flipped in the middle). */
function replaceModel(dir, file) {
  const path = join(dir, file);
  const bytes = readFileSync(path);
  bytes[bytes.length >> 1] ^= 0xff;
  const tmp = `${path}.chaos`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, path);
}

// ---------------------------------------------------------------------------------------------
// One daemon process

/**
 * A `run` process with what the harness saw of it: its log, exit, the metrics it served and the
 * JSON-lines files' growth (each snapshot must extend the previous one).
 */
class Daemon {
  constructor(label, args, env, files) {
    this.label = label;
    this.args = args;
    this.env = env;
    this.files = files;
    this.log = '';
    this.exit = undefined;
    this.killedByHarness = false;
    this.metricsUrl = undefined;
    this.scrapes = [];
    this.lastProgress = Date.now();
    this.frozenUntil = 0;
    this.shrunk = [];
    this.prefix = new Map();
    this.startedAt = Date.now();
  }

  start() {
    this.proc = spawn(process.execPath, [CLI, ...this.args], {
      cwd: ROOT,
      env: this.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const onData = (d) => {
      this.log += d.toString();
      this.lastProgress = Date.now();
      if (!this.metricsUrl) {
        const m = /"url":"(http:\/\/[^"]+\/metrics)"/.exec(this.log);
        if (m) this.metricsUrl = m[1];
      }
    };
    this.proc.stdout.on('data', onData);
    this.proc.stderr.on('data', onData);
    this.exited = new Promise((r) =>
      this.proc.once('exit', (code, signal) => {
        this.exit = { code, signal };
        this.endedAt = Date.now();
        r(this.exit);
      }),
    );
    return this;
  }

  get alive() {
    return this.exit === undefined;
  }

  signal(sig) {
    if (this.alive) this.proc.kill(sig);
  }

  /**
   * SIGHUP as `systemctl reload` sends it: systemd reloads only a unit that has started, so the
   * signal goes once the process catches it (Node's own start-up, before any of our code runs,
   * cannot); until then it waits.
   */
  reload() {
    const tryIt = () => {
      if (!this.alive) return;
      if (catchesSighup(this.proc.pid)) this.proc.kill('SIGHUP');
      else setTimeout(tryIt, 20);
    };
    tryIt();
  }

  /** One look at the JSON-lines files and /metrics; a file that lost bytes it had is noted. */
  async observe() {
    for (const f of this.files) {
      let size;
      try {
        size = statSync(f).size;
      } catch {
        continue;
      }
      const prev = this.prefix.get(f);
      const text = readHead(f, Math.min(size, 1 << 20));
      const whole = text.lastIndexOf('\n') + 1;
      if (prev !== undefined) {
        if (size < prev.length || !text.startsWith(prev.slice(0, Math.min(prev.length, text.length))))
          this.shrunk.push(`${basename(f)}: ${prev.length} bytes earlier, now ${size} or different`);
      }
      if (size > 0) this.lastProgress = Math.max(this.lastProgress, prev && prev.length === whole ? 0 : Date.now());
      this.prefix.set(f, text.slice(0, whole));
    }
    if (this.metricsUrl && this.alive && Date.now() >= this.frozenUntil) {
      try {
        const res = await fetch(this.metricsUrl, { signal: AbortSignal.timeout(2000) });
        if (res.ok)
          this.scrapes.push({
            at: Date.now(),
            values: parseMetrics(await res.text()),
            events: eventCounts(this.files.find((p) => p.endsWith('events.jsonl'))),
          });
      } catch {
        /* frozen, finishing or gone: scraped next time */
      }
    }
  }
}

function readHead(path, n) {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(n);
    const got = readSync(fd, b, 0, n, 0);
    return b.subarray(0, got).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

function parseMetrics(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const m = /^(myostream_[a-z_]+_total)\{[^}]*\} ([0-9.e+-]+)$/.exec(line);
    if (m) out[m[1]] = (out[m[1]] ?? 0) + Number(m[2]);
  }
  return out;
}

/** The product's own JSON-lines reader (dist/src/runs/jsonl.js), loaded once dist/ is known to exist. */
let readJsonl;

/** A torn last line is what a killed writer may leave (the reader skips it); any corrupt line inside is a defect. */
function readLines(path) {
  if (!path || !existsSync(path)) return { records: [], bad: [] };
  const r = readJsonl(path);
  return { records: r.records, bad: r.corrupt.map((c) => `${c.line} (byte offset ${c.offset})`) };
}

function eventCounts(path) {
  const c = {};
  for (const e of readLines(path).records) c[e.kind] = (c[e.kind] ?? 0) + 1;
  return c;
}

// ---------------------------------------------------------------------------------------------
// Schemas (ajv: a devDependency; this script is a development tool)

function loadValidators() {
  let Ajv, Ajv2020;
  try {
    Ajv = require('ajv').default;
    Ajv2020 = require('ajv/dist/2020.js').default;
  } catch {
    console.error('chaos: needs the devDependency ajv (npm ci without --omit=dev)');
    process.exit(2);
  }
  const ajv = new Ajv({ allErrors: true, strict: false });
  const ajv2020 = new Ajv2020({ allErrors: true, strict: false });
  const schema = (n) => JSON.parse(readFileSync(join(ROOT, 'schemas', `${n}.schema.json`), 'utf8'));
  const v = (n) => {
    const s = schema(n);
    return (String(s.$schema).includes('2020-12') ? ajv2020 : ajv).compile(s);
  };
  return {
    'summary.json': v('summary'),
    'latency_stats.json': v('latency_stats'),
    'model_info.json': v('model_info'),
    'streaming_alignment.json': v('streaming_alignment'),
    'streaming_metrics.jsonl': v('streaming_metrics.line'),
    'config_snapshot.yaml': v('config_snapshot'),
    pose: v('mqtt_pose'),
    health: v('mqtt_health'),
  };
}

// ---------------------------------------------------------------------------------------------
// Running one schedule

const PROGRESS_DEADLINE_MS = 60_000;

async function runSchedule(sch, validators, opts) {
  const work = mkdtempSync(join(tmpdir(), `myo-chaos-${sch.seed}-${sch.index}-`));
  const disk = join(work, 'disk');
  const unmount = mountTmpfs(disk, 16 * 1024);
  const port = await freePort();
  const broker = new Broker(work, port);
  const node = `chaos${sch.seed}x${sch.index}`;
  const notes = [];
  const applied = [];
  let mqttClient;
  const daemons = [];
  try {
    await broker.start();
    const mqtt = (await import('mqtt')).default;
    const received = { pose: [], health: [], status: [], event: [] };
    mqttClient = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
      clientId: `${node}-watch`,
      reconnectPeriod: 200,
      connectTimeout: 2000,
    });
    mqttClient.on('message', (topic, payload) => {
      const kind = topic.split('/').pop();
      if (!(kind in received)) return;
      try {
        received[kind].push({ at: Date.now(), msg: JSON.parse(payload.toString()) });
      } catch {
        received[kind].push({ at: Date.now(), msg: undefined, raw: payload.toString().slice(0, 80) });
      }
    });
    mqttClient.on('error', () => {});
    await mqttClient.subscribeAsync(`myostream/${node}/#`, { qos: 0 });

    const cfg = join(work, 'config.yaml');
    const goodConfig = readFileSync(join(ROOT, 'configs', 'realtime_config.yaml'), 'utf8');
    writeFileSync(cfg, goodConfig);
    const models = join(work, 'models');
    const needModels = sch.faults.some((f) => f.kind === 'model_replaced');
    if (needModels) linkModels(models);

    const failpoints = [];
    const sets = [];
    for (const f of sch.faults) {
      if (f.kind === 'artifact_error') failpoints.push(`artifact.${f.file}=${f.error}@${f.hit}`);
      if (f.kind === 'plugin_throw') failpoints.push(`plugin.${f.plugin}.${f.hook}=throw@${f.hit}`);
      if (f.kind === 'shadow_throw') failpoints.push(`shadow.after_step=throw@${f.hit}`);
      if (f.kind === 'adc_stall') sets.push(`acquisition.i2c.sim.drdy_lost_at=${f.conversion}`);
      if (f.kind === 'nack_burst')
        sets.push(`acquisition.i2c.sim.nack_every=${f.every}`, `acquisition.i2c.sim.nack_frames=${f.frames}`);
      if (f.kind === 'lost_drdy')
        sets.push(`acquisition.${sch.source === 'i2c-sim' ? 'i2c' : 'ads1299'}.sim.missed_drdy_every=${f.every}`);
      if (f.kind === 'detach')
        sets.push(
          `acquisition.ads1299.sim.detach_channels=[${f.channel}]`,
          `acquisition.ads1299.sim.detach_at_s=${f.at_s}`,
          `acquisition.ads1299.sim.detach_for_s=${f.for_s}`,
          'acquisition.ads1299.lead_off=true',
        );
    }
    const env = {
      ...process.env,
      MYOSTREAM_DIGEST_CACHE: join(work, 'digests.json'),
      MYOSTREAM_ARTIFACTS: join(disk, 'runs'),
    };
    delete env.STATE_DIRECTORY;
    delete env.NOTIFY_SOCKET;
    if (failpoints.length > 0) env.MYOSTREAM_FAILPOINTS = failpoints.join(';');
    else delete env.MYOSTREAM_FAILPOINTS;

    const launch = (n) => {
      const runDir = join(disk, 'runs', `run-${n}`);
      const poses = join(disk, `poses-${n}.jsonl`);
      const args = [
        'run',
        '--config',
        cfg,
        '--source',
        sch.source,
        '--duration',
        String(sch.signal_s),
        '--speed',
        String(sch.speed),
        '--artifacts',
        runDir,
        '--poses-out',
        poses,
        '--quiet',
        '--set',
        'logging.format=json',
        '--set',
        'logging.level=info',
        '--set',
        'watchdog.status_interval_s=1',
        '--set',
        `outputs.mqtt.broker=mqtt://127.0.0.1:${port}`,
        '--set',
        `outputs.mqtt.node_id=${node}`,
        '--set',
        'outputs.mqtt.health_interval_s=1',
        '--set',
        'outputs.metrics.enabled=true',
        '--set',
        'outputs.metrics.port=0',
        ...(needModels ? ['--set', `model.dir=${models}`] : []),
        ...sets.flatMap((s) => ['--set', s]),
      ];
      const d = new Daemon(`run-${n}`, args, env, [
        join(runDir, 'events.jsonl'),
        join(runDir, 'streaming_metrics.jsonl'),
        poses,
      ]);
      d.runDir = runDir;
      d.poses = poses;
      daemons.push(d);
      return d.start();
    };

    let current = launch(1);
    // The moments count from the first pose (the models load first, at a speed that varies).
    for (;;) {
      await current.observe();
      if (!current.alive || (existsSync(current.poses) && statSync(current.poses).size > 0)) break;
      if (Date.now() - current.lastProgress > PROGRESS_DEADLINE_MS) break;
      await sleep(100);
    }
    const t0 = Date.now();
    const timers = [];
    const at = (s, fn) => timers.push({ due: t0 + s * 1000, fn });
    let filler;
    const brokerDown = [];
    for (const f of sch.faults) {
      switch (f.kind) {
        case 'disk_full':
          at(f.at, () => {
            filler = fillDisk(disk);
            applied.push(f.kind);
          });
          at(f.at + f.for_s, () => {
            if (filler) rmSync(filler, { force: true });
            filler = undefined;
          });
          break;
        case 'broker_restart':
          at(f.at, async () => {
            await broker.stop();
            brokerDown.push({ from: Date.now(), to: Infinity });
            applied.push(f.kind);
          });
          at(f.at + f.for_s, async () => {
            await broker.start();
            if (brokerDown.length) brokerDown.at(-1).to = Date.now();
          });
          break;
        case 'sighup':
          at(f.at, () => {
            writeFileSync(cfg, 'model: [this is\n  not: yaml\n');
            current.reload();
            applied.push(f.kind);
          });
          at(f.at + f.fixed_after_s, () => {
            writeFileSync(cfg, goodConfig);
            current.reload();
          });
          break;
        case 'sigstop':
          at(f.at, () => {
            if (!current.alive) return;
            current.frozenUntil = Date.now() + f.for_s * 1000 + 500;
            current.signal('SIGSTOP');
            applied.push(f.kind);
          });
          at(f.at + f.for_s, () => {
            current.signal('SIGCONT');
            current.lastProgress = Date.now();
          });
          break;
        case 'sigkill_restart':
          at(f.at, async () => {
            if (!current.alive) return;
            current.killedByHarness = true;
            current.signal('SIGCONT');
            current.signal('SIGKILL');
            await current.exited;
            applied.push(f.kind);
            current = launch(2);
          });
          break;
        case 'model_replaced':
          at(f.at, () => {
            replaceModel(models, f.file);
            applied.push(f.kind);
          });
          break;
        default:
          applied.push(f.kind); // set at start: failpoints and simulator faults
      }
    }
    timers.sort((a, b) => a.due - b.due);

    // Runs the timeline while watching progress: no output, log line or file growth for
    // PROGRESS_DEADLINE_MS (outside a freeze the harness made) is a hang.
    let hung = false;
    for (;;) {
      while (timers.length > 0 && timers[0].due <= Date.now()) await timers.shift().fn();
      await current.observe();
      // A kill-and-restart timer replaces `current` before it returns: a dead `current` here is the end.
      if (!current.alive) break;
      if (Date.now() < current.frozenUntil) current.lastProgress = Date.now();
      if (Date.now() - current.lastProgress > PROGRESS_DEADLINE_MS) {
        hung = true;
        notes.push(`${current.label}: no progress for ${PROGRESS_DEADLINE_MS / 1000} s; killed`);
        current.signal('SIGCONT');
        current.signal('SIGKILL');
        await current.exited;
        break;
      }
      await sleep(200);
    }
    // Faults still due once the run ended are undone (a filled disk freed, the broker back).
    if (filler) rmSync(filler, { force: true });
    await sleep(300); // last retained/health messages in flight
    for (const d of daemons) {
      d.received = sliceReceived(received, d);
      // The final health can only arrive when the broker was up as the run ended.
      d.brokerUpAtEnd = !brokerDown.some(
        (w) => w.to >= (d.endedAt ?? Date.now()) - 2000 && w.from <= (d.endedAt ?? Date.now()),
      );
    }

    const checks = [];
    for (const d of daemons) checks.push(...checkDaemon(d, sch, validators, work));
    if (hung) checks.push({ name: 'progress', ok: false, why: notes.join('; ') });
    return { schedule: sch, applied, checks, work };
  } finally {
    try {
      await mqttClient?.endAsync(true);
    } catch {
      /* gone */
    }
    for (const d of daemons)
      if (d.alive) {
        d.signal('SIGCONT');
        d.signal('SIGKILL');
        await d.exited;
      }
    await broker.stop().catch(() => {});
    if (opts.keep) {
      // The tmpfs goes: its run folders and each daemon's log stay in the work folder.
      for (const d of daemons) writeFileSync(join(work, `${d.label}.log`), d.log);
      spawnSync('cp', ['-a', disk, join(work, 'disk-kept')]);
    }
    unmount();
    if (opts.keep) console.log(`   kept: ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

function sliceReceived(received, d) {
  const within = (x) => x.at >= d.startedAt && x.at <= (d.endedAt ?? Date.now()) + 300;
  return {
    pose: received.pose.filter(within),
    health: received.health.filter(within),
    event: received.event.filter(within),
  };
}

// ---------------------------------------------------------------------------------------------
// Invariants

const COUNT_KEYS = [
  // [name, summary path, health path, metric, event kind]
  ['poses', (s) => s.counts?.poses, (h) => h.poses, 'myostream_poses_total', undefined],
  ['gaps', (s) => s.counts?.gaps, (h) => h.counts?.gaps, 'myostream_gaps_total', 'gap'],
  ['stalls', (s) => s.counts?.stalls ?? 0, (h) => h.counts?.stalls ?? 0, 'myostream_stalls_total', 'stall'],
  ['drops', (s) => s.mqtt?.dropped, (h) => h.mqtt?.dropped, 'myostream_mqtt_dropped_total', undefined],
  ['reconnects', (s) => s.mqtt?.reconnects, (h) => h.mqtt?.reconnects, 'myostream_mqtt_reconnects_total', undefined],
];

function statusOf(runDir) {
  const r = spawnSync(process.execPath, [CLI, 'status', '--artifacts', runDir], {
    cwd: '/',
    encoding: 'utf8',
    timeout: 60_000,
  });
  const verdict = /^verdict\s+(PASSED|NOT PASSED|NO VERDICT)/m.exec(r.stdout)?.[1];
  const state = /^state\s+(.*)$/m.exec(r.stdout)?.[1];
  return { code: r.status, verdict, state, out: r.stdout + r.stderr };
}

function reportVerdict(runDir, work) {
  const out = join(work, `collect-${basename(runDir)}.tar.gz`);
  const r = spawnSync(process.execPath, [CLI, 'collect', '--artifacts', dirname(runDir), '-o', out, runDir], {
    cwd: '/',
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.status !== 0) return { code: r.status, out: r.stderr.trim().split('\n').pop() };
  const list = spawnSync('tar', ['-xzOf', out, '--wildcards', `*/runs/${basename(runDir)}/report.html`], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const verdict = /<span class="verdict [a-z]+">([A-Z ]+)<\/span>/.exec(list.stdout)?.[1];
  return { code: 0, verdict };
}

function checkDaemon(d, sch, validators, work) {
  const checks = [];
  const add = (name, ok, why = '') => checks.push({ name: `${d.label}: ${name}`, ok, why });
  const lines = d.log.split('\n').filter((l) => l.trim() !== '');
  const json = lines.map((l) => {
    try {
      return JSON.parse(l);
    } catch {
      return undefined;
    }
  });
  const plain = lines.filter((_, i) => json[i] === undefined);
  const killed = d.killedByHarness;
  const { code, signal } = d.exit ?? {};
  const summaryPath = join(d.runDir, 'summary.json');
  let summary;
  try {
    summary = JSON.parse(readFileSync(summaryPath, 'utf8'));
  } catch {
    /* checked below */
  }
  const disabled = summary?.plugins?.disabled ?? [];

  // 1. The exit: 0, or 2 with one line; never 1; no stack trace.
  if (killed) add('exit', signal === 'SIGKILL', `killed by the harness, got ${code ?? signal}`);
  else {
    const twoOk =
      code === 2 && plain.filter((l) => l.startsWith('myostream:') && !l.includes('failpoints armed')).length === 1;
    add(
      'exit',
      code === 0 || twoOk,
      `exit ${code ?? signal}: ${plain
        .filter((l) => !l.includes('failpoints armed'))
        .slice(-3)
        .join(' | ')
        .slice(0, 300)}`,
    );
  }
  const stack = lines.find((l) => /^\s+at .+(\(|:\d+:\d+)/.test(l) || /\\n\s+at /.test(l));
  add('no stack trace', stack === undefined, stack?.slice(0, 200));

  // 2. Every artifact that exists parses and validates; JSON-lines files only grew.
  const bad = [];
  if (existsSync(d.runDir)) {
    for (const f of readdirSync(d.runDir)) {
      const p = join(d.runDir, f);
      if (f.startsWith('.')) continue;
      try {
        if (f.endsWith('.json') && validators[f]) {
          const v = validators[f];
          if (!v(JSON.parse(readFileSync(p, 'utf8'))))
            bad.push(`${f}: ${v.errors?.[0]?.instancePath} ${v.errors?.[0]?.message}`);
        } else if (f.endsWith('.json')) JSON.parse(readFileSync(p, 'utf8'));
        else if (f === 'config_snapshot.yaml') {
          const yaml = require('yaml');
          const v = validators[f];
          if (!v(yaml.parse(readFileSync(p, 'utf8'))))
            bad.push(`${f}: ${v.errors?.[0]?.instancePath} ${v.errors?.[0]?.message}`);
        } else if (f.startsWith('streaming_metrics.jsonl')) {
          const r = readLines(p);
          if (r.bad.length) bad.push(`${f}: bad line ${r.bad[0]}`);
          const v = validators['streaming_metrics.jsonl'];
          const wrong = r.records.find((x) => !v(x));
          if (wrong)
            bad.push(`${f}: line step ${wrong.step}: ${v.errors?.[0]?.instancePath} ${v.errors?.[0]?.message}`);
        } else if (f.endsWith('.jsonl')) {
          const r = readLines(p);
          if (r.bad.length) bad.push(`${f}: bad line ${r.bad[0]}`);
        }
      } catch (e) {
        bad.push(`${f}: ${String(e.message ?? e).slice(0, 120)}`);
      }
    }
  }
  add('artifacts valid', bad.length === 0, bad.join('; '));
  add('JSON lines only grow', d.shrunk.length === 0, d.shrunk.join('; '));

  // 3. One verdict: status, collect's report and the end-of-run line agree; never PASSED for a
  // run that died, was killed, ended unrecorded, exited non-zero or had a plug-in disabled.
  if (summary === undefined && code === 2 && !existsSync(d.runDir)) {
    // Refused before its run folder was opened (a replaced model, say): nothing to judge but the exit.
    add('one verdict', true, 'exit 2 before the run folder existed');
    return checks;
  }
  const st = statusOf(d.runDir);
  const rep = reportVerdict(d.runDir, work);
  const end = json.find((j) => j?.msg === 'run finished');
  const endVerdict = end === undefined ? undefined : end.passed === true ? 'PASSED' : 'NOT PASSED';
  const verdicts = [
    `status ${st.verdict ?? `? (${st.out.trim().split('\n').pop()})`}`,
    `report ${rep.verdict ?? `? (${rep.out ?? 'no verdict in report.html'})`}`,
    `end line ${endVerdict ?? 'none'}`,
  ];
  const seen = [st.verdict, rep.verdict, endVerdict].filter((v) => v !== undefined);
  add(
    'one verdict',
    st.verdict !== undefined && rep.verdict !== undefined && seen.every((v) => v === seen[0]),
    verdicts.join(', '),
  );
  const mustFail = killed || (code ?? 1) !== 0 || disabled.length > 0 || !summary?.finished;
  const why = killed
    ? 'killed'
    : (code ?? 1) !== 0
      ? `exit ${code ?? signal}`
      : disabled.length
        ? `disabled ${disabled.map((x) => x.plugin).join(',')}`
        : !summary?.finished
          ? 'ended unrecorded'
          : '';
  add(
    'never PASSED when it should not',
    !mustFail || !seen.includes('PASSED'),
    `${why}: ${verdicts.join(', ')}; state ${st.state}`,
  );

  // 4. Counts agree: summary ↔ events at the end; every live health and /metrics reading is at
  // most the final figure and at most the events recorded by then.
  const events = eventCounts(join(d.runDir, 'events.jsonl'));
  if (summary?.finished && !killed) {
    const mism = [];
    for (const [name, fromSummary, , , kind] of COUNT_KEYS) {
      if (!kind) continue;
      const s = fromSummary(summary);
      if (s !== undefined && s !== (events[kind] ?? 0)) mism.push(`${name}: summary ${s}, events ${events[kind] ?? 0}`);
    }
    const srcStalls = summary.source?.stats?.stalls;
    if (srcStalls !== undefined && srcStalls !== (summary.counts?.stalls ?? 0))
      mism.push(`stalls: source.stats ${srcStalls}, counts ${summary.counts?.stalls ?? 0}`);
    add('counts: summary = events', mism.length === 0, mism.join('; '));
    const over = [];
    for (const [name, fromSummary, fromHealth, metric, kind] of COUNT_KEYS) {
      const fin = fromSummary(summary);
      if (fin === undefined) continue;
      for (const h of d.received.health) {
        const v = h.msg && fromHealth(h.msg);
        if (typeof v === 'number' && v > fin) {
          over.push(`${name}: health ${v} > final ${fin}`);
          break;
        }
      }
      for (const sc of d.scrapes) {
        const v = sc.values[metric];
        if (v !== undefined && v > fin) {
          over.push(`${name}: /metrics ${v} > final ${fin}`);
          break;
        }
        if (kind && v !== undefined && v > (sc.events[kind] ?? 0)) {
          over.push(`${name}: /metrics ${v} > ${sc.events[kind] ?? 0} ${kind} events by then`);
          break;
        }
      }
    }
    const last = d.received.health.at(-1)?.msg;
    if (
      code === 0 &&
      d.brokerUpAtEnd &&
      last &&
      summary.counts &&
      last.poses !== summary.counts.poses &&
      !disabled.some((x) => x.plugin === 'mqtt')
    ) {
      // The final tick publishes a last health: its counts are the summary's.
      over.push(`poses: last health ${last.poses}, summary ${summary.counts.poses}`);
    }
    add('counts: health, /metrics ≤ final', over.length === 0, over.join('; '));
  }

  // 5. Poses: age on every streaming pose, MQTT seq contiguous, the poses file complete.
  const file = readLines(d.poses).records;
  const ageless = file.filter(
    (p) => p.mode === 'streaming' && (typeof p.t_capture !== 'number' || typeof p.age_ms !== 'number'),
  );
  const mq = d.received.pose.map((x) => x.msg).filter(Boolean);
  const mqAgeless = mq.filter(
    (p) => p.mode === 'streaming' && (typeof p.t_capture !== 'number' || typeof p.age_ms !== 'number'),
  );
  const invalid = mq.find((p) => !validators.pose(p));
  add(
    'poses have t_capture, age_ms',
    ageless.length === 0 && mqAgeless.length === 0 && !invalid,
    `${ageless.length} of ${file.length} in the file, ${mqAgeless.length} of ${mq.length} on MQTT without${invalid ? `; invalid: ${validators.pose.errors?.[0]?.message}` : ''}`,
  );
  const brokerOut = sch.faults.some((f) => f.kind === 'broker_restart');
  let seqBad = '';
  for (let i = 1; i < mq.length; i++) {
    const gap = mq[i].seq - mq[i - 1].seq;
    if (gap <= 0) {
      seqBad = `seq ${mq[i - 1].seq} then ${mq[i].seq}`;
      break;
    }
    if (gap !== 1 && !brokerOut) {
      seqBad = `seq ${mq[i - 1].seq} then ${mq[i].seq}`;
      break;
    }
  }
  if (!seqBad && mq.length > 0 && mq[0].seq !== 0 && !brokerOut) seqBad = `first seq ${mq[0].seq}`;
  add('MQTT seq contiguous', seqBad === '', seqBad);
  let fileBad = '';
  for (let i = 1; i < file.length; i++)
    if (file[i].step !== file[i - 1].step + 1) {
      fileBad = `step ${file[i - 1].step} then ${file[i].step}`;
      break;
    }
  const posesDisabled = disabled.some((x) => x.plugin === 'poses_file');
  if (
    !fileBad &&
    summary?.finished &&
    !killed &&
    !posesDisabled &&
    summary.counts &&
    file.length !== summary.counts.poses
  )
    fileBad = `${file.length} lines, ${summary.counts.poses} poses counted`;
  add('poses file holds every pose', fileBad === '', fileBad);
  return checks;
}

// ---------------------------------------------------------------------------------------------
// Main

function replayLine(sch) {
  // A schedule read from --replay may not be what its seed and index generate.
  return sch.replayed
    ? `npm run chaos -- --replay '${JSON.stringify({ ...sch, replayed: undefined })}'`
    : `npm run chaos -- --seed ${sch.seed} --only ${sch.index}`;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.list) {
    const idx = opts.only ?? Array.from({ length: opts.schedules }, (_, i) => i);
    for (const i of idx) {
      const s = makeSchedule(opts.seed, i);
      console.log(`#${i} ${s.source}@${s.speed} ${s.signal_s}s: ${s.faults.map(describeFault).join('; ')}`);
    }
    return;
  }
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    console.error(
      'chaos: must run as root: each schedule mounts a small tmpfs (mount -t tmpfs) to fill a disk; run it with sudo',
    );
    process.exit(2);
  }
  if (spawnSync('mosquitto', ['-h'], { stdio: 'ignore' }).error) {
    console.error('chaos: needs mosquitto on PATH (apt-get install mosquitto)');
    process.exit(2);
  }
  if (!existsSync(CLI)) {
    console.error(`chaos: ${CLI} is missing: run npm run build first`);
    process.exit(2);
  }
  ({ readJsonl } = await import(pathToFileURL(join(ROOT, 'dist', 'src', 'runs', 'jsonl.js')).href));
  const validators = loadValidators();
  let schedules;
  if (opts.replay) {
    let s;
    try {
      s = JSON.parse(/^\s*[[{]/.test(opts.replay) ? opts.replay : readFileSync(opts.replay, 'utf8'));
    } catch (e) {
      usage(`--replay: not a schedule (${e.message})`);
    }
    schedules = (Array.isArray(s) ? s : [s]).map((x, i) => ({ index: i, seed: 0, ...x, replayed: true }));
    if (!schedules.every((x) => x && typeof x.source === 'string' && Array.isArray(x.faults)))
      usage('--replay: each schedule needs source and faults');
  } else {
    const idx = opts.only ?? Array.from({ length: opts.schedules }, (_, i) => i);
    schedules = idx.map((i) => makeSchedule(opts.seed, i));
  }
  const results = [];
  console.log(`chaos: seed ${opts.seed}, ${schedules.length} schedule(s)`);
  for (const sch of schedules) {
    if (!opts.quiet)
      console.log(
        `\n#${sch.index} ${sch.source}@${sch.speed} ${sch.signal_s}s: ${sch.faults.map(describeFault).join('; ')}`,
      );
    let r;
    try {
      r = await runSchedule(sch, validators, opts);
    } catch (e) {
      r = { schedule: sch, applied: [], checks: [{ name: 'harness', ok: false, why: String(e.stack ?? e) }] };
    }
    results.push(r);
    const failed = r.checks.filter((c) => !c.ok);
    if (!opts.quiet) {
      console.log(`   faults landed: ${r.applied.join(', ') || 'none'} (one due after the run ended does not land)`);
      for (const c of r.checks) console.log(`   ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}${c.ok ? '' : `: ${c.why}`}`);
      if (failed.length)
        console.log(`   replay: ${replayLine(sch)}${sch.replayed ? '' : `   (or --replay '${JSON.stringify(sch)}')`}`);
    }
  }

  // The table: schedule, faults, invariant results.
  const names = [
    'exit',
    'no stack trace',
    'artifacts valid',
    'JSON lines only grow',
    'one verdict',
    'never PASSED when it should not',
    'counts: summary = events',
    'counts: health, /metrics ≤ final',
    'poses have t_capture, age_ms',
    'MQTT seq contiguous',
    'poses file holds every pose',
  ];
  const short = ['exit', 'stack', 'valid', 'grow', 'verdict', '!PASS', 'cnt=ev', 'cnt≤', 'age', 'seq', 'poses'];
  console.log('\n' + ['#', 'source', 'faults', ...short].join(' | '));
  for (const r of results) {
    const cell = (n) => {
      const cs = r.checks.filter((c) => c.name.endsWith(`: ${n}`) || c.name === n);
      if (cs.length === 0) return '-';
      return cs.every((c) => c.ok) ? 'ok' : 'FAIL';
    };
    const harness = r.checks.find((c) => c.name === 'harness' || c.name === 'progress');
    const landed = `${r.applied.length}/${r.schedule.faults.length} landed`;
    console.log(
      [
        r.schedule.index,
        `${r.schedule.source}@${r.schedule.speed}`,
        `${r.schedule.faults.map(describeFault).join('; ')} (${landed})` + (harness ? ` [${harness.name} FAIL]` : ''),
        ...names.map(cell),
      ].join(' | '),
    );
  }
  const failing = results.filter((r) => r.checks.some((c) => !c.ok));
  console.log(`\n${results.length - failing.length} of ${results.length} schedules held every invariant`);
  for (const r of failing) {
    console.log(
      `FAILED #${r.schedule.index}: ${r.checks
        .filter((c) => !c.ok)
        .map((c) => `${c.name} (${c.why})`)
        .join('; ')}`,
    );
    console.log(`  replay: ${replayLine(r.schedule)}`);
  }
  if (opts.json)
    writeFileSync(
      opts.json,
      JSON.stringify(
        results.map((r) => ({ schedule: r.schedule, applied: r.applied, checks: r.checks })),
        null,
        2,
      ),
    );
  process.exitCode = failing.length ? 1 : 0;
}

await main();
