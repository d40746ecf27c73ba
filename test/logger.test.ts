import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Writable } from 'node:stream';
import { createLogger, syslogPriority } from '../src/common/logger.js';
import { ROOT } from './helpers.js';

function collector(): { stream: Writable; lines: () => string[] } {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, cb) {
      text += String(chunk);
      cb();
    },
  });
  return { stream, lines: () => text.split('\n').filter((l) => l !== '') };
}

test('pino levels map to syslog priorities', () => {
  assert.deepEqual([10, 20, 30, 40, 50, 60].map(syslogPriority), [7, 7, 6, 4, 3, 2]);
});

for (const format of ['json', 'text'] as const) {
  test(`${format}: with the journal, each line starts with its <priority>; without, nothing changes`, () => {
    const j = collector();
    const log = createLogger('debug', format, j.stream, { journal: true });
    log.debug('d');
    log.info('i');
    log.warn({ k: 1 }, 'w');
    log.error('e');
    log.fatal('f');
    const prefixes = j.lines().map((l) => /^<(\d)>/.exec(l)?.[1]);
    assert.deepEqual(prefixes, ['7', '6', '4', '3', '2']);
    if (format === 'json') {
      // journald strips the prefix: what stays is one JSON record.
      const rec = JSON.parse(j.lines()[2]!.slice(3)) as Record<string, unknown>;
      assert.equal(rec.msg, 'w');
      assert.equal(rec.k, 1);
    } else {
      assert.match(j.lines()[2]!, /^<4>\d\d:\d\d:\d\d\.\d{3} WARN {2}w k=1$/);
    }
    const plain = collector();
    createLogger('info', format, plain.stream, { journal: false }).warn('w');
    assert.doesNotMatch(plain.lines()[0]!, /^</);
  });
}

test('the journal is detected from JOURNAL_STREAM only when it names the very stream stderr is', () => {
  const dir = mkdtempSync(join(tmpdir(), 'journal-'));
  try {
    const file = join(dir, 'stderr.log');
    const url = pathToFileURL(join(ROOT, 'dist', 'src', 'common', 'logger.js')).href;
    const script = `import { createLogger } from ${JSON.stringify(url)}; createLogger('info', process.argv[1]).warn('w');`;
    const run = (format: string, journalStream: (st: { dev: number; ino: number }) => string | undefined): string => {
      const fd = openSync(file, 'w');
      try {
        const st = statSync(file);
        const env = { ...process.env };
        delete env.JOURNAL_STREAM;
        const js = journalStream(st);
        if (js !== undefined) env.JOURNAL_STREAM = js;
        const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, format], {
          stdio: ['ignore', 'ignore', fd],
          env,
          timeout: 30_000,
        });
        assert.equal(r.status, 0);
      } finally {
        closeSync(fd);
      }
      return readFileSync(file, 'utf8');
    };
    assert.match(
      run('json', (st) => `${st.dev}:${st.ino}`),
      /^<4>\{"level":40,/,
    );
    assert.match(
      run('text', (st) => `${st.dev}:${st.ino}`),
      /^<4>\d\d:/,
    );
    // Inherited from a parent whose stderr was the journal, while ours goes elsewhere: no prefix.
    assert.match(
      run('json', (st) => `${st.dev}:${st.ino + 1}`),
      /^\{"level":40,/,
    );
    assert.match(
      run('json', () => undefined),
      /^\{"level":40,/,
    );
    assert.match(
      run('json', () => 'garbage'),
      /^\{"level":40,/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a level set on the logger (a SIGHUP reload) reaches the children made before, and theirs', () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  const log = createLogger('warn', 'json', sink, { journal: false });
  const stream = log.child({ stream: 'left' });
  const source = stream.child({ component: 'acquisition' });
  source.info('before');
  assert.equal(lines.length, 0, 'info is below warn');
  log.level = 'info';
  assert.equal(stream.level, 'info');
  source.info('after');
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /"stream":"left".*"component":"acquisition".*"msg":"after"/);
  log.level = 'error';
  source.warn('hidden again');
  assert.equal(lines.length, 1);
});
