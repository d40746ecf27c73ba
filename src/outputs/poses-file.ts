import { JsonlWriter, type JsonlOptions } from './jsonl-writer.js';
import { anglesToJson, type PoseEvent, type PoseSink } from '../domain/pose.js';
import { captureTime, poseAgeMs, publishedAge } from './pose-age.js';

/**
 * Every pose as a JSON line: {"t","step","mode","t_capture","age_ms","angles"} (see USAGE.md);
 * the age is taken when the line is written. A write that fails
 * (full disk, EIO) throws an OutputError naming the file; the lines before it stay whole.
 */
export class PosesFile implements PoseSink {
  private readonly out: JsonlWriter;

  constructor(
    readonly path: string,
    options: JsonlOptions = {},
  ) {
    this.out = new JsonlWriter(path, 'poses file (outputs.poses_out)', options);
  }

  /** Poses written to disk so far, and lost to a failed write. */
  get counts(): { written: number; dropped: number } {
    return { written: this.out.written, dropped: this.out.dropped };
  }

  flush(): void {
    this.out.flush();
  }

  write(e: PoseEvent): void {
    const ts = Date.now();
    const age = publishedAge(poseAgeMs(e, performance.now()));
    // quality only when a channel is bad: clean runs keep the shorter lines.
    const q = e.quality ?? 0;
    this.out.write({
      t: Number(e.t.toFixed(6)),
      step: e.step,
      mode: e.mode,
      t_capture: captureTime(ts, age),
      age_ms: age,
      ...(q !== 0 ? { quality: q } : {}),
      angles: anglesToJson(e.angles),
    });
  }

  /** A record of another shape, e.g. exact mode's poses upsampled to the input rate. */
  writeRecord(record: Record<string, unknown>): void {
    this.out.write(record);
  }

  async close(): Promise<void> {
    this.out.close();
  }
}
