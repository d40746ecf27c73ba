import { RingBuffer } from '../acquisition/ring-buffer.js';
import type { EmgSource, SampleSink } from '../acquisition/source.js';
import { UserError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { round3 } from '../common/round.js';
import type { Config } from './config.js';
import { LEFT_CONTEXT, NUM_CHANNELS, POSE_DIM, SAMPLE_RATE } from '../domain/geometry.js';

/** Default signal length for sources without an end (synthetic, hardware): 6 blocks. */
export const DEFAULT_ALIGN_SECONDS = 30;

/** How often a live source's progress is looked at: it writes from its own thread and never waits. */
const LIVE_POLL_MS = 50;

export interface AlignSignal {
  ring: RingBuffer;
  truth: RingBuffer | undefined;
}

/**
 * Reads the whole signal to align into memory: a recording all of it (or input.duration_s), a
 * source without an end input.duration_s or DEFAULT_ALIGN_SECONDS. A live ADC writes into the
 * ring from its worker and never asks for room, so its progress is polled and the source is
 * stopped once the signal is long enough; a live source that stalls is given twice the signal's
 * length in wall time plus 10 s, then the command goes on with what arrived or says what it lacked.
 */
export async function readAlignSignal(source: EmgSource, cfg: Config, log: Logger): Promise<AlignSignal> {
  const seconds =
    cfg.input.duration_s > 0
      ? cfg.input.duration_s
      : source.info.totalSamples
        ? source.info.totalSamples / SAMPLE_RATE
        : DEFAULT_ALIGN_SECONDS;
  const want = Math.round(seconds * SAMPLE_RATE);
  const blockWindow = LEFT_CONTEXT + cfg.runtime.exact.block_samples;
  if (want < blockWindow)
    throw new UserError(
      `align needs at least one exact block (${blockWindow} samples = ${blockWindow / SAMPLE_RATE} s); the source gives ${want}`,
    );
  // Room for what a live source writes between two polls and while it stops.
  const ring = RingBuffer.create(want + 4096, NUM_CHANNELS);
  const truth = source.info.hasJointAngles ? RingBuffer.create(want + 4096, POSE_DIM) : undefined;
  const abort = new AbortController();
  let gapFailure: UserError | undefined;
  const sink: SampleSink = {
    emg: ring,
    note: () => undefined,
    ...(truth ? { truth } : {}),
    gap: (g) => {
      gapFailure ??= new UserError(
        `align: the source lost ${g.lostSamples} samples at sample ${g.atSample} (${g.reason}); alignment needs a continuous signal`,
      );
      abort.abort();
    },
    waitForSpace: async () => {
      if (ring.written >= want) abort.abort();
    },
  };
  let timedOut = false;
  const poll = setInterval(() => {
    if (ring.written >= want) abort.abort();
  }, LIVE_POLL_MS);
  const wallLimitS = Math.round(2 * seconds + 10);
  const wallLimit = setTimeout(() => {
    timedOut = true;
    abort.abort();
  }, wallLimitS * 1000);
  log.info(
    { source: source.info.description, seconds: round3(want / SAMPLE_RATE) },
    'reading signal for the alignment regression',
  );
  try {
    await source.run(sink, abort.signal);
  } finally {
    clearInterval(poll);
    clearTimeout(wallLimit);
  }
  if (gapFailure) throw gapFailure;
  if (ring.oldest > 0)
    throw new UserError(
      `align: the source wrote past the ${ring.capacity}-sample buffer before it stopped; alignment needs the signal from its first sample`,
    );
  if (ring.written < blockWindow) {
    const why = timedOut
      ? `gave ${ring.written} samples in ${wallLimitS} s of wall time`
      : `ended after ${ring.written} samples`;
    throw new UserError(`align: the source ${why}; one exact block needs ${blockWindow}`);
  }
  if (timedOut)
    log.warn(
      { samples: ring.written, wanted: want },
      `the source gave less signal than asked for in ${wallLimitS} s of wall time; aligning what arrived`,
    );
  return { ring, truth };
}
