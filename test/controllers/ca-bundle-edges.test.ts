// Edge cases of CaBundlePatcher and loadOrCreateMeshCASecret that the fake-API-server tests beside them leave open: the
// exact requests (timeouts, fieldManager, content type), retry limits per status, logs an operator reads, the queueing
// of passes, the re-check timer, the watches' options and handlers, and every error text of the mesh CA Secret.
// Both run against scripted in-memory KubeHttp stand-ins (the patcher on fake timers), so all of it is asserted exactly.
import type { Logger } from 'pino';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { KubeApiError, type KubeHttp, type KubeRequest } from '../../src/kube/http.js';
import { secretPath, webhookConfigurationPath, type WebhookConfigurationKind } from '../../src/kube/paths.js';
import { CaBundlePatcher, type CaBundlePatcherOptions, type ConfigurationResult } from '../../src/controllers/ca-bundle-patcher.js';
import { loadOrCreateMeshCASecret, MeshCASecretError, type MeshCASecretOptions } from '../../src/controllers/mesh-ca-secret.js';
import { encodeCaBundle } from '../../src/install/webhook-config.js';
import { createMeshCA, meshCAFromSecretData, meshCASecret, MESH_CA_VALIDITY_MS, type MeshCA } from '../../src/certs/mesh-ca.js';
import { meshIdentity } from '../../src/mesh/flavor.js';
import type { KubeObject } from '../../src/mesh/objects.js';

/** What a request asked for (without its signal and callbacks). */
interface Sent {
  readonly method?: string;
  readonly path: string;
  readonly query?: Readonly<Record<string, unknown>>;
  readonly body?: unknown;
  readonly contentType?: string;
  readonly timeoutMs?: number;
}
const sent = (req: KubeRequest): Sent => ({
  method: req.method,
  path: req.path,
  query: req.query === undefined ? undefined : { ...req.query },
  body: req.body === undefined ? undefined : structuredClone(req.body),
  contentType: req.contentType,
  timeoutMs: req.timeoutMs,
});

interface LogEntry {
  readonly level: string;
  readonly msg: string;
  readonly obj: Record<string, unknown>;
  /** the bindings of the child logger it came through (the Reflector's), undefined for the patcher's own lines */
  readonly child: Record<string, unknown> | undefined;
}

const gate = (): { promise: Promise<void>; open: () => void } => {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
};

// ---------------------------------------------------------------------------------------------------------------------

const ADM = 'admissionregistration.k8s.io/v1';
const MUT_KIND: WebhookConfigurationKind = 'MutatingWebhookConfiguration';
const VAL_KIND: WebhookConfigurationKind = 'ValidatingWebhookConfiguration';
const MUT = 'inject-cfg';
const VAL = 'validate-cfg';
const MUT_PATH = webhookConfigurationPath(MUT_KIND, MUT);
const VAL_PATH = webhookConfigurationPath(VAL_KIND, VAL);
const MUT_COLLECTION = webhookConfigurationPath(MUT_KIND);
const VAL_COLLECTION = webhookConfigurationPath(VAL_KIND);
const LABEL: Record<string, string> = { [MUT_PATH]: 'M', [VAL_PATH]: 'V', [MUT_COLLECTION]: 'M*', [VAL_COLLECTION]: 'V*' };
const T0 = Date.UTC(2030, 0, 2, 3, 4, 5, 0);

/** PEM text with one CERTIFICATE block per id (the patcher only counts and encodes them) */
const pemOf = (...ids: string[]): string => ids.map((id) => `-----BEGIN CERTIFICATE-----\n${Buffer.from(id).toString('base64')}\n-----END CERTIFICATE-----\n`).join('');
const PEM1 = pemOf('one');
const PEM12 = pemOf('one', 'two');
const B1 = encodeCaBundle(PEM1);
const OLD = encodeCaBundle(pemOf('old'));

interface Cfg extends KubeObject {
  metadata: { name: string };
  webhooks: Array<{ name: string; clientConfig: { caBundle?: string } }>;
}
const cfg = (kind: WebhookConfigurationKind, name: string, hooks: readonly string[], caBundle?: string): Cfg => ({
  apiVersion: ADM,
  kind,
  metadata: { name },
  webhooks: hooks.map((h) => ({ name: h, clientConfig: caBundle === undefined ? {} : { caBundle } })),
});
const MUT_HOOKS = ['inject.flomesh.io'];
const VAL_HOOKS = ['validate.flomesh.io', 'validate-services.flomesh.io', 'validate-references.flomesh.io'];
const patchOps = (hooks: readonly string[], b64: string): unknown[] =>
  hooks.flatMap((h, i) => [
    { op: 'test', path: `/webhooks/${i}/name`, value: h },
    { op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: b64 },
  ]);

type Op = 'GET' | 'PATCH' | 'READ' | 'WATCH';
interface Call {
  readonly op: Op;
  readonly req: Sent;
  /** fake ms since T0 */
  readonly at: number;
}
type Answer = (call: Call) => unknown;

interface Watch {
  readonly path: string;
  readonly signal: AbortSignal;
  send(type: string, object: unknown): void;
}

/**
 * Both webhook configurations behind a scripted KubeHttp: `json` GET/PATCH (the patcher; a JSON patch with `test`
 * guards applied like kube-apiserver), `getOptional` (READ) and `stream` (WATCH) for the Reflectors, plus one-shot
 * answers per operation and path.
 */
class ConfigStore {
  readonly objects = new Map<string, Cfg>();
  readonly calls: Call[] = [];
  readonly watches: Watch[] = [];
  private readonly scripted: Array<{ op: Op; path: string; answer: Answer }> = [];
  readonly http = {
    json: (req: KubeRequest) => this.json(req),
    getOptional: (req: KubeRequest) => this.getOptional(req),
    stream: (req: KubeRequest, onLine: (line: string) => void) => this.stream(req, onLine),
  } as unknown as KubeHttp;

  put(o: Cfg): void {
    this.objects.set(webhookConfigurationPath(o.kind as WebhookConfigurationKind, o.metadata.name), structuredClone(o));
  }

  /** both configurations, each webhook carrying `caBundle` (none when undefined) */
  install(caBundle?: string): void {
    this.put(cfg(MUT_KIND, MUT, MUT_HOOKS, caBundle));
    this.put(cfg(VAL_KIND, VAL, VAL_HOOKS, caBundle));
  }

  /** the next `op` on `path` gets `answer` instead of the default handling */
  next(op: Op, path: string, answer: Answer): void {
    this.scripted.push({ op, path, answer });
  }

  /** the next `op` on `path` fails with this status */
  fail(op: Op, path: string, status: number, message: string): void {
    this.next(op, path, (c) => {
      throw new KubeApiError(`${c.req.method ?? 'GET'} ${path}: ${status} ${message}`, status);
    });
  }

  get(path: string): Cfg {
    const o = this.objects.get(path);
    if (!o) throw new KubeApiError(`GET ${path}: 404 not found`, 404, 'NotFound');
    return structuredClone(o);
  }

  /** `OP label@ms` of the calls from index `from` on, optionally only some operations */
  ops(from = 0, only?: readonly Op[]): string[] {
    return this.calls
      .slice(from)
      .filter((c) => !only || only.includes(c.op))
      .map((c) => `${c.op} ${LABEL[c.req.path] ?? c.req.path}@${c.at}`);
  }

  clear(): void {
    this.calls.length = 0;
  }

  watchOf(collection: string): Watch {
    const w = this.watches.filter((x) => x.path === collection).at(-1);
    if (!w) throw new Error(`no watch of ${collection}`);
    return w;
  }

  private record(op: Op, req: KubeRequest): Call {
    const call: Call = { op, req: sent(req), at: Date.now() - T0 };
    this.calls.push(call);
    return call;
  }

  private async answer(call: Call, otherwise: () => unknown): Promise<unknown> {
    const i = this.scripted.findIndex((s) => s.op === call.op && s.path === call.req.path);
    if (i >= 0) return this.scripted.splice(i, 1)[0]!.answer(call);
    return otherwise();
  }

  private json(req: KubeRequest): Promise<unknown> {
    const call = this.record(req.method === 'PATCH' ? 'PATCH' : 'GET', req);
    return this.answer(call, () => (call.op === 'GET' ? this.get(req.path) : this.patch(req.path, req.body as Array<{ op: string; path: string; value: string }>)));
  }

  private patch(path: string, ops: Array<{ op: string; path: string; value: string }>): Cfg {
    const o = this.get(path);
    for (const op of ops) {
      const [, , index, field] = op.path.split('/');
      const hook = o.webhooks[Number(index)];
      if (op.op === 'test') {
        if (hook?.name !== op.value) throw new KubeApiError(`PATCH ${path}: 422 test operation failed`, 422, 'Invalid');
      } else if (hook && field === 'clientConfig') hook.clientConfig.caBundle = op.value;
      else throw new KubeApiError(`PATCH ${path}: 422 bad path ${op.path}`, 422, 'Invalid');
    }
    this.objects.set(path, o);
    return structuredClone(o);
  }

  private getOptional(req: KubeRequest): Promise<unknown> {
    const call = this.record('READ', req);
    return this.answer(call, () => {
      const o = this.objects.get(req.path);
      return o ? structuredClone(o) : undefined;
    });
  }

  private stream(req: KubeRequest, onLine: (line: string) => void): Promise<void> {
    this.record('WATCH', req);
    return new Promise<void>((resolve) => {
      const signal = req.signal!;
      signal.addEventListener('abort', () => resolve(), { once: true });
      req.onOpen?.();
      this.watches.push({ path: req.path, signal, send: (type, object) => onLine(JSON.stringify({ type, object })) });
    });
  }
}

describe('CaBundlePatcher edges', () => {
  let store: ConfigStore;
  let logs: LogEntry[];
  let patchers: CaBundlePatcher[];
  let patched: Array<[string, string]>;
  let failed: Array<[string, string, string]>;

  const logger = (child?: Record<string, unknown>): Logger => {
    const log =
      (level: string) =>
      (a: unknown, b?: string): void => {
        const [obj, msg] = typeof a === 'string' ? [{}, a] : [a as Record<string, unknown>, b ?? ''];
        logs.push({ level, msg, obj, child });
      };
    return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error'), child: (bindings: Record<string, unknown>) => logger(bindings) } as unknown as Logger;
  };

  const patcher = (extra: Partial<CaBundlePatcherOptions> = {}): CaBundlePatcher => {
    const p = new CaBundlePatcher({
      http: store.http,
      mutatingName: MUT,
      validatingName: VAL,
      logger: logger(),
      onPatched: (kind, name) => patched.push([kind, name]),
      onError: (kind, name, err) => failed.push([kind, name, (err as Error).message]),
      ...extra,
    });
    patchers.push(p);
    return p;
  };

  const advance = (ms: number): Promise<unknown> => vi.advanceTimersByTimeAsync(ms);
  const settle = (): Promise<unknown> => advance(0);
  /** the patcher's own log lines (not the Reflectors') */
  const own = (): Array<[string, string, Record<string, unknown>]> => logs.filter((l) => !l.child).map((l) => [l.level, l.msg, l.obj]);
  const result = (kind: WebhookConfigurationKind, status: ConfigurationResult['status'], error?: string): ConfigurationResult => ({
    kind,
    name: kind === MUT_KIND ? MUT : VAL,
    status,
    ...(error !== undefined ? { error } : {}),
  });
  const NOT_PATCHED = 'caBundle not patched; retrying at the next re-check';
  const NOT_FOUND = 'webhook configuration not found; its caBundle will be patched when it exists';
  const REPATCH = 'webhook configuration changed: re-patching its caBundle';

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    vi.setSystemTime(T0);
    // the Reflectors' jitter: watch timeouts and backoff delays become exact
    vi.spyOn(Math, 'random').mockReturnValue(0);
    store = new ConfigStore();
    logs = [];
    patchers = [];
    patched = [];
    failed = [];
  });
  afterEach(async () => {
    try {
      await Promise.all(patchers.map((p) => p.stop()));
    } finally {
      vi.useRealTimers();
      vi.restoreAllMocks();
    }
  });

  describe('publishing', () => {
    it('without a bundle, reconcile sends nothing and is not ok (and no logger is needed)', async () => {
      store.install();
      const p = new CaBundlePatcher({ http: store.http, mutatingName: MUT, validatingName: VAL });
      patchers.push(p);
      expect(p.bundle()).toBeUndefined();
      expect(await p.reconcile()).toEqual({ ok: false, configurations: [] });
      expect(store.calls).toEqual([]);
      expect(await p.setBundle(PEM1)).toEqual({ ok: true, configurations: [result(MUT_KIND, 'patched'), result(VAL_KIND, 'patched')] });
    });

    it('reads each configuration and sends one test-guarded JSON patch with fieldManager and the 10 s default timeout', async () => {
      store.install(OLD);
      const p = patcher();
      expect(await p.setBundle(PEM1)).toEqual({ ok: true, configurations: [result(MUT_KIND, 'patched'), result(VAL_KIND, 'patched')] });
      expect(p.bundle()).toBe(PEM1);
      const patch = (path: string, hooks: readonly string[]): Sent => ({
        method: 'PATCH',
        path,
        body: patchOps(hooks, B1),
        contentType: 'application/json-patch+json',
        query: { fieldManager: 'mesh-admission' },
        timeoutMs: 10_000,
      });
      expect(store.calls.map((c) => c.req)).toEqual([{ path: MUT_PATH, timeoutMs: 10_000 }, patch(MUT_PATH, MUT_HOOKS), { path: VAL_PATH, timeoutMs: 10_000 }, patch(VAL_PATH, VAL_HOOKS)]);
      expect(store.calls.map((c) => c.req.method)).toEqual([undefined, 'PATCH', undefined, 'PATCH']);
      expect(store.get(VAL_PATH).webhooks.map((w) => w.clientConfig.caBundle)).toEqual([B1, B1, B1]);
      expect(patched).toEqual([
        [MUT_KIND, MUT],
        [VAL_KIND, VAL],
      ]);
    });

    it('requestTimeoutMs bounds both the reads and the patches', async () => {
      store.install();
      await patcher({ requestTimeoutMs: 1234 }).setBundle(PEM1);
      expect(store.calls.map((c) => [c.op, c.req.timeoutMs])).toEqual([
        ['GET', 1234],
        ['PATCH', 1234],
        ['GET', 1234],
        ['PATCH', 1234],
      ]);
    });

    it('logs a new bundle with its number of certificates, once per distinct bundle, and each patch with its webhook count', async () => {
      store.install();
      const p = patcher();
      await p.setBundle(PEM12);
      expect(own()).toEqual([
        ['info', 'CA bundle changed: patching the webhook configurations', { cas: 2 }],
        ['info', 'caBundle patched', { kind: MUT_KIND, name: MUT, webhooks: 1 }],
        ['info', 'caBundle patched', { kind: VAL_KIND, name: VAL, webhooks: 3 }],
      ]);
      logs.length = 0;
      expect(await p.setBundle(PEM12)).toEqual({ ok: true, configurations: [result(MUT_KIND, 'unchanged'), result(VAL_KIND, 'unchanged')] });
      expect(own()).toEqual([]);
      expect(patched).toHaveLength(2);
      await p.setBundle('not PEM at all');
      expect(own()[0]).toEqual(['info', 'CA bundle changed: patching the webhook configurations', { cas: 0 }]);
      expect(p.bundle()).toBe('not PEM at all');
    });

    it('a missing configuration is warned about once, counts as done, and is warned about again after it came and went', async () => {
      const p = patcher();
      expect(await p.setBundle(PEM1)).toEqual({ ok: true, configurations: [result(MUT_KIND, 'missing'), result(VAL_KIND, 'missing')] });
      expect(own().slice(1)).toEqual([
        ['warn', NOT_FOUND, { kind: MUT_KIND, name: MUT }],
        ['warn', NOT_FOUND, { kind: VAL_KIND, name: VAL }],
      ]);
      logs.length = 0;
      expect((await p.reconcile()).configurations).toEqual([result(MUT_KIND, 'missing'), result(VAL_KIND, 'missing')]);
      expect(own()).toEqual([]);
      store.put(cfg(MUT_KIND, MUT, MUT_HOOKS));
      expect((await p.reconcile()).configurations).toEqual([result(MUT_KIND, 'patched'), result(VAL_KIND, 'missing')]);
      expect(own()).toEqual([['info', 'caBundle patched', { kind: MUT_KIND, name: MUT, webhooks: 1 }]]);
      logs.length = 0;
      store.objects.delete(MUT_PATH);
      expect((await p.reconcile()).configurations).toEqual([result(MUT_KIND, 'missing'), result(VAL_KIND, 'missing')]);
      expect(own()).toEqual([['warn', NOT_FOUND, { kind: MUT_KIND, name: MUT }]]);
      expect(store.ops(0, ['PATCH'])).toEqual(['PATCH M@0']);
    });

    it('a patch refused three times gives up with the last error, reporting each attempt', async () => {
      store.install();
      for (const m of ['first', 'second', 'third']) store.fail('PATCH', MUT_PATH, 422, m);
      const r = await patcher().setBundle(PEM1);
      const last = `PATCH ${MUT_PATH}: 422 third`;
      expect(r).toEqual({ ok: false, configurations: [result(MUT_KIND, 'error', last), result(VAL_KIND, 'patched')] });
      expect(store.ops()).toEqual(['GET M@0', 'PATCH M@0', 'GET M@0', 'PATCH M@0', 'GET M@0', 'PATCH M@0', 'GET V@0', 'PATCH V@0']);
      expect(failed).toEqual([
        [MUT_KIND, MUT, `PATCH ${MUT_PATH}: 422 first`],
        [MUT_KIND, MUT, `PATCH ${MUT_PATH}: 422 second`],
        [MUT_KIND, MUT, last],
      ]);
      expect(patched).toEqual([[VAL_KIND, VAL]]);
      expect(own().filter((l) => l[0] === 'warn')).toEqual([['warn', NOT_PATCHED, { kind: MUT_KIND, name: MUT, err: last }]]);
    });

    it.each([409, 422, 500])('a patch answered %i is retried after a fresh read', async (status) => {
      store.install();
      store.fail('PATCH', VAL_PATH, status, 'try again');
      const r = await patcher().setBundle(PEM1);
      expect(r).toEqual({ ok: true, configurations: [result(MUT_KIND, 'patched'), result(VAL_KIND, 'patched')] });
      expect(store.ops()).toEqual(['GET M@0', 'PATCH M@0', 'GET V@0', 'PATCH V@0', 'GET V@0', 'PATCH V@0']);
      expect(failed).toEqual([[VAL_KIND, VAL, `PATCH ${VAL_PATH}: ${status} try again`]]);
      expect(own().filter((l) => l[0] === 'warn')).toEqual([]);
    });

    it.each([401, 403])('a patch answered %i is not retried', async (status) => {
      store.install();
      store.fail('PATCH', MUT_PATH, status, 'no');
      const err = `PATCH ${MUT_PATH}: ${status} no`;
      expect(await patcher().setBundle(PEM1)).toEqual({ ok: false, configurations: [result(MUT_KIND, 'error', err), result(VAL_KIND, 'patched')] });
      expect(store.ops()).toEqual(['GET M@0', 'PATCH M@0', 'GET V@0', 'PATCH V@0']);
      expect(failed).toEqual([[MUT_KIND, MUT, err]]);
      expect(own().filter((l) => l[0] === 'warn')).toEqual([['warn', NOT_PATCHED, { kind: MUT_KIND, name: MUT, err }]]);
    });

    it('a patch answered 404 (deleted meanwhile) is missing at once: no retry, no warning', async () => {
      store.install();
      store.fail('PATCH', MUT_PATH, 404, 'gone');
      expect(await patcher().setBundle(PEM1)).toEqual({ ok: true, configurations: [result(MUT_KIND, 'missing'), result(VAL_KIND, 'patched')] });
      expect(store.ops()).toEqual(['GET M@0', 'PATCH M@0', 'GET V@0', 'PATCH V@0']);
      expect(failed).toEqual([[MUT_KIND, MUT, `PATCH ${MUT_PATH}: 404 gone`]]);
      expect(own().filter((l) => l[0] === 'warn')).toEqual([]);
    });

    it('the metrics hooks are optional: without them a refused patch is still retried and succeeds', async () => {
      store.install();
      store.fail('PATCH', MUT_PATH, 409, 'conflict');
      const p = patcher({ onPatched: undefined, onError: undefined });
      expect(await p.setBundle(PEM1)).toEqual({ ok: true, configurations: [result(MUT_KIND, 'patched'), result(VAL_KIND, 'patched')] });
      expect(store.ops()).toEqual(['GET M@0', 'PATCH M@0', 'GET M@0', 'PATCH M@0', 'GET V@0', 'PATCH V@0']);
    });

    it('a failed read other than 404 is not retried and carries its reason', async () => {
      store.install();
      store.fail('GET', MUT_PATH, 500, 'etcd timeout');
      const err = `GET ${MUT_PATH}: 500 etcd timeout`;
      expect(await patcher().setBundle(PEM1)).toEqual({ ok: false, configurations: [result(MUT_KIND, 'error', err), result(VAL_KIND, 'patched')] });
      expect(store.ops()).toEqual(['GET M@0', 'GET V@0', 'PATCH V@0']);
      expect(own().filter((l) => l[0] === 'warn')).toEqual([['warn', NOT_PATCHED, { kind: MUT_KIND, name: MUT, err }]]);
    });

    it('a failed read that is no API error (a network failure) is an error with its message', async () => {
      store.install();
      store.next('GET', VAL_PATH, () => {
        throw new Error('socket hang up');
      });
      expect(await patcher().setBundle(PEM1)).toEqual({ ok: false, configurations: [result(MUT_KIND, 'patched'), result(VAL_KIND, 'error', 'socket hang up')] });
      expect(store.ops()).toEqual(['GET M@0', 'PATCH M@0', 'GET V@0']);
    });
  });

  describe('serialised passes', () => {
    it('calls made before a pass starts share it; calls made while it runs share the next, which waits for it', async () => {
      store.install();
      const p = patcher();
      const g = gate();
      store.next('GET', MUT_PATH, async (c) => {
        await g.promise;
        return store.get(c.req.path);
      });
      const first = p.setBundle(PEM1);
      expect(p.reconcile()).toBe(first);
      await settle();
      expect(store.ops()).toEqual(['GET M@0']);
      const second = p.reconcile();
      expect(second).not.toBe(first);
      expect(p.reconcile()).toBe(second);
      await settle();
      expect(store.ops()).toEqual(['GET M@0']);
      g.open();
      expect(await first).toEqual({ ok: true, configurations: [result(MUT_KIND, 'patched'), result(VAL_KIND, 'patched')] });
      expect(await second).toEqual({ ok: true, configurations: [result(MUT_KIND, 'unchanged'), result(VAL_KIND, 'unchanged')] });
      expect(store.ops()).toEqual(['GET M@0', 'PATCH M@0', 'GET V@0', 'PATCH V@0', 'GET M@0', 'GET V@0']);
      // once idle, a call starts a pass of its own
      const third = p.reconcile();
      expect(third).not.toBe(second);
      await third;
      expect(store.ops(6)).toEqual(['GET M@0', 'GET V@0']);
    });
  });

  describe('re-check', () => {
    it('start() checks at once when a bundle is set, then every 30 s by default', async () => {
      store.install();
      const p = patcher({ watch: false });
      await p.setBundle(PEM1);
      store.clear();
      p.start();
      await settle();
      expect(store.ops()).toEqual(['GET M@0', 'GET V@0']);
      await advance(29_999);
      expect(store.ops()).toHaveLength(2);
      await advance(1);
      expect(store.ops(2)).toEqual(['GET M@30000', 'GET V@30000']);
      await advance(30_000);
      expect(store.ops(4)).toEqual(['GET M@60000', 'GET V@60000']);
    });

    it('the period counts from the end of the previous pass', async () => {
      store.install(B1);
      const p = patcher({ watch: false, resyncMs: 1000 });
      await p.setBundle(PEM1);
      store.clear();
      p.start();
      await settle();
      // the re-check at 1000 takes 500 ms
      store.next('GET', MUT_PATH, async (c) => {
        await new Promise((resolve) => setTimeout(resolve, 500));
        return store.get(c.req.path);
      });
      await advance(3000);
      expect(store.ops()).toEqual(['GET M@0', 'GET V@0', 'GET M@1000', 'GET V@1500', 'GET M@2500', 'GET V@2500']);
    });

    it('the re-check timer does not keep the process alive', async () => {
      const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout');
      const p = patcher({ watch: false, resyncMs: 4321 });
      p.start();
      await advance(4321);
      const timers = setTimeoutSpy.mock.calls.flatMap((call, i) => (call[1] === 4321 ? [setTimeoutSpy.mock.results[i]!.value as NodeJS.Timeout] : []));
      expect(timers).toHaveLength(2);
      expect(timers.map((t) => t.hasRef())).toEqual([false, false]);
    });

    it('a second start() changes nothing: one re-check, one watch per configuration', async () => {
      store.install(B1);
      const p = patcher({ resyncMs: 1000 });
      await p.setBundle(PEM1);
      store.clear();
      p.start();
      p.start();
      await settle();
      expect(store.ops(0, ['READ', 'WATCH']).sort()).toEqual(['READ M@0', 'READ V@0', 'WATCH M*@0', 'WATCH V*@0']);
      expect(store.ops(0, ['GET'])).toEqual(['GET M@0', 'GET V@0']);
    });

    it('after stop() no re-check runs', async () => {
      store.install(B1);
      const p = patcher({ watch: false, resyncMs: 1000 });
      await p.setBundle(PEM1);
      p.start();
      await settle();
      store.clear();
      await p.stop();
      await advance(10_000);
      expect(store.ops()).toEqual([]);
    });

    it('stop() during a re-check waits for that pass, and no pass follows it', async () => {
      store.install(B1);
      const p = patcher({ watch: false, resyncMs: 1000 });
      await p.setBundle(PEM1);
      p.start();
      await settle();
      store.clear();
      const g = gate();
      store.next('GET', MUT_PATH, async (c) => {
        await g.promise;
        return store.get(c.req.path);
      });
      await advance(1000);
      expect(store.ops()).toEqual(['GET M@1000']);
      let stopped = false;
      const stopping = p.stop().then(() => (stopped = true));
      await settle();
      expect(stopped).toBe(false);
      g.open();
      await stopping;
      expect(store.ops()).toEqual(['GET M@1000', 'GET V@1000']);
      await advance(10_000);
      expect(store.ops()).toHaveLength(2);
    });
  });

  describe('watches', () => {
    /** both configurations carrying B1, the bundle published, the watches open and the start pass done */
    const following = async (extra: Partial<CaBundlePatcherOptions> = {}): Promise<CaBundlePatcher> => {
      store.install(B1);
      const p = patcher({ resyncMs: 3_600_000, ...extra });
      await p.setBundle(PEM1);
      p.start();
      await settle();
      return p;
    };

    it('follows each configuration by name: a get of the object and a watch with a field selector on its name', async () => {
      await following();
      const reads = store.calls.filter((c) => c.op === 'READ').map((c) => c.req);
      const watches = store.calls.filter((c) => c.op === 'WATCH').map((c) => c.req);
      expect(reads).toEqual([
        { path: MUT_PATH, timeoutMs: 60_000 },
        { path: VAL_PATH, timeoutMs: 60_000 },
      ]);
      const query = (name: string): Record<string, unknown> => ({ fieldSelector: `metadata.name=${name}`, watch: 'true', allowWatchBookmarks: 'true', timeoutSeconds: 300 });
      expect(watches).toEqual([
        { path: MUT_COLLECTION, query: query(MUT), timeoutMs: 330_000 },
        { path: VAL_COLLECTION, query: query(VAL), timeoutMs: 330_000 },
      ]);
      expect([...new Set(logs.filter((l) => l.child).map((l) => l.child!.resource))]).toEqual([MUT_PATH, VAL_PATH]);
      expect(own().filter((l) => l[1] === REPATCH)).toEqual([]);
      expect(store.ops(0, ['GET', 'PATCH'])).toEqual(['GET M@0', 'GET V@0', 'GET M@0', 'GET V@0']);
    });

    it('watchTimeoutSeconds sets the watches\' server-side timeout', async () => {
      await following({ watchTimeoutSeconds: 7 });
      expect(store.calls.filter((c) => c.op === 'WATCH').map((c) => [c.req.query!.timeoutSeconds, c.req.timeoutMs])).toEqual([
        [7, 37_000],
        [7, 37_000],
      ]);
    });

    it('watch: false opens no watch', async () => {
      await following({ watch: false });
      expect(store.ops(0, ['READ', 'WATCH'])).toEqual([]);
    });

    it('an edit the watch reports is re-patched at once; an event for an object in sync changes nothing', async () => {
      await following();
      store.clear();
      logs.length = 0;
      store.watchOf(MUT_COLLECTION).send('MODIFIED', store.get(MUT_PATH));
      await settle();
      expect(store.ops()).toEqual([]);
      expect(own()).toEqual([]);
      const edited = store.get(MUT_PATH);
      edited.webhooks[0]!.clientConfig.caBundle = OLD;
      store.put(edited);
      store.watchOf(MUT_COLLECTION).send('MODIFIED', edited);
      await settle();
      expect(own()).toEqual([
        ['info', REPATCH, { kind: MUT_KIND, name: MUT }],
        ['info', 'caBundle patched', { kind: MUT_KIND, name: MUT, webhooks: 1 }],
      ]);
      expect(store.ops()).toEqual(['GET M@0', 'PATCH M@0', 'GET V@0']);
      expect(store.get(MUT_PATH).webhooks[0]!.clientConfig.caBundle).toBe(B1);
    });

    it('a relist after the watch expired re-patches the drift it finds', async () => {
      await following();
      store.clear();
      logs.length = 0;
      const edited = store.get(VAL_PATH);
      edited.webhooks[2]!.clientConfig.caBundle = OLD;
      store.put(edited);
      store.watchOf(VAL_COLLECTION).send('ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' });
      await settle();
      expect(own()).toEqual([
        ['info', REPATCH, { kind: VAL_KIND, name: VAL }],
        ['info', 'caBundle patched', { kind: VAL_KIND, name: VAL, webhooks: 1 }],
      ]);
      expect(store.ops(0, ['READ', 'GET', 'PATCH'])).toEqual(['READ V@0', 'GET M@0', 'GET V@0', 'PATCH V@0']);
      expect(store.calls.find((c) => c.op === 'PATCH')!.req.body).toEqual([
        { op: 'test', path: '/webhooks/2/name', value: VAL_HOOKS[2] },
        { op: 'add', path: '/webhooks/2/clientConfig/caBundle', value: B1 },
      ]);
    });

    it('before any bundle is set, what the watches see is left alone', async () => {
      store.install(OLD);
      const p = patcher({ resyncMs: 3_600_000 });
      p.start();
      await settle();
      store.watchOf(MUT_COLLECTION).send('MODIFIED', store.get(MUT_PATH));
      await settle();
      expect(store.ops(0, ['GET', 'PATCH'])).toEqual([]);
      expect(own()).toEqual([]);
    });

    it('a configuration that does not exist yet is waited for quietly, and patched when the watch sees it added', async () => {
      const p = patcher({ resyncMs: 3_600_000 });
      await p.setBundle(PEM1);
      logs.length = 0;
      store.clear();
      p.start();
      await settle();
      expect(logs.filter((l) => l.level === 'warn' || l.level === 'error')).toEqual([]);
      expect(own()).toEqual([]);
      expect(store.ops(0, ['READ', 'WATCH']).sort()).toEqual(['READ M@0', 'READ V@0', 'WATCH M*@0', 'WATCH V*@0']);
      store.put(cfg(MUT_KIND, MUT, MUT_HOOKS));
      store.clear();
      store.watchOf(MUT_COLLECTION).send('ADDED', store.get(MUT_PATH));
      await settle();
      expect(own()).toEqual([
        ['info', REPATCH, { kind: MUT_KIND, name: MUT }],
        ['info', 'caBundle patched', { kind: MUT_KIND, name: MUT, webhooks: 1 }],
      ]);
      expect(store.ops()).toEqual(['GET M@0', 'PATCH M@0', 'GET V@0']);
    });

    it('backoffMs sets the retry delays of a failing watch setup (first delay, then the cap)', async () => {
      for (let i = 0; i < 3; i++) store.fail('READ', MUT_PATH, 500, 'down');
      await following({ backoffMs: [1000, 1500] });
      await advance(5000);
      expect(store.ops(0, ['READ']).filter((o) => o.startsWith('READ M'))).toEqual(['READ M@0', 'READ M@500', 'READ M@1250', 'READ M@2000']);
    });

    it('without backoffMs a failing watch setup retries on the Reflector\'s default delays', async () => {
      for (let i = 0; i < 3; i++) store.fail('READ', VAL_PATH, 500, 'down');
      await following();
      await advance(5000);
      expect(store.ops(0, ['READ']).filter((o) => o.startsWith('READ V'))).toEqual(['READ V@0', 'READ V@100', 'READ V@300', 'READ V@700']);
    });

    it('stop() ends both watches', async () => {
      const p = await following();
      expect(store.watches.map((w) => [w.path, w.signal.aborted])).toEqual([
        [MUT_COLLECTION, false],
        [VAL_COLLECTION, false],
      ]);
      await p.stop();
      expect(store.watches.map((w) => w.signal.aborted)).toEqual([true, true]);
      await advance(10_000);
      expect(store.watches).toHaveLength(2);
    });
  });
});

// ---------------------------------------------------------------------------------------------------------------------

describe('loadOrCreateMeshCASecret edges', () => {
  const NOW = new Date('2030-01-02T03:04:05.000Z');
  const NS = 'blue-ns';
  const mesh = meshIdentity('fsm', 'blue', NS);
  const NAME = 'fsm-ca-bundle';
  const ITEM = secretPath(NS, NAME);
  const COLLECTION = secretPath(NS);
  const DEFAULT_LABELS = { 'app.kubernetes.io/name': 'flomesh.io', 'app.kubernetes.io/instance': 'blue' };
  let CA: MeshCA;
  let OTHER: MeshCA;

  /** one scripted answer per request, in order */
  let answers: Array<(req: KubeRequest) => unknown>;
  let calls: Sent[];
  let created: Date[];
  const http = {
    json: async (req: KubeRequest): Promise<unknown> => {
      calls.push(sent(req));
      const a = answers.shift();
      if (!a) throw new Error(`unexpected request ${req.method ?? 'GET'} ${req.path}`);
      return a(req);
    },
  } as unknown as KubeHttp;
  const status = (code: number, message: string) => (req: KubeRequest) => {
    throw new KubeApiError(`${req.method ?? 'GET'} ${req.path}: ${code} ${message}`, code);
  };
  const secretOf = (ca: MeshCA) => () => meshCASecret(ca, mesh.flavor, NS);
  const load = (extra: Partial<MeshCASecretOptions> = {}) =>
    loadOrCreateMeshCASecret({
      http,
      mesh,
      now: () => NOW,
      create: (d) => {
        created.push(d);
        return CA;
      },
      ...extra,
    });
  const failure = async (extra: Partial<MeshCASecretOptions> = {}): Promise<MeshCASecretError> => {
    const err = await load(extra).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MeshCASecretError);
    return err as MeshCASecretError;
  };

  beforeAll(async () => {
    CA = await createMeshCA('fsm', NOW);
    OTHER = await createMeshCA('fsm', NOW);
  });
  beforeEach(() => {
    answers = [];
    calls = [];
    created = [];
  });

  it('reuses an existing Secret after one read with the 10 s default timeout, its CA checked at the given time', async () => {
    answers.push(secretOf(CA));
    const data = meshCASecret(CA, mesh.flavor, NS).data;
    expect(await load()).toEqual({ ...meshCAFromSecretData(data, NOW), reused: true });
    expect(calls).toEqual([{ path: ITEM, timeoutMs: 10_000 }]);
    expect(created).toEqual([]);
  });

  it('creates the Secret when absent: one POST with fieldManager, the mesh\'s labels and the CA made at the given time', async () => {
    answers.push(status(404, 'not found'), (req) => req.body);
    expect(await load()).toEqual({ ...CA, reused: false });
    expect(created).toEqual([NOW]);
    expect(calls).toEqual([
      { path: ITEM, timeoutMs: 10_000 },
      { method: 'POST', path: COLLECTION, query: { fieldManager: 'mesh-admission' }, body: meshCASecret(CA, mesh.flavor, NS, DEFAULT_LABELS), timeoutMs: 10_000 },
    ]);
  });

  it('labels replace the default labels of a created Secret', async () => {
    answers.push(status(404, 'not found'), () => ({}));
    await load({ labels: { team: 'mesh' } });
    expect((calls[1]!.body as { metadata: unknown }).metadata).toEqual({ name: NAME, namespace: NS, labels: { team: 'mesh' } });
  });

  it('an asynchronous create is awaited', async () => {
    answers.push(status(404, 'not found'), () => ({}));
    expect(await load({ create: async () => OTHER })).toEqual({ ...OTHER, reused: false });
    expect(calls[1]!.body).toEqual(meshCASecret(OTHER, mesh.flavor, NS, DEFAULT_LABELS));
  });

  it('without create, a new root for the flavor is made at the given time (10 years)', async () => {
    answers.push(status(404, 'not found'), () => ({}));
    const ca = await load({ create: undefined });
    expect(ca.reused).toBe(false);
    expect(ca.notAfter).toEqual(new Date(NOW.getTime() + MESH_CA_VALIDITY_MS));
    expect(meshCAFromSecretData((calls[1]!.body as { data: Record<string, string> }).data, NOW)).toEqual({ cert: ca.cert, key: ca.key, bundle: ca.bundle, notAfter: ca.notAfter });
  });

  it('timeoutMs bounds the read, the create and the re-read after a conflict', async () => {
    answers.push(status(404, 'not found'), status(409, 'already exists'), secretOf(OTHER));
    expect(await load({ timeoutMs: 2500 })).toEqual({ ...meshCAFromSecretData(meshCASecret(OTHER, mesh.flavor, NS).data, NOW), reused: true });
    expect(calls.map((c) => [c.method, c.path, c.timeoutMs])).toEqual([
      [undefined, ITEM, 2500],
      ['POST', COLLECTION, 2500],
      [undefined, ITEM, 2500],
    ]);
  });

  it('a Secret whose CA is not valid at the given time is not usable', async () => {
    const later = new Date(NOW.getTime() + MESH_CA_VALIDITY_MS + 1000);
    answers.push(secretOf(CA));
    let reason = '';
    try {
      meshCAFromSecretData(meshCASecret(CA, mesh.flavor, NS).data, later);
    } catch (e) {
      reason = (e as Error).message;
    }
    expect(reason).toMatch(/^mesh CA: not valid at /);
    expect((await failure({ now: () => later })).message).toBe(`mesh CA Secret ${NS}/${NAME} is not usable: ${reason}`);
    expect(calls).toHaveLength(1);
  });

  it('a failed read is an error naming the Secret and the reason; nothing is created', async () => {
    answers.push(status(500, 'etcd timeout'));
    expect((await failure()).message).toBe(`mesh CA Secret ${NS}/${NAME}: GET ${ITEM}: 500 etcd timeout`);
    expect(calls).toHaveLength(1);
    expect(created).toEqual([]);
  });

  it('a read failing without an HTTP status is an error with its message', async () => {
    answers.push(() => {
      throw new Error('connect ECONNREFUSED');
    });
    expect((await failure()).message).toBe(`mesh CA Secret ${NS}/${NAME}: connect ECONNREFUSED`);
  });

  it('a create refused other than by a conflict is an error, without a second read', async () => {
    answers.push(status(404, 'not found'), status(403, 'forbidden'));
    expect((await failure()).message).toBe(`mesh CA Secret ${NS}/${NAME}: create failed: POST ${COLLECTION}: 403 forbidden`);
    expect(calls.map((c) => c.method ?? 'GET')).toEqual(['GET', 'POST']);
  });

  it('a conflict whose winner cannot be found is an error', async () => {
    answers.push(status(404, 'not found'), status(409, 'already exists'), status(404, 'not found'));
    expect((await failure()).message).toBe(`mesh CA Secret ${NS}/${NAME}: create conflicted but the Secret cannot be read`);
    expect(calls.map((c) => c.method ?? 'GET')).toEqual(['GET', 'POST', 'GET']);
  });

  it('a conflict whose winner cannot be read is an error with the reason', async () => {
    answers.push(status(404, 'not found'), status(409, 'already exists'), status(500, 'etcd timeout'));
    expect((await failure()).message).toBe(`mesh CA Secret ${NS}/${NAME}: GET ${ITEM}: 500 etcd timeout`);
  });

  it('a conflict whose winner holds no usable CA is an error, not replaced', async () => {
    answers.push(status(404, 'not found'), status(409, 'already exists'), () => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: NAME, namespace: NS }, data: { 'ca.crt': Buffer.from(CA.cert).toString('base64') } }));
    expect((await failure()).message).toBe(`mesh CA Secret ${NS}/${NAME} is not usable: mesh CA Secret: key "private.key" is missing`);
    expect(calls).toHaveLength(3);
  });
});
