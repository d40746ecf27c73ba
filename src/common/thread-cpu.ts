import { closeSync, openSync, readSync } from 'node:fs';

/**
 * CPU time of the calling thread, in milliseconds with nanosecond resolution, read from
 * /proc/thread-self/schedstat (its first field is the thread's time on a CPU, in ns). Wall time
 * around a model call also counts the time the thread was preempted; this clock does not, so
 * comparing the two tells a slower model from a busier machine.
 *
 * A reading allocates nothing: the file stays open, `pread` at offset 0 fills a kept buffer and
 * the digits are parsed in place. `process.cpuUsage()` would sum every thread of the process
 * (onnxruntime's pool, the acquisition worker), which is not what one unit of work cost. Where
 * the file does not exist (not Linux, or a kernel without schedstats) every reading is NaN.
 */
export class ThreadCpuClock {
  private fd = -1;
  private readonly buf = Buffer.alloc(64);

  constructor(path = '/proc/thread-self/schedstat') {
    try {
      this.fd = openSync(path, 'r');
      if (Number.isNaN(this.nowMs())) this.close();
    } catch {
      this.fd = -1;
    }
  }

  get available(): boolean {
    return this.fd >= 0;
  }

  /** This thread's CPU time so far in ms; NaN where the platform cannot tell. */
  nowMs(): number {
    if (this.fd < 0) return NaN;
    let n: number;
    try {
      n = readSync(this.fd, this.buf, 0, this.buf.length, 0);
    } catch {
      return NaN;
    }
    const b = this.buf;
    // Integer nanoseconds fit a double exactly for 104 days of CPU time.
    let ns = 0;
    let i = 0;
    for (; i < n; i++) {
      const c = b[i]!;
      if (c < 48 || c > 57) break;
      ns = ns * 10 + (c - 48);
    }
    return i === 0 ? NaN : ns / 1e6;
  }

  close(): void {
    if (this.fd >= 0) {
      try {
        closeSync(this.fd);
      } catch {
        // Already closed: nothing held.
      }
    }
    this.fd = -1;
  }
}

let shared: ThreadCpuClock | undefined;

/** One clock per thread (the file names the thread that reads it, so a module-level one is per thread). */
export function threadCpuClock(): ThreadCpuClock {
  shared ??= new ThreadCpuClock();
  return shared;
}
