import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../common/paths.js';
import { round3 } from '../common/round.js';
import type { Logger } from '../common/logger.js';
import { isLoopbackHost, type LiveViewSettings } from './live-view-settings.js';
import type { Mode, PoseEvent } from '../domain/pose.js';
import { captureTime, publishedAge } from './pose-age.js';

/**
 * The live view's HTTP server: one per daemon, shared by every stream's plug-in. It serves the
 * page (web/live/ of the package) and one Server-Sent Events stream per viewer carrying every
 * stream's frames.
 *
 * Server-Sent Events rather than WebSocket: the data goes one way, browsers reconnect by
 * themselves, Node's http module is all the server needs (no dependency, no framing code), and
 * the socket's own backpressure (`writableNeedDrain`) tells when a viewer is slow.
 *
 * The 50 Hz loop only ever copies a pose into a channel's preallocated buffer. A timer at
 * `rate_hz` turns each channel's newest pose into one message and writes it to every viewer
 * whose socket has drained; a viewer still behind misses that frame (counted as dropped), and
 * poses that arrived between two timer ticks are coalesced (counted too).
 */
const STATIC: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/live.js': { file: 'live.js', type: 'text/javascript; charset=utf-8' },
  '/hand-model.js': { file: 'hand-model.js', type: 'text/javascript; charset=utf-8' },
  '/live.css': { file: 'live.css', type: 'text/css; charset=utf-8' },
};

export const LIVE_WEB_DIR = join(PACKAGE_ROOT, 'web', 'live');

export interface ChannelCounts {
  /** Poses the stream handed over. */
  poses: number;
  /** Poses replaced by a newer one before the timer sent them. */
  coalesced: number;
  /** Frame writes to viewers. */
  sent: number;
  /** Frames not written to a viewer whose socket had not drained. */
  dropped: number;
}

/** One stream's newest pose, kept in buffers allocated once. */
export class LiveChannel {
  readonly angles: Float32Array;
  /** The newest pose after the One Euro filter, where smoothing is on (the page can show either). */
  readonly smoothed: Float32Array | undefined;
  t = 0;
  step = -1;
  mode: Mode = 'streaming';
  /** performance.now() when the newest pose's last input sample arrived (NaN: unknown). */
  inputArrivedAt = NaN;
  /** Largest T_compute of the units since the last frame (the strip shows the worst). */
  computeMs = NaN;
  rateHz = 0;
  dirty = false;
  readonly counts: ChannelCounts = { poses: 0, coalesced: 0, sent: 0, dropped: 0 };
  private pendingPoses = 0;
  private rateT0 = performance.now();
  private rateN = 0;

  constructor(
    readonly id: string,
    readonly jointNames: readonly string[],
    smoothed = false,
  ) {
    this.angles = new Float32Array(jointNames.length);
    this.smoothed = smoothed ? new Float32Array(jointNames.length) : undefined;
  }

  /** The `smoothed` listener: the stream's smoothed pose, copied (allocates nothing). */
  smoothedPose(a: Float32Array): void {
    const out = this.smoothed;
    if (!out) return;
    const n = Math.min(a.length, out.length);
    for (let i = 0; i < n; i++) out[i] = a[i]!;
  }

  /** The `pose` listener: copies, allocates nothing. */
  pose(e: PoseEvent): void {
    const a = e.angles;
    const n = Math.min(a.length, this.angles.length);
    for (let i = 0; i < n; i++) this.angles[i] = a[i]!;
    this.t = e.t;
    this.step = e.step;
    this.mode = e.mode;
    this.inputArrivedAt = e.inputArrivedAt;
    this.counts.poses++;
    this.pendingPoses++;
    this.rateN++;
    this.dirty = true;
  }

  /** The `unit` listener. */
  unit(computeMs: number, mode: Mode): void {
    if (!(computeMs <= this.computeMs)) this.computeMs = computeMs;
    this.mode = mode;
  }

  /** The frame the timer sends, or null when nothing new came; resets the per-frame figures. */
  takeFrame(now: number): string | null {
    const dt = now - this.rateT0;
    if (dt >= 1000) {
      this.rateHz = (this.rateN * 1000) / dt;
      this.rateT0 = now;
      this.rateN = 0;
    }
    if (!this.dirty) return null;
    if (this.pendingPoses > 1) this.counts.coalesced += this.pendingPoses - 1;
    this.pendingPoses = 0;
    this.dirty = false;
    const a = anglesText(this.angles);
    const sa = this.smoothed ? `,"sa":[${anglesText(this.smoothed)}]` : '';
    const ms = Number.isFinite(this.computeMs) ? round3(this.computeMs) : null;
    this.computeMs = NaN;
    const age = publishedAge(now - this.inputArrivedAt);
    return `event: pose\ndata: {"s":${JSON.stringify(this.id)},"t":${round3(this.t)},"step":${this.step},"mode":"${this.mode}","ms":${ms},"t_capture":${captureTime(Date.now(), age)},"age_ms":${age},"hz":${Math.round(this.rateHz * 10) / 10},"a":[${a}]${sa}}\n\n`;
  }
}

/** Angles rounded to 1e-4 rad (a pixel of the drawing is far coarser), comma-separated. */
function anglesText(angles: Float32Array): string {
  let a = '';
  for (let i = 0; i < angles.length; i++) a += (i ? ',' : '') + (Math.round(angles[i]! * 1e4) / 1e4).toString();
  return a;
}

interface Viewer {
  res: ServerResponse;
}

export class LiveViewServer {
  private server: Server | undefined;
  private readonly channels = new Map<string, LiveChannel>();
  private readonly viewers = new Set<Viewer>();
  private files = new Map<string, Buffer>();
  private timer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private address: AddressInfo | undefined;
  private listening: Promise<string> | undefined;
  /** Viewers turned away because max_viewers were connected. */
  refused = 0;
  /** Viewers that connected over the server's life. */
  viewersTotal = 0;

  constructor(
    private readonly settings: LiveViewSettings,
    private readonly log?: Logger,
  ) {}

  get url(): string {
    if (!this.address) return '';
    const h = this.address.family === 'IPv6' ? `[${this.address.address}]` : this.address.address;
    return `http://${h}:${this.address.port}/`;
  }

  get viewerCount(): number {
    return this.viewers.size;
  }

  /**
   * Reads the page's files and listens; rejects with one line naming the key on EADDRINUSE and
   * the like. Every stream's plug-in calls it: the first call listens, the others get the same
   * outcome (so a taken port disables each stream's live view alike, and the run goes on).
   */
  listen(): Promise<string> {
    this.listening ??= this.open();
    return this.listening;
  }

  private async open(): Promise<string> {
    const s = this.settings;
    if (!s.allow_remote && !isLoopbackHost(s.host)) {
      throw new Error(
        `outputs.live_view.host = ${s.host}: not a loopback address (set outputs.live_view.allow_remote: true to serve the network)`,
      );
    }
    for (const { file } of Object.values(STATIC)) this.files.set(file, readFileSync(join(LIVE_WEB_DIR, file)));
    const server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) =>
        reject(new Error(`outputs.live_view: cannot listen on ${s.host}:${s.port} (${e.code ?? e.message})`)),
      );
      server.listen(s.port, s.host, () => resolve());
    });
    server.on('error', (e) => this.log?.warn({ err: String(e) }, 'live view server error'));
    this.server = server;
    this.address = server.address() as AddressInfo;
    this.timer = setInterval(() => this.flush(), 1000 / s.rate_hz);
    this.timer.unref();
    // A comment line now and then keeps idle proxies and the browser from closing the stream.
    this.pingTimer = setInterval(() => this.broadcast(': ping\n\n'), 15000);
    this.pingTimer.unref();
    return this.url;
  }

  addStream(id: string, jointNames: readonly string[], smoothed = false): LiveChannel {
    if (this.channels.has(id)) throw new Error(`live view: stream "${id}" is already shown`);
    const ch = new LiveChannel(id, jointNames, smoothed);
    this.channels.set(id, ch);
    this.broadcast(this.streamsMessage());
    return ch;
  }

  removeStream(id: string): void {
    if (this.channels.delete(id)) this.broadcast(this.streamsMessage());
  }

  /** Sends each channel's newest pose to every viewer that keeps up. */
  flush(now = performance.now()): void {
    for (const ch of this.channels.values()) {
      const frame = ch.takeFrame(now);
      if (frame === null) continue;
      for (const v of this.viewers) {
        if (v.res.writableNeedDrain) {
          ch.counts.dropped++;
          continue;
        }
        v.res.write(frame);
        ch.counts.sent++;
      }
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.timer = this.pingTimer = undefined;
    this.listening = undefined;
    for (const v of this.viewers) v.res.destroy();
    this.viewers.clear();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private streamsMessage(): string {
    const streams = [...this.channels.values()].map((c) => ({
      id: c.id,
      joints: c.jointNames,
      smoothed: c.smoothed !== undefined,
    }));
    return `event: streams\ndata: ${JSON.stringify({ streams, strip_s: this.settings.latency_strip_s, rate_hz: this.settings.rate_hz })}\n\n`;
  }

  private broadcast(msg: string): void {
    for (const v of this.viewers) if (!v.res.writableNeedDrain) v.res.write(msg);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    // A page on another site could point a name of its own at 127.0.0.1 (DNS rebinding) and
    // read the stream; on loopback only requests that name this machine are answered.
    if (!this.settings.allow_remote && !isLoopbackHost((req.headers.host ?? '').replace(/:\d+$/, ''))) {
      res
        .writeHead(421, { 'content-type': 'text/plain' })
        .end('misdirected request: the live view answers only to localhost\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/events') return this.subscribe(req, res);
    const st = STATIC[path];
    if (!st) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const body = this.files.get(st.file)!;
    res.writeHead(200, {
      'content-type': st.type,
      'content-length': body.length,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  private subscribe(req: IncomingMessage, res: ServerResponse): void {
    if (this.viewers.size >= this.settings.max_viewers) {
      this.refused++;
      res
        .writeHead(503, { 'content-type': 'text/plain', 'retry-after': '5' })
        .end(`${this.settings.max_viewers} viewers already connected (outputs.live_view.max_viewers)\n`);
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(`retry: 1000\n\n${this.streamsMessage()}`);
    const v: Viewer = { res };
    this.viewers.add(v);
    this.viewersTotal++;
    const gone = (): void => {
      this.viewers.delete(v);
    };
    req.on('close', gone);
    res.on('error', gone);
  }
}
