import { errorMessage, isUserError } from '../common/errors.js';
import { failpoint, failpointArmed, failpointsArmed } from '../common/failpoints.js';
import type { Logger } from '../common/logger.js';
import { EventBus, type Owner } from '../domain/bus.js';
import type { RunEvent, RunEventKind, RunEvents } from '../domain/events.js';
import type { MergedReport, Plugin, PluginContext, PluginReport } from '../domain/plugin.js';
import { mergeReports } from '../domain/report-merge.js';

/** What the host needs from the session to give each plug-in its context. */
export type HostedContext = Omit<PluginContext, 'fail' | 'report' | 'bus' | 'record'>;

interface Slot {
  readonly plugin: Plugin;
  state: 'idle' | 'started' | 'stopped' | 'failed';
}

/**
 * Owns the plug-ins of one stream: starts them in order, stops them in reverse (each stop
 * awaited), and contains failures. A listener that throws, a `start` that fails, or a plug-in
 * that reports an unrecoverable failure through `ctx.fail` is stopped and disabled; the failure
 * is logged, recorded as a `plugin_failed` event and kept for summary.json and health, and every
 * other plug-in and the 50 Hz loop go on. Only a configuration error at start (a UserError) is
 * fatal: the run has not begun and the user must fix the input.
 */
export class PluginHost {
  readonly bus: EventBus<RunEvents>;
  private readonly slots: Slot[];
  private readonly disabled: MergedReport['disabled'] = [];
  private ctx: HostedContext | undefined;
  private readonly sources: { report(): PluginReport }[] = [];

  constructor(
    plugins: readonly Plugin[],
    private readonly log: Logger,
  ) {
    this.slots = plugins.map((plugin) => ({ plugin, state: 'idle' }));
    this.bus = new EventBus<RunEvents>((owner, event, err) => this.failed(owner, event, err));
  }

  get names(): string[] {
    return this.slots.map((s) => s.plugin.name);
  }

  /** Whether the plug-in of this name started and has not been stopped or disabled. */
  running(name: string): boolean {
    return this.slots.some((s) => s.plugin.name === name && s.state === 'started');
  }

  /** The session's own part of the report (counts, mode switches, source) comes from here too. */
  addReportSource(s: { report(): PluginReport }): void {
    this.sources.push(s);
  }

  /** Records a happening on the bus; listeners (events.jsonl, MQTT, counts) take it from there. */
  record(kind: RunEventKind, atSample: number, detail: string, data?: RunEvent['data']): void {
    const e: RunEvent = { time: new Date().toISOString(), kind, atSample, detail, ...(data ? { data } : {}) };
    this.bus.emit('event', e);
  }

  async start(ctx: HostedContext): Promise<void> {
    this.ctx = ctx;
    for (const slot of this.slots) {
      try {
        if (failpointsArmed()) failpoint(`plugin.${slot.plugin.name}.start`);
        await slot.plugin.start(this.contextFor(slot.plugin));
        if (slot.state === 'idle') slot.state = 'started';
      } catch (e) {
        if (isUserError(e)) {
          await this.stop();
          throw e;
        }
        this.failed(slot.plugin, 'start', e);
      }
    }
  }

  async stop(): Promise<void> {
    for (const slot of [...this.slots].reverse()) {
      if (slot.state !== 'started') continue;
      slot.state = 'stopped';
      this.bus.removeListeners(slot.plugin);
      try {
        if (failpointsArmed()) failpoint(`plugin.${slot.plugin.name}.stop`);
        await slot.plugin.stop();
      } catch (e) {
        this.log.error({ plugin: slot.plugin.name }, `plug-in ${slot.plugin.name} failed to stop: ${errorMessage(e)}`);
      }
    }
  }

  report(): MergedReport {
    const reports: (PluginReport | undefined)[] = this.sources.map((s) => s.report());
    for (const slot of this.slots) {
      if (slot.state !== 'started' || !slot.plugin.report) continue;
      try {
        if (failpointsArmed()) failpoint(`plugin.${slot.plugin.name}.report`);
        reports.push(slot.plugin.report());
      } catch (e) {
        this.failed(slot.plugin, 'report', e);
      }
    }
    return mergeReports(reports, this.disabled);
  }

  private contextFor(plugin: Plugin): PluginContext {
    const ctx = this.ctx!;
    const listenerPoint = `plugin.${plugin.name}.listener`;
    return {
      ...ctx,
      bus: failpointArmed(listenerPoint) ? failingBus(this.bus, listenerPoint) : this.bus,
      record: (kind, atSample, detail, data) => this.record(kind, atSample, detail, data),
      fail: (error, during) => this.failed(plugin, during, error),
      report: () => this.report(),
    };
  }

  /**
   * A part of the session that is no plug-in (the live shadow) failed and was switched off by
   * its owner: reported as a disabled plug-in is (log, `error` on the bus, `plugin_failed`,
   * summary.json's disabled list), once per name.
   */
  partFailed(name: string, title: string, during: string, error: unknown): void {
    if (this.disabled.some((d) => d.plugin === name)) return;
    this.reportDisabled(name, title, during, errorMessage(error), 'switched off');
  }

  private failed(owner: Owner, during: string, error: unknown): void {
    const slot = this.slots.find((s) => s.plugin === owner);
    const message = errorMessage(error);
    if (!slot) {
      this.log.error({ owner: owner.name, during }, `${owner.name} failed (${during}): ${message}`);
      return;
    }
    if (slot.state === 'failed') return;
    const wasStarted = slot.state === 'started';
    slot.state = 'failed';
    this.bus.removeListeners(slot.plugin);
    // Its stop runs detached: a failing plug-in must not hold up the emit that found it failing.
    if (wasStarted || during === 'start') {
      Promise.resolve()
        .then(() => {
          if (failpointsArmed()) failpoint(`plugin.${slot.plugin.name}.stop`);
          return slot.plugin.stop();
        })
        .catch((e: unknown) =>
          this.log.error(
            { plugin: slot.plugin.name },
            `plug-in ${slot.plugin.name} failed to stop: ${errorMessage(e)}`,
          ),
        );
    }
    this.reportDisabled(slot.plugin.name, `plug-in ${slot.plugin.name}`, during, message, 'disabled');
  }

  private reportDisabled(name: string, title: string, during: string, message: string, what: string): void {
    this.disabled.push({ plugin: name, during, message });
    this.log.error({ plugin: name, during }, `${title} failed (${during}) and is ${what}: ${message}`);
    this.bus.emit('error', { plugin: name, during, message, disabled: true });
    this.record(
      'plugin_failed',
      this.ctx?.session.samples ?? 0,
      `${title} ${what} after a failure in ${during}: ${message}`,
      { plugin: name, during },
    );
  }
}

/**
 * The bus as one plug-in sees it when MYOSTREAM_FAILPOINTS arms `plugin.<name>.listener`: every
 * listener it registers passes that failpoint first, so a throw lands where a listener's own would.
 */
function failingBus(bus: EventBus<RunEvents>, point: string): EventBus<RunEvents> {
  const wrapped = Object.create(bus) as EventBus<RunEvents>;
  wrapped.on = <K extends keyof RunEvents>(owner: Owner, event: K, fn: (payload: RunEvents[K]) => void): void => {
    bus.on(owner, event, (payload: RunEvents[K]) => {
      failpoint(point);
      fn(payload);
    });
  };
  return wrapped;
}
