import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { UserError } from '../common/errors.js';

/**
 * An append-only JSON-lines file. Records are batched and each batch is written whole, so a
 * crash loses at most the unflushed batch (≤ one second's worth) and never leaves an earlier
 * line unreadable; the file is fsynced on close.
 */
export class JsonlWriter {
  private fd: number;
  private pending: string[] = [];
  private pendingSince = 0;
  lines = 0;

  constructor(readonly path: string, what: string, private readonly flushEvery = 50, private readonly flushMs = 1000) {
    try {
      mkdirSync(dirname(path), { recursive: true });
      this.fd = openSync(path, 'w', 0o644);
    } catch (e) {
      throw new UserError(`${what} ${path}: cannot open for writing (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
  }

  write(record: unknown): void {
    this.pending.push(JSON.stringify(record));
    this.lines++;
    if (this.pending.length === 1) this.pendingSince = performance.now();
    if (this.pending.length >= this.flushEvery || performance.now() - this.pendingSince > this.flushMs) this.flush();
  }

  flush(): void {
    if (this.pending.length === 0) return;
    const buf = Buffer.from(this.pending.join('\n') + '\n', 'utf8');
    this.pending = [];
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
  }

  close(): void {
    if (this.fd < 0) return;
    this.flush();
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = -1;
  }
}
