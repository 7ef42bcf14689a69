// Edge cases of BootstrapSecretController that bootstrap-secrets.test.ts (real fake API server, real time) cannot pin
// down exactly: the requests' paths, queries and whole bodies, the backoff delays and their resets, concurrency,
// start/stop/resume, the pod and ResourceQuota watch handlers, and what is reported (Events, log lines, callbacks).
// Everything runs on fake timers against a scripted in-memory KubeHttp, so every request time is asserted exactly.
import fastJsonPatch from 'fast-json-patch';
import type { Logger } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { BootstrapIssuer, IssuedBootstrapCertificate, IssueRequest } from '../../src/certs/bootstrap-issuer.js';
import { MemoryView } from '../../src/cluster/memory.js';
import { BootstrapSecretController, type BootstrapSecretsOptions } from '../../src/controllers/bootstrap-secrets.js';
import { bootstrapSecretFor } from '../../src/injector/bootstrap.js';
import { bootstrapSecretPlan, injectPod } from '../../src/injector/inject.js';
import { statusError, type KubeHttp, type KubeRequest } from '../../src/kube/http.js';
import { meshIdentity } from '../../src/mesh/flavor.js';
import type { KubeObject } from '../../src/mesh/objects.js';
import { meshConfigObject, namespace, pod } from '../injector/helpers.js';
import { recordingLogger, type LogEntry } from '../support/recording-logger.js';

const T0 = Date.UTC(2030, 0, 2, 3, 4, 5, 678);
const mesh = meshIdentity('fsm');
const injector = { mesh, sidecarMode: 'classic' as const };
const PODS = '/api/v1/pods';
const QUOTAS = '/api/v1/resourcequotas';
const SECRETS = '/api/v1/namespaces/apps/secrets';
const EVENTS = '/api/v1/namespaces/apps/events';
const SELECTOR = 'fsm-proxy-uuid,mesh-admission.io/mesh=fsm';
const METADATA_ONLY = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';
const WARN_MSG = 'bootstrap Secret not created; retrying until it can be (the sidecar cannot start without it)';
const DEBUG_MSG = 'bootstrap Secret not created; retrying';
const TAIL = '; retrying until it can be (the sidecar cannot start without it)';

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((a, b) => ((resolve = a), (reject = b)));
  return { promise, resolve, reject };
}

interface Call {
  readonly method: string;
  readonly path: string;
  readonly query: KubeRequest['query'];
  readonly accept: string | undefined;
  readonly body: unknown;
  readonly timeoutMs: number | undefined;
  /** fake ms since T0 */
  readonly at: number;
}
type Answer = (call: Call) => unknown;

interface Watch {
  readonly path: string;
  readonly onLine: (line: string) => void;
  readonly fail: (err: unknown) => void;
  open: boolean;
}

/** A scripted KubeHttp: lists of pods and quotas, watches the test feeds, POSTs answered from a script (default: 201). */
class FakeKube {
  pods: KubeObject[] = [];
  quotas: KubeObject[] = [];
  /** while set, a pod list waits for it */
  podListGate: Promise<void> | undefined;
  /** every Secret create is held until the test settles it */
  holdSecrets = false;
  readonly held: Array<Deferred<unknown>> = [];
  readonly calls: Call[] = [];
  private readonly watches: Watch[] = [];
  private readonly scripted: Array<{ readonly path: string; readonly secret: string | undefined; readonly answer: Answer }> = [];
  readonly http = {
    json: (req: KubeRequest) => this.json(req),
    stream: (req: KubeRequest, onLine: (line: string) => void) => this.stream(req, onLine),
  } as unknown as KubeHttp;

  /** the next POST to `path` (for `secret` only, when given) gets `answer` */
  script(path: string, answer: Answer, secret?: string): void {
    this.scripted.push({ path, secret, answer });
  }

  /** the next `count` POSTs to `path` fail with `err` */
  fail(path: string, err: unknown, count = 1, secret?: string): void {
    for (let i = 0; i < count; i++)
      this.script(
        path,
        () => {
          throw err;
        },
        secret,
      );
  }

  posts(path: string): Call[] {
    return this.calls.filter((c) => c.method === 'POST' && c.path === path);
  }

  /** the times (fake ms since T0) of the Secret creates */
  createTimes(): number[] {
    return this.posts(SECRETS).map((c) => c.at);
  }

  watchCalls(path: string): Call[] {
    return this.calls.filter((c) => c.method === 'WATCH' && c.path === path);
  }

  /** a watch event on the newest open watch of `path` */
  send(path: string, type: string, object: unknown): void {
    const w = [...this.watches].reverse().find((x) => x.path === path && x.open);
    if (!w) throw new Error(`no open watch on ${path}`);
    try {
      w.onLine(JSON.stringify({ type, object }));
    } catch (err) {
      // as the real client: a throwing line handler ends the stream with that error
      w.open = false;
      w.fail(err);
    }
  }

  /** settles every held create (so that stop() can return) */
  releaseAll(): void {
    for (const d of this.held.splice(0)) d.resolve({});
  }

  private async json(req: KubeRequest): Promise<unknown> {
    const call: Call = { method: req.method ?? 'GET', path: req.path, query: req.query, accept: req.accept, body: req.body === undefined ? undefined : structuredClone(req.body), timeoutMs: req.timeoutMs, at: Date.now() - T0 };
    this.calls.push(call);
    if (call.method === 'GET') {
      if (req.path === PODS && this.podListGate) await this.podListGate;
      const items = req.path === PODS ? this.pods : req.path === QUOTAS ? this.quotas : [];
      return { items: structuredClone(items), metadata: { resourceVersion: '1' } };
    }
    const secret = (call.body as { metadata?: { name?: string } } | undefined)?.metadata?.name;
    const i = this.scripted.findIndex((s) => s.path === req.path && (s.secret === undefined || s.secret === secret));
    if (i >= 0) return this.scripted.splice(i, 1)[0]!.answer(call);
    if (req.path === SECRETS && this.holdSecrets) {
      const d = deferred<unknown>();
      this.held.push(d);
      return d.promise;
    }
    return { metadata: {} };
  }

  private stream(req: KubeRequest, onLine: (line: string) => void): Promise<void> {
    this.calls.push({ method: 'WATCH', path: req.path, query: req.query, accept: req.accept, body: undefined, timeoutMs: req.timeoutMs, at: Date.now() - T0 });
    return new Promise<void>((resolve, reject) => {
      const w: Watch = { path: req.path, onLine, fail: reject, open: true };
      this.watches.push(w);
      req.onOpen?.();
      req.signal?.addEventListener(
        'abort',
        () => {
          w.open = false;
          resolve();
        },
        { once: true },
      );
    });
  }
}


let seq = 0;

describe('BootstrapSecretController edges', () => {
  let kube: FakeKube;
  let view: MemoryView;
  let logs: LogEntry[];
  let bindings: Array<Record<string, unknown>>;
  let issued: IssueRequest[];
  let certs: IssuedBootstrapCertificate[];
  let created: number[];
  let exists: number;
  let failed: string[];
  let controllers: BootstrapSecretController[];

  const logger = (): Logger => recordingLogger(logs, { bindings });

  /** hands out CERT-1, CERT-2, … and records what was asked */
  const issuer = {
    issue: (req: IssueRequest): Promise<IssuedBootstrapCertificate> => {
      issued.push(req);
      const n = issued.length;
      const cert: IssuedBootstrapCertificate = { caBundle: 'CA-PEM', cert: `CERT-${n}`, key: `KEY-${n}`, notAfter: new Date(T0 + 1e12) };
      certs.push(cert);
      return Promise.resolve(cert);
    },
  } as unknown as BootstrapIssuer;

  beforeEach(() => {
    vi.useFakeTimers({ now: T0 });
    kube = new FakeKube();
    view = new MemoryView([namespace('apps'), namespace('other'), meshConfigObject(mesh, { repoServer: { port: 6161 } })]);
    logs = [];
    bindings = [];
    issued = [];
    certs = [];
    created = [];
    exists = 0;
    failed = [];
    controllers = [];
  });

  afterEach(async () => {
    kube.releaseAll();
    await Promise.all(controllers.splice(0).map((c) => c.stop()));
    vi.useRealTimers();
  });

  const flush = (): Promise<unknown> => vi.advanceTimersByTimeAsync(0);
  const advance = (ms: number): Promise<unknown> => vi.advanceTimersByTimeAsync(ms);

  /** A pod as the API server stores it after our admission (probe rewritten, bootstrap volume), with a name and a uid. */
  function admitted(opts: { phase?: string | null; ns?: string } = {}): KubeObject {
    const n = ++seq;
    const uuid = `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
    const ns = opts.ns ?? 'apps';
    const p = pod({ spec: { containers: [{ name: 'app', image: 'nginx', ports: [{ name: 'http', containerPort: 8080 }], readinessProbe: { httpGet: { path: '/ready', port: 'http' }, timeoutSeconds: 3 } }] } });
    const plan = injectPod({ pod: p, namespace: ns, uuid }, view, injector);
    if (!('patch' in plan)) throw new Error(`not injected: ${plan.message}`);
    const stored = fastJsonPatch.applyPatch(structuredClone(p), structuredClone(plan.patch), true, false).newDocument as KubeObject;
    stored.metadata = { ...stored.metadata, name: `web-${n}`, namespace: ns, uid: `uid-${n}`, resourceVersion: String(100 + n) };
    const phase = opts.phase === undefined ? 'Pending' : opts.phase;
    if (phase !== null) stored.status = { phase };
    return stored;
  }

  const uuidOf = (p: KubeObject): string => p.metadata!.labels!['fsm-proxy-uuid']!;
  const secretName = (p: KubeObject): string => `sidecar-bootstrap-config-${uuidOf(p)}`;
  const commonName = (p: KubeObject, sa = 'web'): string => `${uuidOf(p)}.sidecar.${sa}.${p.metadata!.namespace}.cluster.local`;
  const createdNames = (): unknown[] => kube.posts(SECRETS).map((c) => (c.body as { metadata: { name: string } }).metadata.name);
  const owner = (p: KubeObject): { apiVersion: string; kind: string; name: string; uid: string; controller: boolean; blockOwnerDeletion: boolean } => ({
    apiVersion: 'v1',
    kind: 'Pod',
    name: p.metadata!.name ?? '',
    uid: p.metadata!.uid!,
    controller: false,
    blockOwnerDeletion: false,
  });
  const forbidden = (message: string, status = 403): Error => statusError('POST', SECRETS, status, { kind: 'Status', message });
  const eventMessages = (): unknown[] => kube.posts(EVENTS).map((c) => (c.body as { message: string }).message);
  /** [attempt, retryInMs] of every failed attempt, as logged */
  const attempts = (): Array<[unknown, unknown]> => logs.filter((l) => l.msg === WARN_MSG || l.msg === DEBUG_MSG).map((l) => [l.obj.attempt, l.obj.retryInMs]);

  const start = async (extra: Partial<BootstrapSecretsOptions> = {}, pods: KubeObject[] = []): Promise<BootstrapSecretController> => {
    kube.pods = pods;
    const c = new BootstrapSecretController({
      http: kube.http,
      view,
      injector,
      issuer,
      logger: logger(),
      random: () => 1,
      onCreated: (s) => created.push(s),
      onExists: () => exists++,
      onFailed: (s) => failed.push(s),
      ...extra,
    });
    controllers.push(c);
    c.start();
    await flush();
    return c;
  };

  describe('what is sent', () => {
    it('creates the Secret with one POST: collection path, field manager, metadata-only answer, owned by the pod, 10 s timeout', async () => {
      const p = admitted();
      const c = await start({}, [p]);
      expect(kube.posts(SECRETS)).toStrictEqual([
        {
          method: 'POST',
          path: SECRETS,
          query: { fieldManager: 'mesh-admission' },
          accept: METADATA_ONLY,
          body: bootstrapSecretFor(mesh, bootstrapSecretPlan(p, view, injector)!, certs[0]!, owner(p)),
          timeoutMs: 10_000,
          at: 0,
        },
      ]);
      expect((kube.posts(SECRETS)[0]!.body as { metadata: { ownerReferences: unknown } }).metadata.ownerReferences).toStrictEqual([
        { apiVersion: 'v1', kind: 'Pod', name: 'web-' + String(seq), uid: `uid-${seq}`, controller: false, blockOwnerDeletion: false },
      ]);
      // the certificate for the pod's identity, an EC key (no RSA size), to be had within the request timeout
      expect(issued).toStrictEqual([{ commonName: commonName(p), keyType: 'ec', deadline: T0 + 10_000 }]);
      expect(c.pendingCount()).toBe(0);
      expect(created).toEqual([0]);
      expect(logs.filter((l) => l.msg === 'bootstrap Secret created')).toEqual([{ level: 'debug', msg: 'bootstrap Secret created', obj: { namespace: 'apps', secret: secretName(p), pod: p.metadata!.name } }]);
    });

    it('requestTimeoutMs bounds the create, the Event and the certificate deadline', async () => {
      kube.fail(SECRETS, forbidden('no'));
      await start({ requestTimeoutMs: 2500 }, [admitted()]);
      expect(kube.posts(SECRETS).map((c) => c.timeoutMs)).toEqual([2500]);
      expect(kube.posts(EVENTS).map((c) => c.timeoutMs)).toEqual([2500]);
      expect(issued.map((r) => r.deadline)).toEqual([T0 + 2500]);
    });

    it('lists and watches the pods this server injected for this mesh, and every namespace\'s ResourceQuotas', async () => {
      const c = await start({ watchTimeoutSeconds: 5 });
      expect(kube.calls.filter((x) => x.method === 'GET').map((x) => [x.path, x.query?.labelSelector])).toEqual([
        [PODS, SELECTOR],
        [QUOTAS, undefined],
      ]);
      expect(kube.watchCalls(PODS).map((x) => x.query?.labelSelector)).toEqual([SELECTOR]);
      expect(kube.watchCalls(QUOTAS)).toHaveLength(1);
      // the watches end after the given time (randomly up to twice it), not the default five minutes
      for (const w of [...kube.watchCalls(PODS), ...kube.watchCalls(QUOTAS)]) {
        const t = Number(w.query?.timeoutSeconds);
        expect(t).toBeGreaterThanOrEqual(5);
        expect(t).toBeLessThanOrEqual(10);
      }
      expect(c.hasListed()).toBe(true);
    });

    it('without watchTimeoutSeconds both watches use the default of five minutes', async () => {
      await start();
      for (const w of [...kube.watchCalls(PODS), ...kube.watchCalls(QUOTAS)]) {
        const t = Number(w.query?.timeoutSeconds);
        expect(t).toBeGreaterThanOrEqual(300);
        expect(t).toBeLessThanOrEqual(600);
      }
    });

    it('logs as component bootstrap-secrets', async () => {
      await start();
      expect(bindings[0]).toEqual({ component: 'bootstrap-secrets' });
    });

    it('hasListed is false until the pod list has answered', async () => {
      const gate = deferred<void>();
      kube.podListGate = gate.promise;
      const c = await start({}, [admitted()]);
      expect(c.hasListed()).toBe(false);
      expect(kube.posts(SECRETS)).toHaveLength(0);
      gate.resolve();
      await flush();
      expect(c.hasListed()).toBe(true);
      expect(kube.posts(SECRETS)).toHaveLength(1);
    });

    it('counts the seconds from when the pod was first seen to its Secret, never less than zero', async () => {
      let clock = 1000;
      kube.holdSecrets = true;
      const a = admitted();
      const b = admitted();
      await start({ now: () => clock }, [a, b]);
      // the certificate's deadline is from the controller's clock too
      expect(issued.map((r) => r.deadline)).toEqual([11_000, 11_000]);
      clock = 3500;
      kube.held[0]!.resolve({});
      await flush();
      expect(created).toEqual([2.5]);
      // a clock stepped back: 0, not a negative duration
      clock = 400;
      kube.held[1]!.resolve({});
      await flush();
      expect(created).toEqual([2.5, 0]);
    });

    it('works without any of the callbacks', async () => {
      const ok = admitted();
      const dup = admitted();
      kube.fail(SECRETS, forbidden('no'), 1, secretName(ok));
      kube.fail(SECRETS, statusError('POST', SECRETS, 409, { message: 'already exists', reason: 'AlreadyExists' }), 1, secretName(dup));
      const c = await start({ onCreated: undefined, onExists: undefined, onFailed: undefined }, [ok, dup]);
      await advance(500);
      expect(kube.createTimes()).toEqual([0, 0, 500]);
      expect(logs.filter((l) => l.msg === 'bootstrap Secret created').map((l) => l.obj.secret)).toEqual([secretName(ok)]);
      expect(c.pendingCount()).toBe(0);
    });
  });

  describe('which pods', () => {
    it('creates for pods with no phase yet or Pending; not for Running, Succeeded or pods being deleted', async () => {
      const noStatus = admitted({ phase: null });
      const pending = admitted();
      const running = admitted({ phase: 'Running' });
      const done = admitted({ phase: 'Succeeded' });
      const deleting = admitted();
      deleting.metadata!.deletionTimestamp = new Date(T0).toISOString();
      const c = await start({}, [noStatus, pending, running, done, deleting]);
      expect(createdNames()).toEqual([secretName(noStatus), secretName(pending)]);
      expect(c.pendingCount()).toBe(0);
    });

    it('skips objects without metadata, a uid or a spec, and pods without this mesh\'s bootstrap volume; the others are created', async () => {
      const noUid = admitted();
      delete noUid.metadata!.uid;
      const noSpec = admitted();
      delete noSpec.spec;
      const foreign = admitted();
      (foreign.spec as { volumes: Array<{ name: string; secret?: { secretName: string } }> }).volumes.find((v) => v.name === 'sidecar-bootstrap-config-volume')!.secret!.secretName = 'someone-elses';
      const good = admitted();
      const c = await start({}, [{ apiVersion: 'v1', kind: 'Pod' }, noUid, noSpec, foreign, good]);
      expect(createdNames()).toEqual([secretName(good)]);
      expect(issued).toHaveLength(1);
      expect(c.pendingCount()).toBe(0);
      expect(kube.calls.filter((x) => x.method === 'GET' && x.path === PODS)).toHaveLength(1);
    });

    it('a pod with only the deprecated serviceAccount field gets a certificate for that account', async () => {
      const p = admitted();
      const spec = p.spec as Record<string, unknown>;
      delete spec.serviceAccountName;
      spec.serviceAccount = 'legacy';
      await start({}, [p]);
      expect(issued.map((r) => r.commonName)).toEqual([commonName(p, 'legacy')]);
    });

    it('a pod without a name: the owner reference has an empty name, the Event is named after "pod"', async () => {
      const p = admitted();
      delete p.metadata!.name;
      kube.fail(SECRETS, forbidden('no'));
      await start({}, [p]);
      expect((kube.posts(SECRETS)[0]!.body as { metadata: { ownerReferences: unknown } }).metadata.ownerReferences).toStrictEqual([owner(p)]);
      expect(kube.posts(EVENTS).map((e) => (e.body as { metadata: unknown }).metadata)).toEqual([{ generateName: 'pod.', namespace: 'apps' }]);
    });

    it('a pod added by the watch is created at once; a deleted pod nobody waited for changes nothing', async () => {
      const c = await start();
      const p = admitted();
      kube.send(PODS, 'DELETED', admitted());
      kube.send(PODS, 'ADDED', p);
      await flush();
      expect(createdNames()).toEqual([secretName(p)]);
      expect(kube.watchCalls(PODS)).toHaveLength(1);
      expect(c.pendingCount()).toBe(0);
    });

    it('an update of a waiting pod keeps its backoff and count, and the next report names the new version', async () => {
      const p = admitted();
      kube.fail(SECRETS, forbidden('first'));
      kube.fail(SECRETS, forbidden('second'));
      await start({}, [p]);
      await advance(100);
      kube.send(PODS, 'MODIFIED', { ...p, metadata: { ...p.metadata, resourceVersion: '999' } });
      await flush();
      expect(kube.createTimes()).toEqual([0]);
      await advance(400);
      expect(kube.createTimes()).toEqual([0, 500]);
      expect(attempts()).toEqual([
        [1, 500],
        [2, 1000],
      ]);
      expect(kube.posts(EVENTS).map((e) => (e.body as { involvedObject: { resourceVersion: string } }).involvedObject.resourceVersion)).toEqual([p.metadata!.resourceVersion, '999']);
    });

    it('a pod deleted while its create is in flight: a success still counts, a failure is not retried nor reported', async () => {
      kube.holdSecrets = true;
      const ok = admitted();
      const bad = admitted();
      const c = await start({}, [ok, bad]);
      kube.send(PODS, 'DELETED', ok);
      kube.send(PODS, 'DELETED', bad);
      expect(c.pendingCount()).toBe(0);
      kube.held[0]!.resolve({});
      kube.held[1]!.reject(forbidden('no'));
      await advance(60_000);
      expect(created).toEqual([0]);
      expect(failed).toEqual([]);
      expect(kube.posts(EVENTS)).toEqual([]);
      expect(kube.createTimes()).toEqual([0, 0]);
      expect(logs.filter((l) => l.msg === WARN_MSG || l.msg === DEBUG_MSG)).toEqual([]);
    });

    it('a relist forgets the pods no longer listed and keeps the others', async () => {
      let responsible = false;
      const a = admitted();
      const b = admitted();
      const n = admitted();
      const c = await start({ responsible: () => responsible }, [a, b]);
      expect(c.pendingCount()).toBe(2);
      expect(c.waitingCount()).toBe(0);
      kube.pods = [a, n];
      kube.send(PODS, 'ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' });
      await flush();
      expect(kube.calls.filter((x) => x.method === 'GET' && x.path === PODS)).toHaveLength(2);
      expect(c.pendingCount()).toBe(2);
      responsible = true;
      c.resume();
      await flush();
      expect(createdNames()).toEqual([secretName(a), secretName(n)]);
    });

    it('a pod lost by a relist and seen again keeps only its new backoff', async () => {
      const p = admitted();
      kube.fail(SECRETS, forbidden('no'), 3);
      await start({}, [p]);
      await advance(100);
      kube.pods = [];
      kube.send(PODS, 'ERROR', { kind: 'Status', code: 410, reason: 'Gone' });
      await advance(100);
      kube.send(PODS, 'ADDED', p);
      await advance(2000);
      // 0: refused, retry at 500 (cancelled when forgotten); 200: seen again, refused, retry at 700; 700: refused, 1700
      expect(kube.createTimes()).toEqual([0, 200, 700, 1700]);
    });
  });

  describe('readiness and responsibility', () => {
    it('creates nothing until the view is ready, then at once', async () => {
      const ready = deferred<void>();
      const c = await start({ viewReady: () => ready.promise }, [admitted()]);
      await advance(1000);
      expect(kube.posts(SECRETS)).toEqual([]);
      expect(c.pendingCount()).toBe(1);
      expect(c.waitingCount()).toBe(0);
      ready.resolve();
      await flush();
      expect(kube.createTimes()).toEqual([1000]);
    });

    it('taking over sends exactly one create per remembered pod', async () => {
      let responsible = false;
      const c = await start({ responsible: () => responsible }, [admitted(), admitted()]);
      c.resume();
      await flush();
      expect(kube.posts(SECRETS)).toEqual([]);
      responsible = true;
      c.resume();
      await flush();
      expect(kube.createTimes()).toEqual([0, 0]);
      expect(c.pendingCount()).toBe(0);
    });

    it('stop() ends both watches: no pod or quota event reaches a stopped controller', async () => {
      const c = await start({}, []);
      expect(() => kube.send(PODS, 'ADDED', admitted())).not.toThrow();
      await c.stop();
      expect(() => kube.send(PODS, 'ADDED', admitted())).toThrow(`no open watch on ${PODS}`);
      expect(() => kube.send(QUOTAS, 'ADDED', { metadata: { name: 'q', namespace: 'app' } })).toThrow(`no open watch on ${QUOTAS}`);
    });

    it('resume (the Lease regained) while a create is under way sends no second, concurrent create for that pod', async () => {
      kube.holdSecrets = true;
      const c = await start({}, [admitted()]);
      expect(kube.createTimes()).toEqual([0]);
      c.resume();
      await flush();
      expect(kube.createTimes()).toEqual([0]);
      kube.held[0]!.resolve({});
      await flush();
      expect(created).toHaveLength(1);
      expect(c.pendingCount()).toBe(0);
    });

    it('resume does not cut a pod\'s backoff short', async () => {
      kube.fail(SECRETS, forbidden('no'));
      const c = await start({}, [admitted()]);
      await advance(100);
      c.resume();
      await advance(300);
      expect(kube.createTimes()).toEqual([0]);
      await advance(100);
      expect(kube.createTimes()).toEqual([0, 500]);
    });

    it('a remembered pod deleted before the take-over is skipped', async () => {
      let responsible = false;
      const gone = admitted();
      const kept = admitted();
      const c = await start({ responsible: () => responsible }, [gone, kept]);
      kube.send(PODS, 'DELETED', gone);
      responsible = true;
      expect(() => c.resume()).not.toThrow();
      await flush();
      expect(createdNames()).toEqual([secretName(kept)]);
    });

    it('stop waits for a create in flight, whose failure is then neither retried nor reported', async () => {
      kube.holdSecrets = true;
      const c = await start({}, [admitted()]);
      let stopped = false;
      const stopping = c.stop().then(() => void (stopped = true));
      await flush();
      expect(stopped).toBe(false);
      kube.held[0]!.reject(forbidden('no'));
      await stopping;
      expect(failed).toEqual([]);
      expect(kube.posts(EVENTS)).toEqual([]);
      await advance(60_000);
      expect(kube.posts(SECRETS)).toHaveLength(1);
    });

    it('after stop nothing is waited for nor retried', async () => {
      kube.fail(SECRETS, forbidden('no'));
      const c = await start({}, [admitted()]);
      expect(c.waitingCount()).toBe(1);
      await c.stop();
      expect(c.waitingCount()).toBe(0);
      c.resume();
      await advance(60_000);
      expect(kube.createTimes()).toEqual([0]);
    });
  });

  describe('concurrency', () => {
    it('at most `concurrency` creates at once; the next starts when one ends', async () => {
      kube.holdSecrets = true;
      const pods = [admitted(), admitted(), admitted()];
      await start({ concurrency: 2 }, pods);
      expect(createdNames()).toEqual([secretName(pods[0]!), secretName(pods[1]!)]);
      kube.held[1]!.reject(forbidden('no'));
      await flush();
      expect(createdNames()).toEqual(pods.map(secretName));
      kube.held[0]!.resolve({});
      kube.held[2]!.resolve({});
      await flush();
      // the refused one comes back after its backoff, with both slots free
      await advance(500);
      expect(kube.createTimes()).toEqual([0, 0, 0, 500]);
    });

    it('16 creates at once by default', async () => {
      kube.holdSecrets = true;
      const pods = Array.from({ length: 17 }, () => admitted());
      await start({}, pods);
      expect(kube.posts(SECRETS)).toHaveLength(16);
      kube.held[3]!.resolve({});
      await flush();
      expect(createdNames()).toEqual(pods.map(secretName));
    });
  });

  describe('failures', () => {
    it('backs off from 500 ms, doubling, to at most 30 s between attempts', async () => {
      kube.fail(SECRETS, forbidden('no'), 8);
      await start({}, [admitted()]);
      await advance(100_000);
      expect(attempts()).toEqual([
        [1, 500],
        [2, 1000],
        [3, 2000],
        [4, 4000],
        [5, 8000],
        [6, 16_000],
        [7, 30_000],
        [8, 30_000],
      ]);
      expect(kube.createTimes()).toEqual([0, 500, 1500, 3500, 7500, 15_500, 31_500, 61_500, 91_500]);
      expect(created).toEqual([91.5]);
    });

    it('the given retry policy and random source set the delays (equal jitter)', async () => {
      kube.fail(SECRETS, forbidden('no'), 4);
      await start({ retry: { initialMs: 100, maxMs: 400 }, random: () => 0 }, [admitted()]);
      await advance(10_000);
      expect(attempts()).toEqual([
        [1, 50],
        [2, 100],
        [3, 200],
        [4, 200],
      ]);
      expect(kube.createTimes()).toEqual([0, 50, 150, 350, 550]);
    });

    it('logs a reason once as a warning with its fields, then its repeats at debug, and counts every failed attempt', async () => {
      const p = admitted();
      kube.fail(SECRETS, forbidden('exceeded quota: q'), 2);
      await start({}, [p]);
      await advance(500);
      const text = `POST ${SECRETS}: 403 exceeded quota: q`;
      const fields = { err: text, status: 403, namespace: 'apps', secret: secretName(p), pod: p.metadata!.name };
      expect(logs.filter((l) => l.msg === WARN_MSG || l.msg === DEBUG_MSG)).toEqual([
        { level: 'warn', msg: WARN_MSG, obj: { ...fields, attempt: 1, retryInMs: 500 } },
        { level: 'debug', msg: DEBUG_MSG, obj: { ...fields, attempt: 2, retryInMs: 1000 } },
      ]);
      expect(failed).toEqual(['403', '403']);
      expect(eventMessages()).toEqual([`bootstrap Secret ${secretName(p)} could not be created: ${text}${TAIL}`]);
    });

    it('a failure without an HTTP status is counted as "network" and reported with its message', async () => {
      const p = admitted();
      kube.fail(SECRETS, new Error('connect ECONNREFUSED 10.0.0.1:443'));
      await start({}, [p]);
      expect(failed).toEqual(['network']);
      expect(logs.filter((l) => l.msg === WARN_MSG).map((l) => [l.obj.err, l.obj.status])).toEqual([['connect ECONNREFUSED 10.0.0.1:443', 0]]);
      expect(eventMessages()).toEqual([`bootstrap Secret ${secretName(p)} could not be created: connect ECONNREFUSED 10.0.0.1:443${TAIL}`]);
      await advance(500);
      expect(kube.createTimes()).toEqual([0, 500]);
    });

    it('a reason is the status and the message without its numbers', async () => {
      const p = admitted();
      kube.fail(SECRETS, forbidden('exceeded quota: q, used: count/secrets=7'));
      // only the usage changed: the same reason
      kube.fail(SECRETS, forbidden('exceeded quota: q, used: count/secrets=12'));
      // the same text with another status: another reason
      kube.fail(SECRETS, statusError('POST', SECRETS, 500, { message: 'exceeded quota: q, used: count/secrets=7' }));
      // a number where there was none: another reason
      kube.fail(SECRETS, forbidden('exceeded quota: q1'));
      kube.fail(SECRETS, forbidden('exceeded quota: q'));
      await start({}, [p]);
      await advance(100_000);
      expect(logs.filter((l) => l.msg === WARN_MSG || l.msg === DEBUG_MSG).map((l) => l.level)).toEqual(['warn', 'debug', 'warn', 'warn', 'warn']);
      expect(eventMessages()).toEqual([
        `bootstrap Secret ${secretName(p)} could not be created: POST ${SECRETS}: 403 exceeded quota: q, used: count/secrets=7${TAIL}`,
        `bootstrap Secret ${secretName(p)} could not be created: POST ${SECRETS}: 500 exceeded quota: q, used: count/secrets=7${TAIL}`,
        `bootstrap Secret ${secretName(p)} could not be created: POST ${SECRETS}: 403 exceeded quota: q1${TAIL}`,
        `bootstrap Secret ${secretName(p)} could not be created: POST ${SECRETS}: 403 exceeded quota: q${TAIL}`,
      ]);
      expect(failed).toEqual(['403', '403', '500', '403', '403']);
    });

    it('the Warning Event on the pod, in full', async () => {
      const p = admitted();
      kube.fail(SECRETS, forbidden('first'));
      kube.fail(SECRETS, forbidden('second'));
      await start({ identity: 'replica-7' }, [p]);
      await advance(500);
      const event = (message: string, at: number): unknown => ({
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { generateName: `${p.metadata!.name}.`, namespace: 'apps' },
        involvedObject: { apiVersion: 'v1', kind: 'Pod', name: p.metadata!.name, namespace: 'apps', uid: p.metadata!.uid, resourceVersion: p.metadata!.resourceVersion },
        reason: 'BootstrapSecretFailed',
        message: `bootstrap Secret ${secretName(p)} could not be created: POST ${SECRETS}: 403 ${message}${TAIL}`,
        type: 'Warning',
        source: { component: 'mesh-admission' },
        reportingComponent: 'mesh-admission',
        reportingInstance: 'replica-7',
        firstTimestamp: new Date(T0 + at).toISOString(),
        lastTimestamp: new Date(T0 + at).toISOString(),
        count: 1,
      });
      expect(kube.posts(EVENTS)).toStrictEqual([
        { method: 'POST', path: EVENTS, query: undefined, accept: undefined, body: event('first', 0), timeoutMs: 10_000, at: 0 },
        { method: 'POST', path: EVENTS, query: undefined, accept: undefined, body: event('second', 500), timeoutMs: 10_000, at: 500 },
      ]);
    });

    it('the Event reports this server as its instance by default', async () => {
      kube.fail(SECRETS, forbidden('no'));
      await start({}, [admitted()]);
      expect(kube.posts(EVENTS).map((e) => (e.body as { reportingInstance: string }).reportingInstance)).toEqual(['mesh-admission']);
    });

    it('an Event that cannot be written is logged, and the create is still retried', async () => {
      const p = admitted();
      kube.fail(SECRETS, forbidden('no'));
      kube.fail(EVENTS, statusError('POST', EVENTS, 403, { message: 'events is forbidden' }));
      await start({}, [p]);
      expect(logs.filter((l) => l.msg === 'Warning Event not written')).toEqual([
        { level: 'warn', msg: 'Warning Event not written', obj: { err: `POST ${EVENTS}: 403 events is forbidden`, pod: `apps/${p.metadata!.name}` } },
      ]);
      await advance(500);
      expect(kube.createTimes()).toEqual([0, 500]);
      expect(created).toEqual([0.5]);
    });

    it('a 409 means the Secret is there: counted, forgotten, neither retried nor reported', async () => {
      kube.fail(SECRETS, statusError('POST', SECRETS, 409, { message: 'already exists', reason: 'AlreadyExists' }));
      const c = await start({}, [admitted()]);
      await advance(60_000);
      expect(exists).toBe(1);
      expect(c.pendingCount()).toBe(0);
      expect(kube.posts(SECRETS)).toHaveLength(1);
      expect(failed).toEqual([]);
      expect(created).toEqual([]);
      expect(kube.posts(EVENTS)).toEqual([]);
    });

    it('a new certificate when the MeshConfig changes the key type or size, the same one otherwise', async () => {
      const p = admitted();
      kube.fail(SECRETS, forbidden('no'), 3);
      await start({}, [p]);
      view.upsert(meshConfigObject(mesh, { repoServer: { port: 6161 }, certificate: { keyType: 'rsa', certKeyBitSize: 3072 } }));
      await advance(500);
      view.upsert(meshConfigObject(mesh, { repoServer: { port: 6161 }, certificate: { keyType: 'rsa', certKeyBitSize: 4096 } }));
      await advance(1000);
      await advance(2000);
      expect(kube.createTimes()).toEqual([0, 500, 1500, 3500]);
      expect(issued).toStrictEqual([
        { commonName: commonName(p), keyType: 'ec', deadline: T0 + 10_000 },
        { commonName: commonName(p), keyType: 'rsa', rsaBits: 3072, deadline: T0 + 10_500 },
        { commonName: commonName(p), keyType: 'rsa', rsaBits: 4096, deadline: T0 + 11_500 },
      ]);
      const sentCerts = kube.posts(SECRETS).map((c) => Buffer.from((c.body as { data: Record<string, string> }).data['repo_cert.pem']!, 'base64').toString());
      expect(sentCerts).toEqual(['CERT-1', 'CERT-2', 'CERT-3', 'CERT-3']);
    });
  });

  describe('ResourceQuota changes', () => {
    const quota = (ns: string, name = 'q'): KubeObject => ({ apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name, namespace: ns, resourceVersion: '5' }, spec: { hard: { 'count/secrets': '10' } } });

    /** a pod refused three times: attempts at 0, 500 and 1500, the next one due at 3500 */
    const refusedThrice = async (extra: Partial<BootstrapSecretsOptions> = {}): Promise<BootstrapSecretController> => {
      kube.fail(SECRETS, forbidden('exceeded quota: q'), 4);
      const c = await start(extra, [admitted()]);
      await advance(2000);
      expect(kube.createTimes()).toEqual([0, 500, 1500]);
      return c;
    };

    it('a quota added in the pod\'s namespace retries it at once, and its backoff starts over', async () => {
      await refusedThrice();
      kube.send(QUOTAS, 'ADDED', quota('apps'));
      await flush();
      expect(kube.createTimes()).toEqual([0, 500, 1500, 2000]);
      await advance(500);
      expect(kube.createTimes()).toEqual([0, 500, 1500, 2000, 2500]);
      expect(attempts()).toEqual([
        [1, 500],
        [2, 1000],
        [3, 2000],
        [1, 500],
      ]);
    });

    it('a quota deleted in the pod\'s namespace retries it at once', async () => {
      await refusedThrice();
      kube.send(QUOTAS, 'DELETED', quota('apps'));
      await flush();
      expect(kube.createTimes()).toEqual([0, 500, 1500, 2000]);
    });

    it('a quota change in another namespace leaves the pod to its backoff', async () => {
      await refusedThrice();
      kube.send(QUOTAS, 'MODIFIED', quota('other'));
      await advance(1499);
      expect(kube.createTimes()).toEqual([0, 500, 1500]);
      await advance(1);
      expect(kube.createTimes()).toEqual([0, 500, 1500, 3500]);
    });

    it('a relist of the quotas retries the pods of the namespaces listed', async () => {
      await refusedThrice();
      kube.quotas = [quota('other'), quota('apps', 'a'), quota('apps', 'b')];
      kube.send(QUOTAS, 'ERROR', { kind: 'Status', code: 410, reason: 'Expired' });
      await flush();
      expect(kube.createTimes()).toEqual([0, 500, 1500, 2000]);
    });

    it('a relist listing no quota of the pod\'s namespace leaves it to its backoff', async () => {
      await refusedThrice();
      kube.quotas = [quota('other')];
      kube.send(QUOTAS, 'ERROR', { kind: 'Status', code: 410, reason: 'Expired' });
      await advance(1000);
      expect(kube.createTimes()).toEqual([0, 500, 1500]);
    });

    it('a quota change while a retry is in flight starts no second create, and the backoff still starts over', async () => {
      kube.fail(SECRETS, forbidden('no'));
      await start({}, [admitted()]);
      kube.holdSecrets = true;
      await advance(500);
      expect(kube.createTimes()).toEqual([0, 500]);
      kube.send(QUOTAS, 'ADDED', quota('apps'));
      await flush();
      expect(kube.createTimes()).toEqual([0, 500]);
      kube.holdSecrets = false;
      kube.held[0]!.reject(forbidden('no'));
      await flush();
      expect(attempts()).toEqual([
        [1, 500],
        [1, 500],
      ]);
      await advance(500);
      expect(kube.createTimes()).toEqual([0, 500, 1000]);
    });

    it('two quota changes in a row retry once', async () => {
      kube.fail(SECRETS, forbidden('no'));
      await start({}, [admitted()]);
      kube.holdSecrets = true;
      await advance(200);
      kube.send(QUOTAS, 'ADDED', quota('apps'));
      await flush();
      expect(kube.createTimes()).toEqual([0, 200]);
      await advance(100);
      kube.send(QUOTAS, 'MODIFIED', quota('apps'));
      await flush();
      expect(kube.createTimes()).toEqual([0, 200]);
    });
  });
});
