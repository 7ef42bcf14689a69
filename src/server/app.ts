// The HTTPS application: the two webhook paths behind one adapter that turns any input into an answer.
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { AdmissionHandler, AdmissionOutcome } from '../admission/handler.js';
import { deny, reviewOf } from '../admission/response.js';
import { parseReview, type AdmissionRequest } from '../admission/review.js';
import type { Metrics } from './metrics.js';

/** object + oldObject of up to 3 MiB each, plus the envelope. */
export const MAX_BODY_BYTES = 7 * 1024 * 1024;

export const WEBHOOK_PATHS = { validate: '/validate', mutate: '/mutate-pod-creation' } as const;

export interface WebhookAppOptions {
  handlers: readonly AdmissionHandler[];
  logger: Logger;
  metrics: Metrics;
  /** upper bound on a request's budget, whatever `?timeout=` says (seconds) */
  maxTimeoutSeconds?: number;
  /** set while draining: answers carry `Connection: close` so keep-alive clients move on */
  draining?: () => boolean;
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m)$/;

/** The API server appends `?timeout=10s` (its timeoutSeconds); answer before it gives up. */
export function budgetMs(timeoutParam: unknown, maxSeconds: number): number {
  let seconds = maxSeconds;
  const m = typeof timeoutParam === 'string' ? DURATION.exec(timeoutParam) : null;
  if (m) {
    const n = Number(m[1]);
    const s = m[2] === 'ms' ? n / 1000 : m[2] === 'm' ? n * 60 : n;
    if (s > 0) seconds = Math.min(s, maxSeconds);
  }
  // Keep a margin for the network and the API server's own bookkeeping.
  return Math.max(50, Math.round(seconds * 1000 - Math.min(1000, seconds * 200)));
}

function isJsonContentType(ct: string | undefined): boolean {
  if (!ct) return false;
  const type = ct.split(';')[0]?.trim().toLowerCase();
  return type === 'application/json';
}

function httpError(res: Response, metrics: Metrics, code: number, message: string): void {
  metrics.badRequests.inc({ code: String(code) });
  if (!res.headersSent) res.status(code).json({ code, error: message });
}

async function runWithDeadline(handler: AdmissionHandler, req: AdmissionRequest, budget: number): Promise<AdmissionOutcome> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<AdmissionOutcome>((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      resolve(handler.timedOut(req, Math.round(budget / 100) / 10));
    }, budget);
  });
  try {
    return await Promise.race([Promise.resolve().then(() => handler.handle(req, { deadline: Date.now() + budget, signal: controller.signal })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function createWebhookApp(opts: WebhookAppOptions): express.Express {
  const { logger, metrics } = opts;
  const maxTimeout = opts.maxTimeoutSeconds ?? 30;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');

  const rawBody = express.raw({ type: () => true, limit: MAX_BODY_BYTES });

  for (const handler of opts.handlers) {
    const path = WEBHOOK_PATHS[handler.webhook];
    app.all(path, (req: Request, res: Response, next: NextFunction) => {
      if (opts.draining?.()) res.setHeader('Connection', 'close');
      if (req.method !== 'POST') {
        res.setHeader('Allow', 'POST');
        return httpError(res, metrics, 405, `method ${req.method} not allowed on ${path}: use POST`);
      }
      const ct = req.headers['content-type'];
      if (ct !== undefined && !isJsonContentType(ct)) return httpError(res, metrics, 415, `unsupported Content-Type ${JSON.stringify(ct)}: expected application/json`);
      next();
    });
    app.post(path, rawBody, async (req: Request, res: Response) => {
      const started = process.hrtime.bigint();
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      if (body.length === 0) return httpError(res, metrics, 400, 'empty request body: expected an AdmissionReview');
      if (req.headers['content-type'] === undefined) return httpError(res, metrics, 415, 'missing Content-Type: expected application/json');
      const parsed = parseReview(body.toString('utf8'));
      if (!parsed.ok) {
        logger.warn({ webhook: handler.webhook, reason: parsed.reason }, 'bad admission request');
        return httpError(res, metrics, 400, parsed.reason);
      }
      const { apiVersion, request } = parsed.review;
      let outcome: AdmissionOutcome;
      try {
        outcome = await runWithDeadline(handler, request, budgetMs(req.query.timeout, maxTimeout));
      } catch (err) {
        // A bug must still produce a readable answer with the uid, never a dropped request.
        logger.error({ err, uid: request.uid, webhook: handler.webhook }, 'admission handler failed');
        outcome = {
          response: deny(request.uid, { code: 500, reason: 'InternalError', message: `internal error in the ${handler.webhook} webhook: ${(err as Error).message ?? String(err)}` }),
          decision: 'denied',
          reason: 'internal error',
        };
      }
      const response = { ...outcome.response, uid: request.uid };
      res.status(200).json(reviewOf(apiVersion, response));
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.duration.observe({ webhook: handler.webhook }, seconds);
      metrics.requests.inc({ webhook: handler.webhook, kind: request.kind.kind, operation: request.operation, allowed: String(response.allowed), dry_run: String(request.dryRun) });
      for (const rule of outcome.rules ?? []) metrics.denials.inc({ kind: request.kind.kind, rule });
      logger.info(
        {
          uid: request.uid,
          webhook: handler.webhook,
          kind: request.kind.kind,
          namespace: request.namespace ?? request.object?.metadata?.namespace ?? '',
          name: request.name ?? request.object?.metadata?.name ?? request.object?.metadata?.generateName ?? '',
          operation: request.operation,
          dryRun: request.dryRun,
          decision: outcome.decision,
          reason: outcome.reason,
          durationMs: Math.round(seconds * 1e6) / 1e3,
        },
        'admission',
      );
    });
  }

  app.use((req: Request, res: Response) => httpError(res, metrics, 404, `no such path ${JSON.stringify(req.path)}: webhooks are ${Object.values(WEBHOOK_PATHS).join(' and ')}`));

  // Body-reading errors (too large, aborted, bad encoding) become their HTTP status with a JSON reason.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = err as { status?: number; type?: string; message?: string };
    const status = typeof e.status === 'number' && e.status >= 400 && e.status < 600 ? e.status : 500;
    const message = e.type === 'entity.too.large' ? `request body larger than ${MAX_BODY_BYTES} bytes (7 MiB)` : (e.message ?? 'bad request');
    if (status >= 500) logger.error({ err }, 'request failed');
    httpError(res, metrics, status, message);
  });
  return app;
}
