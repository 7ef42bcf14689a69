// KubeHttp against the fake API server over HTTPS: connection reuse (counted by the fake as TCP connections and TLS
// handshakes), watches sharing the client with ordinary requests, connections the server cuts, credentials computed
// once per window and refreshed after a 401, a new connection pool only when the TLS material changes.
import http from 'node:http';
import net from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import selfsigned from 'selfsigned';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeApiError, KubeHttp, type KubeHttpOptions } from '../../src/kube/http.js';
import { FakeApiServer, waitFor } from '../support/fake-apiserver.js';

const SECRETS = '/api/v1/namespaces/app/secrets';
const PODS = '/api/v1/namespaces/app/pods';
const HOUR = 60 * 60 * 1000;

let fake: FakeApiServer;
const clients: KubeHttp[] = [];

beforeAll(async () => {
  fake = await FakeApiServer.start({ tls: true });
});
afterAll(() => fake.close());
beforeEach(() => {
  fake.clearFailures();
  fake.clearRequests();
  fake.setLatency(0);
  fake.resetCounters();
});
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

function client(kc: KubeConfig = fake.kubeConfig(), opts?: KubeHttpOptions): KubeHttp {
  const c = new KubeHttp(kc, opts);
  clients.push(c);
  return c;
}

const counts = (): [number, number] => [fake.connectionCount(), fake.tlsHandshakeCount()];
const lastAuthorization = (): string | undefined => fake.requests.at(-1)?.authorization;

function setToken(kc: KubeConfig, token: string): void {
  kc.users = kc.users.map((u) => ({ ...u, token }));
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** A watch on pods in `app`, with the lines it received; `done` settles when the stream does. */
function watchPods(kube: KubeHttp, opts: { timeoutMs?: number } = {}) {
  const abort = new AbortController();
  const lines: string[] = [];
  let opened = false;
  const done = kube.stream({ path: PODS, query: { watch: 'true' }, signal: abort.signal, onOpen: () => (opened = true), ...opts }, (l) => lines.push(l));
  done.catch(() => undefined); // inspected by the tests that expect a failure
  return { abort, lines, done, opened: () => opened };
}

describe('KubeHttp connection reuse', () => {
  it('sends 20 sequential requests over one connection and one TLS handshake', async () => {
    const kube = client();
    for (let i = 0; i < 20; i++) expect(await kube.json({ path: SECRETS })).toMatchObject({ kind: 'SecretList' });
    expect(counts()).toEqual([1, 1]);
  });

  it('opens no more connections than requests run at once, and reuses them afterwards', async () => {
    const kube = client();
    const burst = (n: number): Promise<unknown[]> => Promise.all(Array.from({ length: n }, () => kube.json({ path: SECRETS })));
    await burst(16);
    expect(fake.connectionCount()).toBeGreaterThan(0);
    expect(fake.connectionCount()).toBeLessThanOrEqual(16);
    await burst(10);
    await burst(10);
    expect(fake.connectionCount()).toBeLessThanOrEqual(16);
    expect(fake.tlsHandshakeCount()).toBe(fake.connectionCount());
  });

  it('serves ordinary requests while a watch holds a connection', async () => {
    const kube = client();
    const w = watchPods(kube);
    await waitFor(() => fake.watchCount('pods') === 1 && w.opened(), { what: 'watch open' });
    const answers = await Promise.all(Array.from({ length: 8 }, () => kube.request({ path: SECRETS })));
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(200));
    fake.addObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p1', namespace: 'app' } });
    await waitFor(() => w.lines.some((l) => l.includes('"p1"')), { what: 'watch event' });
    w.abort.abort();
    await w.done;
    await waitFor(() => fake.watchCount('pods') === 0, { what: 'watch closed' });
    expect((await kube.request({ path: SECRETS })).status).toBe(200);
  });

  it('destroys the connection of an aborted watch instead of pooling it half-read', async () => {
    const kube = client();
    await kube.json({ path: SECRETS });
    expect(counts()).toEqual([1, 1]);
    // the watch takes the pooled connection
    const w = watchPods(kube);
    fake.addObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p2', namespace: 'app' } });
    await waitFor(() => w.lines.length > 0, { what: 'watch event' });
    expect(fake.connectionCount()).toBe(1);
    w.abort.abort();
    await expect(w.done).resolves.toBeUndefined();
    // the fake only forgets a watch when its connection closes
    await waitFor(() => fake.watchCount('pods') === 0, { what: 'watch connection closed' });
    for (let i = 0; i < 5; i++) expect((await kube.request({ path: SECRETS })).status).toBe(200);
    expect(fake.connectionCount()).toBe(2);
  });

  it('pools the connection of a watch the server ended cleanly (read to its end)', async () => {
    const kube = client();
    const w = watchPods(kube);
    await waitFor(() => fake.watchCount('pods') === 1 && w.opened(), { what: 'watch open' });
    fake.sendWatchError({ plural: 'pods' });
    await expect(w.done).resolves.toBeUndefined();
    expect(w.lines.at(-1)).toContain('"ERROR"');
    for (let i = 0; i < 3; i++) await kube.json({ path: SECRETS });
    expect(counts()).toEqual([1, 1]);
  });

  it('a watch stopped from its own callback as the server ends it (an ERROR event) leaves nothing uncaught', async () => {
    // the reflector's way: abort on the ERROR line, which arrives together with the end of the response, so the abort
    // lands while Node moves the connection to the pool (an unhandled error there fails this file)
    const kube = client();
    for (let i = 0; i < 10; i++) {
      const abort = new AbortController();
      const done = kube.stream({ path: PODS, query: { watch: 'true' }, signal: abort.signal }, (l) => l.includes('"ERROR"') && abort.abort());
      await waitFor(() => fake.watchCount('pods') === 1, { what: 'watch open' });
      fake.sendWatchError({ plural: 'pods' });
      await expect(done).resolves.toBeUndefined();
      expect(await kube.json({ path: SECRETS })).toMatchObject({ kind: 'SecretList' });
    }
  });

  it('reconnects after the server cut every connection, a pooled one and a watch', async () => {
    const kube = client();
    await kube.json({ path: SECRETS });
    const w = watchPods(kube);
    await waitFor(() => fake.watchCount('pods') === 1, { what: 'watch open' });
    fake.dropConnections();
    // the watch fails (its caller retries); the request right after, possibly sent on the dead pooled connection
    // before the client noticed, is sent again on a new one
    await expect(w.done).rejects.toMatchObject({ status: 0 });
    expect(await kube.json({ path: SECRETS })).toMatchObject({ kind: 'SecretList' });
    for (let i = 0; i < 3; i++) await kube.json({ path: SECRETS });
    // the watch had taken the pooled connection: one before the cut, one after
    expect(counts()).toEqual([2, 2]);
  });

  it('a read sent on a connection the server had just closed is sent again on a new one', async () => {
    const kube = client();
    await kube.json({ path: SECRETS });
    fake.dropConnections();
    // no I/O between the cut and the request: the pooled connection still looks alive to the client
    expect((await kube.request({ path: SECRETS })).status).toBe(200);
    expect(fake.connectionCount()).toBe(2);
  });

  it('works again once a restarted server is back', async () => {
    const kube = client();
    await kube.json({ path: SECRETS });
    const back = deferred();
    const restarting = fake.restart({ until: back.promise });
    try {
      await waitFor(() => !fake.listening, { what: 'server down' });
      const err = await kube.json({ path: SECRETS }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KubeApiError);
      expect(err).toMatchObject({ status: 0 });
    } finally {
      back.resolve();
      await restarting;
    }
    expect(await kube.json({ path: SECRETS })).toMatchObject({ kind: 'SecretList' });
    await kube.json({ path: SECRETS });
    expect(counts()).toEqual([2, 2]);
  });

  it('over plain HTTP (insecure-skip-tls-verify) reuses connections too; http:// without it is refused', async () => {
    const plain = await FakeApiServer.start();
    try {
      const kube = client(plain.kubeConfig());
      for (let i = 0; i < 5; i++) await kube.json({ path: SECRETS });
      expect(plain.connectionCount()).toBe(1);

      const strict = plain.kubeConfig();
      strict.clusters = strict.clusters.map((c) => ({ ...c, skipTLSVerify: false }));
      await expect(client(strict).json({ path: SECRETS })).rejects.toThrow(/skipTLSVerify/);
      expect(plain.requests).toHaveLength(5);
    } finally {
      await plain.close();
    }
  });

  it('through an HTTP CONNECT proxy (proxy-url) tunnels once and reuses the tunnel', async () => {
    const proxy = await connectProxy();
    try {
      const kc = fake.kubeConfig();
      kc.clusters = kc.clusters.map((c) => ({ ...c, proxyUrl: proxy.url }));
      const kube = client(kc);
      for (let i = 0; i < 5; i++) await kube.json({ path: SECRETS });
      expect(proxy.tunnels()).toBe(1);
      expect(counts()).toEqual([1, 1]);
    } finally {
      await proxy.close();
    }
  });

  it('close() cuts busy connections too, and refuses later requests', async () => {
    const kube = client();
    const w = watchPods(kube);
    await waitFor(() => fake.watchCount('pods') === 1, { what: 'watch open' });
    kube.close();
    await expect(w.done).rejects.toMatchObject({ status: 0 });
    await waitFor(() => fake.watchCount('pods') === 0, { what: 'watch connection closed' });
    await expect(kube.json({ path: SECRETS })).rejects.toMatchObject({ status: 0, reason: 'Closed' });
  });
});

describe('KubeHttp behaviours kept', () => {
  it('fails a request with status, reason and the Status body', async () => {
    const err = await client()
      .json({ path: `${SECRETS}/missing` })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect(err).toMatchObject({ status: 404, reason: 'NotFound', body: { kind: 'Status', code: 404 } });
    expect((err as Error).message).toBe('GET /api/v1/namespaces/app/secrets/missing: 404 secrets "missing" not found');
  });

  it('times a request out, and the next one works', async () => {
    const kube = client();
    fake.setLatency(HOUR);
    await expect(kube.request({ path: SECRETS, timeoutMs: 50 })).rejects.toMatchObject({ status: 0, reason: 'Timeout' });
    fake.setLatency(0);
    expect((await kube.request({ path: SECRETS })).status).toBe(200);
  });

  it('times a silent watch out (idle timeout), and closes its connection', async () => {
    const kube = client();
    const w = watchPods(kube, { timeoutMs: 100 });
    await expect(w.done).rejects.toMatchObject({ status: 0, reason: 'Timeout', message: 'GET /api/v1/namespaces/app/pods: no data for 100 ms' });
    await waitFor(() => fake.watchCount('pods') === 0, { what: 'watch connection closed' });
  });

  it('a watch whose data keeps coming outlives its idle window; silence after the data still ends it', async () => {
    // a bare server: a line every 40 ms for 300 ms (well past the 150 ms idle window), then silence
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      let n = 0;
      const t = setInterval(() => {
        res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { n: n++ } })}\n`);
        if (n * 40 >= 300) clearInterval(t);
      }, 40);
      res.on('close', () => clearInterval(t));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const kc = fake.kubeConfig();
      kc.clusters = kc.clusters.map((c) => ({ ...c, server: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, skipTLSVerify: true }));
      const lines: string[] = [];
      await expect(client(kc).stream({ path: PODS, timeoutMs: 150 }, (l) => lines.push(l))).rejects.toMatchObject({ reason: 'Timeout', message: `GET ${PODS}: no data for 150 ms` });
      expect(lines.length).toBeGreaterThanOrEqual(7);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('keeps the path of a server URL (a proxy serving clusters under a prefix) and sends the query', async () => {
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      seen.push(req.url ?? '');
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"items":[]}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const kc = fake.kubeConfig();
      kc.clusters = kc.clusters.map((c) => ({ ...c, server: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/k8s/clusters/c-1/`, skipTLSVerify: true }));
      await client(kc).json({ path: SECRETS, query: { labelSelector: 'a=b,c', limit: 500, continue: undefined } });
      expect(seen).toEqual([`/k8s/clusters/c-1${SECRETS}?labelSelector=a%3Db%2Cc&limit=500`]);
    } finally {
      server.close();
    }
  });

  it('decodes a watch as one UTF-8 stream: a character split between two chunks stays whole', async () => {
    const line = Buffer.from(`${JSON.stringify({ type: 'ADDED', object: { metadata: { annotations: { note: '网格注入' } } } })}\n`);
    const split = line.indexOf(Buffer.from('格')) + 1; // inside the 3-byte character
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write(line.subarray(0, split));
      setTimeout(() => res.end(line.subarray(split)), 20);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const kc = fake.kubeConfig();
      kc.clusters = kc.clusters.map((c) => ({ ...c, server: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, skipTLSVerify: true }));
      const lines: string[] = [];
      await client(kc).stream({ path: PODS }, (l) => lines.push(l));
      expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual([{ type: 'ADDED', object: { metadata: { annotations: { note: '网格注入' } } } }]);
    } finally {
      server.close();
    }
  });

  it('aborts a request and a watch before their headers arrive', async () => {
    const kube = client();
    fake.setLatency(HOUR);
    const abort = new AbortController();
    const pending = kube.request({ path: SECRETS, signal: abort.signal });
    const w = watchPods(kube);
    await waitFor(() => fake.tlsHandshakeCount() === 2, { what: 'both connected' });
    abort.abort();
    w.abort.abort();
    await expect(pending).rejects.toMatchObject({ status: 0, reason: 'Aborted' });
    await expect(w.done).resolves.toBeUndefined();
    expect(w.opened()).toBe(false);
    fake.setLatency(0);
    expect((await kube.request({ path: SECRETS })).status).toBe(200);
  });

  it('sends basic auth credentials', async () => {
    const kc = fake.kubeConfig();
    kc.users = kc.users.map(({ token: _t, ...u }) => ({ ...u, username: 'admin', password: 's3cret' }));
    await client(kc).json({ path: SECRETS });
    expect(lastAuthorization()).toBe(`Basic ${Buffer.from('admin:s3cret').toString('base64')}`);
  });
});

describe('KubeHttp credentials', () => {
  it('computes the credentials once per window, also for requests that arrive together', async () => {
    const kc = fake.kubeConfig();
    const spy = vi.spyOn(kc, 'applyToHTTPSOptions');
    const kube = client(kc, { credentialsTtlMs: HOUR });
    await Promise.all(Array.from({ length: 10 }, () => kube.json({ path: SECRETS })));
    for (let i = 0; i < 10; i++) await kube.json({ path: SECRETS });
    expect(spy).toHaveBeenCalledTimes(1);
  });

  it('sends a changed token once the window is over', async () => {
    const kc = fake.kubeConfig('token-a');
    const kube = client(kc, { credentialsTtlMs: 5 });
    await kube.json({ path: SECRETS });
    expect(lastAuthorization()).toBe('Bearer token-a');
    setToken(kc, 'token-b');
    await waitFor(async () => {
      await kube.json({ path: SECRETS });
      return lastAuthorization() === 'Bearer token-b';
    }, { what: 'the new token' });
    expect(counts()).toEqual([1, 1]);
  });

  it('keeps the remembered token within the window', async () => {
    const kc = fake.kubeConfig('token-a');
    const kube = client(kc, { credentialsTtlMs: HOUR });
    await kube.json({ path: SECRETS });
    setToken(kc, 'token-b');
    for (let i = 0; i < 3; i++) await kube.json({ path: SECRETS });
    expect(fake.requests.map((r) => r.authorization)).toEqual(Array(4).fill('Bearer token-a'));
  });

  it('retries a 401 once with fresh credentials, transparently', async () => {
    const kc = fake.kubeConfig('token-a');
    const kube = client(kc, { credentialsTtlMs: HOUR });
    await kube.json({ path: SECRETS });
    setToken(kc, 'token-b'); // the token expired and was replaced, within the window
    fake.failRequests({ count: 1, status: 401 });
    expect(await kube.json({ path: SECRETS })).toMatchObject({ kind: 'SecretList' });
    expect(fake.requests.map((r) => r.authorization)).toEqual(['Bearer token-a', 'Bearer token-a', 'Bearer token-b']);
    expect(counts()).toEqual([1, 1]);
  });

  it('gives up after a second 401', async () => {
    const kube = client();
    fake.failRequests({ count: 2, status: 401 });
    await expect(kube.json({ path: SECRETS })).rejects.toMatchObject({ status: 401, reason: 'Unauthorized' });
    expect(fake.requests).toHaveLength(2);
  });

  it('does not retry a watch answered 401, but the next request gets fresh credentials', async () => {
    const kc = fake.kubeConfig('token-a');
    const kube = client(kc, { credentialsTtlMs: HOUR });
    await kube.json({ path: SECRETS });
    setToken(kc, 'token-b');
    fake.failRequests({ count: 1, status: 401, verb: 'watch' });
    const w = watchPods(kube);
    await expect(w.done).rejects.toMatchObject({ status: 401 });
    expect(fake.requestsFor({ verb: 'watch' })).toHaveLength(1);
    await kube.json({ path: SECRETS });
    expect(lastAuthorization()).toBe('Bearer token-b');
  });

  it('keeps the connection pool while the TLS material is unchanged, and replaces it when the CA changes', async () => {
    const kc = fake.kubeConfig();
    const kube = client(kc, { credentialsTtlMs: 0 }); // credentials computed again for every request
    for (let i = 0; i < 10; i++) await kube.json({ path: SECRETS });
    expect(counts()).toEqual([1, 1]);

    // the same CA in a bundle written differently: other content, still trusted
    const bundle = `${fake.caPem!.trim()}\n\n${fake.caPem!.trim()}\n`;
    kc.clusters = kc.clusters.map((c) => ({ ...c, caData: Buffer.from(bundle).toString('base64') }));
    for (let i = 0; i < 5; i++) await kube.json({ path: SECRETS });
    expect(counts()).toEqual([2, 2]);

    // identical content given another way (a new object, a new Buffer each time) is no change
    kc.clusters = kc.clusters.map((c) => ({ ...c }));
    for (let i = 0; i < 5; i++) await kube.json({ path: SECRETS });
    expect(counts()).toEqual([2, 2]);
  });

  it('uses a rotated client certificate on a new connection', async () => {
    const kc = fake.kubeConfig();
    const kube = client(kc, { credentialsTtlMs: 0 });
    const useClientCert = async (cn: string): Promise<void> => {
      const c = await selfsigned.generate([{ name: 'commonName', value: cn }], { keyType: 'ec', curve: 'P-256', algorithm: 'sha256' });
      kc.users = kc.users.map((u) => ({ ...u, certData: Buffer.from(c.cert).toString('base64'), keyData: Buffer.from(c.private).toString('base64') }));
    };
    await useClientCert('system:node:one');
    for (let i = 0; i < 3; i++) await kube.json({ path: SECRETS });
    expect(counts()).toEqual([1, 1]);
    await useClientCert('system:node:one-rotated');
    for (let i = 0; i < 3; i++) await kube.json({ path: SECRETS });
    expect(counts()).toEqual([2, 2]);
  });

  it('lets a watch opened before a TLS change run on, and serves requests on the new pool meanwhile', async () => {
    const kc = fake.kubeConfig();
    const kube = client(kc, { credentialsTtlMs: 0 });
    const w = watchPods(kube);
    await waitFor(() => fake.watchCount('pods') === 1 && w.opened(), { what: 'watch open' });
    const bundle = `${fake.caPem!.trim()}\n\n${fake.caPem!.trim()}\n`;
    kc.clusters = kc.clusters.map((c) => ({ ...c, caData: Buffer.from(bundle).toString('base64') }));
    for (let i = 0; i < 3; i++) await kube.json({ path: SECRETS });
    expect(counts()).toEqual([2, 2]);
    fake.addObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p3', namespace: 'app' } });
    await waitFor(() => w.lines.some((l) => l.includes('"p3"')), { what: 'event on the old connection' });
    w.abort.abort();
    await w.done;
    await waitFor(() => fake.watchCount('pods') === 0, { what: 'watch connection closed' });
  });
});

/** A minimal HTTP proxy answering CONNECT (what client-node's https proxy agent speaks), counting the tunnels. */
async function connectProxy(): Promise<{ url: string; tunnels: () => number; close: () => Promise<void> }> {
  let tunnels = 0;
  const sockets = new Set<net.Socket>();
  const server = http.createServer((_req, res) => res.writeHead(405).end());
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    tunnels++;
    const [host, port] = (req.url ?? '').split(':');
    const upstream = net.connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    tunnels: () => tunnels,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
