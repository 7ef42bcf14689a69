// An API server restart in the middle of a run: every watch breaks and is answered 410 when it resumes, lists fail while
// the API server is down. The server's view is fresh again within 5 s of the API server being ready, and meanwhile no
// reference is admitted against the stale cache: a GlobalTrafficPolicy naming a Cluster deleted right after the restart
// is denied, one naming a Cluster created right after it is admitted. The API server's audit log shows where the
// lists were read from: the watch cache (resourceVersion=0) at start, etcd (no resourceVersion) after the 410s and
// for the reads that must not rest on stale state.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeApiServer, statusMessage, TestCluster, waitFor, type Obj, type ServerProcess } from './harness.js';

const SERVER_USER = 'system:serviceaccount:fsm-system:mesh-admission';
let cluster: TestCluster;

/** The server's collection lists (the view's, the pod watch's, the quota watch's) in the audit log, by read: cache or etcd. */
function lists(): { cache: string[]; etcd: string[] } {
  const out = { cache: [] as string[], etcd: [] as string[] };
  for (const e of cluster.cp.auditEvents()) {
    if (e.user.username !== SERVER_USER || e.verb !== 'list') continue;
    const url = new URL(e.requestURI, 'https://x');
    (url.searchParams.get('resourceVersion') === '0' ? out.cache : out.etcd).push(url.pathname);
  }
  return out;
}
let server: ServerProcess;

const clusterObj = (name: string): Obj => ({ apiVersion: 'multicluster.flomesh.io/v1alpha1', kind: 'Cluster', metadata: { name }, spec: { gatewayHost: '192.168.1.110', gatewayPort: 80, fsmMeshConfigName: 'fsm-system', kubeconfig: 'apiVersion: v1\nkind: Config\n' } });
const gtp = (name: string, key: string): Obj => ({
  apiVersion: 'multicluster.flomesh.io/v1alpha1',
  kind: 'GlobalTrafficPolicy',
  metadata: { name, namespace: 'httpbin' },
  spec: { lbType: 'FailOver', targets: [{ clusterKey: `default/default/default/${key}` }] },
});

/** Epoch seconds since which each kind's cache has followed the API server (0 while it does not). */
async function syncedSince(): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const m of (await server.metrics()).matchAll(/^mesh_informer_synced_since_timestamp_seconds\{kind="([^"]+)"\} (\S+)$/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

describeApiServer('an API server restart', () => {
  beforeAll(async () => {
    cluster = await TestCluster.start({ auditPolicy: { apiVersion: 'audit.k8s.io/v1', kind: 'Policy', omitStages: ['RequestReceived'], rules: [{ level: 'Metadata', users: [SERVER_USER], verbs: ['list'] }, { level: 'None' }] } });
    await cluster.meshNamespace('httpbin');
    for (const name of ['cluster-1', 'cluster-2']) await cluster.admin.create(clusterObj(name));
    server = await cluster.startServer(await cluster.serviceAccountKubeConfig());
    await cluster.registerWebhooks(server.url);
    await cluster.waitForCaBundle();
    await waitFor(async () => (await server.readyz()).status === 200, { timeoutMs: 60_000, what: 'the server to be ready' });
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('leaves the view fresh within 5 s and admits no reference unverified meanwhile', async () => {
    // at start, before any admission could ask for a consistent read, every list came from the watch cache
    const atStart = lists();
    expect(atStart.etcd).toEqual([]);
    expect((await cluster.admin.tryCreate(gtp('before', 'cluster-2'))).status).toBe(201);
    expect(atStart.cache).toContain('/apis/multicluster.flomesh.io/v1alpha1/clusters');
    expect(atStart.cache).toContain('/api/v1/pods');
    const kinds = [...(await syncedSince()).keys()];
    expect(kinds).toContain('Cluster');

    await cluster.cp.stopApiServer();
    const stoppedAt = Date.now();
    await cluster.cp.startApiServer();
    const readyAt = Date.now();
    // at once, before the server's watches have come back: a Cluster goes away, another comes
    expect(await cluster.admin.delete('/apis/multicluster.flomesh.io/v1alpha1/clusters/cluster-2')).toBe(200);
    await cluster.admin.create(clusterObj('cluster-3'));
    const stale = await cluster.admin.tryCreate(gtp('gone', 'cluster-2'));
    const fresh = await cluster.admin.tryCreate(gtp('new', 'cluster-3'));

    expect([stale.status, statusMessage(stale.body)]).toEqual([
      422,
      'admission webhook "validate.flomesh.io" denied the request: GlobalTrafficPolicy "gone" is invalid: spec.targets[0].clusterKey: no Cluster has the key default/default/default/cluster-2 (known Cluster keys: default/default/default/cluster-1, default/default/default/cluster-3); traffic for this target would be dropped',
    ]);
    expect(fresh.status).toBe(201);

    // every kind's cache follows the API server again (synced since the API server came back), within 5 s of /readyz
    await waitFor(async () => [...(await syncedSince()).values()].every((since) => since * 1000 >= stoppedAt), { timeoutMs: 30_000, intervalMs: 50, what: 'every kind re-synced' });
    const resynced = Math.max(...(await syncedSince()).values()) * 1000;
    expect(resynced - readyAt).toBeLessThan(5000);
    expect([...(await syncedSince()).keys()].sort()).toEqual(kinds.sort());
    expect((await server.readyz()).status).toBe(200);
    // after the restart the watches were answered 410: those relists read etcd, none came from the cache again
    const after = lists();
    expect(after.cache.sort()).toEqual(atStart.cache.sort());
    expect(after.etcd).toContain('/apis/multicluster.flomesh.io/v1alpha1/clusters');
  });
});
