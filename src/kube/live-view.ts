// Live mode: the cluster view kept by informers (list + watch) on Namespaces, Services and every kind of the KINDS
// table, in whichever of its groups the cluster serves.
//
// The list/watch loop is our own, over raw HTTP requests signed by client-node's KubeConfig (kube.ts), not
// client-node's makeInformer: its watches are known to stop silently or to stop reconnecting (client-node #596, #958,
// #1496, #1933, #795; Pepr replaced the transport for the same reason), its Watch cannot be aborted before the
// response headers arrive, and it gives no idle timeout. Here every resource runs one loop:
//
//   list (paginated) → replace the store → watch from the list's resourceVersion (bookmarks on, server timeout
//   5–10 min, client idle timeout a little longer) → on a clean end re-watch from the last resourceVersion; on
//   410 Gone / Expired relist; on any error back off (exponential, capped, jittered) and retry; every 5–10 min relist
//   anyway (heals a watch that silently stopped delivering).
//
// Discovery (`/apis`, `/apis/<group>/<version>`) decides which resources exist and at which version (the group's
// preferred version, else the first version serving the resource); it re-runs every minute so CRDs installed later
// are picked up, and resources that disappear are dropped. A missing CRD is simply not watched: it never blocks
// readiness. Objects are stored per resource (one MemoryView each) and read by Kind across groups, so the same Kind
// published under two groups coexists even with equal namespace/name.
import type { Logger } from 'pino';
import type { Gauge } from 'prom-client';
import type { KubeConfig } from '@kubernetes/client-node';
import type { KubeObject } from '../mesh/objects.js';
import { KINDS } from '../mesh/kinds.js';
import { KubeApiError, KubeHttp } from './client.js';
import { MemoryView } from '../cluster/memory.js';
import type { ClusterView } from '../cluster/view.js';

/** A resource to cache; the version is found by discovery (the core group is always v1). */
export interface ResourceSpec {
  readonly group: string;
  readonly kind: string;
  readonly plural: string;
}

export interface BackoffOptions {
  /** first retry delay (default 500 ms) */
  readonly initialMs?: number;
  /** cap (default 30 s) */
  readonly maxMs?: number;
  /** multiplier per failure (default 2) */
  readonly factor?: number;
}

export interface LiveViewOptions {
  readonly kubeConfig: KubeConfig;
  readonly logger: Logger;
  /** mesh_informer_last_event_age_seconds{kind}: filled at each scrape (a collect hook installed by the view) */
  readonly eventAgeGauge?: Gauge<'kind'>;
  /** more resources to cache, beyond Namespaces, Services and the KINDS table (read by Kind like the others) */
  readonly extraResources?: readonly ResourceSpec[];
  /** replaces the default resource set entirely (tests) */
  readonly resources?: readonly ResourceSpec[];
  readonly backoff?: BackoffOptions;
  /** periodic relist: a random delay in [relistIntervalMs, 2 × relistIntervalMs) after each list (default 5 min) */
  readonly relistIntervalMs?: number;
  /** discovery re-run period (default 60 s) */
  readonly discoveryIntervalMs?: number;
  /** server-side watch timeout: random in [watchTimeoutSeconds, 2 × watchTimeoutSeconds) (default 300 s) */
  readonly watchTimeoutSeconds?: number;
  /** a watch that received no byte (event, bookmark) for this long is dropped and re-made
   * (default: 2 × watchTimeoutSeconds + 30 s, i.e. after the server should have ended it) */
  readonly watchIdleTimeoutMs?: number;
  /** a watch that ends sooner than this without an event counts as a failure for backoff (default 1 s) */
  readonly minWatchMs?: number;
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
export interface InformerStatus {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly kind: string;
  readonly listed: boolean;
  readonly resourceVersion?: string;
  readonly lastEventAt?: number;
}

const CORE_SPECS: readonly ResourceSpec[] = [{ group: '', kind: 'Namespace', plural: 'namespaces' }];

/** Namespaces, Services and every (group, kind) of the KINDS table. */
export function defaultResources(): ResourceSpec[] {
  const out: ResourceSpec[] = [...CORE_SPECS];
  for (const k of KINDS) for (const group of k.groups) out.push({ group, kind: k.kind, plural: k.plural });
  return dedupe(out);
}

function dedupe(specs: readonly ResourceSpec[]): ResourceSpec[] {
  const seen = new Map<string, ResourceSpec>();
  for (const s of specs) seen.set(`${s.group}/${s.plural}`, s);
  return [...seen.values()];
}

const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));
const statusOf = (err: unknown): number => (err instanceof KubeApiError ? err.status : 0);

interface WatchEvent {
  type?: string;
  object?: KubeObject & { code?: number; reason?: string; message?: string };
}

interface WatchState {
  events: number;
  gone: boolean;
  failure: Error | undefined;
}

interface ListBody {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: KubeObject[];
}

interface Settings {
  readonly http: KubeHttp;
  readonly logger: Logger;
  readonly backoff: Required<BackoffOptions>;
  readonly relistIntervalMs: number;
  readonly watchTimeoutSeconds: number;
  readonly watchIdleTimeoutMs: number | undefined;
  readonly minWatchMs: number;
  readonly requestTimeoutMs: number;
  readonly pageSize: number;
  readonly now: () => number;
  readonly random: () => number;
}

function backoffDelay(s: Settings, attempt: number): number {
  const base = Math.min(s.backoff.maxMs, s.backoff.initialMs * s.backoff.factor ** Math.max(0, attempt - 1));
  // "equal jitter": half fixed, half random, so retries of many informers spread out but never collapse to 0
  return Math.round(base / 2 + (s.random() * base) / 2);
}

/** One resource's list + watch loop and its store. */
class Informer {
  readonly store = new MemoryView();
  listed = false;
  resourceVersion: string | undefined;
  lastEventAt: number | undefined;
  private stopped = false;
  private needList = true;
  private abort: AbortController | undefined;
  private watching = false;
  private sleeping: { timer: NodeJS.Timeout; resolve: () => void } | undefined;
  private relistTimer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  private readonly log: Logger;

  constructor(
    readonly group: string,
    readonly version: string,
    readonly plural: string,
    readonly kind: string,
    private readonly s: Settings,
    private readonly onFirstList: () => void,
  ) {
    this.log = s.logger.child({ resource: this.id });
  }

  get id(): string {
    return this.group ? `${this.plural}.${this.version}.${this.group}` : `${this.plural}.${this.version}`;
  }

  get apiVersion(): string {
    return this.group ? `${this.group}/${this.version}` : this.version;
  }

  private get path(): string {
    return this.group ? `/apis/${this.group}/${this.version}/${this.plural}` : `/api/${this.version}/${this.plural}`;
  }

  start(): void {
    this.loop ??= this.run().catch((err: unknown) => this.log.error({ err: errText(err) }, 'informer loop ended unexpectedly'));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.relistTimer) clearTimeout(this.relistTimer);
    this.relistTimer = undefined;
    this.abort?.abort();
    this.wake();
    await this.loop;
  }

  /** Relist at the next opportunity (ends the current watch). */
  requestRelist(): void {
    this.needList = true;
    if (this.watching) this.abort?.abort(); // a list in flight is left to finish
  }

  private wake(): void {
    if (this.sleeping) {
      clearTimeout(this.sleeping.timer);
      this.sleeping.resolve();
      this.sleeping = undefined;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => ((this.sleeping = undefined), resolve()), ms);
      timer.unref();
      this.sleeping = { timer, resolve };
    });
  }

  private touch(): void {
    this.lastEventAt = this.s.now();
  }

  private normalize(obj: KubeObject): KubeObject {
    // list items carry no apiVersion/kind; watch objects normally do, but set both either way
    obj.apiVersion = this.apiVersion;
    obj.kind = this.kind;
    return obj;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        if (this.needList) {
          await this.list();
          failures = 0;
          if (this.stopped) break;
        }
        const started = this.s.now();
        const { events, gone } = await this.watch();
        if (this.stopped) break;
        if (gone) {
          this.log.info({ resourceVersion: this.resourceVersion }, 'watch expired (410 Gone): relisting');
          this.needList = true;
        } else if (this.needList) continue; // ended by a periodic relist: list at once
        // a watch that ends at once with nothing to say is a failure in disguise: don't spin
        if (events === 0 && this.s.now() - started < this.s.minWatchMs) {
          failures++;
          await this.sleep(backoffDelay(this.s, failures));
        } else failures = 0;
      } catch (err) {
        if (this.stopped) break;
        failures++;
        const status = statusOf(err);
        const delay = backoffDelay(this.s, failures);
        if (status === 410) {
          this.log.info({ err: errText(err) }, 'resourceVersion expired (410 Gone): relisting');
          this.needList = true;
        } else
          this.log.warn({ err: errText(err), status, attempt: failures, retryInMs: delay, listing: this.needList }, this.needList ? 'list failed; retrying' : 'watch failed; re-watching');
        await this.sleep(delay);
      }
    }
  }

  private async list(): Promise<void> {
    const items: KubeObject[] = [];
    let cont: string | undefined;
    let rv: string | undefined;
    do {
      this.abort = new AbortController();
      const body = await this.s.http.json<ListBody>({
        path: this.path,
        query: { limit: this.s.pageSize, continue: cont },
        signal: this.abort.signal,
        timeoutMs: this.s.requestTimeoutMs,
      });
      if (this.stopped) return;
      for (const item of body?.items ?? []) items.push(this.normalize(item));
      rv = body?.metadata?.resourceVersion;
      cont = body?.metadata?.continue || undefined;
    } while (cont);
    this.store.replaceKind(this.kind, items);
    this.resourceVersion = rv;
    this.needList = false;
    this.touch();
    this.log.debug({ count: items.length, resourceVersion: rv }, 'listed');
    if (!this.listed) {
      this.listed = true;
      this.onFirstList();
    }
    this.scheduleRelist();
  }

  private scheduleRelist(): void {
    if (this.relistTimer) clearTimeout(this.relistTimer);
    const delay = this.s.relistIntervalMs * (1 + this.s.random());
    this.relistTimer = setTimeout(() => {
      this.relistTimer = undefined;
      this.log.debug('periodic relist');
      this.requestRelist();
    }, delay);
    this.relistTimer.unref();
  }

  private async watch(): Promise<{ events: number; gone: boolean }> {
    const state: WatchState = { events: 0, gone: false, failure: undefined };
    const abort = (this.abort = new AbortController());
    const timeoutSeconds = Math.round(this.s.watchTimeoutSeconds * (1 + this.s.random()));
    this.watching = true;
    try {
      await this.s.http.stream(
        {
          path: this.path,
          query: { watch: 'true', allowWatchBookmarks: 'true', resourceVersion: this.resourceVersion, timeoutSeconds },
          signal: abort.signal,
          timeoutMs: this.s.watchIdleTimeoutMs ?? (2 * this.s.watchTimeoutSeconds + 30) * 1000,
        },
        (line) => this.onWatchLine(line, state, abort),
      );
    } finally {
      this.watching = false;
    }
    if (state.failure) throw state.failure;
    return { events: state.events, gone: state.gone };
  }

  private onWatchLine(line: string, state: WatchState, abort: AbortController): void {
    let ev: WatchEvent;
    try {
      ev = JSON.parse(line) as WatchEvent;
    } catch {
      this.log.warn({ line: line.slice(0, 200) }, 'unparseable watch line ignored');
      return;
    }
    const obj = ev.object;
    switch (ev.type) {
      case 'ADDED':
      case 'MODIFIED':
      case 'DELETED':
        if (!obj || typeof obj !== 'object') return;
        this.normalize(obj);
        if (ev.type === 'DELETED') this.store.remove(this.kind, obj.metadata?.namespace ?? '', obj.metadata?.name ?? '');
        else this.store.upsert(obj);
        break;
      case 'BOOKMARK':
        break;
      case 'ERROR':
        if (obj?.code === 410 || obj?.reason === 'Expired' || obj?.reason === 'Gone') state.gone = true;
        else state.failure = new KubeApiError(`watch ${this.path}: ${obj?.message ?? 'error event'}`, typeof obj?.code === 'number' ? obj.code : 0, obj?.reason);
        abort.abort();
        return;
      default:
        return;
    }
    const rv = obj?.metadata?.resourceVersion;
    if (typeof rv === 'string' && rv) this.resourceVersion = rv;
    state.events++;
    this.touch();
  }

  status(): InformerStatus {
    return {
      group: this.group,
      version: this.version,
      plural: this.plural,
      kind: this.kind,
      listed: this.listed,
      ...(this.resourceVersion !== undefined ? { resourceVersion: this.resourceVersion } : {}),
      ...(this.lastEventAt !== undefined ? { lastEventAt: this.lastEventAt } : {}),
    };
  }
}

interface GroupList {
  groups?: Array<{ name?: string; versions?: Array<{ version?: string }>; preferredVersion?: { version?: string } }>;
}

interface ResourceList {
  resources?: Array<{ name?: string; kind?: string }>;
}

export class LiveView implements ClusterView {
  private readonly s: Settings;
  private readonly specs: readonly ResourceSpec[];
  /** `${group}/${plural}` → informer */
  private readonly informers = new Map<string, Informer>();
  private readonly byKind = new Map<string, Informer[]>();
  private readonly discoveryIntervalMs: number;
  private readonly fetchTimeoutMs: number;
  private readonly log: Logger;
  private readonly gauge: Gauge<'kind'> | undefined;
  private readonly previousCollect: (() => unknown) | undefined;
  private readonly requests = new Set<AbortController>();
  /** informers the first successful discovery started: readiness waits for their first list */
  private initial: Informer[] | undefined;
  private isSynced = false;
  private started = false;
  private stopped = false;
  private discoveryTimer: NodeJS.Timeout | undefined;
  private discovering: Promise<void> | undefined;
  private discoveryFailures = 0;
  private readonly syncWaiters = new Set<() => void>();

  constructor(opts: LiveViewOptions) {
    this.log = opts.logger.child({ component: 'cluster-view' });
    this.s = {
      http: new KubeHttp(opts.kubeConfig),
      logger: this.log,
      backoff: { initialMs: opts.backoff?.initialMs ?? 500, maxMs: opts.backoff?.maxMs ?? 30_000, factor: opts.backoff?.factor ?? 2 },
      relistIntervalMs: opts.relistIntervalMs ?? 5 * 60_000,
      watchTimeoutSeconds: opts.watchTimeoutSeconds ?? 300,
      watchIdleTimeoutMs: opts.watchIdleTimeoutMs,
      minWatchMs: opts.minWatchMs ?? 1000,
      requestTimeoutMs: opts.requestTimeoutMs ?? 60_000,
      pageSize: opts.pageSize ?? 500,
      now: opts.now ?? Date.now,
      random: opts.random ?? Math.random,
    };
    this.specs = dedupe([...(opts.resources ?? defaultResources()), ...(opts.extraResources ?? [])]);
    this.discoveryIntervalMs = opts.discoveryIntervalMs ?? 60_000;
    this.fetchTimeoutMs = opts.fetchTimeoutMs ?? 5000;
    // the core group needs no discovery: its informers exist from the start (so fetchNamespace has a store to fill)
    for (const spec of this.specs) if (spec.group === '') this.addInformer(spec, 'v1', false);
    this.gauge = opts.eventAgeGauge;
    if (this.gauge) {
      const g = this.gauge as unknown as { collect?: () => unknown };
      this.previousCollect = g.collect;
      const self = this;
      g.collect = function (this: unknown) {
        const prev = self.previousCollect?.call(this);
        self.updateGauge();
        return prev;
      };
    }
  }

  /** Starts discovery and the informers; returns at once (see synced() / waitForSync()). */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    for (const inf of this.informers.values()) inf.start();
    this.scheduleDiscovery(0);
  }

  /** Ends every watch, request and timer; resolves when every loop has returned. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.discoveryTimer) clearTimeout(this.discoveryTimer);
    this.discoveryTimer = undefined;
    for (const c of this.requests) c.abort();
    await Promise.allSettled([...this.informers.values()].map((i) => i.stop()));
    await this.discovering?.catch(() => undefined);
    if (this.gauge) (this.gauge as unknown as { collect?: () => unknown }).collect = this.previousCollect;
    for (const w of this.syncWaiters) w();
    this.syncWaiters.clear();
  }

  /** True once discovery has run and every informer it started has completed its first list (and stays true:
   * informers for CRDs installed later never take readiness away). */
  synced(): boolean {
    return this.isSynced;
  }

  /** Resolves true when synced, false on timeout or stop. */
  waitForSync(timeoutMs = 0): Promise<boolean> {
    if (this.isSynced) return Promise.resolve(true);
    if (this.stopped) return Promise.resolve(false);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        if (timer) clearTimeout(timer);
        this.syncWaiters.delete(done);
        resolve(this.isSynced);
      };
      this.syncWaiters.add(done);
      if (timeoutMs > 0) timer = setTimeout(done, timeoutMs);
    });
  }

  list(kind: string, namespace?: string): readonly KubeObject[] {
    const infs = this.byKind.get(kind);
    if (!infs || infs.length === 0) return [];
    if (infs.length === 1) return infs[0]!.store.list(kind, namespace);
    return infs.flatMap((i) => i.store.list(kind, namespace));
  }

  get(kind: string, namespace: string, name: string): KubeObject | undefined {
    const infs = this.byKind.get(kind);
    if (!infs) return undefined;
    for (const i of infs) {
      const o = i.store.get(kind, namespace, name);
      if (o) return o;
    }
    return undefined;
  }

  all(): KubeObject[] {
    return [...this.informers.values()].flatMap((i) => i.store.all());
  }

  /**
   * GETs one Namespace from the API server (admission path, when the cache does not have it yet) and stores it in the
   * view. Undefined when it does not exist; throws KubeApiError on any other failure (the caller decides).
   */
  async fetchNamespace(name: string): Promise<KubeObject | undefined> {
    const abort = new AbortController();
    this.requests.add(abort);
    try {
      const res = await this.s.http.request<KubeObject>({ path: `/api/v1/namespaces/${encodeURIComponent(name)}`, timeoutMs: this.fetchTimeoutMs, signal: abort.signal });
      if (res.status === 404) return undefined;
      if (res.status !== 200 || !res.body || typeof res.body !== 'object') {
        const b = res.body as { message?: string; reason?: string } | undefined;
        throw new KubeApiError(`GET namespace ${name}: ${res.status} ${b?.message ?? ''}`.trim(), res.status, b?.reason, res.body);
      }
      const ns = res.body;
      ns.apiVersion = 'v1';
      ns.kind = 'Namespace';
      const inf = this.informers.get('/namespaces');
      // never replace a newer cached copy by an older answer
      const cached = inf?.store.get('Namespace', '', name);
      if (inf && (!cached || Number(cached.metadata?.resourceVersion ?? 0) <= Number(ns.metadata?.resourceVersion ?? 0))) inf.store.upsert(ns);
      return ns;
    } finally {
      this.requests.delete(abort);
    }
  }

  /** Seconds since the last event (list, watch event, bookmark) per kind; kinds never listed are absent. */
  lastEventAges(): Map<string, number> {
    const now = this.s.now();
    const out = new Map<string, number>();
    for (const [kind, infs] of this.byKind) {
      const last = Math.max(...infs.map((i) => i.lastEventAt ?? -Infinity));
      if (Number.isFinite(last)) out.set(kind, Math.max(0, (now - last) / 1000));
    }
    return out;
  }

  /** Writes lastEventAges() into the gauge (done at each scrape when a gauge was given). */
  updateGauge(): void {
    if (!this.gauge) return;
    this.gauge.reset();
    for (const [kind, age] of this.lastEventAges()) this.gauge.set({ kind }, age);
  }

  /** The resources being watched, with their sync state. */
  informerStatus(): InformerStatus[] {
    return [...this.informers.values()].map((i) => i.status());
  }

  /** Forces a relist of every informer (e.g. from an admin endpoint). */
  relistAll(): void {
    for (const i of this.informers.values()) i.requestRelist();
  }

  /** Runs discovery now (it also runs periodically); resolves when done. */
  async discoverNow(): Promise<void> {
    if (this.discovering) return this.discovering;
    this.discovering = this.discover().finally(() => (this.discovering = undefined));
    return this.discovering;
  }

  // -------------------------------------------------------------------------------------------------------------------

  private addInformer(spec: ResourceSpec, version: string, start: boolean): Informer {
    const inf = new Informer(spec.group, version, spec.plural, spec.kind, this.s, () => this.checkSynced());
    this.informers.set(`${spec.group}/${spec.plural}`, inf);
    const list = this.byKind.get(spec.kind) ?? [];
    list.push(inf);
    // stable read order across groups: the order of the resource table
    const order = (i: Informer): number => this.specs.findIndex((s) => s.group === i.group && s.plural === i.plural);
    list.sort((a, b) => order(a) - order(b));
    this.byKind.set(spec.kind, list);
    if (start) inf.start();
    return inf;
  }

  private async removeInformer(key: string): Promise<void> {
    const inf = this.informers.get(key);
    if (!inf) return;
    this.informers.delete(key);
    const rest = (this.byKind.get(inf.kind) ?? []).filter((i) => i !== inf);
    if (rest.length) this.byKind.set(inf.kind, rest);
    else this.byKind.delete(inf.kind);
    await inf.stop();
  }

  private checkSynced(): void {
    if (this.isSynced || !this.initial) return;
    if (this.initial.every((i) => i.listed || !this.informers.has(`${i.group}/${i.plural}`))) {
      this.isSynced = true;
      this.log.info({ resources: [...this.informers.values()].map((i) => i.id) }, 'cluster view synced');
      for (const w of [...this.syncWaiters]) w();
    }
  }

  private scheduleDiscovery(delayMs: number): void {
    if (this.stopped) return;
    this.discoveryTimer = setTimeout(() => {
      this.discoveryTimer = undefined;
      void this.discoverNow().then(
        () => {
          this.discoveryFailures = 0;
          this.scheduleDiscovery(this.discoveryIntervalMs);
        },
        (err: unknown) => {
          if (this.stopped) return;
          this.discoveryFailures++;
          // before the first success retry on the backoff schedule, after it on the normal period
          const delay = this.initial ? this.discoveryIntervalMs : backoffDelay(this.s, this.discoveryFailures);
          this.log.warn({ err: errText(err), status: statusOf(err), retryInMs: delay }, 'API discovery failed');
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
      const res = await this.s.http.request<T>({ path, timeoutMs: this.s.requestTimeoutMs, signal: abort.signal });
      if (res.status === 404) return undefined;
      if (res.status !== 200) {
        const b = res.body as { message?: string; reason?: string } | undefined;
        throw new KubeApiError(`GET ${path}: ${res.status} ${b?.message ?? ''}`.trim(), res.status, b?.reason, res.body);
      }
      return res.body;
    } finally {
      this.requests.delete(abort);
    }
  }

  private async discover(): Promise<void> {
    const groups = new Map<string, ResourceSpec[]>();
    for (const s of this.specs) if (s.group !== '') groups.set(s.group, [...(groups.get(s.group) ?? []), s]);
    const served = (await this.getJson<GroupList>('/apis'))?.groups ?? [];
    /** `${group}/${plural}` → version, for every wanted resource the cluster serves */
    const want = new Map<string, { spec: ResourceSpec; version: string }>();
    for (const [group, specs] of groups) {
      const g = served.find((x) => x.name === group);
      if (!g) continue;
      const preferred = g.preferredVersion?.version;
      const versions = [...new Set([preferred, ...(g.versions ?? []).map((v) => v.version)].filter((v): v is string => Boolean(v)))];
      let missing = [...specs];
      for (const version of versions) {
        if (missing.length === 0) break;
        const list = await this.getJson<ResourceList>(`/apis/${group}/${version}`);
        const names = new Set((list?.resources ?? []).map((r) => r.name));
        for (const spec of missing) if (names.has(spec.plural)) want.set(`${group}/${spec.plural}`, { spec, version });
        missing = missing.filter((s) => !want.has(`${group}/${s.plural}`));
      }
    }
    if (this.stopped) return;
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
      this.checkSynced();
    }
  }
}
