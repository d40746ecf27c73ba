import { z } from 'zod';
import { isLoopbackHost } from './live-view-settings.js';

/**
 * The `outputs.metrics:` section: Prometheus text format on http(s)://<host>:<port>/metrics, one
 * server per process shared by its streams (a `stream` label tells them apart). Off by default;
 * on, it listens on loopback. Another address needs `web_config_file` with TLS and basic
 * authentication: what a node runs, its band and its faults are nobody else's business.
 */
export const metricsSchema = z
  .object({
    enabled: z
      .boolean()
      .default(false)
      .meta({ description: 'Serve /metrics; on loopback only unless web_config_file sets TLS and passwords.' }),
    host: z
      .string()
      .min(1)
      .default('127.0.0.1')
      .meta({
        description:
          'Interface to listen on; 0.0.0.0 (or a LAN address) to let a Prometheus on another machine scrape, ' +
          'with web_config_file.',
      }),
    port: z.number().int().min(0).max(65535).default(9464).meta({
      description: 'TCP port; 0 = any free port (the one obtained is logged and in summary.json metrics.url).',
    }),
    process_metrics: z
      .boolean()
      .default(true)
      .meta({ description: "Also export Node's process metrics (CPU, memory, event-loop lag, GC)." }),
    web_config_file: z
      .string()
      .default('')
      .meta({
        description:
          'An exporter-toolkit web configuration (tls_server_config, basic_auth_users with bcrypt hashes), read ' +
          'at start; empty = plain HTTP without authentication, on loopback only.',
      }),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (m.enabled && !m.web_config_file && !isLoopbackHost(m.host)) {
      ctx.addIssue({
        code: 'custom',
        path: ['host'],
        message:
          'not a loopback address: serving /metrics to the network needs TLS and basic authentication; set outputs.metrics.web_config_file (docs/monitoring.md)',
      });
    }
  })
  .meta({
    description: 'Prometheus metrics at /metrics (docs/metrics.md); one server per process, shared by its streams.',
  });

export type MetricsSettings = z.output<typeof metricsSchema>;
