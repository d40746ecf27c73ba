import {
  closeSync,
  existsSync,
  fdatasyncSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname } from 'node:path';
import { OutputError, toOutputError } from '../common/errors.js';
import { failpoint, failpointArmed } from '../common/failpoints.js';

export interface JsonlOptions {
  /** Records buffered before a write (batch mode). */
  flushEvery?: number;
  /** A batch older than this is written with the next record. */
  flushMs?: number;
  /**
   * Write and fdatasync every record as it comes (events.jsonl): what happened is on disk before
   * the next step, also when the process is killed right after.
   */
  durable?: boolean;
  /** Start a new file once this one would pass this many bytes (0 = never). */
  rotateBytes?: number;
  /** Rotated files kept beside the live one (`<name>.1` newest … `<name>.<keep>` oldest). */
  rotateKeep?: number;
  /** Called once, with the error, when the writer fails (before the error is thrown). */
  onFailure?: (e: OutputError) => void;
}

/**
 * An append-only JSON-lines file. Records are batched and each batch is written whole at an
 * explicit offset. A write that fails part-way (ENOSPC, EIO…) is cut back to its last complete
 * line, so the file never ends in a torn record, and throws one OutputError naming the file;
 * after that the writer refuses further records with the same error. The file is fsynced on
 * close.
 */
export class JsonlWriter {
  private fd = -1;
  private pending: string[] = [];
  private pendingSince = 0;
  /** Bytes of complete lines in the live file. */
  private size = 0;
  private failure: OutputError | undefined;
  /** False for a FIFO or a device (/dev/null, a pipe): no offsets, no fsync, no rotation. */
  private regular = true;
  private readonly opts: Required<Omit<JsonlOptions, 'onFailure'>> & Pick<JsonlOptions, 'onFailure'>;
  /** Records accepted (written or still pending). */
  lines = 0;
  /** Records written to disk, in the live file and the rotated ones. */
  written = 0;
  /** Records lost to a failed write (the batch that hit the error). */
  dropped = 0;
  rotations = 0;
  /** `artifact.<file name>` when MYOSTREAM_FAILPOINTS arms it (decided once: flush stays allocation-free). */
  private readonly failpointName: string | undefined;

  constructor(
    readonly path: string,
    readonly what: string,
    options: JsonlOptions | number = {},
    flushMs?: number,
  ) {
    const o: JsonlOptions =
      typeof options === 'number' ? { flushEvery: options, ...(flushMs !== undefined ? { flushMs } : {}) } : options;
    this.opts = { flushEvery: 50, flushMs: 1000, durable: false, rotateBytes: 0, rotateKeep: 4, ...o };
    const fp = `artifact.${basename(path)}`;
    this.failpointName = failpointArmed(fp) ? fp : undefined;
    this.open('open');
  }

  /** The error that stopped this writer, if one did. */
  get failed(): OutputError | undefined {
    return this.failure;
  }

  write(record: unknown): void {
    if (this.failure) throw this.failure;
    this.pending.push(JSON.stringify(record));
    this.lines++;
    if (this.opts.durable) {
      this.flush();
      return;
    }
    if (this.pending.length === 1) this.pendingSince = performance.now();
    if (this.pending.length >= this.opts.flushEvery || performance.now() - this.pendingSince > this.opts.flushMs)
      this.flush();
  }

  flush(): void {
    if (this.failure) throw this.failure;
    if (this.pending.length === 0) return;
    const count = this.pending.length;
    const buf = Buffer.from(this.pending.join('\n') + '\n', 'utf8');
    this.pending = [];
    if (this.regular && this.opts.rotateBytes > 0 && this.size > 0 && this.size + buf.length > this.opts.rotateBytes)
      this.rotate();
    let off = 0;
    try {
      if (this.failpointName !== undefined) failpoint(this.failpointName);
      while (off < buf.length)
        off += writeSync(this.fd, buf, off, buf.length - off, this.regular ? this.size + off : null);
      if (this.opts.durable && this.regular) fdatasyncSync(this.fd);
    } catch (e) {
      this.cutBack(buf, off, count);
      throw this.fail(e, 'write');
    }
    this.size += buf.length;
    this.written += count;
  }

  close(): void {
    if (this.fd < 0) return;
    let err: OutputError | undefined;
    if (!this.failure) {
      try {
        this.flush();
        if (this.regular) fsyncSync(this.fd);
      } catch (e) {
        err = e instanceof OutputError ? e : this.fail(e, 'fsync');
      }
    }
    try {
      closeSync(this.fd);
    } catch {
      /* nothing more to lose */
    }
    this.fd = -1;
    // A failure already thrown from write() was reported then; only a new one is thrown here.
    if (err) throw err;
  }

  private open(step: string): void {
    try {
      mkdirSync(dirname(this.path), { recursive: true });
      this.fd = openSync(this.path, 'w', 0o644);
      this.size = 0;
      this.regular = fstatSync(this.fd).isFile();
    } catch (e) {
      throw this.fail(e, step);
    }
  }

  /** Keeps the complete lines of a batch that was written in part, drops the torn rest. */
  private cutBack(buf: Buffer, writtenBytes: number, count: number): void {
    if (!this.regular) {
      this.dropped += count;
      return;
    }
    const lastNl = writtenBytes > 0 ? buf.lastIndexOf(0x0a, writtenBytes - 1) : -1;
    const keep = lastNl + 1;
    let kept = 0;
    for (let i = 0; i < keep; i++) if (buf[i] === 0x0a) kept++;
    try {
      ftruncateSync(this.fd, this.size + keep);
      this.size += keep;
      this.written += kept;
      this.dropped += count - kept;
    } catch {
      // Could not even truncate (EIO): the reader skips a torn last line (runs/jsonl.ts).
      this.dropped += count;
    }
  }

  private rotate(): void {
    try {
      fsyncSync(this.fd);
      closeSync(this.fd);
      this.fd = -1;
      const keep = this.opts.rotateKeep;
      const oldest = `${this.path}.${keep}`;
      if (existsSync(oldest)) unlinkSync(oldest);
      for (let i = keep - 1; i >= 1; i--) {
        const from = `${this.path}.${i}`;
        if (existsSync(from)) renameSync(from, `${this.path}.${i + 1}`);
      }
      renameSync(this.path, `${this.path}.1`);
    } catch (e) {
      throw this.fail(e, 'rotate');
    }
    this.open('reopen after rotation');
    this.rotations++;
  }

  private fail(e: unknown, step: string): OutputError {
    const first = this.failure === undefined;
    this.failure ??= toOutputError(e, this.path, `${this.what} ${step}`);
    this.pending = [];
    if (first) {
      try {
        this.opts.onFailure?.(this.failure);
      } catch {
        // the failure itself is what the caller gets
      }
    }
    return this.failure;
  }
}
