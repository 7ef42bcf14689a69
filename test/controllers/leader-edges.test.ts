// Edge cases of LeaderElector that leader.test.ts (real fake API server, real time) cannot pin down exactly: stepping
// down, the follower's delay, option validation, MicroTime values, start/stop/release and the Lease fields written.
// Everything runs on fake timers against a scripted in-memory Lease endpoint, so every request time, timeout budget
// and body is asserted exactly and nothing depends on how busy the machine is.
import type { Logger } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { KubeApiError, type KubeHttp, type KubeRequest } from '../../src/kube/http.js';
import { leasePath } from '../../src/kube/paths.js';
import { LEASE_API_GROUP, LeaderElector, leaderElectionRules, microTime, type Lease, type LeaderElectorOptions, type LeaseSpec } from '../../src/controllers/leader.js';
import { recordingLogger, type LogEntry } from '../support/recording-logger.js';

const NS = 'ns';
const NAME = 'lease';
const PATH = leasePath(NS, NAME);
const COLLECTION = leasePath(NS);
const T0 = Date.UTC(2030, 0, 2, 3, 4, 5, 678);
/** the MicroTime of fake time T0 + ms */
const mt = (ms: number): string => microTime(T0 + ms);
const STOPPED_LEADING = 'leader election: stopped leading';

interface Call {
  readonly method: string;
  readonly path: string;
  readonly body: Lease | undefined;
  readonly timeoutMs: number | undefined;
  /** fake ms since T0 (the timers' clock, not the elector's skewed one) */
  readonly at: number;
}
type Answer = (call: Call, store: LeaseStore) => unknown;

/** One Lease behind a scripted KubeHttp: optimistic concurrency like kube-apiserver, plus one-shot answers per method. */
class LeaseStore {
  lease: Lease | undefined;
  private rv = 0;
  readonly calls: Call[] = [];
  private readonly scripted: Array<{ method: string; answer: Answer }> = [];
  readonly http = { json: (req: KubeRequest) => this.handle(req) } as unknown as KubeHttp;

  put(spec: unknown): void {
    this.lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: NAME, namespace: NS, resourceVersion: String(++this.rv) }, spec: spec as LeaseSpec };
  }

  modify(change: Partial<LeaseSpec>): void {
    this.put({ ...this.lease!.spec, ...change });
  }

  /** the next `method` request gets `answer` instead of the default handling */
  next(method: string, answer: Answer): void {
    this.scripted.push({ method, answer });
  }

  apply(call: Call): Lease {
    const body = call.body!;
    if (call.method === 'GET') {
      if (!this.lease) throw new KubeApiError(`GET ${PATH}: 404 leases "${NAME}" not found`, 404, 'NotFound');
      return structuredClone(this.lease);
    }
    if (call.method === 'POST') {
      if (this.lease) throw new KubeApiError(`POST ${COLLECTION}: 409 already exists`, 409, 'AlreadyExists');
    } else {
      if (!this.lease) throw new KubeApiError(`PUT ${PATH}: 404 not found`, 404, 'NotFound');
      if (body.metadata.resourceVersion !== this.lease.metadata.resourceVersion) throw new KubeApiError(`PUT ${PATH}: 409 conflict`, 409, 'Conflict');
    }
    this.lease = { ...structuredClone(body), metadata: { ...body.metadata, resourceVersion: String(++this.rv) } };
    return structuredClone(this.lease);
  }

  private async handle(req: KubeRequest): Promise<unknown> {
    const call: Call = { method: req.method ?? 'GET', path: req.path, body: req.body === undefined ? undefined : (structuredClone(req.body) as Lease), timeoutMs: req.timeoutMs, at: Date.now() - T0 };
    this.calls.push(call);
    if (req.signal?.aborted) throw new KubeApiError(`${call.method} ${call.path}: aborted`, 0);
    const i = this.scripted.findIndex((s) => s.method === call.method);
    if (i >= 0) return this.scripted.splice(i, 1)[0]!.answer(call, this);
    return this.apply(call);
  }
}


interface Tracked {
  readonly elector: LeaderElector;
  started: number;
  stopped: number;
  readonly newLeaders: string[];
}

const apiError = (status: number): KubeApiError => new KubeApiError(`PUT ${PATH}: ${status}`, status);

describe('LeaderElector edges', () => {
  let store: LeaseStore;
  let logs: LogEntry[];
  let bindings: Array<Record<string, unknown>>;
  /** a log message that throws once when logged, to reach the loop's guard against bugs */
  let trap: string | undefined;
  /** the elector's clock runs this far ahead of the timers: a request "taking" time, or a suspended process */
  let skew: number;
  let electors: LeaderElector[];

  const logger = (): Logger =>
    recordingLogger(logs, {
      bindings,
      onLine: ({ msg }) => {
        if (trap !== msg) return;
        trap = undefined;
        throw new Error('boom');
      },
    });

  const elector = (extra: Partial<LeaderElectorOptions> = {}): Tracked => {
    const t: Tracked = { elector: undefined as unknown as LeaderElector, started: 0, stopped: 0, newLeaders: [] };
    (t as { elector: LeaderElector }).elector = new LeaderElector({
      http: store.http,
      namespace: NS,
      name: NAME,
      identity: 'me',
      leaseDurationMs: 600,
      renewDeadlineMs: 400,
      retryPeriodMs: 50,
      logger: logger(),
      now: () => Date.now() + skew,
      random: () => 0,
      onStartedLeading: () => t.started++,
      onStoppedLeading: () => t.stopped++,
      onNewLeader: (id) => t.newLeaders.push(id),
      ...extra,
    });
    electors.push(t.elector);
    return t;
  };

  const advance = (ms: number): Promise<unknown> => vi.advanceTimersByTimeAsync(ms);
  /** the requests from index `from` on, as `METHOD@ms` */
  const calls = (from = 0): string[] => store.calls.slice(from).map((c) => `${c.method}@${c.at}`);
  const whys = (): unknown[] => logs.filter((l) => l.msg === STOPPED_LEADING).map((l) => l.obj.why);
  const warnings = (): Array<[string, unknown]> => logs.filter((l) => l.level === 'warn' && l.msg !== STOPPED_LEADING).map((l) => [l.msg, l.obj.err]);
  const ghost = (extra: Partial<LeaseSpec> = {}): void =>
    store.put({ holderIdentity: 'ghost', leaseDurationSeconds: 15, acquireTime: '2029-12-31T00:00:00.000000Z', renewTime: '2029-12-31T00:00:00.000000Z', leaseTransitions: 4, ...extra });
  /** a leader at fake time 0 on a lease it created */
  const leader = async (extra: Partial<LeaderElectorOptions> = {}): Promise<Tracked> => {
    const t = elector(extra);
    t.elector.start();
    await advance(0);
    expect(t.elector.isLeader()).toBe(true);
    return t;
  };

  /** a ghost's 1 s lease, taken over at 1001 ms, but a rival writes it first (the takeover is answered 409) */
  const raceForTakeover = (): Tracked => {
    ghost({ leaseDurationSeconds: 1 });
    store.next('PUT', (call, s) => {
      s.modify({ holderIdentity: 'rival' });
      return s.apply(call);
    });
    const t = elector({ leaseDurationMs: 10_000, renewDeadlineMs: 8000, retryPeriodMs: 4000 });
    t.elector.start();
    return t;
  };

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    vi.setSystemTime(T0);
    store = new LeaseStore();
    logs = [];
    bindings = [];
    trap = undefined;
    skew = 0;
    electors = [];
  });
  afterEach(async () => {
    try {
      await Promise.all(electors.map((e) => e.stop()));
    } finally {
      vi.useRealTimers();
    }
  });

  describe('options', () => {
    const http = (): KubeHttp => store.http;
    it.each([
      [{ identity: '' }, 'leader election: identity must not be empty'],
      [{ namespace: '' }, 'leader election: namespace and name must not be empty'],
      [{ name: '' }, 'leader election: namespace and name must not be empty'],
      [{ retryPeriodMs: 0 }, 'leader election: need leaseDuration (600) > renewDeadline (400) > retryPeriod (0) > 0'],
      [{ retryPeriodMs: -5 }, 'leader election: need leaseDuration (600) > renewDeadline (400) > retryPeriod (-5) > 0'],
      [{ retryPeriodMs: 400 }, 'leader election: need leaseDuration (600) > renewDeadline (400) > retryPeriod (400) > 0'],
      [{ leaseDurationMs: 400 }, 'leader election: need leaseDuration (400) > renewDeadline (400) > retryPeriod (50) > 0'],
      [{ leaseDurationMs: undefined, renewDeadlineMs: undefined, retryPeriodMs: 10_000 }, 'leader election: need leaseDuration (15000) > renewDeadline (10000) > retryPeriod (10000) > 0'],
    ])('%o is refused with an exact RangeError', (bad, message) => {
      const opts: LeaderElectorOptions = { http: http(), namespace: NS, name: NAME, identity: 'me', leaseDurationMs: 600, renewDeadlineMs: 400, retryPeriodMs: 50, ...bad };
      expect(() => new LeaderElector(opts)).toThrow(new RangeError(message));
      expect(() => new LeaderElector(opts)).toThrow(RangeError);
    });

    it.each([
      [401, 1],
      [1000, 1],
      [1001, 2],
      [2500, 3],
    ])('leaseDurationMs %i is written as %i whole seconds', async (leaseDurationMs, seconds) => {
      await leader({ leaseDurationMs });
      expect(store.calls[1]!.body!.spec!.leaseDurationSeconds).toBe(seconds);
    });

    it('logs under the lease and identity it competes for, and the RBAC it needs', () => {
      elector();
      expect(bindings).toEqual([{ lease: 'ns/lease', identity: 'me' }]);
      expect(LEASE_API_GROUP).toBe('coordination.k8s.io');
      expect(leaderElectionRules('x')).toEqual([
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['x'], verbs: ['get', 'update'] },
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      ]);
    });
  });

  it('formats MicroTime with six fractional digits', () => {
    expect(microTime(0)).toBe('1970-01-01T00:00:00.000000Z');
    expect(microTime(T0)).toBe('2030-01-02T03:04:05.678000Z');
    expect(microTime(T0 + 0.25)).toBe('2030-01-02T03:04:05.678250Z');
    expect(microTime(T0 + 0.999)).toBe('2030-01-02T03:04:05.678999Z');
    expect(microTime(T0 + 0.0004)).toBe('2030-01-02T03:04:05.678000Z');
  });

  describe('acquire and renew', () => {
    it('creates the lease with exact fields, then renews over its own version within what is left of the deadline', async () => {
      skew = 0.25; // a sub-millisecond clock shows in the microseconds
      const t = await leader();
      expect(calls()).toEqual(['GET@0', 'POST@0']);
      expect(store.calls.map((c) => [c.path, c.timeoutMs])).toEqual([
        [PATH, 400],
        [COLLECTION, 400],
      ]);
      expect(store.calls[1]!.body).toEqual({
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: NAME, namespace: NS },
        spec: { holderIdentity: 'me', leaseDurationSeconds: 1, acquireTime: '2030-01-02T03:04:05.678250Z', renewTime: '2030-01-02T03:04:05.678250Z', leaseTransitions: 0 },
      });
      expect([t.started, t.stopped, t.newLeaders, t.elector.leader()]).toEqual([1, 0, ['me'], 'me']);

      await advance(50);
      expect(calls(2)).toEqual(['PUT@50']);
      const renewal = store.calls[2]!;
      // the deadline counts from when the acquisition was sent: 400 - 50 left
      expect([renewal.path, renewal.timeoutMs, renewal.body!.metadata.resourceVersion]).toEqual([PATH, 350, '1']);
      expect(renewal.body!.spec).toEqual({ holderIdentity: 'me', leaseDurationSeconds: 1, acquireTime: '2030-01-02T03:04:05.678250Z', renewTime: '2030-01-02T03:04:05.728250Z', leaseTransitions: 0 });
      // without callbacks or failures, nothing is logged at error level
      expect(logs.filter((l) => l.level === 'error')).toEqual([]);
    });

    it('isLeader() turns false at the renew deadline by its own clock, before the loop notices', async () => {
      const t = await leader();
      skew = 399;
      expect(t.elector.isLeader()).toBe(true);
      skew = 400;
      expect(t.elector.isLeader()).toBe(false);
      expect(t.stopped).toBe(0);
    });

    it('an acquisition answered only at the renew deadline does not lead: it reads and renews at once instead', async () => {
      const t = elector();
      store.next('POST', (call, s) => {
        skew += 400;
        return s.apply(call);
      });
      t.elector.start();
      await advance(0);
      expect(calls()).toEqual(['GET@0', 'POST@0', 'GET@0', 'PUT@0']);
      expect(store.calls[3]!.body!.spec).toEqual({ holderIdentity: 'me', leaseDurationSeconds: 1, acquireTime: mt(0), renewTime: mt(400), leaseTransitions: 0 });
      expect([t.started, t.stopped, t.elector.isLeader()]).toEqual([1, 0, true]);
    });

    it('a renewal answered 404 (lease deleted) creates the lease again and keeps leading', async () => {
      const t = await leader();
      store.lease = undefined;
      await advance(50);
      expect(calls(2)).toEqual(['PUT@50', 'GET@50', 'POST@50']);
      expect(store.calls[4]!.body!.spec).toEqual({ holderIdentity: 'me', leaseDurationSeconds: 1, acquireTime: mt(50), renewTime: mt(50), leaseTransitions: 0 });
      expect([t.started, t.stopped, t.elector.isLeader()]).toEqual([1, 0, true]);
    });

    it('a renewal failing once keeps leadership; the next one gets only what is left of the deadline', async () => {
      const t = await leader();
      store.next('PUT', () => {
        throw apiError(500);
      });
      await advance(50);
      expect(calls(2)).toEqual(['PUT@50']);
      expect([t.stopped, t.elector.isLeader()]).toEqual([0, true]);
      expect(warnings()).toEqual([['leader election: renewing the lease failed; retrying', `PUT ${PATH}: 500`]]);
      await advance(50);
      expect(calls(3)).toEqual(['PUT@100']);
      expect(store.calls[3]!.timeoutMs).toBe(300);
      expect(store.lease!.spec!.renewTime).toBe(mt(100));
    });

    it('keeps acquireTime and leaseTransitions of a lease it already holds, replacing a mistyped acquireTime', async () => {
      store.put({ holderIdentity: 'me', leaseDurationSeconds: 1, acquireTime: '2029-01-01T00:00:00.000000Z', renewTime: '2029-01-01T00:00:00.000000Z', leaseTransitions: 3, extra: 'kept' });
      await leader();
      expect(calls()).toEqual(['GET@0', 'PUT@0']);
      expect(store.calls[1]!.body!.spec).toEqual({ holderIdentity: 'me', leaseDurationSeconds: 1, acquireTime: '2029-01-01T00:00:00.000000Z', renewTime: mt(0), leaseTransitions: 3, extra: 'kept' });

      store.put({ holderIdentity: 'me', leaseDurationSeconds: 1, acquireTime: 5, renewTime: 6, leaseTransitions: 3 });
      await advance(50);
      // the fast renewal over the old version conflicts, the re-read finds a number where a time should be
      expect(calls(2)).toEqual(['PUT@50', 'GET@50', 'PUT@50']);
      expect(store.calls[4]!.body!.spec).toEqual({ holderIdentity: 'me', leaseDurationSeconds: 1, acquireTime: mt(50), renewTime: mt(50), leaseTransitions: 3 });
    });

    it.each([
      ['no holder', { leaseTransitions: 2, custom: 'kept' }, { leaseTransitions: 3, custom: 'kept' }],
      ['an empty holder', { holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 2 }, { leaseTransitions: 3 }],
      ['a mistyped holder', { holderIdentity: 5, leaseTransitions: 2 }, { leaseTransitions: 3 }],
      ['mistyped transitions', { leaseTransitions: 'x' }, { leaseTransitions: 1 }],
      ['a null spec', null, { leaseTransitions: 1 }],
      ['a string spec', 'abc', { leaseTransitions: 1 }],
    ])('a lease with %s is free: taken at the first attempt', async (_what, spec, expected) => {
      store.put(spec);
      const t = await leader();
      expect(calls()).toEqual(['GET@0', 'PUT@0']);
      expect(store.calls[1]!.body!.spec).toEqual({ holderIdentity: 'me', leaseDurationSeconds: 1, acquireTime: mt(0), renewTime: mt(0), ...expected });
      expect(t.newLeaders).toEqual(['me']);
    });
  });

  describe('stepping down', () => {
    it('at once when a renewal shows another holder, then follows it without writing', async () => {
      const t = await leader();
      store.modify({ holderIdentity: 'intruder' });
      await advance(50);
      expect(calls(2)).toEqual(['PUT@50', 'GET@50', 'GET@50']);
      expect([t.stopped, t.elector.isLeader(), t.elector.leader(), t.newLeaders]).toEqual([1, false, 'intruder', ['me', 'intruder']]);
      expect(whys()).toEqual(['the lease is now held by intruder']);
    });

    it('at once when the lease turns out free but another replica takes it first', async () => {
      const t = await leader();
      store.modify({ holderIdentity: '' });
      store.next('PUT', (call, s) => s.apply(call)); // the renewal over the old version: 409
      store.next('PUT', (_call, s) => {
        s.modify({ holderIdentity: 'rival' });
        throw apiError(409);
      });
      await advance(50);
      expect(calls(2)).toEqual(['PUT@50', 'GET@50', 'PUT@50', 'GET@50']);
      expect([t.stopped, t.elector.isLeader(), t.elector.leader()]).toEqual([1, false, 'rival']);
      expect(whys()).toEqual(['the lease is now held by nobody']);
    });

    it('exactly at renewDeadline when every renewal fails, without a request at the deadline; leads again once writes work', async () => {
      const t = await leader();
      let failing = true;
      const fail: Answer = (call, s) => {
        if (failing) {
          store.next('PUT', fail);
          throw apiError(500);
        }
        return s.apply(call);
      };
      store.next('PUT', fail);
      await advance(399);
      expect(calls(2)).toEqual(['PUT@50', 'PUT@100', 'PUT@150', 'PUT@200', 'PUT@250', 'PUT@300', 'PUT@350']);
      expect(store.calls.slice(2).map((c) => c.timeoutMs)).toEqual([350, 300, 250, 200, 150, 100, 50]);
      expect([t.stopped, t.elector.isLeader()]).toEqual([0, true]);
      await advance(1);
      // at 400 it steps down without trying, then competes again as a follower (its own name in the lease)
      expect(calls(9)).toEqual(['GET@400', 'PUT@400']);
      expect([t.stopped, t.elector.isLeader()]).toEqual([1, false]);
      expect(whys()).toEqual(['no successful renewal for 400 ms']);
      expect(warnings().filter(([m]) => m === 'leader election: renewing the lease failed; retrying')).toHaveLength(7);
      failing = false;
      await advance(50);
      expect(calls(11)).toEqual(['GET@450', 'PUT@450']);
      expect([t.started, t.elector.isLeader()]).toEqual([2, true]);
    });

    it('when a renewal takes the whole deadline and gets no answer', async () => {
      const t = await leader();
      store.next('PUT', () => {
        skew += 350;
        throw new KubeApiError(`PUT ${PATH}: timeout`, 0);
      });
      store.next('GET', () => {
        throw apiError(500);
      });
      await advance(50);
      expect(calls(2)).toEqual(['PUT@50', 'GET@50']);
      expect([t.stopped, t.elector.isLeader()]).toEqual([1, false]);
      expect(whys()).toEqual(['no successful renewal for 400 ms']);
    });

    it.each([
      ['the conflicting renewal', ['PUT@50'], 'leader election: reading the lease failed; retrying', `GET ${PATH}: no time left in this attempt`],
      ['the re-read', ['PUT@50', 'GET@50'], 'leader election: writing the lease failed; retrying', `PUT ${PATH}: no time left in this attempt`],
    ])('when %s uses up the deadline, sending nothing without a timeout, then re-acquires its own lease', async (what, expected, warning, err) => {
      const t = await leader();
      const slow = (): void => {
        skew += 350;
      };
      if (what === 'the conflicting renewal')
        store.next('PUT', () => {
          slow();
          throw apiError(409);
        });
      else {
        store.next('PUT', () => {
          throw apiError(409);
        });
        store.next('GET', (call, s) => (slow(), s.apply(call)));
      }
      await advance(50);
      // (a request with timeoutMs 0 would have no timeout at all); the lease still names it, so it reads and renews
      expect(calls(2)).toEqual([...expected, 'GET@50', 'PUT@50']);
      expect(store.calls.slice(2 + expected.length).map((c) => c.timeoutMs)).toEqual([400, 400]);
      expect(warnings()).toEqual([[warning, err]]);
      expect([t.started, t.stopped, t.elector.isLeader()]).toEqual([2, 1, true]);
      expect(whys()).toEqual(['no successful renewal for 400 ms']);
    });

    it('on a bug seen while the lease names another holder, at once; and retries a retryPeriod later', async () => {
      const t = await leader();
      store.modify({ holderIdentity: 'intruder' });
      trap = 'leader election: new leader observed';
      await advance(50);
      expect(calls(2)).toEqual(['PUT@50', 'GET@50']);
      expect([t.stopped, t.elector.isLeader()]).toEqual([1, false]);
      expect(whys()).toEqual(['unexpected failure']);
      expect(logs.filter((l) => l.level === 'error').map((l) => [l.msg, l.obj.err])).toEqual([['leader election: unexpected failure; retrying', 'boom']]);
      await advance(49);
      expect(calls(4)).toEqual([]);
      await advance(1);
      expect(calls(4)).toEqual(['GET@100']);
    });

    it('not on a bug while the lease still names it', async () => {
      const t = await leader();
      store.next('PUT', () => {
        throw apiError(500);
      });
      trap = 'leader election: renewing the lease failed; retrying';
      await advance(150);
      // the guard's retryPeriod, then a renewal round's own retryPeriod
      expect(calls(2)).toEqual(['PUT@50', 'PUT@150']);
      expect([t.started, t.stopped, t.elector.isLeader()]).toEqual([1, 0, true]);
      expect(whys()).toEqual([]);
    });

    it('callbacks are optional', async () => {
      const t = await leader({ onStartedLeading: undefined, onStoppedLeading: undefined, onNewLeader: undefined });
      store.modify({ holderIdentity: 'intruder' });
      await advance(50);
      expect([t.elector.isLeader(), t.elector.leader(), whys()]).toEqual([false, 'intruder', ['the lease is now held by intruder']]);
      // an absent callback is not a failed one
      expect(logs.filter((l) => l.level === 'error')).toEqual([]);
    });

    it('callbacks that throw are logged and change nothing', async () => {
      const boom = (): void => {
        throw new Error('cb');
      };
      const t = await leader({ onStartedLeading: boom, onStoppedLeading: boom, onNewLeader: boom });
      await advance(50);
      expect(calls()).toEqual(['GET@0', 'POST@0', 'PUT@50']);
      await t.elector.stop({ release: false });
      expect(logs.filter((l) => l.level === 'error').map((l) => [l.msg, l.obj.err])).toEqual([
        ['leader election: onNewLeader callback threw', 'cb'],
        ['leader election: onStartedLeading callback threw', 'cb'],
        ['leader election: onStoppedLeading callback threw', 'cb'],
      ]);
    });
  });

  describe("the follower's delay", () => {
    it('is retryPeriod × (1 + 0.2 × random) while the holder is far from expiry', async () => {
      ghost();
      const t = elector({ random: () => 1 });
      t.elector.start();
      await advance(180);
      expect(calls()).toEqual(['GET@0', 'GET@60', 'GET@120', 'GET@180']);
      expect([t.newLeaders, t.elector.leader(), t.started]).toEqual([['ghost'], 'ghost', 0]);
    });

    it("is cut at the observed holder's expiry + 1 ms, and the takeover writes exact fields", async () => {
      ghost({ leaseDurationSeconds: 1 });
      const t = elector({ leaseDurationMs: 10_000, renewDeadlineMs: 8000, retryPeriodMs: 4000 });
      t.elector.start();
      await advance(1001);
      expect(calls()).toEqual(['GET@0', 'GET@1001', 'PUT@1001']);
      expect(store.calls[2]!.body!.spec).toEqual({ holderIdentity: 'me', leaseDurationSeconds: 10, acquireTime: mt(1001), renewTime: mt(1001), leaseTransitions: 5 });
      expect([t.started, t.newLeaders]).toEqual([1, ['ghost', 'me']]);
      // a renewal keeps the transition count and acquireTime of the takeover
      await advance(4000);
      expect(calls(3)).toEqual(['PUT@5001']);
      expect(store.calls[3]!.body!.spec).toEqual({ holderIdentity: 'me', leaseDurationSeconds: 10, acquireTime: mt(1001), renewTime: mt(5001), leaseTransitions: 5 });
    });

    it('leaves a lease unchanged for exactly its duration alone, and takes it 1 ms later', async () => {
      ghost({ leaseDurationSeconds: 1 });
      const t = elector({ leaseDurationMs: 10_000, renewDeadlineMs: 8000, retryPeriodMs: 500 });
      t.elector.start();
      await advance(1001);
      expect(calls()).toEqual(['GET@0', 'GET@500', 'GET@1000', 'GET@1001', 'PUT@1001']);
      expect(t.started).toBe(1);
    });

    it.each([
      ['no duration', undefined],
      ['a zero duration', 0],
      ['a negative duration', -3],
      ['an infinite duration', Infinity],
      ['a mistyped duration', '5'],
    ])("falls back to its own leaseDuration when the holder's lease has %s", async (_what, leaseDurationSeconds) => {
      ghost({ leaseDurationSeconds: leaseDurationSeconds as number });
      const t = elector();
      t.elector.start();
      await advance(601);
      expect(calls().slice(-4)).toEqual(['GET@550', 'GET@600', 'GET@601', 'PUT@601']);
      expect(calls()).toHaveLength(15);
      expect(t.started).toBe(1);
    });

    it.each([
      ['nobody', ''],
      ['this replica', 'me'],
    ])('is not cut when the lease names %s and the write fails', async (_what, holderIdentity) => {
      store.put({ holderIdentity, leaseDurationSeconds: 1, leaseTransitions: 0 });
      store.next('PUT', () => {
        throw apiError(500);
      });
      const t = elector({ leaseDurationMs: 10_000, renewDeadlineMs: 8000, retryPeriodMs: 4000 });
      t.elector.start();
      await advance(4000);
      expect(calls()).toEqual(['GET@0', 'PUT@0', 'GET@4000', 'PUT@4000']);
      expect(warnings()).toEqual([['leader election: writing the lease failed; retrying', `PUT ${PATH}: 500`]]);
    });

    it('a takeover refused (not a race) on an expired lease is retried after a retryPeriod, not every millisecond', async () => {
      ghost({ leaseDurationSeconds: 1 });
      for (let i = 0; i < 5; i++) {
        store.next('PUT', () => {
          throw apiError(403);
        });
      }
      const t = elector({ leaseDurationMs: 10_000, renewDeadlineMs: 8000, retryPeriodMs: 4000 });
      t.elector.start();
      await advance(9001);
      expect(calls()).toEqual(['GET@0', 'GET@1001', 'PUT@1001', 'GET@5001', 'PUT@5001', 'GET@9001', 'PUT@9001']);
      expect(t.started).toBe(0);
    });

    it('after losing a takeover race, reads again 1 ms later and follows the winner', async () => {
      const t = raceForTakeover();
      await advance(1002);
      expect(calls()).toEqual(['GET@0', 'GET@1001', 'PUT@1001', 'GET@1002']);
      expect([t.elector.leader(), t.newLeaders, t.started]).toEqual(['rival', ['ghost', 'rival'], 0]);
      expect(logs.filter((l) => l.level === 'debug').map((l) => l.msg)).toEqual(['leader election: another replica wrote the lease first']);
      expect(warnings()).toEqual([]);
    });

    it('after losing a create race, reads the winner at once', async () => {
      store.next('POST', (call, s) => {
        s.put({ holderIdentity: 'rival', leaseDurationSeconds: 1, leaseTransitions: 0 });
        return s.apply(call);
      });
      const t = elector();
      t.elector.start();
      await advance(0);
      expect(calls()).toEqual(['GET@0', 'POST@0', 'GET@0']);
      expect([t.elector.leader(), t.newLeaders, t.started]).toEqual(['rival', ['rival'], 0]);
    });

    it('after losing a create race and failing to read, waits a retryPeriod', async () => {
      store.next('POST', (call, s) => {
        s.put({ holderIdentity: 'rival', leaseDurationSeconds: 1, leaseTransitions: 0 });
        return s.apply(call);
      });
      store.next('GET', (call, s) => s.apply(call)); // 404
      store.next('GET', () => {
        throw new KubeApiError(`GET ${PATH}: 500`, 500);
      });
      const t = elector();
      t.elector.start();
      await advance(50);
      expect(calls()).toEqual(['GET@0', 'POST@0', 'GET@0', 'GET@50']);
      expect(warnings()).toEqual([['leader election: reading the lease failed; retrying', `GET ${PATH}: 500`]]);
      expect(t.elector.leader()).toBe('rival');
    });

    it.each([
      ['null', null, 'the answer is not an object'],
      ['an array', [], 'the answer is not an object'],
      ['a string', 'text', 'the answer is not an object'],
      ['null metadata', { metadata: null, spec: {} }, 'the answer has no metadata'],
      ['string metadata', { metadata: 'x', spec: {} }, 'the answer has no metadata'],
      ['no metadata', { spec: {} }, 'the answer has no metadata'],
    ])('treats a read answered with %s as a failed read', async (_what, body, err) => {
      ghost();
      store.next('GET', () => body);
      const t = elector({ random: () => 1 });
      t.elector.start();
      await advance(60);
      expect(calls()).toEqual(['GET@0', 'GET@60']);
      expect(warnings()).toEqual([['leader election: reading the lease failed; retrying', `GET ${PATH}: ${err}`]]);
      expect(logs.filter((l) => l.level === 'error')).toEqual([]);
      expect(t.elector.leader()).toBe('ghost');
    });
  });

  describe('start, stop and release', () => {
    it('start() twice runs one loop', async () => {
      const t = elector();
      t.elector.start();
      t.elector.start();
      await advance(50);
      expect(calls()).toEqual(['GET@0', 'POST@0', 'PUT@50']);
    });

    it('stop() releases with exact fields over the version it wrote, sending nothing else; start() then leads again', async () => {
      store.put({ holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 4 });
      const t = await leader();
      await advance(25);
      const mark = store.calls.length;
      await t.elector.stop();
      expect(calls(mark)).toEqual(['PUT@25']);
      const release = store.calls[mark]!.body!;
      expect(release.metadata.resourceVersion).toBe('2');
      expect(release.spec).toEqual({ holderIdentity: '', leaseDurationSeconds: 1, acquireTime: mt(25), renewTime: mt(25), leaseTransitions: 5 });
      expect([t.stopped, t.elector.isLeader(), whys()]).toEqual([1, false, ['stopped']]);
      expect(warnings()).toEqual([]);

      t.elector.start();
      await advance(0);
      expect(calls(mark + 1)).toEqual(['GET@25', 'PUT@25']);
      expect([t.started, t.elector.isLeader(), store.lease!.spec!.leaseTransitions]).toEqual([2, true, 6]);
    });

    it('stop({ release: false }) leaves the lease to expire', async () => {
      const t = await leader();
      const mark = store.calls.length;
      await t.elector.stop({ release: false });
      expect(calls(mark)).toEqual([]);
      expect([t.stopped, store.lease!.spec!.holderIdentity]).toEqual([1, 'me']);
    });

    it('a follower stops without a request and without onStoppedLeading', async () => {
      ghost();
      const t = elector();
      t.elector.start();
      await advance(0);
      await t.elector.stop();
      expect(calls()).toEqual(['GET@0']);
      expect([t.started, t.stopped, whys()]).toEqual([0, 0, []]);
    });

    it('start() while a release is under way does nothing', async () => {
      const t = await leader();
      let answer!: () => void;
      store.next('PUT', (call, s) => new Promise((resolve) => (answer = () => resolve(s.apply(call)))));
      const stopping = t.elector.stop();
      await advance(0);
      t.elector.start();
      answer();
      await stopping;
      await advance(1000);
      expect(calls()).toEqual(['GET@0', 'POST@0', 'PUT@0']);
      expect(store.lease!.spec!.holderIdentity).toBe('');
    });

    it('an acquisition answered while stopping does not start leading', async () => {
      store.put({ holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 0 });
      let answer!: () => void;
      store.next('PUT', (call, s) => new Promise((resolve) => (answer = () => resolve(s.apply(call)))));
      const t = elector();
      t.elector.start();
      await advance(0);
      answer();
      await t.elector.stop();
      expect([t.started, t.stopped]).toEqual([0, 0]);
      // the answer named it: the release still goes out
      expect(calls()).toEqual(['GET@0', 'PUT@0', 'PUT@0']);
      expect(store.lease!.spec!.holderIdentity).toBe('');
    });

    it('a takeover without an answer (applied) is released at stop after a fresh read', async () => {
      ghost({ leaseDurationSeconds: 1 });
      store.next('PUT', (call, s) => {
        s.apply(call);
        throw new KubeApiError(`PUT ${PATH}: timeout`, 0);
      });
      const t = elector({ leaseDurationMs: 10_000, renewDeadlineMs: 8000, retryPeriodMs: 4000 });
      t.elector.start();
      await advance(1001);
      const mark = store.calls.length;
      await t.elector.stop();
      expect(calls(mark)).toEqual(['GET@1001', 'PUT@1001']);
      expect(store.calls[mark + 1]!.body!.spec).toMatchObject({ holderIdentity: '', leaseTransitions: 5 });
      expect([t.started, t.stopped, store.lease!.spec!.holderIdentity]).toEqual([0, 0, '']);
    });

    it('a takeover without an answer (not applied, another replica took it) is left alone at stop', async () => {
      ghost({ leaseDurationSeconds: 1 });
      store.next('PUT', (_call, s) => {
        s.modify({ holderIdentity: 'rival' });
        throw new KubeApiError(`PUT ${PATH}: timeout`, 0);
      });
      const t = elector({ leaseDurationMs: 10_000, renewDeadlineMs: 8000, retryPeriodMs: 4000 });
      t.elector.start();
      await advance(1001);
      const mark = store.calls.length;
      await t.elector.stop();
      expect(calls(mark)).toEqual(['GET@1001']);
      expect(store.lease!.spec!.holderIdentity).toBe('rival');
    });

    it('a takeover refused with 409 leaves nothing to release', async () => {
      const t = raceForTakeover();
      await advance(1001);
      const mark = store.calls.length;
      await t.elector.stop();
      expect(calls(mark)).toEqual([]);
    });

    it('a renewal without an answer (applied) is released over a fresh read, not the stale version', async () => {
      const t = await leader();
      store.next('PUT', (call, s) => {
        s.apply(call);
        throw new KubeApiError(`PUT ${PATH}: timeout`, 0);
      });
      await advance(50);
      expect(t.elector.isLeader()).toBe(true);
      const mark = store.calls.length;
      await t.elector.stop();
      expect(calls(mark)).toEqual(['GET@50', 'PUT@50']);
      expect(store.calls[mark + 1]!.body!.metadata.resourceVersion).toBe('2');
      expect(store.lease!.spec!.holderIdentity).toBe('');
    });

    it('a release conflicting twice is tried exactly twice', async () => {
      const t = await leader();
      const conflict = (): never => {
        throw apiError(409);
      };
      store.next('PUT', conflict);
      store.next('PUT', conflict);
      await t.elector.stop();
      expect(calls(2)).toEqual(['PUT@0', 'GET@0', 'PUT@0']);
      expect(warnings()).toEqual([]);
      expect(store.lease!.spec!.holderIdentity).toBe('me');
    });

    it.each([
      [500, [['leader election: releasing the lease failed; it will expire instead', `PUT ${PATH}: 500`]]],
      [404, []],
    ])('a release answered %i is not retried', async (status, expected) => {
      const t = await leader();
      store.next('PUT', () => {
        throw apiError(status);
      });
      await t.elector.stop();
      expect(calls(2)).toEqual(['PUT@0']);
      expect(warnings()).toEqual(expected);
    });
  });

  describe('waitForLeadership()', () => {
    it('resolves at once when already leading, and when leadership comes', async () => {
      const t = elector();
      const coming = t.elector.waitForLeadership(1000).then(() => 'led');
      t.elector.start();
      await advance(0);
      await expect(coming).resolves.toBe('led');
      const already = t.elector.waitForLeadership(10).then(
        () => 'led',
        (err: Error) => err.message,
      );
      await advance(10);
      await expect(already).resolves.toBe('led');
    });

    it('rejects after its timeout naming the holder, or when stopped', async () => {
      const t = elector();
      const before = t.elector.waitForLeadership(100).catch((err: Error) => err.message);
      await advance(100);
      await expect(before).resolves.toBe('me: not leader of lease ns/lease after 100 ms (holder: none)');

      ghost();
      t.elector.start();
      await advance(0);
      const following = t.elector.waitForLeadership(70).catch((err: Error) => err.message);
      await advance(70);
      await expect(following).resolves.toBe('me: not leader of lease ns/lease after 70 ms (holder: ghost)');

      const stopped = t.elector.waitForLeadership(10_000).catch((err: Error) => err.message);
      await t.elector.stop();
      await expect(stopped).resolves.toBe('me: leader election stopped');
    });
  });
});
