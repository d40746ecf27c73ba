import type { Plugin, PluginContext, PluginReport } from '../domain/plugin.js';
import type { TickEvent, UnitEvent } from '../domain/events.js';
import { RollingWindow } from '../common/statistics.js';
import type { NotifyHub, StreamProgress } from './notify-hub.js';

/** Units the STATUS= P95 is taken over: 5 s of streaming steps. */
const P95_WINDOW_UNITS = 250;

/**
 * One stream's part of the systemd notify protocol. It reports the stream's progress to the
 * daemon's NotifyHub (which owns the socket and the timer): its first unit (READY waits for
 * every stream's), the samples and poses of the session (the hub's watchdog pings only while
 * both grow), the mode, and the P95 of recent T_compute for STATUS=. Without NOTIFY_SOCKET the
 * hub is inert and so is this.
 *
 * The hub reads `samples`/`poses`/`mode` from the session when it checks, so the 50 Hz path
 * only pays for one number pushed into a preallocated window per unit.
 */
export class SystemdNotifyPlugin implements Plugin, StreamProgress {
  readonly name = 'systemd-notify';
  stepped = false;
  finished = false;
  private ctx: PluginContext | undefined;
  private readonly compute = new RollingWindow(P95_WINDOW_UNITS);
  private detach: (() => void) | undefined;

  constructor(private readonly hub: NotifyHub) {}

  get id(): string {
    return this.ctx?.stream.id ?? 'main';
  }

  get samples(): number {
    return this.ctx?.session.samples ?? 0;
  }

  get poses(): number {
    return this.ctx?.session.poses ?? 0;
  }

  get mode(): string {
    return this.ctx?.session.mode ?? 'starting';
  }

  p95Ms(): number {
    return this.compute.percentile(95);
  }

  start(ctx: PluginContext): void {
    this.ctx = ctx;
    if (!this.hub.enabled) return;
    this.detach = this.hub.attach(this);
    ctx.bus.on(this, 'unit', (u: UnitEvent) => this.onUnit(u));
    ctx.bus.on(this, 'tick', (t: TickEvent) => this.onTick(t));
  }

  stop(): void {
    this.detach?.();
    this.detach = undefined;
  }

  report(): PluginReport {
    if (!this.hub.enabled) return {};
    const c = this.hub.counts;
    return { counts: { systemd_watchdog_pings: c.pings, systemd_watchdog_withheld: c.withheld } };
  }

  private onUnit(u: UnitEvent): void {
    this.compute.push(u.computeMs);
    if (!this.stepped) {
      this.stepped = true;
      this.hub.stepped();
    }
  }

  private onTick(t: TickEvent): void {
    if (!t.final || this.finished) return;
    this.finished = true;
    this.hub.finished();
  }
}
