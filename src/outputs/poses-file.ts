import { JsonlWriter } from './jsonl-writer.js';
import { anglesToJson, type PoseEvent, type PoseSink } from '../domain/pose.js';

/** Every pose as a JSON line: {"t","step","mode","angles"} (see USAGE.md). */
export class PosesFile implements PoseSink {
  private readonly out: JsonlWriter;

  constructor(readonly path: string) {
    this.out = new JsonlWriter(path, '--poses-out');
  }

  write(e: PoseEvent): void {
    this.out.write({ t: Number(e.t.toFixed(6)), step: e.step, mode: e.mode, angles: anglesToJson(e.angles) });
  }

  /** A record of another shape, e.g. exact mode's poses upsampled to the input rate. */
  writeRecord(record: Record<string, unknown>): void {
    this.out.write(record);
  }

  async close(): Promise<void> {
    this.out.close();
  }
}
