// Edges of three small controller modules. snapshot.test.ts only looks at the audit's lists on a real fake API
// server; serving-manager.test.ts only uses the Secret slot through the certificate manager; side-ports.test.ts never
// creates a real ApiAccessReview. Here a scripted in-memory KubeHttp answers, so every request and result is asserted whole.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import { KubeApiError, KubeHttp, type KubeRequest } from '../../src/kube/http.js';
import { KubeConfigError } from '../../src/kube/kubeconfig.js';
import { SERVICE_ACCOUNT_DIR_TEST_VARIABLE } from '../../src/kube/in-cluster.js';
import { defaultResources, type ResourceSpec } from '../../src/kube/discovery.js';
import { listBootstrapSecretNames, listPods, PER_NAMESPACE_LISTS_UP_TO, readLiveState, readSnapshot, serverMinor } from '../../src/controllers/snapshot.js';
import { apiSecretSlot } from '../../src/controllers/secret-slot.js';
import { ApiAccessReview, type ReviewedUser } from '../../src/controllers/access-review.js';
import { meshIdentity } from '../../src/mesh/flavor.js';
import type { KubeObject } from '../../src/mesh/objects.js';
import { FakeApiServer } from '../support/fake-apiserver.js';

/** One request as the scripted client saw it (query entries that are undefined left out). */
interface Sent {
  readonly via: 'json' | 'getOptional';
  readonly method: string;
  readonly path: string;
  readonly query?: Record<string, string | number | boolean>;
  readonly body?: unknown;
  readonly accept?: string;
  readonly timeoutMs?: number;
}
type Route = (req: Sent) => unknown;

/**
 * A KubeHttp standing in for the API server: answers by `route` on the next turn of the event loop (an Error or a
 * `{ thrown }` answer is thrown), records everything.
 */
class ScriptedHttp {
  readonly sent: Sent[] = [];
  /** the raw bodies as handed over (to check they are copies, not the caller's objects) */
  readonly rawBodies: unknown[] = [];
  inFlight = 0;
  maxInFlight = 0;
  readonly http: KubeHttp;

  constructor(private readonly route: Route) {
    this.http = {
      json: (r: KubeRequest) => this.handle('json', r),
      getOptional: (r: KubeRequest) => this.handle('getOptional', r),
    } as unknown as KubeHttp;
  }

  paths(): string[] {
    return this.sent.map((s) => s.path);
  }

  private async handle(via: Sent['via'], req: KubeRequest): Promise<unknown> {
    const query = req.query ? Object.fromEntries(Object.entries(req.query).filter(([, v]) => v !== undefined)) : undefined;
    const s: Sent = {
      via,
      method: req.method ?? 'GET',
      path: req.path,
      ...(query ? { query: query as Record<string, string | number | boolean> } : {}),
      ...(req.body !== undefined ? { body: structuredClone(req.body) } : {}),
      ...(req.accept !== undefined ? { accept: req.accept } : {}),
      ...(req.timeoutMs !== undefined ? { timeoutMs: req.timeoutMs } : {}),
    };
    this.sent.push(s);
    if (req.body !== undefined) this.rawBodies.push(req.body);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise((r) => setImmediate(r));
      const answer = await this.route(s);
      if (answer instanceof Error) throw answer;
      if (typeof answer === 'object' && answer !== null && 'thrown' in answer) throw (answer as { thrown: unknown }).thrown;
      return answer === undefined ? undefined : structuredClone(answer);
    } finally {
      this.inFlight--;
    }
  }
}

/** Answers from a table of paths (an Error in it is thrown); an unknown path is a 404 (undefined for getOptional). */
const table =
  (paths: Record<string, unknown>): Route =>
  (s) => {
    if (Object.hasOwn(paths, s.path)) return paths[s.path];
    if (s.via === 'getOptional') return undefined;
    throw new KubeApiError(`GET ${s.path}: 404 not found`, 404, 'NotFound');
  };

const list = (...items: KubeObject[]): { items: KubeObject[]; metadata: { resourceVersion: string } } => ({ items, metadata: { resourceVersion: '1' } });
const apiError = (status: number, what = 'GET /x'): KubeApiError => new KubeApiError(`${what}: ${status}`, status);

// ---------------------------------------------------------------------------------------------------------------------

describe('snapshot.ts', () => {
  const NAMESPACES: ResourceSpec = { group: '', kind: 'Namespace', plural: 'namespaces' };
  const EGRESS: ResourceSpec = { group: 'policy.flomesh.io', kind: 'Egress', plural: 'egresses' };
  const FOO: ResourceSpec = { group: 'example.io', kind: 'Foo', plural: 'foos' };
  const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

  /** a cluster serving Namespaces and policy.flomesh.io/v1alpha1 Egresses (not example.io) */
  const cluster = (extra: Record<string, unknown> = {}): ScriptedHttp =>
    new ScriptedHttp(
      table({
        '/apis': { groups: [{ name: 'policy.flomesh.io', versions: [{ version: 'v1alpha1' }], preferredVersion: { version: 'v1alpha1' } }] },
        '/apis/policy.flomesh.io/v1alpha1': { resources: [{ name: 'egresses', kind: 'Egress' }] },
        '/api/v1/namespaces': list({ metadata: { name: 'ns1', managedFields: [{ manager: 'kubectl' }] }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } }),
        '/apis/policy.flomesh.io/v1alpha1/egresses': list({ metadata: { name: 'e', namespace: 'ns1', annotations: { [LAST_APPLIED]: '{}', keep: 'me' } }, spec: { hosts: ['a'] } }),
        ...extra,
      }),
    );

  describe('readSnapshot', () => {
    it('discovers the named groups, lists core and served resources with their versions, and names the rest not served', async () => {
      const c = cluster();
      const snap = await readSnapshot(c.http, { resources: [NAMESPACES, EGRESS, FOO] });
      expect(c.sent).toEqual([
        { via: 'getOptional', method: 'GET', path: '/apis', timeoutMs: 60_000 },
        { via: 'getOptional', method: 'GET', path: '/apis/policy.flomesh.io/v1alpha1', timeoutMs: 60_000 },
        { via: 'json', method: 'GET', path: '/api/v1/namespaces', query: { limit: 500 }, timeoutMs: 60_000 },
        { via: 'json', method: 'GET', path: '/apis/policy.flomesh.io/v1alpha1/egresses', query: { limit: 500 }, timeoutMs: 60_000 },
      ]);
      expect(snap.notServed).toEqual(['foos.example.io']);
      // shaped for the view: apiVersion and kind set, status, managedFields and last-applied dropped
      expect(snap.view.list('Namespace')).toStrictEqual([{ metadata: { name: 'ns1' }, spec: { finalizers: ['kubernetes'] }, apiVersion: 'v1', kind: 'Namespace' }]);
      expect(snap.view.list('Egress')).toStrictEqual([{ metadata: { name: 'e', namespace: 'ns1', annotations: { keep: 'me' } }, spec: { hosts: ['a'] }, apiVersion: 'policy.flomesh.io/v1alpha1', kind: 'Egress' }]);
      expect(snap.view.list('Foo')).toEqual([]);
    });

    it('passes its timeout to discovery and to every list, and its page size to the lists', async () => {
      const c = cluster();
      await readSnapshot(c.http, { resources: [NAMESPACES, EGRESS], timeoutMs: 1234, pageSize: 7 });
      expect(c.sent.map((s) => [s.path, s.timeoutMs, s.query?.limit])).toEqual([
        ['/apis', 1234, undefined],
        ['/apis/policy.flomesh.io/v1alpha1', 1234, undefined],
        ['/api/v1/namespaces', 1234, 7],
        ['/apis/policy.flomesh.io/v1alpha1/egresses', 1234, 7],
      ]);
    });

    it('a core resource is listed at v1 even though discovery of the groups does not name it', async () => {
      const c = cluster({ '/apis': { groups: [] } });
      const snap = await readSnapshot(c.http, { resources: [NAMESPACES, EGRESS] });
      expect(c.paths()).toEqual(['/apis', '/api/v1/namespaces']);
      expect(snap.notServed).toEqual(['egresses.policy.flomesh.io']);
      expect(snap.view.list('Namespace').map((n) => n.metadata?.name)).toEqual(['ns1']);
    });

    it('a resource asked for twice is read and reported once', async () => {
      const c = cluster();
      const snap = await readSnapshot(c.http, { resources: [NAMESPACES, FOO, EGRESS, NAMESPACES, EGRESS, FOO] });
      expect(c.paths().filter((p) => p === '/api/v1/namespaces' || p.endsWith('/egresses'))).toEqual(['/api/v1/namespaces', '/apis/policy.flomesh.io/v1alpha1/egresses']);
      expect(snap.notServed).toEqual(['foos.example.io']);
    });

    it('without a resource list: Namespaces, Services and every group of the kind table', async () => {
      const c = cluster({ '/apis': { groups: [] }, '/api/v1/services': list({ metadata: { name: 's', namespace: 'ns1' } }) });
      const snap = await readSnapshot(c.http);
      expect(c.paths()).toEqual(['/apis', '/api/v1/namespaces', '/api/v1/services']);
      const groupSpecs = defaultResources().filter((s) => s.group !== '');
      expect(groupSpecs.length).toBeGreaterThan(10);
      expect(snap.notServed).toEqual(groupSpecs.map((s) => `${s.plural}.${s.group}`));
      expect(snap.view.list('Service')).toStrictEqual([{ metadata: { name: 's', namespace: 'ns1' }, apiVersion: 'v1', kind: 'Service' }]);
    });

    it('one kind served under two groups keeps both groups\' objects of the same name', async () => {
      const c = new ScriptedHttp(
        table({
          '/apis': {
            groups: [
              { name: 'flomesh.io', versions: [{ version: 'v1alpha1' }], preferredVersion: { version: 'v1alpha1' } },
              { name: 'multicluster.flomesh.io', versions: [{ version: 'v1alpha1' }], preferredVersion: { version: 'v1alpha1' } },
            ],
          },
          '/apis/flomesh.io/v1alpha1': { resources: [{ name: 'serviceimports' }] },
          '/apis/multicluster.flomesh.io/v1alpha1': { resources: [{ name: 'serviceimports' }] },
          '/apis/flomesh.io/v1alpha1/serviceimports': list({ metadata: { name: 'svc', namespace: 'a' }, spec: { from: 'flomesh' } }),
          '/apis/multicluster.flomesh.io/v1alpha1/serviceimports': list({ metadata: { name: 'svc', namespace: 'a' }, spec: { from: 'multicluster' } }),
        }),
      );
      const snap = await readSnapshot(c.http, {
        resources: [
          { group: 'multicluster.flomesh.io', kind: 'ServiceImport', plural: 'serviceimports' },
          { group: 'flomesh.io', kind: 'ServiceImport', plural: 'serviceimports' },
        ],
      });
      expect(snap.notServed).toEqual([]);
      expect(snap.view.list('ServiceImport').map((o) => [o.apiVersion, (o.spec as { from: string }).from]).sort()).toEqual([
        ['flomesh.io/v1alpha1', 'flomesh'],
        ['multicluster.flomesh.io/v1alpha1', 'multicluster'],
      ]);
    });

    const manyCoreSpecs = Array.from({ length: 10 }, (_, i): ResourceSpec => ({ group: '', kind: `K${i}`, plural: `k${i}s` }));
    const manyCore = (): ScriptedHttp =>
      new ScriptedHttp((s) => {
        if (s.path === '/apis') return { groups: [] };
        const i = /^\/api\/v1\/k(\d+)s$/.exec(s.path)?.[1];
        return list({ metadata: { name: `o${i}` } });
      });

    it('lists at most 8 resources at a time by default, and every one of them', async () => {
      const c = manyCore();
      const snap = await readSnapshot(c.http, { resources: manyCoreSpecs });
      expect(c.maxInFlight).toBe(8);
      expect(c.paths()).toEqual(['/apis', ...manyCoreSpecs.map((s) => `/api/v1/${s.plural}`)]);
      expect(manyCoreSpecs.map((s) => snap.view.list(s.kind).map((o) => o.metadata?.name))).toEqual(manyCoreSpecs.map((_, i) => [`o${i}`]));
    });

    it('the concurrency option bounds the lists running at once', async () => {
      const c = manyCore();
      await readSnapshot(c.http, { resources: manyCoreSpecs, concurrency: 3 });
      expect(c.maxInFlight).toBe(3);
      expect(c.sent).toHaveLength(11);
    });

    it('a refused list rejects the snapshot with that error', async () => {
      const refused = apiError(403, 'GET /apis/policy.flomesh.io/v1alpha1/egresses');
      const c = cluster({ '/apis/policy.flomesh.io/v1alpha1/egresses': refused });
      await expect(readSnapshot(c.http, { resources: [NAMESPACES, EGRESS] })).rejects.toBe(refused);
    });
  });

  describe('listPods', () => {
    const podsOf = (s: Sent): KubeObject[] => {
      const ns = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(s.path)?.[1];
      return [{ metadata: { name: 'p', namespace: ns ?? 'x', managedFields: [{}], annotations: { [LAST_APPLIED]: '{}' } }, status: { phase: 'Running' } }];
    };
    const namespaces = (n: number): string[] => Array.from({ length: n }, (_, i) => `ns-${i}`);

    it('one list per namespace with the default timeout; pods keep status and lose the metadata noise', async () => {
      const c = new ScriptedHttp((s) => list(...podsOf(s)));
      const pods = await listPods(c.http, ['a', 'b']);
      expect(c.sent).toEqual([
        { via: 'json', method: 'GET', path: '/api/v1/namespaces/a/pods', query: { limit: 500 }, timeoutMs: 60_000 },
        { via: 'json', method: 'GET', path: '/api/v1/namespaces/b/pods', query: { limit: 500 }, timeoutMs: 60_000 },
      ]);
      expect(pods).toStrictEqual(
        ['a', 'b'].map((ns) => ({ metadata: { name: 'p', namespace: ns }, status: { phase: 'Running' }, apiVersion: 'v1', kind: 'Pod' })),
      );
    });

    it('the timeout option goes on every list', async () => {
      const c = new ScriptedHttp((s) => list(...podsOf(s)));
      await listPods(c.http, ['a', 'b'], { timeoutMs: 2500 });
      expect(c.sent.map((s) => s.timeoutMs)).toEqual([2500, 2500]);
    });

    it(`exactly ${PER_NAMESPACE_LISTS_UP_TO} namespaces still get a list each`, async () => {
      const c = new ScriptedHttp((s) => list(...podsOf(s)));
      const pods = await listPods(c.http, namespaces(PER_NAMESPACE_LISTS_UP_TO));
      expect(PER_NAMESPACE_LISTS_UP_TO).toBe(50);
      expect(c.paths()).toEqual(namespaces(50).map((ns) => `/api/v1/namespaces/${ns}/pods`));
      expect(pods).toHaveLength(50);
    });

    it('one namespace more: a single cluster-wide list, filtered to the namespaces asked for', async () => {
      const wanted = namespaces(PER_NAMESPACE_LISTS_UP_TO + 1);
      const c = new ScriptedHttp(() =>
        list(
          { metadata: { name: 'p', namespace: 'ns-0' } },
          { metadata: { name: 'p', namespace: 'other' } },
          { metadata: { name: 'no-namespace' } },
          { spec: {} },
          { metadata: { name: 'p', namespace: 'ns-50' } },
        ),
      );
      const pods = await listPods(c.http, wanted, { timeoutMs: 900 });
      expect(c.sent).toEqual([{ via: 'json', method: 'GET', path: '/api/v1/pods', query: { limit: 500 }, timeoutMs: 900 }]);
      expect(pods).toStrictEqual([
        { metadata: { name: 'p', namespace: 'ns-0' }, apiVersion: 'v1', kind: 'Pod' },
        { metadata: { name: 'p', namespace: 'ns-50' }, apiVersion: 'v1', kind: 'Pod' },
      ]);
    });

    it('per-namespace lists run 8 at a time by default, or as many as the concurrency option says', async () => {
      const c = new ScriptedHttp((s) => list(...podsOf(s)));
      expect(await listPods(c.http, namespaces(20))).toHaveLength(20);
      expect(c.maxInFlight).toBe(8);
      const d = new ScriptedHttp((s) => list(...podsOf(s)));
      expect(await listPods(d.http, namespaces(20), { concurrency: 2 })).toHaveLength(20);
      expect(d.maxInFlight).toBe(2);
    });

    it('a failed list rejects with that error', async () => {
      const boom = apiError(500);
      const c = new ScriptedHttp((s) => (s.path.includes('/b/') ? { thrown: boom } : list(...podsOf(s))));
      await expect(listPods(c.http, ['a', 'b', 'c'])).rejects.toBe(boom);
    });
  });

  describe('listBootstrapSecretNames', () => {
    const mesh = meshIdentity('fsm');
    const SELECTOR = 'app.kubernetes.io/name=flomesh.io,app.kubernetes.io/instance=fsm,fsm-proxy-uuid';
    const METADATA_ONLY = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';

    it('asks each namespace for metadata only, by label, and names them <namespace>/<name>', async () => {
      const c = new ScriptedHttp((s) =>
        s.path.includes('/a/')
          ? list({ metadata: { name: 's1', namespace: 'a' } }, { metadata: { name: 's2' } }, {})
          : list({ metadata: { name: 's3', namespace: 'b' } }),
      );
      const names = await listBootstrapSecretNames(c.http, mesh, ['a', 'b'], { timeoutMs: 3000 });
      expect(c.sent).toEqual(
        ['a', 'b'].map((ns) => ({ via: 'json', method: 'GET', path: `/api/v1/namespaces/${ns}/secrets`, query: { labelSelector: SELECTOR, limit: 500 }, accept: METADATA_ONLY, timeoutMs: 3000 })),
      );
      expect(names).toEqual(new Set(['a/s1', '/s2', '/', 'b/s3']));
    });

    it('many namespaces: one cluster-wide metadata list, filtered', async () => {
      const wanted = Array.from({ length: 60 }, (_, i) => `n${i}`);
      const c = new ScriptedHttp(() => list({ metadata: { name: 'x', namespace: 'n1' } }, { metadata: { name: 'y', namespace: 'elsewhere' } }));
      expect(await listBootstrapSecretNames(c.http, mesh, wanted)).toEqual(new Set(['n1/x']));
      expect(c.sent).toEqual([{ via: 'json', method: 'GET', path: '/api/v1/secrets', query: { labelSelector: SELECTOR, limit: 500 }, accept: METADATA_ONLY, timeoutMs: 60_000 }]);
    });

    it('a 403 means the check cannot run: undefined, per namespace or cluster-wide', async () => {
      const c = new ScriptedHttp(() => ({ thrown: apiError(403) }));
      expect(await listBootstrapSecretNames(c.http, mesh, ['a'])).toBeUndefined();
      expect(await listBootstrapSecretNames(c.http, mesh, Array.from({ length: 51 }, (_, i) => `n${i}`))).toBeUndefined();
    });

    it('any other failure is thrown: another status, or a 403 that is not an API error', async () => {
      const e500 = apiError(500);
      await expect(listBootstrapSecretNames(new ScriptedHttp(() => ({ thrown: e500 })).http, mesh, ['a'])).rejects.toBe(e500);
      const notApi = Object.assign(new Error('proxy said 403'), { status: 403 });
      await expect(listBootstrapSecretNames(new ScriptedHttp(() => ({ thrown: notApi })).http, mesh, ['a'])).rejects.toBe(notApi);
    });
  });

  describe('serverMinor', () => {
    it('reads /version once with a 5 s timeout and parses the minor', async () => {
      const c = new ScriptedHttp(() => ({ major: '1', minor: '33' }));
      expect(await serverMinor(c.http)).toBe(33);
      expect(c.sent).toEqual([{ via: 'json', method: 'GET', path: '/version', timeoutMs: 5000 }]);
    });

    it('a minor with a "+" suffix counts', async () => {
      expect(await serverMinor(new ScriptedHttp(() => ({ major: '1', minor: '29+' })).http)).toBe(29);
    });

    it.each([
      [{ major: '1' }, 'GET /version: no minor version in {"major":"1"}'],
      [{ major: '1', minor: 'x' }, 'GET /version: no minor version in {"major":"1","minor":"x"}'],
      [undefined, 'GET /version: no minor version in undefined'],
    ])('no readable minor in %j is an error, not a guess', async (body, message) => {
      const err = await serverMinor(new ScriptedHttp(() => body).http).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KubeApiError);
      expect(err).toMatchObject({ message, status: 0 });
    });
  });

  describe('readLiveState', () => {
    let api: FakeApiServer;
    let dir: string;
    let file: string;
    let twoContexts: string;

    beforeAll(async () => {
      api = await FakeApiServer.start({ kubernetesVersion: { minor: '31+' } });
      api.addObject({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'mesh-ns' } });
      api.addObject({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'mesh-ns' }, spec: { ports: [{ port: 80 }] } });
      dir = mkdtempSync(join(tmpdir(), 'snapshot-edges-'));
      file = join(dir, 'kubeconfig');
      writeFileSync(file, api.kubeConfigYaml());
      twoContexts = join(dir, 'two-contexts');
      writeFileSync(
        twoContexts,
        [
          'apiVersion: v1',
          'kind: Config',
          'clusters:',
          '- name: fake',
          `  cluster: {server: "${api.url}", insecure-skip-tls-verify: true}`,
          '- name: broken',
          '  cluster: {server: "http://127.0.0.1:1", insecure-skip-tls-verify: true}',
          'users:',
          '- name: tester',
          '  user: {token: test-token}',
          'contexts:',
          '- name: fake',
          '  context: {cluster: fake, user: tester}',
          '- name: broken',
          '  context: {cluster: broken, user: tester}',
          'current-context: broken',
          '',
        ].join('\n'),
      );
    });
    afterAll(async () => {
      await api?.close();
      rmSync(dir, { recursive: true, force: true });
    });
    let close: MockInstance<() => void>;
    beforeEach(() => {
      close = vi.spyOn(KubeHttp.prototype, 'close');
    });
    afterEach(() => {
      vi.restoreAllMocks();
      vi.unstubAllEnvs();
    });

    const group = defaultResources().filter((s) => s.group !== '');

    it('reads the cluster once and its minor version, then closes its client', async () => {
      const state = await readLiveState(file);
      expect(state.kubernetesMinor).toBe(31);
      expect(state.view.list('Namespace').map((o) => o.metadata?.name)).toEqual(['mesh-ns']);
      expect(state.view.list('Service').map((o) => [o.apiVersion, o.kind, o.metadata?.namespace, o.metadata?.name])).toEqual([['v1', 'Service', 'mesh-ns', 'web']]);
      expect(state.notServed).toEqual(group.map((s) => `${s.plural}.${s.group}`));
      expect(close).toHaveBeenCalledTimes(1);
    });

    it('a list of files and a named context are used as given', async () => {
      const state = await readLiveState([twoContexts], 'fake');
      expect(state.kubernetesMinor).toBe(31);
      expect(state.view.list('Namespace').map((o) => o.metadata?.name)).toEqual(['mesh-ns']);
    });

    it('without a context the current one is used (here unreachable): the failure is thrown and the client still closed', async () => {
      const err = await readLiveState(twoContexts).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KubeApiError);
      expect((err as KubeApiError).status).toBe(0);
      expect(close).toHaveBeenCalledTimes(1);
    });

    it('an unknown context is a kubeconfig error', async () => {
      await expect(readLiveState(twoContexts, 'nope')).rejects.toBeInstanceOf(KubeConfigError);
      expect(close).not.toHaveBeenCalled();
    });

    it('no kubeconfig file at all: no cluster, never the in-cluster account even in a pod', async () => {
      const account = join(dir, 'serviceaccount');
      mkdirSync(account, { recursive: true });
      writeFileSync(join(account, 'token'), 'pod-token');
      writeFileSync(join(account, 'namespace'), 'mesh-system');
      vi.stubEnv('KUBERNETES_SERVICE_HOST', '127.0.0.1');
      vi.stubEnv('KUBERNETES_SERVICE_PORT', new URL(api.url).port);
      vi.stubEnv(SERVICE_ACCOUNT_DIR_TEST_VARIABLE, account);
      const err = await readLiveState([]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KubeConfigError);
      expect((err as Error).message).toBe(': no cluster');
    });

    it('a /version without a minor fails the whole read', async () => {
      api.setKubernetesVersion({ minor: 'unknown' });
      try {
        await expect(readLiveState(file)).rejects.toThrow(/^GET \/version: no minor version in \{.*"minor":"unknown"/);
        expect(close).toHaveBeenCalledTimes(1);
      } finally {
        api.setKubernetesVersion({ minor: '31+' });
      }
    });
  });
});

// ---------------------------------------------------------------------------------------------------------------------

describe('secret-slot.ts: apiSecretSlot', () => {
  const NS = 'mesh-system';
  const NAME = 'admission-tls';
  const OBJECT_PATH = `/api/v1/namespaces/${NS}/secrets/${NAME}`;
  const COLLECTION_PATH = `/api/v1/namespaces/${NS}/secrets`;

  it('names itself <namespace>/<name>', () => {
    expect(apiSecretSlot(new ScriptedHttp(() => undefined).http, NS, NAME).ref).toBe('mesh-system/admission-tls');
  });

  describe('read', () => {
    it('GETs the Secret with a 10 s timeout and returns data, type, labels, annotations and resourceVersion', async () => {
      const c = new ScriptedHttp(() => ({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: NAME, namespace: NS, uid: 'u-1', resourceVersion: '42', labels: { app: 'x' }, annotations: { note: 'y' } },
        type: 'kubernetes.io/tls',
        data: { 'tls.crt': 'Y2VydA==' },
      }));
      const got = await apiSecretSlot(c.http, NS, NAME).read();
      expect(c.sent).toEqual([{ via: 'json', method: 'GET', path: OBJECT_PATH, timeoutMs: 10_000 }]);
      expect(got).toStrictEqual({ data: { 'tls.crt': 'Y2VydA==' }, type: 'kubernetes.io/tls', labels: { app: 'x' }, annotations: { note: 'y' }, resourceVersion: '42' });
    });

    it('a Secret with neither metadata nor data reads as empty data and nothing else', async () => {
      const got = await apiSecretSlot(new ScriptedHttp(() => ({ apiVersion: 'v1', kind: 'Secret' })).http, NS, NAME).read();
      expect(got).toStrictEqual({ data: {} });
    });

    it('empty type and resourceVersion are left out', async () => {
      const got = await apiSecretSlot(new ScriptedHttp(() => ({ metadata: { resourceVersion: '' }, type: '', data: { k: 'dg==' } })).http, NS, NAME).read();
      expect(got).toStrictEqual({ data: { k: 'dg==' } });
    });

    it('uses the timeout option', async () => {
      const c = new ScriptedHttp(() => ({ metadata: {} }));
      await apiSecretSlot(c.http, NS, NAME, { timeoutMs: 2500 }).read();
      expect(c.sent.map((s) => s.timeoutMs)).toEqual([2500]);
    });

    it('a 404 is "no Secret"; any other failure is thrown', async () => {
      expect(await apiSecretSlot(new ScriptedHttp(() => ({ thrown: apiError(404) })).http, NS, NAME).read()).toBeUndefined();
      const refused = apiError(403);
      await expect(apiSecretSlot(new ScriptedHttp(() => ({ thrown: refused })).http, NS, NAME).read()).rejects.toBe(refused);
      const network = new Error('ECONNRESET');
      await expect(apiSecretSlot(new ScriptedHttp(() => ({ thrown: network })).http, NS, NAME).read()).rejects.toBe(network);
    });
  });

  describe('write', () => {
    const full = { type: 'kubernetes.io/tls', labels: { app: 'x' }, annotations: { note: 'y' }, data: { 'tls.crt': 'Y2VydA==', 'tls.key': 'a2V5' } };

    it('without a resourceVersion: POSTs the whole Secret to the collection as mesh-admission', async () => {
      const c = new ScriptedHttp(() => ({}));
      expect(await apiSecretSlot(c.http, NS, NAME).write(full)).toBe(true);
      expect(c.sent).toHaveLength(1);
      const { body, ...request } = c.sent[0]!;
      expect(request).toStrictEqual({ via: 'json', method: 'POST', path: COLLECTION_PATH, query: { fieldManager: 'mesh-admission' }, timeoutMs: 10_000 });
      expect(body).toStrictEqual({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: NAME, namespace: NS, labels: { app: 'x' }, annotations: { note: 'y' } },
        type: 'kubernetes.io/tls',
        data: { 'tls.crt': 'Y2VydA==', 'tls.key': 'a2V5' },
      });
      // copies: the caller's content is not handed to the transport
      const raw = c.rawBodies[0] as { metadata: { labels: unknown; annotations: unknown }; data: unknown };
      expect(raw.data).not.toBe(full.data);
      expect(raw.metadata.labels).not.toBe(full.labels);
      expect(raw.metadata.annotations).not.toBe(full.annotations);
    });

    it('data alone: the body has no type, labels, annotations or resourceVersion', async () => {
      const c = new ScriptedHttp(() => ({}));
      await apiSecretSlot(c.http, NS, NAME).write({ data: { k: 'dg==' } });
      expect(c.sent[0]!.body).toStrictEqual({ apiVersion: 'v1', kind: 'Secret', metadata: { name: NAME, namespace: NS }, data: { k: 'dg==' } });
    });

    it('with a resourceVersion: PUTs the object, conditioned on that version', async () => {
      const c = new ScriptedHttp(() => ({}));
      expect(await apiSecretSlot(c.http, NS, NAME).write({ data: { k: 'dg==' } }, '7')).toBe(true);
      expect(c.sent).toStrictEqual([
        {
          via: 'json',
          method: 'PUT',
          path: OBJECT_PATH,
          query: { fieldManager: 'mesh-admission' },
          body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: NAME, namespace: NS, resourceVersion: '7' }, data: { k: 'dg==' } },
          timeoutMs: 10_000,
        },
      ]);
    });

    it('the field manager and timeout options are sent', async () => {
      const c = new ScriptedHttp(() => ({}));
      await apiSecretSlot(c.http, NS, NAME, { fieldManager: 'other-manager', timeoutMs: 1500 }).write({ data: {} });
      expect([c.sent[0]!.query, c.sent[0]!.timeoutMs]).toEqual([{ fieldManager: 'other-manager' }, 1500]);
    });

    it('a 409 on create (someone created it first) is false', async () => {
      expect(await apiSecretSlot(new ScriptedHttp(() => ({ thrown: apiError(409) })).http, NS, NAME).write({ data: {} })).toBe(false);
    });

    it('a 409 or a 404 on replace (changed or deleted since the read) is false', async () => {
      expect(await apiSecretSlot(new ScriptedHttp(() => ({ thrown: apiError(409) })).http, NS, NAME).write({ data: {} }, '3')).toBe(false);
      expect(await apiSecretSlot(new ScriptedHttp(() => ({ thrown: apiError(404) })).http, NS, NAME).write({ data: {} }, '3')).toBe(false);
    });

    it('a 404 on create (no such namespace) is thrown', async () => {
      const gone = apiError(404, `POST ${COLLECTION_PATH}`);
      await expect(apiSecretSlot(new ScriptedHttp(() => ({ thrown: gone })).http, NS, NAME).write({ data: {} })).rejects.toBe(gone);
    });

    it('other failures are thrown, on create and on replace', async () => {
      const refused = apiError(403);
      await expect(apiSecretSlot(new ScriptedHttp(() => ({ thrown: refused })).http, NS, NAME).write({ data: {} }, '3')).rejects.toBe(refused);
      const network = new Error('socket hang up');
      await expect(apiSecretSlot(new ScriptedHttp(() => ({ thrown: network })).http, NS, NAME).write({ data: {} })).rejects.toBe(network);
    });
  });
});

// ---------------------------------------------------------------------------------------------------------------------

describe('access-review.ts: ApiAccessReview', () => {
  const TOKEN_REVIEWS = '/apis/authentication.k8s.io/v1/tokenreviews';
  const SARS = '/apis/authorization.k8s.io/v1/subjectaccessreviews';
  const reviewer = (answer: Route): { review: ApiAccessReview; c: ScriptedHttp } => {
    const c = new ScriptedHttp(answer);
    return { review: new ApiAccessReview(c.http), c };
  };

  describe('authenticate', () => {
    it('POSTs a TokenReview carrying only the token, with a 10 s timeout', async () => {
      const { review, c } = reviewer(() => ({ status: { authenticated: true, user: { username: 'alice' } } }));
      await review.authenticate('s3cret');
      expect(c.sent).toStrictEqual([
        { via: 'json', method: 'POST', path: TOKEN_REVIEWS, body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: 's3cret' } }, timeoutMs: 10_000 },
      ]);
    });

    it('an authenticated token gives the whole user', async () => {
      const { review } = reviewer(() => ({
        status: { authenticated: true, user: { username: 'system:serviceaccount:mon:prom', uid: 'u-9', groups: ['system:serviceaccounts', 'system:authenticated'], extra: { 'authentication.kubernetes.io/pod-name': ['prom-0'] } } },
      }));
      expect(await review.authenticate('t')).toStrictEqual({
        authenticated: true,
        user: { username: 'system:serviceaccount:mon:prom', uid: 'u-9', groups: ['system:serviceaccounts', 'system:authenticated'], extra: { 'authentication.kubernetes.io/pod-name': ['prom-0'] } },
      });
    });

    it('a user with a name only: no groups means an empty list, no uid or extra', async () => {
      const { review } = reviewer(() => ({ status: { authenticated: true, user: { username: 'bob', uid: '' } } }));
      expect(await review.authenticate('t')).toStrictEqual({ authenticated: true, user: { username: 'bob', groups: [] } });
    });

    it('a refused token gives the API server\'s error as the reason', async () => {
      const { review } = reviewer(() => ({ status: { authenticated: false, error: 'token has expired' } }));
      expect(await review.authenticate('t')).toStrictEqual({ authenticated: false, reason: 'token has expired' });
    });

    it.each([
      ['no status', {}],
      ['not authenticated, no error', { status: { authenticated: false } }],
      ['not authenticated though a user is named', { status: { authenticated: false, user: { username: 'mallory' } } }],
      ['authenticated without a user', { status: { authenticated: true, error: '' } }],
      ['authenticated with an empty username', { status: { authenticated: true, user: { username: '', groups: ['g'] } } }],
    ])('%s: not authenticated, "the token is not valid"', async (_, answer) => {
      const { review } = reviewer(() => answer);
      expect(await review.authenticate('t')).toStrictEqual({ authenticated: false, reason: 'the token is not valid' });
    });

    it('a failed review call rejects', async () => {
      const refused = apiError(403, `POST ${TOKEN_REVIEWS}`);
      const { review } = reviewer(() => ({ thrown: refused }));
      await expect(review.authenticate('t')).rejects.toBe(refused);
    });
  });

  describe('authorize', () => {
    const fullUser: ReviewedUser = { username: 'alice', uid: 'u-1', groups: ['devs', 'system:authenticated'], extra: { scopes: ['a', 'b'], empty: [] } };

    it('POSTs a SubjectAccessReview of the non-resource path with the whole user, with a 10 s timeout', async () => {
      const { review, c } = reviewer(() => ({ status: { allowed: true } }));
      await review.authorize(fullUser, 'get', '/metrics');
      expect(c.sent).toStrictEqual([
        {
          via: 'json',
          method: 'POST',
          path: SARS,
          body: {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SubjectAccessReview',
            spec: { user: 'alice', uid: 'u-1', groups: ['devs', 'system:authenticated'], extra: { scopes: ['a', 'b'], empty: [] }, nonResourceAttributes: { path: '/metrics', verb: 'get' } },
          },
          timeoutMs: 10_000,
        },
      ]);
      // the body holds copies of the user's lists
      const spec = (c.rawBodies[0] as { spec: { groups: unknown; extra: Record<string, unknown> } }).spec;
      expect(spec.groups).not.toBe(fullUser.groups);
      expect(spec.extra.scopes).not.toBe(fullUser.extra!.scopes);
    });

    it('a user without uid or extra: the spec has neither', async () => {
      const { review, c } = reviewer(() => ({ status: { allowed: false } }));
      await review.authorize({ username: 'bob', groups: [] }, 'post', '/debug');
      expect((c.sent[0]!.body as { spec: unknown }).spec).toStrictEqual({ user: 'bob', groups: [], nonResourceAttributes: { path: '/debug', verb: 'post' } });
    });

    it.each([
      ['allowed, with a reason', { allowed: true, reason: 'RBAC: allowed by ClusterRoleBinding "metrics"' }, { allowed: true, reason: 'RBAC: allowed by ClusterRoleBinding "metrics"' }],
      ['allowed, no reason', { allowed: true }, { allowed: true, reason: '' }],
      ['allowed despite an evaluation error', { allowed: true, evaluationError: 'one webhook failed' }, { allowed: true, reason: '' }],
      ['denied, with an evaluation error', { allowed: false, denied: true, reason: 'denied by policy', evaluationError: 'partial' }, { allowed: false, reason: 'denied by policy' }],
      ['no opinion, with a reason', { allowed: false, reason: 'no RBAC policy matched' }, { allowed: false, reason: 'no RBAC policy matched' }],
      ['no status', undefined, { allowed: false, reason: '' }],
    ])('%s', async (_, status, expected) => {
      const { review } = reviewer(() => (status === undefined ? {} : { status }));
      expect(await review.authorize(fullUser, 'get', '/metrics')).toStrictEqual(expected);
    });

    it('no decision but an evaluation error is thrown: the API server could not decide', async () => {
      const { review } = reviewer(() => ({ status: { allowed: false, evaluationError: 'authorizer webhook timed out' } }));
      await expect(review.authorize(fullUser, 'get', '/metrics')).rejects.toThrow(new Error('SubjectAccessReview: authorizer webhook timed out'));
    });

    it('a failed review call rejects', async () => {
      const refused = apiError(403, `POST ${SARS}`);
      const { review } = reviewer(() => ({ thrown: refused }));
      await expect(review.authorize(fullUser, 'get', '/metrics')).rejects.toBe(refused);
    });
  });
});
