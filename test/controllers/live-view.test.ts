// LiveView against the in-process fake API server: sync, events, bookmarks, 410 Gone, dropped connections, failing
// lists, late CRDs, event ages, fetchNamespace, stop().
import { afterEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { Metrics } from '../../src/server/metrics.js';
import { CORE_RESOURCES, DEFAULT_USER, FakeApiServer, waitFor, type FakeApiServerOptions, type PolicyRule, type ResourceDef } from '../support/fake-apiserver.js';
import { quietPeriod } from '../support/wait.js';
import { LiveView, defaultResources, type LiveViewOptions } from '../../src/controllers/live-view.js';
import { KubeApiError, KubeHttp } from '../../src/kube/http.js';

const EGRESS_FSM: ResourceDef = { group: 'policy.flomesh.io', version: 'v1alpha1', plural: 'egresses', kind: 'Egress', namespaced: true };
const EGRESS_OSM: ResourceDef = { group: 'policy.openservicemesh.io', version: 'v1alpha1', plural: 'egresses', kind: 'Egress', namespaced: true };
const MESHCONFIG: ResourceDef = { group: 'config.flomesh.io', version: 'v1alpha3', plural: 'meshconfigs', kind: 'MeshConfig', namespaced: true };
const PLUGIN: ResourceDef = { group: 'plugin.flomesh.io', version: 'v1alpha1', plural: 'plugins', kind: 'Plugin', namespaced: false };
const SPLIT: ResourceDef = { group: 'split.smi-spec.io', version: 'v1alpha4', plural: 'trafficsplits', kind: 'TrafficSplit', namespaced: true };

interface Harness {
  server: FakeApiServer;
  http: KubeHttp;
  view: LiveView;
  logs: Array<Record<string, unknown>>;
  clock?: { now: number };
}

const running: Harness[] = [];

afterEach(async () => {
  for (const h of running.splice(0)) {
    await h.view.stop();
    h.http.close();
    await h.server.close();
  }
});

async function setup(opts: { server?: FakeApiServerOptions; view?: Partial<LiveViewOptions>; seed?: (s: FakeApiServer) => void; start?: boolean; clock?: boolean } = {}): Promise<Harness> {
  const server = await FakeApiServer.start({ resources: [...CORE_RESOURCES, EGRESS_FSM, EGRESS_OSM, MESHCONFIG, PLUGIN], ...opts.server });
  opts.seed?.(server);
  const logs: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const clock = opts.clock ? { now: 1_000_000 } : undefined;
  const http = new KubeHttp(server.kubeConfig());
  const view = new LiveView({
    http,
    logger,
    backoff: { initialMs: 10, maxMs: 40 },
    discoveryIntervalMs: 60_000,
    watchTimeoutSeconds: 60,
    ...(clock ? { now: () => clock.now } : {}),
    ...opts.view,
  });
  const h: Harness = { server, http, view, logs, ...(clock ? { clock } : {}) };
  running.push(h);
  if (opts.start !== false) view.start();
  return h;
}

function seedBasics(s: FakeApiServer): void {
  s.addObject({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'app', labels: { 'flomesh.io/monitored-by': 'fsm' } } });
  s.addObject({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'fsm-system' } });
  s.addObject({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'app' }, spec: { ports: [{ port: 80 }] } });
  s.addObject({ apiVersion: 'policy.flomesh.io/v1alpha1', kind: 'Egress', metadata: { name: 'out', namespace: 'app' }, spec: { from: 'fsm' } });
  s.addObject({ apiVersion: 'policy.openservicemesh.io/v1alpha1', kind: 'Egress', metadata: { name: 'out', namespace: 'app' }, spec: { from: 'osm' } });
  s.addObject({ apiVersion: 'config.flomesh.io/v1alpha3', kind: 'MeshConfig', metadata: { name: 'fsm-mesh-config', namespace: 'fsm-system' }, spec: { sidecar: {} } });
  s.addObject({ apiVersion: 'plugin.flomesh.io/v1alpha1', kind: 'Plugin', metadata: { name: 'p1' }, spec: { priority: 1 } });
}

const watchesOn = (s: FakeApiServer, plural: string): number => s.watchCount(plural);

describe('LiveView', () => {
  it('is not synced before the first lists, then shows every object by Kind with apiVersion and kind set', async () => {
    const { server, view } = await setup({ seed: seedBasics, start: false });
    expect(view.ready()).toBe(false);
    view.start();
    expect(view.ready()).toBe(false);
    expect(await view.whenReady(Date.now() + 15_000)).toBe(true);
    expect(view.ready()).toBe(true);

    expect(view.get('Namespace', '', 'app')?.metadata?.labels).toEqual({ 'flomesh.io/monitored-by': 'fsm' });
    expect(view.get('Namespace', '', 'app')).toMatchObject({ apiVersion: 'v1', kind: 'Namespace' });
    expect(view.get('Service', 'app', 'web')).toMatchObject({ apiVersion: 'v1', kind: 'Service', spec: { ports: [{ port: 80 }] } });
    // same Kind, same namespace/name, two groups: both kept
    const egresses = view.list('Egress', 'app');
    expect(egresses.map((e) => e.apiVersion).sort()).toEqual(['policy.flomesh.io/v1alpha1', 'policy.openservicemesh.io/v1alpha1']);
    expect(view.list('Egress', 'other')).toEqual([]);
    expect(view.get('MeshConfig', 'fsm-system', 'fsm-mesh-config')).toMatchObject({ apiVersion: 'config.flomesh.io/v1alpha3', kind: 'MeshConfig' });
    expect(view.get('Plugin', '', 'p1')?.kind).toBe('Plugin');
    expect(view.list('TrafficSplit')).toEqual([]);

    // lists over all namespaces, watches from the list's resourceVersion with bookmarks
    const svcWatch = server.requestsFor({ verb: 'watch', resource: 'services' })[0];
    expect(svcWatch?.path).toBe('/api/v1/services');
    expect(svcWatch?.query).toMatchObject({ allowWatchBookmarks: 'true', watch: 'true' });
    expect(svcWatch?.query.resourceVersion).toMatch(/^\d+$/);
    // CRDs that are not installed are never listed and do not block readiness
    expect(server.requests.some((r) => r.path.includes('split.smi-spec.io'))).toBe(false);
    expect(server.requestsFor({ verb: 'list', resource: 'trafficsplits' })).toHaveLength(0);
    expect(view.informerStatus().map((i) => `${i.plural}.${i.group}`).sort()).toEqual(
      ['egresses.policy.flomesh.io', 'egresses.policy.openservicemesh.io', 'meshconfigs.config.flomesh.io', 'namespaces.', 'plugins.plugin.flomesh.io', 'services.'].sort(),
    );
    expect(server.requests[0]?.authorization).toBe('Bearer test-token');
  });

  it('applies ADDED, MODIFIED and DELETED events', async () => {
    const { server, view } = await setup({ seed: seedBasics });
    await view.whenReady(Date.now() + 15_000);
    await waitFor(() => watchesOn(server, 'services') === 1 && watchesOn(server, 'egresses') === 2);

    server.addObject({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'api', namespace: 'app' }, spec: { ports: [{ port: 8080 }] } });
    await waitFor(() => view.get('Service', 'app', 'api'));
    expect(view.get('Service', 'app', 'api')?.kind).toBe('Service');

    server.modifyObject('v1', 'Service', 'app', 'api', (o) => void ((o.spec as { ports: unknown[] }).ports = [{ port: 9090 }]));
    await waitFor(() => (view.get('Service', 'app', 'api')?.spec as { ports: Array<{ port: number }> }).ports[0]?.port === 9090);

    server.deleteObject('policy.openservicemesh.io/v1alpha1', 'Egress', 'app', 'out');
    await waitFor(() => view.list('Egress').length === 1);
    expect(view.list('Egress')[0]?.apiVersion).toBe('policy.flomesh.io/v1alpha1');

    server.deleteObject('v1', 'Service', 'app', 'api');
    await waitFor(() => !view.get('Service', 'app', 'api'));
    // no relist was needed
    expect(server.requestsFor({ verb: 'list', resource: 'services' })).toHaveLength(1);
  });

  it('a BOOKMARK moves the resourceVersion and leaves the objects alone', async () => {
    const { server, view } = await setup({ seed: seedBasics });
    await view.whenReady(Date.now() + 15_000);
    await waitFor(() => watchesOn(server, 'services') === 1);
    const before = view.list('Service');
    const rv = server.bookmark('services');
    await waitFor(() => view.informerStatus().find((i) => i.plural === 'services')?.resourceVersion === rv);
    expect(view.list('Service')).toEqual(before);
    expect(view.get('Service', 'app', 'web')).toBe(before[0]);
    // the next watch resumes from the bookmark
    server.dropWatches('services');
    await waitFor(() => server.requestsFor({ verb: 'watch', resource: 'services' }).length === 2);
    expect(server.requestsFor({ verb: 'watch', resource: 'services' })[1]?.query.resourceVersion).toBe(rv);
    expect(server.requestsFor({ verb: 'list', resource: 'services' })).toHaveLength(1);
  });

  it('an ERROR 410 event makes it relist; changes missed meanwhile are correct afterwards', async () => {
    const { server, view } = await setup({ seed: seedBasics });
    await view.whenReady(Date.now() + 15_000);
    await waitFor(() => watchesOn(server, 'services') === 1);
    server.silently(() => {
      server.addObject({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'missed', namespace: 'app' } });
      server.deleteObject('v1', 'Service', 'app', 'web');
    });
    expect(view.get('Service', 'app', 'web')).toBeDefined();
    server.sendWatchError({ plural: 'services' });
    await waitFor(() => server.requestsFor({ verb: 'list', resource: 'services' }).length === 2);
    await waitFor(() => view.get('Service', 'app', 'missed') && !view.get('Service', 'app', 'web'));
    await waitFor(() => watchesOn(server, 'services') === 1);
    // and it keeps following events
    server.addObject({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'after', namespace: 'app' } });
    await waitFor(() => view.get('Service', 'app', 'after'));
  });

  for (const mode of ['event', 'status'] as const) {
    it(`a watch from an expired resourceVersion (410 as ${mode}) relists`, async () => {
      const { server, view, logs } = await setup({ seed: seedBasics, server: { expiredWatch: mode } });
      await view.whenReady(Date.now() + 15_000);
      await waitFor(() => watchesOn(server, 'namespaces') === 1);
      server.silently(() => {
        server.modifyObject('v1', 'Namespace', undefined, 'app', (o) => void (o.metadata!.labels = { changed: 'yes' }));
      });
      server.expireResourceVersions();
      server.dropWatches('namespaces');
      await waitFor(() => view.get('Namespace', '', 'app')?.metadata?.labels?.changed === 'yes');
      // first, the expired re-watch, the one after the relist (which may start just after the relist lands)
      await waitFor(() => server.requestsFor({ verb: 'watch', resource: 'namespaces' }).length >= 3);
      expect(server.requestsFor({ verb: 'list', resource: 'namespaces' })).toHaveLength(2);
      expect(logs.some((l) => String(l.msg).includes('410'))).toBe(true);
    });
  }

  it('reconnects after the connections drop, from the last resourceVersion, without relisting', async () => {
    const { server, view } = await setup({ seed: seedBasics });
    await view.whenReady(Date.now() + 15_000);
    await waitFor(() => server.watchCount() === 6);
    server.addObject({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'one', namespace: 'app' } });
    await waitFor(() => view.get('Service', 'app', 'one'));
    const lastRv = view.informerStatus().find((i) => i.plural === 'services')?.resourceVersion;
    expect(server.dropWatches()).toBe(6);
    // an event while disconnected is replayed from history on re-watch
    server.addObject({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'two', namespace: 'app' } });
    await waitFor(() => server.watchCount() === 6);
    await waitFor(() => view.get('Service', 'app', 'two'));
    expect(server.requestsFor({ verb: 'watch', resource: 'services' })[1]?.query.resourceVersion).toBe(lastRv);
    expect(server.requestsFor({ verb: 'list' })).toHaveLength(6);
  });

  it('retries failing lists with backoff and stays unsynced until they succeed', async () => {
    const { server, view, logs } = await setup({ seed: seedBasics, start: false, view: { backoff: { initialMs: 40, maxMs: 200 } } });
    server.failLists(3, { resource: 'services' });
    view.start();
    await waitFor(() => server.requestsFor({ verb: 'list', resource: 'namespaces' }).length === 1 && server.requestsFor({ verb: 'list', resource: 'services' }).length >= 2);
    expect(view.ready()).toBe(false);
    expect(view.get('Namespace', '', 'app')).toBeDefined(); // other informers are not held back
    expect(await view.whenReady(Date.now() + 15_000)).toBe(true);
    const lists = server.requestsFor({ verb: 'list', resource: 'services' });
    expect(lists).toHaveLength(4);
    // 3 failures, growing backoff: at least 20, 40 and 80 ms (equal jitter: half of 40, 80, 160) between tries.
    // Lower bounds only: a busy machine can stretch a wait, never shorten it.
    const gaps = lists.slice(1).map((l, i) => l.at - lists[i]!.at);
    expect(gaps[0]!).toBeGreaterThanOrEqual(20);
    expect(gaps[1]!).toBeGreaterThanOrEqual(40);
    expect(gaps[2]!).toBeGreaterThanOrEqual(80);
    // one line for the reason, the retries of the same reason at debug, one line when it works again
    expect(logs.filter((l) => l.msg === 'list failed; retrying')).toHaveLength(1);
    expect(logs.filter((l) => l.msg === 'still failing; retrying')).toHaveLength(2);
    expect(logs.filter((l) => l.msg === 'following the server again')).toHaveLength(1);
    expect(view.get('Service', 'app', 'web')).toBeDefined();
  });

  it('keeps retrying discovery until the API answers', async () => {
    const { server, view } = await setup({ seed: seedBasics, start: false });
    server.failRequests({ count: 2, verb: 'discovery', path: '/apis', status: 503 });
    view.start();
    expect(await view.whenReady(Date.now() + 15_000)).toBe(true);
    expect(server.requestsFor({ verb: 'discovery' }).filter((r) => r.path === '/apis').length).toBe(3);
    expect(view.get('Egress', 'app', 'out')).toBeDefined();
  });

  it('picks up a CRD installed later (periodic discovery) and drops one that is removed', async () => {
    const { server, view } = await setup({ seed: seedBasics, view: { discoveryIntervalMs: 50 } });
    expect(await view.whenReady(Date.now() + 15_000)).toBe(true);
    expect(view.list('TrafficSplit')).toEqual([]);
    server.addResource(SPLIT);
    server.addObject({ apiVersion: 'split.smi-spec.io/v1alpha4', kind: 'TrafficSplit', metadata: { name: 's', namespace: 'app' }, spec: { service: 'web' } });
    await waitFor(() => view.get('TrafficSplit', 'app', 's'));
    expect(view.get('TrafficSplit', 'app', 's')?.apiVersion).toBe('split.smi-spec.io/v1alpha4');
    expect(view.ready()).toBe(true);
    server.addObject({ apiVersion: 'split.smi-spec.io/v1alpha4', kind: 'TrafficSplit', metadata: { name: 't', namespace: 'app' } });
    await waitFor(() => view.get('TrafficSplit', 'app', 't'));

    server.removeResource('split.smi-spec.io', 'v1alpha4', 'trafficsplits');
    await waitFor(() => view.list('TrafficSplit').length === 0);
    expect(view.informerStatus().some((i) => i.plural === 'trafficsplits')).toBe(false);
  });

  it('follows the preferred version of a group', async () => {
    const v1 = { ...MESHCONFIG, version: 'v1alpha2' };
    const { server, view } = await setup({ server: { resources: [...CORE_RESOURCES, v1, MESHCONFIG] }, view: { discoveryIntervalMs: 50 } });
    // v1alpha2 registered first: preferred
    await view.whenReady(Date.now() + 15_000);
    expect(view.informerStatus().find((i) => i.plural === 'meshconfigs')?.version).toBe('v1alpha2');
    server.addObject({ apiVersion: 'config.flomesh.io/v1alpha3', kind: 'MeshConfig', metadata: { name: 'm', namespace: 'fsm-system' } });
    server.setPreferredVersion('config.flomesh.io', 'v1alpha3');
    await waitFor(() => view.get('MeshConfig', 'fsm-system', 'm'));
    expect(view.get('MeshConfig', 'fsm-system', 'm')?.apiVersion).toBe('config.flomesh.io/v1alpha3');
  });

  it('after an API server restart every watch is answered 410 and the view relists at once: no backoff, new objects seen', async () => {
    // The backoff is an hour: only an immediate relist after 410 can bring the new object in within the test.
    const { server, view } = await setup({ seed: seedBasics, view: { backoff: { initialMs: 3_600_000, maxMs: 3_600_000 } } });
    expect(await view.whenReady(Date.now() + 15_000)).toBe(true);
    await waitFor(() => server.watchCount() === 6, { what: 'every watch open' });
    const lists = server.requestsFor({ verb: 'list' }).length;
    await server.restart();
    server.addObject({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'after-restart', namespace: 'app' } });
    await waitFor(() => view.get('Service', 'app', 'after-restart'), { what: 'the object created after the restart' });
    await waitFor(() => ['Namespace', 'Service', 'Egress', 'MeshConfig', 'Plugin'].every((k) => view.kindCurrent(k)), { what: 'every kind back in sync' });
    expect(server.requestsFor({ verb: 'list' }).length).toBeGreaterThan(lists);
  });

  it('a kind whose watch broke is not in sync until the server answers again; freshen reads it at once', async () => {
    const { server, view } = await setup({ seed: seedBasics, view: { backoff: { initialMs: 3_600_000, maxMs: 3_600_000 } } });
    expect(await view.whenReady(Date.now() + 15_000)).toBe(true);
    await waitFor(() => view.kindCurrent('Service') && server.watchCount('services') === 1);
    // the connections drop and the next attempts fail: the reflectors sleep in their (hour-long) backoff
    server.failRequests({ count: 1000, resource: 'services', status: 503 });
    server.dropConnections();
    await waitFor(() => !view.kindCurrent('Service'), { what: 'Service to fall behind' });
    expect(await view.freshen(['Service', 'Namespace'], Date.now() + 200)).toContain('Service');
    // the server recovers (and changed meanwhile): freshen does not wait out the backoff
    server.clearFailures();
    server.addObject({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'meanwhile', namespace: 'app' } });
    expect(await view.freshen(['Service'], Date.now() + 15_000)).toEqual([]);
    expect(view.kindCurrent('Service')).toBe(true);
    await waitFor(() => view.get('Service', 'app', 'meanwhile'), { what: 'the Service created while the watch was down' });
    // a kind the cluster does not serve counts as in sync (nothing to wait for)
    expect(view.kindCurrent('TrafficSplit')).toBe(true);
  });

  it('pages through long lists', async () => {
    const { server, view } = await setup({
      view: { pageSize: 2 },
      seed: (s) => {
        for (let i = 0; i < 5; i++) s.addObject({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns-${i}` } });
      },
    });
    await view.whenReady(Date.now() + 15_000);
    expect(view.list('Namespace')).toHaveLength(5);
    const lists = server.requestsFor({ verb: 'list', resource: 'namespaces' });
    expect(lists).toHaveLength(3);
    expect(lists[0]?.query.limit).toBe('2');
    expect(lists[1]?.query.continue).toBeTruthy();
  });

  it('reports the age of the last event per kind (lists and bookmarks count) through the metrics', async () => {
    const metrics = new Metrics();
    const registry = metrics.registry;
    const { server, view, clock } = await setup({ seed: seedBasics, clock: true });
    metrics.observeInformers(view);
    await view.whenReady(Date.now() + 15_000);
    await waitFor(() => watchesOn(server, 'services') === 1);
    expect(view.lastEventAges().get('Service')).toBe(0);
    expect(view.lastEventAges().has('TrafficSplit')).toBe(false);
    clock!.now += 5000;
    expect(view.lastEventAges().get('Service')).toBe(5);
    expect(await registry.metrics()).toContain('mesh_informer_last_event_age_seconds{kind="Service"} 5');
    server.bookmark('services');
    await waitFor(() => view.lastEventAges().get('Service') === 0);
    expect(view.lastEventAges().get('Namespace')).toBe(5);
    // Egress: two informers, the most recent event wins
    clock!.now += 1000;
    server.addObject({ apiVersion: 'policy.openservicemesh.io/v1alpha1', kind: 'Egress', metadata: { name: 'x', namespace: 'app' } });
    await waitFor(() => view.lastEventAges().get('Egress') === 0);
    const text = await registry.metrics();
    expect(text).toContain('mesh_informer_last_event_age_seconds{kind="Namespace"} 6');
    expect(text).toContain('mesh_informer_last_event_age_seconds{kind="Egress"} 0');
    await view.stop();
  });

  it('names the resource it cannot list and the refusal while not ready, says it once, and recovers when allowed', async () => {
    const everythingBut = (denied: string): PolicyRule[] => [
      { apiGroups: ['*'], resources: ['*'], verbs: ['get', 'watch'] },
      { apiGroups: [''], resources: ['namespaces', 'services'], verbs: ['list'] },
      { apiGroups: ['policy.flomesh.io', 'policy.openservicemesh.io', 'config.flomesh.io', 'plugin.flomesh.io'], resources: ['egresses', 'meshconfigs', 'plugins'].filter((r) => r !== denied), verbs: ['list'] },
    ];
    const { server, view, logs } = await setup({ seed: seedBasics, start: false });
    server.authorize({ clusterRules: everythingBut('plugins') });
    view.start();
    await waitFor(() => view.notReady().length === 1 && view.notReady()[0]!.includes('403'), { what: 'the refusal reported' });
    expect(view.notReady()).toEqual([
      `plugins.v1alpha1.plugin.flomesh.io not listed yet: GET /apis/plugin.flomesh.io/v1alpha1/plugins: 403 plugins.plugin.flomesh.io is forbidden: User "${DEFAULT_USER}" cannot list resource "plugins" in API group "plugin.flomesh.io" at the cluster scope`,
    ]);
    // retried every few ms here (the backoff is 10–40 ms), said once
    await waitFor(() => server.requestsFor({ verb: 'list', resource: 'plugins' }).length >= 5, { what: 'several retries' });
    expect(logs.filter((l) => l.msg === 'list failed; retrying' && String(l.resource).endsWith('/plugins'))).toHaveLength(1);
    expect(view.ready()).toBe(false);
    server.authorize(undefined);
    expect(await view.whenReady(Date.now() + 15_000)).toBe(true);
    expect(view.notReady()).toEqual([]);
    expect(logs.filter((l) => l.msg === 'following the server again' && String(l.resource).endsWith('/plugins'))).toHaveLength(1);
  });

  it('learns the API server version with every discovery, and reports a change', async () => {
    const { server, view } = await setup({ seed: seedBasics, server: { kubernetesVersion: { major: '1', minor: '32+' } }, view: { discoveryIntervalMs: 50 } });
    const seen: number[] = [];
    view.onVersion((m) => seen.push(m));
    expect(await view.whenReady(Date.now() + 15_000)).toBe(true);
    expect(view.kubernetesMinor()).toBe(32);
    server.setKubernetesVersion({ major: '1', minor: '33' });
    await waitFor(() => view.kubernetesMinor() === 33, { what: 'the upgrade seen' });
    expect(seen).toEqual([32, 33]);
  });

  it('fetchNamespace GETs a namespace missing from the cache and caches it', async () => {
    const { server, view } = await setup({ seed: seedBasics });
    await view.whenReady(Date.now() + 15_000);
    server.silently(() => server.addObject({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'fresh', labels: { a: 'b' } } }));
    expect(view.get('Namespace', '', 'fresh')).toBeUndefined();
    const ns = await view.fetchNamespace('fresh');
    expect(ns).toMatchObject({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'fresh', labels: { a: 'b' } } });
    expect(view.get('Namespace', '', 'fresh')).toEqual(ns);
    expect(server.requestsFor({ verb: 'get', resource: 'namespaces' }).map((r) => r.path)).toEqual(['/api/v1/namespaces/fresh']);

    expect(await view.fetchNamespace('absent')).toBeUndefined();
    server.failRequests({ count: 1, verb: 'get', status: 500 });
    await expect(view.fetchNamespace('app')).rejects.toBeInstanceOf(KubeApiError);
  });

  it('fetchNamespace never replaces a newer cached copy with an older answer (the watch got there first)', async () => {
    const { server, view } = await setup({ seed: seedBasics });
    await view.whenReady(Date.now() + 15_000);
    const cached = view.get('Namespace', '', 'app')!;
    server.modifyObject('v1', 'Namespace', undefined, 'app', (o) => void (o.metadata!.labels = { fresh: 'yes' }));
    await waitFor(() => view.get('Namespace', '', 'app')?.metadata?.labels?.fresh === 'yes', { what: 'the watch to bring the newer copy' });
    // an answer that left the API server before that change (its resourceVersion is the older one)
    const stale = { ...structuredClone(cached), metadata: { ...structuredClone(cached.metadata), labels: { stale: 'yes' } } };
    const http = (view as unknown as { http: KubeHttp }).http;
    const real = http.getOptional.bind(http);
    http.getOptional = (async (req: Parameters<KubeHttp['getOptional']>[0]) => (req.path === '/api/v1/namespaces/app' ? stale : real(req))) as KubeHttp['getOptional'];
    expect((await view.fetchNamespace('app'))?.metadata?.labels).toEqual({ stale: 'yes' });
    expect(view.get('Namespace', '', 'app')?.metadata?.labels).toEqual({ fresh: 'yes' });
  });

  it('stop() ends every watch and timer; nothing is called afterwards', async () => {
    const { server, view } = await setup({ seed: seedBasics, view: { discoveryIntervalMs: 30 } });
    await view.whenReady(Date.now() + 15_000);
    await waitFor(() => server.watchCount() === 6);
    await view.stop();
    await waitFor(() => server.watchCount() === 0);
    const n = server.requests.length;
    // A negative check: ten discovery periods pass and nothing may be sent. A slow machine can only make
    // this window less strict; it cannot fail a correct stop().
    await quietPeriod(300);
    expect(server.requests.length).toBe(n);
    expect(await view.whenReady(Date.now() + 10)).toBe(true);
  });

  it('stop() while lists are failing and the server hangs returns promptly', async () => {
    // The backoff is an hour: stop() returns within the test's timeout only if it wakes the sleeping loops.
    const { server, view } = await setup({ seed: seedBasics, start: false, view: { backoff: { initialMs: 3_600_000, maxMs: 3_600_000 } } });
    server.failLists(10);
    view.start();
    await waitFor(() => server.requestsFor({ verb: 'list' }).length >= 2);
    await view.stop();
    expect(view.ready()).toBe(false);
  });

  it('watches Namespaces, Services and every kind of the KINDS table in every group by default', () => {
    const names = defaultResources().map((r) => `${r.plural}.${r.group}`);
    expect(names).toContain('namespaces.');
    expect(names).toContain('services.');
    expect(names).toContain('meshconfigs.config.flomesh.io');
    expect(names).toContain('meshconfigs.config.openservicemesh.io');
    expect(names).toContain('egresses.policy.openservicemesh.io');
    expect(names).toContain('serviceimports.multicluster.flomesh.io');
    expect(names).toContain('clusters.flomesh.io');
    expect(new Set(names).size).toBe(names.length);
  });
});
