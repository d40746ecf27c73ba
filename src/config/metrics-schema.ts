import { z } from 'zod';

/**
 * The `outputs.metrics:` section: Prometheus text format on http://<host>:<port>/metrics, one
 * server per process shared by its streams (a `stream` label tells them apart). Off by default;
 * on, it listens on loopback unless `host` names another address — the metrics carry no pose
 * data, but a scrape endpoint open to the network is still a deliberate choice.
 */
export const metricsSchema = z
  .object({
    enabled: z.boolean().default(false),
    /** Interface to listen on; 0.0.0.0 (or a LAN address) to let a Prometheus on another machine scrape. */
    host: z.string().min(1).default('127.0.0.1'),
    /** TCP port; 0 = any free port (the one obtained is logged and in summary.json metrics.url). */
    port: z.number().int().min(0).max(65535).default(9464),
    /** Also export Node's process metrics (CPU, memory, event-loop lag, GC). */
    process_metrics: z.boolean().default(true),
  })
  .strict();

export type MetricsSettings = z.output<typeof metricsSchema>;
