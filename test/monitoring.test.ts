import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT, prerequisiteTest } from './helpers.js';
import { NO_PROMTOOL, grafanaQueryMetricNames, promqlMetricNames, runTool } from './metrics-helpers.js';

const MONITORING = join(ROOT, 'monitoring');

/** The alerts the issue asks the mixin for, by name. */
const REQUIRED_ALERTS = [
  'MyostreamDown',
  'MyostreamAbsent',
  'MyostreamPoseRateLow',
  'MyostreamPoseAgeHigh',
  'MyostreamFallbackLasting',
  'MyostreamChannelsBad',
  'MyostreamBrokerLinkDown',
  'MyostreamMemoryDrift',
  'MyostreamClockNotSynchronised',
];

interface RuleFile {
  groups: { name: string; rules: { alert?: string; expr: string }[] }[];
}

test('the alerting rules name every alert the mixin promises, each with a severity and a summary', () => {
  const file = parse(readFileSync(join(MONITORING, 'alerts.yaml'), 'utf8')) as RuleFile;
  const rules = file.groups.flatMap((g) => g.rules) as {
    alert: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  }[];
  assert.deepEqual(rules.map((r) => r.alert).sort(), [...REQUIRED_ALERTS].sort());
  for (const r of rules) {
    assert.match(r.labels?.['severity'] ?? '', /^(warning|critical)$/, r.alert);
    assert.ok(r.annotations?.['summary'], r.alert);
  }
  // Each alert has a unit test.
  const tests = readFileSync(join(MONITORING, 'alerts.test.yaml'), 'utf8');
  for (const a of REQUIRED_ALERTS) assert.match(tests, new RegExp(`alertname: ${a}\\n`), a);
});

prerequisiteTest('promtool accepts the rules and their unit tests pass', { skip: NO_PROMTOOL }, () => {
  const check = runTool('promtool', ['check', 'rules', join(MONITORING, 'alerts.yaml')]);
  assert.equal(check.status, 0, check.output);
  const unit = runTool('promtool', ['test', 'rules', join(MONITORING, 'alerts.test.yaml')]);
  assert.equal(unit.status, 0, unit.output);
});

prerequisiteTest(
  'the rule unit tests fail when a rule changes (they test the rules, not themselves)',
  { skip: NO_PROMTOOL },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'myo-rules-'));
    copyFileSync(join(MONITORING, 'alerts.test.yaml'), join(dir, 'alerts.test.yaml'));
    const rules = readFileSync(join(MONITORING, 'alerts.yaml'), 'utf8');
    for (const [from, to] of [
      ['> 0.1', '> 0.5'],
      ['myostream_mqtt_connected == 0', 'myostream_mqtt_connected == 1'],
      ['< 0.9 *', '< 0.1 *'],
    ] as const) {
      assert.ok(rules.includes(from), from);
      writeFileSync(join(dir, 'alerts.yaml'), rules.replace(from, to));
      const r = runTool('promtool', ['test', 'rules', join(dir, 'alerts.test.yaml')]);
      assert.notEqual(r.status, 0, `still passing with ${from} → ${to}`);
    }
  },
);

test('metric names are read out of PromQL and Grafana queries', () => {
  assert.deepEqual(
    [
      ...promqlMetricNames(
        'histogram_quantile(0.95, sum by (instance, stream, le) (rate(myostream_pose_age_seconds_bucket{instance=~"$instance", stream=~"a{b}"}[$__rate_interval])))',
      ),
    ],
    ['myostream_pose_age_seconds_bucket'],
  );
  assert.deepEqual(
    [
      ...promqlMetricNames('rate(a_total[2m]) < 0.9 * (b_hz > 0) and on(stream) c unless ignoring(x) d offset 5m'),
    ].sort(),
    ['a_total', 'b_hz', 'c', 'd'],
  );
  assert.deepEqual([...promqlMetricNames('absent(up{job="myostream"}) or 1e3 > bool 2')], ['up']);
  assert.deepEqual(
    [...grafanaQueryMetricNames('label_values(myostream_build_info{instance=~"$instance"}, stream)')],
    ['myostream_build_info'],
  );
  assert.deepEqual([...grafanaQueryMetricNames('rate(x_total[$__rate_interval])')], ['x_total']);
});
