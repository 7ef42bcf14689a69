// The two side ports beside the webhooks:
// - health (`--health-port`): /healthz and /readyz over plain HTTP, open, for the kubelet's probes;
// - metrics (`--metrics-port`): /metrics and /audit. In live mode over HTTPS with the serving certificate (renewed with
//   it), each request's bearer token checked with a TokenReview and its access with a SubjectAccessReview
//   (metrics-auth.ts). A standalone server has no API server to ask: it serves them over plain HTTP on the loopback
//   address only. `--insecure-metrics` keeps the plain, open port of earlier versions on --host, by choice.
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import type { Logger } from 'pino';
import type { AccessReview } from '../controllers/access-review.js';
import { createHealthApp, type HealthChecks } from './health.js';
import { AccessFilter } from './metrics-auth.js';
import type { Metrics } from './metrics.js';
import type { TlsMaterial } from './tls.js';

export type MetricsAccess = 'rbac' | 'loopback' | 'open';

export interface SidePortsOptions {
  readonly metrics: Metrics;
  readonly checks: HealthChecks;
  readonly logger: Logger;
  /** --host */
  readonly host: string;
  readonly insecureMetrics: boolean;
  /** live mode's reviews; absent in standalone mode */
  readonly accessReview?: AccessReview;
  readonly tls: TlsMaterial;
}

export interface SidePorts {
  readonly health: HttpServer;
  readonly metrics: HttpServer | HttpsServer;
  /** who may read /metrics and /audit: RBAC-checked callers, anyone on this host, anyone who reaches the port */
  readonly access: MetricsAccess;
  /** the address the metrics port listens on */
  readonly metricsHost: string;
  /** a renewed serving certificate (the metrics port serves it too) */
  setSecureContext(ctx: SecureContextOptions): void;
}

const LOOPBACK = /^(127\.|::1$|localhost$)/;

export function createSidePorts(o: SidePortsOptions): SidePorts {
  const health = createHttpServer(createHealthApp(o.metrics, o.checks, 'probes'));
  const app = createHealthApp(o.metrics, o.checks, 'metrics');
  if (o.accessReview && !o.insecureMetrics) {
    const filter = new AccessFilter({ review: o.accessReview });
    const handle = (req: IncomingMessage, res: ServerResponse): void => {
      void filter.check(req).then((d) => {
        if (d.allowed) return void app(req, res);
        if (d.status === 500) o.logger.warn({ path: req.url, err: d.message }, 'metrics caller not checked');
        const body = JSON.stringify({ code: d.status, error: d.message });
        res.writeHead(d.status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), ...d.headers });
        res.end(body);
      });
    };
    const server = createHttpsServer({ cert: o.tls.cert, key: o.tls.key, minVersion: 'TLSv1.2' }, handle);
    server.on('tlsClientError', (err) => o.logger.debug({ err: err.message }, 'metrics TLS handshake failed'));
    return { health, metrics: server, access: 'rbac', metricsHost: o.host, setSecureContext: (ctx) => server.setSecureContext(ctx) };
  }
  const open = o.insecureMetrics;
  const metricsHost = open || LOOPBACK.test(o.host) ? o.host : '127.0.0.1';
  return { health, metrics: createHttpServer(app), access: open ? 'open' : 'loopback', metricsHost, setSecureContext: () => undefined };
}
