// The HTTPS side: the two webhook paths behind one adapter that turns any input into an answer. A plain node:http
// listener rather than Express: this is the hot path, and Express's router, body parser and response helpers cost
// more CPU per request than the whole validator when they served it (bench/README.md, "Where mutate's time goes");
// part B of bench/RESULTS.md measures this adapter as its "no-op handler" row.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { AdmissionHandler, AdmissionOutcome } from '../admission/handler.js';
import { deny, reviewOf } from '../admission/response.js';
import { parseReview, type AdmissionRequest } from '../admission/review.js';
import { WEBHOOK_PATHS } from '../mesh/names.js';
import type { Metrics } from './metrics.js';

/** object + oldObject of up to 3 MiB each, plus the envelope. */
export const MAX_BODY_BYTES = 7 * 1024 * 1024;

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
  const semi = ct.indexOf(';');
  return (semi < 0 ? ct : ct.slice(0, semi)).trim().toLowerCase() === 'application/json';
}


/**
 * Runs a handler; only an asynchronous one needs a deadline timer (a synchronous answer is already complete), and the
 * abort signal is made only for a handler that asks for it: most decisions are synchronous, and every allocation on
 * this path is paid once per pod.
 */
function run(handler: AdmissionHandler, req: AdmissionRequest, budget: number): AdmissionOutcome | Promise<AdmissionOutcome> {
  let controller: AbortController | undefined;
  const result = handler.handle(req, {
    deadline: Date.now() + budget,
    get signal() {
      return (controller ??= new AbortController()).signal;
    },
  });
  if (!(result instanceof Promise)) return result;
  controller ??= new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<AdmissionOutcome>((resolve) => {
    timer = setTimeout(() => {
      controller?.abort();
      resolve(handler.timedOut(req, Math.round(budget / 100) / 10));
    }, budget);
  });
  return Promise.race([result, timeout]).finally(() => clearTimeout(timer));
}

/** Reads the body up to the limit; resolves undefined (after answering 413) when it is larger. */
function readBody(req: IncomingMessage, res: ServerResponse, tooLarge: () => void): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (v: Buffer | undefined): void => {
      if (done) return;
      done = true;
      resolve(v);
    };
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        tooLarge();
        // Stop reading: the connection is closed after the answer instead of draining megabytes nobody wants.
        res.once('finish', () => req.destroy());
        finish(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => finish(Buffer.concat(chunks, size)));
    req.on('error', () => finish(undefined));
    req.on('aborted', () => finish(undefined));
  });
}

export function createWebhookApp(opts: WebhookAppOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { logger, metrics } = opts;
  /**
   * Decided when the answer is written, not when the request arrived: once shutdown has begun, every answer (those in
   * flight included) closes its connection, so the API server stops reusing connections this server is about to close.
   */
  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    if (res.headersSent) return;
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
      ...(opts.draining?.() ? { Connection: 'close' } : {}),
      ...headers,
    });
    res.end(text);
  };
  const maxTimeout = opts.maxTimeoutSeconds ?? 30;
  const byPath = new Map(opts.handlers.map((h) => [WEBHOOK_PATHS[h.webhook] as string, h]));
  const logInfo = logger.isLevelEnabled('info');

  const httpError = (res: ServerResponse, code: number, message: string, headers: Record<string, string> = {}): void => {
    metrics.badRequests.inc({ code: String(code) });
    send(res, code, { code, error: message }, headers);
  };

  const answer = (res: ServerResponse, handler: AdmissionHandler, apiVersion: Parameters<typeof reviewOf>[0], request: AdmissionRequest, outcome: AdmissionOutcome, started: bigint): void => {
    const response = { ...outcome.response, uid: request.uid };
    send(res, 200, reviewOf(apiVersion, response));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    metrics.duration.observe({ webhook: handler.webhook }, seconds);
    metrics.requests.inc({ webhook: handler.webhook, kind: request.kind.kind, operation: request.operation, allowed: response.allowed ? 'true' : 'false', dry_run: request.dryRun ? 'true' : 'false' });
    for (const rule of outcome.rules ?? []) metrics.denials.inc({ kind: request.kind.kind, rule });
    if (logInfo)
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
  };

  const failed = (handler: AdmissionHandler, request: AdmissionRequest, err: unknown): AdmissionOutcome => {
    // A bug must still produce a readable answer with the uid, never a dropped request.
    logger.error({ err, uid: request.uid, webhook: handler.webhook }, 'admission handler failed');
    return {
      response: deny(request.uid, { code: 500, reason: 'InternalError', message: `internal error in the ${handler.webhook} webhook: ${(err as Error)?.message ?? String(err)}` }),
      decision: 'denied',
      reason: 'internal error',
    };
  };

  return (req, res) => {
    const started = process.hrtime.bigint();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const handler = byPath.get(path);
    if (!handler) return void httpError(res, 404, `no such path ${JSON.stringify(path)}: webhooks are ${Object.values(WEBHOOK_PATHS).join(' and ')}`);
    if (req.method !== 'POST') return void httpError(res, 405, `method ${req.method} not allowed on ${path}: use POST`, { Allow: 'POST' });
    const ct = req.headers['content-type'];
    if (ct !== undefined && !isJsonContentType(ct)) return void httpError(res, 415, `unsupported Content-Type ${JSON.stringify(ct)}: expected application/json`);
    const tooLarge = (): void => httpError(res, 413, `request body larger than ${MAX_BODY_BYTES} bytes (7 MiB)`, { Connection: 'close' });
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) {
      tooLarge();
      res.once('finish', () => req.destroy());
      return;
    }
    void readBody(req, res, tooLarge).then((body) => {
      if (body === undefined) return;
      if (body.length === 0) return httpError(res, 400, 'empty request body: expected an AdmissionReview');
      if (ct === undefined) return httpError(res, 415, 'missing Content-Type: expected application/json');
      const parsed = parseReview(body.toString('utf8'));
      if (!parsed.ok) {
        logger.warn({ webhook: handler.webhook, reason: parsed.reason }, 'bad admission request');
        return httpError(res, 400, parsed.reason);
      }
      const { apiVersion, request } = parsed.review;
      const timeoutParam = q < 0 ? undefined : new URLSearchParams(url.slice(q + 1)).get('timeout');
      let outcome: AdmissionOutcome | Promise<AdmissionOutcome>;
      try {
        outcome = run(handler, request, budgetMs(timeoutParam, maxTimeout));
      } catch (err) {
        outcome = failed(handler, request, err);
      }
      if (outcome instanceof Promise)
        return void outcome.then(
          (o) => answer(res, handler, apiVersion, request, o, started),
          (err: unknown) => answer(res, handler, apiVersion, request, failed(handler, request, err), started),
        );
      answer(res, handler, apiVersion, request, outcome, started);
    });
  };
}
