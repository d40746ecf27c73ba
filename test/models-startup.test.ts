import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../src/common/logger.js';
import { isUserError } from '../src/common/errors.js';
import { digestCachePath, findGpu, loadModels, providerVerdict, sessionOptionsFrom } from '../src/inference/models.js';
import { loadConfig } from '../src/daemon/config.js';
import { ROOT, damageKeepingStat } from './helpers.js';

const cpu = { executionProviders: ['cpu'] as const, deviceId: 0, intraOpThreads: 1, interOpThreads: 1 };

/** A model folder of its own (model_info.json + the two default graphs + the rollout), and a digest cache file of its own. */
function scratch(): { dir: string; cache: string } {
  const dir = mkdtempSync(join(tmpdir(), 'myo-models-'));
  for (const f of ['model_info.json', 'encoder.onnx', 'decoder_step.onnx', 'decoder_rollout.onnx']) {
    copyFileSync(join(ROOT, 'models', f), join(dir, f));
    utimesSync(join(dir, f), 1_700_000_000, 1_700_000_000); // whole seconds: restorable exactly
  }
  return { dir, cache: join(dir, '..', `${dir.split('/').pop()}-digests.json`) };
}

test('model digests are hashed once per file change: cached by size and mtime, re-checked in the background', async () => {
  const { dir, cache } = scratch();
  process.env['MYOSTREAM_DIGEST_CACHE'] = cache;
  try {
    assert.equal(digestCachePath(), cache);
    const first = await loadModels(dir, cpu, silentLogger());
    assert.deepEqual(first.digests, { encoder: 'hashed', decoder_step: 'hashed', decoder_rollout: 'hashed' });
    await first.backgroundVerification;
    assert.ok(existsSync(cache), 'cache written');
    const second = await loadModels(dir, cpu, silentLogger());
    assert.deepEqual(second.digests, { encoder: 'cached', decoder_step: 'cached', decoder_rollout: 'cached' });
    await second.backgroundVerification;

    // Damage a weight byte but keep size and mtime: loading trusts the cache, the background check catches it.
    const path = join(dir, 'decoder_step.onnx');
    const st = statSync(path);
    damageKeepingStat(path);
    assert.equal(statSync(path).mtimeMs, st.mtimeMs);
    const third = await loadModels(dir, cpu, silentLogger());
    assert.equal(third.digests['decoder_step'], 'cached');
    await assert.rejects(
      third.backgroundVerification,
      (e: unknown) =>
        isUserError(e) && /decoder_step\.onnx: sha256 .* does not match model_info\.json/.test((e as Error).message),
    );
    // The bad entry is dropped: the next start hashes the file and refuses it up front.
    await assert.rejects(
      loadModels(dir, cpu, silentLogger()),
      (e: unknown) => isUserError(e) && /does not match model_info\.json/.test((e as Error).message),
    );
  } finally {
    delete process.env['MYOSTREAM_DIGEST_CACHE'];
  }
});

test('a changed mtime means a fresh hash; MYOSTREAM_DIGEST_CACHE=off hashes every time', async () => {
  const { dir, cache } = scratch();
  process.env['MYOSTREAM_DIGEST_CACHE'] = cache;
  try {
    await (
      await loadModels(dir, cpu, silentLogger())
    ).backgroundVerification;
    const path = join(dir, 'encoder.onnx');
    const t = new Date(Date.now() - 60_000);
    utimesSync(path, t, t);
    const m = await loadModels(dir, cpu, silentLogger());
    assert.equal(m.digests['encoder'], 'hashed');
    assert.equal(m.digests['decoder_step'], 'cached');
    process.env['MYOSTREAM_DIGEST_CACHE'] = 'off';
    assert.equal(digestCachePath(), undefined);
    const off = await loadModels(dir, cpu, silentLogger());
    assert.ok(Object.values(off.digests).every((h) => h === 'hashed'));
  } finally {
    delete process.env['MYOSTREAM_DIGEST_CACHE'];
  }
});

test('a configured GPU provider that does not run is reported (providerMismatch); one INFO line without a GPU, a WARN with one', async () => {
  const cfg = loadConfig(undefined, [
    'runtime.execution_providers=[cuda, cpu]',
    'runtime.intra_op_spinning=true',
    'runtime.intra_op_threads=2',
  ]);
  const opts = sessionOptionsFrom(cfg.runtime);
  assert.deepEqual(opts, {
    executionProviders: ['cuda', 'cpu'],
    deviceId: 0,
    intraOpThreads: 2,
    interOpThreads: 1,
    intraOpSpinning: true,
  });
  process.env['MYOSTREAM_DIGEST_CACHE'] = 'off';
  try {
    const lines: string[] = [];
    const { createLogger } = await import('../src/common/logger.js');
    const log = createLogger('info', 'text', {
      write: (s: string) => void lines.push(s),
    } as unknown as NodeJS.WritableStream);
    // No GPU (as on the test machines; injected, so that a machine with one runs the test too):
    // the line says so, at INFO, and nothing warns.
    const m = await loadModels(join(ROOT, 'models'), { ...opts, intraOpThreads: 1 }, log, undefined, undefined, null);
    // No GPU on the test machines: the CPU runs every graph.
    assert.ok(Object.values(m.providers).every((p) => p === 'cpu'));
    assert.equal(m.providerMismatch?.configured, 'cuda');
    assert.equal(m.providerMismatch?.running['encoder'], 'cpu');
    assert.ok(m.providerMismatch.reason.length > 0);
    assert.deepEqual(
      lines.filter((l) => / WARN {2}/.test(l)),
      [],
      'no WARN about a provider that cannot be here',
    );
    const info = lines.filter((l) => / INFO {2}/.test(l));
    assert.equal(info.length, 1, `one INFO line in ${JSON.stringify(lines)}`);
    assert.match(
      info[0]!,
      /execution provider: cpu for all \d+ graphs; no NVIDIA GPU on this machine, so cuda \(first in runtime.execution_providers\) cannot run here/,
    );
    // A GPU the provider could not use: the node runs slower than it could, and says so once.
    lines.length = 0;
    await loadModels(join(ROOT, 'models'), { ...opts, intraOpThreads: 1 }, log, undefined, undefined, '/dev/nvidia0');
    const warn = lines.filter((l) =>
      / WARN {2}execution provider: cpu for all \d+ graphs, although this machine has a GPU \(\/dev\/nvidia0\) that cuda could not use \(cuda: .+\); see USAGE.md "GPU on a Jetson"/.test(
        l,
      ),
    );
    assert.equal(warn.length, 1, `one WARN line in ${JSON.stringify(lines)}`);
    assert.equal(lines.length, 1);
    const cpuOnly = await loadModels(join(ROOT, 'models'), cpu, silentLogger());
    assert.equal(cpuOnly.providerMismatch, undefined);
  } finally {
    delete process.env['MYOSTREAM_DIGEST_CACHE'];
  }
});

test('the provider line: the first preference running, a mixed run per graph', () => {
  const ok = { cpu: [{ provider: 'cpu' as const, ok: true }] };
  assert.deepEqual(providerVerdict(['cpu'], { encoder: 'cpu', decoder_step: 'cpu' }, ok, null), {
    level: 'info',
    msg: 'execution provider: cpu for all 2 graphs (first of runtime.execution_providers)',
  });
  assert.deepEqual(
    providerVerdict(
      ['tensorrt', 'cuda', 'cpu'],
      { encoder: 'tensorrt', decoder_step: 'tensorrt' },
      {},
      '/dev/nvhost-ctrl-gpu',
    ).level,
    'info',
  );
  const mixed = providerVerdict(
    ['tensorrt', 'cuda', 'cpu'],
    { encoder: 'cuda', decoder_step: 'cpu' },
    { encoder: [{ provider: 'tensorrt', ok: false, reason: 'no plugin' }] },
    '/dev/nvhost-ctrl-gpu',
  );
  assert.equal(mixed.level, 'warn');
  assert.match(
    mixed.msg,
    /^execution provider: encoder cuda, decoder_step cpu, although this machine has a GPU \(\/dev\/nvhost-ctrl-gpu\) that tensorrt could not use \(tensorrt: no plugin\)/,
  );
  assert.equal(
    findGpu((p) => p === '/sys/module/nvgpu'),
    '/sys/module/nvgpu',
    "a Jetson's integrated GPU",
  );
});
