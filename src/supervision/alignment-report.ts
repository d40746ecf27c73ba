import { alignedPassed, ErrorAccumulator, within, type ErrorFigures, type Tolerance } from '../domain/error-figures.js';
import type { BlockFigures } from '../domain/events.js';

/** Collects block comparisons into streaming_alignment.json. */
export class AlignmentReport {
  private readonly blocks: BlockFigures[] = [];
  private readonly main = new ErrorAccumulator();
  private readonly boundary = new ErrorAccumulator();
  private readonly drift = new ErrorAccumulator();

  constructor(private readonly tol: Tolerance, private readonly meta: Record<string, unknown>) {}

  addBlock(c: BlockFigures): void {
    this.blocks.push(c);
    if (c.aligned) {
      this.main.merge(c.acc.main);
      this.boundary.merge(c.acc.boundary);
    } else {
      this.drift.merge(c.acc.main);
      this.drift.merge(c.acc.boundary);
    }
  }

  get blockCount(): number {
    return this.blocks.length;
  }

  get alignedBlocks(): number {
    return this.blocks.filter((b) => b.aligned).length;
  }

  /** Pass/fail of one aligned block on its own (the watchdog acts on each). */
  blockPassed(c: BlockFigures): boolean {
    return alignedPassed(c.main, c.boundary, this.tol);
  }

  overall(): { main: ErrorFigures; boundary: ErrorFigures; passed: boolean | null } {
    const main = this.main.figures();
    const boundary = this.boundary.figures();
    const evaluated = this.alignedBlocks > 0;
    return { main, boundary, passed: evaluated ? alignedPassed(main, boundary, this.tol) : null };
  }

  toJSON(): Record<string, unknown> {
    const o = this.overall();
    return {
      ...this.meta,
      thresholds: { mse: this.tol.mse, max_diff: this.tol.max_diff, boundary_factor: 2 },
      evaluated: this.alignedBlocks > 0,
      passed: o.passed === true,
      overall: o.main,
      boundary: { ...o.boundary, passed: o.passed === null ? null : within(o.boundary, this.tol, 2) },
      blocks: this.blocks.map((b) => ({
        block: b.block,
        start_sample: b.startSample,
        aligned: b.aligned,
        main: b.main,
        boundary: b.boundary,
        mean_offset: b.meanOffset,
        passed: b.aligned ? this.blockPassed(b) : null,
      })),
      drift: this.drift.figures(),
    };
  }
}

