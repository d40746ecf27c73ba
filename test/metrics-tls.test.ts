import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashSync } from 'bcryptjs';
import { silentLogger } from '../src/common/logger.js';
import { metricsSchema } from '../src/outputs/metrics-settings.js';
import { MetricsServer } from '../src/outputs/metrics-server.js';
import { BasicAuth, readWebConfig } from '../src/outputs/metrics-web-config.js';
import { prerequisiteTest, runCli } from './helpers.js';
import { NO_PROMETHEUS } from './metrics-helpers.js';
import { freePort } from './mqtt-helpers.js';

const HAVE_OPENSSL = spawnSync('openssl', ['version'], { stdio: 'ignore' }).error === undefined;
const NO_TLS_TOOLS: string | false = NO_PROMETHEUS || (HAVE_OPENSSL ? false : 'openssl is not installed');

/** A private CA and a server certificate for 127.0.0.1 signed by it, made by openssl in `dir`. */
function makeCertificates(dir: string): void {
  const run = (args: string[]): void => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=myostream test CA']);
  run(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  run([
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '2',
    '-extfile',
    'san.ext',
  ]);
}

/** A GET over TLS trusting `ca`; the status and body. */
function get(
  url: string,
  ca: string,
  auth?: string,
): Promise<{ status: number; body: string; wwwAuthenticate: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: readFileSync(ca), ...(auth ? { auth } : {}) }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body, wwwAuthenticate: res.headers['www-authenticate'] }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

prerequisiteTest(
  'Prometheus scrapes /metrics over TLS with a password; a wrong password is refused with 401',
  { skip: NO_TLS_TOOLS },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'myo-metrics-tls-'));
    makeCertificates(dir);
    // Cost 8 keeps the test quick on a busy machine; the format is the one htpasswd -B writes.
    writeFileSync(
      join(dir, 'web.yml'),
      `tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  prometheus: '${hashSync('s3cret pass', 8)}'\n`,
    );
    // 0.0.0.0 is not loopback: this is the path that must have TLS and a password.
    const settings = metricsSchema.parse({
      enabled: true,
      host: '0.0.0.0',
      port: 0,
      process_metrics: false,
      web_config_file: join(dir, 'web.yml'),
    });
    const server = MetricsServer.for(settings, silentLogger(), { version: '9.9.9' });
    server.attach('main', {
      counts: () => ({ poses: 42 }),
      gauges: () => ({ mqtt_connected: 1 }),
      mode: () => 'streaming',
      identity: () => ({ hand: 'right', band: 'b1' }),
      providers: { encoder: 'cpu' },
    });
    let prom: ReturnType<typeof spawn> | undefined;
    let promLog = '';
    try {
      await server.listen();
      assert.match(server.url, /^https:\/\/0\.0\.0\.0:\d+\/metrics$/);
      const port = Number(/:(\d+)\/metrics$/.exec(server.url)![1]);
      const target = `https://127.0.0.1:${port}/metrics`;

      // Node's own TLS client first: the answers Prometheus will get.
      assert.equal((await get(target, join(dir, 'ca.crt'), 'prometheus:s3cret pass')).status, 200);
      const wrong = await get(target, join(dir, 'ca.crt'), 'prometheus:guess');
      assert.equal(wrong.status, 401);
      assert.match(wrong.wwwAuthenticate ?? '', /^Basic realm=/);
      assert.equal((await get(target, join(dir, 'ca.crt'))).status, 401, 'no credentials');
      assert.equal((await get(target, join(dir, 'ca.crt'), 'nobody:s3cret pass')).status, 401, 'unknown user');
      assert.equal(
        (await get(target.replace('/metrics', '/other'), join(dir, 'ca.crt'))).status,
        401,
        'nothing is served before the password',
      );

      const promPort = await freePort();
      const tls = `    scheme: https\n    tls_config:\n      ca_file: ${join(dir, 'ca.crt')}\n`;
      writeFileSync(
        join(dir, 'prometheus.yml'),
        `global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n` +
          `  - job_name: myostream\n${tls}    basic_auth:\n      username: prometheus\n      password: 's3cret pass'\n    static_configs:\n      - targets: ['127.0.0.1:${port}']\n` +
          `  - job_name: wrong-password\n${tls}    basic_auth:\n      username: prometheus\n      password: guess\n    static_configs:\n      - targets: ['127.0.0.1:${port}']\n`,
      );
      prom = spawn(
        'prometheus',
        [
          `--config.file=${join(dir, 'prometheus.yml')}`,
          `--storage.tsdb.path=${join(dir, 'data')}`,
          `--web.listen-address=127.0.0.1:${promPort}`,
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      prom.stderr!.on('data', (d: Buffer) => (promLog += d.toString()));
      const exited = new Promise<void>((r) => prom!.once('exit', () => r()));

      // Wait on progress: Prometheus logging or its targets changing; stuck for 30 s fails.
      interface Target {
        labels: { job: string };
        health: string;
        lastError: string;
        lastScrape: string;
      }
      let targets: Target[] = [];
      let seen = '';
      let movedAt = Date.now();
      for (;;) {
        if (prom.exitCode !== null) throw new Error(`prometheus exited: ${promLog}`);
        try {
          const r = (await (await fetch(`http://127.0.0.1:${promPort}/api/v1/targets`)).json()) as {
            data: { activeTargets: Target[] };
          };
          targets = r.data.activeTargets;
        } catch {
          // not listening yet
        }
        const up = targets.find((t) => t.labels.job === 'myostream');
        const refused = targets.find((t) => t.labels.job === 'wrong-password');
        if (up?.health === 'up' && refused?.health === 'down') break;
        const now = JSON.stringify(targets) + promLog.length;
        if (now !== seen) {
          seen = now;
          movedAt = Date.now();
        } else if (Date.now() - movedAt > 30_000) {
          throw new Error(`no progress for 30 s; targets: ${JSON.stringify(targets)}\n${promLog}`);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      const refused = targets.find((t) => t.labels.job === 'wrong-password')!;
      assert.match(refused.lastError, /401/);
      // What it stored is what the node served.
      const q = (await (
        await fetch(
          `http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent('myostream_build_info{job="myostream"}')}`,
        )
      ).json()) as { data: { result: { metric: Record<string, string> }[] } };
      assert.equal(q.data.result.length, 1, JSON.stringify(q));
      assert.equal(q.data.result[0]!.metric['version'], '9.9.9');
      assert.equal(q.data.result[0]!.metric['band'], 'b1');
      assert.ok(server.authFailures >= 4, `auth failures ${server.authFailures}`);
      prom.kill('SIGTERM');
      await exited;
    } finally {
      if (prom && prom.exitCode === null) prom.kill('SIGKILL');
      await server.detach('main');
    }
  },
);

test('off loopback without a web config, or with one lacking TLS or users, the run is refused with one line and exit 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'myo-metrics-web-'));
  const none = runCli([
    'run',
    '--set',
    'outputs.metrics.enabled=true',
    '--set',
    'outputs.metrics.host=0.0.0.0',
    '--set',
    'input.duration_s=1',
  ]);
  assert.equal(none.status, 2, none.stderr);
  assert.match(none.stderr, /outputs\.metrics\.host.*0\.0\.0\.0.*not a loopback address.*web_config_file/);
  assert.equal(none.stderr.trim().split('\n').length, 1, none.stderr);

  writeFileSync(join(dir, 'users-only.yml'), `basic_auth_users:\n  p: '${hashSync('x', 4)}'\n`);
  const noTls = runCli([
    'run',
    '--set',
    'outputs.metrics.enabled=true',
    '--set',
    'outputs.metrics.host=0.0.0.0',
    '--set',
    'outputs.metrics.port=0',
    '--set',
    `outputs.metrics.web_config_file=${join(dir, 'users-only.yml')}`,
    '--set',
    'input.duration_s=1',
    '--set',
    'outputs.mqtt.enabled=false',
  ]);
  assert.equal(noTls.status, 2, noTls.stderr);
  assert.match(noTls.stderr, /not a loopback address.*users-only\.yml has no tls_server_config/);
  assert.doesNotMatch(noTls.stderr, /\n\s+at /, 'no stack trace');
});

test('the web config: exporter-toolkit keys read, relative PEM paths from its folder, anything else refused by name', () => {
  const dir = mkdtempSync(join(tmpdir(), 'myo-metrics-web-'));
  writeFileSync(join(dir, 'c.pem'), 'cert');
  writeFileSync(join(dir, 'k.pem'), 'key');
  const file = join(dir, 'web.yml');
  const hash = hashSync('x', 4);
  writeFileSync(
    file,
    `tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  min_version: TLS13\nbasic_auth_users:\n  alice: '${hash}'\n`,
  );
  const w = readWebConfig(file);
  assert.equal(String(w.tls?.cert), 'cert');
  assert.equal(w.tls?.minVersion, 'TLSv1.3');
  assert.equal(w.users.get('alice'), hash);
  const refused = (text: string): string => {
    writeFileSync(file, text);
    try {
      readWebConfig(file);
    } catch (e) {
      return (e as Error).message;
    }
    return 'accepted';
  };
  assert.match(
    refused('tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n'),
    /web_config_file = .*web\.yml: tls_server_config: cipher_suites: not supported by myostream/,
  );
  assert.match(refused('basic_auth_users:\n  alice: plaintext\n'), /basic_auth_users\.alice: expected a bcrypt hash/);
  assert.match(
    refused('tls_server_config:\n  cert_file: missing.pem\n  key_file: k.pem\n'),
    /tls_server_config\.cert_file = missing\.pem: cannot read it \(ENOENT\)/,
  );
  assert.match(
    refused(
      'tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  client_auth_type: RequireAndVerifyClientCert\n',
    ),
    /client_ca_file: client_auth_type RequireAndVerifyClientCert needs client_ca_file/,
  );
  assert.match(refused('tls_server_config: [\n'), /not YAML/);
});

test('basic auth: one bcrypt check at a time (a second is answered busy), a good login remembered, failures counted', async () => {
  const auth = new BasicAuth(new Map([['prometheus', hashSync('right', 6)]]));
  const basic = (u: string, p: string): string => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
  const [a, b] = await Promise.all([
    auth.check(basic('prometheus', 'wrong')),
    auth.check(basic('prometheus', 'also wrong')),
  ]);
  assert.deepEqual([a, b], ['denied', 'busy']);
  assert.equal(await auth.check(basic('prometheus', 'right')), 'ok');
  // Remembered: answered while another check holds the one slot.
  const pending = auth.check(basic('intruder', 'x'));
  assert.equal(await auth.check(basic('prometheus', 'right')), 'ok');
  assert.equal(await pending, 'denied', 'an unknown user is refused after a full comparison');
  assert.equal(await auth.check(undefined), 'denied');
  assert.equal(await auth.check('Bearer abc'), 'denied');
  assert.equal(auth.failures, 4);
});
