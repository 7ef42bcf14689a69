// The fake API server speaks enough Kubernetes for client-node's generated clients and for raw list/watch, and behaves
// like a real kube-apiserver where a client can tell: TLS, connection reuse, latency, restarts, conflicts, RBAC.
import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AdmissionregistrationV1Api, AppsV1Api, CoordinationV1Api, CoreV1Api, EventsV1Api, PatchStrategy, VersionApi, setHeaderOptions } from '@kubernetes/client-node';
import { DEFAULT_USER, FakeApiServer, requestAttributes, waitFor, type AuthorizationPolicy, type Obj } from './fake-apiserver.js';
import { KubeHttp } from '../../src/kube/http.js';

let server: FakeApiServer;
beforeEach(async () => {
  server = await FakeApiServer.start();
});
afterEach(async () => {
  await server.close();
});

const codeOf = (err: unknown): number | undefined => (err as { code?: number }).code;

// ---------------------------------------------------------------------------------------------------------------------
// Raw clients: KubeHttp hides response timing and connection handling, which some tests are about.

interface RawOptions {
  method?: string;
  body?: unknown;
  contentType?: string;
  agent?: http.Agent | false;
  /** the CA to trust over HTTPS (default the server's; null: only the system's) */
  ca?: string | null;
}

function open(s: FakeApiServer, path: string, opts: RawOptions, onResponse: (res: http.IncomingMessage) => void): http.ClientRequest {
  const url = new URL(s.url + path);
  const headers: Record<string, string> = { Accept: 'application/json', ...(opts.body !== undefined ? { 'Content-Type': opts.contentType ?? 'application/json' } : {}) };
  const common = { method: opts.method ?? 'GET', headers, ...(opts.agent !== undefined ? { agent: opts.agent } : {}) };
  if (url.protocol === 'http:') return http.request(url, common, onResponse);
  const ca = opts.ca === null ? {} : { ca: opts.ca ?? s.caPem };
  return https.request(url, { ...common, ...ca }, onResponse);
}

async function rawRequest(s: FakeApiServer, path: string, opts: RawOptions = {}): Promise<{ status: number; body: Obj }> {
  return new Promise((resolve, reject) => {
    const req = open(s, path, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as Obj) : {} });
      });
    });
    req.on('error', reject);
    req.end(opts.body === undefined ? undefined : JSON.stringify(opts.body));
  });
}

interface Stream {
  readonly status: number;
  /** performance.now() when the response headers arrived */
  readonly headersAt: number;
  readonly lines: string[];
  /** 'end' when the server finished the response cleanly, 'cut' when the connection died first */
  readonly ended: Promise<'end' | 'cut'>;
  abort(): void;
}

async function openStream(s: FakeApiServer, path: string, opts: RawOptions = {}): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req = open(s, path, opts, (res) => {
      const headersAt = performance.now();
      const lines: string[] = [];
      let rest = '';
      const flush = (all: boolean): void => {
        let nl: number;
        while ((nl = rest.indexOf('\n')) >= 0) {
          const line = rest.slice(0, nl).trim();
          rest = rest.slice(nl + 1);
          if (line) lines.push(line);
        }
        if (all && rest.trim()) lines.push(rest.trim());
      };
      res.on('data', (c: Buffer) => {
        rest += c.toString('utf8');
        flush(false);
      });
      res.on('end', () => flush(true));
      res.on('error', () => undefined); // a cut shows in `ended`
      const ended = new Promise<'end' | 'cut'>((done) => res.on('close', () => done(res.complete ? 'end' : 'cut')));
      resolve({ status: res.statusCode ?? 0, headersAt, lines, ended, abort: () => req.destroy() });
    });
    req.on('error', reject);
    req.end();
  });
}

const event = (line: string | undefined): { type: string; object: Obj & { code?: number; reason?: string; message?: string } } => JSON.parse(line ?? '{}');

// ---------------------------------------------------------------------------------------------------------------------

describe('FakeApiServer with client-node', () => {
  it('creates, conflicts, gets, lists, patches (merge, JSON, strategic), replaces and deletes Secrets', async () => {
    const core = server.kubeConfig().makeApiClient(CoreV1Api);
    const created = await core.createNamespacedSecret({ namespace: 'app', body: { metadata: { name: 's1', labels: { a: '1' } }, data: { k: 'dg==' } } });
    expect(created.metadata?.resourceVersion).toMatch(/^\d+$/);
    expect(created.metadata?.namespace).toBe('app');
    await expect(core.createNamespacedSecret({ namespace: 'app', body: { metadata: { name: 's1' } } })).rejects.toSatisfy((e) => codeOf(e) === 409);
    expect((await core.readNamespacedSecret({ name: 's1', namespace: 'app' })).data).toEqual({ k: 'dg==' });
    await expect(core.readNamespacedSecret({ name: 'nope', namespace: 'app' })).rejects.toSatisfy((e) => codeOf(e) === 404);

    await core.patchNamespacedSecret({ name: 's1', namespace: 'app', body: { metadata: { labels: { b: '2' } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    await core.patchNamespacedSecret({ name: 's1', namespace: 'app', body: [{ op: 'add', path: '/data/j', value: 'dw==' }] }, setHeaderOptions('Content-Type', PatchStrategy.JsonPatch));
    await core.patchNamespacedSecret({ name: 's1', namespace: 'app', body: { metadata: { labels: { a: null } } } }, setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch));
    const patched = await core.readNamespacedSecret({ name: 's1', namespace: 'app' });
    expect(patched.metadata?.labels).toEqual({ b: '2' });
    expect(patched.data).toEqual({ k: 'dg==', j: 'dw==' });

    // optimistic concurrency on replace
    await expect(core.replaceNamespacedSecret({ name: 's1', namespace: 'app', body: { metadata: { name: 's1', resourceVersion: '1' } } })).rejects.toSatisfy((e) => codeOf(e) === 409);
    await core.replaceNamespacedSecret({ name: 's1', namespace: 'app', body: { metadata: { name: 's1', resourceVersion: patched.metadata?.resourceVersion, labels: { b: '2' } }, data: {} } });

    const list = await core.listNamespacedSecret({ namespace: 'app', labelSelector: 'b=2' });
    expect(list.items.map((s) => s.metadata?.name)).toEqual(['s1']);
    expect(list.metadata?.resourceVersion).toBe(server.resourceVersion);

    await core.deleteNamespacedSecret({ name: 's1', namespace: 'app' });
    expect(server.listObjects('v1', 'Secret')).toEqual([]);

    const verbs = server.requestsFor({ resource: 'secrets' }).map((r) => r.verb);
    expect(verbs).toEqual(['create', 'create', 'get', 'get', 'patch', 'patch', 'patch', 'get', 'update', 'update', 'list', 'delete']);
    expect(server.requestsFor({ verb: 'patch' }).map((r) => r.contentType)).toEqual(['application/merge-patch+json', 'application/json-patch+json', 'application/strategic-merge-patch+json']);
    expect(server.requestsFor({ verb: 'create' })[0]?.body).toMatchObject({ metadata: { name: 's1' } });
  });

  it('serves cluster-scoped webhook configurations and namespaces', async () => {
    const kc = server.kubeConfig();
    const adm = kc.makeApiClient(AdmissionregistrationV1Api);
    await adm.createMutatingWebhookConfiguration({ body: { metadata: { name: 'mesh' }, webhooks: [{ name: 'a.b.c', admissionReviewVersions: ['v1'], sideEffects: 'None', clientConfig: { url: 'https://x', caBundle: 'AA==' } }] } });
    const got = await adm.readMutatingWebhookConfiguration({ name: 'mesh' });
    expect(got.webhooks?.[0]?.clientConfig.caBundle).toBe('AA==');
    expect(server.requestsFor({ verb: 'create' })[0]?.path).toBe('/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations');

    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: 'app', labels: { x: 'y' } } } });
    expect((await core.readNamespace({ name: 'app' })).metadata?.labels).toEqual({ x: 'y' });
    expect((await core.listNamespace()).items).toHaveLength(1);
  });

  it('injected failures and discovery', async () => {
    const http = new KubeHttp(server.kubeConfig());
    server.failRequests({ count: 2, verb: 'list', resource: 'pods', status: 503 });
    expect((await http.request({ path: '/api/v1/pods' })).status).toBe(503);
    expect((await http.request({ path: '/api/v1/namespaces/app/pods' })).status).toBe(503);
    expect((await http.request({ path: '/api/v1/pods' })).status).toBe(200);
    const groups = await http.json<{ groups: Array<{ name: string; preferredVersion: { version: string } }> }>({ path: '/apis' });
    expect(groups.groups.map((g) => g.name)).toContain('admissionregistration.k8s.io');
    const core = await http.json<{ resources: Array<{ name: string; namespaced: boolean }> }>({ path: '/api/v1' });
    expect(core.resources.find((r) => r.name === 'namespaces')?.namespaced).toBe(false);
    expect((await http.request({ path: '/apis/nope.io/v1' })).status).toBe(404);
  });
});

describe('FakeApiServer watch protocol', () => {
  it('streams events from a resourceVersion, bookmarks, 410 errors and expiry', async () => {
    const http = new KubeHttp(server.kubeConfig());
    const a = server.addObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a', namespace: 'app' } });
    server.addObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'b', namespace: 'other' } });
    const events: Array<{ type: string; object: { metadata: { name?: string; resourceVersion: string }; code?: number } }> = [];
    const abort = new AbortController();
    const done = http.stream(
      { path: '/api/v1/namespaces/app/pods', query: { watch: 'true', resourceVersion: a.metadata!.resourceVersion, allowWatchBookmarks: 'true' }, signal: abort.signal },
      (line) => void events.push(JSON.parse(line)),
    );
    await waitFor(() => server.watchCount('pods') === 1);
    server.modifyObject('v1', 'Pod', 'app', 'a', (o) => void (o.spec = { x: 1 }));
    server.addObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'c', namespace: 'other' } }); // other namespace: not sent
    server.deleteObject('v1', 'Pod', 'app', 'a');
    const rv = server.bookmark();
    await waitFor(() => events.length === 3);
    expect(events.map((e) => e.type)).toEqual(['MODIFIED', 'DELETED', 'BOOKMARK']);
    expect(events[2]?.object.metadata.resourceVersion).toBe(rv);
    server.sendWatchError();
    await done; // the server ends the stream after an ERROR
    expect(events[3]).toMatchObject({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } });

    server.expireResourceVersions();
    const late: string[] = [];
    await http.stream({ path: '/api/v1/pods', query: { watch: 'true', resourceVersion: a.metadata!.resourceVersion } }, (line) => void late.push(line));
    expect(JSON.parse(late[0]!)).toMatchObject({ type: 'ERROR', object: { code: 410 } });
    expect(server.requestsFor({ verb: 'watch' }).map((r) => r.query.resourceVersion)).toEqual([a.metadata!.resourceVersion, a.metadata!.resourceVersion]);
  });

  it('without a resourceVersion a watch starts with ADDED for the current objects; dropWatches cuts it abruptly', async () => {
    const http = new KubeHttp(server.kubeConfig());
    server.addObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'app' } });
    const lines: string[] = [];
    const done = http.stream({ path: '/api/v1/configmaps', query: { watch: 'true' } }, (line) => void lines.push(line));
    await waitFor(() => lines.length === 1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'x' } } });
    expect(server.dropWatches()).toBe(1);
    await expect(done).rejects.toThrow();
  });
});

describe('FakeApiServer transport', () => {
  it('over HTTPS, kubeConfig() trusts its CA (no insecure-skip-tls-verify) and a client trusting other CAs refuses it', async () => {
    const tls = await FakeApiServer.start({ tls: true });
    try {
      expect(tls.url).toBe(`https://127.0.0.1:${tls.port}`);
      const yaml = tls.kubeConfigYaml();
      expect(yaml).toContain(`certificate-authority-data: ${Buffer.from(tls.caPem!).toString('base64')}`);
      expect(yaml).not.toContain('insecure-skip-tls-verify');
      expect(tls.kubeConfig().getCurrentCluster()?.skipTLSVerify).toBeFalsy();

      const core = tls.kubeConfig().makeApiClient(CoreV1Api);
      await core.createNamespacedSecret({ namespace: 'app', body: { metadata: { name: 's' } } });
      expect((await core.listNamespacedSecret({ namespace: 'app' })).items.map((s) => s.metadata?.name)).toEqual(['s']);
      expect((await new KubeHttp(tls.kubeConfig()).json<{ minor: string }>({ path: '/version' })).minor).toBe('28');

      await expect(rawRequest(tls, '/version', { ca: null })).rejects.toThrow(/certificate/);
      // "localhost" is in the serving certificate too
      const byName = await new Promise<number>((resolve, reject) => {
        https.get({ host: '127.0.0.1', servername: 'localhost', port: tls.port, path: '/version', ca: tls.caPem, agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }).on('error', reject);
      });
      expect(byName).toBe(200);
    } finally {
      await tls.close();
    }
  });

  it('counts connections and TLS handshakes: keep-alive reuses one connection, no keep-alive opens one per request', async () => {
    const tls = await FakeApiServer.start({ tls: true });
    const reusing = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const n = 5;
      for (let i = 0; i < n; i++) expect((await rawRequest(tls, '/api/v1/namespaces/app/secrets', { agent: reusing })).status).toBe(200);
      expect(tls.connectionCount()).toBe(1);
      expect(tls.tlsHandshakeCount()).toBe(1);

      tls.resetCounters();
      expect([tls.connectionCount(), tls.tlsHandshakeCount()]).toEqual([0, 0]);
      const oneShot = new https.Agent({ keepAlive: false });
      for (let i = 0; i < n; i++) expect((await rawRequest(tls, '/api/v1/namespaces/app/secrets', { agent: oneShot })).status).toBe(200);
      expect(tls.connectionCount()).toBe(n);
      expect(tls.tlsHandshakeCount()).toBe(n);

      // KubeHttp keeps its connection alive: one handshake for many requests
      tls.resetCounters();
      const kube = new KubeHttp(tls.kubeConfig());
      for (let i = 0; i < 3; i++) await kube.json({ path: '/api/v1/namespaces/app/secrets' });
      expect([tls.connectionCount(), tls.tlsHandshakeCount()]).toEqual([1, 1]);
      kube.close();
    } finally {
      reusing.destroy();
      await tls.close();
    }
  });

  it('over plain HTTP (the default) counts connections and no handshakes', async () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    expect(server.caPem).toBeUndefined();
    expect(server.kubeConfigYaml()).toContain('insecure-skip-tls-verify: true');
    const reusing = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < 3; i++) await rawRequest(server, '/api', { agent: reusing });
      expect(server.connectionCount()).toBe(1);
      for (let i = 0; i < 2; i++) await rawRequest(server, '/api', { agent: new http.Agent({ keepAlive: false }) });
      expect(server.connectionCount()).toBe(3);
      expect(server.tlsHandshakeCount()).toBe(0);
    } finally {
      reusing.destroy();
    }
  });

  it('answers every request only after the latency: resources, discovery, /version and the headers of a watch', async () => {
    const slow = await FakeApiServer.start({ latencyMs: 60 });
    try {
      const kube = new KubeHttp(slow.kubeConfig());
      for (const path of ['/version', '/api', '/apis', '/apis/apps/v1', '/api/v1/namespaces/app/secrets', '/api/v1/namespaces/app/secrets/missing']) {
        const t0 = performance.now();
        await kube.request({ path });
        expect(performance.now() - t0, path).toBeGreaterThanOrEqual(60);
      }
      slow.setLatency(100);
      const t0 = performance.now();
      const watch = await openStream(slow, '/api/v1/namespaces/app/pods?watch=1');
      expect(watch.status).toBe(200);
      expect(watch.headersAt - t0).toBeGreaterThanOrEqual(100);
      watch.abort();

      // a create is only applied once its latency is over
      const t1 = performance.now();
      const created = rawRequest(slow, '/api/v1/namespaces/app/configmaps', { method: 'POST', body: { metadata: { name: 'c' } } });
      await waitFor(() => slow.getObject('v1', 'ConfigMap', 'app', 'c'));
      expect(performance.now() - t1).toBeGreaterThanOrEqual(100);
      expect((await created).status).toBe(201);
    } finally {
      await slow.close();
    }
  });

  it('dropConnections destroys watches and idle keep-alive connections without restarting', async () => {
    const kube = new KubeHttp(server.kubeConfig());
    const a = server.addObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a', namespace: 'app' } });
    const reusing = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      await rawRequest(server, '/api/v1/pods', { agent: reusing });
      const watch = await openStream(server, '/api/v1/pods?watch=1');
      await waitFor(() => server.watchCount('pods') === 1);
      expect(server.connectionCount()).toBe(2);

      expect(server.dropConnections()).toBe(2);
      expect(await watch.ended).toBe('cut');
      expect(server.watchCount()).toBe(0);
      await waitFor(() => Object.keys(reusing.freeSockets).length === 0, { what: 'the client to see its idle connection closed' });
      expect((await rawRequest(server, '/api/v1/pods', { agent: reusing })).status).toBe(200);
      expect(server.connectionCount()).toBe(3);

      // no restart: the watch cache still serves resourceVersions from before
      server.modifyObject('v1', 'Pod', 'app', 'a', (o) => void (o.spec = { x: 1 }));
      const lines: string[] = [];
      const abort = new AbortController();
      const done = kube.stream({ path: '/api/v1/pods', query: { watch: '1', resourceVersion: a.metadata!.resourceVersion }, signal: abort.signal }, (l) => void lines.push(l));
      await waitFor(() => lines.length === 1);
      expect(event(lines[0])).toMatchObject({ type: 'MODIFIED', object: { metadata: { name: 'a' } } });
      abort.abort();
      await done;
    } finally {
      reusing.destroy();
    }
  });

  it('dropConnections counts a TLS connection once', async () => {
    const tls = await FakeApiServer.start({ tls: true });
    const reusing = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      await rawRequest(tls, '/api', { agent: reusing });
      expect(tls.dropConnections()).toBe(1);
      await waitFor(() => Object.keys(reusing.freeSockets).length === 0);
      await rawRequest(tls, '/api', { agent: reusing });
      expect([tls.connectionCount(), tls.tlsHandshakeCount()]).toEqual([2, 2]);
    } finally {
      reusing.destroy();
      await tls.close();
    }
  });
});

describe('FakeApiServer restart', () => {
  type List = { metadata: { resourceVersion: string; continue?: string }; items: Obj[] };

  it('cuts watches mid-stream, refuses connections while down, then serves the same port with a reset watch cache', async () => {
    const kube = new KubeHttp(server.kubeConfig());
    server.addObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a', namespace: 'app' } });
    server.addObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'b', namespace: 'app' } });
    const list = await kube.json<List>({ path: '/api/v1/pods' });
    const page = await kube.json<List>({ path: '/api/v1/pods', query: { limit: 1 } });
    expect(page.metadata.continue).toBeDefined();
    const watch = await openStream(server, `/api/v1/pods?watch=1&resourceVersion=${list.metadata.resourceVersion}`);
    await waitFor(() => server.watchCount('pods') === 1);
    const lastBefore = server.bookmark(); // the newest resourceVersion handed out before the restart
    const port = server.port;

    let comeBack!: () => void;
    const restarting = server.restart({ until: new Promise<void>((resolve) => (comeBack = resolve)) });
    expect(await watch.ended).toBe('cut'); // no clean end of the chunked stream
    await waitFor(() => !server.listening);
    await expect(kube.request({ path: '/version' })).rejects.toMatchObject({ status: 0, reason: 'ECONNREFUSED' });
    comeBack();
    await restarting;
    expect(server.listening).toBe(true);
    expect(server.port).toBe(port);

    for (const rv of [list.metadata.resourceVersion, lastBefore]) {
      const expired = await openStream(server, `/api/v1/pods?watch=1&resourceVersion=${rv}`);
      expect(expired.status).toBe(200);
      expect(await expired.ended).toBe('end');
      expect(expired.lines).toHaveLength(1);
      expect(event(expired.lines[0])).toMatchObject({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: expect.stringMatching(`^too old resource version: ${rv} `) } });
    }
    const continued = await kube.request<Obj>({ path: '/api/v1/pods', query: { limit: 1, continue: page.metadata.continue } });
    expect(continued).toMatchObject({ status: 410, body: { reason: 'Expired', code: 410 } });

    // etcd kept the objects; a fresh list has a newer resourceVersion, and watching from it works
    const fresh = await kube.json<List>({ path: '/api/v1/pods' });
    expect(fresh.items.map((p) => p.metadata?.name)).toEqual(['a', 'b']);
    expect(Number(fresh.metadata.resourceVersion)).toBeGreaterThan(Number(lastBefore));
    const after = await openStream(server, `/api/v1/pods?watch=1&resourceVersion=${fresh.metadata.resourceVersion}`);
    await waitFor(() => server.watchCount('pods') === 1);
    server.deleteObject('v1', 'Pod', 'app', 'a');
    await waitFor(() => after.lines.length === 1);
    expect(event(after.lines[0])).toMatchObject({ type: 'DELETED', object: { metadata: { name: 'a' } } });
    after.abort();
  });

  it('answers old resourceVersions with HTTP 410 under expiredWatch "status", stays down for downMs and closes idle connections', async () => {
    const s = await FakeApiServer.start({ expiredWatch: 'status' });
    const reusing = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      s.addObject({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x', namespace: 'app' } });
      const rv = s.resourceVersion;
      await rawRequest(s, '/api/v1/secrets', { agent: reusing });
      const t0 = performance.now();
      await s.restart({ downMs: 50 });
      expect(performance.now() - t0).toBeGreaterThanOrEqual(50);
      const res = await rawRequest(s, `/api/v1/secrets?watch=true&resourceVersion=${rv}`);
      expect(res).toMatchObject({ status: 410, body: { kind: 'Status', reason: 'Expired', code: 410 } });

      await waitFor(() => Object.keys(reusing.freeSockets).length === 0, { what: 'the client to see its idle connection closed' });
      s.resetCounters();
      expect((await rawRequest(s, '/api/v1/secrets', { agent: reusing })).status).toBe(200);
      expect(s.connectionCount()).toBe(1);
      expect(s.getObject('v1', 'Secret', 'app', 'x')).toBeDefined();
    } finally {
      reusing.destroy();
      await s.close();
    }
  });

  it('restarts over HTTPS with the same certificate', async () => {
    const tls = await FakeApiServer.start({ tls: true });
    try {
      const kube = new KubeHttp(tls.kubeConfig());
      await kube.json({ path: '/api' });
      await tls.restart();
      await kube.json({ path: '/api' });
      expect(tls.tlsHandshakeCount()).toBe(2);
    } finally {
      await tls.close();
    }
  });
});

describe('FakeApiServer optimistic concurrency', () => {
  const MODIFIED = 'the object has been modified; please apply your changes to the latest version and try again';

  it('answers an update or patch carrying an old resourceVersion with 409 Conflict', async () => {
    const kube = new KubeHttp(server.kubeConfig());
    const stale = server.addObject({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x', namespace: 'app' } }).metadata!.resourceVersion;
    const current = server.modifyObject('v1', 'Secret', 'app', 'x', (o) => void (o.data = { a: 'Yg==' })).metadata!.resourceVersion;
    const conflict = { status: 409, body: { kind: 'Status', status: 'Failure', reason: 'Conflict', code: 409, message: `Operation cannot be fulfilled on secrets "x": ${MODIFIED}`, details: { name: 'x', kind: 'secrets' } } };
    const path = '/api/v1/namespaces/app/secrets/x';

    expect(await kube.request({ method: 'PUT', path, body: { metadata: { name: 'x', resourceVersion: stale } } })).toMatchObject(conflict);
    expect(await kube.request({ method: 'PATCH', path, contentType: 'application/merge-patch+json', body: { metadata: { resourceVersion: stale, labels: { a: 'b' } } } })).toMatchObject(conflict);
    expect(await kube.request({ method: 'PATCH', path, contentType: 'application/strategic-merge-patch+json', body: { metadata: { resourceVersion: stale } } })).toMatchObject(conflict);
    expect(await kube.request({ method: 'PATCH', path, contentType: 'application/json-patch+json', body: [{ op: 'replace', path: '/metadata/resourceVersion', value: stale }] })).toMatchObject(conflict);
    expect(server.getObject('v1', 'Secret', 'app', 'x')?.metadata?.resourceVersion).toBe(current);

    // the current resourceVersion, or none (unconditional), is accepted
    expect((await kube.request({ method: 'PATCH', path, contentType: 'application/merge-patch+json', body: { metadata: { resourceVersion: current, labels: { a: 'b' } } } })).status).toBe(200);
    expect((await kube.request({ method: 'PUT', path, body: { metadata: { name: 'x' }, data: {} } })).status).toBe(200);

    // a resource of a named group is written plural.group
    server.addObject({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: 'm' } });
    const mwc = await kube.request({ method: 'PUT', path: '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/m', body: { metadata: { name: 'm', resourceVersion: '1' } } });
    expect(mwc).toMatchObject({
      status: 409,
      body: { reason: 'Conflict', message: `Operation cannot be fulfilled on mutatingwebhookconfigurations.admissionregistration.k8s.io "m": ${MODIFIED}`, details: { name: 'm', group: 'admissionregistration.k8s.io', kind: 'mutatingwebhookconfigurations' } },
    });
  });

  it('answers a create of an existing name with 409 AlreadyExists', async () => {
    const kube = new KubeHttp(server.kubeConfig());
    server.addObject({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x', namespace: 'app' } });
    server.addObject({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd', namespace: 'app' } });
    expect(await kube.request({ method: 'POST', path: '/api/v1/namespaces/app/secrets', body: { metadata: { name: 'x' } } })).toMatchObject({
      status: 409,
      body: { reason: 'AlreadyExists', code: 409, message: 'secrets "x" already exists', details: { name: 'x', kind: 'secrets' } },
    });
    expect(await kube.request({ method: 'POST', path: '/apis/apps/v1/namespaces/app/deployments', body: { metadata: { name: 'd' } } })).toMatchObject({
      status: 409,
      body: { reason: 'AlreadyExists', message: 'deployments.apps "d" already exists', details: { name: 'd', group: 'apps', kind: 'deployments' } },
    });
    // the same name in another namespace is another object
    expect((await kube.request({ method: 'POST', path: '/api/v1/namespaces/other/secrets', body: { metadata: { name: 'x' } } })).status).toBe(201);
  });

  it('checks delete preconditions (uid, resourceVersion) with the messages of rest.BeforeDelete', async () => {
    const kube = new KubeHttp(server.kubeConfig());
    const x = server.addObject({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x', namespace: 'app' } });
    const uid = String(x.metadata!.uid);
    const rv = x.metadata!.resourceVersion!;
    const path = '/api/v1/namespaces/app/secrets/x';
    const del = (preconditions: Record<string, string>) => kube.request<Obj>({ method: 'DELETE', path, body: { kind: 'DeleteOptions', apiVersion: 'v1', preconditions } });

    expect(await del({ uid: 'other-uid' })).toMatchObject({
      status: 409,
      body: { reason: 'Conflict', message: `Operation cannot be fulfilled on Secret "x": the UID in the precondition (other-uid) does not match the UID in record (${uid}). The object might have been deleted and then recreated`, details: { name: 'x', kind: 'Secret' } },
    });
    expect(await del({ uid, resourceVersion: '1' })).toMatchObject({
      status: 409,
      body: { reason: 'Conflict', message: `Operation cannot be fulfilled on Secret "x": the ResourceVersion in the precondition (1) does not match the ResourceVersion in record (${rv}). The object might have been modified` },
    });
    expect(server.getObject('v1', 'Secret', 'app', 'x')).toBeDefined();

    // client-node sends them in the body too
    const core = server.kubeConfig().makeApiClient(CoreV1Api);
    await expect(core.deleteNamespacedSecret({ name: 'x', namespace: 'app', body: { preconditions: { uid: 'nope' } } })).rejects.toSatisfy((e) => codeOf(e) === 409);

    // named groups are written Kind.group
    server.addObject({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd', namespace: 'app' } });
    expect((await kube.request<Obj>({ method: 'DELETE', path: '/apis/apps/v1/namespaces/app/deployments/d', body: { preconditions: { uid: 'u' } } })).body?.message).toMatch(/^Operation cannot be fulfilled on Deployment\.apps "d": the UID in the precondition \(u\)/);

    expect((await del({ uid, resourceVersion: rv })).status).toBe(200);
    expect(server.getObject('v1', 'Secret', 'app', 'x')).toBeUndefined();
    expect(await kube.request<Obj>({ method: 'DELETE', path })).toMatchObject({ status: 404, body: { reason: 'NotFound', message: 'secrets "x" not found' } });
  });
});

describe('FakeApiServer authorization (RBAC)', () => {
  const U = DEFAULT_USER;
  const policy: AuthorizationPolicy = {
    clusterRules: [
      { apiGroups: [''], resources: ['namespaces'], verbs: ['list', 'watch'] },
      { apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations'], verbs: ['get', 'patch'], resourceNames: ['mesh-webhook'] },
    ],
    namespaceRules: {
      'fsm-system': [
        { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch', 'update', 'create'], resourceNames: ['mesh-ca'] },
        { apiGroups: [''], resources: ['configmaps'], verbs: ['create'] },
        { apiGroups: [''], resources: ['namespaces'], verbs: ['get'] },
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['*'] },
      ],
      app: [
        { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
        { apiGroups: [''], resources: ['pods/status'], verbs: ['patch'] },
        { apiGroups: ['apps'], resources: ['*/status'], verbs: ['get'] },
      ],
    },
  };
  const get = (kube: KubeHttp, path: string, query: Record<string, string> = {}) => kube.request<Obj>({ path, query });
  const refused = (message: string, extra: Record<string, unknown> = {}) => ({ status: 403, body: { kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403, message, ...extra } });

  beforeEach(() => {
    server.addObject({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'mesh-ca', namespace: 'fsm-system' } });
    server.addObject({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'other', namespace: 'fsm-system' } });
    server.addObject({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'mesh-ca', namespace: 'app' } });
    server.addObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'app' } });
    server.authorize(policy);
  });

  it('resourceNames rules allow get, and list or watch only with a metadata.name field selector', async () => {
    const kube = new KubeHttp(server.kubeConfig());
    const secrets = '/api/v1/namespaces/fsm-system/secrets';
    expect((await get(kube, `${secrets}/mesh-ca`)).status).toBe(200);
    expect(await get(kube, `${secrets}/other`)).toMatchObject(
      refused(`secrets "other" is forbidden: User "${U}" cannot get resource "secrets" in API group "" in the namespace "fsm-system"`, { details: { name: 'other', kind: 'secrets' } }),
    );
    expect(await get(kube, secrets)).toMatchObject(refused(`secrets is forbidden: User "${U}" cannot list resource "secrets" in API group "" in the namespace "fsm-system"`));
    const one = await get(kube, secrets, { fieldSelector: 'metadata.name=mesh-ca' });
    expect(one.status).toBe(200);
    expect((one.body as { items: Obj[] }).items.map((s) => s.metadata?.name)).toEqual(['mesh-ca']);
    expect(await get(kube, secrets, { fieldSelector: 'metadata.name=other' })).toMatchObject(
      refused(`secrets "other" is forbidden: User "${U}" cannot list resource "secrets" in API group "" in the namespace "fsm-system"`),
    );

    const watching = await openStream(server, `${secrets}?watch=1&fieldSelector=${encodeURIComponent('metadata.name=mesh-ca')}`);
    expect(watching.status).toBe(200);
    await waitFor(() => server.watchCount('secrets') === 1);
    watching.abort();
    const unfiltered = await openStream(server, `${secrets}?watch=true`);
    expect(unfiltered.status).toBe(403);
    await unfiltered.ended;
    expect(JSON.parse(unfiltered.lines.join(''))).toMatchObject({ reason: 'Forbidden', message: `secrets is forbidden: User "${U}" cannot watch resource "secrets" in API group "" in the namespace "fsm-system"` });

    // create has no name in its attributes: a resourceNames rule never allows it
    expect(await kube.request({ method: 'POST', path: secrets, body: { metadata: { name: 'mesh-ca' } } })).toMatchObject(
      refused(`secrets is forbidden: User "${U}" cannot create resource "secrets" in API group "" in the namespace "fsm-system"`),
    );
    expect((await kube.request({ method: 'PUT', path: `${secrets}/mesh-ca`, body: { metadata: { name: 'mesh-ca' }, data: {} } })).status).toBe(200);
  });

  it('namespaced rules only apply in their namespace; cluster-scoped requests are refused "at the cluster scope"', async () => {
    const kube = new KubeHttp(server.kubeConfig());
    expect((await kube.request({ method: 'POST', path: '/api/v1/namespaces/fsm-system/configmaps', body: { metadata: { name: 'c' } } })).status).toBe(201);
    expect(await kube.request({ method: 'POST', path: '/api/v1/namespaces/app/configmaps', body: { metadata: { name: 'c' } } })).toMatchObject(
      refused(`configmaps is forbidden: User "${U}" cannot create resource "configmaps" in API group "" in the namespace "app"`),
    );
    expect(await get(kube, '/api/v1/namespaces/app/secrets/mesh-ca')).toMatchObject(
      refused(`secrets "mesh-ca" is forbidden: User "${U}" cannot get resource "secrets" in API group "" in the namespace "app"`),
    );
    // across all namespaces only cluster rules count
    expect(await get(kube, '/api/v1/secrets', { fieldSelector: 'metadata.name=mesh-ca' })).toMatchObject(
      refused(`secrets "mesh-ca" is forbidden: User "${U}" cannot list resource "secrets" in API group "" at the cluster scope`),
    );
    // a Namespace is in its own namespace: a Role there can grant reading it
    server.addObject({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'fsm-system' } });
    expect((await get(kube, '/api/v1/namespaces/fsm-system')).status).toBe(200);
    expect(await get(kube, '/api/v1/namespaces/app')).toMatchObject(refused(`namespaces "app" is forbidden: User "${U}" cannot get resource "namespaces" in API group "" in the namespace "app"`));
    expect((await get(kube, '/api/v1/namespaces')).status).toBe(200);

    const mwc = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';
    expect((await get(kube, `${mwc}/mesh-webhook`)).status).toBe(404); // allowed, not there
    expect(await get(kube, `${mwc}/other`)).toMatchObject(
      refused(`mutatingwebhookconfigurations.admissionregistration.k8s.io "other" is forbidden: User "${U}" cannot get resource "mutatingwebhookconfigurations" in API group "admissionregistration.k8s.io" at the cluster scope`, {
        details: { name: 'other', group: 'admissionregistration.k8s.io', kind: 'mutatingwebhookconfigurations' },
      }),
    );
    expect(await get(kube, mwc)).toMatchObject(
      refused(`mutatingwebhookconfigurations.admissionregistration.k8s.io is forbidden: User "${U}" cannot list resource "mutatingwebhookconfigurations" in API group "admissionregistration.k8s.io" at the cluster scope`),
    );

    expect((await kube.request({ method: 'DELETE', path: '/apis/coordination.k8s.io/v1/namespaces/fsm-system/leases' })).status).toBe(200);
    expect(server.requestsFor({ resource: 'leases' }).map((r) => [r.verb, r.allowed])).toEqual([['deletecollection', true]]);
  });

  it('subresources are resource/subresource in rules and in the refusal', async () => {
    const kube = new KubeHttp(server.kubeConfig());
    const merge = { method: 'PATCH', contentType: 'application/merge-patch+json', body: { status: { phase: 'Running' } } };
    expect((await kube.request({ ...merge, path: '/api/v1/namespaces/app/pods/p/status' })).status).toBe(200);
    expect(await kube.request({ ...merge, path: '/api/v1/namespaces/app/pods/p' })).toMatchObject(
      refused(`pods "p" is forbidden: User "${U}" cannot patch resource "pods" in API group "" in the namespace "app"`),
    );
    expect(await kube.request({ method: 'PUT', path: '/api/v1/namespaces/app/pods/p/status', body: { metadata: { name: 'p' } } })).toMatchObject(
      refused(`pods "p" is forbidden: User "${U}" cannot update resource "pods/status" in API group "" in the namespace "app"`, { details: { name: 'p', kind: 'pods' } }),
    );
    // a pods rule does not reach pods/status: only the exact name or */status
    expect(await get(kube, '/api/v1/namespaces/app/pods/p/status')).toMatchObject(refused(`pods "p" is forbidden: User "${U}" cannot get resource "pods/status" in API group "" in the namespace "app"`));
    expect((await get(kube, '/apis/apps/v1/namespaces/app/deployments/d/status')).status).toBe(404);
    expect((await get(kube, '/apis/apps/v1/namespaces/app/deployments/d')).status).toBe(403);
  });

  it('always allows discovery, refuses other non-resource paths, names the policy user, and records the attributes', async () => {
    const kube = new KubeHttp(server.kubeConfig());
    for (const path of ['/api', '/api/v1', '/apis', '/apis/apps', '/apis/apps/v1', '/version']) expect((await get(kube, path)).status, path).toBe(200);
    expect((await get(kube, '/openapi/v2')).status).toBe(404); // allowed, not served
    expect(await get(kube, '/metrics')).toMatchObject(refused(`forbidden: User "${U}" cannot get path "/metrics"`));

    server.authorize({ user: 'alice', clusterRules: [] });
    expect((await get(kube, '/api/v1/namespaces/app/pods/p')).body?.message).toBe(`pods "p" is forbidden: User "alice" cannot get resource "pods" in API group "" in the namespace "app"`);

    server.authorize(policy);
    server.clearRequests();
    await get(kube, '/api/v1/namespaces/fsm-system/secrets', { fieldSelector: 'metadata.name=mesh-ca' });
    await get(kube, '/api/v1/namespaces/fsm-system/secrets/other');
    await kube.request({ method: 'PATCH', path: '/api/v1/namespaces/app/pods/p/status', contentType: 'application/merge-patch+json', body: {} });
    await get(kube, '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations');
    await get(kube, '/apis');
    expect(server.requests.map((r) => [r.verb, r.apiGroup, r.resource, r.namespace, r.name, r.subresource, r.allowed])).toEqual([
      ['list', '', 'secrets', 'fsm-system', 'mesh-ca', undefined, true],
      ['get', '', 'secrets', 'fsm-system', 'other', undefined, false],
      ['patch', '', 'pods', 'app', 'p', 'status', true],
      ['list', 'admissionregistration.k8s.io', 'mutatingwebhookconfigurations', undefined, undefined, undefined, false],
      ['discovery', undefined, undefined, undefined, undefined, undefined, true],
    ]);
    expect(server.requestsFor({ allowed: false }).map((r) => r.name ?? r.resource)).toEqual(['other', 'mutatingwebhookconfigurations']);

    server.authorize(undefined);
    expect((await get(kube, '/api/v1/namespaces/fsm-system/secrets')).status).toBe(200);
  });

  it('derives the request attributes like the apiserver RequestInfo', () => {
    const attrs = (method: string, path: string, query: Record<string, string> = {}) => {
      const a = requestAttributes(method, path, query);
      return [a.resourceRequest, a.verb, a.apiGroup, a.resource, a.subresource, a.namespace, a.name];
    };
    expect(attrs('GET', '/api/v1/namespaces/ns/pods')).toEqual([true, 'list', '', 'pods', '', 'ns', '']);
    expect(attrs('GET', '/api/v1/namespaces/ns/pods', { watch: 'true' })).toEqual([true, 'watch', '', 'pods', '', 'ns', '']);
    expect(attrs('GET', '/api/v1/namespaces/ns/pods', { watch: '1', fieldSelector: 'metadata.name=p,status.phase=Running' })).toEqual([true, 'watch', '', 'pods', '', 'ns', 'p']);
    expect(attrs('GET', '/api/v1/namespaces/ns/pods', { watch: 'false' })).toEqual([true, 'list', '', 'pods', '', 'ns', '']);
    expect(attrs('GET', '/api/v1/pods', { fieldSelector: 'metadata.name!=p' })).toEqual([true, 'list', '', 'pods', '', '', '']);
    expect(attrs('GET', '/api/v1/pods', { fieldSelector: 'metadata.name=a/b' })).toEqual([true, 'list', '', 'pods', '', '', '']);
    // the legacy /watch/ prefix: verb watch, a name only from the path
    expect(attrs('GET', '/api/v1/watch/namespaces/ns/pods/p')).toEqual([true, 'watch', '', 'pods', '', 'ns', 'p']);
    expect(attrs('GET', '/api/v1/watch/namespaces/ns/pods', { fieldSelector: 'metadata.name=p' })).toEqual([true, 'watch', '', 'pods', '', 'ns', '']);
    expect(attrs('POST', '/api/v1/namespaces/ns/secrets')).toEqual([true, 'create', '', 'secrets', '', 'ns', '']);
    expect(attrs('PUT', '/apis/apps/v1/namespaces/ns/deployments/d/status')).toEqual([true, 'update', 'apps', 'deployments', 'status', 'ns', 'd']);
    expect(attrs('DELETE', '/apis/coordination.k8s.io/v1/namespaces/ns/leases')).toEqual([true, 'deletecollection', 'coordination.k8s.io', 'leases', '', 'ns', '']);
    expect(attrs('DELETE', '/apis/coordination.k8s.io/v1/namespaces/ns/leases/l')).toEqual([true, 'delete', 'coordination.k8s.io', 'leases', '', 'ns', 'l']);
    expect(attrs('PUT', '/api/v1/namespaces/ns/finalize')).toEqual([true, 'update', '', 'namespaces', 'finalize', 'ns', 'ns']);
    expect(attrs('GET', '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/v')).toEqual([true, 'get', 'admissionregistration.k8s.io', 'validatingwebhookconfigurations', '', '', 'v']);
    for (const path of ['/api', '/api/v1', '/apis', '/apis/apps', '/apis/apps/v1', '/version', '/healthz']) expect(attrs('GET', path)[0], path).toBe(false);
    expect(requestAttributes('POST', '/metrics')).toMatchObject({ resourceRequest: false, verb: 'post', path: '/metrics' });
  });
});

describe('FakeApiServer resources and version', () => {
  it('serves coordination.k8s.io/v1 Leases and events.k8s.io/v1 Events', async () => {
    const kc = server.kubeConfig();
    const leases = kc.makeApiClient(CoordinationV1Api);
    await leases.createNamespacedLease({ namespace: 'fsm-system', body: { metadata: { name: 'mesh-admission' }, spec: { holderIdentity: 'pod-a', leaseDurationSeconds: 15 } } });
    expect((await leases.readNamespacedLease({ name: 'mesh-admission', namespace: 'fsm-system' })).spec?.holderIdentity).toBe('pod-a');
    expect(server.getObject('coordination.k8s.io/v1', 'Lease', 'fsm-system', 'mesh-admission')?.kind).toBe('Lease');

    const events = kc.makeApiClient(EventsV1Api);
    await events.createNamespacedEvent({ namespace: 'app', body: { metadata: { name: 'e1' }, eventTime: new Date(), reason: 'Injected', note: 'sidecar injected', type: 'Normal', action: 'Inject', reportingController: 'mesh-admission', reportingInstance: 'pod-a' } });
    expect((await events.listNamespacedEvent({ namespace: 'app' })).items.map((e) => e.reason)).toEqual(['Injected']);
    expect(server.requestsFor({ verb: 'create' }).map((r) => r.path)).toEqual(['/apis/coordination.k8s.io/v1/namespaces/fsm-system/leases', '/apis/events.k8s.io/v1/namespaces/app/events']);

    const kube = new KubeHttp(kc);
    const groups = await kube.json<{ groups: Array<{ name: string }> }>({ path: '/apis' });
    expect(groups.groups.map((g) => g.name)).toEqual(expect.arrayContaining(['coordination.k8s.io', 'events.k8s.io']));
    const list = await kube.json<{ resources: Array<{ name: string; namespaced: boolean; kind: string }> }>({ path: '/apis/coordination.k8s.io/v1' });
    expect(list.resources).toEqual([expect.objectContaining({ name: 'leases', namespaced: true, kind: 'Lease' })]);
  });

  it('answers /version with 1.28 by default, or the configured version', async () => {
    const kube = new KubeHttp(server.kubeConfig());
    expect(await kube.json({ path: '/version' })).toMatchObject({ major: '1', minor: '28', gitVersion: 'v1.28.0', platform: 'linux/amd64' });
    expect((await server.kubeConfig().makeApiClient(VersionApi).getCode()).minor).toBe('28');

    const other = await FakeApiServer.start({ kubernetesVersion: { major: 1, minor: '33+' } });
    try {
      expect(await new KubeHttp(other.kubeConfig()).json({ path: '/version' })).toMatchObject({ major: '1', minor: '33+', gitVersion: 'v1.33.0' });
    } finally {
      await other.close();
    }
  });
});

describe('FakeApiServer garbage collection', () => {
  const ref = (o: Obj) => ({ apiVersion: o.apiVersion, kind: o.kind, name: o.metadata!.name, uid: o.metadata!.uid, controller: true });

  it('with garbageCollect, deleting an owner deletes its dependents in cascade, with DELETED events', async () => {
    const gc = await FakeApiServer.start({ garbageCollect: true });
    try {
      const kube = new KubeHttp(gc.kubeConfig());
      const d = gc.addObject({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'app' } });
      const rs = gc.addObject({ apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'web-1', namespace: 'app', ownerReferences: [ref(d)] } });
      gc.addObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1-a', namespace: 'app', ownerReferences: [ref(rs)] } });
      gc.addObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'lonely', namespace: 'app' } });
      const cm = gc.addObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'other-owner', namespace: 'app' } });
      gc.addObject({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'shared', namespace: 'app', ownerReferences: [ref(d), ref(cm)] } });

      const watch = await openStream(gc, `/api/v1/namespaces/app/pods?watch=1&resourceVersion=${gc.resourceVersion}`);
      await waitFor(() => gc.watchCount('pods') === 1);
      await gc.kubeConfig().makeApiClient(AppsV1Api).deleteNamespacedDeployment({ name: 'web', namespace: 'app' });

      await waitFor(() => watch.lines.length === 1, { what: 'the DELETED event of the pod' });
      expect(event(watch.lines[0])).toMatchObject({ type: 'DELETED', object: { metadata: { name: 'web-1-a' } } });
      expect(gc.getObject('apps/v1', 'ReplicaSet', 'app', 'web-1')).toBeUndefined();
      expect(gc.listObjects('v1', 'Pod', 'app').map((p) => p.metadata?.name)).toEqual(['lonely']);
      // an object with another owner still there stays, without the dangling reference
      await waitFor(() => (gc.getObject('v1', 'Secret', 'app', 'shared')?.metadata?.ownerReferences as unknown[] | undefined)?.length === 1);
      expect(gc.getObject('v1', 'Secret', 'app', 'shared')?.metadata?.ownerReferences).toEqual([ref(cm)]);
      watch.abort();

      // Orphan propagation: the dependents stay, freed from the owner
      const owner = gc.addObject({ apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'web-2', namespace: 'app' } });
      gc.addObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-2-a', namespace: 'app', ownerReferences: [ref(owner)] } });
      expect((await kube.request({ method: 'DELETE', path: '/apis/apps/v1/namespaces/app/replicasets/web-2', body: { propagationPolicy: 'Orphan' } })).status).toBe(200);
      expect(gc.getObject('v1', 'Pod', 'app', 'web-2-a')).toBeDefined();
      expect(gc.getObject('v1', 'Pod', 'app', 'web-2-a')?.metadata?.ownerReferences).toBeUndefined();
      // the control API deletes through the collector too
      gc.addObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-2-b', namespace: 'app', ownerReferences: [ref(gc.addObject({ apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'web-3', namespace: 'app' } }))] } });
      gc.deleteObject('apps/v1', 'ReplicaSet', 'app', 'web-3');
      await waitFor(() => gc.getObject('v1', 'Pod', 'app', 'web-2-b') === undefined);
    } finally {
      await gc.close();
    }
  });

  it('without garbageCollect (the default), dependents stay', async () => {
    const kube = new KubeHttp(server.kubeConfig());
    const d = server.addObject({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'app' } });
    server.addObject({ apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'web-1', namespace: 'app', ownerReferences: [ref(d)] } });
    expect((await kube.request({ method: 'DELETE', path: '/apis/apps/v1/namespaces/app/deployments/web' })).status).toBe(200);
    // a later round trip: a collector, had there been one, would have run by now
    expect((await kube.json<{ items: Obj[] }>({ path: '/apis/apps/v1/namespaces/app/replicasets' })).items.map((r) => r.metadata?.name)).toEqual(['web-1']);
  });
});
