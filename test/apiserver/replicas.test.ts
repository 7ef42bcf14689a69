// Two replicas through a real API server, counted by its audit log: each injected pod's bootstrap Secret is created by
// exactly one request (the Lease holder's), none is refused or duplicated; when the holder is SIGKILLed (no release),
// the survivor takes the Lease over once it expires and creates the Secrets of the pods admitted meanwhile, within 20 s
// of the kill. At takeover it also tries the pods that were still Pending (here all of them: there is no kubelet);
// their Secrets exist, so those tries are answered 409 and nothing is created twice.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeApiServer, TestCluster, waitFor, type AuditEvent, type ServerProcess } from './harness.js';

const SERVER_USER = 'system:serviceaccount:fsm-system:mesh-admission';
let cluster: TestCluster;
let leader: ServerProcess;
let follower: ServerProcess;

const secretCreates = (): AuditEvent[] => cluster.cp.auditEvents().filter((e) => e.user.username === SERVER_USER && e.verb === 'create' && e.objectRef?.resource === 'secrets' && e.objectRef.namespace === 'apps');

async function createPods(prefix: string, n: number): Promise<string[]> {
  const uuids: string[] = [];
  await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const pod = await cluster.admin.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `${prefix}-${i}`, namespace: 'apps' }, spec: { containers: [{ name: 'app', image: 'busybox:1.36' }] } });
      uuids.push(pod.metadata!.labels!['fsm-proxy-uuid']!);
    }),
  );
  return uuids;
}

const allSecrets = async (uuids: readonly string[]): Promise<boolean> => {
  const names = new Set((await cluster.admin.list('/api/v1/namespaces/apps/secrets')).map((s) => s.metadata?.name));
  return uuids.every((u) => names.has(`sidecar-bootstrap-config-${u}`));
};

describeApiServer('two replicas', () => {
  beforeAll(async () => {
    cluster = await TestCluster.start({ auditPolicy: { apiVersion: 'audit.k8s.io/v1', kind: 'Policy', omitStages: ['RequestReceived'], rules: [{ level: 'Metadata', users: [SERVER_USER] }, { level: 'None' }] } });
    await cluster.meshNamespace('apps');
    const kubeconfig = await cluster.serviceAccountKubeConfig();
    leader = await cluster.startServer(kubeconfig);
    await waitFor(() => leader.out.includes('started leading'), { timeoutMs: 30_000, what: 'the first replica to lead' });
    follower = await cluster.startServer(kubeconfig);
    // the API server calls the follower: admission and Secret creation happen in different replicas
    await cluster.registerWebhooks(follower.url);
    await cluster.waitForCaBundle();
    await waitFor(async () => (await follower.readyz()).status === 200, { timeoutMs: 60_000, what: 'the follower to be ready' });
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('create each Secret once: one request per pod, none refused', async () => {
    const uuids = await createPods('web', 40);
    await waitFor(() => allSecrets(uuids), { timeoutMs: 60_000, intervalMs: 200, what: 'every Secret' });
    const creates = secretCreates();
    expect(creates.map((e) => e.responseStatus?.code)).toEqual(uuids.map(() => 201));
    expect(new Set(creates.map((e) => e.objectRef?.name)).size).toBe(40);
    expect(follower.out).not.toContain('started leading');
  });

  it('the survivor takes over within 20 s of the leader\'s SIGKILL', async () => {
    leader.kill('SIGKILL');
    const killedAt = Date.now();
    await leader.whenExited();
    const before = secretCreates().length;
    const uuids = await createPods('late', 10);
    await waitFor(() => allSecrets(uuids), { timeoutMs: 40_000, intervalMs: 200, what: 'the survivor to create the Secrets' });
    expect(Date.now() - killedAt).toBeLessThan(20_000);
    await waitFor(() => follower.out.includes('started leading'), { what: 'the follower to log that it leads' });
    const late = new Set(uuids.map((u) => `sidecar-bootstrap-config-${u}`));
    const after = secretCreates().slice(before);
    // the new pods: one create each
    expect(after.filter((e) => late.has(e.objectRef?.name ?? '')).map((e) => e.responseStatus?.code)).toEqual(uuids.map(() => 201));
    // the pods handled before the kill that were still Pending: tried again, refused as existing, never created twice
    const retried = after.filter((e) => !late.has(e.objectRef?.name ?? ''));
    expect(new Set(retried.map((e) => e.responseStatus?.code))).toEqual(new Set(retried.length ? [409] : []));
    expect(secretCreates().filter((e) => e.responseStatus?.code === 201)).toHaveLength(50);
  });
});
