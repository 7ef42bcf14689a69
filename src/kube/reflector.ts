// The one list + watch loop (client-go's reflector, in our own code): every cache this server keeps of the cluster
// (the cluster view's kinds, the pods whose bootstrap Secrets it creates, its own webhook configurations) is one of
// these over a collection path.
//
//   list → hand the items over → watch from the list's resourceVersion (bookmarks on, the server ends the watch after
//   5–10 min, an idle timeout a little longer) → a clean end: watch again from the last resourceVersion; 410 Gone /
//   Expired: list again AT ONCE; any other failure: back off (mesh/backoff.ts: exponential, equal jitter, at most 4 s,
//   forgotten after a watch has run for 10 s) and retry, from the last resourceVersion when there is one.
//
// Where lists are read from, as client-go does: from the API server's watch cache (resourceVersion=0: no etcd read,
// one page) at start and on any plain relist; consistently from etcd (no resourceVersion, paginated) only after a 410,
// when the cache may be behind what this cache has already seen.
//
// Why not a periodic relist: with bookmarks, the server's watch timeout and an idle timeout, a watch that silently
// stopped is noticed within minutes; relisting every kind every few minutes costs the API server more than it heals.
// Why the backoff is short: after an API server restart every watch is answered 410 and every client relists at once;
// what is left to back off from is a server that is down, and a cache that lags by the backoff is a cache that admits
// against stale state (test/apiserver/restart.test.ts holds the view to 5 s after a real API server restarts).
//
// `isCurrent()` is true while the cache is known to follow the server: from a completed list, or from the first event
// or bookmark of a watch resumed after a failure (proof the server accepted the resourceVersion), until the next
// failure. A watch that simply reached its end and is resumed keeps it true. A caller that must not act on stale
// state calls `freshen(deadline)`: it skips the backoff and waits for the next successful list or watch.
import type { Logger } from 'pino';
import type { KubeObject } from '../mesh/objects.js';
import { Backoff, abortableSleep } from '../mesh/backoff.js';
import { errorMessage } from '../mesh/errors.js';
import { KubeApiError, statusOf, type KubeHttp } from './http.js';
import { listPages } from './list.js';

export interface ReflectorHandler<T extends KubeObject = KubeObject> {
  /** the whole collection, after a list */
  replace(items: T[]): void;
  /** ADDED or MODIFIED */
  upsert(obj: T): void;
  remove(obj: T): void;
}

export interface BackoffOptions {
  /** first retry delay (default 200 ms) */
  readonly initialMs?: number;
  /** cap (default 4 s: a reconnect is attempted at least every 4 s, and a list completes within the 5 s promised) */
  readonly maxMs?: number;
}

export interface ReflectorOptions<T extends KubeObject = KubeObject> {
  readonly http: KubeHttp;
  /** collection path, e.g. `/api/v1/pods` or `/apis/policy.flomesh.io/v1alpha1/egresses` */
  readonly path: string;
  /** apiVersion and kind set on every object (list items carry neither) */
  readonly apiVersion: string;
  readonly kind: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /**
   * Follow one named object: "list" by a GET of `<path>/<name>` and watch with `fieldSelector=metadata.name=<name>`,
   * so that RBAC by resourceNames can grant it with get and watch only.
   */
  readonly name?: string;
  readonly handler: ReflectorHandler<T>;
  readonly logger: Logger;
  readonly backoff?: BackoffOptions;
  /** the server ends each watch after a random time in [watchTimeoutSeconds, 2 × watchTimeoutSeconds) (default 300) */
  readonly watchTimeoutSeconds?: number;
  /** list page size (default 500) */
  readonly pageSize?: number;
  /** timeout of a list or get request (default 60 s) */
  readonly requestTimeoutMs?: number;
  /** what is kept of each object (default: dropMetadataNoise) */
  readonly transform?: (obj: KubeObject) => T;
  readonly now?: () => number;
  readonly random?: () => number;
}

export interface ReflectorStatus {
  readonly path: string;
  readonly listed: boolean;
  readonly current: boolean;
  readonly currentSince?: number;
  readonly resourceVersion?: string;
  readonly lastEventAt?: number;
}

interface WatchEvent {
  type?: string;
  object?: KubeObject & { code?: number; reason?: string; message?: string };
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * What no rule reads and every object carries: managedFields and kubectl's last-applied copy (often the biggest part
 * of an object). Dropped once, as objects arrive, instead of kept in memory for every object in the cluster.
 */
export function dropMetadataNoise(obj: KubeObject): KubeObject {
  const meta = obj.metadata;
  if (!meta || typeof meta !== 'object') return obj;
  if ('managedFields' in meta) delete meta.managedFields;
  const annotations = meta.annotations;
  if (annotations && typeof annotations === 'object' && LAST_APPLIED in annotations) {
    delete annotations[LAST_APPLIED];
    if (Object.keys(annotations).length === 0) delete meta.annotations;
  }
  return obj;
}

/** A watch ending sooner than this without a single line is not a normal end (the server's timeout is minutes). */
const QUICK_END_MS = 1000;
/** A watch up this long has shown the server is fine: a failure after it starts the backoff over. */
export const HEALTHY_WATCH_MS = 10_000;


export class Reflector<T extends KubeObject = KubeObject> {
  private readonly log: Logger;
  private readonly backoff: Backoff;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly transform: (obj: KubeObject) => T;
  private stopped = false;
  private started = false;
  private needList = true;
  /** the next list must be read from etcd, not the watch cache (after a 410) */
  private consistent = false;
  /** the next broken watch is retried without waiting (see run) */
  private retryAtOnce = true;
  /** the last failure, until the cache follows the server again: logged once, reported by failure() */
  private lastFailure: string | undefined;
  /** a list request is under way */
  private listing = false;
  private listed = false;
  private isCur = false;
  private since: number | undefined;
  private rv: string | undefined;
  private lastEventAt: number | undefined;
  private abort: AbortController | undefined;
  /** ends the wait between two attempts */
  private sleeping: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private readonly waiters = new Set<() => void>();

  constructor(private readonly opts: ReflectorOptions<T>) {
    this.log = opts.logger.child({ resource: opts.name ? `${opts.path}/${opts.name}` : opts.path });
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.backoff = new Backoff({ initialMs: opts.backoff?.initialMs ?? 200, maxMs: opts.backoff?.maxMs ?? 4000, resetAfterMs: HEALTHY_WATCH_MS, random: this.random, now: this.now });
    this.transform = opts.transform ?? ((o) => dropMetadataNoise(o) as T);
  }

  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.loop = this.run().catch((err: unknown) => this.log.error({ err: errorMessage(err) }, 'reflector loop ended unexpectedly'));
  }

  /** Ends the watch, any request and any wait; resolves when the loop has returned. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    this.wake();
    await this.loop;
    this.setCurrent(false);
    for (const w of [...this.waiters]) w();
  }

  /** True while the cache is known to follow the server (see the header). */
  isCurrent(): boolean {
    return this.isCur;
  }

  /** Why the last list or watch failed, while the cache does not follow the server (readiness says it). */
  failure(): string | undefined {
    return this.lastFailure;
  }

  /** True once the first list has completed. */
  hasListed(): boolean {
    return this.listed;
  }

  /** Epoch ms since which the cache has followed the server without a break; undefined while it does not. */
  currentSince(): number | undefined {
    return this.since;
  }

  status(): ReflectorStatus {
    return {
      path: this.opts.path,
      listed: this.listed,
      current: this.isCur,
      ...(this.since !== undefined ? { currentSince: this.since } : {}),
      ...(this.rv !== undefined ? { resourceVersion: this.rv } : {}),
      ...(this.lastEventAt !== undefined ? { lastEventAt: this.lastEventAt } : {}),
    };
  }

  lastEvent(): number | undefined {
    return this.lastEventAt;
  }

  /** List again at once (ends the current watch or wait). */
  relist(): void {
    this.needList = true;
    this.abort?.abort();
    this.wake();
  }

  /**
   * Resolves true as soon as the cache follows the server: at once when it does, else after a consistent list made now
   * (not after the backoff; a list, because a watch that reopens may still be answered 410 right after; from etcd,
   * because the watch cache may be behind). False when `deadline` (epoch ms) passes first or on stop.
   */
  freshen(deadline: number): Promise<boolean> {
    if (this.isCur) return Promise.resolve(true);
    if (!this.listing) {
      this.needList = true;
      // the caller must not act on stale state: the watch cache may not hold the latest writes yet, etcd does
      this.consistent = true;
      this.abort?.abort();
      this.wake();
    }
    return this.whenCurrent(deadline);
  }

  /** Resolves true when the cache follows the server, false when `deadline` (epoch ms; 0 = none) passes first or on stop. */
  whenCurrent(deadline = 0): Promise<boolean> {
    if (this.isCur) return Promise.resolve(true);
    if (this.stopped) return Promise.resolve(false);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        if (timer) clearTimeout(timer);
        this.waiters.delete(done);
        resolve(this.isCur);
      };
      this.waiters.add(done);
      if (deadline > 0) timer = setTimeout(done, Math.max(0, deadline - this.now()));
    });
  }

  // -------------------------------------------------------------------------------------------------------------------

  private setCurrent(v: boolean): void {
    if (v && this.lastFailure !== undefined) {
      this.log.info({ after: this.lastFailure }, 'following the server again');
      this.lastFailure = undefined;
    }
    if (v === this.isCur) return;
    this.isCur = v;
    this.since = v ? this.now() : undefined;
    if (v) for (const w of [...this.waiters]) w();
  }

  private wake(): void {
    this.sleeping?.abort();
  }

  private async sleep(ms: number): Promise<void> {
    const sleeping = (this.sleeping = new AbortController());
    await abortableSleep(ms, sleeping.signal);
    if (this.sleeping === sleeping) this.sleeping = undefined;
  }

  private normalize(obj: KubeObject): T {
    obj.apiVersion = this.opts.apiVersion;
    obj.kind = this.opts.kind;
    return this.transform(obj);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (this.needList) await this.list();
        if (this.stopped) break;
        const started = this.now();
        const { events, gone, opened, failure } = await this.watch();
        if (this.stopped) break;
        // A watch that had shown the server well (events, or a second of being open) earns the next failure one
        // retry at once: a dropped connection or a restarting API server costs no backoff. A watch that breaks right
        // after opening, again and again, backs off like any failure.
        if (events > 0 || (opened && this.now() - started >= QUICK_END_MS)) this.retryAtOnce = true;
        if (failure) {
          if (opened && this.retryAtOnce) {
            this.retryAtOnce = false;
            this.setCurrent(false);
            this.log.info({ err: errorMessage(failure), status: statusOf(failure) }, 'watch broke; re-watching at once');
            continue;
          }
          throw failure;
        }
        if (gone) {
          // The resourceVersion is too old (a restart, compaction): nothing to wait for, list at once, from etcd.
          this.log.info({ resourceVersion: this.rv }, 'watch expired (410 Gone): relisting');
          this.expired();
          continue;
        }
        if (this.needList) continue; // relist() asked for it
        // A server that ends watches at once with nothing to say would make this loop spin: treat it as a failure.
        if (!opened || (events === 0 && this.now() - started < QUICK_END_MS)) await this.sleep(this.backoff.failed());
      } catch (err) {
        if (this.stopped) break;
        this.setCurrent(false);
        if (statusOf(err) === 410) {
          this.log.info({ err: errorMessage(err) }, 'resourceVersion expired (410 Gone): relisting');
          this.expired();
          continue;
        }
        const delay = this.backoff.failed();
        const text = errorMessage(err);
        // A line when the reason changes, not at every retry (a refused list is retried every 4 s for as long as the
        // refusal lasts); the retries themselves at debug.
        const fields = { err: text, status: statusOf(err), attempt: this.backoff.attempts, retryInMs: delay, listing: this.needList };
        if (text !== this.lastFailure) this.log.warn(fields, this.needList ? 'list failed; retrying' : 'watch failed; re-watching');
        else this.log.debug(fields, 'still failing; retrying');
        this.lastFailure = text;
        await this.sleep(delay);
      }
    }
  }

  /** A 410: what this cache holds is older than the API server keeps; list again at once, consistently. */
  private expired(): void {
    this.needList = true;
    this.consistent = true;
    this.setCurrent(false);
    this.backoff.reset();
  }

  private query(extra: Record<string, string | number | undefined>): Record<string, string | number | undefined> {
    const fieldSelector = this.opts.name ? `metadata.name=${this.opts.name}` : this.opts.fieldSelector;
    return { labelSelector: this.opts.labelSelector, fieldSelector, ...extra };
  }

  private async list(): Promise<void> {
    this.listing = true;
    try {
      await this.listOnce();
    } finally {
      this.listing = false;
    }
  }

  private async listOnce(): Promise<void> {
    const items: T[] = [];
    let rv: string | undefined;
    if (this.opts.name) {
      this.abort = new AbortController();
      const obj = await this.opts.http.getOptional<KubeObject>({ path: `${this.opts.path}/${encodeURIComponent(this.opts.name)}`, signal: this.abort.signal, timeoutMs: this.opts.requestTimeoutMs ?? 60_000 });
      if (obj) items.push(this.normalize(obj));
      // Not the object's resourceVersion: after an API server restart its watch cache starts past it, so a watch from
      // it is answered 410 at once, every time (a tight relist loop, seen against a real API server). With none the
      // watch starts at the newest state and replays the object as ADDED, which the handler takes as an update.
      rv = undefined;
    } else {
      this.abort = new AbortController();
      const listed = await listPages(
        this.opts.http,
        this.opts.path,
        {
          labelSelector: this.opts.labelSelector,
          fieldSelector: this.opts.fieldSelector,
          limit: this.opts.pageSize ?? 500,
          resourceVersion: this.consistent ? undefined : '0',
          timeoutMs: this.opts.requestTimeoutMs ?? 60_000,
          signal: this.abort.signal,
        },
        (item) => this.normalize(item),
      );
      items.push(...(listed.items as T[]));
      rv = listed.resourceVersion;
    }
    if (this.stopped) return;
    this.opts.handler.replace(items);
    this.rv = rv;
    this.needList = false;
    this.consistent = false;
    this.retryAtOnce = true;
    this.backoff.reset();
    this.listed = true;
    this.lastEventAt = this.now();
    this.setCurrent(true);
    this.log.debug({ count: items.length, resourceVersion: rv }, 'listed');
  }

  /** One watch, to its end. A failure is returned, not thrown, with whether the watch had opened before it broke. */
  private async watch(): Promise<{ events: number; gone: boolean; opened: boolean; failure: Error | undefined }> {
    const state = { events: 0, gone: false, opened: false, failure: undefined as Error | undefined };
    const abort = (this.abort = new AbortController());
    const timeoutSeconds = Math.round((this.opts.watchTimeoutSeconds ?? 300) * (1 + this.random()));
    try {
      await this.opts.http.stream(
        {
          path: this.opts.path,
          query: this.query({ watch: 'true', allowWatchBookmarks: 'true', resourceVersion: this.rv, timeoutSeconds }),
          signal: abort.signal,
          // longer than the server's own end of the watch: only a connection that died silently runs into it
          timeoutMs: (timeoutSeconds + 30) * 1000,
          onOpen: () => {
            state.opened = true;
            // the start of a healthy period: a failure after HEALTHY_WATCH_MS of it starts the backoff over
            this.backoff.succeeded();
          },
        },
        (line) => this.onLine(line, state, abort),
      );
    } catch (err) {
      state.failure ??= err instanceof Error ? err : new Error(String(err));
    }
    return state;
  }

  private onLine(line: string, state: { events: number; gone: boolean; failure: Error | undefined }, abort: AbortController): void {
    let ev: WatchEvent;
    try {
      ev = JSON.parse(line) as WatchEvent;
    } catch {
      this.log.warn({ line: line.slice(0, 200) }, 'unparseable watch line ignored');
      return;
    }
    const obj = ev.object;
    if (!obj || typeof obj !== 'object') return;
    switch (ev.type) {
      case 'ADDED':
      case 'MODIFIED':
        this.opts.handler.upsert(this.normalize(obj));
        break;
      case 'DELETED':
        this.opts.handler.remove(this.normalize(obj));
        break;
      case 'BOOKMARK':
        break;
      case 'ERROR':
        if (obj.code === 410 || obj.reason === 'Expired' || obj.reason === 'Gone') state.gone = true;
        else state.failure = new KubeApiError(`watch ${this.opts.path}: ${obj.message ?? 'error event'}`, typeof obj.code === 'number' ? obj.code : 0, obj.reason);
        abort.abort();
        return;
      default:
        return;
    }
    const rv = obj.metadata?.resourceVersion;
    if (typeof rv === 'string' && rv) this.rv = rv;
    state.events++;
    this.lastEventAt = this.now();
    // An event or bookmark after a broken watch proves the server accepted the resourceVersion (an expired one is
    // answered with an ERROR line, possibly after the stream has opened): from here the cache follows it again.
    this.setCurrent(true);
  }
}
