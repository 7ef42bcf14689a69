import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KubeHttp } from '../../src/kube/http.js';
import { leasePath } from '../../src/kube/paths.js';
import { LeaderElector, leaderElectionRules, microTime, type LeaderElectorOptions, type LeaseSpec } from '../../src/controllers/leader.js';
import { FakeApiServer, waitFor, type PolicyRule, type RecordedRequest } from '../support/fake-apiserver.js';
import { quietPeriod } from '../support/wait.js';

const NS = 'fsm-system';
// Short enough for quick tests, long enough that a loaded CI machine does not miss a renew deadline. The lease
// records whole seconds, so followers wait 1 s (leaseDurationSeconds) for a silent holder.
const LEASE_MS = 600;
const RENEW_MS = 400;
const RETRY_MS = 50;
const LEASE_SECONDS = 1;
const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;
const LEASE_VERBS = new Set(['get', 'create', 'update']);

interface Tracked {
  readonly id: string;
  readonly elector: LeaderElector;
  started: number;
  stopped: number;
  stoppedAt: number;
  readonly newLeaders: string[];
  readonly logs: Array<{ level: number; msg: string }>;
}

function captureLogger(into: Array<{ level: number; msg: string }>): Logger {
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) into.push(JSON.parse(line) as { level: number; msg: string });
      cb();
    },
  });
  return pino({ level: 'debug' }, stream);
}

describe('LeaderElector', () => {
  let fake: FakeApiServer;
  let running: Tracked[] = [];
  let leaseName: string;
  let n = 0;

  /** An elector with its own credentials, so that its requests can be told apart (`authorization`). */
  const elector = (id: string, extra: Partial<LeaderElectorOptions> = {}): Tracked => {
    const logs: Tracked['logs'] = [];
    const t: Tracked = {
      id,
      started: 0,
      stopped: 0,
      stoppedAt: 0,
      newLeaders: [],
      logs,
      elector: new LeaderElector({
        http: new KubeHttp(fake.kubeConfig(id)),
        namespace: NS,
        name: leaseName,
        identity: id,
        leaseDurationMs: LEASE_MS,
        renewDeadlineMs: RENEW_MS,
        retryPeriodMs: RETRY_MS,
        logger: captureLogger(logs),
        onStartedLeading: () => t.started++,
        onStoppedLeading: () => {
          t.stopped++;
          t.stoppedAt = Date.now();
        },
        onNewLeader: (holder) => t.newLeaders.push(holder),
        ...extra,
      }),
    };
    running.push(t);
    return t;
  };

  const requestsOf = (id: string): RecordedRequest[] => fake.requests.filter((r) => r.authorization === `Bearer ${id}`);
  const spec = (): LeaseSpec | undefined => fake.getObject('coordination.k8s.io/v1', 'Lease', NS, leaseName)?.spec as LeaseSpec | undefined;
  const bodySpec = (r: RecordedRequest | undefined): LeaseSpec | undefined => (r?.body as { spec?: LeaseSpec } | undefined)?.spec;

  /** Samples isLeader() of every elector until stopped; returns the most leaders seen at one moment. */
  const sampleLeaders = (electors: readonly Tracked[]): { max: () => number; stop: () => void } => {
    let max = 0;
    const timer = setInterval(() => (max = Math.max(max, electors.filter((e) => e.elector.isLeader()).length)), 1);
    return { max: () => max, stop: () => clearInterval(timer) };
  };

  const leading = async (t: Tracked): Promise<void> => t.elector.waitForLeadership(10_000);
  const following = (t: Tracked, leader: string): Promise<true> => waitFor(() => t.elector.leader() === leader || undefined, { timeoutMs: 10_000, what: `${t.id} to follow ${leader}` });

  beforeAll(async () => {
    fake = await FakeApiServer.start();
  });
  afterAll(() => fake.close());
  beforeEach(() => {
    leaseName = `mesh-admission-leader-${++n}`;
    fake.clearRequests();
  });
  afterEach(async () => {
    await Promise.all(running.map((t) => t.elector.stop()));
    running = [];
    fake.authorize(undefined);
    fake.clearFailures();
    fake.setLatency(0);
    // whatever the scenario, the elector speaks get, create and update on leases, nothing else
    expect(fake.requests.filter((r) => r.resource !== 'leases' || !LEASE_VERBS.has(r.verb)).map((r) => `${r.method} ${r.path}`)).toEqual([]);
  });

  it('formats times as metav1.MicroTime and checks its durations', () => {
    expect(microTime(Date.parse('2030-01-02T03:04:05.678Z'))).toBe('2030-01-02T03:04:05.678000Z');
    expect(microTime(Date.parse('2030-01-02T03:04:05.678Z') + 0.25)).toBe('2030-01-02T03:04:05.678250Z');
    expect(leasePath('a b', 'x')).toBe('/apis/coordination.k8s.io/v1/namespaces/a%20b/leases/x');
    const http = new KubeHttp(fake.kubeConfig());
    expect(() => new LeaderElector({ http, namespace: NS, name: 'l', identity: 'x', leaseDurationMs: 1000, renewDeadlineMs: 1000 })).toThrow(RangeError);
    expect(() => new LeaderElector({ http, namespace: NS, name: 'l', identity: 'x', renewDeadlineMs: 2000, retryPeriodMs: 2000 })).toThrow(RangeError);
    expect(() => new LeaderElector({ http, namespace: NS, name: 'l', identity: '' })).toThrow(RangeError);
  });

  it('a single elector creates the lease, leads and renews it', async () => {
    const a = elector('a');
    expect(a.elector.isLeader()).toBe(false);
    expect(a.elector.leader()).toBeUndefined();
    a.elector.start();
    await leading(a);

    const create = fake.requestsFor({ verb: 'create', resource: 'leases' });
    expect(create).toHaveLength(1);
    expect(create[0]).toMatchObject({ path: leasePath(NS), apiGroup: 'coordination.k8s.io', namespace: NS });
    expect(bodySpec(create[0])).toEqual({ holderIdentity: 'a', leaseDurationSeconds: LEASE_SECONDS, acquireTime: expect.stringMatching(MICRO_TIME), renewTime: expect.stringMatching(MICRO_TIME), leaseTransitions: 0 });
    expect(a.started).toBe(1);
    expect(a.newLeaders).toEqual(['a']);
    expect(a.elector.leader()).toBe('a');

    const first = spec()!;
    // renewals move renewTime and keep acquireTime and the transition count
    await waitFor(() => fake.requestsFor({ verb: 'update', name: leaseName }).length >= 3, { what: 'three renewals' });
    await waitFor(() => spec()!.renewTime !== first.renewTime, { what: 'renewTime to move' });
    expect(spec()).toMatchObject({ holderIdentity: 'a', acquireTime: first.acquireTime, leaseTransitions: 0, renewTime: expect.stringMatching(MICRO_TIME) });
    // the leader renews by writing over what it wrote last: no read per renewal
    expect(requestsOf('a').filter((r) => r.verb === 'get')).toHaveLength(1);
    expect(a.elector.isLeader()).toBe(true);
    expect(a.stopped).toBe(0);
  });

  it('two electors: exactly one leads at any moment, the other follows and reports it', async () => {
    const a = elector('a');
    const b = elector('b');
    const sampler = sampleLeaders([a, b]);
    a.elector.start();
    b.elector.start();
    const winner = await Promise.race([leading(a).then(() => a), leading(b).then(() => b)]);
    const loser = winner === a ? b : a;
    await following(loser, winner.id);
    // a good number of renewals (and follower reads) later, still the same single leader
    const base = requestsOf(winner.id).filter((r) => r.verb === 'update').length;
    await waitFor(() => requestsOf(winner.id).filter((r) => r.verb === 'update').length >= base + 10, { what: 'ten more renewals' });
    sampler.stop();

    expect(sampler.max()).toBe(1);
    expect(winner.elector.isLeader()).toBe(true);
    expect(loser.elector.isLeader()).toBe(false);
    expect(loser.started).toBe(0);
    expect(loser.newLeaders).toEqual([winner.id]);
    expect(loser.elector.leader()).toBe(winner.id);
    // a live lease is never written by the follower: it only reads
    expect(requestsOf(loser.id).filter((r) => r.verb === 'update')).toEqual([]);
    expect(requestsOf(loser.id).filter((r) => r.verb === 'get').length).toBeGreaterThan(3);
    expect(spec()).toMatchObject({ holderIdentity: winner.id, leaseTransitions: 0 });
  });

  it("stop() releases the lease and the follower takes it at its next attempt", async () => {
    const a = elector('a');
    const b = elector('b');
    a.elector.start();
    await leading(a);
    b.elector.start();
    await following(b, 'a');
    const transitions = spec()!.leaseTransitions!;

    await a.elector.stop();
    expect(a.elector.isLeader()).toBe(false);
    expect(a.stopped).toBe(1);
    // the release: a conditional update emptying the holder, with a 1 s duration and a fresh renewTime
    const releaseIndex = fake.requests.findIndex((r) => r.authorization === 'Bearer a' && r.verb === 'update' && bodySpec(r)?.holderIdentity === '');
    expect(releaseIndex).toBeGreaterThanOrEqual(0);
    const release = fake.requests[releaseIndex]!;
    expect(bodySpec(release)).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 1, renewTime: expect.stringMatching(MICRO_TIME), leaseTransitions: transitions });
    expect((release.body as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion).toMatch(/^\d+$/);
    expect(fake.requests.slice(releaseIndex + 1).filter((r) => r.authorization === 'Bearer a')).toEqual([]);

    await leading(b);
    // b's very first read after the release was followed by its takeover: no waiting out the lease
    const after = fake.requests.slice(releaseIndex + 1).filter((r) => r.authorization === 'Bearer b');
    expect(after.slice(0, 2).map((r) => r.verb)).toEqual(['get', 'update']);
    expect(bodySpec(after[1])).toMatchObject({ holderIdentity: 'b', leaseTransitions: transitions + 1 });
    expect(spec()).toMatchObject({ holderIdentity: 'b', leaseTransitions: transitions + 1, leaseDurationSeconds: LEASE_SECONDS });
    expect(b.newLeaders).toEqual(['a', 'b']);
    expect(b.started).toBe(1);
  });

  it('a leader that dies without releasing is replaced once the lease has gone unrenewed for its duration', async () => {
    const a = elector('a');
    const b = elector('b');
    a.elector.start();
    await leading(a);
    b.elector.start();
    await following(b, 'a');
    const transitions = spec()!.leaseTransitions!;

    await a.elector.stop({ release: false });
    expect(a.stopped).toBe(1);
    expect(spec()!.holderIdentity).toBe('a');
    await leading(b);

    const lastRenewal = Math.max(...requestsOf('a').filter((r) => r.verb === 'update').map((r) => r.at));
    const takeovers = requestsOf('b').filter((r) => r.verb === 'update');
    expect(takeovers).toHaveLength(1);
    // b saw the last renewal after it happened, then waited leaseDurationSeconds of its own clock
    expect(takeovers[0]!.at - lastRenewal).toBeGreaterThanOrEqual(LEASE_SECONDS * 1000 - 5);
    expect(spec()).toMatchObject({ holderIdentity: 'b', leaseTransitions: transitions + 1 });
    expect(b.newLeaders).toEqual(['a', 'b']);
  });

  it('a follower whose retry period is longer than what is left of the lease tries right when it expires, not a period later', async () => {
    // a dead holder's lease (1 s) and a follower that would otherwise wait 4 s between attempts
    fake.addObject({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: leaseName, namespace: NS },
      spec: { holderIdentity: 'ghost', leaseDurationSeconds: LEASE_SECONDS, renewTime: microTime(Date.now()), leaseTransitions: 1 },
    });
    const b = elector('slow', { leaseDurationMs: 10_000, renewDeadlineMs: 8000, retryPeriodMs: 4000, random: () => 0 });
    b.elector.start();
    await following(b, 'ghost');
    await b.elector.waitForLeadership(15_000);
    const mine = requestsOf('slow');
    const firstRead = mine.find((r) => r.verb === 'get')!;
    const takeover = mine.find((r) => r.verb === 'update')!;
    // the lease's second, not the 4 s period (a lower bound from the lease, an upper one below the period)
    expect(takeover.at - firstRead.at).toBeGreaterThanOrEqual(LEASE_SECONDS * 1000 - 5);
    expect(takeover.at - firstRead.at).toBeLessThan(4000);
  });

  it("judges expiry by its own clock only, never by the holder's timestamps", async () => {
    // a holder whose clock runs an hour ahead (renewTime in the future) and one of long ago look the same: each is
    // taken over leaseDurationSeconds after this replica last saw the record change
    for (const renewTime of [microTime(Date.now() + 3_600_000), '2000-01-01T00:00:00.000000Z']) {
      leaseName = `mesh-admission-leader-${++n}`;
      fake.addObject({
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: leaseName, namespace: NS },
        spec: { holderIdentity: 'ghost', leaseDurationSeconds: LEASE_SECONDS, acquireTime: renewTime, renewTime, leaseTransitions: 4 },
      });
      const id = `b${n}`;
      const b = elector(id);
      b.elector.start();
      await following(b, 'ghost');
      await leading(b);
      const mine = requestsOf(id).filter((r) => r.name === leaseName);
      const firstRead = mine.find((r) => r.verb === 'get')!;
      const takeover = mine.find((r) => r.verb === 'update')!;
      expect(takeover.at - firstRead.at).toBeGreaterThanOrEqual(LEASE_SECONDS * 1000 - 5);
      expect(spec()).toMatchObject({ holderIdentity: id, leaseTransitions: 5 });
    }
  });

  it('a leader whose renewals fail for renewDeadline steps down before the lease could expire, then leads again', async () => {
    const a = elector('a');
    a.elector.start();
    await leading(a);
    await waitFor(() => requestsOf('a').filter((r) => r.verb === 'update').length >= 2, { what: 'a renewal' });

    const injectedAt = fake.requests.length;
    fake.failRequests({ count: 1_000_000, verb: 'update', resource: 'leases', status: 500 });
    await waitFor(() => a.stopped === 1, { what: 'onStoppedLeading' });
    expect(a.elector.isLeader()).toBe(false);
    const lastSuccess = fake.requests.slice(0, injectedAt).filter((r) => r.authorization === 'Bearer a' && r.verb === 'update').at(-1)!;
    const failed = fake.requests.slice(injectedAt).filter((r) => r.authorization === 'Bearer a' && r.verb === 'update');
    expect(failed.length).toBeGreaterThanOrEqual(2);
    // it kept trying until the deadline, and gave up before any follower would take the lease
    expect(a.stoppedAt - lastSuccess.at).toBeGreaterThanOrEqual(RENEW_MS - 20);
    expect(a.stoppedAt - lastSuccess.at).toBeLessThan(LEASE_SECONDS * 1000);
    expect(a.logs.some((l) => l.level === 40 && l.msg.includes('renewing the lease failed'))).toBe(true);
    expect(a.logs.some((l) => l.level === 40 && l.msg.includes('stopped leading'))).toBe(true);

    // the lease still names it, so once the API server accepts writes again it simply renews
    fake.clearFailures();
    await waitFor(() => a.started === 2, { what: 'leading again' });
    expect(a.elector.isLeader()).toBe(true);
    expect(spec()).toMatchObject({ holderIdentity: 'a', leaseTransitions: 0 });
  });

  it('a leader that finds the lease taken steps down at once and follows the new holder', async () => {
    const a = elector('a');
    a.elector.start();
    await leading(a);
    fake.modifyObject('coordination.k8s.io/v1', 'Lease', NS, leaseName, (o) => {
      (o.spec as LeaseSpec).holderIdentity = 'intruder';
    });
    await waitFor(() => a.stopped === 1, { what: 'onStoppedLeading' });
    expect(a.elector.isLeader()).toBe(false);
    expect(a.elector.leader()).toBe('intruder');
    expect(a.newLeaders).toEqual(['a', 'intruder']);
    // long before the renew deadline: one failed renewal and one read
    expect(a.logs.some((l) => l.msg.includes('stopped leading'))).toBe(true);
    expect(spec()!.holderIdentity).toBe('intruder');
  });

  it('create race: both find no lease, one create gets 409 and that elector follows the winner', async () => {
    // with every answer delayed, both reads are answered 404 before either create arrives
    fake.setLatency(30);
    const a = elector('a');
    const b = elector('b');
    const sampler = sampleLeaders([a, b]);
    a.elector.start();
    b.elector.start();
    const winner = await Promise.race([leading(a).then(() => a), leading(b).then(() => b)]);
    const loser = winner === a ? b : a;
    await following(loser, winner.id);
    sampler.stop();

    const creates = fake.requestsFor({ verb: 'create', resource: 'leases' });
    expect(creates.map((r) => r.authorization).sort()).toEqual(['Bearer a', 'Bearer b']);
    expect(sampler.max()).toBe(1);
    expect(loser.started).toBe(0);
    expect(loser.newLeaders).toEqual([winner.id]);
    // the loser read the lease again right after its create failed
    const loserRequests = requestsOf(loser.id);
    const createAt = loserRequests.findIndex((r) => r.verb === 'create');
    expect(loserRequests[createAt + 1]?.verb).toBe('get');
    expect(spec()).toMatchObject({ holderIdentity: winner.id, leaseTransitions: 0 });
  });

  it('works under exactly its RBAC: get and update on its lease by name, create on leases', async () => {
    const rules: PolicyRule[] = [
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: [leaseName], verbs: ['get', 'update'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
    ];
    expect(leaderElectionRules(leaseName)).toEqual(rules);
    fake.authorize({ clusterRules: [], namespaceRules: { [NS]: rules } });

    const a = elector('a');
    const b = elector('b');
    a.elector.start();
    b.elector.start();
    const winner = await Promise.race([leading(a).then(() => a), leading(b).then(() => b)]);
    const loser = winner === a ? b : a;
    await following(loser, winner.id);
    await winner.elector.stop();
    await leading(loser);
    await loser.elector.stop();

    expect(fake.requestsFor({ verb: 'create' }).length).toBeGreaterThanOrEqual(1);
    expect(fake.requestsFor({ verb: 'update' }).length).toBeGreaterThanOrEqual(3);
    expect(fake.requestsFor({ allowed: false })).toEqual([]);
    expect(new Set(fake.requests.map((r) => r.verb))).toEqual(new Set(['get', 'create', 'update']));
    expect(spec()!.holderIdentity).toBe('');
  });

  it.each(['get', 'update', 'create'])('needs every one of those rules: without %s it is refused (403) and keeps going', async (verb) => {
    const rules = leaderElectionRules(leaseName).map((r) => ({ ...r, verbs: r.verbs.filter((v) => v !== verb) })).filter((r) => r.verbs.length > 0);
    fake.authorize({ clusterRules: [], namespaceRules: { [NS]: rules } });
    const a = elector('a');
    a.elector.start();
    await waitFor(() => fake.requestsFor({ verb, allowed: false }).length >= 2, { what: `two refused ${verb} requests` });
    // without update the create still makes it leader, but only until its renew deadline
    if (verb === 'update') await waitFor(() => a.stopped === 1, { what: 'stepping down' });
    expect(a.elector.isLeader()).toBe(false);
    expect(a.logs.some((l) => l.level === 40 && /403/.test(JSON.stringify(l)))).toBe(true);
  });

  it('survives API server restarts: a short one keeps the leader, a long one moves leadership safely', async () => {
    const a = elector('a');
    const b = elector('b');
    const sampler = sampleLeaders([a, b]);
    a.elector.start();
    await leading(a);
    b.elector.start();
    await following(b, 'a');

    // down for less than the renew deadline: the leader's retries carry it through
    await fake.restart({ downMs: 100 });
    let mark = fake.requests.length;
    await waitFor(() => fake.requests.slice(mark).filter((r) => r.authorization === 'Bearer a' && r.verb === 'update').length >= 2, { what: 'renewals after the restart' });
    await waitFor(() => fake.requests.slice(mark).some((r) => r.authorization === 'Bearer b' && r.verb === 'get'), { what: 'the follower reading again' });
    expect(a.elector.isLeader()).toBe(true);
    expect(b.elector.leader()).toBe('a');

    // down for longer than the renew deadline: the leader steps down in time, then someone leads again
    await fake.restart({ downMs: RENEW_MS + 300 });
    expect(a.stopped + b.stopped).toBeGreaterThanOrEqual(1);
    mark = fake.requests.length;
    await waitFor(() => a.elector.isLeader() || b.elector.isLeader(), { timeoutMs: 10_000, what: 'a leader after the long restart' });
    await waitFor(() => fake.requests.slice(mark).filter((r) => r.verb === 'update').length >= 3, { what: 'renewals after the long restart' });
    sampler.stop();
    expect(sampler.max()).toBe(1);
    const holder = spec()!.holderIdentity!;
    expect([a, b].find((t) => t.elector.isLeader())?.id).toBe(holder);
  });

  it('stop() is prompt: it cuts an in-flight request short and nothing is sent afterwards', async () => {
    fake.setLatency(30_000);
    const connections = fake.connectionCount();
    const a = elector('a');
    a.elector.start();
    await waitFor(() => fake.connectionCount() > connections, { what: 'the first read on the wire' });
    const waiting = a.elector.waitForLeadership(60_000);
    const t0 = Date.now();
    await a.elector.stop();
    expect(Date.now() - t0).toBeLessThan(1000);
    await expect(waiting).rejects.toThrow(/stopped/);
    fake.setLatency(0);
    await quietPeriod(200);
    expect(requestsOf('a')).toEqual([]);
    expect(a.started).toBe(0);
  });
});
