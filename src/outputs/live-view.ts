import type { LiveViewSettings } from './live-view-settings.js';
import type { Plugin, PluginContext, PluginReport } from '../domain/plugin.js';
import { type LiveChannel, LiveViewServer } from './live-view-server.js';
// Its settings' schema, for its registry row.
export { liveViewSchema } from './live-view-settings.js';

/**
 * One stream's part of the live view. The daemon makes one LiveViewServer (its constructor
 * only stores the settings) and hands it to each stream's plug-in; the first plug-in to start
 * makes it listen, and the daemon closes it after the streams have stopped. A plug-in given no
 * server makes and owns its own, closing it in stop(). Either way the bus listeners only copy
 * into the channel's buffers.
 */
export class LiveViewPlugin implements Plugin {
  readonly name = 'live_view';
  private server: LiveViewServer | undefined;
  private owned = false;
  private channel: LiveChannel | undefined;
  private streamId = '';

  /**
   * `smoothed`: the stream has a smoothed companion (outputs.smoothing on), whose `smoothed`
   * poses the page can show instead of the raw ones.
   */
  constructor(
    private readonly settings: LiveViewSettings,
    private readonly shared?: LiveViewServer,
    private readonly smoothed = false,
  ) {}

  async start(ctx: PluginContext): Promise<void> {
    this.streamId = ctx.stream.id;
    this.owned = !this.shared;
    this.server = this.shared ?? new LiveViewServer(this.settings, ctx.log);
    await this.server.listen();
    const ch = this.server.addStream(ctx.stream.id, ctx.stream.jointNames, this.smoothed);
    this.channel = ch;
    ctx.bus.on(this, 'pose', (e) => ch.pose(e));
    if (this.smoothed) ctx.bus.on(this, 'smoothed', (e) => ch.smoothedPose(e.angles));
    ctx.bus.on(this, 'unit', (e) => ch.unit(e.computeMs, e.mode));
    ctx.log.info({ url: this.server.url, stream: ctx.stream.id }, 'live view');
  }

  async stop(): Promise<void> {
    if (this.server && this.channel) this.server.removeStream(this.streamId);
    this.channel = undefined;
    if (this.owned && this.server) await this.server.close();
  }

  report(): PluginReport {
    const c = this.channel?.counts ?? { poses: 0, coalesced: 0, sent: 0, dropped: 0 };
    return {
      sections: {
        live_view: {
          url: this.server?.url ?? '',
          viewers: this.server?.viewerCount ?? 0,
          viewers_total: this.server?.viewersTotal ?? 0,
          viewers_refused: this.server?.refused ?? 0,
          poses: c.poses,
          frames_sent: c.sent,
          frames_dropped_slow_viewer: c.dropped,
          poses_coalesced: c.coalesced,
        },
      },
      counts: {
        live_view_frames_sent: c.sent,
        live_view_frames_dropped: c.dropped,
        live_view_poses_coalesced: c.coalesced,
      },
    };
  }
}
