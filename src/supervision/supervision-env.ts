import type { RingBuffer } from '../acquisition/ring-buffer.js';
import type { SignalQualityReport } from '../acquisition/source.js';
import type { NotifyHub } from './notify-hub.js';

/** What a stream offers its supervisors besides their settings. */
export interface SupervisionEnv {
  /** The session can stream: the streaming supervisors run. They get no predictor (the session steps it). */
  streams: boolean;
  /** The source's ground-truth joint angles, where it has them. */
  truth: RingBuffer | undefined;
  providers: Record<string, string>;
  /** The streaming decoder's largest |h| or |c|. */
  stateMaxAbs: () => number;
  files: { latency: string; alignment: string };
  /** The daemon's systemd notify hub (inert without NOTIFY_SOCKET). */
  notify?: NotifyHub | undefined;
  /** The source's per-channel signal quality, where the source measures it. */
  signalQuality?: (() => SignalQualityReport | undefined) | undefined;
}
