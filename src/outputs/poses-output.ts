import { z } from 'zod';
import type { Plugin, PluginContext } from '../domain/plugin.js';
import { anglesToJson } from '../domain/pose.js';
import { PosesFile } from './poses-file.js';

/** Its setting, `outputs.poses_out`: the file's path. */
export const posesOutSchema = z
  .string()
  .default('')
  .meta({ description: 'JSON-lines file of every pose (a path, a FIFO or /dev/stdout); empty = none.' });

/** outputs.poses_out: every pose (and exact's upsampled ones, when asked) as a JSON line. */
export class PosesOutput implements Plugin {
  readonly name = 'poses_file';
  private file: PosesFile | undefined;

  constructor(private readonly path: string) {}

  start(ctx: PluginContext): void {
    const file = new PosesFile(this.path);
    this.file = file;
    const rate = ctx.stream.sampleRate;
    ctx.bus.on(this, 'pose', (e) => file.write(e));
    ctx.bus.on(this, 'upsampled', (p) =>
      file.writeRecord({
        t: Number(((p.sample + 1) / rate).toFixed(6)),
        sample: p.sample,
        mode: 'exact',
        angles: anglesToJson(p.angles),
      }),
    );
  }

  async stop(): Promise<void> {
    const f = this.file;
    this.file = undefined;
    await f?.close();
  }
}
