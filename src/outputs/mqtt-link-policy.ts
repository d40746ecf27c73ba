import type { IClientOptions, IClientPublishOptions, MqttClient } from 'mqtt';
import type { Logger } from '../common/logger.js';
import { UserError, errorMessage } from '../common/errors.js';
import type { MqttConfig } from './mqtt-settings.js';
import type { TlsFiles } from './mqtt-credentials.js';

/** MQTT 3.1.1 CONNACK 1 and MQTT 5 reason 132: the broker does not speak the version asked. */
export const UNSUPPORTED_PROTOCOL: ReadonlySet<number> = new Set([1, 132]);
/** Refusals that retrying will not cure: bad credentials, not authorised, banned, bad client id. */
export const AUTH_REFUSED: ReadonlySet<number> = new Set([2, 4, 5, 133, 134, 135, 138, 140]);
/** Incoming packets beyond this are refused by an MQTT 5 broker before they reach us (requests are ≤ 4 KiB). */
const MAX_INCOMING_PACKET = 64 * 1024;

/** Node's TLS failures that retrying with the same files will not cure (certificate, CA, host name, handshake alert). */
export function isTlsRefusal(code: unknown): boolean {
  return (
    typeof code === 'string' &&
    (code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_') || /CERT|SIGNATURE|ISSUER/.test(code))
  );
}

export interface LinkSettings {
  clientId: string;
  protocol: 4 | 5;
  tls: TlsFiles;
  password: string | undefined;
  /** The retained status topic and the offline payload the broker publishes when the link dies. */
  willTopic: string;
  willPayload: string;
  /** The control plane is on: an MQTT 5 client then bounds the packets it accepts. */
  receivesRequests: boolean;
}

/** MQTT.js options for one connection attempt (a downgrade to 3.1.1 builds them again). */
export function clientOptions(cfg: MqttConfig, s: LinkSettings): IClientOptions {
  const opts: IClientOptions = {
    clientId: s.clientId,
    protocolVersion: s.protocol,
    clean: true,
    keepalive: cfg.keepalive_s,
    reconnectPeriod: Math.round(cfg.reconnect_period_s * 1000),
    connectTimeout: Math.round(cfg.connect_timeout_s * 1000),
    // The point of the sink: QoS 0 poses must not pile up while disconnected.
    queueQoSZero: false,
    // Wrong credentials may be fixed on the broker side while we run: keep trying.
    reconnectOnConnackError: true,
    resubscribe: false,
    ...s.tls,
    rejectUnauthorized: cfg.tls.reject_unauthorized,
    will: { topic: s.willTopic, payload: Buffer.from(s.willPayload), qos: 1, retain: true },
  };
  if (s.protocol === 5) opts.will!.properties = { contentType: JSON_CONTENT_TYPE, payloadFormatIndicator: true };
  if (s.protocol === 5 && s.receivesRequests) opts.properties = { maximumPacketSize: MAX_INCOMING_PACKET };
  if (cfg.username) opts.username = cfg.username;
  if (s.password !== undefined) opts.password = s.password;
  return opts;
}

/** Every payload we publish is UTF-8 JSON: MQTT 5 lets the message say so. */
export const JSON_CONTENT_TYPE = 'application/json';

/**
 * Publish options for one of our JSON messages. MQTT 5 adds the content type and the
 * payload-format indicator (UTF-8), so a broker or a generic client can check or decode it
 * without knowing the topic; MQTT 3.1.1 has neither.
 */
export function jsonOptions(
  protocol: 4 | 5,
  qos: 0 | 1,
  retain: boolean,
  extra: IClientPublishOptions['properties'] = {},
): IClientPublishOptions {
  const o: IClientPublishOptions = { qos, retain };
  if (protocol === 5) o.properties = { contentType: JSON_CONTENT_TYPE, payloadFormatIndicator: true, ...extra };
  return o;
}

/** The options every pose is published with; message expiry needs MQTT 5. */
export function poseOptions(cfg: MqttConfig, protocol: 4 | 5): IClientPublishOptions {
  return jsonOptions(
    protocol,
    cfg.qos,
    false,
    protocol === 5 && cfg.message_expiry_s > 0 ? { messageExpiryInterval: cfg.message_expiry_s } : {},
  );
}

export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * What a client error means for the link: `downgrade` — an MQTT 3.1.1 broker refused MQTT 5
 * asked for by `auto`; `fatal` — a refusal retrying cannot cure, reported at start (credentials,
 * TLS files); `transient` — log it and let the client retry.
 */
export type LinkErrorVerdict = { kind: 'downgrade' } | { kind: 'fatal'; error: UserError } | { kind: 'transient' };

export function judgeLinkError(
  err: Error & { code?: number | string },
  s: { url: string; protocol: 4 | 5; auto: boolean; starting: boolean },
): LinkErrorVerdict {
  const code = typeof err.code === 'number' ? err.code : undefined;
  if (code !== undefined && UNSUPPORTED_PROTOCOL.has(code) && s.protocol === 5 && s.auto) return { kind: 'downgrade' };
  if (!s.starting) return { kind: 'transient' };
  if (code !== undefined && AUTH_REFUSED.has(code)) {
    return {
      kind: 'fatal',
      error: new UserError(
        `outputs.mqtt: broker ${s.url} refused the connection: ${err.message} (check username, password_env / password_file, client_id)`,
      ),
    };
  }
  if (isTlsRefusal(err.code)) {
    return {
      kind: 'fatal',
      error: new UserError(
        `outputs.mqtt.tls: TLS with broker ${s.url} failed: ${err.message} (${String(err.code)}; check tls.ca, tls.cert, tls.key and the broker's certificate)`,
      ),
    };
  }
  return { kind: 'transient' };
}

/** endClient() waits this long for the broker to acknowledge the offline status, and again for the disconnect. */
const CLOSE_FLUSH_MS = 2000;

/**
 * Publishes the retained offline status if still connected, waits (bounded) for its
 * acknowledgement, then disconnects cleanly so that the broker discards the will. Never throws.
 */
export async function endClient(
  c: MqttClient,
  offline: { topic: string; payload: string; protocol: 4 | 5 },
  log: Logger,
): Promise<void> {
  if (c.connected) {
    await withTimeout(
      c.publishAsync(offline.topic, offline.payload, jsonOptions(offline.protocol, 1, true)).then(() => undefined),
      CLOSE_FLUSH_MS,
    ).catch((e: unknown) => {
      log.warn({ err: errorMessage(e) }, 'MQTT: offline status not acknowledged');
    });
  }
  const clean = await withTimeout(
    c.endAsync(!c.connected).then(() => true),
    CLOSE_FLUSH_MS,
  ).catch(() => false);
  // end() is already under way and waits for acknowledgements that will not come: cut the
  // socket (no reconnect follows, the client is disconnecting).
  if (!clean) c.stream?.destroy();
  c.removeAllListeners();
  // A late socket error after end() must not become an unhandled 'error' event.
  c.on('error', () => undefined);
}
