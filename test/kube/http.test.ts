// KubeHttp edge by edge, mostly against bare node:http servers that put exact bytes on the wire: how an answer becomes
// a value or a KubeApiError, what goes out (path, query, headers, body), aborts, closes and timeouts, watch streams
// (lines, non-2xx, cuts), the credentials memo and its window, stale keep-alive connections, and pool replacement.
import http from 'node:http';
import net from 'node:net';
import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KubeConfig, type Cluster } from '@kubernetes/client-node';
import { isApiStatus, KubeApiError, KubeHttp, statusError, statusOf, type KubeHttpOptions } from '../../src/kube/http.js';
import { FakeApiServer, waitFor } from '../support/fake-apiserver.js';

const HOUR = 3_600_000;
const JSON_TYPE = { 'Content-Type': 'application/json' };
// Captured before any test fakes them: a deadline that must keep running while fake timers are installed.
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  readonly socket: net.Socket;
}

interface Bare {
  readonly url: string;
  readonly requests: Seen[];
  /** connections open on the server side right now */
  openSockets(): number;
  /** destroy every connection from the server side */
  cut(): void;
  kubeConfig(token?: string): KubeConfig;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, seen: Seen) => void;

/** A plain HTTP server calling `handler` once a request's body has been read, recording every request. */
async function bare(handler: Handler, host = '127.0.0.1'): Promise<Bare> {
  const sockets = new Set<net.Socket>();
  const requests: Seen[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const seen: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), socket: req.socket };
      requests.push(seen);
      handler(req, res, seen);
    });
  });
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as net.AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    url,
    requests,
    openSockets: () => sockets.size,
    cut: () => {
      for (const s of sockets) s.destroy();
    },
    kubeConfig: (token = 'token-a') => kubeConfigFor(url, token),
  };
}

/** client-node accepts a plain http:// server only with insecure-skip-tls-verify. */
function kubeConfigFor(server: string, token = 'token-a'): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server, skipTLSVerify: true }],
    users: [{ name: 'u', token }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
    currentContext: 'ctx',
  });
  return kc;
}

function client(kc: KubeConfig, opts?: KubeHttpOptions): KubeHttp {
  const c = new KubeHttp(kc, opts);
  cleanups.push(() => c.close());
  return c;
}

function setCluster(kc: KubeConfig, change: Partial<Cluster>): void {
  kc.clusters = kc.clusters.map((c) => ({ ...c, ...change }));
}

function setToken(kc: KubeConfig, token: string): void {
  kc.users = kc.users.map((u) => ({ ...u, token }));
}

function reply(res: http.ServerResponse, status: number, body?: unknown, headers: http.OutgoingHttpHeaders = JSON_TYPE): void {
  res.writeHead(status, headers).end(body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body));
}

function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** How `p` settled, or 'still pending' after `ms` of real time (only reached when the code under test is wrong). */
async function outcome(p: Promise<unknown>, ms = 10_000): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise((resolve) => (timer = realSetTimeout(() => resolve('still pending'), ms)));
  try {
    return await Promise.race([p.then((v) => ({ resolved: v }), (e: unknown) => e), late]);
  } finally {
    realClearTimeout(timer);
  }
}

const noop = (): void => undefined;
const status = (code: number, reason: string, message: string): Record<string, unknown> => ({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message });

describe('statusError', () => {
  it('takes the message and reason of a Kubernetes Status, and keeps the body', () => {
    const body = status(409, 'Conflict', 'the object has been modified');
    const err = statusError('PUT', '/api/v1/namespaces/app/configmaps/c', 409, body);
    expect(err).toBeInstanceOf(KubeApiError);
    expect(err.message).toBe('PUT /api/v1/namespaces/app/configmaps/c: 409 the object has been modified');
    expect([err.status, err.reason, err.body]).toEqual([409, 'Conflict', body]);
  });

  it('without a Status message: the start of a text body, else the status text, else "error"', () => {
    const text = `upstream connect error ${'x'.repeat(300)}`;
    expect(statusError('GET', '/x', 503, text).message).toBe(`GET /x: 503 ${text.slice(0, 200)}`);
    expect(statusError('GET', '/x', 502, '').message).toBe('GET /x: 502 Bad Gateway');
    // bodies that are not a Status: JSON null, nothing, fields of the wrong type
    for (const body of [null, undefined, { message: 42, reason: 7 }, { kind: 'Status' }]) {
      const err = statusError('GET', '/x', 500, body);
      expect([err.message, err.reason]).toEqual(['GET /x: 500 Internal Server Error', undefined]);
    }
    expect(statusError('GET', '/x', 599, undefined).message).toBe('GET /x: 599 error');
  });
});

describe('statusOf and isApiStatus', () => {
  it('read the HTTP status of API failures only', () => {
    const notFound = new KubeApiError('GET /x: 404 not found', 404, 'NotFound');
    expect([statusOf(notFound), isApiStatus(notFound, 404), isApiStatus(notFound, 409)]).toEqual([404, true, false]);
    // anything else (a bug, a plain network error) has none, not even 0
    const plain = Object.assign(new Error('boom'), { status: 0 });
    expect([statusOf(plain), isApiStatus(plain, 0), isApiStatus(undefined, 0)]).toEqual([0, false, false]);
  });
});

describe('KubeHttp answers', () => {
  const ROUTES: Record<string, [number, unknown, http.OutgoingHttpHeaders?]> = {
    '/ok': [200, { kind: 'ConfigMap' }],
    '/edge': [299, { kind: 'Edge' }],
    '/multiple': [300, status(300, 'MultipleChoices', 'pick one')],
    '/status': [500, status(500, 'InternalError', 'etcdserver: request timed out')],
    '/text': [503, 'upstream connect error', { 'Content-Type': 'text/plain' }],
    '/missing': [404, status(404, 'NotFound', 'configmaps "c" not found')],
    '/empty': [200, undefined],
    '/null': [200, 'null'],
    '/string': [200, '"just text"'],
    '/number': [200, '42'],
    '/nocontent': [204, undefined],
  };
  const routes: Handler = (_req, res, seen) => {
    const [code, body, headers] = ROUTES[seen.url.split('?')[0]!] ?? [404, undefined];
    reply(res, code, body, headers);
  };

  it('json: a 2xx answer (299 too) is its body; 300 and up is a KubeApiError with the Status message and reason', async () => {
    const b = await bare(routes);
    const kube = client(b.kubeConfig());
    expect(await kube.json({ path: '/ok' })).toEqual({ kind: 'ConfigMap' });
    expect(await kube.json({ path: '/edge' })).toEqual({ kind: 'Edge' });
    await expect(kube.json({ path: '/multiple' })).rejects.toMatchObject({ status: 300, reason: 'MultipleChoices', message: 'GET /multiple: 300 pick one' });
    const err = await kube.json({ path: '/status', method: 'DELETE' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect(err).toMatchObject({ status: 500, reason: 'InternalError', message: 'DELETE /status: 500 etcdserver: request timed out', body: { kind: 'Status', code: 500 } });
    // a proxy in front of the API server answering in plain text
    await expect(kube.json({ path: '/text' })).rejects.toMatchObject({ status: 503, reason: undefined, message: 'GET /text: 503 upstream connect error', body: 'upstream connect error' });
  });

  it('getOptional: 404 is undefined; any other non-2xx, and a 2xx without a JSON object, is a KubeApiError', async () => {
    const b = await bare(routes);
    const kube = client(b.kubeConfig());
    expect(await kube.getOptional({ path: '/missing' })).toBeUndefined();
    expect(await kube.getOptional({ path: '/ok' })).toEqual({ kind: 'ConfigMap' });
    expect(await kube.getOptional({ path: '/edge' })).toEqual({ kind: 'Edge' });
    await expect(kube.getOptional({ path: '/status' })).rejects.toMatchObject({ status: 500, reason: 'InternalError', message: 'GET /status: 500 etcdserver: request timed out' });
    await expect(kube.getOptional({ path: '/multiple' })).rejects.toMatchObject({ status: 300, message: 'GET /multiple: 300 pick one' });
    await expect(kube.getOptional({ path: '/empty' })).rejects.toMatchObject({ status: 200, message: 'GET /empty: 200 OK' });
    await expect(kube.getOptional({ path: '/null' })).rejects.toMatchObject({ status: 200, message: 'GET /null: 200 OK' });
    await expect(kube.getOptional({ path: '/string' })).rejects.toMatchObject({ status: 200, message: 'GET /string: 200 just text' });
    await expect(kube.getOptional({ path: '/number' })).rejects.toMatchObject({ status: 200, message: 'GET /number: 200 OK', body: 42 });
    expect(b.requests).toHaveLength(9);
  });

  it('request: any status comes back as is, an empty body as undefined, a non-JSON body as its text', async () => {
    const b = await bare(routes);
    const kube = client(b.kubeConfig());
    expect(await kube.request({ path: '/nocontent' })).toStrictEqual({ status: 204, body: undefined });
    expect(await kube.request({ path: '/text' })).toStrictEqual({ status: 503, body: 'upstream connect error' });
    expect(await kube.request({ path: '/missing' })).toStrictEqual({ status: 404, body: status(404, 'NotFound', 'configmaps "c" not found') });
  });

  it('reads a body that arrives in many chunks whole, multi-byte characters included', async () => {
    // well over the 64 KiB a socket read hands over at once
    const big = { kind: 'ConfigMapList', items: Array.from({ length: 3000 }, (_, i) => ({ name: `网格注入-${i}`, pad: 'x'.repeat(80) })) };
    const b = await bare((_req, res) => reply(res, 200, big));
    expect(await client(b.kubeConfig()).json({ path: '/big' })).toEqual(big);
  });
});

describe('KubeHttp requests on the wire', () => {
  const ok: Handler = (_req, res) => reply(res, 200, {});

  it('sends JSON bodies as JSON, string bodies as given, and no body (nor Content-Type) without one', async () => {
    const b = await bare(ok);
    const kube = client(b.kubeConfig());
    await kube.json({ path: '/a', method: 'POST', body: { note: 'ü' } });
    await kube.json({ path: '/b', method: 'PATCH', body: '{"x":1}', contentType: 'application/merge-patch+json' });
    await kube.json({ path: '/c', method: 'PUT', body: 'plain' });
    await kube.json({ path: '/d' });
    const [a, p, s, g] = b.requests;
    expect([a?.method, a?.headers['content-type'], a?.headers['content-length'], a?.body]).toEqual(['POST', 'application/json', String(Buffer.byteLength('{"note":"ü"}')), '{"note":"ü"}']);
    expect([p?.method, p?.headers['content-type'], p?.body]).toEqual(['PATCH', 'application/merge-patch+json', '{"x":1}']);
    expect([s?.method, s?.headers['content-type'], s?.body]).toEqual(['PUT', 'application/json', 'plain']);
    expect([g?.method, g?.headers['content-type'], g?.body]).toEqual(['GET', undefined, '']);
  });

  it('asks for JSON unless told otherwise, with the user\'s token', async () => {
    const b = await bare(ok);
    const kube = client(b.kubeConfig('token-a'));
    await kube.request({ path: '/a' });
    await kube.request({ path: '/b', accept: 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1' });
    expect(b.requests.map((r) => [r.headers.accept, r.headers.authorization])).toEqual([
      ['application/json', 'Bearer token-a'],
      ['application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1', 'Bearer token-a'],
    ]);
  });

  it('builds the query string from the defined values only, and adds no "?" when none is left', async () => {
    const b = await bare(ok);
    const kube = client(b.kubeConfig());
    await kube.request({ path: '/a', query: { watch: true, limit: 0, labelSelector: 'app in (a,b)', continue: undefined } });
    await kube.request({ path: '/b', query: { continue: undefined } });
    await kube.request({ path: '/c', query: {} });
    expect(b.requests.map((r) => r.url)).toEqual(['/a?watch=true&limit=0&labelSelector=app+in+%28a%2Cb%29', '/b', '/c']);
  });

  it('drops trailing slashes of the server URL and keeps its path prefix', async () => {
    const b = await bare(ok);
    const plain = client(kubeConfigFor(`${b.url}//`));
    expect(plain.server).toBe(b.url);
    await plain.request({ path: '/api' });
    const prefixed = client(kubeConfigFor(`${b.url}/k8s/clusters/c-1//`));
    expect(prefixed.server).toBe(`${b.url}/k8s/clusters/c-1`);
    await prefixed.request({ path: '/api' });
    expect(b.requests.map((r) => r.url)).toEqual(['/api', '/k8s/clusters/c-1/api']);
  });

  it('has no server without a current cluster', () => {
    const kube = client(new KubeConfig());
    expect(() => kube.server).toThrow(new KubeApiError('kubeconfig has no current cluster', 0));
    expect(() => kube.server).toThrow(KubeApiError);
  });

  it('reaches a server given by an IPv6 address in brackets', async (ctx) => {
    const b = await bare(ok, '::1').catch(() => undefined);
    if (!b) return ctx.skip(); // a machine without IPv6 loopback
    expect(await client(b.kubeConfig()).json({ path: '/v6' })).toEqual({});
    expect(b.requests.map((r) => r.url)).toEqual(['/v6']);
  });

  it('speaks HTTPS to an https:// server', async () => {
    const fake = await FakeApiServer.start({ tls: true });
    cleanups.push(() => fake.close());
    expect(await client(fake.kubeConfig()).json({ path: '/api/v1/namespaces/app/secrets' })).toMatchObject({ kind: 'SecretList' });
    expect(fake.tlsHandshakeCount()).toBe(1);
  });
});

describe('KubeHttp failures', () => {
  it('a connection the server resets before answering fails the request, naming method and path, and is not sent again', async () => {
    const b = await bare((_req, _res, seen) => seen.socket.destroy());
    const kube = client(b.kubeConfig());
    await expect(kube.request({ path: '/r' })).rejects.toMatchObject({ status: 0, reason: 'ECONNRESET', message: 'GET /r: socket hang up' });
    await expect(kube.json({ path: '/p', method: 'POST', body: {} })).rejects.toMatchObject({ status: 0, reason: 'ECONNRESET', message: 'POST /p: socket hang up' });
    // each on a fresh connection: nothing says the server did not act on it
    expect(b.requests.map((r) => r.url)).toEqual(['/r', '/p']);
  });

  it('a watch whose connection is reset before its answer fails', async () => {
    const b = await bare((_req, _res, seen) => seen.socket.destroy());
    const lines: string[] = [];
    await expect(client(b.kubeConfig()).stream({ path: '/w' }, (l) => lines.push(l))).rejects.toMatchObject({ status: 0, reason: 'ECONNRESET', message: 'GET /w: socket hang up' });
    expect(lines).toEqual([]);
  });

  it('a read sent on a pooled connection the server had just closed is sent once more, on a new connection', async () => {
    const b = await bare((_req, res) => reply(res, 200, { n: b.requests.length }));
    let fresh = 0;
    const kube = client(b.kubeConfig(), { onNewConnection: () => fresh++ });
    await kube.json({ path: '/a' });
    b.cut();
    // sent in the same tick as the cut: the client has not read the close yet and reuses the dead connection
    expect(await kube.json({ path: '/b' })).toEqual({ n: 2 });
    expect(b.requests.map((r) => r.url)).toEqual(['/a', '/b']);
    expect(fresh).toBe(2);
  });

  it('a read is sent again as long as the pooled connections it meets are dead: several die at once after a burst', async () => {
    const b = await bare((_req, res) => reply(res, 200, { n: b.requests.length }));
    let fresh = 0;
    const kube = client(b.kubeConfig(), { onNewConnection: () => fresh++ });
    // three requests at once leave three connections in the pool; the server then closes them all
    await Promise.all(['/a1', '/a2', '/a3'].map((path) => kube.json({ path })));
    expect(fresh).toBe(3);
    b.cut();
    expect(await kube.json({ path: '/b' })).toEqual({ n: 4 });
    expect(b.requests.map((r) => r.url).slice(3)).toEqual(['/b']);
    expect(fresh).toBe(4);
  });

  it('a write on such a connection is not sent again (as in client-go): the caller gets the error', async () => {
    const b = await bare((_req, res) => reply(res, 200, {}));
    const kube = client(b.kubeConfig());
    await kube.json({ path: '/a' });
    b.cut();
    await expect(kube.json({ path: '/p', method: 'POST', body: { x: 1 } })).rejects.toMatchObject({ status: 0, reason: 'ECONNRESET', message: 'POST /p: socket hang up' });
    expect(await kube.json({ path: '/c' })).toEqual({});
    expect(b.requests.map((r) => r.url)).toEqual(['/a', '/c']);
  });

  it('a closed client refuses requests and watches (no quiet end for a watch), sending nothing', async () => {
    const b = await bare((_req, res) => reply(res, 200, {}));
    const kube = client(b.kubeConfig());
    await kube.request({ path: '/a' });
    kube.close();
    await expect(kube.request({ path: '/b' })).rejects.toMatchObject({ status: 0, reason: 'Closed', message: 'GET /b: client closed' });
    await expect(kube.getOptional({ path: '/c' })).rejects.toMatchObject({ status: 0, reason: 'Closed', message: 'GET /c: client closed' });
    let opened = false;
    await expect(kube.stream({ path: '/w', onOpen: () => (opened = true) }, noop)).rejects.toMatchObject({ status: 0, reason: 'Closed', message: 'GET /w: client closed' });
    expect(opened).toBe(false);
    expect(b.requests.map((r) => r.url)).toEqual(['/a']);
  });

  it('close() while the credentials are being computed fails the request, and builds no pool', async () => {
    const b = await bare((_req, res) => reply(res, 200, {}));
    const kube = client(b.kubeConfig());
    const pending = kube.request({ path: '/a' });
    kube.close();
    await expect(pending).rejects.toMatchObject({ status: 0, reason: 'Closed', message: 'client closed' });
    expect(b.requests).toHaveLength(0);
  });

  it('close() between the remembered credentials and the send fails the request', async () => {
    const b = await bare((_req, res) => reply(res, 200, {}));
    const kube = client(b.kubeConfig());
    await kube.request({ path: '/a' });
    // request() waits one turn for the remembered credentials: close() lands before anything is sent
    const pending = kube.request({ path: '/b' });
    kube.close();
    await expect(pending).rejects.toMatchObject({ status: 0, reason: 'Closed', message: 'GET /b: client closed' });
    expect(b.requests.map((r) => r.url)).toEqual(['/a']);
  });

  it('an already aborted signal: a request fails, a watch ends quietly, and nothing is computed or sent', async () => {
    const b = await bare((_req, res) => reply(res, 200, {}));
    const kc = b.kubeConfig();
    const spy = vi.spyOn(kc, 'applyToHTTPSOptions');
    const kube = client(kc);
    const signal = AbortSignal.abort();
    await expect(kube.request({ path: '/a', signal })).rejects.toMatchObject({ status: 0, reason: 'Aborted', message: 'GET /a: aborted' });
    let opened = false;
    await expect(kube.stream({ path: '/w', signal, onOpen: () => (opened = true) }, noop)).resolves.toBeUndefined();
    expect(opened).toBe(false);
    expect(spy).not.toHaveBeenCalled();
    expect(b.requests).toHaveLength(0);
  });

  it('a signal aborted while the credentials are being computed: nothing is sent', async () => {
    const b = await bare((_req, res) => reply(res, 200, {}));
    const kube = client(b.kubeConfig());
    const request = new AbortController();
    const pending = kube.request({ path: '/a', signal: request.signal });
    request.abort();
    await expect(pending).rejects.toMatchObject({ status: 0, reason: 'Aborted', message: 'GET /a: aborted' });
    const watch = new AbortController();
    const watching = kube.stream({ path: '/w', signal: watch.signal }, noop);
    watch.abort();
    await expect(watching).resolves.toBeUndefined();
    expect(b.requests).toHaveLength(0);
  });

  it('a request\'s timeout covers reading its body, not only the headers', async () => {
    const b = await bare((_req, res) => {
      res.writeHead(200, { ...JSON_TYPE, 'Content-Length': '100' });
      res.write('{"items":['); // and nothing more
    });
    await expect(client(b.kubeConfig()).request({ path: '/slow', timeoutMs: 100 })).rejects.toMatchObject({ status: 0, reason: 'Timeout', message: 'GET /slow: no answer within 100 ms' });
  });

  it('an answer cut in the middle of its body is a network error, not a short body', async () => {
    const b = await bare((_req, res, seen) => {
      res.writeHead(200, { ...JSON_TYPE, 'Content-Length': '100' });
      res.write('{"items":[', () => seen.socket.destroy());
    });
    await expect(client(b.kubeConfig()).request({ path: '/cut' })).rejects.toMatchObject({ status: 0, reason: 'ECONNRESET', message: 'GET /cut: aborted' });
  });

  it('leaves no timer and no abort listener behind, whether the answer was a success, a failure or a watch\'s end', async () => {
    const release = deferred();
    const arrived = deferred();
    const b = await bare((_req, res, seen) => {
      if (seen.url === '/held') {
        arrived.resolve();
        void release.promise.then(() => reply(res, 200, {}));
      } else if (seen.url === '/w') reply(res, 200, '{"n":1}\n');
      else if (seen.url === '/fail') reply(res, 500, status(500, 'InternalError', 'boom'));
      else reply(res, 200, {});
    });
    const kube = client(b.kubeConfig());
    const signal = new AbortController().signal; // a long-lived one, e.g. a controller's stop signal
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const held = kube.request({ path: '/held', signal, timeoutMs: HOUR });
    await arrived.promise;
    expect([vi.getTimerCount(), getEventListeners(signal, 'abort').length]).toEqual([1, 1]);
    release.resolve();
    expect((await held).status).toBe(200);
    await expect(kube.json({ path: '/fail', signal, timeoutMs: HOUR })).rejects.toMatchObject({ status: 500 });
    await kube.stream({ path: '/w', signal, timeoutMs: HOUR }, noop);
    expect([vi.getTimerCount(), getEventListeners(signal, 'abort').length]).toEqual([0, 0]);
  });
});

describe('KubeHttp watch streams', () => {
  it('hands over each non-empty line, trimmed, after onOpen; the last line needs no newline', async () => {
    const b = await bare((_req, res) => {
      res.writeHead(200, JSON_TYPE);
      res.end('\n{"n":1}\r\n  {"n":2}  \n\n\n{"n":3}\n{"n":4}  ');
    });
    const events: string[] = [];
    await expect(client(b.kubeConfig()).stream({ path: '/w', onOpen: () => events.push('open') }, (l) => events.push(l))).resolves.toBeUndefined();
    expect(events).toEqual(['open', '{"n":1}', '{"n":2}', '{"n":3}', '{"n":4}']);
  });

  it('any 2xx opens the watch, 299 included', async () => {
    const b = await bare((_req, res) => reply(res, 299, '{"n":1}\n'));
    const lines: string[] = [];
    await client(b.kubeConfig()).stream({ path: '/w' }, (l) => lines.push(l));
    expect(lines).toEqual(['{"n":1}']);
  });

  it('a non-2xx answer is a KubeApiError with the Status; the credentials are kept', async () => {
    const b = await bare((_req, res, seen) => (seen.url === '/w' ? reply(res, 500, status(500, 'InternalError', 'etcd is down')) : reply(res, 200, {})));
    const kc = b.kubeConfig();
    const spy = vi.spyOn(kc, 'applyToHTTPSOptions');
    const kube = client(kc, { credentialsTtlMs: HOUR });
    let opened = false;
    const lines: string[] = [];
    const err = await kube.stream({ path: '/w', onOpen: () => (opened = true) }, (l) => lines.push(l)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect(err).toMatchObject({ status: 500, reason: 'InternalError', message: 'GET /w: 500 etcd is down', body: { code: 500 } });
    expect([opened, lines]).toEqual([false, []]);
    await kube.json({ path: '/ok' });
    expect(spy).toHaveBeenCalledTimes(1);
  });

  it('a watch answered 401 is not retried, and makes the next request compute fresh credentials', async () => {
    const b = await bare((_req, res, seen) => (seen.url === '/w' ? reply(res, 401, status(401, 'Unauthorized', 'Unauthorized')) : reply(res, 200, {})));
    const kc = b.kubeConfig('token-a');
    const spy = vi.spyOn(kc, 'applyToHTTPSOptions');
    const kube = client(kc, { credentialsTtlMs: HOUR });
    await expect(kube.stream({ path: '/w' }, noop)).rejects.toMatchObject({ status: 401, reason: 'Unauthorized', message: 'GET /w: 401 Unauthorized' });
    setToken(kc, 'token-b');
    await kube.json({ path: '/ok' });
    expect(spy).toHaveBeenCalledTimes(2);
    expect(b.requests.map((r) => [r.url, r.headers.authorization])).toEqual([
      ['/w', 'Bearer token-a'],
      ['/ok', 'Bearer token-b'],
    ]);
  });

  it('stops at the line whose callback aborted, even with more lines in the same chunk, and drops the connection', async () => {
    const b = await bare((_req, res) => {
      res.writeHead(200, JSON_TYPE);
      res.write('{"n":1}\n{"n":2}\n{"n":3}\n'); // and the watch stays open
    });
    const abort = new AbortController();
    const lines: string[] = [];
    const watching = client(b.kubeConfig()).stream({ path: '/w', signal: abort.signal }, (l) => {
      lines.push(l);
      abort.abort();
    });
    await expect(watching).resolves.toBeUndefined();
    expect(lines).toEqual(['{"n":1}']);
    await waitFor(() => b.openSockets() === 0, { what: 'the half-read connection closed' });
  });

  it('a watch aborted while waiting for data ends quietly', async () => {
    const b = await bare((_req, res) => {
      res.writeHead(200, JSON_TYPE);
      res.write('{"n":1}\n');
    });
    const abort = new AbortController();
    const lines: string[] = [];
    const watching = client(b.kubeConfig()).stream({ path: '/w', signal: abort.signal }, (l) => lines.push(l));
    await waitFor(() => lines.length === 1, { what: 'the first line' });
    abort.abort();
    await expect(watching).resolves.toBeUndefined();
    expect(lines).toEqual(['{"n":1}']);
  });

  it('a stream cut before its end is an error (events were lost), after the lines that came', async () => {
    let socket: net.Socket | undefined;
    const b = await bare((_req, res, seen) => {
      socket = seen.socket;
      res.writeHead(200, JSON_TYPE);
      res.write('{"n":1}\n{"n":');
    });
    const lines: string[] = [];
    const watching = client(b.kubeConfig()).stream({ path: '/w' }, (l) => lines.push(l));
    await waitFor(() => lines.length === 1, { what: 'the first line' });
    socket?.destroy();
    await expect(watching).rejects.toMatchObject({ status: 0, reason: 'ECONNRESET', message: 'GET /w: aborted' });
    expect(lines).toEqual(['{"n":1}']);
  });

  it('an error thrown by the line callback ends the watch with that error', async () => {
    const b = await bare((_req, res) => {
      res.writeHead(200, JSON_TYPE);
      res.write('{"n":1}\n');
    });
    const watching = client(b.kubeConfig()).stream({ path: '/w' }, () => {
      throw new Error('unexpected event');
    });
    await expect(watching).rejects.toMatchObject({ status: 0, reason: undefined, message: 'GET /w: unexpected event' });
    await waitFor(() => b.openSockets() === 0, { what: 'the watch connection closed' });
  });

  it('an error thrown by the line callback for a last line without newline ends the watch with that error', async () => {
    const b = await bare((_req, res) => {
      res.writeHead(200, JSON_TYPE);
      res.end('{"n":1}');
    });
    const watching = client(b.kubeConfig()).stream({ path: '/w' }, () => {
      throw new Error('unexpected event');
    });
    await expect(watching).rejects.toMatchObject({ status: 0, message: 'GET /w: unexpected event' });
  });

  it('times a watch out after timeoutMs without a byte, counted from the last byte received', async () => {
    const watches: http.ServerResponse[] = [];
    const b = await bare((_req, res) => {
      res.writeHead(200, JSON_TYPE);
      res.flushHeaders();
      watches.push(res);
    });
    const kube = client(b.kubeConfig());
    // fake time: the window is checked to the millisecond, whatever the machine's load
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const opened = deferred();
    const arrived: Array<{ promise: Promise<void>; resolve: (v: void) => void }> = [deferred(), deferred()];
    const lines: string[] = [];
    const watching = kube.stream({ path: '/w', timeoutMs: 1000, onOpen: () => opened.resolve() }, (l) => {
      lines.push(l);
      arrived[lines.length - 1]?.resolve();
    });
    await opened.promise;
    vi.advanceTimersByTime(600);
    watches[0]!.write('{"n":1}\n');
    await arrived[0]!.promise;
    // 1000 ms after the start, 400 after the last byte: still open, as the line at 1200 ms shows
    vi.advanceTimersByTime(600);
    watches[0]!.write('{"n":2}\n');
    await arrived[1]!.promise;
    vi.advanceTimersByTime(999);
    vi.advanceTimersByTime(1); // 1000 ms after the last byte
    expect(await outcome(watching)).toMatchObject({ status: 0, reason: 'Timeout', message: 'GET /w: no data for 1000 ms' });
    expect(lines).toEqual(['{"n":1}', '{"n":2}']);
  });

  it('times a watch that never sends a byte out exactly after timeoutMs', async () => {
    const b = await bare((_req, res) => {
      res.writeHead(200, JSON_TYPE);
      res.flushHeaders();
    });
    const kube = client(b.kubeConfig());
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const opened = deferred();
    const watching = kube.stream({ path: '/w', timeoutMs: 1000, onOpen: () => opened.resolve() }, noop);
    await opened.promise;
    vi.advanceTimersByTime(1000);
    expect(await outcome(watching)).toMatchObject({ status: 0, reason: 'Timeout', message: 'GET /w: no data for 1000 ms' });
  });
});

describe('KubeHttp credentials', () => {
  const ok: Handler = (_req, res) => reply(res, 200, {});

  it('reuses the credentials for 10 s by default', async () => {
    const b = await bare(ok);
    const kc = b.kubeConfig();
    const spy = vi.spyOn(kc, 'applyToHTTPSOptions');
    vi.useFakeTimers({ toFake: ['performance'] });
    const kube = client(kc);
    await kube.request({ path: '/a' });
    vi.advanceTimersByTime(9_999);
    await kube.request({ path: '/b' });
    expect(spy).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(1);
    await kube.request({ path: '/c' });
    expect(spy).toHaveBeenCalledTimes(2);
  });

  it('computes them again once credentialsTtlMs is over, and for every request with 0', async () => {
    const b = await bare(ok);
    const kc = b.kubeConfig();
    const spy = vi.spyOn(kc, 'applyToHTTPSOptions');
    vi.useFakeTimers({ toFake: ['performance'] });
    const kube = client(kc, { credentialsTtlMs: 1000 });
    await kube.request({ path: '/a' });
    vi.advanceTimersByTime(999);
    await kube.request({ path: '/b' });
    expect(spy).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(1);
    await kube.request({ path: '/c' });
    expect(spy).toHaveBeenCalledTimes(2);

    const every = client(kc, { credentialsTtlMs: 0 });
    // the clock stands still: even then nothing is reused
    for (let i = 0; i < 3; i++) await every.request({ path: '/d' });
    expect(spy).toHaveBeenCalledTimes(5);
  });

  it('does not remember a failure to compute them: the next request tries again', async () => {
    const b = await bare(ok);
    const kc = b.kubeConfig();
    const spy = vi.spyOn(kc, 'applyToHTTPSOptions').mockRejectedValueOnce(new Error('exec plugin failed'));
    const kube = client(kc, { credentialsTtlMs: HOUR });
    await expect(kube.request({ path: '/a' })).rejects.toThrow(new Error('exec plugin failed'));
    expect((await kube.request({ path: '/b' })).status).toBe(200);
    expect(spy).toHaveBeenCalledTimes(2);
    expect(b.requests.map((r) => r.url)).toEqual(['/b']);
  });

  it('a late 401 on old credentials does not drop the ones computed since', async () => {
    const release = deferred();
    const held = deferred();
    const b = await bare((_req, res, seen) => {
      const fresh = seen.headers.authorization === 'Bearer token-b';
      if (seen.url === '/held' && !fresh) {
        held.resolve();
        void release.promise.then(() => reply(res, 401, status(401, 'Unauthorized', 'Unauthorized')));
      } else reply(res, fresh ? 200 : 401, fresh ? {} : status(401, 'Unauthorized', 'Unauthorized'));
    });
    const kc = b.kubeConfig('token-a');
    const spy = vi.spyOn(kc, 'applyToHTTPSOptions');
    const kube = client(kc, { credentialsTtlMs: HOUR });
    const slow = kube.request({ path: '/held' });
    await held.promise;
    setToken(kc, 'token-b'); // rotated; the server refuses token-a from now on
    expect((await kube.request({ path: '/x' })).status).toBe(200);
    release.resolve();
    expect((await slow).status).toBe(200);
    expect(spy).toHaveBeenCalledTimes(2);
    expect(b.requests.map((r) => [r.url, r.headers.authorization])).toEqual([
      ['/held', 'Bearer token-a'],
      ['/x', 'Bearer token-a'],
      ['/x', 'Bearer token-b'],
      ['/held', 'Bearer token-b'],
    ]);
  });

  it('a 401 arriving while no credentials are remembered (their last computation failed) is retried as usual', async () => {
    const release = deferred();
    const held = deferred();
    let heldOnce = false;
    const b = await bare((_req, res, seen) => {
      if (seen.url === '/held' && !heldOnce) {
        heldOnce = true;
        held.resolve();
        void release.promise.then(() => reply(res, 401, status(401, 'Unauthorized', 'Unauthorized')));
      } else reply(res, 200, {});
    });
    const kc = b.kubeConfig();
    const spy = vi.spyOn(kc, 'applyToHTTPSOptions');
    const kube = client(kc, { credentialsTtlMs: 0 });
    const slow = kube.request({ path: '/held' });
    await held.promise;
    spy.mockRejectedValueOnce(new Error('exec plugin failed'));
    await expect(kube.request({ path: '/y' })).rejects.toThrow(new Error('exec plugin failed'));
    release.resolve();
    expect(await slow).toStrictEqual({ status: 200, body: {} });
    expect(b.requests.map((r) => r.url)).toEqual(['/held', '/held']);
  });
});

describe('KubeHttp connection pool', () => {
  const ok: Handler = (_req, res) => reply(res, 200, {});

  it('reports each new connection, not the reused ones', async () => {
    const b = await bare(ok);
    let fresh = 0;
    const kube = client(b.kubeConfig(), { onNewConnection: () => fresh++ });
    for (let i = 0; i < 3; i++) await kube.request({ path: '/a' });
    expect(fresh).toBe(1);
    // two at once: one takes the pooled connection, the other opens one
    await Promise.all([kube.request({ path: '/b' }), kube.request({ path: '/c' })]);
    expect(fresh).toBe(2);
    await kube.request({ path: '/d' });
    expect([fresh, b.openSockets()]).toEqual([2, 2]);
  });

  it('moves to a new pool when the TLS material changes (CA, server name), closing the old pool\'s idle connections', async () => {
    const b = await bare(ok);
    const kc = b.kubeConfig();
    let fresh = 0;
    const kube = client(kc, { credentialsTtlMs: 0, onNewConnection: () => fresh++ });
    await kube.request({ path: '/a' });
    await kube.request({ path: '/a' });
    expect([fresh, b.openSockets()]).toEqual([1, 1]);

    setCluster(kc, { caData: Buffer.from('a CA bundle').toString('base64') });
    await kube.request({ path: '/b' });
    expect(fresh).toBe(2);
    await waitFor(() => b.openSockets() === 1, { what: 'the old pool\'s idle connection closed' });
    // the same bytes read again (a new Buffer every time) are no change
    for (let i = 0; i < 3; i++) await kube.request({ path: '/b' });
    expect(fresh).toBe(2);

    setCluster(kc, { tlsServerName: 'kubernetes.default.svc' });
    await kube.request({ path: '/c' });
    expect(fresh).toBe(3);
    await waitFor(() => b.openSockets() === 1, { what: 'the second pool\'s idle connection closed' });
  });

  it('lets a watch on a replaced pool run to its end, then closes its connection instead of pooling it', async () => {
    const watches: http.ServerResponse[] = [];
    const b = await bare((_req, res, seen) => {
      if (seen.url !== '/w') return reply(res, 200, {});
      res.writeHead(200, JSON_TYPE);
      res.flushHeaders();
      watches.push(res);
    });
    const kc = b.kubeConfig();
    const kube = client(kc, { credentialsTtlMs: 0 });
    const opened = deferred();
    const lines: string[] = [];
    const watching = kube.stream({ path: '/w', onOpen: () => opened.resolve() }, (l) => lines.push(l));
    await opened.promise;
    setCluster(kc, { caData: Buffer.from('a CA bundle').toString('base64') });
    await kube.request({ path: '/a' });
    expect(b.openSockets()).toBe(2);
    watches[0]!.end('{"n":1}\n');
    await expect(watching).resolves.toBeUndefined();
    expect(lines).toEqual(['{"n":1}']);
    // left: the new pool's idle connection
    await waitFor(() => b.openSockets() === 1, { what: 'the watch connection closed' });
  });

  it('close() still cuts a watch running on a pool that has since been replaced twice', async () => {
    const b = await bare((_req, res, seen) => {
      if (seen.url !== '/w') return reply(res, 200, {});
      res.writeHead(200, JSON_TYPE);
      res.flushHeaders();
    });
    const kc = b.kubeConfig();
    const kube = client(kc, { credentialsTtlMs: 0 });
    const opened = deferred();
    const watching = kube.stream({ path: '/w', onOpen: () => opened.resolve() }, noop);
    await opened.promise;
    setCluster(kc, { caData: Buffer.from('a CA bundle').toString('base64') });
    await kube.request({ path: '/a' });
    setCluster(kc, { tlsServerName: 'kubernetes.default.svc' });
    await kube.request({ path: '/b' });
    kube.close();
    expect(await outcome(watching)).toMatchObject({ status: 0, reason: 'ECONNRESET', message: 'GET /w: aborted' });
    await waitFor(() => b.openSockets() === 0, { what: 'every connection closed' });
  });

  it('a server URL switched from http:// to https:// gets a pool of its kind', async () => {
    const b = await bare(ok);
    const fake = await FakeApiServer.start({ tls: true });
    cleanups.push(() => fake.close());
    const kc = b.kubeConfig();
    const kube = client(kc, { credentialsTtlMs: 0 });
    await kube.request({ path: '/a' });
    // the same TLS settings (none but insecure-skip-tls-verify): only the scheme changed
    setCluster(kc, { server: fake.url });
    expect(await kube.json({ path: '/api/v1/namespaces/app/secrets' })).toMatchObject({ kind: 'SecretList' });
    expect(fake.tlsHandshakeCount()).toBe(1);
  });

  it('a proxy-url added to the kubeconfig takes effect for the next requests', async () => {
    const b = await bare(ok);
    const proxy = await connectProxy();
    const kc = b.kubeConfig();
    const kube = client(kc, { credentialsTtlMs: 0 });
    await kube.request({ path: '/direct' });
    expect(proxy.tunnels()).toBe(0);
    setCluster(kc, { proxyUrl: proxy.url });
    await kube.request({ path: '/proxied' });
    await kube.request({ path: '/proxied' });
    expect(proxy.tunnels()).toBe(1);
    expect(b.requests.map((r) => r.url)).toEqual(['/direct', '/proxied', '/proxied']);
  });
});

/** A minimal HTTP proxy answering CONNECT (what client-node's proxy agents speak), counting the tunnels. */
async function connectProxy(): Promise<{ url: string; tunnels: () => number }> {
  let tunnels = 0;
  const sockets = new Set<net.Socket>();
  const server = http.createServer((_req, res) => res.writeHead(405).end());
  server.on('connect', (req: http.IncomingMessage, downstream: net.Socket, head: Buffer) => {
    tunnels++;
    const [host, port] = (req.url ?? '').split(':');
    const upstream = net.connect(Number(port), host, () => {
      downstream.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(downstream);
      downstream.pipe(upstream);
    });
    for (const s of [downstream, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        downstream.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, tunnels: () => tunnels };
}
