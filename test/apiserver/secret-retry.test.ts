// A bootstrap Secret refused by a ResourceQuota (403 "exceeded quota") is not given up on: the pod stays Pending
// waiting for its volume, so the server keeps trying (capped backoff), reports the reason once with a Warning Event,
// counts the pod as waiting, and creates the Secret as soon as the quota is lifted (its watch on ResourceQuotas
// retries the namespace at once, well before the next backoff step).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeApiServer, plainPod, TestCluster, waitFor, type Obj, type ServerProcess } from './harness.js';

let cluster: TestCluster;
let server: ServerProcess;

const QUOTA_PATH = '/api/v1/namespaces/quota/resourcequotas/no-secrets';
const waitingGauge = async (): Promise<number | undefined> => {
  const m = /^mesh_bootstrap_secrets_waiting (\d+)$/m.exec(await server.metrics());
  return m ? Number(m[1]) : undefined;
};

describeApiServer('a bootstrap Secret refused by a quota', () => {
  beforeAll(async () => {
    cluster = await TestCluster.start();
    await cluster.meshNamespace('quota');
    await cluster.admin.create({ apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'no-secrets', namespace: 'quota' }, spec: { hard: { 'count/secrets': '0' } } });
    // quota admission refuses everything with "status unknown" until the quota controller has computed the status
    await waitFor(async () => ((await cluster.admin.get(QUOTA_PATH))?.status as { hard?: unknown } | undefined)?.hard, { what: 'the quota status' });
    server = await cluster.startServer(await cluster.serviceAccountKubeConfig());
    await cluster.registerWebhooks(server.url);
    await cluster.waitForCaBundle();
    await waitFor(async () => (await server.readyz()).status === 200, { timeoutMs: 60_000, what: 'the server to be ready' });
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('is retried while the quota holds, reported once, and created within 10 s of the quota being lifted', async () => {
    const pod = await cluster.admin.create(plainPod('quota', 'held'));
    const uuid = pod.metadata?.labels?.['fsm-proxy-uuid'];
    const secretPath = `/api/v1/namespaces/quota/secrets/sidecar-bootstrap-config-${uuid}`;
    const events = async (): Promise<Obj[]> => (await cluster.admin.list('/api/v1/namespaces/quota/events')).filter((e) => e.reason === 'BootstrapSecretFailed');
    const [event] = await waitFor(async () => ((await events()).length > 0 ? events() : undefined), { what: 'the Warning Event' });
    expect(event).toMatchObject({ type: 'Warning', involvedObject: { kind: 'Pod', name: 'held', namespace: 'quota', uid: pod.metadata?.uid } });
    expect(event!.message).toBe(
      `bootstrap Secret sidecar-bootstrap-config-${uuid} could not be created: POST /api/v1/namespaces/quota/secrets: 403 secrets "sidecar-bootstrap-config-${uuid}" is forbidden: exceeded quota: no-secrets, requested: count/secrets=1, used: count/secrets=0, limited: count/secrets=0; retrying until it can be (the sidecar cannot start without it)`,
    );
    expect(await waitingGauge()).toBe(1);

    // 40 s of refusals: the server keeps trying (the failure counter grows), and says it once
    const refusedAt = Date.now();
    const failures = async (): Promise<number> => Number(/^mesh_bootstrap_secret_failures_total\{status="403"\} (\d+)$/m.exec(await server.metrics())?.[1] ?? 0);
    await waitFor(async () => (await failures()) >= 5 && Date.now() - refusedAt >= 40_000, { timeoutMs: 90_000, intervalMs: 1000, what: '40 s of refusals' });
    expect(await cluster.admin.get(secretPath)).toBeUndefined();
    expect(await events()).toHaveLength(1);

    const liftedAt = Date.now();
    expect(await cluster.admin.delete(QUOTA_PATH)).toBe(200);
    await waitFor(() => cluster.admin.get(secretPath), { timeoutMs: 10_000, what: 'the Secret within 10 s of the quota being lifted' });
    expect(Date.now() - liftedAt).toBeLessThan(10_000);
    await waitFor(async () => (await waitingGauge()) === 0, { what: 'no pod waiting' });
  });
});
