// Bootstrap Secrets created from the pod watch: once per pending injected pod, owned by the pod,
// with the content admission planned, only by the responsible replica; retries that never give up on a pod that can
// still start, one Warning Event per distinct reason, a quota change retrying at once, 409 as "exists".
import { X509Certificate } from 'node:crypto';
import fastJsonPatch from 'fast-json-patch';
import pino from 'pino';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BootstrapIssuer } from '../../src/certs/bootstrap-issuer.js';
import { createMeshCA } from '../../src/certs/mesh-ca.js';
import { MemoryView } from '../../src/cluster/memory.js';
import { injectPod } from '../../src/injector/inject.js';
import { BootstrapSecretController, BOOTSTRAP_FAILED_REASON, type BootstrapSecretsOptions } from '../../src/controllers/bootstrap-secrets.js';
import { KubeHttp } from '../../src/kube/http.js';
import { meshIdentity } from '../../src/mesh/flavor.js';
import type { KubeObject } from '../../src/mesh/objects.js';
import { meshConfigObject, namespace, pod } from '../injector/helpers.js';
import { FakeApiServer, waitFor, type Obj } from '../support/fake-apiserver.js';
import { quietPeriod } from '../support/wait.js';

const mesh = meshIdentity('fsm');
const ca = await createMeshCA(mesh.flavor, new Date());
const injector = { mesh, sidecarMode: 'classic' as const };
const view = new MemoryView([namespace('apps'), meshConfigObject(mesh, { repoServer: { port: 6161 }, sidecar: { tlsMinProtocolVersion: 'TLSv1_3' } })]);
const unb64 = (s: unknown): string => Buffer.from(String(s), 'base64').toString('utf8');

let seq = 0;
/** A pod as the API server stores it after our admission: the patch applied, a name and a uid given, Pending. */
function admitted(p: KubeObject = pod(), phase: string | undefined = 'Pending'): Obj {
  const uuid = `00000000-0000-4000-8000-${String(++seq).padStart(12, '0')}`;
  const plan = injectPod({ pod: p, namespace: 'apps', uuid }, view, injector);
  if (!('patch' in plan)) throw new Error(`not injected: ${plan.message}`);
  const stored = fastJsonPatch.applyPatch(structuredClone(p), structuredClone(plan.patch), true, false).newDocument as Obj;
  stored.metadata = { ...stored.metadata, name: `web-${seq}`, namespace: 'apps' };
  if (phase) (stored as Record<string, unknown>).status = { phase };
  return stored;
}

describe('BootstrapSecretController', () => {
  let api: FakeApiServer;
  let http: KubeHttp;
  let issuer: BootstrapIssuer;
  const running: BootstrapSecretController[] = [];
  const counts = { created: [] as number[], exists: 0, failed: [] as string[] };

  beforeAll(() => {
    issuer = new BootstrapIssuer(ca, { ecPool: false });
    return () => issuer.close();
  });

  const start = async (extra: Partial<BootstrapSecretsOptions> = {}): Promise<BootstrapSecretController> => {
    api = await FakeApiServer.start({ garbageCollect: true });
    http = new KubeHttp(api.kubeConfig());
    counts.created = [];
    counts.exists = 0;
    counts.failed = [];
    const c = new BootstrapSecretController({
      http,
      view,
      injector,
      issuer,
      logger: pino({ level: 'silent' }),
      retry: { initialMs: 10, maxMs: 40 },
      onCreated: (s) => counts.created.push(s),
      onExists: () => counts.exists++,
      onFailed: (r) => counts.failed.push(r),
      ...extra,
    });
    running.push(c);
    c.start();
    return c;
  };

  afterEach(async () => {
    await Promise.all(running.splice(0).map((c) => c.stop()));
    http?.close();
    await api?.close();
  });

  const secretOf = (p: Obj): Obj | undefined => api.getObject('v1', 'Secret', 'apps', `sidecar-bootstrap-config-${p.metadata!.labels!['fsm-proxy-uuid']}`);

  it('creates the Secret of a pending injected pod once, owned by the pod, with what admission planned', async () => {
    await start();
    const withProbe = pod({ spec: { containers: [{ name: 'app', image: 'nginx', ports: [{ name: 'http', containerPort: 8080 }], readinessProbe: { httpGet: { path: '/ready', port: 'http' }, timeoutSeconds: 3 } }] } });
    const stored = api.addObject(admitted(withProbe));
    const secret = await waitFor(() => secretOf(stored), { what: 'the bootstrap Secret' });
    const uid = stored.metadata!.uid as string;
    expect(secret.metadata?.ownerReferences).toEqual([{ apiVersion: 'v1', kind: 'Pod', name: stored.metadata!.name, uid, controller: false, blockOwnerDeletion: false }]);
    expect(secret.metadata?.labels).toEqual({ 'app.kubernetes.io/name': 'flomesh.io', 'app.kubernetes.io/instance': 'fsm', 'fsm-proxy-uuid': stored.metadata!.labels!['fsm-proxy-uuid'] });
    const data = secret.data as Record<string, string>;
    const config = JSON.parse(unb64(data['bootstrap.yaml'])) as { RepoPort: number; NodeID: string; TLSMinProtocolVersion: string; OriginalHealthProbes: { Readiness: unknown } };
    // from the MeshConfig in the view, and the readiness probe read back from its rewritten form
    expect(config.RepoPort).toBe(6161);
    expect(config.TLSMinProtocolVersion).toBe('TLSv1_3');
    expect(config.OriginalHealthProbes.Readiness).toEqual({ Path: '/ready', Port: 8080, Timeout: 3_000_000_000, IsHTTP: true, IsTCPSocket: false });
    const leaf = new X509Certificate(unb64(data['repo_cert.pem']));
    expect(leaf.verify(new X509Certificate(ca.cert).publicKey)).toBe(true);
    expect(leaf.subject).toContain(`CN=${config.NodeID}`);
    await waitFor(() => counts.created.length === 1, { what: 'the creation to be counted' });
    // one create, and only for this pod; the answer is asked as metadata only (the key does not travel back)
    expect(api.requestsFor({ verb: 'create', resource: 'secrets' }).map((r) => r.accept)).toEqual(['application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1']);
    // Kubernetes deletes the Secret with its pod
    api.deleteObject('v1', 'Pod', 'apps', stored.metadata!.name!);
    await waitFor(() => secretOf(stored) === undefined, { what: 'garbage collection' });
  });

  it('leaves running pods, pods being deleted, pods another injector injected and pods without a bootstrap volume of this mesh alone', async () => {
    const c = await start();
    const running_ = api.addObject(admitted(pod(), 'Running'));
    const deleting = admitted();
    deleting.metadata = { ...deleting.metadata, deletionTimestamp: new Date().toISOString() };
    api.addObject(deleting);
    const foreign = admitted();
    (foreign.spec as { volumes: Array<{ name: string; secret?: { secretName: string } }> }).volumes.find((v) => v.name === 'sidecar-bootstrap-config-volume')!.secret!.secretName = 'someone-elses';
    api.addObject(foreign);
    // injected by the mesh's own injector (which made its Secret itself), and by another mesh's server
    const byMesh = admitted();
    delete byMesh.metadata!.labels!['mesh-admission.io/mesh'];
    api.addObject(byMesh);
    const byOtherMesh = admitted();
    byOtherMesh.metadata!.labels!['mesh-admission.io/mesh'] = 'fsm-2';
    api.addObject(byOtherMesh);
    const marker = api.addObject(admitted());
    await waitFor(() => secretOf(marker), { what: 'the marker pod\'s Secret (the others came first)' });
    expect(secretOf(running_)).toBeUndefined();
    expect(api.requestsFor({ verb: 'create', resource: 'secrets' })).toHaveLength(1);
    // the watch asks the API server for this server's pods of this mesh only: the others are never even listed
    expect(api.requestsFor({ verb: 'list', resource: 'pods' }).map((r) => r.query.labelSelector)).toEqual(['fsm-proxy-uuid,mesh-admission.io/mesh=fsm']);
    await waitFor(() => c.pendingCount() === 0, { what: 'nothing left pending' });
  });

  it('a replica that is not responsible only remembers; it creates when it becomes responsible', async () => {
    let responsible = false;
    const c = await start({ responsible: () => responsible });
    const a = api.addObject(admitted());
    await waitFor(() => c.pendingCount() === 1, { what: 'the pod to be remembered' });
    expect(api.requestsFor({ verb: 'create', resource: 'secrets' })).toHaveLength(0);
    responsible = true;
    c.resume();
    await waitFor(() => secretOf(a), { what: 'the Secret after taking over' });
  });

  it('a 409 means the Secret exists (another replica made it): done, counted, not retried', async () => {
    const c = await start();
    const a = admitted();
    api.addObject({ apiVersion: 'v1', kind: 'Secret', metadata: { name: `sidecar-bootstrap-config-${a.metadata!.labels!['fsm-proxy-uuid']}`, namespace: 'apps' }, data: {} });
    api.addObject(a);
    await waitFor(() => counts.exists === 1, { what: 'the 409 to be counted' });
    expect(api.requestsFor({ verb: 'create', resource: 'secrets' })).toHaveLength(1);
    expect(counts.created).toEqual([]);
    expect(c.pendingCount()).toBe(0);
  });

  const eventsOf = (p: Obj): Obj[] => api.listObjects('v1', 'Event', 'apps').filter((e) => (e.involvedObject as { uid?: string }).uid === p.metadata!.uid);

  it('retries a failing create until it works, whatever the status, with one Warning Event per distinct reason', async () => {
    const c = await start();
    api.failRequests({ count: 3, verb: 'create', resource: 'secrets', status: 403, message: 'secrets is forbidden: exceeded quota: q, requested: count/secrets=1, used: count/secrets=7, limited: count/secrets=7' });
    api.failRequests({ count: 2, verb: 'create', resource: 'secrets', status: 500, message: 'etcd is unhappy' });
    const p = api.addObject(admitted());
    await waitFor(() => secretOf(p), { what: 'the Secret after five failures' });
    expect(api.requestsFor({ verb: 'create', resource: 'secrets' })).toHaveLength(6);
    expect(counts.failed).toEqual(['403', '403', '403', '500', '500']);
    const events = eventsOf(p);
    expect(events.map((e) => [e.type, e.reason])).toEqual([
      ['Warning', BOOTSTRAP_FAILED_REASON],
      ['Warning', BOOTSTRAP_FAILED_REASON],
    ]);
    const name = `sidecar-bootstrap-config-${p.metadata!.labels!['fsm-proxy-uuid']}`;
    expect(events.map((e) => e.message)).toEqual([
      `bootstrap Secret ${name} could not be created: POST /api/v1/namespaces/apps/secrets: 403 secrets is forbidden: exceeded quota: q, requested: count/secrets=1, used: count/secrets=7, limited: count/secrets=7; retrying until it can be (the sidecar cannot start without it)`,
      `bootstrap Secret ${name} could not be created: POST /api/v1/namespaces/apps/secrets: 500 etcd is unhappy; retrying until it can be (the sidecar cannot start without it)`,
    ]);
    await waitFor(() => c.waitingCount() === 0, { what: 'nothing waiting' });
  });

  it('issues the certificate once per pod, not once per attempt', async () => {
    let issued = 0;
    const counting = { issue: (req: Parameters<BootstrapIssuer['issue']>[0]) => (issued++, issuer.issue(req)) } as unknown as BootstrapIssuer;
    await start({ issuer: counting });
    api.failRequests({ count: 3, verb: 'create', resource: 'secrets', status: 503 });
    const p = api.addObject(admitted());
    await waitFor(() => secretOf(p), { what: 'the Secret' });
    expect(api.requestsFor({ verb: 'create', resource: 'secrets' })).toHaveLength(4);
    expect(issued).toBe(1);
  });

  it('counts the pods it is trying to create a Secret for; a replica that is not responsible counts none', async () => {
    let responsible = false;
    const c = await start({ responsible: () => responsible });
    api.failRequests({ count: 1000, verb: 'create', resource: 'secrets', status: 403 });
    api.addObject(admitted());
    api.addObject(admitted());
    await waitFor(() => c.pendingCount() === 2, { what: 'the pods to be remembered' });
    expect(c.waitingCount()).toBe(0);
    responsible = true;
    c.resume();
    await waitFor(() => counts.failed.length >= 2, { what: 'two refusals' });
    expect(c.waitingCount()).toBe(2);
    api.clearFailures();
    await waitFor(() => c.waitingCount() === 0, { timeoutMs: 30_000, what: 'both created' });
  });

  it('stops retrying a pod that goes away or no longer waits (running, being deleted)', async () => {
    const c = await start();
    api.failRequests({ count: 100_000, verb: 'create', resource: 'secrets', status: 403 });
    const gone = api.addObject(admitted());
    const running_ = api.addObject(admitted());
    const deleting = api.addObject(admitted());
    await waitFor(() => counts.failed.length >= 6, { what: 'a few refusals of each' });
    api.deleteObject('v1', 'Pod', 'apps', gone.metadata!.name!);
    api.modifyObject('v1', 'Pod', 'apps', running_.metadata!.name!, (o) => void (o.status = { phase: 'Running' }));
    api.modifyObject('v1', 'Pod', 'apps', deleting.metadata!.name!, (o) => void (o.metadata!.deletionTimestamp = new Date().toISOString()));
    await waitFor(() => c.pendingCount() === 0 && c.waitingCount() === 0, { what: 'every pod forgotten' });
    const creates = api.requestsFor({ verb: 'create', resource: 'secrets' }).length;
    // the retry timers are gone: nothing more is attempted (the backoff here is at most 40 ms)
    await quietPeriod(300);
    expect(api.requestsFor({ verb: 'create', resource: 'secrets' })).toHaveLength(creates);
  });

  it('a ResourceQuota change in the namespace retries its waiting pods at once, whatever the backoff', async () => {
    const c = await start({ retry: { initialMs: 600_000, maxMs: 600_000 } });
    const quota = api.addObject({ apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'no-secrets', namespace: 'apps' }, spec: { hard: { 'count/secrets': '0' } } });
    const p = api.addObject(admitted());
    const [event] = await waitFor(() => (eventsOf(p).length > 0 ? eventsOf(p) : undefined), { what: 'the refusal reported' });
    expect(event?.message).toBe(
      `bootstrap Secret sidecar-bootstrap-config-${p.metadata!.labels!['fsm-proxy-uuid']} could not be created: POST /api/v1/namespaces/apps/secrets: 403 secrets "sidecar-bootstrap-config-${p.metadata!.labels!['fsm-proxy-uuid']}" is forbidden: exceeded quota: no-secrets, requested: count/secrets=1, used: count/secrets=0, limited: count/secrets=0; retrying until it can be (the sidecar cannot start without it)`,
    );
    expect(c.waitingCount()).toBe(1);
    api.modifyObject('v1', 'ResourceQuota', 'apps', quota.metadata!.name!, (o) => void (o.spec = { hard: { 'count/secrets': '10' } }));
    await waitFor(() => secretOf(p), { what: 'the Secret right after the quota was raised' });
    expect(api.requestsFor({ verb: 'create', resource: 'secrets' })).toHaveLength(2);
  });

  it('a ResourceQuota change starts the backoff over: a retry that still meets the old quota comes back soon', async () => {
    // the API server's quota admission reads its own cache, which can lag the watch that told us of the change
    const logged: { msg?: string; attempt?: number; retryInMs?: number }[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void logged.push(JSON.parse(line)) });
    // steep growth: after three refusals the next try is 50 s away, so no timer can beat the quota's watch event
    const c = await start({ logger, retry: { initialMs: 10, maxMs: 600_000, factor: 100 }, random: () => 0 });
    const quota = api.addObject({ apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'no-secrets', namespace: 'apps' }, spec: { hard: { 'count/secrets': '0' } } });
    const p = api.addObject(admitted());
    const refusals = (): typeof logged => logged.filter((l) => l.attempt !== undefined);
    await waitFor(() => refusals().length >= 3, { what: 'three refusals' });
    expect(refusals().slice(0, 3).map((l) => l.retryInMs)).toEqual([5, 500, 50_000]);
    const before = refusals().length;
    api.failRequests({ count: 1, verb: 'create', resource: 'secrets', status: 403, message: 'secrets is forbidden: exceeded quota: no-secrets' });
    api.modifyObject('v1', 'ResourceQuota', 'apps', quota.metadata!.name!, (o) => void (o.spec = { hard: { 'count/secrets': '10' } }));
    await waitFor(() => secretOf(p), { what: 'the Secret after the quota was raised' });
    // every refusal after the change counts from the start again (without the reset: attempt 4 and 300 s)
    const after = refusals().slice(before);
    expect(after.length).toBeGreaterThan(0);
    expect(after[0]).toMatchObject({ attempt: 1, retryInMs: 5 });
    expect(c.waitingCount()).toBe(0);
  });
});
