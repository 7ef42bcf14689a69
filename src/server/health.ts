// The side ports: liveness and readiness (plain HTTP, for the kubelet), and the Prometheus metrics and the audit's
// findings (behind authentication and authorization in live mode: see metrics-auth.ts). One app serves either set.
import express, { type Request, type Response } from 'express';
import type { Metrics } from './metrics.js';

export interface HealthChecks {
  /** TLS material loaded and the cluster view synced; warnings are shown without failing readiness */
  ready(): { ready: boolean; reasons: string[]; warnings?: string[] };
  /** the continuous audit's last results (live mode); undefined: no audit runs here */
  audit?: () => { ran: false } | { ran: true; document: unknown };
}

/** Which routes an app serves: the probes, the metrics and the audit, or all four. */
export type SidePaths = 'probes' | 'metrics' | 'all';
const SIDE_PATHS: Record<Exclude<SidePaths, 'all'>, readonly string[]> = { probes: ['/healthz', '/readyz'], metrics: ['/metrics', '/audit'] };

export function createHealthApp(metrics: Metrics, checks: HealthChecks, paths: SidePaths = 'all'): express.Express {
  const app = express();
  app.disable('x-powered-by');
  if (paths !== 'all') {
    const served = SIDE_PATHS[paths];
    app.use((req: Request, res: Response, next: () => void) => {
      if (served.includes(req.path)) return next();
      res.status(404).json({ code: 404, error: `no such path ${JSON.stringify(req.path)} on this port: try ${served.join(' or ')}` });
    });
  }
  // Liveness only proves the event loop answers: restarting on a slow informer would not help.
  app.get('/healthz', (_req: Request, res: Response) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req: Request, res: Response) => {
    const r = checks.ready();
    res.status(r.ready ? 200 : 503).json({ status: r.ready ? 'ready' : 'not ready', reasons: r.reasons, ...(r.warnings?.length ? { warnings: r.warnings } : {}) });
  });
  app.get('/metrics', async (_req: Request, res: Response) => {
    res.setHeader('Content-Type', metrics.registry.contentType);
    res.send(await metrics.registry.metrics());
  });
  app.get('/audit', (_req: Request, res: Response) => {
    const audit = checks.audit?.();
    if (!audit) return void res.status(404).json({ code: 404, error: 'no audit runs on this server (it runs in live mode with --audit-interval-seconds above 0)' });
    if (!audit.ran) return void res.status(503).json({ code: 503, error: 'the first audit run has not finished yet' });
    res.json(audit.document);
  });
  app.use((req: Request, res: Response) => {
    res.status(404).json({ code: 404, error: `no such path ${JSON.stringify(req.path)}: try /healthz, /readyz, /metrics or /audit` });
  });
  return app;
}
