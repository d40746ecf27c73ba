import type { DataReadyLine, EdgeHandler } from './bindings/types.js';

/** The simulators' data-ready line: the simulator calls `handler` at each edge it delivers. */
export class SimDataReadyLine implements DataReadyLine {
  readonly kernelTimestamps = true;
  handler: EdgeHandler | undefined;

  constructor(readonly name: string) {}

  async start(onEdge: EdgeHandler): Promise<void> {
    this.handler = onEdge;
  }

  stop(): void {
    this.handler = undefined;
  }
}
