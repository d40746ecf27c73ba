import { alignedPassed, ErrorAccumulator, within, type ErrorFigures, type Tolerance } from '../domain/error-figures.js';
import type { BlockFigures } from '../domain/events.js';
import type { Acceptance } from '../domain/plugin.js';

/**
 * Blocks kept in streaming_alignment.json: a live run compares a block every 5 s for as long as
 * it runs, so the file keeps the newest ones and counts the rest (every aligned block that
 * failed is also kept, up to the same number: those are what a technician looks for).
 */
export const MAX_KEPT_BLOCKS = 120;

/** Collects block comparisons into streaming_alignment.json, in bounded space. */
export class AlignmentReport {
  private blocks: BlockFigures[] = [];
  private readonly failed: BlockFigures[] = [];
  private total = 0;
  private aligned = 0;
  /** A block arrived since the last toJSON(). */
  changed = true;
  private readonly main = new ErrorAccumulator();
  private readonly boundary = new ErrorAccumulator();
  private readonly drift = new ErrorAccumulator();

  constructor(
    private readonly tol: Tolerance,
    private readonly meta: Record<string, unknown>,
  ) {}

  addBlock(c: BlockFigures): void {
    this.total++;
    this.changed = true;
    this.blocks.push(c);
    // Trimmed by a quarter at once: one copy per 30 blocks rather than a shift at every block.
    if (this.blocks.length > MAX_KEPT_BLOCKS)
      this.blocks = this.blocks.slice(this.blocks.length - Math.floor((MAX_KEPT_BLOCKS * 3) / 4));
    if (c.aligned && !this.blockPassed(c) && this.failed.length < MAX_KEPT_BLOCKS) this.failed.push(c);
    if (c.aligned) {
      this.aligned++;
      this.main.merge(c.acc.main);
      this.boundary.merge(c.acc.boundary);
    } else {
      this.drift.merge(c.acc.main);
      this.drift.merge(c.acc.boundary);
    }
  }

  get blockCount(): number {
    return this.total;
  }

  get alignedBlocks(): number {
    return this.aligned;
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

  /**
   * summary.json's `acceptance.alignment`, for the live check and for `align` alike: evaluated
   * once an aligned block was compared, passed when the aligned blocks together hold the bounds.
   */
  acceptance(enabled: boolean): Acceptance {
    const o = this.overall();
    return {
      enabled,
      evaluated: o.passed !== null,
      passed: enabled ? o.passed === true : null,
      aligned_blocks: this.aligned,
    };
  }

  toJSON(): Record<string, unknown> {
    this.changed = false;
    const o = this.overall();
    const kept = new Set(this.blocks);
    const shown = [...this.failed.filter((b) => !kept.has(b)), ...this.blocks];
    return {
      ...this.meta,
      thresholds: { mse: this.tol.mse, max_diff: this.tol.max_diff, boundary_factor: 2 },
      evaluated: this.alignedBlocks > 0,
      passed: o.passed === true,
      overall: o.main,
      boundary: { ...o.boundary, passed: o.passed === null ? null : within(o.boundary, this.tol, 2) },
      blocks_compared: this.total,
      aligned_blocks: this.aligned,
      blocks: shown.map((b) => ({
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
