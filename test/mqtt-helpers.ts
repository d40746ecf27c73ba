import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { mqttSchema, type MqttConfig } from '../src/outputs/mqtt-settings.js';
import { newPoseEvent, type Mode, type PoseEvent } from '../src/domain/pose.js';
import { ROOT } from './helpers.js';

const ajv = new Ajv({ allErrors: true, strict: false });
const compiled = new Map<string, ValidateFunction>();

/** Throws with ajv's explanation when `value` does not match schemas/<name>.schema.json. */
export function assertSchema(name: string, value: unknown): void {
  let v = compiled.get(name);
  if (!v) {
    v = ajv.compile(JSON.parse(readFileSync(join(ROOT, 'schemas', `${name}.schema.json`), 'utf8')) as object);
    compiled.set(name, v);
  }
  if (!v(value)) throw new Error(`${name}: ${ajv.errorsText(v.errors)} in ${JSON.stringify(value)}`);
}

/** A full outputs.mqtt section: the schema's defaults, then the test's choices. */
export function mqttConfig(over: Partial<MqttConfig> = {}): MqttConfig {
  return mqttSchema.parse({
    embedded_port: 0,
    node_id: 'testnode',
    reconnect_period_s: 0.1,
    connect_timeout_s: 2,
    ...over,
  });
}

export interface Received {
  topic: string;
  retain: boolean;
  qos: number;
  body: Record<string, unknown>;
  expiry: number | undefined;
  correlationData?: Buffer | undefined;
  /** MQTT 5 content type and payload-format indicator (undefined on MQTT 3.1.1). */
  contentType?: string | undefined;
  utf8?: boolean | undefined;
}

const open = new Set<Subscriber>();

/** Ends subscribers a failed test left open (their reconnect timers would keep the file running). */
export async function closeSubscribers(): Promise<void> {
  await Promise.all([...open].map((s) => s.close()));
}

/** A subscriber on <prefix>/# that keeps every message it gets. */
export class Subscriber {
  readonly messages: Received[] = [];
  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(payload.toString()) as Record<string, unknown>;
      } catch {
        // Requests a test sends on purpose as garbage come back to a subscriber of <prefix>/#.
        body = { unparsable: payload.toString() };
      }
      this.messages.push({
        topic,
        retain: packet.retain,
        qos: packet.qos,
        body,
        expiry: packet.properties?.messageExpiryInterval,
        correlationData: packet.properties?.correlationData,
        contentType: packet.properties?.contentType,
        utf8: packet.properties?.payloadFormatIndicator,
      });
    });
  }

  static async open(url: string, filter: string, protocolVersion: 4 | 5 = 4): Promise<Subscriber> {
    return Subscriber.openWith(url, filter, { protocolVersion });
  }

  /** With client options of its own: credentials, TLS files, MQTT 5. */
  static async openWith(url: string, filter: string, opts: IClientOptions): Promise<Subscriber> {
    const client = connect(url, {
      reconnectPeriod: 100,
      clientId: `sub-${Math.random().toString(16).slice(2, 10)}`,
      ...opts,
    });
    client.on('error', () => undefined);
    const s = new Subscriber(client);
    open.add(s);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`subscriber: no connection to ${url}`)), 3000);
      client.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    await client.subscribeAsync(filter, { qos: 1 });
    return s;
  }

  on(topicSuffix: string): Received[] {
    return this.messages.filter((m) => m.topic.endsWith(topicSuffix));
  }

  async close(): Promise<void> {
    open.delete(this);
    await this.client.endAsync(true);
  }
}

export { waitFor } from './helpers.js';

/** One reused event, as the pipeline hands them out: each call advances it by one step. */
export function poseStream(mode: Mode = 'streaming'): () => PoseEvent {
  const e = newPoseEvent(mode, new Float32Array(20));
  let n = 0;
  return () => {
    e.step = n;
    e.t = (1830 + 40 * n) / 2000;
    for (let i = 0; i < 20; i++) e.angles[i] = Math.sin(0.1 * n + i) * 1.3;
    n++;
    return e;
  };
}

export const HAVE_MOSQUITTO = spawnSync('mosquitto', ['-h'], { stdio: 'ignore' }).error === undefined;

/** A port the OS had free a moment ago (port 0 semantics for a program that needs a number). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export interface Mosquitto {
  proc: ChildProcess;
  dir: string;
  ports: number[];
  /** Everything mosquitto wrote to stderr (its log), for failure messages. */
  log: () => string;
  stop(): Promise<void>;
}

/**
 * Starts mosquitto with the config `conf` returns for `n` fresh loopback ports (files it names
 * go in `dir`), and waits until every listener accepts connections.
 */
export async function startMosquitto(
  n: number,
  conf: (ports: number[], dir: string) => string,
  dir = mkdtempSync(join(tmpdir(), 'myo-mosq-')),
): Promise<Mosquitto> {
  const ports: number[] = [];
  for (let i = 0; i < n; i++) ports.push(await freePort());
  const file = join(dir, 'mosquitto.conf');
  writeFileSync(file, conf(ports, dir));
  const proc = spawn('mosquitto', ['-c', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const until = Date.now() + 5000;
  for (const port of ports) {
    for (;;) {
      const ok = await new Promise<boolean>((r) => {
        const c = tcpConnect(port, '127.0.0.1', () => {
          c.destroy();
          r(true);
        });
        c.on('error', () => r(false));
      });
      if (ok) break;
      if (Date.now() > until || proc.exitCode !== null) throw new Error(`mosquitto did not start: ${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    proc,
    dir,
    ports,
    log: () => log,
    async stop() {
      if (proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill();
      await exited;
    },
  };
}
