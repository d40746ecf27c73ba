import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { ServerOptions as HttpsOptions } from 'node:https';
import { dirname, resolve } from 'node:path';
import { TLSSocket } from 'node:tls';
import { compare } from 'bcryptjs';
import { parse } from 'yaml';
import { z } from 'zod';
import { UserError, errorMessage } from '../common/errors.js';

/**
 * The web-config file of Prometheus' exporters (exporter-toolkit), so that a site reuses the file
 * and hashes it has for node_exporter: `tls_server_config` and `basic_auth_users`. What
 * myostream does not implement (cipher suites, curves, HTTP/2 switches, headers) is refused by
 * name rather than silently ignored.
 */
const CLIENT_AUTH = [
  'NoClientCert',
  'RequestClientCert',
  'RequireAnyClientCert',
  'VerifyClientCertIfGiven',
  'RequireAndVerifyClientCert',
] as const;
type ClientAuth = (typeof CLIENT_AUTH)[number];
const TLS_VERSIONS = { TLS10: 'TLSv1', TLS11: 'TLSv1.1', TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' } as const;
const tlsVersion = z.enum(Object.keys(TLS_VERSIONS) as [keyof typeof TLS_VERSIONS], {
  error: 'expected TLS10, TLS11, TLS12 or TLS13',
});
/** bcrypt's modular-crypt form, as htpasswd -B and Python's bcrypt write it. */
const BCRYPT = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;

const webConfigSchema = z
  .object({
    tls_server_config: z
      .object({
        cert_file: z.string().min(1, 'the server certificate (PEM) is required'),
        key_file: z.string().min(1, 'the private key (PEM) is required'),
        client_auth_type: z
          .enum(CLIENT_AUTH, { error: `expected one of ${CLIENT_AUTH.join(', ')}` })
          .default('NoClientCert'),
        client_ca_file: z.string().default(''),
        min_version: tlsVersion.default('TLS12'),
        max_version: tlsVersion.default('TLS13'),
      })
      .strict()
      .superRefine((t, ctx) => {
        if (
          (t.client_auth_type === 'VerifyClientCertIfGiven' || t.client_auth_type === 'RequireAndVerifyClientCert') &&
          !t.client_ca_file
        ) {
          ctx.addIssue({
            code: 'custom',
            path: ['client_ca_file'],
            message: `client_auth_type ${t.client_auth_type} needs client_ca_file to verify against`,
          });
        }
      })
      .optional(),
    basic_auth_users: z
      .record(
        z.string().regex(/^[^:]+$/, 'a user name cannot hold a colon'),
        z.string().regex(BCRYPT, 'expected a bcrypt hash ($2y$…, as htpasswd -nB writes it)'),
      )
      .optional(),
  })
  .strict();

export interface WebConfig {
  /** Options for node:https, the PEM files read; absent = plain HTTP. */
  tls?: HttpsOptions;
  clientAuth: ClientAuth;
  /** User name → bcrypt hash; empty = no authentication. */
  users: ReadonlyMap<string, string>;
}

function zodLine(file: string, e: z.ZodError): string {
  const i = e.issues[0]!;
  const at = i.path.length > 0 ? i.path.join('.') : '(top level)';
  const what = i.code === 'unrecognized_keys' ? `${i.keys.join(', ')}: not supported by myostream` : i.message;
  return `outputs.metrics.web_config_file = ${file}: ${at}: ${what}`;
}

/** Reads and checks the file and the PEM files it names (relative to its own folder); any problem is one UserError line. */
export function readWebConfig(file: string): WebConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(
      `outputs.metrics.web_config_file = ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? errorMessage(e)})`,
    );
  }
  let raw: unknown;
  try {
    raw = parse(text) ?? {};
  } catch (e) {
    throw new UserError(`outputs.metrics.web_config_file = ${file}: not YAML (${errorMessage(e)})`);
  }
  const r = webConfigSchema.safeParse(raw);
  if (!r.success) throw new UserError(zodLine(file, r.error));
  const c = r.data;
  const pem = (key: string, path: string): Buffer => {
    const abs = resolve(dirname(file), path);
    try {
      return readFileSync(abs);
    } catch (e) {
      throw new UserError(
        `outputs.metrics.web_config_file = ${file}: tls_server_config.${key} = ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? errorMessage(e)})`,
      );
    }
  };
  const t = c.tls_server_config;
  const out: WebConfig = {
    clientAuth: t?.client_auth_type ?? 'NoClientCert',
    users: new Map(Object.entries(c.basic_auth_users ?? {})),
  };
  if (t) {
    if (TLS_VERSIONS[t.min_version] > TLS_VERSIONS[t.max_version])
      throw new UserError(
        `outputs.metrics.web_config_file = ${file}: tls_server_config.min_version ${t.min_version} is above max_version ${t.max_version}`,
      );
    const needCert = t.client_auth_type !== 'NoClientCert';
    out.tls = {
      cert: pem('cert_file', t.cert_file),
      key: pem('key_file', t.key_file),
      ...(t.client_ca_file ? { ca: pem('client_ca_file', t.client_ca_file) } : {}),
      minVersion: TLS_VERSIONS[t.min_version],
      maxVersion: TLS_VERSIONS[t.max_version],
      requestCert: needCert,
      // Only the strictest type is refused in the handshake; the others are judged per request.
      rejectUnauthorized: t.client_auth_type === 'RequireAndVerifyClientCert',
    };
  }
  return out;
}

/** Why a request's client certificate does not satisfy client_auth_type, or undefined when it does. */
export function clientCertProblem(req: IncomingMessage, type: ClientAuth): string | undefined {
  if (type === 'NoClientCert' || type === 'RequestClientCert' || type === 'RequireAndVerifyClientCert')
    return undefined;
  const sock = req.socket;
  const given = sock instanceof TLSSocket && Object.keys(sock.getPeerCertificate()).length > 0;
  if (type === 'RequireAnyClientCert') return given ? undefined : 'a client certificate is required';
  return given && !sock.authorized ? `client certificate not trusted (${String(sock.authorizationError)})` : undefined;
}

/** Successful logins kept so that a scrape every 15 s costs one hash comparison, not one each. */
const CACHE_MAX = 16;

/**
 * HTTP basic authentication against bcrypt hashes. bcrypt is slow by design (tens of ms at cost
 * 10): the comparison is the asynchronous one, so that the 50 Hz loop on this thread keeps
 * running, and one runs at a time — a flood of wrong passwords is answered 429 instead of
 * queueing CPU work. An unknown user is compared against a hash all the same, so the time taken
 * does not tell which users exist.
 */
export class BasicAuth {
  private readonly good = new Map<string, true>();
  private busy = false;
  failures = 0;
  /** A real hash at the usual cost (of a string no one logs in with), compared for unknown users. */
  private static readonly decoy = '$2b$10$bQAe9GLnXiMuE/odzChVSulYciwIhfK2jpL8soEcJMltifEYpG7Qq';

  constructor(private readonly users: ReadonlyMap<string, string>) {}

  get enabled(): boolean {
    return this.users.size > 0;
  }

  /** 'ok', 'denied' (answer 401) or 'busy' (another comparison is running: answer 429). */
  async check(header: string | undefined): Promise<'ok' | 'denied' | 'busy'> {
    const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
    const decoded = m ? Buffer.from(m[1]!, 'base64').toString('utf8') : '';
    const colon = decoded.indexOf(':');
    if (colon < 0) return this.deny();
    const user = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    const hash = this.users.get(user);
    const key = createHash('sha256')
      .update(`${user}\0${password}\0${hash ?? ''}`)
      .digest('base64');
    if (hash !== undefined && this.good.has(key)) return 'ok';
    if (this.busy) return 'busy';
    this.busy = true;
    let ok: boolean;
    try {
      ok = await compare(password, hash ?? BasicAuth.decoy).catch(() => false);
    } finally {
      this.busy = false;
    }
    if (!ok || hash === undefined) return this.deny();
    if (this.good.size >= CACHE_MAX) this.good.delete(this.good.keys().next().value!);
    this.good.set(key, true);
    return 'ok';
  }

  private deny(): 'denied' {
    this.failures++;
    return 'denied';
  }
}
