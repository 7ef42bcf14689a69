// A small raw HTTP client over a KubeConfig's current cluster and user: the only way this server talks to the API
// server. It exists because the list + watch loop (reflector.ts) needs abortable requests, an idle timeout on watch
// streams and the HTTP status of every failure, which client-node's generated client and Watch do not give reliably;
// credentials still come from client-node's KubeConfig.
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { KubeConfig, type Cluster } from '@kubernetes/client-node';

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

/** The HTTP status of a failed API call; 0 for anything else (a network error, a timeout, a bug). */
export function statusOf(err: unknown): number {
  return err instanceof KubeApiError ? err.status : 0;
}

/** True when `err` is an API failure with this HTTP status. */
export function isApiStatus(err: unknown, status: number): boolean {
  return err instanceof KubeApiError && err.status === status;
}

/**
 * The one mapping from a non-2xx answer to an error: `<method> <path>: <status> <message>` (the Status object's
 * message, or the start of a text body), with the Status's reason and the body kept for the caller.
 */
export function statusError(method: string, path: string, status: number, body: unknown): KubeApiError {
  const b = body as { message?: unknown; reason?: unknown } | undefined;
  const message = b && typeof b === 'object' && typeof b.message === 'string' ? b.message : typeof body === 'string' && body ? body.slice(0, 200) : http.STATUS_CODES[status] ?? 'error';
  const reason = b && typeof b === 'object' && typeof b.reason === 'string' ? b.reason : undefined;
  return new KubeApiError(`${method} ${path}: ${status} ${message}`, status, reason, body);
}

export interface KubeRequest {
  readonly method?: string;
  /** path under the server URL, e.g. `/api/v1/namespaces/default` */
  readonly path: string;
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  /** sent as JSON unless a string */
  readonly body?: unknown;
  readonly contentType?: string;
  /** the Accept header (default application/json), e.g. to ask for metadata only */
  readonly accept?: string;
  /** abort the whole request (including a stream) */
  readonly signal?: AbortSignal;
  /** whole-request timeout for `request`, idle timeout (no bytes received) for `stream`; 0 = none */
  readonly timeoutMs?: number;
  /** `stream` only: called once the server answered 2xx (the watch is established), before any line */
  readonly onOpen?: () => void;
}

export interface KubeResponse<T = unknown> {
  readonly status: number;
  readonly body: T;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_CREDENTIALS_TTL_MS = 10_000;

// Connection pool settings. kube-apiserver keeps idle HTTP/1.1 connections for 90 s, but load balancers in front of it
// commonly cut them after 60 s (and a reused connection the peer has just closed fails the request), so an idle
// connection is closed by us first, after 30 s. LIFO hands out the most recently used connection (the least likely to
// be stale) and lets the others age out after a burst. The number of open connections is not capped: every watch holds
// one for minutes, and a cap would queue ordinary requests behind them; the apiserver's own in-flight limits apply.
// Up to 25 idle connections stay open between bursts, as client-go keeps (MaxIdleConnsPerHost).
const AGENT_OPTIONS = {
  keepAlive: true,
  /** TCP keep-alive probes start after this much silence (client-go's dialer uses the same 30 s) */
  keepAliveMsecs: 30_000,
  maxSockets: Infinity,
  maxFreeSockets: 25,
  /** an idle pooled connection is closed after this long (a shorter `Keep-Alive: timeout=` hint from the server wins) */
  timeout: 30_000,
  scheduling: 'lifo',
} as const satisfies http.AgentOptions;

/** Errors a request gets when the pooled connection it was sent on had already been closed by the server. */
const STALE_CONNECTION_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);
/** Methods re-sent on a fresh connection after that; as in Go's net/http (so client-go), writes never are. */
const REPLAYABLE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface KubeHttpOptions {
  /**
   * How long the credentials of the current user (headers, TLS material, computed by client-node: may read files and
   * run exec plugins) are reused before being computed again, in ms (default 10 s; 0 = for every request). A 401 answer
   * drops them at once.
   */
  readonly credentialsTtlMs?: number;
  /** a request is sent on a new connection (a TLS handshake on both sides): the metric of connection reuse */
  readonly onNewConnection?: () => void;
}

/** What connections are opened with: a different value needs a different pool. */
interface TransportKey {
  readonly protocol: string;
  readonly proxyUrl: string | undefined;
  readonly tls: https.AgentOptions;
}

/** Where requests go: the server URL taken apart once (a path prefix is kept: some proxies serve clusters under one). */
interface Target {
  readonly protocol: string;
  readonly hostname: string;
  readonly port: string;
  readonly pathPrefix: string;
}

/** What a request is sent with, computed from the KubeConfig at most once per credentialsTtlMs. */
interface Credentials {
  readonly target: Target;
  readonly agent: http.Agent;
  readonly headers: http.OutgoingHttpHeaders;
  /** `user:password` for basic auth */
  readonly auth: string | undefined;
}

interface Memo {
  readonly promise: Promise<Credentials>;
  value?: Credentials;
  /** performance.now() after which the credentials are computed again; Infinity while being computed */
  expiresAt: number;
}

/**
 * HTTP client over a KubeConfig's current cluster and user, with connection reuse: one pool of keep-alive connections
 * per client (build one per API server and share it), which `close()` shuts.
 *
 * Credentials are re-read from the KubeConfig every `credentialsTtlMs` so rotated tokens and client certificates take
 * effect; the pool is only replaced when the TLS material (or proxy) actually changed, as its connections were opened
 * with the old one.
 */
export class KubeHttp {
  private readonly credentialsTtlMs: number;
  private readonly onNewConnection: (() => void) | undefined;
  private memo: Memo | undefined;
  private agent: http.Agent | undefined;
  private transport: TransportKey | undefined;
  /** pools replaced after a TLS change whose connections were still busy (a watch can take minutes to end) */
  private readonly retired = new Set<http.Agent>();
  private closed = false;

  constructor(
    readonly kubeConfig: KubeConfig,
    opts: KubeHttpOptions = {},
  ) {
    this.credentialsTtlMs = Math.max(0, opts.credentialsTtlMs ?? DEFAULT_CREDENTIALS_TTL_MS);
    this.onNewConnection = opts.onNewConnection;
  }

  /** Server URL of the current cluster (without trailing slash). */
  get server(): string {
    const cluster = this.kubeConfig.getCurrentCluster();
    if (!cluster) throw new KubeApiError('kubeconfig has no current cluster', 0);
    return cluster.server.replace(/\/+$/, '');
  }

  /**
   * One request; resolves with any HTTP status (the caller decides), rejects on network errors and timeouts. A 401 is
   * retried once with freshly computed credentials (a token that expired since they were computed); `timeoutMs`
   * covers both attempts.
   */
  async request<T = unknown>(req: KubeRequest): Promise<KubeResponse<T | undefined>> {
    const timeoutMs = req.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const startedAt = performance.now();
    for (let attempt = 1; ; attempt++) {
      const open = await this.open(req, timeoutMs, false, startedAt);
      try {
        const text = await readAll(open.res);
        const status = open.res.statusCode ?? 0;
        if (status === 401) {
          this.forget(open.credentials);
          if (attempt === 1) continue;
        }
        return { status, body: parseBody(text) as T | undefined };
      } catch (err) {
        throw open.failure() ?? wrapNetworkError(req, err);
      } finally {
        open.cleanup();
      }
    }
  }

  /** A request whose 2xx answer must be JSON; anything else becomes a KubeApiError. */
  async json<T = unknown>(req: KubeRequest): Promise<T> {
    const res = await this.request<T>(req);
    if (res.status < 200 || res.status > 299) throw apiError(req, res.status, res.body);
    return res.body as T;
  }

  /** A GET of one object: undefined when it does not exist (404); any other non-2xx becomes a KubeApiError. */
  async getOptional<T = unknown>(req: KubeRequest): Promise<T | undefined> {
    const res = await this.request<T>(req);
    if (res.status === 404) return undefined;
    if (res.status < 200 || res.status > 299 || !res.body || typeof res.body !== 'object') throw apiError(req, res.status, res.body);
    return res.body;
  }

  /**
   * A streaming GET (watch): `onLine` gets each non-empty line. Resolves when the server ends the stream or `signal`
   * is aborted (how the caller stops a watch); rejects on a non-2xx status (KubeApiError carrying the Status), a
   * network error, or `timeoutMs` without any byte received. A 401 is not retried here (a watch loop retries anyway)
   * but the next attempt gets fresh credentials.
   */
  async stream(req: KubeRequest, onLine: (line: string) => void): Promise<void> {
    let open: Opened;
    try {
      open = await this.open(req, req.timeoutMs ?? 0, true, performance.now());
    } catch (err) {
      if (req.signal?.aborted) return;
      throw err;
    }
    try {
      const status = open.res.statusCode ?? 0;
      if (status === 401) this.forget(open.credentials);
      if (status < 200 || status > 299) throw apiError(req, status, parseBody(await readAll(open.res)));
      req.onOpen?.();
      await readLines(open.res, onLine, () => req.signal?.aborted === true);
      if (req.signal?.aborted) return;
      // A connection cut mid-stream (an API server restart) can end the body without an error: only `complete` tells
      // it from the server ending the watch, and the caller must know the difference (a cut means events were lost).
      if (!open.res.complete) throw new KubeApiError(`${req.method ?? 'GET'} ${req.path}: the stream was cut before its end`, 0, 'StreamCut');
    } catch (err) {
      if (req.signal?.aborted) return;
      if (err instanceof KubeApiError) throw err;
      throw open.failure() ?? wrapNetworkError(req, err);
    } finally {
      open.cleanup();
    }
  }

  /**
   * Shut every connection, busy ones included (requests and watches still running fail or end); later requests are
   * refused. For shutdown and tests: idle pooled connections do not keep the process alive anyway.
   */
  close(): void {
    this.closed = true;
    this.memo = undefined;
    this.agent?.destroy();
    this.agent = undefined;
    this.transport = undefined;
    for (const a of this.retired) a.destroy();
    this.retired.clear();
  }

  /**
   * Send the request and wait for the response headers. `timeoutMs` counts from `startedAt` until the headers
   * (`idle` false: until the caller has read the body too), or restarts with every chunk received (`idle` true).
   */
  private async open(r: KubeRequest, timeoutMs: number, idle: boolean, startedAt: number): Promise<Opened> {
    const method = r.method ?? 'GET';
    const what = `${method} ${r.path}`;
    if (this.closed) throw new KubeApiError(`${what}: client closed`, 0, 'Closed');
    if (r.signal?.aborted) throw new KubeApiError(`${what}: aborted`, 0, 'Aborted');
    const credentials = await this.credentials();
    const target = credentials.target;
    let path = target.pathPrefix + r.path;
    if (r.query) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(r.query)) if (v !== undefined) q.set(k, String(v));
      const qs = q.toString();
      if (qs) path += `?${qs}`;
    }
    const headers: http.OutgoingHttpHeaders = { Accept: r.accept ?? 'application/json', ...credentials.headers };
    let payload: Buffer | undefined;
    if (r.body !== undefined) {
      payload = Buffer.from(typeof r.body === 'string' ? r.body : JSON.stringify(r.body));
      headers['Content-Type'] = r.contentType ?? 'application/json';
      headers['Content-Length'] = payload.length;
    }
    const lib = target.protocol === 'http:' ? http : https;
    let current: http.ClientRequest | undefined;
    let failure: Error | undefined;
    let timer: NodeJS.Timeout | undefined;
    const kill = (err: Error): void => {
      failure ??= err;
      // Destroyed without the error: what the caller gets is `failure`. An error given here is also emitted on the
      // connection, and when the response has just ended, Node is moving that connection to the pool and has already
      // taken its error listener off: the error would be uncaught.
      current?.destroy();
    };
    /** when the last byte came (a watch's idle timeout counts from it) */
    let lastData = performance.now();
    const arm = (ms: number): void => {
      if (!timeoutMs) return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        // A watch's timer is not reset by every chunk (a timer per event costs more than the event): when it fires,
        // data that came meanwhile pushes it back by what is left of the window.
        const quiet = performance.now() - lastData;
        if (idle && quiet < timeoutMs) return arm(timeoutMs - quiet);
        kill(new KubeApiError(idle ? `${what}: no data for ${timeoutMs} ms` : `${what}: no answer within ${timeoutMs} ms`, 0, 'Timeout'));
      }, Math.max(0, ms));
    };
    const onAbort = (): void => kill(new KubeApiError(`${what}: aborted`, 0, 'Aborted'));
    const cleanup = (): void => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      r.signal?.removeEventListener('abort', onAbort);
      // Once a response has been read to its end, Node has already handed the connection back to the pool and this
      // is a no-op. Anything else (a watch stopped mid-stream, a body left unread after an error or a timeout) has
      // unread bytes on the connection: it must be destroyed, not pooled, or the next request would read them.
      current?.destroy();
    };
    r.signal?.addEventListener('abort', onAbort, { once: true });
    if (r.signal?.aborted) onAbort(); // aborted while the credentials were being prepared
    arm(idle ? timeoutMs : startedAt + timeoutMs - performance.now());
    try {
      for (;;) {
        if (failure) throw failure;
        if (this.closed) throw new KubeApiError(`${what}: client closed`, 0, 'Closed');
        const req = lib.request({ protocol: target.protocol, hostname: target.hostname, port: target.port, path, agent: credentials.agent, method, headers, ...(credentials.auth ? { auth: credentials.auth } : {}) });
        current = req;
        try {
          const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
            req.on('error', reject);
            req.on('response', resolve);
            // The agent enables TCP keep-alive on idle pooled connections only; a watch's connection is busy for
            // minutes, and without probes a peer that vanished (no FIN, no RST) would go unnoticed there.
            req.on('socket', (socket) => {
              socket.setKeepAlive(true, AGENT_OPTIONS.keepAliveMsecs);
              if (!req.reusedSocket) this.onNewConnection?.();
            });
            req.end(payload);
          });
          // a watch: from now on the timeout means "no byte for timeoutMs"
          if (idle) {
            lastData = performance.now();
            res.on('data', () => (lastData = performance.now()));
          }
          return { res, cleanup, failure: () => failure, credentials };
        } catch (err) {
          if (failure) throw failure;
          // A pooled connection the server closed just before the request went out (idle timeout, restart): nothing
          // reached the server, so a read is sent again. Again as long as the connection was a pooled one, as Go's
          // net/http does: after a burst and a restart several pooled connections are dead at once, and the client may
          // not have read their close yet. Each retry uses up (destroys) one of them, so a fresh connection, which
          // ends the retries, comes after at most the pool's free connections.
          const code = (err as NodeJS.ErrnoException).code ?? '';
          if (req.reusedSocket && STALE_CONNECTION_CODES.has(code) && REPLAYABLE_METHODS.has(method.toUpperCase())) continue;
          throw wrapNetworkError(r, err);
        }
      }
    } catch (err) {
      cleanup();
      throw err;
    }
  }

  /** Headers and pool for the current user and cluster, reused for credentialsTtlMs. */
  private credentials(): Promise<Credentials> {
    const now = performance.now();
    if (this.memo && now < this.memo.expiresAt) return this.memo.promise;
    const memo: Memo = {
      expiresAt: Infinity,
      promise: this.computeCredentials().then(
        (c) => {
          memo.value = c;
          memo.expiresAt = performance.now() + this.credentialsTtlMs;
          return c;
        },
        (err: unknown) => {
          // a failure (unreadable file, exec plugin error) is not remembered: the next request tries again
          if (this.memo === memo) this.memo = undefined;
          throw err;
        },
      ),
    };
    this.memo = memo;
    return memo.promise;
  }

  /** The server refused these credentials: compute them again for the next request (unless that already happened). */
  private forget(used: Credentials): void {
    if (this.memo?.value === used) this.memo = undefined;
  }

  private async computeCredentials(): Promise<Credentials> {
    // client-node's only public way to the TLS material, headers (bearer token from any auth provider, impersonation)
    // and basic auth. It also builds an agent, which is dropped unused: it has no connections yet. As in client-node, a
    // plain http:// server is only accepted with `insecure-skip-tls-verify: true` (it throws otherwise).
    const opts: https.RequestOptions = {};
    await this.kubeConfig.applyToHTTPSOptions(opts);
    if (this.closed) throw new KubeApiError('client closed', 0, 'Closed');
    const cluster = this.kubeConfig.getCurrentCluster();
    const url = new URL(this.server);
    const target: Target = { protocol: url.protocol, hostname: url.hostname.replace(/^\[|\]$/g, ''), port: url.port, pathPrefix: url.pathname.replace(/\/+$/, '') };
    const key: TransportKey = { protocol: url.protocol, proxyUrl: cluster?.proxyUrl || undefined, tls: tlsOptions(opts) };
    if (!this.agent || !this.transport || !sameTransport(this.transport, key)) {
      const fresh = this.buildAgent(key, cluster, opts.agent);
      if (this.agent) this.retire(this.agent);
      this.agent = fresh;
      this.transport = key;
    }
    return { target, agent: this.agent, headers: { ...(opts.headers as http.OutgoingHttpHeaders | undefined) }, auth: opts.auth ?? undefined };
  }

  private buildAgent(key: TransportKey, cluster: Cluster | null, builtByClientNode: https.RequestOptions['agent']): http.Agent {
    if (key.proxyUrl) {
      // Proxies (http, https, socks) need client-node's agent classes: its createAgent makes them, and passes our
      // options on. It is private in client-node's typings; should it go away, its throwaway agent still proxies (a
      // connection per request, as before).
      const createAgent = (this.kubeConfig as unknown as { createAgent?: unknown }).createAgent;
      if (typeof createAgent === 'function' && cluster) return (createAgent as AgentFactory).call(this.kubeConfig, cluster, { ...AGENT_OPTIONS, ...key.tls });
      if (builtByClientNode instanceof http.Agent) return builtByClientNode;
    }
    if (key.protocol === 'http:') return new http.Agent({ ...AGENT_OPTIONS });
    // One TLS context for every connection of this pool: given the PEMs instead, Node parses the CA bundle and keys
    // again for each new connection, and folds them into the pool's lookup key on every request.
    const { ca, cert, key: privateKey, pfx, passphrase, ...rest } = key.tls;
    const secureContext = tls.createSecureContext({ ca, cert, key: privateKey, pfx, passphrase });
    return new https.Agent({ ...AGENT_OPTIONS, ...rest, secureContext });
  }

  /**
   * A pool whose TLS material is outdated: its idle connections go now; busy ones finish what they carry (ordinary
   * requests and watches are not cut by a rotation) and are then closed instead of going back to the pool.
   */
  private retire(agent: http.Agent): void {
    (agent as http.Agent & { keepAlive: boolean }).keepAlive = false;
    for (const sockets of Object.values(agent.freeSockets)) for (const s of sockets ?? []) s.destroy();
    for (const a of this.retired) if (Object.keys(a.sockets).length === 0 && Object.keys(a.freeSockets).length === 0) this.retired.delete(a);
    this.retired.add(agent);
  }
}

type AgentFactory = (this: KubeConfig, cluster: Cluster, options: https.AgentOptions) => http.Agent;

const TLS_FIELDS = ['ca', 'cert', 'key', 'pfx', 'passphrase', 'servername', 'rejectUnauthorized'] as const;

/** The TLS settings client-node put in request options, as agent options (undefined ones left out). */
function tlsOptions(opts: https.RequestOptions): https.AgentOptions {
  const out: Record<string, unknown> = {};
  for (const f of TLS_FIELDS) if (opts[f] !== undefined) out[f] = opts[f];
  return out as https.AgentOptions;
}

function sameTransport(a: TransportKey, b: TransportKey): boolean {
  return a.protocol === b.protocol && a.proxyUrl === b.proxyUrl && TLS_FIELDS.every((f) => sameValue(a.tls[f], b.tls[f]));
}

/** Equal by content: client-node re-reads files into new Buffers every time. */
function sameValue(a: unknown, b: unknown): boolean {
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  return a === b;
}

interface Opened {
  readonly res: http.IncomingMessage;
  readonly cleanup: () => void;
  /** why the request was killed (timeout, abort), if it was */
  readonly failure: () => Error | undefined;
  /** what it was sent with (a 401 makes them be computed again) */
  readonly credentials: Credentials;
}

/**
 * Hands each non-empty line of a streaming body to `onLine` until the body ends or `stop()` says so. Decoded as one
 * UTF-8 stream: a character split across two chunks (any non-ASCII label or annotation) stays whole. Events rather than
 * an async iterator: a watch event costs one callback, not a promise per chunk.
 */
function readLines(res: http.IncomingMessage, onLine: (line: string) => void, stop: () => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    let rest = '';
    let done = false;
    const finish = (err?: unknown): void => {
      if (done) return;
      done = true;
      res.off('data', onData);
      res.off('end', onEnd);
      res.off('error', finish);
      res.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onData = (chunk: string): void => {
      rest += chunk;
      let nl: number;
      try {
        while ((nl = rest.indexOf('\n')) >= 0) {
          const line = rest.slice(0, nl).trim();
          rest = rest.slice(nl + 1);
          if (line) onLine(line);
          if (stop()) return finish();
        }
      } catch (err) {
        finish(err);
      }
    };
    const onEnd = (): void => {
      const last = rest.trim();
      try {
        if (last && res.complete) onLine(last);
      } catch (err) {
        return finish(err);
      }
      finish();
    };
    // closed without an end: the caller tells a cut from an abort (res.complete, its signal)
    const onClose = (): void => finish();
    res.setEncoding('utf8');
    res.on('data', onData);
    res.once('end', onEnd);
    res.once('error', finish);
    res.once('close', onClose);
  });
}

/** The whole body, from events (no async iterator: this runs once per request). */
function readAll(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (chunk: Buffer) => chunks.push(chunk));
    res.once('end', () => resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8')));
    res.once('error', reject);
    // destroyed before its end (a timeout, an abort): the caller reports why
    res.once('close', () => (res.complete ? undefined : reject(new Error('the answer was cut before its end'))));
  });
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
  return statusError(req.method ?? 'GET', req.path, status, body);
}
