import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, ROOT, cliEnv, waitFor } from './helpers.js';

/** Debian's `prometheus` package gives both; CI installs it (.ci/run). */
export const HAVE_PROMTOOL = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).error === undefined;
export const HAVE_PROMETHEUS = spawnSync('prometheus', ['--version'], { stdio: 'ignore' }).error === undefined;
export const NO_PROMTOOL: string | false = HAVE_PROMTOOL
  ? false
  : 'promtool is not installed (Debian package prometheus)';
export const NO_PROMETHEUS: string | false = HAVE_PROMETHEUS
  ? false
  : 'prometheus is not installed (Debian package prometheus)';

/** `name{labels} value` lines of a scrape, keyed by name and labels. */
export function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/**
 * Every series name a scrape declares (its `# TYPE` lines, also for a gauge with no sample
 * yet), a histogram's or summary's with the suffixes Prometheus stores it under.
 */
export function declaredNames(text: string): Set<string> {
  const out = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = m as unknown as [string, string, string];
    out.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) out.add(name + s);
    if (type === 'summary') for (const s of ['_sum', '_count']) out.add(name + s);
  }
  return out;
}

/** Runs a command with `input` on stdin; its exit status and output together. */
export function runTool(
  file: string,
  args: readonly string[],
  input?: string,
): { status: number | null; output: string } {
  const r = spawnSync(file, [...args], { input, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

export interface LiveScrape {
  /** The scrape's text once the run has counted poses and judged its channels. */
  text: string;
  stderr: string;
  exitCode: number | null;
  artifacts: string;
}

/**
 * A real `myostream run` on the ADS1299 simulator with MQTT (embedded broker) and metrics on,
 * scraped once its series are all there; it then runs to its end. Waits on progress: it fails
 * when the poses counter stops moving for `stallMs`, not after a fixed time.
 */
export async function scrapeLiveRun(stallMs = 30_000): Promise<LiveScrape> {
  const artifacts = mkdtempSync(join(tmpdir(), 'myo-metrics-'));
  const child = spawn(
    process.execPath,
    [
      CLI,
      'run',
      '--source',
      'ads1299-sim',
      '--speed',
      '1',
      '--artifacts',
      artifacts,
      '--set',
      'input.duration_s=8',
      '--set',
      'input.hand=left',
      '--set',
      'input.band_id=band-07',
      '--set',
      'outputs.metrics.enabled=true',
      '--set',
      'outputs.metrics.port=0',
      '--set',
      'outputs.mqtt.broker=embedded',
      '--set',
      'outputs.mqtt.embedded_port=0',
    ],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: cliEnv() },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  let text = '';
  try {
    await waitFor(
      'the metrics URL in the log',
      () => /Prometheus metrics url=(\S+)/.test(stderr) || child.exitCode !== null,
      120_000,
    );
    const url = /Prometheus metrics url=(\S+)/.exec(stderr)?.[1];
    if (!url) throw new Error(`the run ended before serving metrics: ${stderr}`);
    let last = -1;
    let movedAt = Date.now();
    for (;;) {
      text = await (await fetch(url)).text();
      const s = samples(text);
      const poses = s.get('myostream_poses_total{stream="main"}') ?? 0;
      if (
        poses > 10 &&
        s.has('myostream_channels_bad{stream="main"}') &&
        s.get('myostream_mqtt_connected{stream="main"}') === 1
      )
        break;
      if (poses !== last) {
        last = poses;
        movedAt = Date.now();
      } else if (Date.now() - movedAt > stallMs) {
        throw new Error(`poses stopped at ${poses} for ${stallMs} ms before every series was there:\n${text}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (e) {
    child.kill('SIGTERM');
    await exited;
    throw e;
  }
  return { text, stderr, exitCode: await exited, artifacts };
}

const PROMQL_WORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'inf',
  'nan',
]);

/**
 * The metric names a PromQL expression (or a Grafana query with $variables) reads: what is left
 * once strings, label matchers, ranges, grouping clauses, variables, numbers, keywords and
 * function calls are taken out.
 */
export function promqlMetricNames(expr: string): Set<string> {
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{[^}]*\}|\$\w+/g, ' ');
  const out = new Set<string>();
  for (const m of s.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = m[0];
    const after = s.slice(m.index + word.length);
    if (/^\s*\(/.test(after)) continue; // a function
    if (PROMQL_WORDS.has(word.toLowerCase())) continue;
    if (/^\d/.test(s.slice(m.index - 1, m.index))) continue; // an exponent or unit of a number
    out.add(word);
  }
  return out;
}

/** The same for a Grafana query, whose template-variable form `label_values(selector, label)` names a label last. */
export function grafanaQueryMetricNames(query: string): Set<string> {
  const m = /^\s*label_values\((.*),\s*[A-Za-z_]\w*\s*\)\s*$/s.exec(query);
  return promqlMetricNames(m ? m[1]! : query);
}

/** Every query of a Grafana dashboard: panel targets (rows' panels too) and template variables. */
export function dashboardQueries(dashboard: unknown): string[] {
  const out: string[] = [];
  const d = dashboard as {
    panels?: unknown[];
    templating?: { list?: { type?: string; query?: unknown; definition?: string }[] };
  };
  const walk = (panels: unknown[] | undefined): void => {
    for (const p of panels ?? []) {
      const panel = p as { targets?: { expr?: string }[]; panels?: unknown[] };
      for (const t of panel.targets ?? []) if (typeof t.expr === 'string') out.push(t.expr);
      walk(panel.panels);
    }
  };
  walk(d.panels);
  for (const v of d.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : (v.query as { query?: string } | undefined)?.query;
    if (q) out.push(q);
  }
  return out;
}
