// Live mode's bootstrap Secrets: admission only decides and patches; the Secret is created here, from
// the pod watch, once the pod exists, with an ownerReference to that pod (its uid) set at creation. Kubernetes' garbage
// collector then deletes it with the pod, and a Secret for a pod that was never created (denied by a later admission
// plugin, a dry run, a timeout) cannot exist, so nothing needs sweeping. The kubelet waits for a Secret volume that
// does not exist yet and retries the mount, so the sidecar still starts with its configuration.
//
// - Which pods: labelled `<p>-proxy-uuid` and `mesh-admission.io/mesh=<mesh>` (injected by this server for this mesh), with the bootstrap volume naming `sidecar-bootstrap-config-<uuid>`, not
//   being deleted, and still Pending: a pod that runs had its volume mounted, so its Secret exists. This also bounds
//   the work at start-up to the pods still starting.
// - Who creates: one replica (the Lease holder, leader.ts), so that each Secret is created once; the others keep the
//   pending pods in mind and take over when the holder goes away. A create answered 409 AlreadyExists means another
//   replica (or the mesh's own injector) made it: done, and counted as a duplicate attempt.
// - What: the plan is recomputed from the stored pod and the view's MeshConfig (bootstrapSecretPlan), so nothing has
//   to be carried from admission; the certificate is issued here.
// - Failures are retried for as long as the pod can still start (Pending, not being deleted), whatever the status:
//   a 403 from a ResourceQuota or from RBAC ends when the quota or the role changes, and the pod would otherwise wait
//   for its volume forever. Capped exponential backoff per pod (at most 30 s between attempts); a change to a
//   ResourceQuota in the pod's namespace (lifted, raised, or freed by a deletion) retries that namespace's pods at once.
//   The certificate is issued once per pod, not per attempt.
// - Each distinct reason is reported once per pod (a Warning Event and a warning log line), not every attempt; a
//   metric counts failed attempts, and a gauge the pods waiting for their Secret.
import type { Logger } from 'pino';
import type { BootstrapIssuer } from '../certs/bootstrap-issuer.js';
import type { ClusterView } from '../cluster/view.js';
import { bootstrapSecretFor } from '../injector/bootstrap.js';
import { bootstrapSecretPlan } from '../injector/inject.js';
import type { SecretPlan } from '../injector/types.js';
import type { InjectorOptions } from '../injector/settings.js';
import { injectedPodSelector } from '../mesh/names.js';
import { isRecord, type KubeObject, type OwnerReference } from '../mesh/objects.js';
import type { IssuedBootstrapCertificate } from '../certs/bootstrap-issuer.js';
import { backoffDelay, type BackoffPolicy } from '../mesh/backoff.js';
import { isApiStatus, statusOf, type KubeHttp } from '../kube/http.js';
import { eventsPath, podsPath, RESOURCE_QUOTAS_PATH, secretPath } from '../kube/paths.js';
import { Reflector } from '../kube/reflector.js';
import { errorMessage } from '../mesh/errors.js';

export interface BootstrapSecretsOptions {
  readonly http: KubeHttp;
  /** where the MeshConfig comes from (repo port, TLS settings, key type) */
  readonly view: ClusterView;
  readonly injector: InjectorOptions;
  readonly issuer: BootstrapIssuer;
  readonly logger: Logger;
  /** whether this replica creates Secrets now (the Lease holder); default: always */
  readonly responsible?: () => boolean;
  /** resolves when the view holds the MeshConfig (readiness): nothing is created from defaults by mistake */
  readonly viewReady?: () => Promise<unknown>;
  /** what this replica reports as the source of its Events */
  readonly identity?: string;
  /** Secrets being created at once (default 16: each waits mostly on the API server; at most the connections the client keeps open between bursts, so that none is closed and reopened) */
  readonly concurrency?: number;
  /** waits between attempts for one pod: from `initialMs`, doubling, at most `maxMs` (default 500 ms to 30 s) */
  readonly retry?: BackoffPolicy;
  readonly requestTimeoutMs?: number;
  readonly onCreated?: (seconds: number) => void;
  /** a create answered 409: the Secret was there already */
  readonly onExists?: () => void;
  /** an attempt failed (HTTP status, or `network`); it will be retried */
  readonly onFailed?: (status: string) => void;
  readonly watchTimeoutSeconds?: number;
  readonly now?: () => number;
  readonly random?: () => number;
}

interface Pending {
  pod: KubeObject;
  /** epoch ms this replica first saw the pod */
  readonly seenAt: number;
  /** failed attempts so far */
  attempts: number;
  queued: boolean;
  /** its create request is under way (it then has no place in the queue and no retry timer, yet is not idle) */
  creating: boolean;
  retryTimer?: NodeJS.Timeout;
  /** the certificate of the first attempt, kept for the next ones (what it was issued for, to notice a change) */
  cert?: { readonly key: string; readonly issued: IssuedBootstrapCertificate };
  /** reasons already reported on this pod */
  readonly reported: Set<string>;
}

const METADATA_ONLY = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';

export const DEFAULT_RETRY: BackoffPolicy = { initialMs: 500, maxMs: 30_000 };

/**
 * A failure's reason for "report once": its status and message with numbers taken out (a quota's message carries the
 * current usage, which changes while the reason does not).
 */
function reasonKey(status: number, message: string): string {
  return `${status} ${message.replace(/\d+/g, '#')}`;
}

export const BOOTSTRAP_FAILED_REASON = 'BootstrapSecretFailed';

/** What the controller keeps of a pod: enough for bootstrapSecretPlan and for deciding whether it still needs a Secret. */
function slimPod(pod: KubeObject): KubeObject {
  const spec = isRecord(pod.spec) ? pod.spec : {};
  const status = isRecord(pod.status) ? pod.status : {};
  const m = pod.metadata ?? {};
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: m.name,
      namespace: m.namespace,
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      ...(m.labels ? { labels: m.labels } : {}),
      ...(m.deletionTimestamp ? { deletionTimestamp: m.deletionTimestamp } : {}),
    },
    spec: { serviceAccountName: spec.serviceAccountName, serviceAccount: spec.serviceAccount, containers: spec.containers, volumes: spec.volumes },
    status: { phase: status.phase },
  };
}

export class BootstrapSecretController {
  private readonly reflector: Reflector;
  /** ResourceQuotas (their namespace only): a change may let a refused Secret through */
  private readonly quotas: Reflector;
  private readonly pending = new Map<string, Pending>();
  private readonly queue: string[] = [];
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly log: Logger;
  private running = 0;
  private ready = false;
  private stopped = false;
  private readonly inflight = new Set<Promise<void>>();

  constructor(private readonly opts: BootstrapSecretsOptions) {
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.log = opts.logger.child({ component: 'bootstrap-secrets' });
    this.reflector = new Reflector({
      http: opts.http,
      path: podsPath(),
      apiVersion: 'v1',
      kind: 'Pod',
      // only the pods this server injected for this mesh: a pod the mesh's own injector (or another mesh's server)
      // injected has its Secret from that injector, and is never even listed here
      labelSelector: injectedPodSelector(opts.injector.mesh),
      logger: this.log,
      transform: slimPod,
      ...(opts.watchTimeoutSeconds !== undefined ? { watchTimeoutSeconds: opts.watchTimeoutSeconds } : {}),
      handler: {
        replace: (pods) => {
          const uids = new Set<string>();
          for (const p of pods) {
            const uid = p.metadata?.uid;
            if (uid) uids.add(uid);
            this.observe(p);
          }
          for (const uid of [...this.pending.keys()]) if (!uids.has(uid)) this.forget(uid);
        },
        upsert: (p) => this.observe(p),
        remove: (p) => this.forget(p.metadata?.uid ?? ''),
      },
    });
    this.quotas = new Reflector({
      http: opts.http,
      path: RESOURCE_QUOTAS_PATH,
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      logger: this.log,
      transform: (q) => ({ apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: q.metadata?.name, namespace: q.metadata?.namespace } }),
      ...(opts.watchTimeoutSeconds !== undefined ? { watchTimeoutSeconds: opts.watchTimeoutSeconds } : {}),
      handler: {
        replace: (quotas) => new Set(quotas.map((q) => q.metadata?.namespace ?? '')).forEach((ns) => this.retryNamespace(ns)),
        upsert: (q) => this.retryNamespace(q.metadata?.namespace ?? ''),
        remove: (q) => this.retryNamespace(q.metadata?.namespace ?? ''),
      },
    });
  }

  start(): void {
    this.reflector.start();
    this.quotas.start();
    void Promise.resolve(this.opts.viewReady?.()).then(() => {
      this.ready = true;
      this.resume();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([this.reflector.stop(), this.quotas.stop()]);
    for (const p of this.pending.values()) if (p.retryTimer) clearTimeout(p.retryTimer);
    await Promise.allSettled([...this.inflight]);
  }

  /** This replica just became responsible (took the Lease): everything pending is its work now. */
  resume(): void {
    // a pod whose create is under way is not idle: queueing it again would send a second, concurrent POST
    for (const [uid, p] of this.pending) if (!p.queued && !p.creating && !p.retryTimer) this.enqueue(uid, p);
    this.pump();
  }

  /** Pods this replica has seen that still wait for their Secret (tests and status). */
  pendingCount(): number {
    return this.pending.size;
  }

  /** Pods whose Secret this replica is trying to create now (0 on a replica that is not responsible): the gauge. */
  waitingCount(): number {
    return this.responsible() ? this.pending.size : 0;
  }

  /** The pod watch follows the server (readiness of this part). */
  hasListed(): boolean {
    return this.reflector.hasListed();
  }

  // -------------------------------------------------------------------------------------------------------------------

  private needsSecret(pod: KubeObject): boolean {
    const phase = isRecord(pod.status) ? pod.status.phase : undefined;
    return !pod.metadata?.deletionTimestamp && (phase === undefined || phase === 'Pending');
  }

  private observe(pod: KubeObject): void {
    const uid = pod.metadata?.uid;
    if (!uid) return;
    const known = this.pending.get(uid);
    if (!this.needsSecret(pod)) {
      if (known) this.forget(uid);
      return;
    }
    if (known) {
      known.pod = pod;
      return;
    }
    const p: Pending = { pod, seenAt: this.now(), attempts: 0, queued: false, creating: false, reported: new Set() };
    this.pending.set(uid, p);
    this.enqueue(uid, p);
    this.pump();
  }

  private forget(uid: string): void {
    const p = this.pending.get(uid);
    if (!p) return;
    if (p.retryTimer) clearTimeout(p.retryTimer);
    this.pending.delete(uid);
  }

  private enqueue(uid: string, p: Pending): void {
    if (p.queued) return;
    p.queued = true;
    this.queue.push(uid);
  }

  private responsible(): boolean {
    return this.ready && !this.stopped && (this.opts.responsible?.() ?? true);
  }

  private pump(): void {
    const limit = this.opts.concurrency ?? 16;
    while (this.running < limit && this.queue.length > 0 && this.responsible()) {
      const uid = this.queue.shift()!;
      const p = this.pending.get(uid);
      if (!p) continue;
      p.queued = false;
      p.creating = true;
      this.running++;
      const work = this.create(uid, p).finally(() => {
        p.creating = false;
        this.running--;
        this.inflight.delete(work);
        this.pump();
      });
      this.inflight.add(work);
    }
  }

  private async create(uid: string, p: Pending): Promise<void> {
    const pod = p.pod;
    const plan = bootstrapSecretPlan(pod, this.opts.view, this.opts.injector);
    if (!plan) {
      // not ours (no bootstrap volume of this mesh: another injector, NodeLevel interception)
      this.forget(uid);
      return;
    }
    try {
      await this.post(plan, pod, p);
      this.forget(uid);
      this.opts.onCreated?.(Math.max(0, this.now() - p.seenAt) / 1000);
      this.log.debug({ namespace: plan.namespace, secret: plan.name, pod: pod.metadata?.name }, 'bootstrap Secret created');
    } catch (err) {
      if (isApiStatus(err, 409)) {
        this.forget(uid);
        this.opts.onExists?.();
        return;
      }
      if (this.stopped || !this.pending.has(uid)) return;
      p.attempts++;
      const status = statusOf(err);
      const reason = errorMessage(err);
      const delay = backoffDelay(this.opts.retry ?? DEFAULT_RETRY, p.attempts, this.random);
      this.opts.onFailed?.(status ? String(status) : 'network');
      const key = reasonKey(status, reason);
      const fields = { err: reason, status, namespace: plan.namespace, secret: plan.name, pod: pod.metadata?.name, attempt: p.attempts, retryInMs: delay };
      this.retryLater(uid, p, delay);
      if (p.reported.has(key)) {
        this.log.debug(fields, 'bootstrap Secret not created; retrying');
        return;
      }
      p.reported.add(key);
      this.log.warn(fields, 'bootstrap Secret not created; retrying until it can be (the sidecar cannot start without it)');
      await this.warn(pod, `bootstrap Secret ${plan.name} could not be created: ${reason}; retrying until it can be (the sidecar cannot start without it)`);
    }
  }

  private retryLater(uid: string, p: Pending, delay: number): void {
    if (p.retryTimer) clearTimeout(p.retryTimer);
    p.retryTimer = setTimeout(() => {
      p.retryTimer = undefined;
      if (!this.pending.has(uid)) return;
      this.enqueue(uid, p);
      this.pump();
    }, delay);
    p.retryTimer.unref();
  }

  /**
   * Something that refused Secrets in `namespace` may have changed (a ResourceQuota): retry its waiting pods now, and
   * start their backoff over. The API server's quota admission reads its own cache of ResourceQuotas, which can be a
   * moment behind the watch that told us: a retry that still meets the old quota must come back in half a second,
   * not after the 30 s the pod had reached.
   */
  retryNamespace(namespace: string): void {
    for (const [uid, p] of this.pending) {
      if (p.pod.metadata?.namespace !== namespace) continue;
      p.attempts = 0;
      if (!p.retryTimer) continue;
      clearTimeout(p.retryTimer);
      p.retryTimer = undefined;
      this.enqueue(uid, p);
    }
    this.pump();
  }

  private async post(plan: SecretPlan, pod: KubeObject, p: Pending): Promise<void> {
    const m = pod.metadata!;
    const owner: OwnerReference = { apiVersion: 'v1', kind: 'Pod', name: m.name ?? '', uid: m.uid ?? '', controller: false, blockOwnerDeletion: false };
    const deadline = this.now() + (this.opts.requestTimeoutMs ?? 10_000);
    const certKey = `${plan.commonName}|${plan.keyType}|${plan.rsaBits ?? ''}`;
    if (p.cert?.key !== certKey) {
      const issued = await this.opts.issuer.issue({ commonName: plan.commonName, keyType: plan.keyType, ...(plan.rsaBits ? { rsaBits: plan.rsaBits } : {}), deadline });
      p.cert = { key: certKey, issued };
    }
    const cert = p.cert.issued;
    await this.opts.http.json({
      method: 'POST',
      path: secretPath(plan.namespace),
      query: { fieldManager: 'mesh-admission' },
      // answered with the metadata alone (a fraction of the Secret, whose certificates and key would come back too):
      // nothing of the answer is read, and a key has no business travelling back
      accept: METADATA_ONLY,
      body: bootstrapSecretFor(this.opts.injector.mesh, plan, cert, owner),
      timeoutMs: this.opts.requestTimeoutMs ?? 10_000,
    });
  }

  /** A Warning Event on the pod (`kubectl describe pod` shows it); a failure to write it is only logged. */
  private async warn(pod: KubeObject, message: string): Promise<void> {
    const m = pod.metadata ?? {};
    const namespace = m.namespace ?? 'default';
    const now = new Date(this.now()).toISOString();
    try {
      await this.opts.http.json({
        method: 'POST',
        path: eventsPath(namespace),
        body: {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { generateName: `${m.name ?? 'pod'}.`, namespace },
          involvedObject: { apiVersion: 'v1', kind: 'Pod', name: m.name, namespace, uid: m.uid, resourceVersion: m.resourceVersion },
          reason: BOOTSTRAP_FAILED_REASON,
          message,
          type: 'Warning',
          source: { component: 'mesh-admission' },
          reportingComponent: 'mesh-admission',
          reportingInstance: this.opts.identity ?? 'mesh-admission',
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
        timeoutMs: this.opts.requestTimeoutMs ?? 10_000,
      });
    } catch (err) {
      this.log.warn({ err: errorMessage(err), pod: `${namespace}/${m.name}` }, 'Warning Event not written');
    }
  }
}
