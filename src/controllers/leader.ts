// Leader election on a coordination.k8s.io/v1 Lease, with the semantics of client-go's leaderelection package, so that
// exactly one replica creates the per-pod bootstrap Secrets and another one takes over when it dies.
//
// Safety rests on two clocks never being compared with each other:
// - a follower treats a lease held by someone else as expired only when it has seen no change of the record (holder,
//   renewTime, resourceVersion…) for leaseDurationSeconds of its OWN clock, counted from when it observed the last
//   change. The timestamps written in the lease come from another machine's clock and are only informational;
// - the leader stops considering itself leader renewDeadline after it SENT its last successful renewal. A follower
//   observes that renewal after the server applied it, hence after it was sent; renewDeadline < leaseDuration, so the
//   old leader has stepped down before any follower can take over (as long as both clocks advance at a similar rate).
//
// Writes are conditional on the resourceVersion read, so two replicas racing for a free or expired lease cannot both
// win; a create races the same way (409 AlreadyExists for the loser).
//
// RBAC: `get` and `update` on this one lease (resourceNames), `create` on leases (the API server authorizes a create
// before the object has a name, so it cannot be narrowed). No patch, list or watch: see leaderElectionRules.
import pino, { type Logger } from 'pino';
import { abortableSleep } from '../mesh/backoff.js';
import { isApiStatus, KubeApiError, type KubeHttp } from '../kube/http.js';
import { LEASE_API_VERSION, leasePath } from '../kube/paths.js';
import { errorMessage } from '../mesh/errors.js';

export const LEASE_API_GROUP = 'coordination.k8s.io';

export const DEFAULT_LEASE_DURATION_MS = 15_000;
export const DEFAULT_RENEW_DEADLINE_MS = 10_000;
export const DEFAULT_RETRY_PERIOD_MS = 2_000;

// client-go waits retryPeriod × [1, 2.2) between a follower's attempts. With the default 2 s, a dead leader's last
// renewal could be seen 4.4 s late and the lease retried 4.4 s after it expired: 15 + 4.4 + 4.4 s, over the 20 s budget
// for new pods to get their Secret. A spread of 0.2 still de-synchronises the followers, and the wait is cut short at
// the moment the observed lease expires (followerDelay): at most 15 + 2.4 s then.
const JITTER = 0.2;

/** An rbac.authorization.k8s.io/v1 PolicyRule (the shape install/rbac.ts emits). */
export interface LeaseRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** Everything the elector needs in its namespace (a Role), and nothing more. */
export function leaderElectionRules(name: string): LeaseRule[] {
  return [
    { apiGroups: [LEASE_API_GROUP], resources: ['leases'], resourceNames: [name], verbs: ['get', 'update'] },
    { apiGroups: [LEASE_API_GROUP], resources: ['leases'], verbs: ['create'] },
  ];
}

/** Kubernetes' metav1.MicroTime wire format, `2006-01-02T15:04:05.000000Z`. */
export function microTime(epochMs: number): string {
  const whole = Math.floor(epochMs);
  const micros = Math.floor((epochMs - whole) * 1000);
  return new Date(whole).toISOString().replace(/Z$/, `${String(micros).padStart(3, '0')}Z`);
}

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
  [key: string]: unknown;
}

export interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: { name?: string; namespace?: string; resourceVersion?: string; [key: string]: unknown };
  spec?: LeaseSpec;
  [key: string]: unknown;
}

export interface LeaderElectorOptions {
  readonly http: KubeHttp;
  readonly namespace: string;
  /** the Lease's name */
  readonly name: string;
  /** unique per replica and per process start (e.g. hostname + random suffix) */
  readonly identity: string;
  /** how long followers wait, after the last change they saw, before taking the lease over (default 15 s; written
   * into the lease rounded up to whole seconds, and that written value is what followers wait) */
  readonly leaseDurationMs?: number;
  /** the leader steps down when no renewal has succeeded for this long (default 10 s; < leaseDurationMs) */
  readonly renewDeadlineMs?: number;
  /** period of the attempts, renewals and reads (default 2 s; < renewDeadlineMs) */
  readonly retryPeriodMs?: number;
  readonly logger?: Logger;
  /** epoch ms; only differences between two readings matter */
  readonly now?: () => number;
  readonly random?: () => number;
  readonly onStartedLeading?: () => void;
  readonly onStoppedLeading?: () => void;
  /** the observed holder changed (this replica included) */
  readonly onNewLeader?: (identity: string) => void;
}

export interface StopOptions {
  /** give the lease up so that a follower takes over at its next attempt (default true); false leaves it to expire,
   * as a crashed process would */
  readonly release?: boolean;
}

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

export class LeaderElector {
  readonly identity: string;
  private readonly http: KubeHttp;
  private readonly namespace: string;
  private readonly name: string;
  private readonly leaseDurationMs: number;
  private readonly leaseDurationSeconds: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly callbacks: { started: (() => void) | undefined; stopped: (() => void) | undefined; newLeader: ((identity: string) => void) | undefined };

  private abort: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private leading = false;
  /** local time the last successful acquisition or renewal was sent */
  private renewedAt = 0;
  /** the lease as last read or written: its resourceVersion conditions the next write */
  private lease: Lease | undefined;
  private observedKey = '';
  /** local time the record was last seen to change */
  private observedAt = 0;
  private observedHolder = '';
  /** the last write failed with 409: another replica wrote the lease first (see followerDelay) */
  private lostRace = false;
  private reportedLeader = '';
  /** a write naming this replica got no answer: it may hold the lease without knowing */
  private writeUncertain = false;
  private readonly waiters = new Set<Waiter>();

  constructor(opts: LeaderElectorOptions) {
    this.http = opts.http;
    this.namespace = opts.namespace;
    this.name = opts.name;
    this.identity = opts.identity;
    this.leaseDurationMs = opts.leaseDurationMs ?? DEFAULT_LEASE_DURATION_MS;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? DEFAULT_RENEW_DEADLINE_MS;
    this.retryPeriodMs = opts.retryPeriodMs ?? DEFAULT_RETRY_PERIOD_MS;
    this.leaseDurationSeconds = Math.max(1, Math.ceil(this.leaseDurationMs / 1000));
    this.logger = (opts.logger ?? pino({ level: 'silent' })).child({ lease: `${opts.namespace}/${opts.name}`, identity: opts.identity });
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.callbacks = { started: opts.onStartedLeading, stopped: opts.onStoppedLeading, newLeader: opts.onNewLeader };
    if (!opts.identity) throw new RangeError('leader election: identity must not be empty');
    if (!opts.namespace || !opts.name) throw new RangeError('leader election: namespace and name must not be empty');
    // Mutual exclusion depends on the leader giving up (renewDeadline) before followers take over (leaseDuration).
    if (!(this.retryPeriodMs > 0 && this.renewDeadlineMs > this.retryPeriodMs && this.leaseDurationMs > this.renewDeadlineMs))
      throw new RangeError(`leader election: need leaseDuration (${this.leaseDurationMs}) > renewDeadline (${this.renewDeadlineMs}) > retryPeriod (${this.retryPeriodMs}) > 0`);
  }

  /** Starts competing for the lease in the background. Never throws; API failures are logged and retried. */
  start(): void {
    // while a stop is under way the lease may be about to be released: starting then would race with it
    if (this.loop || this.stopping) return;
    const abort = new AbortController();
    this.abort = abort;
    this.loop = this.run(abort.signal);
  }

  /**
   * Ends the loop (a pending sleep or request is cut short), stops leading, then releases the lease unless told not
   * to. Resolves once all of that is done; concurrent calls share one stop.
   */
  stop(opts: StopOptions = {}): Promise<void> {
    this.stopping ??= this.shutdown(opts.release !== false).finally(() => (this.stopping = undefined));
    return this.stopping;
  }

  /**
   * True while leading. Also checks the renew deadline itself, so that a caller never acts as leader past it, even if
   * the loop has not had the chance to step down yet (busy event loop).
   */
  isLeader(): boolean {
    return this.leading && this.now() - this.renewedAt < this.renewDeadlineMs;
  }

  /** The holder last observed in the lease (this replica included); undefined when none or not read yet. */
  leader(): string | undefined {
    return this.observedHolder || undefined;
  }

  /** Resolves once leading; rejects after timeoutMs or when stopped. */
  waitForLeadership(timeoutMs: number): Promise<void> {
    if (this.isLeader()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`${this.identity}: not leader of lease ${this.namespace}/${this.name} after ${timeoutMs} ms (holder: ${this.observedHolder || 'none'})`));
      }, timeoutMs);
      const waiter: Waiter = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.waiters.add(waiter);
    });
  }

  // -------------------------------------------------------------------------------------------------------------------
  // loop

  private async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        if (this.leading) await this.renewRound(signal);
        else await this.acquireRound(signal);
      } catch (err) {
        // a bug rather than an API failure (those are handled below): keep the replica electable anyway
        this.logger.error({ err: errorMessage(err) }, 'leader election: unexpected failure; retrying');
        if (this.leading && this.observedHolder !== this.identity) this.stepDown('unexpected failure');
        await this.sleep(this.retryPeriodMs, signal);
      }
    }
  }

  private async acquireRound(signal: AbortSignal): Promise<void> {
    const started = this.now();
    const held = await this.tryAcquireOrRenew(signal, this.renewDeadlineMs);
    if (signal.aborted) return;
    if (held) {
      // an answer that took the whole renew deadline would start a leadership already over: renew at once instead
      if (this.now() - started < this.renewDeadlineMs) this.becomeLeader(started);
      return;
    }
    await this.sleep(this.followerDelay(), signal);
  }

  private async renewRound(signal: AbortSignal): Promise<void> {
    await this.sleep(Math.min(this.retryPeriodMs, this.deadlineLeft()), signal);
    if (signal.aborted) return;
    const left = this.deadlineLeft();
    if (left <= 0) return this.stepDown(`no successful renewal for ${this.renewDeadlineMs} ms`);
    const started = this.now();
    // the request is cut at the deadline so that stepping down is never late
    const held = await this.tryAcquireOrRenew(signal, left);
    if (signal.aborted) return;
    if (held) {
      this.renewedAt = started;
      return;
    }
    if (this.observedHolder !== this.identity) return this.stepDown(`the lease is now held by ${this.observedHolder || 'nobody'}`);
    if (this.deadlineLeft() <= 0) this.stepDown(`no successful renewal for ${this.renewDeadlineMs} ms`);
  }

  private deadlineLeft(): number {
    return this.renewedAt + this.renewDeadlineMs - this.now();
  }

  /**
   * retryPeriod with jitter, but no later than the moment the observed holder's lease expires. Once it has expired,
   * the attempt just made was the takeover, and it failed: after a 409 another replica has just written the lease, and
   * a read at once shows who (its fresh record then sets the pace); after any other failure (a refusal, an error) the
   * full retryPeriod, or a follower whose writes keep failing would send a read and a write every millisecond.
   */
  private followerDelay(): number {
    const lostRace = this.lostRace;
    this.lostRace = false;
    const delay = this.retryPeriodMs * (1 + this.random() * JITTER);
    const untilExpiry = this.observedHolder && this.observedHolder !== this.identity ? this.observedAt + this.holderDurationMs() - this.now() : Infinity;
    if (untilExpiry < 0) return lostRace ? 1 : delay;
    return Math.max(1, Math.min(delay, Math.ceil(untilExpiry) + 1));
  }

  /** The holder's own promise (leaseDurationSeconds it wrote), falling back to ours when the record has none. */
  private holderDurationMs(): number {
    const s = this.lease?.spec?.leaseDurationSeconds;
    return typeof s === 'number' && Number.isFinite(s) && s > 0 ? s * 1000 : this.leaseDurationMs;
  }

  /**
   * One attempt (client-go's tryAcquireOrRenew): true when this replica holds the lease afterwards. Never throws.
   * `budgetMs` bounds all requests of the attempt together.
   */
  private async tryAcquireOrRenew(signal: AbortSignal, budgetMs: number): Promise<boolean> {
    const deadline = this.now() + budgetMs;
    const left = (): number => Math.floor(deadline - this.now());

    // The leader first writes over the version it last wrote: one request per renewal instead of two.
    if (this.leading && this.lease && this.observedHolder === this.identity) {
      try {
        await this.write(this.lease, this.renewedSpec(this.lease.spec ?? {}), signal, left());
        return true;
      } catch (err) {
        if (signal.aborted) return false;
        if (!isApiStatus(err, 409) && !isApiStatus(err, 404)) {
          this.logger.warn({ err: errorMessage(err) }, 'leader election: renewing the lease failed; retrying');
          return false;
        }
        this.logger.debug({ err: errorMessage(err) }, 'leader election: lease changed since our last renewal; reading it again');
      }
    }

    let lease: Lease;
    try {
      lease = await this.read(signal, left());
    } catch (err) {
      if (signal.aborted) return false;
      if (isApiStatus(err, 404)) return this.create(signal, left);
      this.logger.warn({ err: errorMessage(err) }, 'leader election: reading the lease failed; retrying');
      return false;
    }
    this.observe(lease);
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    if (holder && holder !== this.identity) {
      const unchangedFor = this.now() - this.observedAt;
      if (unchangedFor <= this.holderDurationMs()) return false;
      this.logger.info({ holder, unchangedForMs: unchangedFor }, 'leader election: the lease has not been renewed for its duration; taking it over');
    }
    try {
      await this.write(lease, holder === this.identity ? this.renewedSpec(spec) : this.takenSpec(spec), signal, left());
      return true;
    } catch (err) {
      if (signal.aborted) return false;
      if (isApiStatus(err, 409)) {
        this.lostRace = true;
        this.logger.debug('leader election: another replica wrote the lease first');
      } else this.logger.warn({ err: errorMessage(err) }, 'leader election: writing the lease failed; retrying');
      return false;
    }
  }

  private async create(signal: AbortSignal, left: () => number): Promise<boolean> {
    const t = microTime(this.now());
    const body: Lease = {
      apiVersion: LEASE_API_VERSION,
      kind: 'Lease',
      metadata: { name: this.name, namespace: this.namespace },
      spec: { holderIdentity: this.identity, leaseDurationSeconds: this.leaseDurationSeconds, acquireTime: t, renewTime: t, leaseTransitions: 0 },
    };
    try {
      await this.send('POST', leasePath(this.namespace), body, signal, left());
      this.logger.info('leader election: created the lease');
      return true;
    } catch (err) {
      if (signal.aborted) return false;
      if (!isApiStatus(err, 409)) {
        this.logger.warn({ err: errorMessage(err) }, 'leader election: creating the lease failed; retrying');
        return false;
      }
    }
    // Another replica created it in the meantime: learn who leads now rather than at the next attempt.
    try {
      this.observe(await this.read(signal, left()));
    } catch (err) {
      if (!signal.aborted) this.logger.warn({ err: errorMessage(err) }, 'leader election: reading the lease failed; retrying');
    }
    return false;
  }

  // -------------------------------------------------------------------------------------------------------------------
  // records

  private renewedSpec(spec: LeaseSpec): LeaseSpec {
    const t = microTime(this.now());
    return { ...spec, holderIdentity: this.identity, leaseDurationSeconds: this.leaseDurationSeconds, acquireTime: spec.acquireTime ?? t, renewTime: t, leaseTransitions: spec.leaseTransitions ?? 0 };
  }

  private takenSpec(spec: LeaseSpec): LeaseSpec {
    const t = microTime(this.now());
    return { ...spec, holderIdentity: this.identity, leaseDurationSeconds: this.leaseDurationSeconds, acquireTime: t, renewTime: t, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 };
  }

  /** Records what the lease says and, when anything in it changed, when this replica saw that change. */
  private observe(lease: Lease): void {
    const spec = lease.spec ?? {};
    this.lease = lease;
    this.writeUncertain = false;
    const key = JSON.stringify([lease.metadata.resourceVersion, spec.holderIdentity, spec.renewTime, spec.acquireTime, spec.leaseDurationSeconds, spec.leaseTransitions]);
    if (key !== this.observedKey) {
      this.observedKey = key;
      this.observedAt = this.now();
    }
    const holder = typeof spec.holderIdentity === 'string' ? spec.holderIdentity : '';
    this.observedHolder = holder;
    if (holder !== this.reportedLeader) {
      this.reportedLeader = holder;
      if (holder) {
        this.logger.info({ holder }, 'leader election: new leader observed');
        this.call('onNewLeader', () => this.callbacks.newLeader?.(holder));
      }
    }
  }

  private async read(signal: AbortSignal, timeoutMs: number): Promise<Lease> {
    if (timeoutMs <= 0) throw new Error(`GET ${leasePath(this.namespace, this.name)}: no time left in this attempt`);
    const body = await this.http.json<unknown>({ path: leasePath(this.namespace, this.name), signal, timeoutMs });
    return asLease(body, `GET ${leasePath(this.namespace, this.name)}`);
  }

  /** A PUT conditional on the resourceVersion of `from`. */
  private write(from: Lease, spec: LeaseSpec, signal: AbortSignal, timeoutMs: number): Promise<void> {
    const body: Lease = { ...from, apiVersion: LEASE_API_VERSION, kind: 'Lease', metadata: { ...from.metadata }, spec };
    return this.send('PUT', leasePath(this.namespace, this.name), body, signal, timeoutMs);
  }

  private async send(method: 'POST' | 'PUT', path: string, body: Lease, signal: AbortSignal, timeoutMs: number): Promise<void> {
    if (timeoutMs <= 0) throw new Error(`${method} ${path}: no time left in this attempt`);
    const namesUs = body.spec?.holderIdentity === this.identity;
    if (namesUs) this.writeUncertain = true;
    try {
      this.observe(asLease(await this.http.json<unknown>({ method, path, body, signal, timeoutMs }), `${method} ${path}`));
    } catch (err) {
      // an answer from the server settles it; a timeout or a cut connection does not
      if (namesUs && !(err instanceof KubeApiError && err.status === 0)) this.writeUncertain = false;
      throw err;
    }
  }

  // -------------------------------------------------------------------------------------------------------------------
  // transitions

  private becomeLeader(at: number): void {
    this.leading = true;
    this.renewedAt = at;
    this.logger.info('leader election: started leading');
    for (const w of [...this.waiters]) {
      this.waiters.delete(w);
      w.resolve();
    }
    this.call('onStartedLeading', () => this.callbacks.started?.());
  }

  private stepDown(why: string): void {
    if (!this.leading) return;
    this.leading = false;
    this.logger.warn({ why }, 'leader election: stopped leading');
    this.call('onStoppedLeading', () => this.callbacks.stopped?.());
  }

  private call(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.logger.error({ err: errorMessage(err) }, `leader election: ${what} callback threw`);
    }
  }

  private async shutdown(release: boolean): Promise<void> {
    const abort = this.abort;
    const loop = this.loop;
    abort?.abort();
    await loop;
    this.abort = undefined;
    this.loop = undefined;
    // stop acting as leader before anyone else can take over
    this.stepDown('stopped');
    for (const w of [...this.waiters]) {
      this.waiters.delete(w);
      w.reject(new Error(`${this.identity}: leader election stopped`));
    }
    if (release && (this.observedHolder === this.identity || this.writeUncertain)) await this.release();
  }

  /**
   * Gives the lease up (client-go's release): empty holder, a 1 s duration and a fresh renewTime, so that a follower
   * takes over at its next attempt. Conditional like every write: a lease someone else took meanwhile is left alone.
   */
  private async release(): Promise<void> {
    // not the loop's signal: that one is already aborted, and the release must still go out
    const signal = new AbortController().signal;
    // the version last written is the one to release, unless a write got no answer or it turns out stale (409)
    let lease = this.observedHolder === this.identity && !this.writeUncertain ? this.lease : undefined;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        if (!lease) {
          lease = await this.read(signal, this.renewDeadlineMs);
          this.observe(lease);
        }
        const spec = lease.spec ?? {};
        if (spec.holderIdentity !== this.identity) return;
        const t = microTime(this.now());
        await this.write(lease, { ...spec, holderIdentity: '', leaseDurationSeconds: 1, acquireTime: t, renewTime: t, leaseTransitions: spec.leaseTransitions ?? 0 }, signal, this.renewDeadlineMs);
        this.logger.info('leader election: released the lease');
        return;
      } catch (err) {
        if (isApiStatus(err, 404)) return;
        if (!isApiStatus(err, 409)) {
          this.logger.warn({ err: errorMessage(err) }, 'leader election: releasing the lease failed; it will expire instead');
          return;
        }
        lease = undefined;
      }
    }
  }

  /** Waits `ms` or until `signal` aborts, whichever is first. */
  private sleep(ms: number, signal: AbortSignal): Promise<void> {
    return abortableSleep(ms, signal);
  }
}

/** The lease in an answer, checked as far as the election relies on it. */
function asLease(body: unknown, what: string): Lease {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error(`${what}: the answer is not an object`);
  const o = body as Record<string, unknown>;
  const meta = o.metadata;
  if (typeof meta !== 'object' || meta === null) throw new Error(`${what}: the answer has no metadata`);
  const spec = typeof o.spec === 'object' && o.spec !== null ? (o.spec as Record<string, unknown>) : {};
  const clean: LeaseSpec = { ...spec };
  // fields of a foreign or hand-edited lease with the wrong type count as absent
  if (typeof spec.holderIdentity !== 'string') delete clean.holderIdentity;
  if (typeof spec.leaseDurationSeconds !== 'number') delete clean.leaseDurationSeconds;
  if (typeof spec.leaseTransitions !== 'number') delete clean.leaseTransitions;
  if (typeof spec.acquireTime !== 'string') delete clean.acquireTime;
  if (typeof spec.renewTime !== 'string') delete clean.renewTime;
  return { ...o, metadata: meta as Lease['metadata'], spec: clean };
}
