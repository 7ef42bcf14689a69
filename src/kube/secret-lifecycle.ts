// Lifecycle of the per-pod bootstrap Secrets in live mode (injection.md §4):
// - adoption: when the Pod labelled `<p>-proxy-uuid: <uuid>` appears, Secret `sidecar-bootstrap-config-<uuid>` in its
//   namespace gets an ownerReference to it (v1 Pod, not controller, blockOwnerDeletion false), so the garbage
//   collector deletes the Secret with the pod. Driven by a watch on labelled pods (cluster-wide), and repaired by the
//   sweep (the Node watch can stop or miss events).
// - clean-up: a bootstrap Secret with no ownerReference, older than the grace period (default 10 min), whose pod does
//   not exist, is deleted with preconditions on uid and resourceVersion (a Secret adopted in the meantime has a new
//   resourceVersion and is left alone). The pod is checked once more, live, right before the delete.
// Several replicas may run all of this at once: every write is conditional, and 404/409 answers count as "someone
// else did it".
import pino, { type Logger } from 'pino';
import { apiErrorText, isApiStatus, type KubeHttp } from './client.js';
import { bootstrapSecretName, bootstrapSecretSelector, proxyUuidLabel } from '../mesh/names.js';
import type { MeshIdentity } from '../mesh/flavor.js';
import type { ObjectMeta, OwnerReference, SecretObject } from '../mesh/objects.js';
import { secretPath } from './paths.js';

export const DEFAULT_ORPHAN_GRACE_MS = 10 * 60 * 1000;
export const DEFAULT_SWEEP_INTERVAL_MS = 60 * 1000;

export interface PodResource {
  metadata: ObjectMeta;
}

interface ListResult<T> {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: T[];
}

export interface SecretLifecycleOptions {
  readonly http: KubeHttp;
  readonly mesh: MeshIdentity;
  readonly logger?: Logger;
  /** a Secret whose pod has not appeared this long after creation is an orphan (default 10 min) */
  readonly graceMs?: number;
  /** period of the sweep (default 1 min), each wait randomised by ±jitter (default 0.2) */
  readonly sweepIntervalMs?: number;
  readonly jitter?: number;
  /** watch labelled pods for prompt adoption (default true); the sweep adopts anyway */
  readonly watchPods?: boolean;
  /** a watch request is ended by the server after this many seconds and restarted (default 300) */
  readonly watchTimeoutSeconds?: number;
  /** first and longest wait before restarting a failed watch (default 1 s, 30 s) */
  readonly backoffMs?: readonly [number, number];
  /** epoch ms (tests inject a fake clock) */
  readonly now?: () => number;
  readonly random?: () => number;
  /** page size of the lists (default 500) */
  readonly pageSize?: number;
  /** called once per Secret deleted as an orphan (wire to metrics.orphanedSecretsDeleted.inc()) */
  readonly onOrphanDeleted?: () => void;
  /** called once per ownerReference added */
  readonly onOwnerAdded?: () => void;
  readonly requestTimeoutMs?: number;
}

export type AdoptResult = 'added' | 'present' | 'secret-missing' | 'gave-up';

export interface SweepResult {
  /** bootstrap Secrets seen */
  readonly secrets: number;
  readonly ownersAdded: number;
  readonly deleted: number;
  /** unowned, pod absent, still within the grace period */
  readonly young: number;
  /** API failures (logged; the next sweep retries) */
  readonly errors: number;
}

export function podOwnerReference(pod: { name: string; uid: string }): OwnerReference {
  return { apiVersion: 'v1', kind: 'Pod', name: pod.name, uid: pod.uid, controller: false, blockOwnerDeletion: false };
}

/**
 * The JSON merge patch adding `ref` to the Secret's ownerReferences, carrying the resourceVersion read so that the API
 * server refuses it (409) if the Secret changed since. undefined when the reference is already there.
 */
export function ownerReferencePatch(secret: SecretObject, ref: OwnerReference): { metadata: { resourceVersion?: string; ownerReferences: OwnerReference[] } } | undefined {
  const existing = secret.metadata.ownerReferences ?? [];
  if (existing.some((r) => r.uid === ref.uid)) return undefined;
  return { metadata: { ...(secret.metadata.resourceVersion ? { resourceVersion: secret.metadata.resourceVersion } : {}), ownerReferences: [...existing, ref] } };
}

export class SecretLifecycle {
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly graceMs: number;
  private readonly label: string;
  private timer: NodeJS.Timeout | undefined;
  private backoffTimer: NodeJS.Timeout | undefined;
  private watchAbort: AbortController | undefined;
  private watchLoop: Promise<void> | undefined;
  private sweeping: Promise<SweepResult> | undefined;
  private stopped = true;
  private closing = false;
  private listedOnce = false;
  private readonly pending = new Set<Promise<void>>();
  /** pod uids already adopted or being adopted through the watch */
  private readonly seen = new Set<string>();

  constructor(private readonly opts: SecretLifecycleOptions) {
    this.logger = opts.logger ?? pino({ level: 'silent' });
    this.now = opts.now ?? Date.now;
    this.graceMs = opts.graceMs ?? DEFAULT_ORPHAN_GRACE_MS;
    this.label = proxyUuidLabel(opts.mesh);
  }

  /** Sweeps now, then periodically; watches labelled pods. Never throws: failures are logged and retried. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.closing = false;
    if (this.opts.watchPods !== false) this.watchLoop = this.runWatch();
    void this.sweep().finally(() => this.schedule());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.closing = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    this.timer = this.backoffTimer = undefined;
    this.watchAbort?.abort();
    this.wake?.();
    await Promise.allSettled([this.watchLoop, this.sweeping, ...this.pending]);
  }

  private schedule(): void {
    if (this.stopped) return;
    const base = this.opts.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;
    const j = this.opts.jitter ?? 0.2;
    const wait = Math.max(1, Math.round(base * (1 + (((this.opts.random ?? Math.random)() * 2 - 1) * j))));
    this.timer = setTimeout(() => void this.sweep().finally(() => this.schedule()), wait);
    this.timer.unref();
  }

  // -----------------------------------------------------------------------------------------------------------------
  // adoption

  /** Adds the pod as owner of its bootstrap Secret (idempotent; retried on conflict). */
  async adopt(pod: PodResource): Promise<AdoptResult> {
    const m = pod.metadata;
    const uuid = m.labels?.[this.label];
    if (!uuid || !m.namespace || !m.name || !m.uid) return 'secret-missing';
    const name = bootstrapSecretName(uuid);
    const ref = podOwnerReference({ name: m.name, uid: m.uid });
    for (let attempt = 0; attempt < 4; attempt++) {
      let secret: SecretObject | undefined;
      try {
        secret = await this.opts.http.json<SecretObject>({ path: secretPath(m.namespace, name), timeoutMs: this.opts.requestTimeoutMs ?? 10_000 });
      } catch (err) {
        if (isApiStatus(err, 404)) return 'secret-missing';
        throw err;
      }
      if (!secret?.metadata || secret.metadata.labels?.[this.label] !== uuid) return 'secret-missing';
      const patch = ownerReferencePatch(secret, ref);
      if (!patch) return 'present';
      try {
        await this.opts.http.json({
          method: 'PATCH',
          path: secretPath(m.namespace, name),
          body: patch,
          contentType: 'application/merge-patch+json',
          query: { fieldManager: 'mesh-admission' },
          timeoutMs: this.opts.requestTimeoutMs ?? 10_000,
        });
        this.opts.onOwnerAdded?.();
        this.logger.debug({ namespace: m.namespace, secret: name, pod: m.name }, 'bootstrap Secret owned by its pod');
        return 'added';
      } catch (err) {
        if (isApiStatus(err, 404)) return 'secret-missing';
        if (!isApiStatus(err, 409)) throw err;
        // changed under us (another replica adopted it, or an update): read again
      }
    }
    return 'gave-up';
  }

  // -----------------------------------------------------------------------------------------------------------------
  // sweep

  /** One pass: adopt unowned Secrets whose pod exists, delete old orphans. Concurrent calls share one pass. */
  sweep(): Promise<SweepResult> {
    this.sweeping ??= this.doSweep().finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  private async list<T>(path: string, labelSelector: string): Promise<{ items: T[]; resourceVersion?: string }> {
    const items: T[] = [];
    let cont: string | undefined;
    let resourceVersion: string | undefined;
    do {
      const page = await this.opts.http.json<ListResult<T>>({
        path,
        query: { labelSelector, limit: this.opts.pageSize ?? 500, ...(cont ? { continue: cont } : {}) },
        timeoutMs: this.opts.requestTimeoutMs ?? 30_000,
      });
      items.push(...(page?.items ?? []));
      cont = page?.metadata?.continue || undefined;
      resourceVersion = page?.metadata?.resourceVersion ?? resourceVersion;
    } while (cont);
    return { items, ...(resourceVersion ? { resourceVersion } : {}) };
  }

  private async doSweep(): Promise<SweepResult> {
    let ownersAdded = 0;
    let deleted = 0;
    let young = 0;
    let errors = 0;
    let secrets: SecretObject[];
    try {
      secrets = (await this.list<SecretObject>('/api/v1/secrets', bootstrapSecretSelector(this.opts.mesh))).items;
    } catch (err) {
      this.logger.warn({ err: apiErrorText(err) }, 'bootstrap Secret sweep: listing Secrets failed; retrying at the next sweep');
      return { secrets: 0, ownersAdded, deleted, young, errors: 1 };
    }
    const unowned = secrets.filter((s) => {
      const uuid = s.metadata?.labels?.[this.label];
      return uuid && s.metadata.name === bootstrapSecretName(uuid) && s.metadata.namespace && (s.metadata.ownerReferences ?? []).length === 0;
    });
    if (unowned.length === 0) return { secrets: secrets.length, ownersAdded, deleted, young, errors };
    let pods: Map<string, PodResource>;
    try {
      pods = new Map((await this.list<PodResource>('/api/v1/pods', this.label)).items.map((p) => [`${p.metadata.namespace}/${p.metadata.labels?.[this.label]}`, p]));
    } catch (err) {
      this.logger.warn({ err: apiErrorText(err) }, 'bootstrap Secret sweep: listing pods failed; retrying at the next sweep');
      return { secrets: secrets.length, ownersAdded, deleted, young, errors: 1 };
    }
    const now = this.now();
    for (const s of unowned) {
      if (this.closing) break;
      const ns = s.metadata.namespace!;
      const uuid = s.metadata.labels![this.label]!;
      try {
        const pod = pods.get(`${ns}/${uuid}`);
        if (pod) {
          if ((await this.adopt(pod)) === 'added') ownersAdded++;
          continue;
        }
        const created = Date.parse(s.metadata.creationTimestamp ?? '');
        if (!Number.isFinite(created) || now - created < this.graceMs) {
          young++;
          continue;
        }
        // The list may be a moment old: ask once more for this very pod before deleting.
        const live = await this.list<PodResource>(`/api/v1/namespaces/${encodeURIComponent(ns)}/pods`, `${this.label}=${uuid}`);
        const livePod = live.items[0];
        if (livePod) {
          if ((await this.adopt(livePod)) === 'added') ownersAdded++;
          continue;
        }
        if (await this.deleteOrphan(s)) deleted++;
      } catch (err) {
        errors++;
        this.logger.warn({ err: apiErrorText(err), namespace: ns, secret: s.metadata.name }, 'bootstrap Secret sweep: one Secret not handled; retrying at the next sweep');
      }
    }
    if (ownersAdded || deleted || errors) this.logger.info({ secrets: secrets.length, ownersAdded, deleted, young, errors }, 'bootstrap Secret sweep');
    return { secrets: secrets.length, ownersAdded, deleted, young, errors };
  }

  /** DELETE with preconditions; false when someone else deleted or changed it first (404/409). */
  private async deleteOrphan(s: SecretObject): Promise<boolean> {
    const { namespace, name, uid, resourceVersion } = s.metadata;
    try {
      await this.opts.http.json({
        method: 'DELETE',
        path: secretPath(namespace!, name!),
        body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid, resourceVersion } },
        timeoutMs: this.opts.requestTimeoutMs ?? 10_000,
      });
    } catch (err) {
      if (isApiStatus(err, 404) || isApiStatus(err, 409)) return false;
      throw err;
    }
    this.opts.onOrphanDeleted?.();
    this.logger.info({ namespace, secret: name, createdAt: s.metadata.creationTimestamp }, 'orphaned bootstrap Secret deleted: its pod never appeared');
    return true;
  }

  // -----------------------------------------------------------------------------------------------------------------
  // pod watch

  private wake: (() => void) | undefined;

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.backoffTimer = setTimeout(resolve, ms);
      this.backoffTimer.unref();
    });
  }

  private async runWatch(): Promise<void> {
    const [first, max] = this.opts.backoffMs ?? [1000, 30_000];
    let backoff = first;
    let resourceVersion: string | undefined;
    while (!this.stopped) {
      try {
        if (!resourceVersion) {
          const listed = await this.list<PodResource>('/api/v1/pods', this.label);
          const initial = !this.listedOnce;
          this.listedOnce = true;
          const current = new Set<string>();
          for (const p of listed.items) {
            if (!p.metadata.uid) continue;
            current.add(p.metadata.uid);
            // the first list is the sweep's job; after a relist, pods created during the gap are adopted here
            if (!initial && !this.seen.has(p.metadata.uid)) this.track(this.adoptLogged(p));
          }
          this.seen.clear();
          for (const uid of current) this.seen.add(uid);
          resourceVersion = listed.resourceVersion;
        }
        this.watchAbort = new AbortController();
        let gone = false;
        await this.opts.http.stream(
          {
            path: '/api/v1/pods',
            query: { watch: 1, labelSelector: this.label, allowWatchBookmarks: true, timeoutSeconds: this.opts.watchTimeoutSeconds ?? 300, ...(resourceVersion ? { resourceVersion } : {}) },
            signal: this.watchAbort.signal,
            timeoutMs: ((this.opts.watchTimeoutSeconds ?? 300) + 60) * 1000,
          },
          (line) => {
            let ev: { type?: string; object?: PodResource & { code?: number } };
            try {
              ev = JSON.parse(line) as typeof ev;
            } catch {
              return;
            }
            if (ev.type === 'ERROR') {
              gone = true; // 410 Gone or any other error: relist
              return;
            }
            const m = ev.object?.metadata;
            if (m?.resourceVersion) resourceVersion = m.resourceVersion;
            if (!m?.uid || ev.type === 'BOOKMARK') return;
            if (ev.type === 'DELETED') this.seen.delete(m.uid);
            else if (!this.seen.has(m.uid)) {
              this.seen.add(m.uid);
              this.track(this.adoptLogged(ev.object!));
            }
          },
        );
        if (gone) resourceVersion = undefined;
        backoff = first;
      } catch (err) {
        if (this.stopped) break;
        if (isApiStatus(err, 410)) resourceVersion = undefined;
        else {
          this.logger.warn({ err: apiErrorText(err), retryInMs: backoff }, 'pod watch failed; restarting');
          resourceVersion = undefined;
          await this.sleep(backoff);
          backoff = Math.min(max, backoff * 2);
        }
      }
    }
  }

  private track(p: Promise<void>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  /** resolves when the adoptions started by watch events so far are done (tests) */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  private async adoptLogged(pod: PodResource): Promise<void> {
    try {
      const r = await this.adopt(pod);
      if (r === 'gave-up') this.seen.delete(pod.metadata.uid ?? '');
    } catch (err) {
      // leave it to the sweep
      this.seen.delete(pod.metadata.uid ?? '');
      this.logger.warn({ err: apiErrorText(err), namespace: pod.metadata.namespace, pod: pod.metadata.name }, 'bootstrap Secret not adopted; the sweep retries');
    }
  }
}

