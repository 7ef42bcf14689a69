// Edge cases of LiveView that live-view.test.ts (real fake API server, real time) cannot pin down exactly: the options
// handed to every reflector, discovery's schedule, backoff, version checks and log lines, readiness and notReady() texts,
// the per-kind clocks (lastEventAges, currentSince), freshen, fetchNamespace's resourceVersion ordering, stop() mid-way.
// Everything runs on fake timers against a scripted in-memory KubeHttp, so every request, time and log line is exact.
import type { Logger } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { KubeApiError, type KubeHttp, type KubeRequest } from '../../src/kube/http.js';
import { LiveView, forTheView, type LiveViewOptions, type ResourceSpec } from '../../src/controllers/live-view.js';
import type { IndexDef } from '../../src/cluster/view.js';
import type { KubeObject } from '../../src/mesh/objects.js';

const T0 = Date.UTC(2030, 0, 2, 3, 4, 5, 0);

const NS: ResourceSpec = { group: '', kind: 'Namespace', plural: 'namespaces' };
const SVC: ResourceSpec = { group: '', kind: 'Service', plural: 'services' };
const EG_FSM: ResourceSpec = { group: 'policy.flomesh.io', kind: 'Egress', plural: 'egresses' };
const EG_OSM: ResourceSpec = { group: 'policy.openservicemesh.io', kind: 'Egress', plural: 'egresses' };
const PLUGIN: ResourceSpec = { group: 'plugin.flomesh.io', kind: 'Plugin', plural: 'plugins' };
const SPLIT: ResourceSpec = { group: 'split.smi-spec.io', kind: 'TrafficSplit', plural: 'trafficsplits' };

const NS_PATH = '/api/v1/namespaces';
const SVC_PATH = '/api/v1/services';
const FSM_PATH = '/apis/policy.flomesh.io/v1alpha1/egresses';
const OSM_PATH = '/apis/policy.openservicemesh.io/v1alpha1/egresses';
const PLUGIN_PATH = '/apis/plugin.flomesh.io/v1alpha1/plugins';
const SPLIT_PATH = '/apis/split.smi-spec.io/v1alpha4/trafficsplits';

const FSM_ID = 'egresses.v1alpha1.policy.flomesh.io';
const OSM_ID = 'egresses.v1alpha1.policy.openservicemesh.io';
const PLUGIN_ID = 'plugins.v1alpha1.plugin.flomesh.io';

const SYNCED = 'cluster view synced';
const DROPPED = 'resource no longer served: dropped from the view';
const DISCOVERY_FAILED = 'API discovery failed; retrying';
const VERSION = 'API server version';
const NOT_SERVED = 'not served by the cluster (CRD not installed): not watched';

type Verb = 'get' | 'list' | 'watch';

interface Call {
  readonly verb: Verb;
  readonly path: string;
  readonly query: KubeRequest['query'];
  readonly timeoutMs: number | undefined;
  readonly signal: AbortSignal | undefined;
  /** fake ms since T0 */
  readonly at: number;
}
type Answer = (call: Call) => unknown;
type Match = (call: Call) => boolean;

interface Watch {
  readonly path: string;
  send(type: string, object: KubeObject): void;
  fail(err: Error): void;
}

interface Deferred {
  readonly promise: Promise<void>;
  resolve(): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const is =
  (verb: Verb, path: string): Match =>
  (c) =>
    c.verb === verb && c.path === path;

const apiError = (text: string, status: number): KubeApiError => new KubeApiError(text, status);

/** A scripted API server: discovery, /version, lists, watches and Namespace GETs, with one-shot or lasting answers. */
class FakeKube {
  readonly calls: Call[] = [];
  readonly watches: Watch[] = [];
  readonly collections = new Map<string, KubeObject[]>();
  readonly namespaces = new Map<string, KubeObject>();
  version: unknown = { major: '1', minor: '30', gitVersion: 'v1.30.2' };
  resourceVersion = '100';
  private readonly groups = new Map<string, { preferred: string; versions: Map<string, ResourceSpec[]> }>();
  private readonly scripted: Array<{ match: Match; answer: Answer; left: number; ignoreAbort: boolean }> = [];

  readonly http = {
    getOptional: (req: KubeRequest) => this.request('get', req),
    json: (req: KubeRequest) => this.request('list', req),
    stream: (req: KubeRequest, onLine: (line: string) => void) => this.stream(req, onLine),
  } as unknown as KubeHttp;

  serve(spec: ResourceSpec, version = 'v1alpha1', preferred = false): void {
    const g = this.groups.get(spec.group) ?? { preferred: version, versions: new Map<string, ResourceSpec[]>() };
    if (preferred) g.preferred = version;
    g.versions.set(version, [...(g.versions.get(version) ?? []).filter((s) => s.plural !== spec.plural), spec]);
    this.groups.set(spec.group, g);
  }

  unserve(group: string): void {
    this.groups.delete(group);
  }

  /** the next `times` calls matching get `answer` (a throw rejects the request) */
  script(match: Match, answer: Answer, opts: { times?: number; ignoreAbort?: boolean } = {}): { cancel(): void } {
    const entry = { match, answer, left: opts.times ?? 1, ignoreAbort: opts.ignoreAbort ?? false };
    this.scripted.push(entry);
    return { cancel: () => void this.scripted.splice(this.scripted.indexOf(entry), 1) };
  }

  fail(match: Match, err: Error, times = 1): { cancel(): void } {
    return this.script(
      match,
      () => {
        throw err;
      },
      { times },
    );
  }

  /** calls matching never answer (until their request is aborted) */
  hang(match: Match, times = Number.POSITIVE_INFINITY): void {
    this.script(match, () => new Promise(() => undefined), { times });
  }

  /** the next matching call waits for release(), then gets the normal answer (as of the release) */
  hold(match: Match, opts: { ignoreAbort?: boolean } = {}): { release(): void } {
    const gate = deferred();
    this.script(
      match,
      async (c) => {
        await gate.promise;
        return this.reply(c);
      },
      opts,
    );
    return { release: () => gate.resolve() };
  }

  watch(path: string): Watch {
    const w = this.watches.find((x) => x.path === path);
    if (!w) throw new Error(`no open watch on ${path}`);
    return w;
  }

  reply(c: Call): unknown {
    if (c.verb === 'list') return { items: structuredClone(this.collections.get(c.path) ?? []), metadata: { resourceVersion: this.resourceVersion } };
    if (c.path === '/apis')
      return { groups: [...this.groups].map(([name, g]) => ({ name, versions: [...g.versions.keys()].map((version) => ({ version })), preferredVersion: { version: g.preferred } })) };
    if (c.path === '/version') return structuredClone(this.version);
    const gv = /^\/apis\/([^/]+)\/([^/]+)$/.exec(c.path);
    if (gv) {
      const specs = this.groups.get(gv[1]!)?.versions.get(gv[2]!);
      return specs ? { resources: specs.map((s) => ({ name: s.plural, kind: s.kind })) } : undefined;
    }
    const ns = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(c.path);
    if (ns) {
      const o = this.namespaces.get(ns[1]!);
      return o ? structuredClone(o) : undefined;
    }
    throw new Error(`unexpected ${c.verb} ${c.path}`);
  }

  private record(verb: Verb, req: KubeRequest): Call {
    const call: Call = { verb, path: req.path, query: req.query, timeoutMs: req.timeoutMs, signal: req.signal, at: Date.now() - T0 };
    this.calls.push(call);
    return call;
  }

  private request(verb: 'get' | 'list', req: KubeRequest): Promise<unknown> {
    const call = this.record(verb, req);
    let answer: Answer = (c) => this.reply(c);
    let ignoreAbort = false;
    const i = this.scripted.findIndex((s) => s.match(call));
    if (i >= 0) {
      const s = this.scripted[i]!;
      if (--s.left <= 0) this.scripted.splice(i, 1);
      answer = s.answer;
      ignoreAbort = s.ignoreAbort;
    }
    const result = Promise.resolve().then(() => answer(call));
    const signal = req.signal;
    if (!signal || ignoreAbort) return result;
    const aborted = new Promise<never>((_, reject) => {
      const fail = (): void => reject(new KubeApiError(`GET ${call.path}: aborted`, 0));
      if (signal.aborted) fail();
      else signal.addEventListener('abort', fail, { once: true });
    });
    return Promise.race([result, aborted]);
  }

  private stream(req: KubeRequest, onLine: (line: string) => void): Promise<void> {
    this.record('watch', req);
    return new Promise<void>((resolve, reject) => {
      if (req.signal?.aborted) return resolve();
      const close = (): void => {
        const k = this.watches.indexOf(w);
        if (k >= 0) this.watches.splice(k, 1);
      };
      const w: Watch = {
        path: req.path,
        send: (type, object) => onLine(JSON.stringify({ type, object })),
        fail: (err) => {
          close();
          reject(err);
        },
      };
      req.signal?.addEventListener(
        'abort',
        () => {
          close();
          resolve();
        },
        { once: true },
      );
      this.watches.push(w);
      req.onOpen?.();
    });
  }
}

interface LogEntry {
  readonly level: string;
  readonly msg: string;
  readonly obj: Record<string, unknown>;
  readonly bindings: Record<string, unknown>;
}

describe('LiveView edges', () => {
  let kube: FakeKube;
  let logs: LogEntry[];
  let hook: (e: LogEntry) => void;
  /** the view's clock runs this far ahead of the timers */
  let skew: number;
  let views: LiveView[];

  const logger = (bindings: Record<string, unknown> = {}): Logger => {
    const log =
      (level: string) =>
      (a: unknown, b?: string): void => {
        const [obj, msg] = typeof a === 'string' ? [{}, a] : [a as Record<string, unknown>, b ?? ''];
        const e = { level, msg, obj, bindings };
        logs.push(e);
        hook(e);
      };
    return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error'), child: (b: Record<string, unknown>) => logger({ ...bindings, ...b }) } as unknown as Logger;
  };

  const view = (extra: Partial<LiveViewOptions> = {}): LiveView => {
    const v = new LiveView({ http: kube.http, logger: logger(), resources: [NS, SVC, EG_FSM, EG_OSM, PLUGIN], random: () => 0, now: () => Date.now() + skew, ...extra });
    views.push(v);
    return v;
  };

  /** runs every pending promise chain (the real setImmediate is not faked) */
  const flush = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
  };
  const advance = async (ms: number): Promise<void> => {
    await vi.advanceTimersByTimeAsync(ms);
    await flush();
  };
  const started = async (extra: Partial<LiveViewOptions> = {}): Promise<LiveView> => {
    const v = view(extra);
    v.start();
    await advance(0);
    return v;
  };
  /** the requests sent, without their signal */
  const sent = (verb?: Verb, path?: string): Array<Omit<Call, 'signal'>> =>
    kube.calls.filter((c) => (!verb || c.verb === verb) && (!path || c.path === path)).map(({ signal: _signal, ...rest }) => rest);
  const times = (verb: Verb, path: string): number[] => sent(verb, path).map((c) => c.at);
  /** the lines the view itself logs (not its reflectors') */
  const viewLogs = (): Array<[string, string, Record<string, unknown>]> => logs.filter((l) => !('resource' in l.bindings)).map((l) => [l.level, l.msg, l.obj]);
  const settledFlag = <T>(p: Promise<T>): { done: boolean; value: T | undefined } => {
    const s: { done: boolean; value: T | undefined } = { done: false, value: undefined };
    void p.then((v) => {
      s.done = true;
      s.value = v;
    });
    return s;
  };
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    vi.setSystemTime(T0);
    vi.spyOn(Math, 'random').mockReturnValue(0);
    kube = new FakeKube();
    logs = [];
    hook = () => undefined;
    skew = 0;
    views = [];
  });
  afterEach(async () => {
    try {
      await Promise.all(views.map((v) => v.stop()));
    } finally {
      vi.useRealTimers();
      vi.restoreAllMocks();
    }
  });

  describe('what it keeps of an object', () => {
    it('forTheView drops status, managedFields and the last-applied copy, and keeps everything else', () => {
      const o: KubeObject = {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'web', namespace: 'app', managedFields: [{ manager: 'kubectl' }], annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}', keep: 'me' } } as KubeObject['metadata'],
        spec: { ports: [{ port: 80 }] },
        status: { loadBalancer: {} },
      };
      expect(forTheView(o)).toBe(o);
      expect(o).toEqual({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'app', annotations: { keep: 'me' } }, spec: { ports: [{ port: 80 }] } });
      expect('status' in o).toBe(false);
    });

    it('listed objects are stored without status, with the apiVersion and kind of their resource', async () => {
      kube.serve(EG_FSM);
      kube.collections.set(NS_PATH, [{ metadata: { name: 'app', resourceVersion: '3' }, status: { phase: 'Active' } }]);
      kube.collections.set(FSM_PATH, [{ metadata: { name: 'out', namespace: 'app', resourceVersion: '4' }, spec: { a: 1 }, status: { ok: true } }]);
      const v = await started();
      expect(v.get('Namespace', '', 'app')).toEqual({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'app', resourceVersion: '3' } });
      expect(v.get('Egress', 'app', 'out')).toEqual({ apiVersion: 'policy.flomesh.io/v1alpha1', kind: 'Egress', metadata: { name: 'out', namespace: 'app', resourceVersion: '4' }, spec: { a: 1 } });
      // a watch event goes through the same transform
      kube.watch(FSM_PATH).send('MODIFIED', { metadata: { name: 'out', namespace: 'app', resourceVersion: '5' }, spec: { a: 2 }, status: { ok: false } });
      expect(v.get('Egress', 'app', 'out')).toEqual({ apiVersion: 'policy.flomesh.io/v1alpha1', kind: 'Egress', metadata: { name: 'out', namespace: 'app', resourceVersion: '5' }, spec: { a: 2 } });
    });

    it('a DELETED event removes the object of its own group only', async () => {
      kube.serve(EG_FSM);
      kube.serve(EG_OSM);
      kube.collections.set(FSM_PATH, [{ metadata: { name: 'out', namespace: 'app', resourceVersion: '1' } }]);
      kube.collections.set(OSM_PATH, [{ metadata: { name: 'out', namespace: 'app', resourceVersion: '2' } }]);
      const v = await started({ resources: [NS, EG_FSM, EG_OSM] });
      kube.watch(OSM_PATH).send('DELETED', { metadata: { name: 'out', namespace: 'app', resourceVersion: '3' } });
      expect(v.list('Egress')).toEqual([{ apiVersion: 'policy.flomesh.io/v1alpha1', kind: 'Egress', metadata: { name: 'out', namespace: 'app', resourceVersion: '1' } }]);
    });

    it('byIndex and all() read the shared store', async () => {
      kube.collections.set(SVC_PATH, [
        { metadata: { name: 'web', namespace: 'app', labels: { app: 'web' }, resourceVersion: '1' } },
        { metadata: { name: 'api', namespace: 'app', labels: { app: 'api' }, resourceVersion: '2' } },
      ]);
      kube.collections.set(NS_PATH, [{ metadata: { name: 'app', resourceVersion: '3' } }]);
      const v = await started({ resources: [NS, SVC] });
      const byApp: IndexDef = { name: 'svc-by-app', kind: 'Service', keys: (o) => [o.metadata?.labels?.app ?? ''] };
      expect(v.byIndex(byApp, 'web')).toEqual([{ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'app', labels: { app: 'web' }, resourceVersion: '1' } }]);
      expect(v.byIndex(byApp, 'none')).toEqual([]);
      expect(v.all().map((o) => `${o.kind}/${o.metadata?.name}`).sort()).toEqual(['Namespace/app', 'Service/api', 'Service/web']);
    });
  });

  describe('construction and options', () => {
    it('before start() only the core resources have informers, none started, and nothing is sent', async () => {
      const v = view();
      await advance(1000);
      expect(kube.calls).toEqual([]);
      expect(v.informerStatus()).toEqual([
        { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', listed: false, current: false },
        { group: '', version: 'v1', plural: 'services', kind: 'Service', listed: false, current: false },
      ]);
      expect(v.kindCurrent('Namespace')).toBe(false);
      expect(v.ready()).toBe(false);
      expect(v.notReady()).toEqual(['API discovery not done yet']);
    });

    it('without resources it takes the default set; extraResources are added to it, duplicates once', () => {
      expect(view({ resources: undefined }).informerStatus().map((i) => `${i.plural}.${i.version}`)).toEqual(['namespaces.v1', 'services.v1']);
      const cm: ResourceSpec = { group: '', kind: 'ConfigMap', plural: 'configmaps' };
      expect(view({ resources: [NS], extraResources: [cm, NS] }).informerStatus().map((i) => `${i.kind}:${i.plural}.${i.version}`)).toEqual(['Namespace:namespaces.v1', 'ConfigMap:configmaps.v1']);
    });

    it('hands page size, request timeout, watch timeout and random to every reflector, and uses the request timeout for discovery', async () => {
      kube.serve(PLUGIN);
      const v = await started({ resources: [NS, PLUGIN], pageSize: 7, requestTimeoutMs: 1234, watchTimeoutSeconds: 60, random: () => 0.5 });
      expect(v.ready()).toBe(true);
      const list = { labelSelector: undefined, fieldSelector: undefined, limit: 7, continue: undefined, resourceVersion: '0' };
      expect(sent('list')).toEqual([
        { verb: 'list', path: NS_PATH, query: list, timeoutMs: 1234, at: 0 },
        { verb: 'list', path: PLUGIN_PATH, query: list, timeoutMs: 1234, at: 0 },
      ]);
      // 60 s × (1 + 0.5), and 30 s more for the client's idle timeout
      const watch = { labelSelector: undefined, fieldSelector: undefined, watch: 'true', allowWatchBookmarks: 'true', resourceVersion: '100', timeoutSeconds: 90 };
      expect(sent('watch')).toEqual([
        { verb: 'watch', path: NS_PATH, query: watch, timeoutMs: 120_000, at: 0 },
        { verb: 'watch', path: PLUGIN_PATH, query: watch, timeoutMs: 120_000, at: 0 },
      ]);
      expect(sent('get')).toEqual([
        { verb: 'get', path: '/apis', query: undefined, timeoutMs: 1234, at: 0 },
        { verb: 'get', path: '/version', query: undefined, timeoutMs: 1234, at: 0 },
        { verb: 'get', path: '/apis/plugin.flomesh.io/v1alpha1', query: undefined, timeoutMs: 1234, at: 0 },
      ]);
      expect(kube.calls.every((c) => c.signal instanceof AbortSignal)).toBe(true);
    });

    it('defaults: pages of 500, 60 s requests, 300 s watches with Math.random, 60 s discovery period', async () => {
      const v = await started({ resources: [NS], random: undefined });
      expect(v.ready()).toBe(true);
      expect(sent('list')).toEqual([{ verb: 'list', path: NS_PATH, query: { limit: 500, resourceVersion: '0' }, timeoutMs: 60_000, at: 0 }]);
      expect(sent('watch')).toEqual([
        { verb: 'watch', path: NS_PATH, query: { watch: 'true', allowWatchBookmarks: 'true', resourceVersion: '100', timeoutSeconds: 300 }, timeoutMs: 330_000, at: 0 },
      ]);
      expect(sent('get').map((c) => [c.path, c.timeoutMs])).toEqual([
        ['/apis', 60_000],
        ['/version', 60_000],
      ]);
      await advance(59_999);
      expect(times('get', '/apis')).toEqual([0]);
      await advance(1);
      expect(times('get', '/apis')).toEqual([0, 60_000]);
      await advance(60_000);
      expect(times('get', '/apis')).toEqual([0, 60_000, 120_000]);
      expect(times('get', '/version')).toEqual([0, 60_000, 120_000]);
    });

    it('hands the backoff to the reflectors: a failed list is retried after half the initial delay (random 0)', async () => {
      kube.fail(is('list', NS_PATH), apiError(`GET ${NS_PATH}: 500 boom`, 500));
      const v = await started({ resources: [NS], backoff: { initialMs: 1000, maxMs: 1000 } });
      expect(v.ready()).toBe(false);
      await advance(499);
      expect(times('list', NS_PATH)).toEqual([0]);
      await advance(1000);
      expect(times('list', NS_PATH)).toEqual([0, 500]);
      expect(v.ready()).toBe(true);
    });

    it('a custom discovery period', async () => {
      await started({ resources: [NS], discoveryIntervalMs: 5000 });
      await advance(10_000);
      expect(times('get', '/apis')).toEqual([0, 5000, 10_000]);
    });

    it('a second start() changes nothing, and start() after stop() sends nothing', async () => {
      kube.serve(PLUGIN);
      const v = view({ resources: [NS, PLUGIN] });
      v.start();
      v.start();
      await advance(0);
      expect(times('get', '/apis')).toEqual([0]);
      expect(times('list', NS_PATH)).toEqual([0]);
      await advance(60_000);
      expect(times('get', '/apis')).toEqual([0, 60_000]);
      await v.stop();
      const n = kube.calls.length;
      await advance(200_000);
      v.start();
      await advance(200_000);
      expect(kube.calls.length).toBe(n);
      expect(await v.stop()).toBeUndefined();
    });
  });

  describe('discovery', () => {
    it('retries a failing discovery with its own backoff (100 ms doubling to 2 s), says each distinct failure once', async () => {
      const A = apiError('GET /apis: 503 Service Unavailable', 503);
      kube.fail(is('get', '/apis'), A, 2);
      kube.fail(is('get', '/apis'), apiError('GET /apis: 500 Internal Server Error', 500), 1);
      kube.fail(is('get', '/apis'), A, 3);
      const v = await started({ resources: [NS] });
      expect(v.notReady()).toEqual(['API discovery failed: GET /apis: 503 Service Unavailable']);
      await advance(5099);
      expect(v.ready()).toBe(false);
      expect(v.notReady()).toEqual(['API discovery failed: GET /apis: 503 Service Unavailable']);
      await advance(1);
      expect(v.ready()).toBe(true);
      expect(times('get', '/apis')).toEqual([0, 100, 300, 700, 1500, 3100, 5100]);
      expect(viewLogs().filter((l) => l[1] === DISCOVERY_FAILED)).toEqual([
        ['warn', DISCOVERY_FAILED, { err: 'GET /apis: 503 Service Unavailable', status: 503, retryInMs: 100 }],
        ['warn', DISCOVERY_FAILED, { err: 'GET /apis: 500 Internal Server Error', status: 500, retryInMs: 400 }],
        ['warn', DISCOVERY_FAILED, { err: 'GET /apis: 503 Service Unavailable', status: 503, retryInMs: 800 }],
      ]);
    });

    it('after a success, a failure is said again and retried on the normal period', async () => {
      const v = await started({ resources: [NS] });
      kube.fail(is('get', '/apis'), apiError('GET /apis: 503 Service Unavailable', 503), 2);
      await advance(60_000);
      await advance(60_000);
      await advance(60_000);
      expect(times('get', '/apis')).toEqual([0, 60_000, 120_000, 180_000]);
      expect(viewLogs().filter((l) => l[1] === DISCOVERY_FAILED)).toEqual([['warn', DISCOVERY_FAILED, { err: 'GET /apis: 503 Service Unavailable', status: 503, retryInMs: 60_000 }]]);
      expect(v.notReady()).toEqual([]);
      // a third failure after a success is said again
      kube.fail(is('get', '/apis'), apiError('GET /apis: 503 Service Unavailable', 503));
      await advance(60_000);
      expect(viewLogs().filter((l) => l[1] === DISCOVERY_FAILED)).toHaveLength(2);
    });

    it('a /version without a usable minor version fails discovery with the answer in the message', async () => {
      kube.version = undefined;
      const v = await started({ resources: [NS] });
      expect(v.notReady()).toEqual(['API discovery failed: /version answered without a minor version: undefined']);
      kube.version = { major: '1', minor: 'x' };
      await advance(100);
      expect(v.notReady()).toEqual(['API discovery failed: /version answered without a minor version: {"major":"1","minor":"x"}']);
      expect(viewLogs().filter((l) => l[1] === DISCOVERY_FAILED)).toEqual([
        ['warn', DISCOVERY_FAILED, { err: '/version answered without a minor version: undefined', status: 0, retryInMs: 100 }],
        ['warn', DISCOVERY_FAILED, { err: '/version answered without a minor version: {"major":"1","minor":"x"}', status: 0, retryInMs: 200 }],
      ]);
      expect(v.kubernetesMinor()).toBeUndefined();
      kube.version = { major: '1', minor: '31+', gitVersion: 'v1.31.4-eks' };
      await advance(200);
      expect(v.ready()).toBe(true);
      expect(v.kubernetesMinor()).toBe(31);
    });

    it('tells version listeners once per change (late listeners at once) and logs each change once', async () => {
      const early: number[] = [];
      const v = view({ resources: [NS] });
      v.onVersion((m) => early.push(m));
      expect(early).toEqual([]);
      v.start();
      await advance(0);
      const late: number[] = [];
      v.onVersion((m) => late.push(m));
      expect(late).toEqual([30]);
      await v.discoverNow();
      expect(early).toEqual([30]);
      kube.version = { major: '1', minor: '31', gitVersion: 'v1.31.0' };
      await v.discoverNow();
      expect(early).toEqual([30, 31]);
      expect(late).toEqual([30, 31]);
      expect(viewLogs().filter((l) => l[1] === VERSION)).toEqual([
        ['info', VERSION, { version: 'v1.30.2', minor: 30, was: undefined }],
        ['info', VERSION, { version: 'v1.31.0', minor: 31, was: 30 }],
      ]);
    });

    it('logs what it watches, what is not served (once) and when synced (once), under its component', async () => {
      kube.serve(EG_FSM);
      kube.serve(EG_OSM);
      kube.serve(PLUGIN);
      const v = await started({ resources: [NS, SVC, EG_FSM, EG_OSM, PLUGIN, SPLIT] });
      expect(v.ready()).toBe(true);
      const expected: Array<[string, string, Record<string, unknown>]> = [
        ['info', VERSION, { version: 'v1.30.2', minor: 30, was: undefined }],
        ['info', 'watching', { resources: [FSM_ID, OSM_ID, PLUGIN_ID] }],
        ['info', NOT_SERVED, { resources: ['trafficsplits.split.smi-spec.io'] }],
        ['info', SYNCED, { resources: ['namespaces.v1', 'services.v1', FSM_ID, OSM_ID, PLUGIN_ID] }],
      ];
      expect(viewLogs()).toEqual(expected);
      expect(logs.find((l) => l.msg === SYNCED)?.bindings).toEqual({ component: 'cluster-view' });
      // a discovery that changes nothing says nothing and lists nothing
      const lists = sent('list').length;
      await advance(60_000);
      expect(viewLogs()).toEqual(expected);
      expect(sent('list')).toHaveLength(lists);
      // a CRD installed later: watched, said, readiness not said again
      kube.serve(SPLIT, 'v1alpha4');
      await advance(60_000);
      expect(viewLogs().slice(expected.length)).toEqual([['info', 'watching', { resources: ['trafficsplits.v1alpha4.split.smi-spec.io'] }]]);
      expect(times('list', SPLIT_PATH)).toEqual([120_000]);
    });

    it('says nothing about unserved resources when every one is served', async () => {
      kube.serve(PLUGIN);
      await started({ resources: [NS, PLUGIN] });
      expect(viewLogs().map((l) => l[1])).toEqual([VERSION, 'watching', SYNCED]);
    });

    it('drops one group of a kind and keeps the other; the kind goes away with its last group', async () => {
      kube.serve(EG_FSM);
      kube.serve(EG_OSM);
      kube.collections.set(FSM_PATH, [{ metadata: { name: 'out', namespace: 'app', resourceVersion: '1' }, spec: { from: 'fsm' } }]);
      kube.collections.set(OSM_PATH, [{ metadata: { name: 'out', namespace: 'app', resourceVersion: '2' }, spec: { from: 'osm' } }]);
      const v = await started({ resources: [NS, EG_FSM, EG_OSM] });
      expect(v.list('Egress', 'app')).toHaveLength(2);
      await advance(1000);

      kube.unserve(EG_OSM.group);
      await v.discoverNow();
      expect(viewLogs().filter((l) => l[1] === DROPPED)).toEqual([['info', DROPPED, { resource: OSM_ID, now: 'not served' }]]);
      expect(v.list('Egress')).toEqual([{ apiVersion: 'policy.flomesh.io/v1alpha1', kind: 'Egress', metadata: { name: 'out', namespace: 'app', resourceVersion: '1' }, spec: { from: 'fsm' } }]);
      expect(v.informerStatus().map((i) => `${i.plural}.${i.group}`)).toEqual(['namespaces.', 'egresses.policy.flomesh.io']);
      expect(kube.watches.map((w) => w.path)).toEqual([NS_PATH, FSM_PATH]);
      expect(v.kindCurrent('Egress')).toBe(true);
      expect(v.lastEventAges()).toEqual(new Map([['Namespace', 1], ['Egress', 1]]));
      expect(v.currentSince()).toEqual(new Map([['Namespace', T0 / 1000], ['Egress', T0 / 1000]]));

      kube.unserve(EG_FSM.group);
      await v.discoverNow();
      expect(v.list('Egress')).toEqual([]);
      expect(v.kindCurrent('Egress')).toBe(true);
      expect(v.lastEventAges()).toEqual(new Map([['Namespace', 1]]));
      expect(v.currentSince()).toEqual(new Map([['Namespace', T0 / 1000]]));
    });

    it('re-watches a resource at its new preferred version', async () => {
      kube.serve(EG_FSM);
      const v = await started({ resources: [NS, EG_FSM] });
      kube.serve(EG_FSM, 'v1beta1', true);
      kube.collections.set('/apis/policy.flomesh.io/v1beta1/egresses', [{ metadata: { name: 'new', namespace: 'app', resourceVersion: '7' } }]);
      await v.discoverNow();
      expect(viewLogs().slice(-2)).toEqual([
        ['info', 'preferred version changed: re-watching', { resource: FSM_ID, now: 'v1beta1' }],
        ['info', 'watching', { resources: ['egresses.v1beta1.policy.flomesh.io'] }],
      ]);
      await flush();
      expect(times('list', '/apis/policy.flomesh.io/v1beta1/egresses')).toEqual([0]);
      expect(v.list('Egress').map((o) => o.apiVersion)).toEqual(['policy.flomesh.io/v1beta1']);
      expect(v.informerStatus().map((i) => `${i.plural}.${i.version}.${i.group}`)).toEqual(['namespaces.v1.', 'egresses.v1beta1.policy.flomesh.io']);
    });

    it('discoverNow() joins a discovery under way and runs a new one once it is done', async () => {
      const v = await started({ resources: [NS] });
      await Promise.all([v.discoverNow(), v.discoverNow()]);
      expect(times('get', '/apis')).toEqual([0, 0]);
      await v.discoverNow();
      expect(times('get', '/apis')).toEqual([0, 0, 0]);
    });

    it('reads the groups of a kind in the order of the resource table, whatever order they were found in', async () => {
      kube.serve(EG_OSM);
      const v = await started({ resources: [NS, EG_FSM, EG_OSM] });
      kube.serve(EG_FSM);
      await v.discoverNow();
      await flush();
      expect(v.kindCurrent('Egress')).toBe(true);
      kube.watch(FSM_PATH).fail(apiError('watch: 500', 500));
      kube.watch(OSM_PATH).fail(apiError('watch: 500', 500));
      await flush();
      expect(v.kindCurrent('Egress')).toBe(false);
      const n = kube.calls.length;
      expect(await v.freshen(['Egress'], Date.now() + 1000)).toEqual([]);
      expect(kube.calls.slice(n).filter((c) => c.verb === 'list').map((c) => [c.path, c.query?.resourceVersion])).toEqual([
        [FSM_PATH, undefined],
        [OSM_PATH, undefined],
      ]);
    });
  });

  describe('readiness', () => {
    it('is not ready on lists alone: it waits for discovery, then says it is synced', async () => {
      // lists that complete before discovery must not trip the readiness check (nothing may escape as an error)
      const escaped: unknown[] = [];
      const onUnhandled = (reason: unknown): void => void escaped.push(reason);
      process.on('unhandledRejection', onUnhandled);
      try {
        const apis = kube.hold(is('get', '/apis'));
        const v = await started({ resources: [NS, SVC] });
        expect(v.informerStatus().map((i) => i.listed)).toEqual([true, true]);
        expect(v.ready()).toBe(false);
        expect(v.notReady()).toEqual(['API discovery not done yet']);
        apis.release();
        await flush();
        expect(v.ready()).toBe(true);
        expect(v.notReady()).toEqual([]);
        expect(viewLogs().filter((l) => l[1] === SYNCED)).toEqual([['info', SYNCED, { resources: ['namespaces.v1', 'services.v1'] }]]);
        await flush();
        expect(escaped).toEqual([]);
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
    });

    it('once ready, whenReady() resolves true at once, whatever the deadline', async () => {
      const v = await started({ resources: [NS] });
      expect(v.ready()).toBe(true);
      const open = settledFlag(v.whenReady());
      const past = settledFlag(v.whenReady(T0 - 1000));
      await flush();
      expect([open, past]).toEqual([
        { done: true, value: true },
        { done: true, value: true },
      ]);
    });

    it('names each resource not listed yet, with its failure when it has one', async () => {
      kube.serve(PLUGIN);
      const ns = kube.hold(is('list', NS_PATH));
      kube.fail(is('list', PLUGIN_PATH), apiError(`GET ${PLUGIN_PATH}: 403 forbidden`, 403), 2);
      const v = await started({ resources: [NS, SVC, PLUGIN] });
      expect(v.notReady()).toEqual(['namespaces.v1 not listed yet', `${PLUGIN_ID} not listed yet: GET ${PLUGIN_PATH}: 403 forbidden`]);
      ns.release();
      await flush();
      expect(v.notReady()).toEqual([`${PLUGIN_ID} not listed yet: GET ${PLUGIN_PATH}: 403 forbidden`]);
      await advance(300);
      expect(v.ready()).toBe(true);
      expect(v.notReady()).toEqual([]);
    });

    it('a resource dropped before it ever listed no longer holds readiness back', async () => {
      kube.serve(PLUGIN);
      kube.serve(EG_FSM);
      kube.fail(is('list', PLUGIN_PATH), apiError('plugins: 403 forbidden', 403), Number.POSITIVE_INFINITY);
      const fsm = kube.fail(is('list', FSM_PATH), apiError('egresses: 403 forbidden', 403), Number.POSITIVE_INFINITY);
      const v = await started({ resources: [NS, EG_FSM, PLUGIN], discoveryIntervalMs: 5000 });
      expect(v.notReady()).toEqual([`${FSM_ID} not listed yet: egresses: 403 forbidden`, `${PLUGIN_ID} not listed yet: plugins: 403 forbidden`]);
      kube.unserve(PLUGIN.group);
      await advance(5000);
      expect(v.ready()).toBe(false);
      expect(v.notReady()).toEqual([`${FSM_ID} not listed yet: egresses: 403 forbidden`]);
      fsm.cancel();
      const ready = settledFlag(v.whenReady());
      await advance(2000);
      expect(ready).toEqual({ done: true, value: true });
      expect(viewLogs().filter((l) => l[1] === SYNCED)).toEqual([['info', SYNCED, { resources: ['namespaces.v1', FSM_ID] }]]);
    });

    it('once ready it names nothing: a never-listed resource re-watched at a new version is not reported for ever', async () => {
      kube.serve(PLUGIN);
      kube.fail(is('list', PLUGIN_PATH), apiError('plugins: 403 forbidden', 403), Number.POSITIVE_INFINITY);
      const v = await started({ resources: [NS, PLUGIN] });
      expect(v.ready()).toBe(false);
      kube.serve(PLUGIN, 'v1beta1', true);
      kube.collections.set('/apis/plugin.flomesh.io/v1beta1/plugins', []);
      await v.discoverNow();
      await advance(5000);
      expect(v.ready()).toBe(true);
      expect(v.notReady()).toEqual([]);
    });

    it('the last unlisted resource dropped makes the view ready at once', async () => {
      kube.serve(PLUGIN);
      kube.fail(is('list', PLUGIN_PATH), apiError('plugins: 403 forbidden', 403), Number.POSITIVE_INFINITY);
      const v = await started({ resources: [NS, PLUGIN] });
      expect(v.ready()).toBe(false);
      kube.unserve(PLUGIN.group);
      await v.discoverNow();
      expect(v.ready()).toBe(true);
      expect(viewLogs().filter((l) => l[1] === SYNCED)).toEqual([['info', SYNCED, { resources: ['namespaces.v1'] }]]);
    });

    it('whenReady(deadline) resolves false exactly at the deadline; without one it waits; stop() ends the wait with false', async () => {
      kube.hang(is('get', '/apis'));
      const v = await started({ resources: [NS] });
      const timed = settledFlag(v.whenReady(T0 + 1000));
      const open = settledFlag(v.whenReady());
      await advance(999);
      expect(timed.done).toBe(false);
      await advance(1);
      expect(timed).toEqual({ done: true, value: false });
      await advance(600_000);
      expect(open.done).toBe(false);
      await v.stop();
      await flush();
      expect(open).toEqual({ done: true, value: false });
      const after = settledFlag(v.whenReady());
      await flush();
      expect(after).toEqual({ done: true, value: false });
    });

    it('whenReady(deadline) reads the deadline on the view\'s own clock, as freshen() does', async () => {
      kube.hang(is('get', '/apis'));
      skew = 3_000_000;
      const v = await started({ resources: [NS] });
      const timed = settledFlag(v.whenReady(T0 + skew + 1000));
      await advance(999);
      expect(timed.done).toBe(false);
      await advance(1);
      expect(timed).toEqual({ done: true, value: false });
    });

    it('whenReady clears its deadline timer once ready', async () => {
      const ns = kube.hold(is('list', NS_PATH));
      const v = await started({ resources: [NS] });
      const before = vi.getTimerCount();
      const p = settledFlag(v.whenReady(T0 + 10_000));
      expect(vi.getTimerCount()).toBe(before + 1);
      ns.release();
      await flush();
      expect(p).toEqual({ done: true, value: true });
      expect(vi.getTimerCount()).toBe(before);
    });
  });

  describe('per-kind state', () => {
    it('kindCurrent: false before the list, true for a kind not served, false while any group of the kind is behind', async () => {
      kube.serve(EG_FSM);
      kube.serve(EG_OSM);
      const ns = kube.hold(is('list', NS_PATH));
      const v = await started({ resources: [NS, EG_FSM, EG_OSM] });
      expect(v.kindCurrent('Namespace')).toBe(false);
      expect(v.kindCurrent('Egress')).toBe(true);
      expect(v.kindCurrent('NotAKind')).toBe(true);
      ns.release();
      await flush();
      expect(v.kindCurrent('Namespace')).toBe(true);
      kube.watch(OSM_PATH).fail(apiError('watch: 500', 500));
      await flush();
      expect(v.kindCurrent('Egress')).toBe(false);
      kube.watch(OSM_PATH).send('BOOKMARK', { metadata: { resourceVersion: '120' } });
      expect(v.kindCurrent('Egress')).toBe(true);
    });

    it('freshen() asks nothing for kinds in sync (or not served)', async () => {
      const v = await started({ resources: [NS, SVC] });
      const n = kube.calls.length;
      expect(await v.freshen(['Namespace', 'Namespace', 'NotAKind'], Date.now() + 1000)).toEqual([]);
      await flush();
      expect(kube.calls.length).toBe(n);
    });

    it('freshen() lists a stale kind at once from etcd, skipping an hour of backoff, and leaves the others alone', async () => {
      const v = await started({ resources: [NS, SVC], backoff: { initialMs: 3_600_000, maxMs: 3_600_000 } });
      kube.watch(SVC_PATH).fail(apiError('watch: 500', 500)); // re-watched at once
      await flush();
      kube.watch(SVC_PATH).fail(apiError('watch: 500', 500)); // now an hour of backoff
      await advance(1000);
      expect(v.kindCurrent('Service')).toBe(false);
      kube.collections.set(SVC_PATH, [{ metadata: { name: 'meanwhile', namespace: 'app', resourceVersion: '150' } }]);
      expect(await v.freshen(['Service', 'Namespace'], Date.now() + 1000)).toEqual([]);
      expect(sent('list')).toEqual([
        { verb: 'list', path: NS_PATH, query: { limit: 500, resourceVersion: '0' }, timeoutMs: 60_000, at: 0 },
        { verb: 'list', path: SVC_PATH, query: { limit: 500, resourceVersion: '0' }, timeoutMs: 60_000, at: 0 },
        { verb: 'list', path: SVC_PATH, query: { limit: 500 }, timeoutMs: 60_000, at: 1000 },
      ]);
      expect(v.get('Service', 'app', 'meanwhile')?.metadata?.resourceVersion).toBe('150');
    });

    it('freshen() returns the kinds still behind when the deadline passes', async () => {
      const v = await started({ resources: [NS, SVC] });
      kube.hang(is('list', SVC_PATH));
      kube.watch(SVC_PATH).fail(apiError('watch: 500', 500));
      await flush();
      const r = settledFlag(v.freshen(['Service', 'Namespace'], Date.now() + 500));
      await advance(499);
      expect(r.done).toBe(false);
      await advance(1);
      expect(r).toEqual({ done: true, value: ['Service'] });
      expect(times('list', SVC_PATH)).toEqual([0, 0]);
    });

    it('lastEventAges: seconds on the view clock since the newest event of any group; kinds never listed absent', async () => {
      skew = 3_000_000;
      kube.serve(EG_FSM);
      kube.serve(EG_OSM);
      kube.hang(is('list', SVC_PATH));
      kube.hang(is('list', OSM_PATH));
      const v = await started({ resources: [NS, SVC, EG_FSM, EG_OSM] });
      await advance(5000);
      expect(v.lastEventAges()).toEqual(new Map([['Namespace', 5], ['Egress', 5]]));
      kube.watch(FSM_PATH).send('ADDED', { metadata: { name: 'x', namespace: 'app', resourceVersion: '101' } });
      await advance(1500);
      expect(v.lastEventAges()).toEqual(new Map([['Namespace', 6.5], ['Egress', 1.5]]));
      expect(v.informerStatus().find((i) => i.group === EG_FSM.group)?.lastEventAt).toBe(T0 + skew + 5000);
    });

    it('currentSince: per kind, the latest of its groups’ view-clock times in seconds; 0 while any group is behind', async () => {
      skew = 3_000_000;
      kube.serve(EG_FSM);
      kube.serve(EG_OSM);
      kube.hang(is('list', SVC_PATH));
      const osm = kube.hold(is('list', OSM_PATH));
      const v = await started({ resources: [NS, SVC, EG_FSM, EG_OSM] });
      const at = (ms: number): number => (T0 + skew + ms) / 1000;
      expect(v.currentSince()).toEqual(new Map([['Namespace', at(0)], ['Service', 0], ['Egress', 0]]));
      await advance(2000);
      osm.release();
      await flush();
      expect(v.currentSince()).toEqual(new Map([['Namespace', at(0)], ['Service', 0], ['Egress', at(2000)]]));
      kube.watch(FSM_PATH).fail(apiError('watch: 500', 500));
      await flush();
      expect(v.currentSince().get('Egress')).toBe(0);
      await advance(1000);
      kube.watch(FSM_PATH).send('BOOKMARK', { metadata: { resourceVersion: '130' } });
      expect(v.currentSince().get('Egress')).toBe(at(3000));
    });

    it('informerStatus: group, version, plural, kind and the reflector state, without the path', async () => {
      kube.serve(PLUGIN);
      const v = await started({ resources: [NS, PLUGIN] });
      const state = { listed: true, current: true, currentSince: T0, resourceVersion: '100', lastEventAt: T0 };
      expect(v.informerStatus()).toEqual([
        { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', ...state },
        { group: 'plugin.flomesh.io', version: 'v1alpha1', plural: 'plugins', kind: 'Plugin', ...state },
      ]);
    });

    it('relistAll() lists every resource again, from the watch cache', async () => {
      kube.serve(PLUGIN);
      const v = await started({ resources: [NS, PLUGIN] });
      await advance(1000);
      v.relistAll();
      await flush();
      expect(sent('list').map((c) => [c.path, c.at, c.query?.resourceVersion])).toEqual([
        [NS_PATH, 0, '0'],
        [PLUGIN_PATH, 0, '0'],
        [NS_PATH, 1000, '0'],
        [PLUGIN_PATH, 1000, '0'],
      ]);
    });
  });

  describe('fetchNamespace', () => {
    it('GETs the Namespace with a 5 s timeout and stores it as the view keeps it', async () => {
      const v = await started({ resources: [NS] });
      kube.namespaces.set('fresh', {
        metadata: { name: 'fresh', resourceVersion: '150', labels: { a: 'b' }, managedFields: [{}] } as KubeObject['metadata'],
        status: { phase: 'Active' },
      });
      const want = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'fresh', resourceVersion: '150', labels: { a: 'b' } } };
      expect(await v.fetchNamespace('fresh')).toEqual(want);
      expect(v.get('Namespace', '', 'fresh')).toEqual(want);
      expect(sent('get', '/api/v1/namespaces/fresh')).toEqual([{ verb: 'get', path: '/api/v1/namespaces/fresh', query: undefined, timeoutMs: 5000, at: 0 }]);
      expect(await v.fetchNamespace('absent')).toBeUndefined();
      expect(v.get('Namespace', '', 'absent')).toBeUndefined();
    });

    it('keeps no handle of a request once it has ended (namespace reads on the admission path, discovery): nothing accumulates', async () => {
      const v = await started({ resources: [NS] });
      const handles = (): number => (v as unknown as { requests: Set<AbortController> }).requests.size;
      await v.discoverNow();
      expect(handles()).toBe(0);
      kube.namespaces.set('fresh', { metadata: { name: 'fresh', resourceVersion: '1' } });
      await v.fetchNamespace('fresh');
      kube.fail(is('get', '/api/v1/namespaces/broken'), apiError('GET /api/v1/namespaces/broken: 500 boom', 500));
      await expect(v.fetchNamespace('broken')).rejects.toThrow('500 boom');
      expect(handles()).toBe(0);
    });

    it('uses fetchTimeoutMs when given', async () => {
      const v = view({ resources: [NS], fetchTimeoutMs: 750, requestTimeoutMs: 9000 });
      await v.fetchNamespace('x');
      expect(sent('get').map((c) => [c.path, c.timeoutMs])).toEqual([['/api/v1/namespaces/x', 750]]);
    });

    it.each([
      ['an older answer keeps the cached copy', '200', '150', 'list'],
      ['an answer as new replaces it', '150', '150', 'get'],
      ['a newer answer replaces it', '150', '200', 'get'],
      ['with no resourceVersion on either side the answer replaces it', undefined, undefined, 'get'],
      ['a cached copy without resourceVersion is replaced', undefined, '5', 'get'],
      ['an answer without resourceVersion never replaces a versioned copy', '7', undefined, 'list'],
    ])('%s (cached %s, answer %s)', async (_what, cachedRv, answerRv, winner) => {
      const meta = (rv: string | undefined, from: string): KubeObject['metadata'] => ({ name: 'app', labels: { from }, ...(rv === undefined ? {} : { resourceVersion: rv }) });
      kube.collections.set(NS_PATH, [{ metadata: meta(cachedRv, 'list') }]);
      const v = await started({ resources: [NS] });
      kube.namespaces.set('app', { metadata: meta(answerRv, 'get') });
      expect((await v.fetchNamespace('app'))?.metadata?.labels).toEqual({ from: 'get' });
      expect(v.get('Namespace', '', 'app')?.metadata?.labels).toEqual({ from: winner });
    });

    it('an answer without metadata is returned and not stored over a cached copy', async () => {
      kube.collections.set(NS_PATH, [{ metadata: { name: 'app', resourceVersion: '7' } }]);
      const v = await started({ resources: [NS] });
      kube.namespaces.set('app', { spec: {} });
      expect(await v.fetchNamespace('app')).toEqual({ apiVersion: 'v1', kind: 'Namespace', spec: {} });
      expect(v.get('Namespace', '', 'app')).toEqual({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'app', resourceVersion: '7' } });
    });

    it('stop() aborts a GET under way', async () => {
      const v = await started({ resources: [NS] });
      kube.hang(is('get', '/api/v1/namespaces/slow'));
      const p = v.fetchNamespace('slow');
      const failed = p.catch((err: unknown) => err);
      await flush();
      await v.stop();
      expect(await failed).toEqual(new KubeApiError('GET /api/v1/namespaces/slow: aborted', 0));
      expect(kube.calls.find((c) => c.path === '/api/v1/namespaces/slow')?.signal?.aborted).toBe(true);
    });
  });

  describe('stop', () => {
    it('stop() during discovery aborts it, says nothing of it, and nothing is sent afterwards', async () => {
      kube.hang(is('get', '/apis'));
      const v = await started({ resources: [NS, PLUGIN] });
      const stopping = settledFlag(v.stop());
      await flush();
      expect(stopping.done).toBe(true);
      expect(kube.calls.find((c) => c.path === '/apis')?.signal?.aborted).toBe(true);
      expect(viewLogs()).toEqual([]);
      const n = kube.calls.length;
      await advance(300_000);
      expect(kube.calls.length).toBe(n);
      expect(v.ready()).toBe(false);
    });

    it('a discovery answered after stop() is not applied and schedules nothing', async () => {
      kube.serve(PLUGIN);
      const apis = kube.hold(is('get', '/apis'), { ignoreAbort: true });
      const v = await started({ resources: [NS, PLUGIN] });
      const stopping = settledFlag(v.stop());
      await flush();
      expect(stopping.done).toBe(false);
      apis.release();
      await flush();
      expect(stopping.done).toBe(true);
      expect(v.kubernetesMinor()).toBeUndefined();
      expect(viewLogs()).toEqual([]);
      expect(v.informerStatus().map((i) => i.plural)).toEqual(['namespaces']);
      const n = kube.calls.length;
      await advance(300_000);
      expect(kube.calls.length).toBe(n);
    });

    it('stop() while a discovery drops a resource: the discovery adds nothing more', async () => {
      kube.serve(PLUGIN);
      const v = await started({ resources: [NS, PLUGIN, SPLIT] });
      kube.unserve(PLUGIN.group);
      kube.serve(SPLIT, 'v1alpha4');
      let stopping: Promise<void> | undefined;
      hook = (e) => {
        if (e.msg === DROPPED) stopping = v.stop();
      };
      await v.discoverNow();
      await stopping;
      await flush();
      expect(v.informerStatus().map((i) => i.plural)).toEqual(['namespaces']);
      expect(kube.calls.filter((c) => c.path === SPLIT_PATH)).toEqual([]);
      expect(viewLogs().filter((l) => l[1] === 'watching')).toHaveLength(1);
      expect(kube.watches).toEqual([]);
    });
  });
});
