// Reaching the API server in live mode: loading credentials (an explicit --kubeconfig file, or the pod's in-cluster
// service account; a kubeconfig lying in $HOME is never picked up silently) and a small raw HTTP client over them.
//
// The raw client exists because the cluster view runs its own list + watch loop (see live.ts): it needs abortable
// requests, an idle timeout on watch streams and the HTTP status of every failure, which the generated client and
// client-node's Watch do not give reliably. Credentials still come from client-node's KubeConfig (client certs, bearer
// tokens, token files re-read every minute, exec/OIDC plugins, proxies).
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { isIPv6 } from 'node:net';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { InputError } from '../mesh/errors.js';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface LoadKubeConfigOptions {
  /** --kubeconfig FILE: live mode asked for explicitly */
  readonly kubeconfig?: string;
  /** a context of that file other than its current-context */
  readonly context?: string;
  /** environment read for in-cluster detection (default process.env) */
  readonly env?: NodeJS.ProcessEnv;
  /** where the service account is mounted (tests point this elsewhere) */
  readonly serviceAccountDir?: string;
  /** false: never use in-cluster credentials even if present (default true) */
  readonly inCluster?: boolean;
}

export class KubeConfigError extends InputError {}

/** In a pod: KUBERNETES_SERVICE_HOST/PORT set and a service-account token mounted. */
export function inClusterAvailable(env: NodeJS.ProcessEnv = process.env, serviceAccountDir = SERVICE_ACCOUNT_DIR): boolean {
  return Boolean(env.KUBERNETES_SERVICE_HOST) && Boolean(env.KUBERNETES_SERVICE_PORT) && existsSync(join(serviceAccountDir, 'token'));
}

/**
 * The KubeConfig for live mode, or undefined for standalone mode. An explicit file wins; otherwise in-cluster
 * credentials when running in a pod. `$KUBECONFIG` and `~/.kube/config` are deliberately not consulted.
 * Throws KubeConfigError when the explicit file is unreadable or has no usable cluster.
 */
export function loadKubeConfig(opts: LoadKubeConfigOptions = {}): KubeConfig | undefined {
  const env = opts.env ?? process.env;
  if (opts.kubeconfig) {
    const kc = new KubeConfig();
    try {
      kc.loadFromFile(opts.kubeconfig);
    } catch (err) {
      throw new KubeConfigError(`${opts.kubeconfig}: ${(err as Error).message}`);
    }
    if (opts.context) {
      if (!kc.getContextObject(opts.context)) throw new KubeConfigError(`${opts.kubeconfig}: no context named ${opts.context}`);
      kc.setCurrentContext(opts.context);
    }
    if (!kc.getCurrentCluster()) throw new KubeConfigError(`${opts.kubeconfig}: no current cluster (set current-context)`);
    return kc;
  }
  const dir = opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  if (opts.inCluster === false || !inClusterAvailable(env, dir)) return undefined;
  return inClusterConfig(env, dir);
}

/** Same as KubeConfig.loadFromCluster, but from the given environment and mount directory. */
function inClusterConfig(env: NodeJS.ProcessEnv, dir: string): KubeConfig {
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  const scheme = port === '80' || port === '8080' || port === '8001' ? 'http' : 'https';
  const server = `${scheme}://${isIPv6(host) ? `[${host}]` : host}:${port}`;
  const caFile = join(dir, 'ca.crt');
  const nsFile = join(dir, 'namespace');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'inCluster', server, skipTLSVerify: false, ...(existsSync(caFile) ? { caFile } : {}) }],
    // the tokenFile provider re-reads the (projected, rotating) token every minute
    users: [{ name: 'inClusterUser', authProvider: { name: 'tokenFile', config: { tokenFile: join(dir, 'token') } } }],
    contexts: [
      {
        name: 'inClusterContext',
        cluster: 'inCluster',
        user: 'inClusterUser',
        ...(existsSync(nsFile) ? { namespace: readFileSync(nsFile, 'utf8').trim() } : {}),
      },
    ],
    currentContext: 'inClusterContext',
  });
  return kc;
}

// ---------------------------------------------------------------------------------------------------------------------
// Raw requests

/** A failed API call: HTTP status (0 for network errors and timeouts) and the Status object when the server sent one. */
export class KubeApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly reason?: string,
    readonly body?: unknown,
  ) {
    super(message);
  }
}

/** True when `err` is an API failure with this HTTP status. */
export function isApiStatus(err: unknown, status: number): boolean {
  return err instanceof KubeApiError && err.status === status;
}

/** One line for logs and denials: `<method> <path>: <status> <message>`, no bodies. */
export function apiErrorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export interface KubeRequest {
  readonly method?: string;
  /** path under the server URL, e.g. `/api/v1/namespaces/default` */
  readonly path: string;
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  /** sent as JSON unless a string */
  readonly body?: unknown;
  readonly contentType?: string;
  /** abort the whole request (including a stream) */
  readonly signal?: AbortSignal;
  /** whole-request timeout for `request`, idle timeout (no bytes received) for `stream`; 0 = none */
  readonly timeoutMs?: number;
}

export interface KubeResponse<T = unknown> {
  readonly status: number;
  readonly body: T;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** Thin HTTP client over a KubeConfig's current cluster and user. No connection reuse: nothing stays open after use. */
export class KubeHttp {
  constructor(readonly kubeConfig: KubeConfig) {}

  /** Server URL of the current cluster (without trailing slash). */
  get server(): string {
    const cluster = this.kubeConfig.getCurrentCluster();
    if (!cluster) throw new KubeApiError('kubeconfig has no current cluster', 0);
    return cluster.server.replace(/\/+$/, '');
  }

  /** One request; resolves with any HTTP status (the caller decides), rejects on network errors and timeouts. */
  async request<T = unknown>(req: KubeRequest): Promise<KubeResponse<T | undefined>> {
    const open = await this.open(req, req.timeoutMs ?? DEFAULT_TIMEOUT_MS, false);
    try {
      const text = await readAll(open.res);
      return { status: open.res.statusCode ?? 0, body: parseBody(text) as T | undefined };
    } catch (err) {
      throw open.failure() ?? wrapNetworkError(req, err);
    } finally {
      open.cleanup();
    }
  }

  /** A request whose 2xx answer must be JSON; anything else becomes a KubeApiError. */
  async json<T = unknown>(req: KubeRequest): Promise<T> {
    const res = await this.request<T>(req);
    if (res.status < 200 || res.status > 299) throw apiError(req, res.status, res.body);
    return res.body as T;
  }

  /**
   * A streaming GET (watch): `onLine` gets each non-empty line. Resolves when the server ends the stream or `signal`
   * is aborted (how the caller stops a watch); rejects on a non-2xx status (KubeApiError carrying the Status), a
   * network error, or `timeoutMs` without any byte received.
   */
  async stream(req: KubeRequest, onLine: (line: string) => void): Promise<void> {
    let open: Opened;
    try {
      open = await this.open(req, req.timeoutMs ?? 0, true);
    } catch (err) {
      if (req.signal?.aborted) return;
      throw err;
    }
    try {
      const status = open.res.statusCode ?? 0;
      if (status < 200 || status > 299) throw apiError(req, status, parseBody(await readAll(open.res)));
      let rest = '';
      for await (const chunk of open.res) {
        rest += (chunk as Buffer).toString('utf8');
        let nl: number;
        while ((nl = rest.indexOf('\n')) >= 0) {
          const line = rest.slice(0, nl).trim();
          rest = rest.slice(nl + 1);
          if (line) onLine(line);
          if (req.signal?.aborted) return;
        }
      }
      if (rest.trim() && !req.signal?.aborted) onLine(rest.trim());
    } catch (err) {
      if (req.signal?.aborted) return;
      if (err instanceof KubeApiError) throw err;
      throw open.failure() ?? wrapNetworkError(req, err);
    } finally {
      open.cleanup();
    }
  }

  private async open(r: KubeRequest, timeoutMs: number, idle: boolean): Promise<Opened> {
    const what = `${r.method ?? 'GET'} ${r.path}`;
    if (r.signal?.aborted) throw new KubeApiError(`${what}: aborted`, 0, 'Aborted');
    const url = new URL(this.server + r.path);
    for (const [k, v] of Object.entries(r.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const options = await this.requestOptions();
    const headers: Record<string, string | number> = { Accept: 'application/json', ...(options.headers as Record<string, string> | undefined) };
    let payload: Buffer | undefined;
    if (r.body !== undefined) {
      payload = Buffer.from(typeof r.body === 'string' ? r.body : JSON.stringify(r.body));
      headers['Content-Type'] = r.contentType ?? 'application/json';
      headers['Content-Length'] = payload.length;
    }
    const lib = url.protocol === 'http:' ? http : https;
    const req = lib.request(url, { ...options, method: r.method ?? 'GET', headers });
    let failure: Error | undefined;
    let timer: NodeJS.Timeout | undefined;
    const kill = (err: Error): void => {
      failure ??= err;
      req.destroy(err);
    };
    const arm = (): void => {
      if (!timeoutMs) return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => kill(new KubeApiError(idle ? `${what}: no data for ${timeoutMs} ms` : `${what}: no answer within ${timeoutMs} ms`, 0, 'Timeout')), timeoutMs);
    };
    const onAbort = (): void => kill(new KubeApiError(`${what}: aborted`, 0, 'Aborted'));
    const cleanup = (): void => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      r.signal?.removeEventListener('abort', onAbort);
      req.destroy();
    };
    r.signal?.addEventListener('abort', onAbort, { once: true });
    if (r.signal?.aborted) onAbort(); // aborted while the credentials were being prepared
    arm();
    try {
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        req.on('error', (err) => reject(failure ?? wrapNetworkError(r, err)));
        req.on('response', resolve);
        req.end(payload);
      });
      // a watch: from now on the timeout means "no byte for timeoutMs"
      if (idle) res.on('data', arm);
      return { res, cleanup, failure: () => failure };
    } catch (err) {
      cleanup();
      throw err;
    }
  }

  /** Agent (TLS material, proxy) and headers (bearer token, impersonation, basic auth) for the current user. */
  private async requestOptions(): Promise<https.RequestOptions> {
    // A fresh agent per request (keep-alive off: nothing stays open once a request is over). As in client-node, a plain
    // http:// server is only accepted with `insecure-skip-tls-verify: true`.
    const opts: https.RequestOptions = {};
    await this.kubeConfig.applyToHTTPSOptions(opts);
    return opts;
  }
}

interface Opened {
  readonly res: http.IncomingMessage;
  readonly cleanup: () => void;
  /** why the request was killed (timeout, abort), if it was */
  readonly failure: () => Error | undefined;
}

async function readAll(res: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parseBody(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function wrapNetworkError(r: KubeRequest, err: unknown): KubeApiError {
  if (err instanceof KubeApiError) return err;
  const e = err as NodeJS.ErrnoException;
  return new KubeApiError(`${r.method ?? 'GET'} ${r.path}: ${e?.message ?? String(err)}`, 0, e?.code);
}

function apiError(req: KubeRequest, status: number, body: unknown): KubeApiError {
  const b = body as { message?: unknown; reason?: unknown } | undefined;
  const message = b && typeof b === 'object' && typeof b.message === 'string' ? b.message : typeof body === 'string' && body ? body.slice(0, 200) : http.STATUS_CODES[status] ?? 'error';
  const reason = b && typeof b === 'object' && typeof b.reason === 'string' ? b.reason : undefined;
  return new KubeApiError(`${req.method ?? 'GET'} ${req.path}: ${status} ${message}`, status, reason, body);
}
