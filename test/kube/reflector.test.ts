// The one list + watch loop, edge by edge, against the fake API server (and a bare HTTP server where the fake cannot
// misbehave the way a test needs): where lists are read from, what a 410 does, how failures back off, that a watch
// ending or breaking at once cannot make the loop spin, what `freshen` and `whenCurrent` promise, the named variant.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { KubeHttp } from '../../src/kube/http.js';
import { dropMetadataNoise, Reflector, type ReflectorOptions } from '../../src/kube/reflector.js';
import type { KubeObject } from '../../src/mesh/objects.js';
import { FakeApiServer, waitFor } from '../support/fake-apiserver.js';
import { quietPeriod } from '../support/wait.js';

const SERVICES = '/api/v1/services';
const HOUR = 3_600_000;

interface Harness {
  reflector: Reflector;
  items: Map<string, KubeObject>;
  replaced: number;
  logs: Array<Record<string, unknown>>;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function reflect(kube: KubeHttp, extra: Partial<ReflectorOptions> = {}): Harness {
  const h: Harness = { reflector: undefined as unknown as Reflector, items: new Map(), replaced: 0, logs: [] };
  const key = (o: KubeObject): string => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
  h.reflector = new Reflector({
    http: kube,
    path: SERVICES,
    apiVersion: 'v1',
    kind: 'Service',
    logger: pino({ level: 'debug' }, { write: (l: string) => void h.logs.push(JSON.parse(l) as Record<string, unknown>) }),
    backoff: { initialMs: 10, maxMs: 40 },
    handler: {
      replace: (items) => {
        h.replaced++;
        h.items = new Map(items.map((o) => [key(o), o]));
      },
      upsert: (o) => void h.items.set(key(o), o),
      remove: (o) => void h.items.delete(key(o)),
    },
    ...extra,
  });
  cleanups.push(() => h.reflector.stop());
  return h;
}

async function fake(): Promise<{ api: FakeApiServer; kube: KubeHttp }> {
  const api = await FakeApiServer.start();
  const kube = new KubeHttp(api.kubeConfig());
  cleanups.push(() => api.close(), () => kube.close());
  return { api, kube };
}

/** A plain HTTP server answering with `handler`, and a client for it (both closed after the test). */
async function listen(handler: http.RequestListener): Promise<KubeHttp> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const api = await FakeApiServer.start();
  const kc = api.kubeConfig();
  await api.close();
  kc.clusters = kc.clusters.map((c) => ({ ...c, server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }));
  const kube = new KubeHttp(kc);
  cleanups.push(() => {
    kube.close();
    server.closeAllConnections();
    server.close();
  });
  return kube;
}

const EMPTY_LIST = { kind: 'ServiceList', metadata: { resourceVersion: '7' }, items: [] };

/** A bare server for behaviours the fake has no switch for; `watch` answers every watch request. */
async function bare(watch: (res: http.ServerResponse) => void): Promise<{ kube: KubeHttp; requests: string[] }> {
  const requests: string[] = [];
  const kube = await listen((req, res) => {
    requests.push(req.url ?? '');
    if (req.url?.includes('watch=true')) return watch(res);
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(EMPTY_LIST));
  });
  return { kube, requests };
}

const svc = (name: string): Record<string, unknown> => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'app' } });

describe('Reflector', () => {
  it('lists, hands the items over, then follows the watch: adds, changes, deletions', async () => {
    const { api, kube } = await fake();
    api.addObject(svc('a'));
    const h = reflect(kube);
    expect(h.reflector.isCurrent()).toBe(false);
    h.reflector.start();
    await waitFor(() => h.reflector.isCurrent() && api.watchCount('services') === 1, { what: 'listed and watching' });
    expect(h.reflector.hasListed()).toBe(true);
    expect([...h.items.keys()]).toEqual(['app/a']);
    expect(h.items.get('app/a')).toMatchObject({ apiVersion: 'v1', kind: 'Service' });
    api.addObject(svc('b'));
    api.modifyObject('v1', 'Service', 'app', 'a', (o) => void (o.spec = { ports: [{ port: 80 }] }));
    api.deleteObject('v1', 'Service', 'app', 'b');
    api.addObject(svc('c'));
    await waitFor(() => h.items.has('app/c'), { what: 'the last event' });
    expect([...h.items.keys()].sort()).toEqual(['app/a', 'app/c']);
    expect(h.items.get('app/a')?.spec).toEqual({ ports: [{ port: 80 }] });
    expect(h.replaced).toBe(1);
    // the watch continues from the list's resourceVersion
    const [list] = api.requestsFor({ verb: 'list', resource: 'services' });
    const [watch] = api.requestsFor({ verb: 'watch', resource: 'services' });
    expect(list?.query.resourceVersion).toBe('0');
    expect(watch?.query).toMatchObject({ watch: 'true', allowWatchBookmarks: 'true' });
    expect(watch?.query.resourceVersion).toMatch(/^\d+$/);
  });

  it('reads lists from the watch cache (resourceVersion=0) at start and on relist(), from etcd after a 410', async () => {
    const { api, kube } = await fake();
    api.addObject(svc('a'));
    const h = reflect(kube);
    h.reflector.start();
    await waitFor(() => api.watchCount('services') === 1, { what: 'watching' });
    h.reflector.relist();
    await waitFor(() => api.requestsFor({ verb: 'list', resource: 'services' }).length === 2 && api.watchCount('services') === 1, { what: 'relisted' });
    api.sendWatchError({ plural: 'services' });
    await waitFor(() => api.requestsFor({ verb: 'list', resource: 'services' }).length === 3 && h.reflector.isCurrent(), { what: 'relisted after the 410' });
    expect(api.requestsFor({ verb: 'list', resource: 'services' }).map((r) => r.query.resourceVersion)).toEqual(['0', '0', undefined]);
    // after that consistent list, back to the cache
    h.reflector.relist();
    await waitFor(() => api.requestsFor({ verb: 'list', resource: 'services' }).length === 4, { what: 'a plain relist again' });
    expect(api.requestsFor({ verb: 'list', resource: 'services' })[3]?.query.resourceVersion).toBe('0');
  });

  it('does not spin on a watch that ends at once with nothing to say: it backs off', async () => {
    const { kube, requests } = await bare((res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end());
    const h = reflect(kube, { backoff: { initialMs: HOUR, maxMs: HOUR } });
    h.reflector.start();
    await waitFor(() => requests.filter((r) => r.includes('watch=true')).length >= 1, { what: 'the first watch' });
    await quietPeriod(300);
    // one watch, then an hour's wait (the free retry is for watches that had shown the server well)
    expect(requests.filter((r) => r.includes('watch=true'))).toHaveLength(1);
  });

  it('does not spin on a watch that opens and fails at once, again and again: one retry at once, then backoff', async () => {
    const error = JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 500, reason: 'InternalError', message: 'boom' } });
    const { kube, requests } = await bare((res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end(`${error}\n`));
    const h = reflect(kube, { backoff: { initialMs: HOUR, maxMs: HOUR } });
    h.reflector.start();
    await waitFor(() => requests.filter((r) => r.includes('watch=true')).length >= 2, { what: 'two watches' });
    await quietPeriod(300);
    expect(requests.filter((r) => r.includes('watch=true'))).toHaveLength(2);
    expect(h.reflector.failure()).toBe(`watch ${SERVICES}: boom`);
    expect(h.reflector.isCurrent()).toBe(false);
  });

  it('a watch that had been up is retried at once when it breaks (no backoff), and current again after', async () => {
    const { api, kube } = await fake();
    const h = reflect(kube, { backoff: { initialMs: HOUR, maxMs: HOUR } });
    h.reflector.start();
    await waitFor(() => api.watchCount('services') === 1 && h.reflector.isCurrent(), { what: 'watching' });
    api.bookmark('services'); // an event: the watch has shown the server well
    await waitFor(() => h.reflector.status().lastEventAt !== undefined);
    api.dropWatches('services');
    await waitFor(() => api.requestsFor({ verb: 'watch', resource: 'services' }).length === 2 && api.watchCount('services') === 1, { what: 'watching again' });
    api.addObject(svc('after'));
    await waitFor(() => h.items.has('app/after') && h.reflector.isCurrent(), { what: 'following again' });
  });

  it('backs off failures exponentially, says each reason once, and tells the failure until it recovers', async () => {
    const { api, kube } = await fake();
    api.failLists(4, { resource: 'services', status: 503 });
    const h = reflect(kube, { backoff: { initialMs: 20, maxMs: 400 } });
    h.reflector.start();
    await waitFor(() => h.reflector.failure() !== undefined, { what: 'the failure' });
    expect(h.reflector.failure()).toBe(`GET ${SERVICES}: 503 injected failure (503)`);
    expect(await h.reflector.whenCurrent(Date.now() + 15_000)).toBe(true);
    expect(h.reflector.failure()).toBeUndefined();
    const lists = api.requestsFor({ verb: 'list', resource: 'services' });
    expect(lists).toHaveLength(5);
    // 20, 40, 80, 160 ms before jitter; equal jitter waits at least half: lower bounds only
    const gaps = lists.slice(1).map((l, i) => l.at - lists[i]!.at);
    expect(gaps.map((g, i) => g >= 10 * 2 ** i)).toEqual([true, true, true, true]);
    expect(h.logs.filter((l) => l.msg === 'list failed; retrying')).toHaveLength(1);
    expect(h.logs.filter((l) => l.msg === 'still failing; retrying')).toHaveLength(3);
    expect(h.logs.filter((l) => l.msg === 'following the server again')).toHaveLength(1);
  });

  it('freshen() lists at once, consistently, without waiting out the backoff; whenCurrent() gives up at its deadline', async () => {
    const { api, kube } = await fake();
    const h = reflect(kube, { backoff: { initialMs: HOUR, maxMs: HOUR } });
    h.reflector.start();
    await waitFor(() => api.watchCount('services') === 1 && h.reflector.isCurrent(), { what: 'watching' });
    api.failRequests({ count: 1000, verb: 'watch', resource: 'services', status: 503 });
    api.dropWatches('services');
    await waitFor(() => !h.reflector.isCurrent(), { what: 'behind' });
    // the free retry fails too: the reflector now sleeps for an hour
    await waitFor(() => api.requestsFor({ verb: 'watch', resource: 'services' }).length >= 2, { what: 'the retry' });
    expect(await h.reflector.whenCurrent(Date.now() + 50)).toBe(false);
    api.addObject(svc('new'));
    expect(await h.reflector.freshen(Date.now() + 15_000)).toBe(true);
    expect(h.items.has('app/new')).toBe(true);
    expect(api.requestsFor({ verb: 'list', resource: 'services' }).at(-1)?.query.resourceVersion).toBeUndefined();
  });

  it('follows one named object: a GET, then a watch by field selector from the newest state (after a restart too)', async () => {
    const { api, kube } = await fake();
    api.addObject(svc('one'));
    api.addObject(svc('other'));
    const h = reflect(kube, { path: '/api/v1/namespaces/app/services', name: 'one' });
    h.reflector.start();
    await waitFor(() => api.watchCount('services') === 1 && h.reflector.isCurrent(), { what: 'watching' });
    expect([...h.items.keys()]).toEqual(['app/one']);
    expect(api.requestsFor({ verb: 'get', resource: 'services' }).map((r) => r.path)).toEqual(['/api/v1/namespaces/app/services/one']);
    const [watch] = api.requestsFor({ verb: 'watch', resource: 'services' });
    expect(watch?.query).toMatchObject({ fieldSelector: 'metadata.name=one' });
    expect(watch?.query.resourceVersion).toBeUndefined();
    await api.restart({ downMs: 20 });
    api.clearRequests();
    api.modifyObject('v1', 'Service', 'app', 'one', (o) => void (o.spec = { ports: [{ port: 1 }] }));
    await waitFor(() => (h.items.get('app/one')?.spec as { ports?: unknown[] } | undefined)?.ports !== undefined, { what: 'the change after the restart' });
    expect(api.requestsFor({ verb: 'get', resource: 'services' }).length).toBeLessThanOrEqual(2);
  });

  it('stop() ends the watch and any wait, and leaves it not current', async () => {
    const { api, kube } = await fake();
    const h = reflect(kube);
    h.reflector.start();
    await waitFor(() => api.watchCount('services') === 1, { what: 'watching' });
    const waiting = h.reflector.whenCurrent(0);
    await h.reflector.stop();
    expect(h.reflector.isCurrent()).toBe(false);
    await expect(waiting).resolves.toBe(true);
    await waitFor(() => api.watchCount('services') === 0, { what: 'the watch closed' });
    expect(await h.reflector.whenCurrent(0)).toBe(false);
  });
});

/**
 * A bare API server whose watches follow a script: the n-th watch request is answered by `watches[n]` (the last one
 * again once the script runs out), lists by `list`. Requests are recorded with their query.
 */
async function scripted(watches: Array<(res: http.ServerResponse) => void>, list: Record<string, unknown> = EMPTY_LIST): Promise<{ kube: KubeHttp; requests: URLSearchParams[] }> {
  const requests: URLSearchParams[] = [];
  let n = 0;
  const kube = await listen((req, res) => {
    const q = new URL(req.url ?? '/', 'http://x').searchParams;
    requests.push(q);
    if (q.get('watch') === 'true') return watches[Math.min(n++, watches.length - 1)]!(res);
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(list));
  });
  return { kube, requests };
}

const lines = (...events: unknown[]): ((res: http.ServerResponse) => void) => (res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end(events.map((e) => `${typeof e === 'string' ? e : JSON.stringify(e)}\n`).join(''));
/** A watch that stays open and says nothing (the reflector's next move is then visible as the absence of requests). */
const hold = (res: http.ServerResponse): void => void res.writeHead(200, { 'Content-Type': 'application/json' }).flushHeaders();
const isWatch = (q: URLSearchParams): boolean => q.get('watch') === 'true';
const event = (type: string, name: string, rv: string): Record<string, unknown> => ({ type, object: { metadata: { name, namespace: 'app', resourceVersion: rv } } });

describe('Reflector, edge by edge', () => {
  it('drops managedFields and kubectl\'s last-applied copy, keeps every other annotation, and leaves objects without metadata alone', () => {
    const last = 'kubectl.kubernetes.io/last-applied-configuration';
    expect(dropMetadataNoise({ metadata: { name: 'a', managedFields: [{ manager: 'kubectl' }], annotations: { [last]: '{}', keep: 'me' } } })).toEqual({ metadata: { name: 'a', annotations: { keep: 'me' } } });
    expect(dropMetadataNoise({ metadata: { name: 'a', annotations: { [last]: '{}' } } })).toEqual({ metadata: { name: 'a' } });
    expect(dropMetadataNoise({ metadata: { name: 'a', annotations: { keep: 'me' } } })).toEqual({ metadata: { name: 'a', annotations: { keep: 'me' } } });
    expect(dropMetadataNoise({ kind: 'X' })).toEqual({ kind: 'X' });
    expect(dropMetadataNoise({ metadata: { name: 'a' } })).toEqual({ metadata: { name: 'a' } });
    expect(dropMetadataNoise({ metadata: { name: 'a', annotations: null as unknown as Record<string, string> } })).toEqual({ metadata: { name: 'a', annotations: null } });
    expect(dropMetadataNoise({ kind: 'X', metadata: 'odd' as unknown as undefined })).toEqual({ kind: 'X', metadata: 'odd' });
  });

  it('status() says what it knows and leaves out what it does not', async () => {
    const { kube } = await scripted([lines(event('ADDED', 'a', '9')), hold]);
    let now = 1000;
    const h = reflect(kube, { now: () => now++ });
    expect(h.reflector.status()).toEqual({ path: SERVICES, listed: false, current: false });
    // absent, not present and undefined: the status is served as JSON
    expect(Object.keys(h.reflector.status())).toEqual(['path', 'listed', 'current']);
    expect(h.reflector.currentSince()).toBeUndefined();
    h.reflector.start();
    await waitFor(() => h.items.has('app/a'), { what: 'the event' });
    const s = h.reflector.status();
    expect(s).toEqual({ path: SERVICES, listed: true, current: true, currentSince: h.reflector.currentSince(), resourceVersion: '9', lastEventAt: h.reflector.lastEvent() });
    expect(typeof s.currentSince).toBe('number');
    expect(s.lastEventAt).toBeGreaterThan(s.currentSince!);
  });

  it('watches from the last event\'s resourceVersion (bookmarks included), with the selectors and a jittered server timeout', async () => {
    const { kube, requests } = await scripted([lines(event('ADDED', 'a', '8'), event('BOOKMARK', '', '11'), event('MODIFIED', 'a', '12'), { type: 'BOOKMARK', object: { metadata: { resourceVersion: '' } } }), hold]);
    const h = reflect(kube, { labelSelector: 'app=x', fieldSelector: 'spec.type=ClusterIP', watchTimeoutSeconds: 100, random: () => 0.5, pageSize: 7 });
    h.reflector.start();
    await waitFor(() => requests.filter(isWatch).length === 2, { what: 'the second watch' });
    const [list, first, second] = requests;
    expect(Object.fromEntries(list!)).toEqual({ labelSelector: 'app=x', fieldSelector: 'spec.type=ClusterIP', limit: '7', resourceVersion: '0' });
    expect(Object.fromEntries(first!)).toEqual({ labelSelector: 'app=x', fieldSelector: 'spec.type=ClusterIP', watch: 'true', allowWatchBookmarks: 'true', resourceVersion: '7', timeoutSeconds: '150' });
    // the stream ended normally after events: watch again at once from the newest resourceVersion, no list
    expect(second!.get('resourceVersion')).toBe('12');
    expect(requests.filter((q) => !isWatch(q))).toHaveLength(1);
    expect(h.items.get('app/a')).toMatchObject({ apiVersion: 'v1', kind: 'Service' });
  });

  it('lists 500 at a time unless told otherwise', async () => {
    const { kube, requests } = await scripted([hold]);
    const h = reflect(kube);
    h.reflector.start();
    await waitFor(() => requests.some(isWatch), { what: 'watching' });
    expect(requests[0]!.get('limit')).toBe('500');
    // the server's watch timeout: 300 s by default, times 1 to 2
    const t = Number(requests.find(isWatch)!.get('timeoutSeconds'));
    expect(t >= 300 && t <= 600).toBe(true);
  });

  for (const [what, status] of [
    ['code 410', { code: 410 }],
    ['reason Expired', { reason: 'Expired' }],
    ['reason Gone', { reason: 'Gone' }],
  ] as const) {
    it(`an ERROR event with ${what} relists at once, from etcd, without another watch first`, async () => {
      const { kube, requests } = await scripted([lines({ type: 'ERROR', object: { kind: 'Status', ...status, message: 'too old resource version' } }), hold]);
      const h = reflect(kube, { backoff: { initialMs: HOUR, maxMs: HOUR } });
      h.reflector.start();
      await waitFor(() => requests.filter(isWatch).length === 2, { what: 'watching again' });
      expect(requests.map((q) => (isWatch(q) ? 'watch' : `list rv=${q.get('resourceVersion')}`))).toEqual(['list rv=0', 'watch', 'list rv=null', 'watch']);
      expect(h.replaced).toBe(2);
      expect(h.logs.filter((l) => l.msg === 'watch expired (410 Gone): relisting')).toHaveLength(1);
    });
  }

  it('a watch refused with HTTP 410 (the resourceVersion already compacted) relists at once, from etcd', async () => {
    const gone = (res: http.ServerResponse): void => void res.writeHead(410, { 'Content-Type': 'application/json' }).end(JSON.stringify({ kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version: 7 (12)' }));
    const { kube, requests } = await scripted([gone, hold]);
    const h = reflect(kube, { backoff: { initialMs: HOUR, maxMs: HOUR } });
    h.reflector.start();
    await waitFor(() => requests.filter(isWatch).length === 2, { what: 'watching again' });
    expect(requests.map((q) => (isWatch(q) ? `watch rv=${q.get('resourceVersion')}` : `list rv=${q.get('resourceVersion')}`))).toEqual(['list rv=0', 'watch rv=7', 'list rv=null', 'watch rv=7']);
    expect(h.logs.filter((l) => l.msg === 'resourceVersion expired (410 Gone): relisting')).toHaveLength(1);
    expect(h.reflector.failure()).toBeUndefined();
  });

  it('an ERROR event of another kind is a failure with its message and code; one without either says so', async () => {
    const { kube, requests } = await scripted([lines({ type: 'ERROR', object: { kind: 'Status', reason: 'Forbidden', message: 'no' } })]);
    const h = reflect(kube, { backoff: { initialMs: HOUR, maxMs: HOUR } });
    h.reflector.start();
    await waitFor(() => h.reflector.failure() !== undefined, { what: 'the failure' });
    expect(h.reflector.failure()).toBe(`watch ${SERVICES}: no`);
    expect(h.logs.find((l) => l.msg === 'watch failed; re-watching')).toMatchObject({ status: 0, listing: false, attempt: 1 });
    expect(requests.filter(isWatch)).toHaveLength(2);

    const other = await scripted([lines({ type: 'ERROR', object: { kind: 'Status', code: 500 } })]);
    const h2 = reflect(other.kube, { backoff: { initialMs: HOUR, maxMs: HOUR } });
    h2.reflector.start();
    await waitFor(() => h2.reflector.failure() !== undefined, { what: 'the second failure' });
    expect(h2.reflector.failure()).toBe(`watch ${SERVICES}: error event`);
    expect(h2.logs.find((l) => l.msg === 'watch failed; re-watching')).toMatchObject({ status: 500 });
  });

  it('ignores what is not an event: an unparseable line, an event without an object, an unknown type; the watch goes on', async () => {
    const { kube, requests } = await scripted([lines('not json', `{${'x'.repeat(300)}`, { type: 'ADDED' }, { type: 'ADDED', object: 'text' }, { type: 'STRANGE', object: { metadata: { name: 'x', namespace: 'app', resourceVersion: '99' } } }, event('ADDED', 'a', '20')), hold]);
    const h = reflect(kube);
    h.reflector.start();
    await waitFor(() => requests.filter(isWatch).length === 2, { what: 'the second watch' });
    expect([...h.items.keys()]).toEqual(['app/a']);
    expect(requests.filter(isWatch)[1]!.get('resourceVersion')).toBe('20');
    // a long line is logged by its start only
    expect(h.logs.filter((l) => l.msg === 'unparseable watch line ignored').map((l) => l.line)).toEqual(['not json', `{${'x'.repeat(199)}`]);
  });

  it('start() is once: a second call, or a call after stop(), sends nothing', async () => {
    const { kube, requests } = await scripted([hold]);
    const h = reflect(kube);
    h.reflector.start();
    h.reflector.start();
    await waitFor(() => requests.some(isWatch), { what: 'watching' });
    expect(requests.map(isWatch)).toEqual([false, true]);
    await h.reflector.stop();
    h.reflector.start();
    await quietPeriod(100);
    expect(requests).toHaveLength(2);
    const stopped = reflect(kube);
    await stopped.reflector.stop();
    stopped.reflector.start();
    await quietPeriod(100);
    expect(requests).toHaveLength(2);
  });

  it('whenCurrent() without a deadline waits as long as it takes; with one that has passed, answers at once', async () => {
    const { api, kube } = await fake();
    api.failLists(3, { resource: 'services', status: 503 });
    const h = reflect(kube);
    const patient = h.reflector.whenCurrent(0);
    expect(await h.reflector.whenCurrent(Date.now() - 1000)).toBe(false);
    h.reflector.start();
    expect(await patient).toBe(true);
  });

  it('freshen() during a list waits for that list instead of starting another', async () => {
    const { api, kube } = await fake();
    api.setLatency(200);
    const h = reflect(kube);
    h.reflector.start();
    await waitFor(() => api.requestsFor({ verb: 'list', resource: 'services' }).length === 1, { what: 'the list under way' });
    expect(await h.reflector.freshen(Date.now() + 15_000)).toBe(true);
    expect(api.requestsFor({ verb: 'list', resource: 'services' })).toHaveLength(1);
    expect(api.requestsFor({ verb: 'list', resource: 'services' })[0]?.query.resourceVersion).toBe('0');
  });

  it('an event whose object has no metadata is handed over, and the watch resumes from the last resourceVersion it had', async () => {
    const { kube, requests } = await scripted([lines(event('ADDED', 'a', '15'), { type: 'MODIFIED', object: { spec: {} } }), hold]);
    const upserts: KubeObject[] = [];
    const h = reflect(kube, { transform: (o) => (upserts.push(o), o) });
    h.reflector.start();
    await waitFor(() => requests.filter(isWatch).length === 2, { what: 'the second watch' });
    expect(upserts.map((o) => o.metadata?.name ?? '(none)')).toEqual(['a', '(none)']);
    expect(requests.filter(isWatch)[1]!.get('resourceVersion')).toBe('15');
  });

  it('following one named object that does not exist: an empty list, current, watching for it', async () => {
    const { api, kube } = await fake();
    const h = reflect(kube, { path: '/api/v1/namespaces/app/services', name: 'missing' });
    h.reflector.start();
    await waitFor(() => api.watchCount('services') === 1 && h.reflector.isCurrent(), { what: 'watching' });
    expect(h.replaced).toBe(1);
    expect(h.items.size).toBe(0);
    api.addObject(svc('missing'));
    await waitFor(() => h.items.has('app/missing'), { what: 'the object once created' });
  });

  it('stop() answers every waiter: false when the cache was not current', async () => {
    const { api, kube } = await fake();
    api.failLists(1000, { resource: 'services', status: 503 });
    const h = reflect(kube, { backoff: { initialMs: HOUR, maxMs: HOUR } });
    h.reflector.start();
    await waitFor(() => h.reflector.failure() !== undefined, { what: 'the failure' });
    const waiting = h.reflector.whenCurrent(0);
    await h.reflector.stop();
    await expect(waiting).resolves.toBe(false);
  });

  it('freshen() on a current cache answers at once, with no request', async () => {
    const { api, kube } = await fake();
    const h = reflect(kube);
    h.reflector.start();
    await waitFor(() => api.watchCount('services') === 1 && h.reflector.isCurrent(), { what: 'watching' });
    const before = api.requests.length;
    expect(await h.reflector.freshen(Date.now() + 15_000)).toBe(true);
    await quietPeriod(200); // nor one sent just after the answer
    expect(api.requests.length).toBe(before);
  });

  it('relist() lists again at once, whatever the backoff', async () => {
    const { api, kube } = await fake();
    const h = reflect(kube, { backoff: { initialMs: HOUR, maxMs: HOUR } });
    h.reflector.start();
    await waitFor(() => api.watchCount('services') === 1 && h.reflector.isCurrent(), { what: 'watching' });
    h.reflector.relist();
    await waitFor(() => api.requestsFor({ verb: 'list', resource: 'services' }).length === 2 && api.watchCount('services') === 1, { what: 'listed and watching again' });
    expect(h.replaced).toBe(2);
  });
});

// What earns a broken or ended watch a new one at once, judged by the reflector's own clock (injected: the server
// advances it while "holding" a watch open, so a second passes without the test waiting one).
describe('Reflector, the free retry and the one-second rule', () => {
  const boom = { type: 'ERROR', object: { kind: 'Status', code: 500, reason: 'InternalError', message: 'boom' } };

  async function run(watches: Array<(res: http.ServerResponse) => void>, clock: { now: number }): Promise<URLSearchParams[]> {
    const { kube, requests } = await scripted(watches);
    const h = reflect(kube, { backoff: { initialMs: HOUR, maxMs: HOUR }, now: () => clock.now });
    h.reflector.start();
    await waitFor(() => requests.some(isWatch), { what: 'the first watch' });
    return requests;
  }
  /** a watch the server keeps open for `ms` of the reflector's clock, then ends as `then` does */
  const openFor = (clock: { now: number }, ms: number, then: (res: http.ServerResponse) => void) => (res: http.ServerResponse): void => {
    clock.now += ms;
    then(res);
  };

  it.each([
    [1000, 3],
    [999, 2],
  ])('a watch open %i ms before it fails: %i watches before the backoff (a second or more earns the next failure a retry at once)', async (ms, expected) => {
    const clock = { now: 1_000_000 };
    // the list's free retry goes to the first failure; the second watch's own merit decides about the third
    const requests = await run([lines(boom), openFor(clock, ms, lines(boom)), lines(boom), hold], clock);
    await waitFor(() => requests.filter(isWatch).length >= expected, { what: `${expected} watches` });
    await quietPeriod(300);
    expect(requests.filter(isWatch)).toHaveLength(expected);
  });

  it('a watch that delivered an event (a bookmark) before it failed earns the next failure a retry at once', async () => {
    const clock = { now: 1_000_000 };
    const requests = await run([lines(boom), lines(event('BOOKMARK', '', '11'), boom), lines(boom), hold], clock);
    await waitFor(() => requests.filter(isWatch).length >= 3, { what: 'three watches' });
    await quietPeriod(300);
    expect(requests.filter(isWatch)).toHaveLength(3);
    expect(requests.filter(isWatch)[2]!.get('resourceVersion')).toBe('11');
  });

  it.each([
    [1000, 2],
    [999, 1],
  ])('a watch that ends quietly after %i ms: %i watches before the backoff (only from a second on is it a normal end)', async (ms, expected) => {
    const clock = { now: 1_000_000 };
    const ends = (res: http.ServerResponse): void => void res.writeHead(200, { 'Content-Type': 'application/json' }).end();
    const requests = await run([openFor(clock, ms, ends), hold], clock);
    await waitFor(() => requests.filter(isWatch).length >= expected, { what: `${expected} watches` });
    await quietPeriod(300);
    expect(requests.filter(isWatch)).toHaveLength(expected);
  });
});
