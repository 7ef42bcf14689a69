// Edge cases of the conflict watcher and of --register-webhooks that webhook-conflicts.test.ts and
// register-webhooks.test.ts (fake API server, real time) cannot pin exactly: the slim copy kept, when a judgement runs
// (bursts, the re-check period, stop), the exact log lines, and every request upsert/unregister send with its timeout.
// Everything runs against scripted in-memory KubeHttp stand-ins; the watcher's tests on fake timers.
import type { Logger } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { KubeApiError, type KubeHttp, type KubeRequest } from '../../src/kube/http.js';
import { webhookConfigurationPath, type WebhookConfigurationKind } from '../../src/kube/paths.js';
import { meshIdentity } from '../../src/mesh/flavor.js';
import type { KubeObject } from '../../src/mesh/objects.js';
import type { WebhookConflict } from '../../src/mesh/webhook-conflicts.js';
import { listWebhookConfigurations, slimConfiguration, WebhookConflictWatcher, type WebhookConflictWatcherOptions } from '../../src/controllers/webhook-conflicts.js';
import { devWebhookNames, registerWebhooks, registrationBaseUrl, unregisterWebhooks, upsertWebhookConfiguration } from '../../src/controllers/register-webhooks.js';
import { encodeCaBundle, webhookConfigurations } from '../../src/install/webhook-config.js';

const ADM = 'admissionregistration.k8s.io/v1';
const MWC = 'MutatingWebhookConfiguration';
const VWC = 'ValidatingWebhookConfiguration';
const M_PATH = webhookConfigurationPath(MWC);
const V_PATH = webhookConfigurationPath(VWC);
const mesh = meshIdentity('fsm');

interface LogEntry {
  readonly level: string;
  readonly msg: string;
  readonly obj: Record<string, unknown>;
}

/** A logger that records every line (children share the record; their bindings are kept apart). */
function recordingLogger(logs: LogEntry[], bindings: Array<Record<string, unknown>>): Logger {
  const log =
    (level: string) =>
    (a: unknown, b?: string): void => {
      const [obj, msg] = typeof a === 'string' ? [{}, a] : [a as Record<string, unknown>, b ?? ''];
      logs.push({ level, msg, obj });
    };
  const l = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error'), child: (b: Record<string, unknown>) => (bindings.push(b), l) };
  return l as unknown as Logger;
}

// ---------------------------------------------------------------------------------------------------------------------

const OWN = { mutating: 'mesh-admission-fsm', validating: 'mesh-admission-fsm', service: { name: 'mesh-admission', namespace: 'fsm-system' } };
const ns = (name: string, extra: Record<string, string> = {}, monitored = true): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ...(monitored ? { 'flomesh.io/monitored-by': 'fsm' } : {}), ...extra } },
});
const podRule = { operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] };
/** this server's own configurations: the mutating one must exist for another injector to conflict */
const ownMutating = (): KubeObject => ({ metadata: { name: 'mesh-admission-fsm', resourceVersion: '1' }, webhooks: [] });
const injector = (): KubeObject => ({
  metadata: { name: 'fsm-webhook-fsm', resourceVersion: '2', labels: { app: 'fsm-injector' } },
  webhooks: [{ name: 'fsm-inject.k8s.io', clientConfig: { service: { name: 'fsm-injector', namespace: 'fsm-system' }, caBundle: 'Q0E=' }, namespaceSelector: { matchLabels: { 'flomesh.io/monitored-by': 'fsm' } }, rules: [podRule] }],
});
/** a third-party pod mutator, called only for namespaces labelled team=a */
const teamMutator = (): KubeObject => ({
  metadata: { name: 'aaa-team', resourceVersion: '3' },
  webhooks: [{ name: 'team.example.com', clientConfig: { url: 'https://team.example.com/mutate' }, namespaceSelector: { matchLabels: { team: 'a' } }, rules: [podRule] }],
});
/** a pod mutator without namespaceSelector: called for every namespace */
const everywhere = (): KubeObject => ({
  metadata: { name: 'zz-everywhere', resourceVersion: '4' },
  webhooks: [{ name: 'all.example.com', clientConfig: { url: 'https://all.example.com/' }, rules: [podRule], failurePolicy: 'Ignore' }],
});
const validator = (): KubeObject => ({
  metadata: { name: 'fsm-validator-mesh-fsm', resourceVersion: '5' },
  webhooks: [{ name: 'fsm-validator.k8s.io', clientConfig: { service: { name: 'fsm-validator', namespace: 'fsm-system' } }, rules: [{ operations: ['CREATE', 'UPDATE'], apiGroups: ['policy.flomesh.io'], apiVersions: ['v1alpha1'], resources: ['egresses'] }] }],
});

const INJECTOR_APPS =
  "the mesh's own sidecar injector, called before mesh-admission-fsm for pod CREATE in apps: pods are injected by it, and this server adds nothing to them; run one injector per mesh: scale fsm-injector to zero and delete this configuration (README: \"Replacing the mesh's own webhooks\")";
const INJECTOR_APPS_WEB = INJECTOR_APPS.replace('pod CREATE in apps', 'pod CREATE in apps, web');
const TEAM_APPS = 'also mutates pods (pod CREATE in apps), called before mesh-admission-fsm: the injector sees what it adds; check that its changes work with the sidecar';

interface Watch {
  readonly path: string;
  readonly query: KubeRequest['query'];
  readonly signal: AbortSignal;
  readonly onLine: (line: string) => void;
}

/** Both collections behind a scripted KubeHttp: lists answer the current items (or wait while held), watches stay open. */
class ConfigCollections {
  readonly items = new Map<string, KubeObject[]>([
    [M_PATH, []],
    [V_PATH, []],
  ]);
  readonly lists: Array<{ path: string; query: KubeRequest['query']; timeoutMs: number | undefined }> = [];
  readonly watches: Watch[] = [];
  private readonly held = new Set<string>();
  private readonly waiting = new Map<string, () => void>();
  readonly http = { json: (req: KubeRequest) => this.list(req), stream: (req: KubeRequest, onLine: (line: string) => void) => this.watch(req, onLine) } as unknown as KubeHttp;

  /** lists of `path` wait until release(path) */
  hold(path: string): void {
    this.held.add(path);
  }

  release(path: string): void {
    this.held.delete(path);
    this.waiting.get(path)?.();
  }

  /** one watch event on the newest watch of `path` */
  send(path: string, type: string, object: KubeObject | Record<string, unknown>): void {
    const w = [...this.watches].reverse().find((x) => x.path === path && !x.signal.aborted);
    if (!w) throw new Error(`no open watch on ${path}`);
    w.onLine(JSON.stringify({ type, object }));
  }

  private async list(req: KubeRequest): Promise<unknown> {
    this.lists.push({ path: req.path, query: req.query, timeoutMs: req.timeoutMs });
    if (this.held.has(req.path)) {
      await new Promise<void>((resolve) => {
        this.waiting.set(req.path, resolve);
        req.signal?.addEventListener('abort', () => resolve(), { once: true });
      });
      if (req.signal?.aborted) throw new KubeApiError(`GET ${req.path}: aborted`, 0);
    }
    return { metadata: { resourceVersion: '10' }, items: structuredClone(this.items.get(req.path) ?? []) };
  }

  private watch(req: KubeRequest, onLine: (line: string) => void): Promise<void> {
    this.watches.push({ path: req.path, query: req.query, signal: req.signal!, onLine });
    req.onOpen?.();
    return new Promise((resolve) => {
      if (req.signal!.aborted) resolve();
      req.signal!.addEventListener('abort', () => resolve(), { once: true });
    });
  }
}

describe('WebhookConflictWatcher edges', () => {
  let api: ConfigCollections;
  let logs: LogEntry[];
  let bindings: Array<Record<string, unknown>>;
  let namespaces: KubeObject[];
  let namespaceReads: number;
  let ready: boolean;
  let changes: Array<readonly WebhookConflict[]>;
  let watchers: WebhookConflictWatcher[];

  beforeEach(() => {
    vi.useFakeTimers();
    api = new ConfigCollections();
    logs = [];
    bindings = [];
    namespaces = [ns('apps')];
    namespaceReads = 0;
    ready = true;
    changes = [];
    watchers = [];
  });

  afterEach(async () => {
    for (const w of watchers) await w.stop();
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  const watcher = (extra: Partial<WebhookConflictWatcherOptions> = {}): WebhookConflictWatcher => {
    const w = new WebhookConflictWatcher({
      http: api.http,
      logger: recordingLogger(logs, bindings),
      mesh,
      own: OWN,
      namespaces: () => (namespaceReads++, namespaces),
      viewReady: () => ready,
      onChange: (c) => changes.push(c),
      ...extra,
    });
    watchers.push(w);
    return w;
  };

  /** lets the reflectors' requests and the scheduled judgement run, without moving the clock */
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 15; i++) await vi.advanceTimersByTimeAsync(0);
  };

  const started = async (extra: Partial<WebhookConflictWatcherOptions> = {}): Promise<WebhookConflictWatcher> => {
    const w = watcher(extra);
    w.start();
    await settle();
    return w;
  };

  const conflictLogs = (): LogEntry[] => logs.filter((l) => l.msg.startsWith('conflicting webhook'));
  const summary = (cs: readonly WebhookConflict[]): string[][] => cs.map((c) => [c.configuration, c.kind, c.namespaces.join(',')]);

  it('logs as the webhook-conflicts component', () => {
    watcher();
    expect(bindings[0]).toEqual({ component: 'webhook-conflicts' });
  });

  it('lists and watches both kinds of configuration, read-only', async () => {
    const w = await started();
    expect(api.lists.map((l) => l.path)).toEqual([M_PATH, V_PATH]);
    expect(api.watches.map((x) => x.path)).toEqual([M_PATH, V_PATH]);
    expect(w.hasListed()).toBe(true);
    expect(w.configurations()).toEqual({ mutating: [], validating: [] });
  });

  it('passes watchTimeoutSeconds on to the watches; without it the reflector default', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    await started({ watchTimeoutSeconds: 7 });
    expect(api.watches.map((x) => x.query?.timeoutSeconds)).toEqual([7, 7]);
    await started();
    expect(api.watches.slice(2).map((x) => x.query?.timeoutSeconds)).toEqual([300, 300]);
  });

  it('keeps a slim copy: kind of its collection, name, labels, resourceVersion, webhooks without caBundle', async () => {
    api.items.set(M_PATH, [
      {
        metadata: { name: 'fsm-webhook-fsm', uid: 'u-1', resourceVersion: '42', labels: { app: 'fsm-injector' }, annotations: { a: 'b' }, managedFields: [{}] },
        webhooks: [{ name: 'fsm-inject.k8s.io', clientConfig: { url: 'https://x/', caBundle: 'Q0E=' }, rules: [podRule] }],
      },
    ]);
    api.items.set(V_PATH, [{ metadata: { name: 'v' } }]);
    const w = await started();
    expect(w.configurations()).toStrictEqual({
      mutating: [{ apiVersion: ADM, kind: MWC, metadata: { name: 'fsm-webhook-fsm', labels: { app: 'fsm-injector' }, resourceVersion: '42' }, webhooks: [{ name: 'fsm-inject.k8s.io', clientConfig: { url: 'https://x/' }, rules: [podRule] }] }],
      validating: [{ apiVersion: ADM, kind: VWC, metadata: { name: 'v' }, webhooks: [] }],
    });
  });

  it('keeps configurations of one kind apart by name, and a watched one under its own name', async () => {
    api.items.set(M_PATH, [ownMutating(), injector()]);
    const w = await started();
    api.send(M_PATH, 'ADDED', teamMutator());
    await settle();
    expect(w.configurations()!.mutating.map((c) => c.metadata?.name)).toEqual(['mesh-admission-fsm', 'fsm-webhook-fsm', 'aaa-team']);
  });

  it('judges nothing and tells nothing until both kinds are listed', async () => {
    api.items.set(M_PATH, [ownMutating(), injector()]);
    api.hold(V_PATH);
    const w = await started();
    expect(api.lists.map((l) => l.path)).toEqual([M_PATH, V_PATH]);
    expect(w.hasListed()).toBe(false);
    expect(w.configurations()).toBeUndefined();
    expect(w.podMutators(ns('apps'))).toEqual([]);
    await vi.advanceTimersByTimeAsync(15_000);
    expect(namespaceReads).toBe(0);
    expect(changes).toEqual([]);
    expect(w.conflicts()).toEqual([]);

    api.release(V_PATH);
    await settle();
    expect(w.hasListed()).toBe(true);
    expect(namespaceReads).toBe(1);
    expect(changes.map(summary)).toEqual([[['fsm-webhook-fsm', 'mesh-injector', 'apps']]]);
    expect(w.conflicts()).toBe(changes[0]);
  });

  it('podMutators: none for an unknown namespace; a namespace without labels meets the webhooks without selector', async () => {
    api.items.set(M_PATH, [ownMutating(), injector(), teamMutator(), everywhere()]);
    const w = await started();
    const all = { configuration: 'zz-everywhere', webhook: 'all.example.com', index: 0, meshInjector: false, leftover: false, calledBefore: false, failClosed: false };
    expect(w.podMutators(undefined)).toEqual([]);
    expect(w.podMutators({ apiVersion: 'v1', kind: 'Namespace' })).toEqual([all]);
    expect(w.podMutators(ns('apps', { team: 'a' }))).toEqual([
      { configuration: 'aaa-team', webhook: 'team.example.com', index: 0, meshInjector: false, leftover: false, calledBefore: true, failClosed: true },
      { configuration: 'fsm-webhook-fsm', webhook: 'fsm-inject.k8s.io', index: 0, meshInjector: true, leftover: false, calledBefore: true, failClosed: true },
      all,
    ]);
  });

  it('a cluster without conflicts is judged once and reports nothing', async () => {
    api.items.set(M_PATH, [ownMutating()]);
    const w = await started();
    expect(namespaceReads).toBe(1);
    expect(changes).toEqual([]);
    expect(conflictLogs()).toEqual([]);
    expect(w.conflicts()).toEqual([]);
  });

  it('reports a new conflict with an error line carrying its configuration, webhook, kind and namespaces', async () => {
    api.items.set(M_PATH, [ownMutating(), injector()]);
    await started();
    expect(conflictLogs()).toEqual([
      {
        level: 'error',
        msg: `conflicting webhook: MutatingWebhookConfiguration fsm-webhook-fsm (fsm-inject.k8s.io): ${INJECTOR_APPS}`,
        obj: { configuration: 'fsm-webhook-fsm', configurationKind: MWC, webhook: 'fsm-inject.k8s.io', conflict: 'mesh-injector', namespaces: ['apps'] },
      },
    ]);
  });

  it('a validator conflict is logged with the kinds it validates, not namespaces', async () => {
    api.items.set(V_PATH, [validator()]);
    await started();
    const [entry] = conflictLogs();
    expect(entry!.obj).toEqual({ configuration: 'fsm-validator-mesh-fsm', configurationKind: VWC, webhook: 'fsm-validator.k8s.io', conflict: 'validator', kinds: ['Egress'] });
    expect(entry!.msg).toBe(`conflicting webhook: ValidatingWebhookConfiguration fsm-validator-mesh-fsm (fsm-validator.k8s.io): ${changes[0]![0]!.message}`);
    expect(entry!.level).toBe('error');
  });

  it('a watched configuration is judged at once, not at the next re-check; so is its removal', async () => {
    api.items.set(M_PATH, [ownMutating()]);
    const w = await started();
    api.send(M_PATH, 'ADDED', injector());
    await settle();
    expect(changes.map(summary)).toEqual([[['fsm-webhook-fsm', 'mesh-injector', 'apps']]]);
    api.send(M_PATH, 'DELETED', injector());
    await settle();
    expect(changes.map(summary)).toEqual([[['fsm-webhook-fsm', 'mesh-injector', 'apps']], []]);
    expect(w.conflicts()).toEqual([]);
    expect(w.configurations()!.mutating.map((c) => c.metadata?.name)).toEqual(['mesh-admission-fsm']);
    expect(conflictLogs().slice(1)).toEqual([
      { level: 'info', msg: 'conflicting webhook gone: MutatingWebhookConfiguration fsm-webhook-fsm (fsm-inject.k8s.io)', obj: { configuration: 'fsm-webhook-fsm', configurationKind: MWC, webhook: 'fsm-inject.k8s.io' } },
    ]);
  });

  it('a modified configuration is judged at once', async () => {
    api.items.set(M_PATH, [ownMutating(), teamMutator()]);
    namespaces = [ns('apps')];
    await started();
    expect(changes).toEqual([]);
    const edited = teamMutator();
    (edited.webhooks as Array<Record<string, unknown>>)[0]!.namespaceSelector = {};
    api.send(M_PATH, 'MODIFIED', edited);
    await settle();
    expect(changes.map(summary)).toEqual([[['aaa-team', 'pod-mutator', 'apps']]]);
  });

  it('a burst of events is judged once', async () => {
    api.items.set(M_PATH, [ownMutating()]);
    await started();
    expect(namespaceReads).toBe(1);
    api.send(M_PATH, 'ADDED', injector());
    api.send(M_PATH, 'ADDED', teamMutator());
    api.send(V_PATH, 'ADDED', validator());
    await settle();
    expect(namespaceReads).toBe(2);
    expect(changes.map((cs) => cs.map((c) => c.configuration))).toEqual([['fsm-webhook-fsm', 'fsm-validator-mesh-fsm']]);
  });

  it('a relist replaces what is kept: a configuration gone from the list is gone', async () => {
    api.items.set(M_PATH, [ownMutating(), injector(), teamMutator()]);
    namespaces = [ns('apps', { team: 'a' })];
    const w = await started();
    expect(changes.map(summary)).toEqual([
      [
        ['aaa-team', 'pod-mutator', 'apps'],
        ['fsm-webhook-fsm', 'mesh-injector', 'apps'],
      ],
    ]);
    api.items.set(M_PATH, [ownMutating(), teamMutator()]);
    api.send(M_PATH, 'ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old' });
    await settle();
    expect(api.lists.map((l) => l.path)).toEqual([M_PATH, V_PATH, M_PATH]);
    expect(w.configurations()!.mutating.map((c) => c.metadata?.name)).toEqual(['mesh-admission-fsm', 'aaa-team']);
    expect(changes.map(summary)).toEqual([changes.map(summary)[0]!, [['aaa-team', 'pod-mutator', 'apps']]]);
    expect(conflictLogs().map((l) => [l.level, l.msg])).toEqual([
      ['error', `conflicting webhook: MutatingWebhookConfiguration aaa-team (team.example.com): ${TEAM_APPS}`],
      ['error', `conflicting webhook: MutatingWebhookConfiguration fsm-webhook-fsm (fsm-inject.k8s.io): ${INJECTOR_APPS}`],
      ['info', 'conflicting webhook gone: MutatingWebhookConfiguration fsm-webhook-fsm (fsm-inject.k8s.io)'],
    ]);
  });

  it('a conflict replaced by another in one burst: the new one is said, the old one gone', async () => {
    api.items.set(M_PATH, [ownMutating(), injector()]);
    namespaces = [ns('apps', { team: 'a' })];
    await started();
    logs.length = 0;
    api.send(M_PATH, 'DELETED', injector());
    api.send(M_PATH, 'ADDED', teamMutator());
    await settle();
    expect(changes.map((cs) => cs.map((c) => c.configuration))).toEqual([['fsm-webhook-fsm'], ['aaa-team']]);
    expect(conflictLogs().map((l) => [l.level, l.msg])).toEqual([
      ['error', `conflicting webhook: MutatingWebhookConfiguration aaa-team (team.example.com): ${TEAM_APPS}`],
      ['info', 'conflicting webhook gone: MutatingWebhookConfiguration fsm-webhook-fsm (fsm-inject.k8s.io)'],
    ]);
  });

  it('re-checks the namespaces every 15 s by default; a re-check that finds the same set reports nothing', async () => {
    api.items.set(M_PATH, [ownMutating(), injector()]);
    await started();
    expect(changes).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(15_000);
    expect(namespaceReads).toBe(2);
    expect(changes).toHaveLength(1);
    expect(conflictLogs()).toHaveLength(1);

    namespaces = [ns('apps'), ns('web')];
    await vi.advanceTimersByTimeAsync(14_999);
    expect(changes).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(namespaceReads).toBe(3);
    expect(changes.map(summary)).toEqual([[['fsm-webhook-fsm', 'mesh-injector', 'apps']], [['fsm-webhook-fsm', 'mesh-injector', 'apps,web']]]);
    expect(conflictLogs().map((l) => l.msg)).toEqual([
      `conflicting webhook: MutatingWebhookConfiguration fsm-webhook-fsm (fsm-inject.k8s.io): ${INJECTOR_APPS}`,
      `conflicting webhook: MutatingWebhookConfiguration fsm-webhook-fsm (fsm-inject.k8s.io): ${INJECTOR_APPS_WEB}`,
    ]);
  });

  it('re-checks at the period given', async () => {
    api.items.set(M_PATH, [ownMutating(), injector()]);
    await started({ recheckMs: 1000 });
    expect(namespaceReads).toBe(1);
    await vi.advanceTimersByTimeAsync(999);
    expect(namespaceReads).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(namespaceReads).toBe(2);
    await vi.advanceTimersByTimeAsync(1000);
    expect(namespaceReads).toBe(3);
  });

  it('says again only the conflicts whose message changed', async () => {
    api.items.set(M_PATH, [ownMutating(), injector(), teamMutator()]);
    namespaces = [ns('apps', { team: 'a' })];
    await started({ recheckMs: 1000 });
    expect(conflictLogs()).toHaveLength(2);
    namespaces = [ns('apps', { team: 'a' }), ns('web')];
    await vi.advanceTimersByTimeAsync(1000);
    expect(conflictLogs().slice(2)).toEqual([
      {
        level: 'error',
        msg: `conflicting webhook: MutatingWebhookConfiguration fsm-webhook-fsm (fsm-inject.k8s.io): ${INJECTOR_APPS_WEB}`,
        obj: { configuration: 'fsm-webhook-fsm', configurationKind: MWC, webhook: 'fsm-inject.k8s.io', conflict: 'mesh-injector', namespaces: ['apps', 'web'] },
      },
    ]);
    expect(changes.map(summary)[1]).toEqual([
      ['aaa-team', 'pod-mutator', 'apps'],
      ['fsm-webhook-fsm', 'mesh-injector', 'apps,web'],
    ]);
  });

  it('a conflict that only moves out of some namespaces is said again; one gone from all is gone', async () => {
    api.items.set(M_PATH, [ownMutating(), injector(), teamMutator()]);
    namespaces = [ns('apps', { team: 'a' }), ns('web')];
    await started({ recheckMs: 1000 });
    logs.length = 0;
    namespaces = [ns('web')];
    await vi.advanceTimersByTimeAsync(1000);
    expect(conflictLogs().map((l) => [l.level, l.msg])).toEqual([
      ['error', `conflicting webhook: MutatingWebhookConfiguration fsm-webhook-fsm (fsm-inject.k8s.io): ${INJECTOR_APPS.replace('in apps', 'in web')}`],
      ['info', 'conflicting webhook gone: MutatingWebhookConfiguration aaa-team (team.example.com)'],
    ]);
  });

  it('keeps its conflicts without an onChange hook', async () => {
    api.items.set(M_PATH, [ownMutating(), injector()]);
    const w = await started({ onChange: undefined });
    expect(summary(w.conflicts())).toEqual([['fsm-webhook-fsm', 'mesh-injector', 'apps']]);
    expect(conflictLogs()).toHaveLength(1);
  });

  it('the re-check timer never keeps the process alive', async () => {
    const timeouts = vi.spyOn(globalThis, 'setTimeout');
    await started({ recheckMs: 1000 });
    await vi.advanceTimersByTimeAsync(1000);
    const rechecks = timeouts.mock.calls.flatMap((call, i) => (call[1] === 1000 ? [timeouts.mock.results[i]!.value as NodeJS.Timeout] : []));
    expect(rechecks).toHaveLength(2);
    expect(rechecks.map((t) => t.hasRef())).toEqual([false, false]);
  });

  it('stop ends both watches and the re-check, and reports nothing seen just before it', async () => {
    api.items.set(M_PATH, [ownMutating()]);
    const w = await started();
    api.send(M_PATH, 'ADDED', injector());
    const stopping = w.stop();
    await settle();
    await stopping;
    expect(api.watches.map((x) => x.signal.aborted)).toEqual([true, true]);
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(changes).toEqual([]);
    expect(conflictLogs()).toEqual([]);
    expect(namespaceReads).toBe(1);
  });

  it('a stopped watcher started again does nothing', async () => {
    const w = watcher();
    await w.stop();
    w.start();
    await settle();
    expect(api.lists).toEqual([]);
    await vi.advanceTimersByTimeAsync(15_000);
    expect(vi.getTimerCount()).toBe(0);
    expect(namespaceReads).toBe(0);
  });
});

describe('slimConfiguration and listWebhookConfigurations', () => {
  it('a configuration without metadata or webhooks keeps an empty name and no webhooks', () => {
    expect(slimConfiguration({ kind: MWC })).toStrictEqual({ apiVersion: ADM, kind: MWC, metadata: { name: undefined }, webhooks: [] });
    expect(slimConfiguration({ kind: VWC, metadata: { name: 'x' }, webhooks: 'nope' })).toStrictEqual({ apiVersion: ADM, kind: VWC, metadata: { name: 'x' }, webhooks: [] });
  });

  it('keeps entries it cannot read as they are, and drops only the caBundle', () => {
    const webhooks = ['odd', { name: 'no-client-config' }, { name: 'w', clientConfig: { url: 'https://w/', caBundle: 'Q0E=' }, sideEffects: 'None' }];
    expect(slimConfiguration({ apiVersion: 'v0', kind: MWC, metadata: { name: 'x', labels: { a: '1' } }, webhooks }).webhooks).toStrictEqual([
      'odd',
      { name: 'no-client-config' },
      { name: 'w', clientConfig: { url: 'https://w/' }, sideEffects: 'None' },
    ]);
  });

  it('reads both kinds once, consistently, each item slimmed with its kind', async () => {
    const calls: Array<{ path: string; query: KubeRequest['query'] }> = [];
    const items: Record<string, KubeObject[]> = {
      [M_PATH]: [{ metadata: { name: 'm', uid: 'u', resourceVersion: '3' }, webhooks: [{ name: 'a', clientConfig: { caBundle: 'Q0E=', url: 'https://a/' } }] }],
      [V_PATH]: [{ metadata: { name: 'v', labels: { l: 'x' } } }],
    };
    const http = {
      json: async (req: KubeRequest) => (calls.push({ path: req.path, query: req.query }), { metadata: { resourceVersion: '9' }, items: items[req.path] }),
    } as unknown as KubeHttp;
    expect(await listWebhookConfigurations(http)).toStrictEqual({
      mutating: [{ apiVersion: ADM, kind: MWC, metadata: { name: 'm', resourceVersion: '3' }, webhooks: [{ name: 'a', clientConfig: { url: 'https://a/' } }] }],
      validating: [{ apiVersion: ADM, kind: VWC, metadata: { name: 'v', labels: { l: 'x' } }, webhooks: [] }],
    });
    expect(calls.map((c) => [c.path, c.query?.resourceVersion])).toEqual([
      [M_PATH, undefined],
      [V_PATH, undefined],
    ]);
  });
});

// ---------------------------------------------------------------------------------------------------------------------

const DEV = 'mesh-admission-dev';
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const itemPath = (kind: WebhookConfigurationKind, name: string): string => webhookConfigurationPath(kind, name);

interface Call {
  readonly method: string;
  readonly path: string;
  readonly query: KubeRequest['query'];
  readonly body: unknown;
  readonly timeoutMs: number | undefined;
}
interface Stored {
  metadata?: Record<string, unknown>;
  [k: string]: unknown;
}
type Answer = (call: Call) => unknown;

/** Webhook configurations behind a scripted KubeHttp: optimistic concurrency like kube-apiserver, plus one-shot answers. */
class ConfigStore {
  readonly objects = new Map<string, Stored>();
  readonly calls: Call[] = [];
  private rv = 100;
  private readonly scripted: Array<{ method: string; answer: Answer }> = [];
  readonly http = { json: (req: KubeRequest) => this.handle(req) } as unknown as KubeHttp;

  put(path: string, obj: Stored): void {
    this.objects.set(path, structuredClone(obj));
  }

  /** the next `method` request gets `answer` instead of the default handling */
  next(method: string, answer: Answer): void {
    this.scripted.push({ method, answer });
  }

  private async handle(req: KubeRequest): Promise<unknown> {
    const call: Call = { method: req.method ?? 'GET', path: req.path, query: req.query, body: req.body === undefined ? undefined : structuredClone(req.body), timeoutMs: req.timeoutMs };
    this.calls.push(call);
    const i = this.scripted.findIndex((s) => s.method === call.method);
    if (i >= 0) return this.scripted.splice(i, 1)[0]!.answer(call);
    const body = call.body as Stored;
    switch (call.method) {
      case 'GET': {
        const o = this.objects.get(call.path);
        if (!o) throw new KubeApiError(`GET ${call.path}: 404 not found`, 404, 'NotFound');
        return structuredClone(o);
      }
      case 'POST': {
        const path = `${call.path}/${String(body.metadata!.name)}`;
        if (this.objects.has(path)) throw new KubeApiError(`POST ${call.path}: 409 already exists`, 409, 'AlreadyExists');
        this.objects.set(path, { ...body, metadata: { ...body.metadata, resourceVersion: String(++this.rv) } });
        return this.objects.get(path);
      }
      case 'PUT': {
        const o = this.objects.get(call.path);
        if (!o) throw new KubeApiError(`PUT ${call.path}: 404 not found`, 404, 'NotFound');
        if (body.metadata?.resourceVersion !== o.metadata?.resourceVersion) throw new KubeApiError(`PUT ${call.path}: 409 conflict`, 409, 'Conflict');
        this.objects.set(call.path, { ...body, metadata: { ...body.metadata, resourceVersion: String(++this.rv) } });
        return this.objects.get(call.path);
      }
      case 'DELETE': {
        if (!this.objects.delete(call.path)) throw new KubeApiError(`DELETE ${call.path}: 404 not found`, 404, 'NotFound');
        return { kind: 'Status', status: 'Success' };
      }
      default:
        throw new Error(`unexpected ${call.method}`);
    }
  }
}

describe('register-webhooks edges', () => {
  let store: ConfigStore;
  let logs: LogEntry[];
  beforeEach(() => {
    store = new ConfigStore();
    logs = [];
  });
  const logger = (): Logger => recordingLogger(logs, []);
  const desired = (url = 'https://127.0.0.1:9443', names = devWebhookNames()) => webhookConfigurations(mesh, { target: { url }, caBundle: encodeCaBundle(PEM), names });

  it('names both workstation configurations mesh-admission-dev, or the name given', () => {
    expect(devWebhookNames()).toEqual({ mutatingConfiguration: DEV, validatingConfiguration: DEV });
    expect(devWebhookNames('other')).toEqual({ mutatingConfiguration: 'other', validatingConfiguration: 'other' });
  });

  it('accepts an https URL and strips the trailing slashes only', () => {
    expect(registrationBaseUrl('https://h:1')).toBe('https://h:1');
    expect(registrationBaseUrl('https://h:1/a/b')).toBe('https://h:1/a/b');
    expect(registrationBaseUrl('https://h:1/a/b//')).toBe('https://h:1/a/b');
  });

  it('refuses a URL the API server cannot call, with the flag and the URL in the message', () => {
    const refusal = (url: string): string => {
      try {
        registrationBaseUrl(url);
      } catch (err) {
        return (err as Error).message;
      }
      return 'accepted';
    };
    expect(refusal('127.0.0.1:9443')).toBe('--register-webhooks 127.0.0.1:9443: not a URL');
    expect(refusal('localhost:9443')).toBe('--register-webhooks localhost:9443: the API server calls webhooks over https only');
    expect(refusal('http://h:1')).toBe('--register-webhooks http://h:1: the API server calls webhooks over https only');
    expect(refusal('https://h:1/?a=1')).toBe('--register-webhooks https://h:1/?a=1: no query or fragment allowed');
    expect(refusal('https://h:1/#top')).toBe('--register-webhooks https://h:1/#top: no query or fragment allowed');
  });

  it('creates with a POST to the collection under the fieldManager mesh-admission, each request with a 10 s timeout', async () => {
    const r = await registerWebhooks({ http: store.http, mesh, url: 'https://127.0.0.1:9443//', caBundle: PEM });
    expect(r).toEqual([
      { kind: MWC, name: DEV, action: 'created' },
      { kind: VWC, name: DEV, action: 'created' },
    ]);
    const { mutating, validating } = desired();
    expect(store.calls).toEqual([
      { method: 'GET', path: itemPath(MWC, DEV), query: undefined, body: undefined, timeoutMs: 10_000 },
      { method: 'POST', path: M_PATH, query: { fieldManager: 'mesh-admission' }, body: mutating, timeoutMs: 10_000 },
      { method: 'GET', path: itemPath(VWC, DEV), query: undefined, body: undefined, timeoutMs: 10_000 },
      { method: 'POST', path: V_PATH, query: { fieldManager: 'mesh-admission' }, body: validating, timeoutMs: 10_000 },
    ]);
  });

  it('registers under the names given and logs each configuration with its kind, name, URL and action', async () => {
    store.put(itemPath(VWC, 'v-name'), { metadata: { name: 'v-name', resourceVersion: '5' } });
    const r = await registerWebhooks({ http: store.http, mesh, url: 'https://h:9443/base/', caBundle: PEM, names: { mutatingConfiguration: 'm-name', validatingConfiguration: 'v-name' }, logger: logger() });
    expect(r).toEqual([
      { kind: MWC, name: 'm-name', action: 'created' },
      { kind: VWC, name: 'v-name', action: 'updated' },
    ]);
    expect(store.calls.map((c) => [c.method, c.path])).toEqual([
      ['GET', itemPath(MWC, 'm-name')],
      ['POST', M_PATH],
      ['GET', itemPath(VWC, 'v-name')],
      ['PUT', itemPath(VWC, 'v-name')],
    ]);
    expect(logs).toEqual([
      { level: 'info', msg: 'webhook configuration created', obj: { kind: MWC, name: 'm-name', url: 'https://h:9443/base', action: 'created' } },
      { level: 'info', msg: 'webhook configuration updated', obj: { kind: VWC, name: 'v-name', url: 'https://h:9443/base', action: 'updated' } },
    ]);
  });

  it('passes requestTimeoutMs and attempts on to every request', async () => {
    store.next('POST', (c) => {
      throw new KubeApiError(`POST ${c.path}: 409 already exists`, 409);
    });
    await expect(registerWebhooks({ http: store.http, mesh, url: 'https://h', caBundle: PEM, requestTimeoutMs: 2500, attempts: 1 })).rejects.toThrow(
      `MutatingWebhookConfiguration ${DEV}: still conflicting after 1 attempts: POST ${M_PATH}: 409 already exists`,
    );
    expect(store.calls.map((c) => [c.method, c.timeoutMs])).toEqual([
      ['GET', 2500],
      ['POST', 2500],
    ]);
  });

  it('attempts and requestTimeoutMs of 0 count as unset: 5 attempts of 10 s each', async () => {
    for (let i = 0; i < 5; i++)
      store.next('POST', (c) => {
        throw new KubeApiError(`POST ${c.path}: 409 already exists`, 409);
      });
    await expect(registerWebhooks({ http: store.http, mesh, url: 'https://h', caBundle: PEM, requestTimeoutMs: 0, attempts: 0 })).rejects.toThrow(
      new Error(`MutatingWebhookConfiguration ${DEV}: still conflicting after 5 attempts: POST ${M_PATH}: 409 already exists`),
    );
    expect(store.calls.map((c) => [c.method, c.timeoutMs])).toEqual(Array.from({ length: 5 }, () => [['GET', 10_000], ['POST', 10_000]]).flat());
  });

  it('refuses a bad URL before any request', async () => {
    await expect(registerWebhooks({ http: store.http, mesh, url: 'http://h', caBundle: PEM })).rejects.toThrow('--register-webhooks http://h: the API server calls webhooks over https only');
    expect(store.calls).toEqual([]);
  });

  it('an update keeps what the server stored in metadata, takes the desired labels, and sends the stored resourceVersion', async () => {
    const path = itemPath(MWC, 'x');
    store.put(path, { apiVersion: ADM, kind: MWC, metadata: { name: 'x', uid: 'u-1', resourceVersion: '7', labels: { old: '1' }, annotations: { keep: 'me' } }, webhooks: [{ name: 'old' }] });
    const action = await upsertWebhookConfiguration(store.http, MWC, { metadata: { name: 'x', labels: { new: '2' } }, webhooks: [{ name: 'new' }] } as { metadata: { name: string } }, { requestTimeoutMs: 1234 });
    expect(action).toBe('updated');
    expect(store.calls).toEqual([
      { method: 'GET', path, query: undefined, body: undefined, timeoutMs: 1234 },
      {
        method: 'PUT',
        path,
        query: { fieldManager: 'mesh-admission' },
        body: { metadata: { name: 'x', uid: 'u-1', resourceVersion: '7', labels: { new: '2' }, annotations: { keep: 'me' } }, webhooks: [{ name: 'new' }] },
        timeoutMs: 1234,
      },
    ]);
  });

  it('the desired resourceVersion never wins over the stored one; a stored object without metadata is replaced without one', async () => {
    const path = itemPath(VWC, 'y');
    store.next('GET', () => ({ webhooks: [] }));
    store.next('PUT', () => ({}));
    const action = await upsertWebhookConfiguration(store.http, VWC, { metadata: { name: 'y', resourceVersion: 'mine' } } as { metadata: { name: string } });
    expect(action).toBe('updated');
    expect(store.calls[1]).toStrictEqual({ method: 'PUT', path, query: { fieldManager: 'mesh-admission' }, body: { metadata: { name: 'y', resourceVersion: undefined } }, timeoutMs: 10_000 });
  });

  it('a conflicting update is read again and retried, up to 5 attempts, then fails with the last conflict', async () => {
    const path = itemPath(MWC, DEV);
    store.put(path, { metadata: { name: DEV, resourceVersion: '1' } });
    for (let i = 1; i <= 6; i++)
      store.next('PUT', () => {
        throw new KubeApiError(`PUT ${path}: 409 conflict #${i}`, 409);
      });
    await expect(upsertWebhookConfiguration(store.http, MWC, { metadata: { name: DEV } })).rejects.toThrow(
      new Error(`MutatingWebhookConfiguration ${DEV}: still conflicting after 5 attempts: PUT ${path}: 409 conflict #5`),
    );
    expect(store.calls.map((c) => c.method)).toEqual(['GET', 'PUT', 'GET', 'PUT', 'GET', 'PUT', 'GET', 'PUT', 'GET', 'PUT']);
  });

  it('a conflict followed by success: read again and updated', async () => {
    const path = itemPath(MWC, 'z');
    store.put(path, { metadata: { name: 'z', resourceVersion: '1' } });
    store.next('PUT', () => {
      store.put(path, { metadata: { name: 'z', resourceVersion: '2' } });
      throw new KubeApiError(`PUT ${path}: 409 conflict`, 409);
    });
    expect(await upsertWebhookConfiguration(store.http, MWC, { metadata: { name: 'z' } }, { attempts: 2 })).toBe('updated');
    expect(store.calls.map((c) => [c.method, (c.body as Stored | undefined)?.metadata?.resourceVersion])).toEqual([
      ['GET', undefined],
      ['PUT', '1'],
      ['GET', undefined],
      ['PUT', '2'],
    ]);
  });

  it('a failed read other than 404 fails at once, with the kind and the name', async () => {
    store.next('GET', (c) => {
      throw new KubeApiError(`GET ${c.path}: 500 boom`, 500);
    });
    await expect(upsertWebhookConfiguration(store.http, VWC, { metadata: { name: 'q' } })).rejects.toThrow(new Error(`ValidatingWebhookConfiguration q: GET ${itemPath(VWC, 'q')}: 500 boom`));
    store.next('GET', () => {
      throw new Error('socket hang up');
    });
    await expect(upsertWebhookConfiguration(store.http, MWC, { metadata: { name: 'q' } })).rejects.toThrow(new Error('MutatingWebhookConfiguration q: socket hang up'));
    expect(store.calls.map((c) => c.method)).toEqual(['GET', 'GET']);
  });

  it('a failed write other than 409 fails at once, with the kind and the name', async () => {
    store.next('POST', (c) => {
      throw new KubeApiError(`POST ${c.path}: 422 invalid`, 422);
    });
    await expect(upsertWebhookConfiguration(store.http, MWC, { metadata: { name: 'n' } })).rejects.toThrow(new Error(`MutatingWebhookConfiguration n: POST ${M_PATH}: 422 invalid`));
    store.put(itemPath(VWC, 'n'), { metadata: { name: 'n', resourceVersion: '1' } });
    store.next('PUT', (c) => {
      throw new KubeApiError(`PUT ${c.path}: 403 forbidden`, 403);
    });
    await expect(upsertWebhookConfiguration(store.http, VWC, { metadata: { name: 'n' } })).rejects.toThrow(new Error(`ValidatingWebhookConfiguration n: PUT ${itemPath(VWC, 'n')}: 403 forbidden`));
    expect(store.calls.map((c) => c.method)).toEqual(['GET', 'POST', 'GET', 'PUT']);
  });

  it('unregisters the names given, each DELETE with the timeout given, and logs what became of each', async () => {
    store.put(itemPath(VWC, 'v-name'), { metadata: { name: 'v-name' } });
    const r = await unregisterWebhooks({ http: store.http, names: { mutatingConfiguration: 'm-name', validatingConfiguration: 'v-name' }, logger: logger(), requestTimeoutMs: 777 });
    expect(r).toEqual([
      { kind: MWC, name: 'm-name', action: 'absent' },
      { kind: VWC, name: 'v-name', action: 'deleted' },
    ]);
    expect(store.calls).toEqual([
      { method: 'DELETE', path: itemPath(MWC, 'm-name'), query: undefined, body: undefined, timeoutMs: 777 },
      { method: 'DELETE', path: itemPath(VWC, 'v-name'), query: undefined, body: undefined, timeoutMs: 777 },
    ]);
    expect(logs).toEqual([
      { level: 'info', msg: 'webhook configuration absent', obj: { kind: MWC, name: 'm-name', action: 'absent' } },
      { level: 'info', msg: 'webhook configuration deleted', obj: { kind: VWC, name: 'v-name', action: 'deleted' } },
    ]);
  });

  it('unregisters the workstation names by default with a 10 s timeout; another failure stops it with the reason', async () => {
    store.next('DELETE', (c) => {
      throw new KubeApiError(`DELETE ${c.path}: 403 forbidden`, 403);
    });
    await expect(unregisterWebhooks({ http: store.http })).rejects.toThrow(new Error(`MutatingWebhookConfiguration ${DEV}: DELETE ${itemPath(MWC, DEV)}: 403 forbidden`));
    expect(store.calls).toEqual([{ method: 'DELETE', path: itemPath(MWC, DEV), query: undefined, body: undefined, timeoutMs: 10_000 }]);
    expect(await unregisterWebhooks({ http: store.http })).toEqual([
      { kind: MWC, name: DEV, action: 'absent' },
      { kind: VWC, name: DEV, action: 'absent' },
    ]);
  });
});
