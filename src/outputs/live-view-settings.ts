import { isIP } from 'node:net';
import { z } from 'zod';

/** Loopback names and addresses: only this machine can reach a server bound to them. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return h.startsWith('::ffff:127.');
}

/**
 * The `outputs.live_view:` section: a browser page of the hand, live. Off by default; on, it
 * listens on loopback only, because it has no authentication and shows what the wearer's hand
 * does. Serving it to the network needs `allow_remote: true` as well as a non-loopback host.
 * docs/live-view.md explains the page and the hand model.
 */
export const liveViewSchema = z
  .object({
    enabled: z
      .boolean()
      .default(false)
      .meta({ description: 'Serve the live view; on loopback only unless allow_remote.' }),
    host: z.string().min(1).default('127.0.0.1').meta({ description: 'Interface to listen on.' }),
    port: z.number().int().min(0).max(65535).default(8087).meta({
      description: 'TCP port; 0 = any free port (the one obtained is logged and in summary.json live_view.url).',
    }),
    allow_remote: z.boolean().default(false).meta({
      description: 'The deliberate override that lets `host` be a non-loopback address (0.0.0.0, a LAN address).',
    }),
    max_viewers: z
      .number()
      .int()
      .min(1)
      .max(64)
      .default(8)
      .meta({ description: 'Browsers connected at once; the next one gets 503.' }),
    rate_hz: z.number().min(1).max(100).default(50).meta({
      description: 'Frames per second sent to each viewer (poses in between are coalesced: the newest wins).',
    }),
    latency_strip_s: z
      .number()
      .min(1)
      .max(120)
      .default(10)
      .meta({ description: "Seconds of T_compute the page's scrolling latency strip shows." }),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (!v.allow_remote && !isLoopbackHost(v.host)) {
      ctx.addIssue({
        code: 'custom',
        path: ['host'],
        message:
          'not a loopback address: the live view has no authentication; set outputs.live_view.allow_remote: true to serve it to the network anyway',
      });
    }
  })
  .meta({ description: 'The hand in a browser, live (docs/live-view.md); one server per process.' });

export type LiveViewSettings = z.infer<typeof liveViewSchema>;
