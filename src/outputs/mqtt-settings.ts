import { z } from 'zod';

/** What `broker:` accepts besides "embedded": the URL schemes MQTT.js can dial. */
export const BROKER_URL_SCHEMES = ['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'tls:', 'ws:', 'wss:'] as const;

export function isBrokerSpec(s: string): boolean {
  if (s === 'embedded') return true;
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return false;
  }
  // Credentials in the URL would end up in config_snapshot.yaml and the logs: they go in
  // username / password_env instead.
  return (
    (BROKER_URL_SCHEMES as readonly string[]).includes(u.protocol) &&
    u.hostname !== '' &&
    u.username === '' &&
    u.password === ''
  );
}

/**
 * A topic prefix: one or more non-empty levels, no wildcards (a publisher cannot use them), not
 * starting with `$` (reserved for the broker's own topics, e.g. $SYS). `{node_id}` is replaced.
 */
// eslint-disable-next-line no-control-regex -- MQTT forbids U+0000 in a topic
const TOPIC_PREFIX = /^[^$/+#\u0000][^/+#\u0000]*(\/[^/+#\u0000]+)*$/;
/** Node ids become a topic level and part of the client id: keep them to safe characters. */
const NODE_ID = /^([A-Za-z0-9_.-]{1,64})?$/;
const ENV_NAME = /^([A-Za-z_][A-Za-z0-9_]*)?$/;

/** Addresses the embedded broker may listen on without `embedded_allow_remote`. */
export function isLoopbackHost(h: string): boolean {
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/**
 * TLS towards an external broker (`mqtts://`, `wss://`). Paths to PEM files, read once at start;
 * empty = the system CAs / no client certificate.
 */
export const mqttTlsSchema = z
  .object({
    ca: z
      .string()
      .default('')
      .meta({ description: 'CA certificate(s) to trust instead of the system store: a private CA.' }),
    cert: z.string().default('').meta({ description: 'Client certificate for mutual TLS (needs `key`).' }),
    key: z
      .string()
      .default('')
      .meta({ description: 'Private key of the client certificate; its content is never logged.' }),
    reject_unauthorized: z
      .boolean()
      .default(true)
      .meta({ description: 'false accepts any server certificate: for a bench only, never in the field.' }),
  })
  .strict()
  .superRefine((t, ctx) => {
    if (t.cert && !t.key)
      ctx.addIssue({
        code: 'custom',
        path: ['key'],
        message: 'a client certificate (tls.cert) needs its private key (tls.key)',
      });
    if (t.key && !t.cert)
      ctx.addIssue({
        code: 'custom',
        path: ['cert'],
        message: 'a private key (tls.key) needs its client certificate (tls.cert)',
      });
  });

/**
 * The `outputs.mqtt:` section: where poses are published. Kept apart from schema.ts because the
 * broker settings grow on their own. docs/mqtt.md explains each choice.
 */
export const mqttSchema = z
  .object({
    enabled: z
      .boolean()
      .default(true)
      .meta({ description: 'Publish over MQTT (and start the embedded broker when broker is "embedded").' }),
    broker: z
      .string()
      .min(1)
      .refine(isBrokerSpec, {
        error: `expected "embedded" or a broker URL (${BROKER_URL_SCHEMES.map((p) => p + '//').join(' ')}host[:port]) without credentials (use username / password_env)`,
      })
      .default('embedded')
      .meta({
        description: '"embedded" starts an in-process broker on `embedded_port`; otherwise a URL (mqtt://host:1883).',
      }),
    embedded_port: z.number().int().min(0).max(65535).default(1883).meta({
      description: 'TCP port of the embedded broker; 0 = any free port (the one obtained is logged and reported).',
    }),
    embedded_host: z
      .string()
      .min(1)
      .default('127.0.0.1')
      .meta({
        description:
          'Interface the embedded broker listens on. Loopback by default: the embedded broker has no ' +
          'authentication, so opening it to the network (0.0.0.0) is a deliberate choice.',
      }),
    embedded_allow_remote: z
      .boolean()
      .default(false)
      .meta({
        description:
          'The override that lets `embedded_host` be an address other than loopback. The embedded broker has no ' +
          'authentication and no TLS: anyone who reaches it can read poses and, with the control plane on, ' +
          'switch modes. Prefer mosquitto with TLS and passwords for a LAN.',
      }),
    node_id: z
      .string()
      .regex(NODE_ID, 'expected up to 64 characters of A-Z a-z 0-9 _ . - (empty = host name)')
      .default('')
      .meta({ description: 'Names this device in topics and the status message; empty = the host name (sanitised).' }),
    topic_prefix: z
      .string()
      .regex(
        TOPIC_PREFIX,
        'expected topic levels separated by "/", without "+", "#", empty levels or a leading "$" or "/"',
      )
      .default('myostream/{node_id}')
      .meta({ description: 'Topics are <topic_prefix>/pose, /status, /meta, /event; `{node_id}` is replaced.' }),
    client_id: z
      .string()
      .max(256)
      .default('')
      .meta({ description: 'MQTT client id; empty = myostream-<node_id>-<pid>.' }),
    username: z.string().default('').meta({ description: 'Broker login name; empty = anonymous.' }),
    password_env: z
      .string()
      .regex(ENV_NAME, 'expected an environment variable name such as MYOSTREAM_MQTT_PASSWORD')
      .default('')
      .meta({
        description:
          'Name of the environment variable holding the password (never the password itself: the config is ' +
          'copied into every run folder).',
      }),
    password_file: z
      .string()
      .default('')
      .meta({ description: 'Or a file holding the password (first line; e.g. a systemd credential), read at start.' }),
    tls: mqttTlsSchema.prefault({}).meta({
      description:
        'TLS towards an external broker (mqtts://, wss://): PEM files read once at start; empty = the system CAs, no client certificate.',
    }),
    control: z
      .boolean()
      .default(true)
      .meta({
        description:
          'The control plane: requests on <prefix>/request/<name>, answers on <prefix>/response/<name>. false = ' +
          'a read-only node (nothing is subscribed).',
      }),
    health_interval_s: z
      .number()
      .min(0)
      .max(3600)
      .default(10)
      .meta({ description: 'Seconds between retained <prefix>/health messages; 0 = only on request.' }),
    protocol_version: z
      .union([z.literal('auto'), z.literal(4), z.literal(5)], { error: 'expected auto, 4 (MQTT 3.1.1) or 5 (MQTT 5)' })
      .default('auto')
      .meta({
        description:
          '4 = MQTT 3.1.1, 5 = MQTT 5; auto = 3.1.1 for the embedded broker (aedes has no MQTT 5), 5 for a URL ' +
          'with a fall-back to 3.1.1 if the broker refuses 5.',
      }),
    qos: z
      .union([z.literal(0), z.literal(1)], {
        error: 'expected 0 or 1 (QoS 2 adds two round trips per pose for nothing a live stream needs)',
      })
      .default(0)
      .meta({
        description:
          'QoS of pose messages. 0 = fire and forget (live data: a late pose is worthless); 1 = at least once, ' +
          'bounded in flight.',
      }),
    message_expiry_s: z
      .number()
      .int()
      .min(0)
      .max(3600)
      .default(1)
      .meta({
        description:
          'MQTT 5 message expiry of poses in seconds: a broker drops a pose it could not deliver within this ' +
          'time. 0 = none.',
      }),
    keepalive_s: z.number().int().min(1).max(65535).default(10).meta({
      description:
        'Keepalive in seconds; the broker publishes the offline will ~1.5× this after the link dies silently.',
    }),
    reconnect_period_s: z
      .number()
      .min(0.1)
      .max(3600)
      .default(1)
      .meta({ description: 'Seconds between reconnection attempts while the broker is unreachable.' }),
    connect_timeout_s: z
      .number()
      .min(0.1)
      .max(300)
      .default(5)
      .meta({ description: "Seconds to wait for the broker's CONNACK on each attempt." }),
    max_buffer_kb: z.number().int().min(4).max(65536).default(256).meta({
      description: 'Poses are dropped (and counted) while more than this many kB wait in the socket to the broker.',
    }),
  })
  .strict()
  .superRefine((m, ctx) => {
    // MQTT 3.1.1 has no password without a user name.
    if (m.password_env && !m.username)
      ctx.addIssue({
        code: 'custom',
        path: ['password_env'],
        message: 'a password needs outputs.mqtt.username as well',
      });
    if (m.password_file && !m.username)
      ctx.addIssue({
        code: 'custom',
        path: ['password_file'],
        message: 'a password needs outputs.mqtt.username as well',
      });
    if (m.password_file && m.password_env)
      ctx.addIssue({ code: 'custom', path: ['password_file'], message: 'set password_env or password_file, not both' });
    if ((m.tls.ca || m.tls.cert) && !/^(mqtts|ssl|tls|wss):/.test(m.broker)) {
      ctx.addIssue({
        code: 'custom',
        path: ['tls'],
        message: `TLS files are set but broker ${m.broker} is not a TLS URL (mqtts://, wss://)`,
      });
    }
    if (m.broker === 'embedded' && !m.embedded_allow_remote && !isLoopbackHost(m.embedded_host)) {
      ctx.addIssue({
        code: 'custom',
        path: ['embedded_host'],
        message: `the embedded broker (no authentication, no TLS) listens on loopback only; set outputs.mqtt.embedded_allow_remote=true to open it on ${m.embedded_host}, or use an external broker`,
      });
    }
    if (m.broker === 'embedded' && m.protocol_version === 5) {
      ctx.addIssue({
        code: 'custom',
        path: ['protocol_version'],
        message: 'the embedded broker (aedes) speaks MQTT 3.1.1 only: use 4 or auto, or an external MQTT 5 broker',
      });
    }
  })
  .meta({ description: 'Poses, status, events and health over MQTT, and the control plane (docs/mqtt.md).' });

export type MqttConfig = z.output<typeof mqttSchema>;
