import { BlockSlots } from '../domain/block-slots.js';
import { compareBlock } from '../domain/error-figures.js';
import type { BlockFigures } from '../domain/events.js';
import { FEATURE_DIM, POSE_DIM } from '../domain/geometry.js';
import type { DecoderStep } from './decoder.js';
import type { BlockResult, ExactPredictor } from './exact-predictor.js';
import { failpoint } from '../common/failpoints.js';

export interface ShadowListener {
  /** A compared block (its perStep view is valid during the call). */
  onBlock(c: BlockFigures): void;
  /** The shadow's own exact block (poses are a view, valid during the call), before its comparison. */
  onShadowBlock?(r: BlockResult): void;
}

/**
 * The live shadow exact rollout of a streaming session: its blocks are compared with the
 * streaming poses of the same moments. It holds nothing of the streaming predictor: the paired
 * predictor (paired-streaming.ts) feeds it the streaming frames and steps, and keeps its
 * failures away from the streaming step.
 *
 * The shadow runs no encoder of its own: exact's whole-window features are its native frames
 * interpolated over the block, and those frames are the streaming session's even frames (frame
 * q = 2k sees the same 1791 samples as native frame k), which the streaming encoder computes
 * anyway. They are collected as they come (FrameEncoder.onFrame), and each exact point is
 * decoded as soon as its two frames are in, batched with the streaming step's own decoder run
 * (StepCompanion): the shadow adds a second row to a weight-bound step instead of a second
 * 24 MB pass. A point whose frames are not in yet waits; the few left at a block's end (the
 * sliding-window policy asks frame q at step q, one native frame behind exact's grid) run on
 * their own right after that step. A block's comparison lands at the end of the block.
 */
export class ShadowRollout {
  private readonly points: number;
  // Streamed poses of two blocks: the shadow decodes block b while the streaming steps of
  // block b + 1 are being recorded.
  private readonly slots: BlockSlots;
  private readonly blockPoses: Float32Array;
  private readonly perStep: Float64Array;
  /** Native frames of two blocks (slot = block parity), channel-major [64, frames] each. */
  private readonly frameBuf: [Float32Array, Float32Array];
  private readonly frameSeen: [Uint8Array, Uint8Array];
  private readonly frameBlock = new Float64Array(2).fill(-1);
  private readonly framesPerBlock: number;
  /** Shadow blocks passed over because some of their frames or poses were gone (counted, not compared). */
  shadowBlocksSkipped = 0;

  constructor(
    private readonly shadow: ExactPredictor,
    private readonly listener: ShadowListener,
  ) {
    this.points = shadow.points;
    this.slots = new BlockSlots(this.points);
    this.blockPoses = new Float32Array(2 * this.points * POSE_DIM);
    this.perStep = new Float64Array(2 * this.points);
    this.framesPerBlock = shadow.frames;
    this.frameBuf = [
      new Float32Array(FEATURE_DIM * this.framesPerBlock),
      new Float32Array(FEATURE_DIM * this.framesPerBlock),
    ];
    this.frameSeen = [new Uint8Array(this.framesPerBlock), new Uint8Array(this.framesPerBlock)];
  }

  /** Takes every frame q the streaming encoder computes (the even ones are exact's native frames). */
  onFrame(q: number, frame: Float32Array, offset: number): void {
    if (q % 2 !== 0) return;
    const kg = q / 2;
    const block = Math.floor(kg / this.framesPerBlock);
    const k = kg - block * this.framesPerBlock;
    const slot = block % 2;
    if (this.frameBlock[slot] !== block) {
      this.frameBlock[slot] = block;
      this.frameSeen[slot]!.fill(0);
    }
    const buf = this.frameBuf[slot]!;
    const F = this.framesPerBlock;
    for (let c = 0; c < FEATURE_DIM; c++) buf[c * F + k] = frame[offset + c]!;
    this.frameSeen[slot]![k] = 1;
  }

  restartAt(sample: number): void {
    this.slots.restart();
    this.shadow.restartAt(sample);
    this.frameBlock.fill(-1);
  }

  /**
   * After streaming session step j (its pose `angles`, a view): records the pose; once the
   * streaming session has left a block, the shadow points still owed run on their own (a few
   * at most), then the block is compared.
   */
  async afterStep(j: number, angles: Float32Array): Promise<void> {
    failpoint('shadow.after_step');
    this.blockPoses.set(angles, this.slots.record(j) * POSE_DIM);
    const shadow = this.shadow;
    if (shadow.blockInProgress && j + 1 >= shadow.blocksDone * this.points) {
      for (let d = this.readyShadowPoint(); d; d = this.readyShadowPoint()) {
        await d.step();
        shadow.completeStep();
      }
    }
    const r = shadow.takeFinished();
    if (r) this.compare(r);
  }

  /** At the end of the input: finishes a shadow block still being decoded, so the last block's comparison is not lost. */
  async finish(): Promise<void> {
    const shadow = this.shadow;
    for (let d = this.readyShadowPoint(); d; d = this.readyShadowPoint()) {
      await d.step();
      shadow.completeStep();
    }
    const r = shadow.takeFinished();
    if (r) this.compare(r);
  }

  /** The shadow's next point, when its frames are in (called inside the streaming step). */
  prepareStep(): DecoderStep | undefined {
    if (!this.shadow.blockInProgress) this.beginShadowBlock();
    return this.readyShadowPoint();
  }

  /** The shared step's output for the shadow. */
  completeStep(): void {
    this.shadow.completeStep();
  }

  /** The shadow decoder with its next point filled in, if that point's frames are in. */
  private readyShadowPoint(): DecoderStep | undefined {
    const shadow = this.shadow;
    const t = shadow.nextPoint;
    if (t === undefined || t >= this.points) return undefined;
    const block = shadow.blocksDone - 1;
    const slot = block % 2;
    if (this.frameBlock[slot] !== block) return undefined;
    const need = shadow.framesOfPoint(t);
    const seen = this.frameSeen[slot]!;
    if (seen[need.lo] === 0 || (need.w > 0 && seen[need.hi] === 0)) return undefined;
    shadow.fillPoint(t, this.frameBuf[slot]!);
    return shadow.prepareStep();
  }

  /** Starts the shadow on the block the streaming session is in, once its first frame came. */
  private beginShadowBlock(): void {
    const shadow = this.shadow;
    // Blocks whose frames were never all seen (a session restart inside them) are passed over.
    for (;;) {
      const b = shadow.blocksDone;
      const own = this.frameBlock[b % 2]!;
      if (own === b || !(own > b || this.frameBlock[(b + 1) % 2] === b + 1)) break;
      shadow.skipBlock();
      this.shadowBlocksSkipped++;
    }
    if (this.frameBlock[shadow.blocksDone % 2] === shadow.blocksDone) shadow.beginBlockByPoints();
  }

  /** Compares a finished shadow block with the recorded streaming steps of the same moments. */
  private compare(r: BlockResult): void {
    this.listener.onShadowBlock?.(r);
    const firstStep = r.block * this.points;
    // A comparison is made only for a block whose slots still hold its steps.
    if (this.slots.takeBlock(firstStep) < 0) {
      this.shadowBlocksSkipped++;
      return;
    }
    const per = this.perStep;
    const c = compareBlock(
      r.block,
      firstStep,
      r.start,
      r.block === 0,
      this.blockPoses,
      (i) => this.slots.slotOf(firstStep + i),
      r.poses,
      this.points,
      (i, err) => {
        per[2 * i] = err.mae;
        per[2 * i + 1] = err.mse;
      },
    );
    c.perStep = per.subarray(0, 2 * this.points);
    this.listener.onBlock(c);
  }
}
