import ort from 'onnxruntime-node';
import type { Logger } from '../common/logger.js';
import { UserError, errorMessage } from '../common/errors.js';

export type ExecutionProviderName = 'tensorrt' | 'cuda' | 'cpu';

export interface SessionOptions {
  /** Preference order; the first that loads wins. */
  executionProviders: readonly ExecutionProviderName[];
  deviceId: number;
  intraOpThreads: number;
  interOpThreads: number;
  /**
   * Let the intra-op worker threads spin while waiting for work (onnxruntime's default). Only
   * matters with more than one intra-op thread; spinning threads take CPU from the rest of the
   * daemon and from neighbours, which is why it is off by default (USAGE.md, per-device tuning).
   */
  intraOpSpinning?: boolean;
}

export interface ProviderAttempt {
  provider: ExecutionProviderName;
  ok: boolean;
  reason?: string;
}

export interface LoadedSession {
  session: ort.InferenceSession;
  /** The execution provider this session really runs on. */
  provider: ExecutionProviderName;
  attempts: ProviderAttempt[];
  loadMs: number;
}

function providerChain(p: ExecutionProviderName, deviceId: number): ort.InferenceSession.ExecutionProviderConfig[] {
  // TensorRT hands the nodes it cannot compile to CUDA, and both leave shape glue to the CPU.
  switch (p) {
    case 'tensorrt':
      return [{ name: 'tensorrt', deviceId }, { name: 'cuda', deviceId }, 'cpu'];
    case 'cuda':
      return [{ name: 'cuda', deviceId }, 'cpu'];
    case 'cpu':
      return ['cpu'];
  }
}

/** A GPU provider that failed to load once in this process will fail again: don't retry per graph. */
const failedProviders = new Map<ExecutionProviderName, string>();

// ORT's own environment logger prints provider-load failures as coloured multi-line errors on
// stderr; failures reach us as exceptions anyway, so it only speaks for fatal ones.
ort.env.logLevel = 'fatal';

/**
 * Opens a model on the first execution provider of the preference list that works.
 * onnxruntime-node lists CUDA and TensorRT as known even where their provider libraries
 * are absent, so the only reliable test is to create the session and see.
 */
export async function openSession(modelPath: string, opts: SessionOptions, log: Logger): Promise<LoadedSession> {
  const attempts: ProviderAttempt[] = [];
  const known = new Set(ort.listSupportedBackends().map((b) => b.name));
  for (const provider of opts.executionProviders) {
    const failedBefore = failedProviders.get(provider);
    if (failedBefore !== undefined) {
      attempts.push({ provider, ok: false, reason: failedBefore });
      continue;
    }
    if (!known.has(provider)) {
      attempts.push({ provider, ok: false, reason: 'not built into this onnxruntime-node binary' });
      log.debug(
        { model: modelPath, provider },
        'execution provider not in this onnxruntime-node build; trying the next one',
      );
      continue;
    }
    const t0 = performance.now();
    try {
      const session = await ort.InferenceSession.create(modelPath, {
        executionProviders: providerChain(provider, opts.deviceId),
        intraOpNumThreads: opts.intraOpThreads,
        interOpNumThreads: opts.interOpThreads,
        graphOptimizationLevel: 'all',
        enableCpuMemArena: true,
        enableMemPattern: true,
        // A GPU provider that cannot load is expected off the device; we log our own one-line
        // reason instead of ORT's coloured multi-line error.
        logSeverityLevel: provider === 'cpu' ? 3 : 4,
        extra: { session: { intra_op: { allow_spinning: opts.intraOpSpinning === true ? '1' : '0' } } },
      });
      const loadMs = performance.now() - t0;
      attempts.push({ provider, ok: true });
      log.debug({ model: modelPath, provider, loadMs: Math.round(loadMs) }, 'model loaded');
      return { session, provider, attempts, loadMs };
    } catch (e) {
      const reason = firstLine(errorMessage(e));
      attempts.push({ provider, ok: false, reason });
      if (provider !== 'cpu') failedProviders.set(provider, reason);
      log.debug({ model: modelPath, provider, reason }, 'execution provider unavailable; trying the next one');
    }
  }
  throw new UserError(
    `${modelPath}: no execution provider of runtime.execution_providers [${opts.executionProviders.join(', ')}] could open it: ` +
      attempts.map((a) => `${a.provider}: ${a.reason ?? 'failed'}`).join('; '),
  );
}

function firstLine(s: string): string {
  const line = s.split('\n').find((l) => l.trim().length > 0) ?? s;
  return line.length > 300 ? line.slice(0, 300) + '…' : line;
}
