// Live mode: the cluster view kept by one reflector (kube/reflector.ts) per resource: Namespaces, Services and every kind of
// the kind table, in whichever of its groups the cluster serves.
//
// Discovery (the API groups, then each group version's resources) decides which resources exist and at which version (the group's
// preferred version, else the first version serving the resource); it re-runs every minute so CRDs installed later
// are picked up, and resources that disappear are dropped. A missing CRD is simply not watched: it never blocks
// readiness. Objects are stored per resource (one MemoryView each) and read by Kind across groups, so the same Kind
// published under two groups coexists even with equal namespace/name.
//
// Two notions, two names: `ready()` (readiness) turns true once every resource found at start has listed, and
// stays true; `kindCurrent(kind)` is whether a kind's cache follows the server right now (false from a broken watch to
// the next successful list or watch, e.g. while relisting after an API server restart). A decision that must not
// rest on stale state calls `freshen(kinds, deadline)` first: it reads the API server directly for those kinds.
import type { Logger } from 'pino';
import type { KubeObject } from '../mesh/objects.js';
import { MemoryView } from '../cluster/memory.js';
import type { ClusterView, IndexDef } from '../cluster/view.js';
import { statusOf, type KubeHttp } from '../kube/http.js';
import { collectionPath, dedupe, defaultResources, discoverServed, type ResourceSpec } from '../kube/discovery.js';
import { dropMetadataNoise, Reflector, type BackoffOptions, type ReflectorStatus } from '../kube/reflector.js';
import { namespacePath } from '../kube/paths.js';
import { Backoff } from '../mesh/backoff.js';
import { errorMessage } from '../mesh/errors.js';

export { defaultResources, type ResourceSpec } from '../kube/discovery.js';

export interface LiveViewOptions {
  readonly http: KubeHttp;
  readonly logger: Logger;
  /** more resources to cache, beyond Namespaces, Services and the KINDS table (read by Kind like the others) */
  readonly extraResources?: readonly ResourceSpec[];
  /** replaces the default resource set entirely (tests) */
  readonly resources?: readonly ResourceSpec[];
  readonly backoff?: BackoffOptions;
  /** discovery re-run period (default 60 s) */
  readonly discoveryIntervalMs?: number;
  /** server-side watch timeout: random in [watchTimeoutSeconds, 2 × watchTimeoutSeconds) (default 300 s) */
  readonly watchTimeoutSeconds?: number;
  /** timeout of list and discovery requests (default 60 s) */
  readonly requestTimeoutMs?: number;
  /** timeout of fetchNamespace (default 5 s: it runs on the admission path) */
  readonly fetchTimeoutMs?: number;
  /** list page size (default 500) */
  readonly pageSize?: number;
  readonly now?: () => number;
  readonly random?: () => number;
}

/** What a running informer watches, for status pages and tests. */
export interface InformerStatus extends Omit<ReflectorStatus, 'path'> {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly kind: string;
}


/**
 * What the view keeps of an object: no managedFields, no kubectl last-applied copy, and no status (no rule reads one);
 * often most of an object's size, for every object in the cluster.
 */
export function forTheView(obj: KubeObject): KubeObject {
  dropMetadataNoise(obj);
  if ('status' in obj) delete obj.status;
  return obj;
}

/** One resource: the reflector that fills its part of the shared store. */
class Informer {
  readonly reflector: Reflector;

  constructor(
    readonly group: string,
    readonly version: string,
    readonly plural: string,
    readonly kind: string,
    store: MemoryView,
    opts: LiveViewOptions,
    log: Logger,
  ) {
    const apiVersion = group ? `${group}/${version}` : version;
    this.reflector = new Reflector({
      http: opts.http,
      path: collectionPath(group, version, plural),
      apiVersion,
      kind,
      logger: log,
      transform: forTheView,
      handler: {
        replace: (items) => store.replaceKind(kind, items, group),
        upsert: (obj) => store.upsert(obj),
        remove: (obj) => store.removeObject(obj),
      },
      ...(opts.backoff ? { backoff: opts.backoff } : {}),
      ...(opts.watchTimeoutSeconds !== undefined ? { watchTimeoutSeconds: opts.watchTimeoutSeconds } : {}),
      ...(opts.pageSize !== undefined ? { pageSize: opts.pageSize } : {}),
      ...(opts.requestTimeoutMs !== undefined ? { requestTimeoutMs: opts.requestTimeoutMs } : {}),
      ...(opts.now ? { now: opts.now } : {}),
      ...(opts.random ? { random: opts.random } : {}),
    });
  }

  get id(): string {
    return this.group ? `${this.plural}.${this.version}.${this.group}` : `${this.plural}.${this.version}`;
  }

  status(): InformerStatus {
    const { path: _path, ...rest } = this.reflector.status();
    return { group: this.group, version: this.version, plural: this.plural, kind: this.kind, ...rest };
  }
}

export class LiveView implements ClusterView {
  /** every resource's objects, groups kept apart, with the rules' indexes */
  private readonly store = new MemoryView([], { distinctGroups: true });
  private readonly http: KubeHttp;
  private readonly specs: readonly ResourceSpec[];
  /** `${group}/${plural}` → informer */
  private readonly informers = new Map<string, Informer>();
  private readonly byKind = new Map<string, Informer[]>();
  private readonly discoveryIntervalMs: number;
  private readonly fetchTimeoutMs: number;
  private readonly requestTimeoutMs: number;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly requests = new Set<AbortController>();
  /** informers the first successful discovery started: readiness waits for their first list */
  private initial: Informer[] | undefined;
  /** the API server's minor version, from /version at every discovery */
  private minor: number | undefined;
  private readonly versionListeners = new Set<(minor: number) => void>();
  /** why the last discovery failed, until one succeeds */
  private discoveryFailure: string | undefined;
  private isReady = false;
  private started = false;
  private stopped = false;
  private discoveryTimer: NodeJS.Timeout | undefined;
  private discovering: Promise<void> | undefined;
  private readonly discoveryBackoff = new Backoff({ initialMs: 200, maxMs: 4000 });
  private readonly syncWaiters = new Set<() => void>();

  constructor(private readonly opts: LiveViewOptions) {
    this.log = opts.logger.child({ component: 'cluster-view' });
    this.http = opts.http;
    this.specs = dedupe([...(opts.resources ?? defaultResources()), ...(opts.extraResources ?? [])]);
    this.discoveryIntervalMs = opts.discoveryIntervalMs ?? 60_000;
    this.fetchTimeoutMs = opts.fetchTimeoutMs ?? 5000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 60_000;
    this.now = opts.now ?? Date.now;
    // the core group needs no discovery: its informers exist from the start (so fetchNamespace has a store to fill)
    for (const spec of this.specs) if (spec.group === '') this.addInformer(spec, 'v1', false);
  }

  /** Starts discovery and the informers; returns at once (see ready() / whenReady()). */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    for (const inf of this.informers.values()) inf.reflector.start();
    this.scheduleDiscovery(0);
  }

  /** Ends every watch, request and timer; resolves when every loop has returned. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.discoveryTimer) clearTimeout(this.discoveryTimer);
    this.discoveryTimer = undefined;
    for (const c of this.requests) c.abort();
    await Promise.allSettled([...this.informers.values()].map((i) => i.reflector.stop()));
    await this.discovering?.catch(() => undefined);
    for (const w of this.syncWaiters) w();
    this.syncWaiters.clear();
  }

  /** True once discovery has run and every informer it started has completed its first list (and stays true:
   * informers for CRDs installed later never take readiness away). */
  ready(): boolean {
    return this.isReady;
  }

  /** Resolves true when ready, false when `deadline` (epoch ms; 0 = none) passes first or on stop. */
  whenReady(deadline = 0): Promise<boolean> {
    if (this.isReady) return Promise.resolve(true);
    if (this.stopped) return Promise.resolve(false);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        if (timer) clearTimeout(timer);
        this.syncWaiters.delete(done);
        resolve(this.isReady);
      };
      this.syncWaiters.add(done);
      if (deadline > 0) timer = setTimeout(done, Math.max(0, deadline - this.now()));
    });
  }

  /** The API server's minor version (read with every discovery); undefined until the first one succeeds. */
  kubernetesMinor(): number | undefined {
    return this.minor;
  }

  /** Called with the minor version when it is first known and whenever it changes (an upgraded API server). */
  onVersion(listener: (minor: number) => void): void {
    this.versionListeners.add(listener);
    if (this.minor !== undefined) listener(this.minor);
  }

  /**
   * Why the view is not ready, one line per cause, naming the resource and the refusal (e.g. `plugins.v1alpha1.
   * plugin.flomesh.io: GET …: 403 … cannot list resource "plugins" …`); empty once ready.
   */
  notReady(): string[] {
    if (this.isReady) return [];
    if (!this.initial) return [`API discovery ${this.discoveryFailure ? `failed: ${this.discoveryFailure}` : 'not done yet'}`];
    return this.initial
      .filter((i) => !i.reflector.hasListed() && this.informers.has(`${i.group}/${i.plural}`))
      .map((i) => {
        const failure = i.reflector.failure();
        return `${i.id} not listed yet${failure ? `: ${failure}` : ''}`;
      });
  }

  /** Whether every served resource of this kind follows the server right now (a kind not served counts as following). */
  kindCurrent(kind: string): boolean {
    return (this.byKind.get(kind) ?? []).every((i) => i.reflector.isCurrent());
  }

  /**
   * Brings the named kinds up to date before a decision that must not rest on stale state: for each kind whose cache
   * does not follow the server (a watch broke, a relist after an API server restart is under way), the API server is
   * read now instead of after the reflector's backoff, and the call waits for it until `deadline` (epoch ms).
   * Resolves with the kinds still not in sync (empty when all are).
   */
  async freshen(kinds: Iterable<string>, deadline: number): Promise<string[]> {
    const stale = [...new Set(kinds)].filter((k) => !this.kindCurrent(k));
    if (stale.length === 0) return [];
    await Promise.all(stale.flatMap((k) => (this.byKind.get(k) ?? []).map((i) => i.reflector.freshen(deadline))));
    return stale.filter((k) => !this.kindCurrent(k));
  }

  list(kind: string, namespace?: string): readonly KubeObject[] {
    return this.store.list(kind, namespace);
  }

  get(kind: string, namespace: string, name: string): KubeObject | undefined {
    return this.store.get(kind, namespace, name);
  }

  byIndex(index: IndexDef, key: string): readonly KubeObject[] {
    return this.store.byIndex(index, key);
  }

  all(): KubeObject[] {
    return this.store.all();
  }

  /**
   * GETs one Namespace from the API server (admission path, when the cache does not have it yet) and stores it in the
   * view. Undefined when it does not exist; throws KubeApiError on any other failure (the caller decides).
   */
  async fetchNamespace(name: string): Promise<KubeObject | undefined> {
    const abort = new AbortController();
    this.requests.add(abort);
    try {
      const ns = await this.http.getOptional<KubeObject>({ path: namespacePath(name), timeoutMs: this.fetchTimeoutMs, signal: abort.signal });
      if (!ns) return undefined;
      ns.apiVersion = 'v1';
      ns.kind = 'Namespace';
      // never replace a newer cached copy by an older answer
      const cached = this.store.get('Namespace', '', name);
      if (!cached || Number(cached.metadata?.resourceVersion ?? 0) <= Number(ns.metadata?.resourceVersion ?? 0)) this.store.upsert(forTheView(ns));
      return ns;
    } finally {
      this.requests.delete(abort);
    }
  }

  /** Seconds since the last event (list, watch event, bookmark) per kind; kinds never listed are absent. */
  lastEventAges(): Map<string, number> {
    const now = this.now();
    const out = new Map<string, number>();
    for (const [kind, infs] of this.byKind) {
      const last = Math.max(...infs.map((i) => i.reflector.lastEvent() ?? -Infinity));
      if (Number.isFinite(last)) out.set(kind, Math.max(0, (now - last) / 1000));
    }
    return out;
  }

  /** Per kind, the epoch seconds since which its cache has followed the server without a break; 0 while it does not. */
  currentSince(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [kind, infs] of this.byKind) {
      const since = infs.map((i) => i.reflector.currentSince());
      out.set(kind, since.every((s) => s !== undefined) ? Math.max(...(since as number[])) / 1000 : 0);
    }
    return out;
  }

  /** The resources being watched, with their sync state. */
  informerStatus(): InformerStatus[] {
    return [...this.informers.values()].map((i) => i.status());
  }

  /** Forces a relist of every informer (e.g. from an admin endpoint). */
  relistAll(): void {
    for (const i of this.informers.values()) i.reflector.relist();
  }

  /** Runs discovery now (it also runs periodically); resolves when done. */
  async discoverNow(): Promise<void> {
    if (this.discovering) return this.discovering;
    this.discovering = this.discover().finally(() => (this.discovering = undefined));
    return this.discovering;
  }

  // -------------------------------------------------------------------------------------------------------------------

  private addInformer(spec: ResourceSpec, version: string, start: boolean): Informer {
    const inf = new Informer(spec.group, version, spec.plural, spec.kind, this.store, this.opts, this.log);
    this.informers.set(`${spec.group}/${spec.plural}`, inf);
    const list = this.byKind.get(spec.kind) ?? [];
    list.push(inf);
    // stable read order across groups: the order of the resource table
    const order = (i: Informer): number => this.specs.findIndex((s) => s.group === i.group && s.plural === i.plural);
    list.sort((a, b) => order(a) - order(b));
    this.byKind.set(spec.kind, list);
    void inf.reflector.whenCurrent().then(() => this.checkReady());
    if (start) inf.reflector.start();
    return inf;
  }

  private async removeInformer(key: string): Promise<void> {
    const inf = this.informers.get(key);
    if (!inf) return;
    this.informers.delete(key);
    const rest = (this.byKind.get(inf.kind) ?? []).filter((i) => i !== inf);
    if (rest.length) this.byKind.set(inf.kind, rest);
    else this.byKind.delete(inf.kind);
    await inf.reflector.stop();
    // what it held is no longer served
    this.store.replaceKind(inf.kind, [], inf.group);
  }

  private checkReady(): void {
    if (this.isReady || !this.initial) return;
    if (this.initial.every((i) => i.reflector.hasListed() || !this.informers.has(`${i.group}/${i.plural}`))) {
      this.isReady = true;
      this.log.info({ resources: [...this.informers.values()].map((i) => i.id) }, 'cluster view synced');
      for (const w of [...this.syncWaiters]) w();
    }
  }

  private noteVersion(version: { minor?: string; gitVersion?: string } | undefined): void {
    // "28" or "28+" (some distributions add a suffix)
    const minor = Number.parseInt(version?.minor ?? '', 10);
    if (!Number.isFinite(minor)) throw new Error(`/version answered without a minor version: ${JSON.stringify(version)}`);
    if (minor === this.minor) return;
    this.log.info({ version: version?.gitVersion, minor, was: this.minor }, 'API server version');
    this.minor = minor;
    for (const l of this.versionListeners) l(minor);
  }

  private scheduleDiscovery(delayMs: number): void {
    if (this.stopped) return;
    this.discoveryTimer = setTimeout(() => {
      this.discoveryTimer = undefined;
      void this.discoverNow().then(
        () => {
          this.discoveryBackoff.reset();
          this.discoveryFailure = undefined;
          this.scheduleDiscovery(this.discoveryIntervalMs);
        },
        (err: unknown) => {
          if (this.stopped) return;
          // before the first success retry soon (readiness waits for it), after it on the normal period
          const delay = this.initial ? this.discoveryIntervalMs : this.discoveryBackoff.failed();
          const text = errorMessage(err);
          // said once per distinct failure, not at every retry
          if (text !== this.discoveryFailure) this.log.warn({ err: text, status: statusOf(err), retryInMs: delay }, 'API discovery failed; retrying');
          this.discoveryFailure = text;
          this.scheduleDiscovery(delay);
        },
      );
    }, delayMs);
    this.discoveryTimer.unref();
  }

  private async getJson<T>(path: string): Promise<T | undefined> {
    const abort = new AbortController();
    this.requests.add(abort);
    try {
      return await this.http.getOptional<T>({ path, timeoutMs: this.requestTimeoutMs, signal: abort.signal });
    } finally {
      this.requests.delete(abort);
    }
  }

  private async discover(): Promise<void> {
    const [want, version] = await Promise.all([discoverServed((path) => this.getJson(path), this.specs), this.getJson<{ major?: string; minor?: string; gitVersion?: string }>('/version')]);
    if (this.stopped) return;
    this.noteVersion(version);
    // reconcile the running informers with what is served
    for (const [key, inf] of [...this.informers]) {
      if (inf.group === '') continue;
      const w = want.get(key);
      if (!w || w.version !== inf.version) {
        this.log.info({ resource: inf.id, now: w ? w.version : 'not served' }, w ? 'preferred version changed: re-watching' : 'resource no longer served: dropped from the view');
        await this.removeInformer(key);
      }
    }
    const added: string[] = [];
    for (const [key, { spec, version }] of want) {
      if (this.informers.has(key) || this.stopped) continue;
      added.push(this.addInformer(spec, version, true).id);
    }
    if (added.length) this.log.info({ resources: added }, 'watching');
    if (!this.initial) {
      this.initial = [...this.informers.values()];
      const notServed = this.specs.filter((s) => s.group !== '' && !want.has(`${s.group}/${s.plural}`)).map((s) => `${s.plural}.${s.group}`);
      if (notServed.length) this.log.info({ resources: notServed }, 'not served by the cluster (CRD not installed): not watched');
      this.checkReady();
    }
  }
}
