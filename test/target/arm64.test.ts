import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, prerequisiteTest } from '../helpers.js';
import type { CheckResult } from './arm64-parity-probe.js';
import { cachedNode, run, runWatched, tasksetPrefix } from './target-cache.js';

/**
 * The arm64 half of the target: the official arm64 Node, under qemu-user, runs myostream's own
 * code on onnxruntime-node's linux/arm64 library, and the native addons cross-built for arm64
 * load in it.
 */

const SYSROOT = '/usr/aarch64-linux-gnu';
const QEMU = 'qemu-aarch64-static';
const ADDONS = ['unix-dgram', 'spi-device', 'i2c-bus', 'epoll'] as const;
const has = (cmd: string): boolean => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).error === undefined;

function missing(): string | false {
  if (!has(QEMU)) return `${QEMU} not installed (apt-get install qemu-user-static; .ci/run does)`;
  if (!existsSync(join(SYSROOT, 'lib', 'ld-linux-aarch64.so.1')) || !existsSync(join(SYSROOT, 'lib', 'libstdc++.so.6')))
    return 'arm64 C/C++ libraries missing (apt-get install libc6-arm64-cross libstdc++6-arm64-cross)';
  if (!has('aarch64-linux-gnu-g++'))
    return 'aarch64-linux-gnu-g++ not installed (apt-get install g++-aarch64-linux-gnu)';
  if (process.getuid?.() !== 0) return 'needs root: /proc/cpuinfo is replaced in a private mount namespace';
  return false;
}
const skip = missing();

/**
 * onnxruntime's CPU detection reads /proc/cpuinfo and crashes (SIGSEGV) on the host's x86 one,
 * which qemu-user passes through unchanged; the arm64 process sees this one instead: the two
 * Cortex-A78AE cores of a Jetson Orin-class module.
 */
function armCpuinfo(dir: string): string {
  const core = (n: number): string =>
    `processor\t: ${n}\nBogoMIPS\t: 62.50\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\n` +
    'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x1\nCPU part\t: 0xd42\nCPU revision\t: 1\n\n';
  const file = join(dir, 'cpuinfo');
  writeFileSync(file, core(0) + core(1));
  return file;
}

/**
 * Runs the arm64 node with `args` under qemu-user, with the arm64 /proc/cpuinfo (and under
 * taskset where MYOSTREAM_TARGET_TASKSET says so), for as long as it keeps printing.
 */
function arm64Node(
  node: string,
  cpuinfo: string,
  args: readonly string[],
  cwd: string,
  label: string,
): Promise<{ stdout: string; seconds: number }> {
  return runWatched(
    'unshare',
    [
      '-m',
      'sh',
      '-c',
      'mount --bind "$0" /proc/cpuinfo && exec "$@"',
      cpuinfo,
      ...tasksetPrefix(),
      QEMU,
      join(node, 'bin', 'node'),
      ...args,
    ],
    {
      label,
      echo: true,
      cwd,
      env: { ...process.env, QEMU_LD_PREFIX: SYSROOT },
    },
  );
}

/** What each check of the probe must have run, besides staying within its bound. */
const EXPECTED: Record<string, (r: CheckResult) => void> = {
  exact_block: (r) => {
    assert.equal(r.poses, 250, 'one whole block');
    assert.equal(
      r.detail?.['one_run_rollout'],
      true,
      'the rollout as one run of the Loop graph, as exact mode runs it',
    );
  },
  streaming_default: (r) => {
    assert.equal(r.poses, PROBE_STEPS);
    assert.equal(r.detail?.['one_run_steps'], PROBE_STEPS, 'every step one stream_step run');
  },
  streaming_int8: (r) => {
    assert.equal(r.poses, PROBE_STEPS);
    // int8 is not fp32 here either, and stays within the published deviation (USAGE: 0.25 degrees).
    const vsFp32 = Number(r.detail?.['vs_fp32']);
    assert.ok(vsFp32 > 0 && vsFp32 < (0.25 * Math.PI) / 180, `int8 vs fp32 on arm64: ${vsFp32} rad`);
  },
};
const PROBE_STEPS = 5;

prerequisiteTest(
  'arm64 Node under qemu-user: one exact block and the first streaming steps match the x64 references on the arm64 onnxruntime library (≤ 1e-5)',
  { skip },
  async () => {
    const node = cachedNode('arm64');
    assert.ok(
      readdirSync(join(ROOT, 'node_modules', 'onnxruntime-node', 'bin')).some((v) =>
        existsSync(join(ROOT, 'node_modules', 'onnxruntime-node', 'bin', v, 'linux', 'arm64', 'libonnxruntime.so.1')),
      ),
      'onnxruntime-node ships linux/arm64',
    );
    const dir = mkdtempSync(join(tmpdir(), 'myostream-arm64-'));
    try {
      const { stdout, seconds } = await arm64Node(
        node,
        armCpuinfo(dir),
        [join(ROOT, 'dist', 'test', 'target', 'arm64-parity-probe.js'), '--steps', String(PROBE_STEPS)],
        ROOT,
        'arm64 probe',
      );
      const lines = stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as CheckResult & { arch?: string; node?: string; checks?: string[] });
      const summary = lines.pop()!;
      console.log(`arm64 parity in ${seconds.toFixed(0)} s: ${JSON.stringify(lines)}`);
      assert.equal(summary.arch, 'arm64');
      assert.deepEqual(summary.checks, Object.keys(EXPECTED), 'every check ran');
      for (const r of lines) {
        assert.ok(r.maxAbsDiff <= r.bound, `${r.check}: max |diff| ${r.maxAbsDiff} over ${r.bound}`);
        EXPECTED[r.check]!(r);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

prerequisiteTest(
  'the native addons (unix-dgram, spi-device, i2c-bus, epoll) cross-build for arm64 and load in the arm64 Node',
  { skip },
  async () => {
    const node = cachedNode('arm64');
    const dir = mkdtempSync(join(tmpdir(), 'myostream-addons-'));
    try {
      const modules = join(dir, 'node_modules');
      mkdirSync(modules);
      // The addons with what their build and loader need; the checkout's own x64 builds stay.
      for (const m of [...ADDONS, 'nan', 'bindings', 'file-uri-to-path']) {
        cpSync(join(ROOT, 'node_modules', m), join(modules, m), {
          recursive: true,
          filter: (src) => !src.includes('/build/') && !src.endsWith('/build'),
        });
      }
      const gyp = join(run('npm', ['root', '-g']).trim(), 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
      const cross = {
        ...process.env,
        CC: 'aarch64-linux-gnu-gcc',
        CXX: 'aarch64-linux-gnu-g++',
        LINK: 'aarch64-linux-gnu-g++',
        AR: 'aarch64-linux-gnu-ar',
      };
      // Side by side: each build is mostly node-gyp's own start-up, one or two files to compile.
      await Promise.all(
        ADDONS.map((m) =>
          runWatched(process.execPath, [gyp, 'rebuild', '--arch=arm64', `--nodedir=${node}`], {
            label: `node-gyp ${m}`,
            cwd: join(modules, m),
            env: cross,
          }),
        ),
      );
      for (const m of ADDONS) {
        const built = readdirSync(join(modules, m, 'build', 'Release')).filter((f) => f.endsWith('.node'));
        assert.equal(built.length, 1, `${m}: one addon built`);
        const elf = run('file', ['-b', join(modules, m, 'build', 'Release', built[0]!)]);
        assert.match(elf, /ARM aarch64/, `${m} is an arm64 library`);
      }
      const probe = `for (const m of ${JSON.stringify(ADDONS)}) { const x = require(m); console.log(m + ' ' + process.arch + ' ' + Object.keys(x).length); }`;
      const out = (await arm64Node(node, armCpuinfo(dir), ['-e', probe], dir, 'arm64 addons')).stdout;
      for (const m of ADDONS) assert.match(out, new RegExp(`^${m} arm64 [1-9]`, 'm'), `${m} loads in the arm64 node`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
