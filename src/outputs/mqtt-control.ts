import { z } from 'zod';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { PluginContext } from '../domain/plugin.js';
import { boundedReport } from './mqtt-health.js';
import type { MqttRequest } from './mqtt-sink.js';

/** Requests larger than this are answered with `too_large` and not parsed. */
export const MAX_REQUEST_BYTES = 4096;
/** Token bucket: up to RATE_BURST requests at once, refilled at RATE_PER_S; beyond, requests are dropped and counted (no answer: a flood is not echoed). */
export const RATE_PER_S = 5;
export const RATE_BURST = 10;
/** Handlers at work at once (an `align` holds one slot while it runs); one more is answered `busy`. */
export const MAX_IN_FLIGHT = 4;
/** `align` covers at most this many blocks (5 s each): the ring holds about a session's worth. */
export const MAX_ALIGN_BLOCKS = 12;
/** A flood of requests beyond the rate is logged at most once per this interval, with its count. */
export const FLOOD_LOG_INTERVAL_MS = 10_000;
/** stop() waits at most this long for handlers under way. */
const CLOSE_WAIT_MS = 2000;
/** Names that become a response topic level when unknown; anything else is dropped and counted. */
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
/** A response topic the requester names (MQTT 5): a publishable topic, not a wildcard or a $ topic. */
// eslint-disable-next-line no-control-regex -- MQTT forbids U+0000 in a topic
const RESPONSE_TOPIC = /^[^$+#\u0000][^+#\u0000]{0,255}$/;

const transaction = z.union([z.string().max(128), z.number()]).optional();
const bare = z.object({ transaction }).strict();

/** Every request's payload, by name: strict objects, so a misspelt field is an error, not ignored. */
export const requestSchemas = {
  status: bare,
  health: bare,
  set_mode: z.object({ transaction, mode: z.enum(['streaming', 'exact']) }).strict(),
  reset: bare,
  align: z.object({ transaction, blocks: z.number().int().min(1).max(MAX_ALIGN_BLOCKS).default(1) }).strict(),
  snapshot: bare,
  rebirth: bare,
} as const;

export type RequestName = keyof typeof requestSchemas;

/** Machine-readable error codes of a response (`code`), with `error` saying it in words. */
export type ErrorCode =
  'bad_json' | 'invalid_request' | 'unknown_request' | 'too_large' | 'busy' | 'rejected' | 'failed';

/** The answer on <prefix>/response/<name> (or the MQTT 5 response topic). */
export const responseSchema = z
  .object({
    transaction: z.union([z.string(), z.number()]).optional(),
    request: z.string(),
    status: z.enum(['ok', 'error']),
    data: z.record(z.string(), z.unknown()),
    error: z.string().optional(),
    code: z
      .enum(['bad_json', 'invalid_request', 'unknown_request', 'too_large', 'busy', 'rejected', 'failed'])
      .optional(),
    node_id: z.string(),
    stream_id: z.string(),
    ts: z.number().int(),
  })
  .strict();

export type ControlResponse = z.output<typeof responseSchema>;

/** What the control plane needs of the connection (MqttSink provides it). */
export interface ControlLink {
  readonly nodeId: string;
  readonly streamId: string;
  readonly topics: { readonly response: string };
  respond(topic: string, payload: string, correlationData?: Buffer): boolean;
  rebirth(): void;
}

export interface ControlCounts {
  requests: number;
  answered_ok: number;
  answered_error: number;
  /** Dropped without an answer: over the rate, or a name that cannot be a topic level. */
  dropped_rate: number;
  dropped_name: number;
  /** Answers not sent (disconnected when the handler finished). */
  unsent: number;
}

export interface MqttControlOptions {
  ctx: PluginContext;
  link: ControlLink;
  /** The health payload (built on request, as published on <prefix>/health). */
  health: () => Promise<Record<string, unknown>>;
  /** The `status` answer's own fields (node, version, mode…) besides the session's figures. */
  status: () => Record<string, unknown>;
  /** Milliseconds, monotonic; injected by tests of the rate limit. */
  now?: () => number;
  log: Logger;
}

/**
 * The request/response control plane of one stream. Requests come as the sink received them;
 * each is rate-limited, size-checked, parsed and validated before any handler runs, and every
 * handler only calls the session's actions (which queue work between units) or reads reports:
 * nothing reaches a shell or the file system, and nothing here waits on the 50 Hz loop.
 */
export class MqttControl {
  readonly counts: ControlCounts = {
    requests: 0,
    answered_ok: 0,
    answered_error: 0,
    dropped_rate: 0,
    dropped_name: 0,
    unsent: 0,
  };
  private readonly now: () => number;
  private tokens = RATE_BURST;
  private refilledAt: number;
  private inFlight = 0;
  private aligning = false;
  private closed = false;
  /** Rate drops not yet in a log line, and when the last such line was written (monotonic ms). */
  private floodUnlogged = 0;
  private floodLoggedAt = -Infinity;
  /** Handlers still running, so that stop() can wait for them. */
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly o: MqttControlOptions) {
    this.now = o.now ?? (() => performance.now());
    this.refilledAt = this.now();
  }

  /** Entry point for the sink's onRequest. Never throws, never waits. */
  handle(r: MqttRequest): void {
    if (this.closed) return;
    this.counts.requests++;
    if (!this.takeToken()) {
      this.counts.dropped_rate++;
      this.floodUnlogged++;
      if (this.now() - this.floodLoggedAt >= FLOOD_LOG_INTERVAL_MS) this.logFlood();
      return;
    }
    if (!NAME.test(r.name)) {
      this.counts.dropped_name++;
      return;
    }
    if (r.payload.length > MAX_REQUEST_BYTES) {
      this.answerError(
        r,
        undefined,
        'too_large',
        `payload of ${r.payload.length} bytes exceeds the ${MAX_REQUEST_BYTES}-byte limit`,
      );
      return;
    }
    let body: unknown = {};
    const text = r.payload.toString('utf8').trim();
    if (text !== '') {
      try {
        body = JSON.parse(text);
      } catch (e) {
        this.answerError(r, undefined, 'bad_json', `payload is not JSON: ${errorMessage(e)}`);
        return;
      }
    }
    const tx = transactionOf(body);
    const schema = (requestSchemas as Record<string, z.ZodType | undefined>)[r.name];
    if (schema === undefined || !Object.hasOwn(requestSchemas, r.name)) {
      this.answerError(
        r,
        tx,
        'unknown_request',
        `unknown request "${r.name}"; known: ${Object.keys(requestSchemas).join(', ')}`,
      );
      return;
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const where = issue.path.length > 0 ? issue.path.join('.') : 'payload';
      this.answerError(r, tx, 'invalid_request', `${where}: ${issue.message}`);
      return;
    }
    if (this.inFlight >= MAX_IN_FLIGHT) {
      this.answerError(r, tx, 'busy', `${MAX_IN_FLIGHT} requests are being handled; try again`);
      return;
    }
    this.inFlight++;
    const job = this.run(r, r.name as RequestName, parsed.data as Record<string, unknown>, tx).finally(() => {
      this.inFlight--;
      this.running.delete(job);
    });
    this.running.add(job);
  }

  /**
   * One line for the drops since the previous line. The first drop of a flood is logged at once;
   * the rest of it at the first drop FLOOD_LOG_INTERVAL_MS later, and what is left at close().
   */
  private logFlood(): void {
    const t = this.now();
    const since = Number.isFinite(this.floodLoggedAt) ? Math.round((t - this.floodLoggedAt) / 100) / 10 : 0;
    this.o.log.warn(
      {
        dropped: this.floodUnlogged,
        dropped_total: this.counts.dropped_rate,
        over_s: since,
        limit_per_s: RATE_PER_S,
        burst: RATE_BURST,
      },
      `MQTT control: ${this.floodUnlogged} request${this.floodUnlogged === 1 ? '' : 's'} dropped${since > 0 ? ` in the last ${since} s` : ''}: they arrive faster than ${RATE_PER_S} per second (burst ${RATE_BURST}); next report in ${FLOOD_LOG_INTERVAL_MS / 1000} s at the earliest`,
    );
    this.floodUnlogged = 0;
    this.floodLoggedAt = t;
  }

  /** Stops answering and waits (bounded by the handlers themselves) for those under way. */
  async close(): Promise<void> {
    if (this.floodUnlogged > 0 && !this.closed) this.logFlood();
    this.closed = true;
    // An `align` the stopping session will never finish must not hold the stop for ever.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.running]),
      new Promise((r) => (timer = setTimeout(r, CLOSE_WAIT_MS))),
    ]);
    clearTimeout(timer);
  }

  private async run(
    r: MqttRequest,
    name: RequestName,
    req: Record<string, unknown>,
    tx: string | number | undefined,
  ): Promise<void> {
    const { ctx } = this.o;
    const by = `requested over MQTT${tx !== undefined ? ` (transaction ${String(tx)})` : ''}`;
    try {
      switch (name) {
        case 'status':
          this.answerOk(r, tx, {
            ...this.o.status(),
            session: sessionFigures(ctx),
            report: boundedReport(ctx.report()),
          });
          return;
        case 'health':
          this.answerOk(r, tx, await this.o.health());
          return;
        case 'set_mode': {
          const mode = req['mode'] as 'streaming' | 'exact';
          const from = ctx.session.mode;
          const accepted = ctx.actions.requestMode(mode, by);
          if (accepted) this.answerOk(r, tx, { accepted, mode, from });
          else
            this.answerError(r, tx, 'rejected', `mode ${mode} is not available in this session`, {
              accepted,
              mode,
              from,
            });
          return;
        }
        case 'reset':
          ctx.actions.requestReset(by);
          this.answerOk(r, tx, { accepted: true });
          return;
        case 'align': {
          if (this.aligning) {
            this.answerError(r, tx, 'busy', 'an alignment run is already under way; one at a time');
            return;
          }
          this.aligning = true;
          try {
            const figures = await ctx.actions.align(req['blocks'] as number);
            this.answerOk(r, tx, { blocks: req['blocks'], figures });
          } finally {
            this.aligning = false;
          }
          return;
        }
        case 'snapshot':
          ctx.actions.snapshot();
          this.answerOk(r, tx, { dir: ctx.artifacts.dir });
          return;
        case 'rebirth':
          this.o.link.rebirth();
          this.answerOk(r, tx, {});
          return;
      }
    } catch (e) {
      this.answerError(r, tx, 'failed', `${name} failed: ${errorMessage(e)}`);
    }
  }

  private takeToken(): boolean {
    const t = this.now();
    this.tokens = Math.min(RATE_BURST, this.tokens + ((t - this.refilledAt) / 1000) * RATE_PER_S);
    this.refilledAt = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  private answerOk(r: MqttRequest, tx: string | number | undefined, data: Record<string, unknown>): void {
    this.counts.answered_ok++;
    this.send(r, {
      ...(tx !== undefined ? { transaction: tx } : {}),
      request: r.name,
      status: 'ok',
      data,
      node_id: this.o.link.nodeId,
      stream_id: this.o.link.streamId,
      ts: Date.now(),
    });
  }

  private answerError(
    r: MqttRequest,
    tx: string | number | undefined,
    code: ErrorCode,
    error: string,
    data: Record<string, unknown> = {},
  ): void {
    this.counts.answered_error++;
    this.send(r, {
      ...(tx !== undefined ? { transaction: tx } : {}),
      request: r.name,
      status: 'error',
      data,
      error,
      code,
      node_id: this.o.link.nodeId,
      stream_id: this.o.link.streamId,
      ts: Date.now(),
    });
  }

  private send(r: MqttRequest, body: ControlResponse): void {
    if (this.closed) return;
    const topic =
      r.responseTopic !== undefined && RESPONSE_TOPIC.test(r.responseTopic)
        ? r.responseTopic
        : `${this.o.link.topics.response}/${r.name}`;
    let text: string;
    try {
      text = JSON.stringify(body);
    } catch (e) {
      // A report section that cannot be serialised (a BigInt, a cycle) must still get an answer.
      text = JSON.stringify({
        ...body,
        status: 'error',
        data: {},
        code: 'failed',
        error: `answer not serialisable: ${errorMessage(e)}`,
      });
    }
    if (!this.o.link.respond(topic, text, r.correlationData)) this.counts.unsent++;
  }
}

function transactionOf(body: unknown): string | number | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const t = (body as Record<string, unknown>)['transaction'];
  if (typeof t === 'string') return t.slice(0, 128);
  return typeof t === 'number' && Number.isFinite(t) ? t : undefined;
}

/** The session view as plain figures (it is a live object: copy what the answer shows). */
export function sessionFigures(ctx: PluginContext): Record<string, unknown> {
  const s = ctx.session;
  return {
    mode: s.mode,
    mode_configured: s.modeConfigured,
    poses: s.poses,
    samples: s.samples,
    units_since_restart: s.unitsSinceRestart,
    started_at: s.startedAt.toISOString(),
    exit: s.exit,
  };
}

/** JSON Schemas of the requests (by name, under $defs) and of the response, as published in schemas/. */
export function controlJsonSchemas(): { request: Record<string, unknown>; response: Record<string, unknown> } {
  const defs: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(requestSchemas))
    defs[name] = z.toJSONSchema(s, { io: 'input', target: 'draft-7' });
  return {
    request: {
      title:
        'MQTT <prefix>/request/<name> payloads, one schema per request name under $defs (an empty payload counts as {})',
      $defs: defs,
    },
    response: {
      title: 'MQTT <prefix>/response/<name> payload (QoS 1, not retained), or on the MQTT 5 response topic',
      ...z.toJSONSchema(responseSchema, { io: 'output', target: 'draft-7' }),
    },
  };
}
