// Edges of the transport (discovery, kubeconfig loading, the HTTP client's line reader, the reflector) that the other
// test/kube files leave unpinned, found by mutation testing: versions a group does not name, a read error's text, the
// in-pod certificate check, a callback abort at the body's end, and the reflector's options, guards and odd events.
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { discoverServed, type DiscoveryGet, type ResourceSpec } from '../../src/kube/discovery.js';
import { KubeApiError, KubeHttp } from '../../src/kube/http.js';
import { KubeConfigError, loadKubeConfig } from '../../src/kube/kubeconfig.js';
import { dropMetadataNoise, Reflector, type BackoffOptions, type ReflectorOptions } from '../../src/kube/reflector.js';
import type { KubeObject } from '../../src/mesh/objects.js';
import { FakeApiServer, waitFor } from '../support/fake-apiserver.js';
import { quietPeriod } from '../support/wait.js';

const SERVICES = '/api/v1/services';
const JSON_TYPE = { 'Content-Type': 'application/json' };
const EMPTY_LIST = { kind: 'ServiceList', metadata: { resourceVersion: '7' }, items: [] };

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** client-node accepts a plain http:// server only with insecure-skip-tls-verify. */
function kubeConfigFor(server: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'token-a' }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
    currentContext: 'ctx',
  });
  return kc;
}

function client(kc: KubeConfig): KubeHttp {
  const c = new KubeHttp(kc);
  cleanups.push(() => c.close());
  return c;
}

/** A plain HTTP server answering with `handler`, and a client for it (both closed after the test). */
async function listen(handler: http.RequestListener): Promise<KubeHttp> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return client(kubeConfigFor(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * A bare API server: the n-th watch request is answered by `watches[n]` (the last one again once the script runs out),
 * anything else by `other` (default: an empty list). Requests are recorded with their path and query.
 */
async function scripted(watches: Array<(res: http.ServerResponse) => void>, other: (res: http.ServerResponse) => void = (res) => void res.writeHead(200, JSON_TYPE).end(JSON.stringify(EMPTY_LIST))): Promise<{ kube: KubeHttp; requests: URL[] }> {
  const requests: URL[] = [];
  let n = 0;
  const kube = await listen((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push(url);
    if (url.searchParams.get('watch') === 'true') return watches[Math.min(n++, watches.length - 1)]!(res);
    other(res);
  });
  return { kube, requests };
}

const lines = (...events: unknown[]): ((res: http.ServerResponse) => void) => (res) => res.writeHead(200, JSON_TYPE).end(events.map((e) => `${JSON.stringify(e)}\n`).join(''));
/** A watch that stays open and says nothing. */
const hold = (res: http.ServerResponse): void => void res.writeHead(200, JSON_TYPE).flushHeaders();
/** A request never answered (the client's timeout has to end it). */
const silent = (): void => undefined;
const isWatch = (u: URL): boolean => u.searchParams.get('watch') === 'true';
const event = (type: string, name: string, rv: string): Record<string, unknown> => ({ type, object: { metadata: { name, namespace: 'app', resourceVersion: rv } } });
const svc = (name: string): Record<string, unknown> => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'app' } });

interface Harness {
  reflector: Reflector;
  items: Map<string, KubeObject>;
  logs: Array<Record<string, unknown>>;
}

/** A reflector over SERVICES; `backoff` 'none' builds it without backoff options (as production callers do). */
function reflect(kube: KubeHttp, extra: Partial<ReflectorOptions> = {}, backoff: BackoffOptions | 'none' = { initialMs: 10, maxMs: 40 }): Harness {
  const h: Harness = { reflector: undefined as unknown as Reflector, items: new Map(), logs: [] };
  const key = (o: KubeObject): string => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
  const opts: ReflectorOptions = {
    http: kube,
    path: SERVICES,
    apiVersion: 'v1',
    kind: 'Service',
    logger: pino({ level: 'debug' }, { write: (l: string) => void h.logs.push(JSON.parse(l) as Record<string, unknown>) }),
    ...(backoff === 'none' ? {} : { backoff }),
    handler: {
      replace: (items) => void (h.items = new Map(items.map((o) => [key(o), o]))),
      upsert: (o) => void h.items.set(key(o), o),
      remove: (o) => void h.items.delete(key(o)),
    },
    ...extra,
  };
  h.reflector = new Reflector(opts);
  cleanups.push(() => h.reflector.stop());
  return h;
}

const logged = (h: Harness, msg: string): number => h.logs.filter((l) => l.msg === msg).length;

describe('discovery', () => {
  it('reads only versions a group actually names: a missing preferred version or a version entry without a name is skipped', async () => {
    const reads: string[] = [];
    const docs: Record<string, unknown> = {
      '/apis': { groups: [{ name: 'plugin.flomesh.io', versions: [{}, { version: 'v1alpha1' }] }] },
      '/apis/plugin.flomesh.io/v1alpha1': { resources: [{ name: 'plugins' }] },
    };
    const get = (async (path: string) => {
      reads.push(path);
      return docs[path];
    }) as DiscoveryGet;
    const plugin: ResourceSpec = { group: 'plugin.flomesh.io', kind: 'Plugin', plural: 'plugins' };
    expect([...(await discoverServed(get, [plugin])).values()]).toEqual([{ spec: plugin, version: 'v1alpha1' }]);
    expect(reads).toEqual(['/apis', '/apis/plugin.flomesh.io/v1alpha1']);
  });
});

describe('kubeconfig', () => {
  it('an unreadable file is reported with the read error, alone or later in a list', async () => {
    const dir = tempDir('kc-gap-');
    const missing = join(dir, 'missing');
    const read = `${missing}: ENOENT: no such file or directory, open '${missing}'`;
    expect(() => loadKubeConfig({ kubeconfig: missing, env: {} })).toThrow(new KubeConfigError(read));
    const server = await FakeApiServer.start();
    cleanups.push(() => server.close());
    const good = join(dir, 'good');
    writeFileSync(good, server.kubeConfigYaml());
    expect(loadKubeConfig({ kubeconfig: [good], env: {} })?.getCurrentCluster()?.server).toBe(server.url);
    // a broken file after a good one is not skipped
    expect(() => loadKubeConfig({ kubeconfig: [good, missing], env: {} })).toThrow(new KubeConfigError(read));
  });

  it('in a pod, the API server\'s certificate is verified against the mounted ca.crt: another CA\'s is refused', async () => {
    const [api, other] = await Promise.all([FakeApiServer.start({ tls: true }), FakeApiServer.start({ tls: true })]);
    cleanups.push(() => api.close(), () => other.close());
    const dir = tempDir('sa-gap-');
    writeFileSync(join(dir, 'token'), 'tok');
    const url = new URL(api.url);
    const env = { KUBERNETES_SERVICE_HOST: url.hostname, KUBERNETES_SERVICE_PORT: url.port };
    // the mounted CA is not the one that signed the server's certificate
    writeFileSync(join(dir, 'ca.crt'), other.caPem!);
    const wrong = loadKubeConfig({ env, serviceAccountDir: dir })!;
    expect(wrong.getCurrentCluster()?.skipTLSVerify).toBe(false);
    const refused = await client(wrong).request({ path: '/api/v1/namespaces' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(KubeApiError);
    expect({ message: (refused as KubeApiError).message, status: (refused as KubeApiError).status, reason: (refused as KubeApiError).reason }).toEqual({
      // both fake CAs have the same name: the mounted one is found as the issuer, and its key did not sign the certificate
      message: 'GET /api/v1/namespaces: certificate signature failure',
      status: 0,
      reason: 'CERT_SIGNATURE_FAILURE',
    });
    expect(api.requests).toHaveLength(0);
    // the right CA: accepted
    writeFileSync(join(dir, 'ca.crt'), api.caPem!);
    expect((await client(loadKubeConfig({ env, serviceAccountDir: dir })!).request({ path: '/api/v1/namespaces' })).status).toBe(200);
  });
});

describe('KubeHttp.stream', () => {
  it('a callback abort on the first line hands over nothing more, also when the body ended in the same chunk', async () => {
    const kube = await listen((_req, res) => void res.writeHead(200, JSON_TYPE).end('{"n":1}\n{"n":2}\n{"n":3}\n'));
    const abort = new AbortController();
    const got: string[] = [];
    await expect(
      kube.stream({ path: '/w', signal: abort.signal }, (l) => {
        got.push(l);
        abort.abort();
      }),
    ).resolves.toBeUndefined();
    // nothing reaches the callback after it aborted, not even once the response's end has been read
    await quietPeriod(50);
    expect(got).toEqual(['{"n":1}']);
  });
});

describe('Reflector', () => {
  it('leaves annotations that are not an object alone', () => {
    expect(dropMetadataNoise({ metadata: { name: 'a', annotations: 'x' as unknown as Record<string, string> } })).toEqual({ metadata: { name: 'a', annotations: 'x' } });
  });

  it('relist() and freshen() before start() are accepted; the first list is then a consistent one and answers freshen()', async () => {
    const api = await FakeApiServer.start();
    const kube = client(api.kubeConfig());
    cleanups.push(() => api.close());
    const h = reflect(kube);
    expect(() => h.reflector.relist()).not.toThrow();
    const fresh = h.reflector.freshen(Date.now() + 15_000);
    h.reflector.start();
    expect(await fresh).toBe(true);
    const lists = api.requestsFor({ verb: 'list', resource: 'services' });
    expect(lists.map((r) => r.query.resourceVersion)).toEqual([undefined]);
  });

  it('without backoff options, a failing list is retried after the default backoff (200 ms, then 400 ms, halved at most by the jitter), not at once', async () => {
    const { kube, requests } = await scripted([hold], (res) => void res.writeHead(503, JSON_TYPE).end(JSON.stringify({ kind: 'Status', code: 503, reason: 'ServiceUnavailable', message: 'down' })));
    const h = reflect(kube, { random: () => 0 }, 'none');
    h.reflector.start();
    await waitFor(() => requests.length >= 2, { what: 'the first retry' });
    expect(h.reflector.failure()).toBe(`GET ${SERVICES}: 503 down`);
    // the next delay is 200 ms (400 ms halved by the jitter): nothing within the next 150 ms
    await quietPeriod(150);
    expect(requests).toHaveLength(2);
    expect(h.logs.filter((l) => l.msg === 'list failed; retrying' || l.msg === 'still failing; retrying').map((l) => l.retryInMs)).toEqual([100, 200]);
  });

  it('freshen() while a list is under way waits for that list: one list, from the watch cache', async () => {
    const release = deferred();
    let arrived = false;
    const { kube, requests } = await scripted([hold], (res) => {
      arrived = true;
      void release.promise.then(() => res.writeHead(200, JSON_TYPE).end(JSON.stringify(EMPTY_LIST)));
    });
    const h = reflect(kube);
    h.reflector.start();
    await waitFor(() => arrived, { what: 'the list under way' });
    const fresh = h.reflector.freshen(Date.now() + 15_000);
    release.resolve();
    expect(await fresh).toBe(true);
    await waitFor(() => requests.some(isWatch), { what: 'watching' });
    expect(requests.map((u) => (isWatch(u) ? 'watch' : `list rv=${u.searchParams.get('resourceVersion')}`))).toEqual(['list rv=0', 'watch']);
  });

  it('says "following the server again" only after a failure: not after a first list and events', async () => {
    const { kube, requests } = await scripted([lines(event('ADDED', 'a', '9')), hold]);
    const h = reflect(kube);
    h.reflector.start();
    await waitFor(() => requests.filter(isWatch).length === 2 && h.items.has('app/a'), { what: 'the event and the next watch' });
    expect(h.reflector.isCurrent()).toBe(true);
    expect(logged(h, 'following the server again')).toBe(0);
  });

  for (const [what, extra, path] of [
    ['a list', {}, SERVICES],
    ['a named GET', { path: '/api/v1/namespaces/app/services', name: 'one' }, '/api/v1/namespaces/app/services/one'],
  ] as const) {
    it(`requestTimeoutMs bounds ${what}: a server that never answers is a timeout failure`, async () => {
      const { kube } = await scripted([hold], silent);
      const h = reflect(kube, { ...extra, requestTimeoutMs: 100 }, { initialMs: 3_600_000, maxMs: 3_600_000 });
      h.reflector.start();
      await waitFor(() => h.reflector.failure(), { what: 'the timeout', timeoutMs: 3000 });
      expect(h.reflector.failure()).toBe(`GET ${path}: no answer within 100 ms`);
      expect(h.reflector.hasListed()).toBe(false);
    });
  }

  it('following one named object: the object the GET returned is in the cache as soon as it is current', async () => {
    const { kube, requests } = await scripted([hold], (res) => void res.writeHead(200, JSON_TYPE).end(JSON.stringify(svc('one'))));
    const h = reflect(kube, { path: '/api/v1/namespaces/app/services', name: 'one' });
    h.reflector.start();
    await waitFor(() => h.reflector.isCurrent(), { what: 'current' });
    expect([...h.items.entries()]).toEqual([['app/one', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'one', namespace: 'app' } }]]);
    expect(requests[0]!.pathname).toBe('/api/v1/namespaces/app/services/one');
  });

  it('gives a watch an idle timeout 30 s longer than the server timeout it asks for', async () => {
    const { kube, requests } = await scripted([hold]);
    const stream = vi.spyOn(kube, 'stream');
    const h = reflect(kube, { watchTimeoutSeconds: 100, random: () => 0.5 });
    h.reflector.start();
    await waitFor(() => requests.some(isWatch), { what: 'watching' });
    expect(stream).toHaveBeenCalledTimes(1);
    const [req] = stream.mock.calls[0]!;
    expect(req.path).toBe(SERVICES);
    expect(req.query).toEqual({ labelSelector: undefined, fieldSelector: undefined, watch: 'true', allowWatchBookmarks: 'true', resourceVersion: '7', timeoutSeconds: 150 });
    expect(req.timeoutMs).toBe(180_000);
  });

  it('an event of an unknown type, even the last one, changes nothing: the next watch resumes from the last real event', async () => {
    const { kube, requests } = await scripted([lines(event('ADDED', 'a', '20'), event('STRANGE', 'x', '99')), hold]);
    const h = reflect(kube);
    h.reflector.start();
    await waitFor(() => requests.filter(isWatch).length === 2, { what: 'the second watch' });
    expect([...h.items.keys()]).toEqual(['app/a']);
    expect(requests.filter(isWatch)[1]!.searchParams.get('resourceVersion')).toBe('20');
  });

  it('an event whose object has no metadata is not a failure: the watch ends cleanly and the cache stays current', async () => {
    const { kube, requests } = await scripted([lines(event('ADDED', 'a', '15'), { type: 'MODIFIED', object: { spec: {} } }), hold]);
    const h = reflect(kube, { transform: (o) => o });
    h.reflector.start();
    await waitFor(() => requests.filter(isWatch).length === 2, { what: 'the second watch' });
    expect(h.reflector.isCurrent()).toBe(true);
    expect(h.reflector.failure()).toBeUndefined();
    expect(logged(h, 'watch broke; re-watching at once')).toBe(0);
    expect(requests.filter(isWatch)[1]!.searchParams.get('resourceVersion')).toBe('15');
  });
  it('a watch that delivered events is followed by the next one at once, however soon it ended (no backoff)', async () => {
    const { kube, requests } = await scripted([lines(event('ADDED', 'a', '9')), hold]);
    const h = reflect(kube, {}, { initialMs: 3_600_000, maxMs: 3_600_000 });
    h.reflector.start();
    await waitFor(() => requests.filter(isWatch).length === 2, { what: 'the second watch' });
    expect(requests.filter(isWatch)[1]!.searchParams.get('resourceVersion')).toBe('9');
  });

  it('stop() during a list under way ends it at once, without waiting out the backoff or reporting a failure', async () => {
    let listed = false;
    const { kube } = await scripted([hold], () => void (listed = true));
    const h = reflect(kube, {}, { initialMs: 3_600_000, maxMs: 3_600_000 });
    h.reflector.start();
    await waitFor(() => listed, { what: 'the list under way' });
    await h.reflector.stop();
    expect(h.reflector.isCurrent()).toBe(false);
    expect(h.reflector.failure()).toBeUndefined();
    expect(h.logs.filter((l) => l.level === 40)).toEqual([]);
  });
  it('a broken watch retried at once leaves the cache not current until the new watch has said something', async () => {
    const boom = { type: 'ERROR', object: { kind: 'Status', code: 500, reason: 'InternalError', message: 'boom' } };
    const { kube, requests } = await scripted([lines(boom), hold]);
    const h = reflect(kube, {}, { initialMs: 3_600_000, maxMs: 3_600_000 });
    h.reflector.start();
    await waitFor(() => requests.filter(isWatch).length === 2, { what: 'the second watch' });
    expect(h.reflector.isCurrent()).toBe(false);
    expect(h.reflector.status().currentSince).toBeUndefined();
  });
});
