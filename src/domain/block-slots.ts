/**
 * The bookkeeping of per-step figures that wait for their exact block's comparison: room for
 * two blocks of session steps (slot = block parity × points + index within the block), since
 * the shadow compares block b while the steps of block b + 1 are being recorded. Each owner
 * keeps its own figures in arrays indexed by `slotOf`; this class says which steps the slots
 * still hold. A step is *settled* once its block was compared or it was passed over (its slot
 * about to be reused, a new session, a mode switch, the end of the run); `passOver` hears of
 * every step settled without a comparison, in order, once.
 */
export class BlockSlots {
  /** Steps recorded in the current session (the next session step expected). */
  private recorded = 0;
  /** Steps before this one are settled. */
  private settled = 0;

  constructor(
    readonly points: number,
    private readonly passOver: (from: number, to: number) => void = () => undefined,
  ) {
    if (!Number.isInteger(points) || points <= 0)
      throw new RangeError(`block points ${points} must be a positive integer`);
  }

  /** Two blocks of slots. */
  get size(): number {
    return 2 * this.points;
  }

  /** Steps before this one are settled (compared or passed over). */
  get settledTo(): number {
    return this.settled;
  }

  get recordedTo(): number {
    return this.recorded;
  }

  /** Slot of session step j. */
  slotOf(j: number): number {
    const p = this.points;
    return (Math.floor(j / p) % 2) * p + (j % p);
  }

  /**
   * Session step j is about to be stored in its slot; returns that slot. Step 0 after others
   * begins a new session (the old one's steps are passed over); a step that takes an unsettled
   * step's slot passes that step over first.
   */
  record(j: number): number {
    if (j === 0 && this.recorded > 0) this.restart();
    const p2 = 2 * this.points;
    if (j - this.settled >= p2) this.settleTo(j - p2 + 1);
    if (j + 1 > this.recorded) this.recorded = j + 1;
    return this.slotOf(j);
  }

  /**
   * The block whose first session step is `firstStep` was compared: the steps of it the slots
   * hold, [firstStep, firstStep + n), are settled by that comparison and n is returned; steps
   * before it still unsettled are passed over. −1 when its steps were settled already (their
   * slots reused): the comparison must not be made against them.
   */
  takeBlock(firstStep: number): number {
    if (firstStep < this.settled) return -1;
    this.settleTo(firstStep);
    const end = Math.min(this.recorded, firstStep + this.points);
    const n = Math.max(0, end - firstStep);
    this.settled = firstStep + n;
    return n;
  }

  /** Passes over every recorded step still waiting (a mode switch, the end of the run). */
  settleAll(): void {
    this.settleTo(this.recorded);
  }

  /** A new session: what the old one recorded is passed over, numbering starts at 0. */
  restart(): void {
    this.settleAll();
    this.recorded = 0;
    this.settled = 0;
  }

  private settleTo(upTo: number): void {
    if (upTo <= this.settled) return;
    const from = this.settled;
    this.settled = upTo;
    this.passOver(from, upTo);
  }
}
