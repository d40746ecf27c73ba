import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Aedes } from 'aedes';
import { UserError } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/logger.js';
import { isLoopbackHost, type MqttConfig } from './mqtt-settings.js';

export interface EmbeddedBrokerOptions {
  /** TCP port; 0 = any free port (read the one obtained from `port`). */
  port: number;
  /** Interface to listen on (127.0.0.1, 0.0.0.0, ::). */
  host?: string;
  /** Listen on an address other than loopback (outputs.mqtt.embedded_allow_remote). */
  allowRemote?: boolean;
  log?: Logger;
}

/** What the daemon holds for the one embedded broker its streams share. */
export interface DaemonBroker {
  /** What each stream's MQTT client dials. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Starts the process's embedded broker when `outputs.mqtt` asks for one (enabled, broker
 * "embedded"), once, before the streams start; undefined otherwise. Every stream connects to it
 * as its own client (its own Last Will), so one stream's client dying is seen by subscribers.
 * Close it after the streams have stopped, so their offline status reaches subscribers first.
 */
export async function startDaemonBroker(cfg: MqttConfig, log?: Logger): Promise<DaemonBroker | undefined> {
  if (!cfg.enabled || cfg.broker !== 'embedded') return undefined;
  const b = await EmbeddedBroker.start({
    port: cfg.embedded_port,
    host: cfg.embedded_host,
    allowRemote: cfg.embedded_allow_remote,
    ...(log ? { log } : {}),
  });
  return { url: b.url, port: b.port, close: () => b.close() };
}

/**
 * An in-process MQTT 3.1.1 broker (aedes, in-memory) on a TCP port, so that `npm start` publishes
 * poses with nothing else installed. Retained messages live as long as the process.
 */
export class EmbeddedBroker {
  private closing: Promise<void> | undefined;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly aedes: Aedes,
    private readonly server: Server,
    /** The port really listened on (the configured one, or the free one the OS chose for 0). */
    readonly port: number,
    readonly host: string,
    private readonly log: Logger,
  ) {
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
  }

  static async start(opts: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
    const host = opts.host ?? '127.0.0.1';
    const log = opts.log ?? silentLogger();
    if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
      throw new UserError(
        `outputs.mqtt.embedded_port = ${opts.port}: expected an integer 0..65535 (0 = any free port)`,
      );
    }
    if (!opts.allowRemote && !isLoopbackHost(host)) {
      throw new UserError(
        `outputs.mqtt.embedded_host ${host}: the embedded broker has no authentication or TLS and listens on loopback only; set outputs.mqtt.embedded_allow_remote=true to open it on ${host}, or use an external broker`,
      );
    }
    // Loaded only when an embedded broker is really started: most deployments use an external one.
    const { Aedes } = await import('aedes');
    const aedes = await Aedes.createBroker({ id: 'myostream-embedded' });
    const server = createServer((socket) => {
      aedes.handle(socket);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port: opts.port, host, exclusive: true }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      await new Promise<void>((r) => aedes.close(() => r()));
      throw listenError(e as NodeJS.ErrnoException, opts.port, host);
    }
    // A listening server only fails on exotic errors (EMFILE on accept): log, never crash the run.
    server.on('error', (e) => log.warn({ err: e.message }, 'embedded MQTT broker: server error'));
    aedes.on('clientError', (client, err) =>
      log.debug({ client: client.id, err: err.message }, 'embedded MQTT broker: client error'),
    );
    const port = (server.address() as AddressInfo).port;
    // The MQTT connected line names it (broker=mqtt://host:port) for the operator.
    log.debug({ port, host }, `embedded MQTT broker listening on ${host}:${port}`);
    return new EmbeddedBroker(aedes, server, port, host, log);
  }

  /** A URL a local client dials (the wildcard addresses are reached through loopback). */
  get url(): string {
    const h =
      this.host === '0.0.0.0'
        ? '127.0.0.1'
        : this.host === '::'
          ? '[::1]'
          : this.host.includes(':')
            ? `[${this.host}]`
            : this.host;
    return `mqtt://${h}:${this.port}`;
  }

  get connectedClients(): number {
    return this.aedes.connectedClients;
  }

  /**
   * Stops accepting, disconnects every client (their wills are not sent: aedes closes them as
   * the broker goes away) and releases the port. Idempotent. Close the publishing client first
   * so its offline status is delivered to subscribers before they are cut off.
   */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.aedes.close(() => {
        // Subscribers that did not go away with aedes's close (half-open sockets) would keep
        // server.close() waiting for ever.
        for (const s of this.sockets) s.destroy();
      });
    }).then(() => this.log.debug({ port: this.port }, 'embedded MQTT broker closed'));
    return this.closing;
  }
}

function listenError(e: NodeJS.ErrnoException, port: number, host: string): Error {
  const where = `${host}:${port}`;
  switch (e.code) {
    case 'EADDRINUSE':
      return new UserError(
        `outputs.mqtt.embedded_port ${port}: port already in use on ${host} (another MQTT broker, e.g. mosquitto, or another myostream?); ` +
          `choose another with --set outputs.mqtt.embedded_port=N (0 = any free port), or publish to the broker already there with --set outputs.mqtt.broker=mqtt://localhost:${port}`,
      );
    case 'EACCES':
    case 'EPERM':
      return new UserError(
        `outputs.mqtt.embedded_port ${port}: not allowed to listen on ${where} (${e.code}; ports below 1024 need root or CAP_NET_BIND_SERVICE); choose a port ≥ 1024, e.g. 1883`,
      );
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EINVAL':
      return new UserError(
        `outputs.mqtt.embedded_host ${host}: cannot listen on ${where} (${e.code}); use an address of this machine, 127.0.0.1 or 0.0.0.0`,
      );
    default:
      return new Error(`embedded MQTT broker: cannot listen on ${where}: ${e.message}`);
  }
}
