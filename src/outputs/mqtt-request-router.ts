import type { IPublishPacket, MqttClient } from 'mqtt';
import type { Logger } from '../common/logger.js';
import { jsonOptions } from './mqtt-link-policy.js';
import { requestFromMessage } from './mqtt-messages.js';
import type { MqttRequest } from './mqtt-types.js';

/**
 * The sink's side of the control plane: the subscription to <prefix>/request/+ after every
 * (re)connection, handing requests to the handler, and sending answers. Off until a handler is set.
 */
export class MqttRequestRouter {
  private handler: ((r: MqttRequest) => void) | undefined;
  /** Subscribed to <prefix>/request/+ (false while off, refused or disconnected). */
  subscribed = false;
  responsesPublished = 0;

  constructor(
    /** <prefix>/request/+ */
    private readonly filter: string,
    private readonly log: Logger,
  ) {}

  get enabled(): boolean {
    return this.handler !== undefined;
  }

  setHandler(handler: (r: MqttRequest) => void): void {
    this.handler = handler;
  }

  /**
   * Subscribes on a fresh connection. `current` says whether `c` is still the live client when the
   * answer comes; a refusal is reported through `refused` and leaves poses unaffected.
   */
  subscribe(c: MqttClient, url: string, current: () => boolean, refused: (why: string) => void): void {
    if (this.handler === undefined) return;
    const filter = this.filter;
    c.subscribe(filter, { qos: 1 }, (err, granted) => {
      if (!current()) return;
      const code = granted?.[0]?.qos;
      if (err || code === undefined || code >= 128) {
        this.subscribed = false;
        const why = err ? err.message : `reason code ${code ?? 'none'} (not authorised by the broker's ACL?)`;
        refused(`subscribe ${filter}: ${why}`);
        this.log.warn(
          { broker: url, topic: filter },
          `MQTT control plane off: the broker refused the subscription to ${filter}: ${why}; poses are unaffected`,
        );
        return;
      }
      this.subscribed = true;
    });
  }

  route(topic: string, payload: Buffer, packet: IPublishPacket): void {
    const h = this.handler;
    if (h === undefined) return;
    const req = requestFromMessage(this.filter, topic, payload, packet);
    if (req !== undefined) h(req);
  }

  /** Publishes an answer (QoS 1, not retained); MQTT 5 echoes the requester's correlation data. */
  respond(c: MqttClient, protocol: 4 | 5, topic: string, payload: string, correlationData?: Buffer): void {
    const opts = jsonOptions(protocol, 1, false, correlationData !== undefined ? { correlationData } : {});
    c.publish(topic, payload, opts, (err) => {
      if (!err) this.responsesPublished++;
    });
  }
}
