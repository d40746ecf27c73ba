import type { MqttConfig } from '../config/mqtt-schema.js';
import type { Plugin, PluginContext, PluginReport } from '../domain/plugin.js';
import type { Mode } from '../domain/pose.js';
import { MqttSink, type ModelSummary } from './mqtt-sink.js';

/** MQTT on the bus: poses, events and mode switches of one stream go to its topics. */
export class MqttOutput implements Plugin {
  readonly name = 'mqtt';
  private sink: MqttSink | undefined;

  constructor(private readonly cfg: MqttConfig, private readonly opts: { mode: Mode; model: ModelSummary }) {}

  async start(ctx: PluginContext): Promise<void> {
    const sink = new MqttSink(this.cfg, { log: ctx.log, mode: this.opts.mode, model: this.opts.model });
    await sink.start();
    this.sink = sink;
    ctx.bus.on(this, 'pose', (e) => sink.write(e));
    // Mode switches go out from `mode`, with their from/to/reason.
    ctx.bus.on(this, 'event', (e) => {
      if (e.kind !== 'mode_switch') sink.publishEvent(e);
    });
    ctx.bus.on(this, 'mode', (sw) => sink.publishEvent({ time: sw.time, kind: 'mode_switch', atSample: sw.at_sample, atStep: sw.at_step, from: sw.from, to: sw.to, reason: sw.reason }));
  }

  async stop(): Promise<void> {
    const s = this.sink;
    this.sink = undefined;
    await s?.close();
  }

  report(): PluginReport {
    return { sections: { mqtt: this.sink?.stats() ?? null } };
  }
}
