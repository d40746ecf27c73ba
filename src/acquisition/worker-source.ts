import { Worker } from 'node:worker_threads';
import { UserError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { CTRL_ACK, CTRL_STOP, CTRL_WORDS } from './gap-gate.js';
import { RingBuffer } from './ring-buffer.js';
import type { AcquisitionStats, EmgSource, SampleSink, SignalQualityReport, SourceInfo } from './source.js';
import type { AdcWorkerConfig, WorkerInput, WorkerMessage } from './adc-worker.js';
import { MaskHistory } from './signal-quality.js';

export interface AdcSourceEvents {
  /** The chips are configured and verified (IDs, register images). */
  onReady?(info: Extract<WorkerMessage, { type: 'ready' }>): void;
}

/**
 * An ADC (the ADS1299 pair, the I2C ADC, or their simulators) as a source. The driver runs in a
 * worker thread that appends into the pipeline's shared ring; this object relays the worker's
 * gaps to the sink (and acknowledges them, which releases the frames held behind each gap) and
 * keeps its counters.
 */
export class AdcWorkerSource implements EmgSource {
  readonly info: SourceInfo;
  private last: AcquisitionStats = {};
  private lastQuality: SignalQualityReport | undefined;
  private readonly masks = new MaskHistory();
  private markIdentified: () => void = () => undefined;

  constructor(
    private readonly config: AdcWorkerConfig,
    private readonly log?: Logger,
    private readonly events: AdcSourceEvents = {},
  ) {
    const identified = new Promise<void>((resolve) => {
      this.markIdentified = resolve;
    });
    this.info = {
      kind: config.kind,
      description: `${config.kind} (${config.where}, ${config.preprocess ? `high-pass ${config.preprocess.highpassHz} Hz, ×${config.preprocess.scale}/V` : 'volts, no preprocessing'})`,
      sampleRate: config.sampleRate,
      channels: config.channels,
      hasJointAngles: false,
      live: true,
      chipIds: [],
      identified,
      ...(config.maxSamples > 0 ? { totalSamples: config.maxSamples } : {}),
    };
  }

  stats(): AcquisitionStats {
    return this.last;
  }

  quality(): SignalQualityReport | undefined {
    return this.lastQuality;
  }

  qualityMask(atSample: number): number {
    return this.masks.maskAt(atSample);
  }

  run(sink: SampleSink, signal: AbortSignal): Promise<void> {
    const ring = sink.emg;
    const what = this.config.kind;
    if (!(ring instanceof RingBuffer)) {
      return Promise.reject(
        new Error(
          `${what} source: the sink must hand over the shared RingBuffer itself (the driver writes from its own thread)`,
        ),
      );
    }
    if (ring.channels !== this.config.channels)
      return Promise.reject(
        new Error(`${what} source: ring has ${ring.channels} channels, needs ${this.config.channels}`),
      );
    const control = new SharedArrayBuffer(CTRL_WORDS * 4);
    const ctrl = new Int32Array(control);
    const data: WorkerInput = { ring: ring.layout(), control, config: this.config };
    const worker = new Worker(new URL('./adc-worker.js', import.meta.url), { workerData: data });
    return new Promise<void>((resolve, reject) => {
      let done = false;
      let failure: Error | undefined;
      const stop = (): void => {
        Atomics.store(ctrl, CTRL_STOP, 1);
        worker.postMessage({ type: 'stop' });
        // A driver stuck in a native call cannot answer; do not let shutdown hang on it.
        setTimeout(() => void worker.terminate(), 3000).unref();
      };
      signal.addEventListener('abort', stop, { once: true });
      worker.on('message', (m: WorkerMessage) => {
        switch (m.type) {
          case 'gap':
            sink.gap({ atSample: m.atSample, lostSamples: m.lostSamples, reason: m.reason });
            Atomics.store(ctrl, CTRL_ACK, m.seq);
            break;
          case 'note':
            sink.note(m.kind, m.atSample, m.detail, m.data);
            break;
          case 'ready':
            // Filled in place: the run's meta and health read the same array once the chips answer.
            this.info.chipIds?.splice(
              0,
              Infinity,
              ...m.report.ids.map((i) => (i === null ? null : `0x${i.toString(16)}`)),
            );
            this.log?.info({ source: m.description, ids: this.info.chipIds }, 'ADC configured and verified');
            this.markIdentified();
            this.events.onReady?.(m);
            break;
          case 'stats':
            this.last = m.stats;
            break;
          case 'quality':
            this.lastQuality = m.report;
            this.masks.set(m.atSample, m.report.bad_mask);
            break;
          case 'ended':
            this.last = m.stats;
            done = true;
            break;
          case 'error':
            failure = m.user ? new UserError(m.message) : new Error(m.message);
            break;
        }
      });
      worker.on('error', (e) => {
        failure ??= e;
      });
      worker.on('exit', (code) => {
        signal.removeEventListener('abort', stop);
        // Never configured (a refused chip, a stop first): the IDs stay as they are.
        this.markIdentified();
        if (failure) reject(failure);
        else if (done || signal.aborted) resolve();
        else reject(new Error(`${what} acquisition worker exited (code ${code}) without finishing`));
      });
    });
  }
}
