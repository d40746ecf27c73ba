import type { RunEvent, RunEventKind } from '../domain/events.js';

export type NoteFn = (kind: RunEventKind, atSample: number, detail: string, data?: RunEvent['data']) => void;

/**
 * One kind of recurring acquisition happening (bridged gaps, bad samples), reported at a
 * bounded rate: the first occurrence at once, then at most one summary per interval with the
 * count and total since the last report. 40,000 one-sample gaps in 20 s become 20 lines.
 * `hit` allocates nothing unless it reports.
 */
export class RateLimitedNote {
  /** Occurrences and their sizes since the last report. */
  private pending = 0;
  private pendingAmount = 0;
  private lastAt = 0;
  private lastReport = -Infinity;
  total = 0;
  totalAmount = 0;
  reports = 0;

  constructor(
    private readonly kind: RunEventKind,
    /** How one report reads: count of occurrences, their total amount, and whether it is the first. */
    private readonly describe: (count: number, amount: number, first: boolean) => string,
    private readonly note: NoteFn,
    private readonly intervalMs = 1000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  hit(amount: number, atSample: number): void {
    this.total++;
    this.totalAmount += amount;
    this.pending++;
    this.pendingAmount += amount;
    this.lastAt = atSample;
    const t = this.now();
    if (t - this.lastReport >= this.intervalMs) this.report(t);
  }

  /** Reports what is pending if the interval has passed (call it from a periodic tick, and once at the end with force). */
  flush(force = false): void {
    if (this.pending === 0) return;
    const t = this.now();
    if (force || t - this.lastReport >= this.intervalMs) this.report(t);
  }

  private report(t: number): void {
    const first = this.reports === 0;
    this.note(this.kind, this.lastAt, this.describe(this.pending, this.pendingAmount, first), {
      count: this.pending,
      amount: this.pendingAmount,
      total: this.total,
      total_amount: this.totalAmount,
    });
    this.reports++;
    this.lastReport = t;
    this.pending = 0;
    this.pendingAmount = 0;
  }
}
