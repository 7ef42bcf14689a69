// Injection and validation end to end through a real kube-apiserver: the server runs as the install's ServiceAccount
// (manifests' RBAC, a TokenRequest token), the webhook configurations are src/install's, pointing at a loopback URL.
// A created pod comes back injected; its bootstrap Secret appears, owned by the pod, and is garbage-collected with it;
// a server-side dry run leaves nothing behind; refusals read as kubectl prints them.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeApiServer, plainPod, statusMessage, TestCluster, waitFor, type Obj, type ServerProcess } from './harness.js';

let cluster: TestCluster;
let server: ServerProcess;

const secretPath = (ns: string, uuid: string): string => `/api/v1/namespaces/${ns}/secrets/sidecar-bootstrap-config-${uuid}`;
const uuidOf = (pod: Obj): string => pod.metadata?.labels?.['fsm-proxy-uuid'] ?? '';
const containerNames = (pod: Obj): string[] => ((pod.spec as { containers: Array<{ name: string }> }).containers ?? []).map((c) => c.name);
const initNames = (pod: Obj): string[] => ((pod.spec as { initContainers?: Array<{ name: string }> }).initContainers ?? []).map((c) => c.name);

describeApiServer('through a real API server', () => {
  beforeAll(async () => {
    cluster = await TestCluster.start();
    await cluster.meshNamespace('apps');
    server = await cluster.startServer(await cluster.serviceAccountKubeConfig());
    await cluster.registerWebhooks(server.url);
    await cluster.waitForCaBundle();
    await waitFor(async () => (await server.readyz()).status === 200, { timeoutMs: 60_000, what: 'the server to be ready' });
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('injects a pod; its Secret is created from the pod watch, owned by the pod, and deleted with it', async () => {
    const pod = await cluster.admin.create(plainPod('apps', 'web-1'));
    expect(containerNames(pod)).toEqual(['sidecar', 'app']);
    expect(initNames(pod)).toEqual(['fsm-init']);
    const uuid = uuidOf(pod);
    expect(uuid).toMatch(/^[0-9a-f-]{36}$/);
    const volumes = (pod.spec as { volumes: Array<{ name: string; secret?: { secretName: string } }> }).volumes;
    expect(volumes.find((v) => v.name === 'sidecar-bootstrap-config-volume')?.secret?.secretName).toBe(`sidecar-bootstrap-config-${uuid}`);

    const secret = await waitFor(() => cluster.admin.get(secretPath('apps', uuid)), { what: 'the bootstrap Secret' });
    expect(secret.metadata?.ownerReferences).toEqual([{ apiVersion: 'v1', kind: 'Pod', name: 'web-1', uid: pod.metadata?.uid, controller: false, blockOwnerDeletion: false }]);
    expect(Object.keys(secret.data as Record<string, string>).sort()).toEqual(['bootstrap.yaml', 'cacert.pem', 'repo_cert.pem', 'repo_key.pem']);
    const bootstrap = JSON.parse(Buffer.from((secret.data as Record<string, string>)['bootstrap.yaml']!, 'base64').toString()) as { NodeID?: string };
    expect(bootstrap.NodeID).toBe(`${uuid}.sidecar.default.apps.cluster.local`);

    expect(await cluster.admin.delete('/api/v1/namespaces/apps/pods/web-1', { gracePeriodSeconds: '0' })).toBe(200);
    // kube-controller-manager's garbage collector follows the ownerReference
    await waitFor(async () => (await cluster.admin.get(secretPath('apps', uuid))) === undefined, { timeoutMs: 60_000, what: 'the Secret garbage-collected' });
  });

  it('a server-side dry run is answered injected and leaves neither a pod nor a Secret', async () => {
    const dry = await cluster.admin.create(plainPod('apps', 'dry-1'), { dryRun: 'All' });
    expect(containerNames(dry)).toEqual(['sidecar', 'app']);
    const dryUuid = uuidOf(dry);
    // a real pod created after it: once its Secret exists, the pod watch has gone past the dry run's moment
    const real = await cluster.admin.create(plainPod('apps', 'after-dry'));
    await waitFor(() => cluster.admin.get(secretPath('apps', uuidOf(real))), { what: 'the real pod\'s Secret' });
    expect(await cluster.admin.get('/api/v1/namespaces/apps/pods/dry-1')).toBeUndefined();
    expect(await cluster.admin.get(secretPath('apps', dryUuid))).toBeUndefined();
    const secrets = await cluster.admin.list('/api/v1/namespaces/apps/secrets', { labelSelector: 'fsm-proxy-uuid' });
    expect(secrets.map((s) => s.metadata?.name)).toEqual([`sidecar-bootstrap-config-${uuidOf(real)}`]);
  });

  it('an invalid injection annotation is refused with the reason, as kubectl prints it', async () => {
    const res = await cluster.admin.tryCreate(plainPod('apps', 'bad-annotation', { annotations: { 'flomesh.io/sidecar-injection': 'maybe' } }));
    expect(res.status).toBe(400);
    expect(statusMessage(res.body)).toBe(
      'admission webhook "inject.flomesh.io" denied the request: invalid value "maybe" for annotation "flomesh.io/sidecar-injection" on Pod apps/bad-annotation: expected enabled, yes, true, disabled, no or false',
    );
  });

  it('a policy the validator refuses is refused with Kubernetes field causes, as kubectl prints them', async () => {
    const res = await cluster.admin.tryCreate({ apiVersion: 'plugin.flomesh.io/v1alpha1', kind: 'Plugin', metadata: { name: 'deny-a' }, spec: { pipyscript: 'x', priority: 70000 } });
    expect(res.status).toBe(422);
    expect(statusMessage(res.body)).toBe('admission webhook "validate.flomesh.io" denied the request: Plugin "deny-a" is invalid: spec.priority: Invalid value: 70000: must be an integer between 0 and 65535');
    expect((res.body as { details?: { causes?: unknown[] } }).details?.causes).toEqual([{ reason: 'FieldValueInvalid', message: 'Invalid value: 70000: must be an integer between 0 and 65535', field: 'spec.priority' }]);
    expect((await cluster.admin.tryCreate({ apiVersion: 'plugin.flomesh.io/v1alpha1', kind: 'Plugin', metadata: { name: 'ok-a' }, spec: { pipyscript: 'x', priority: 100 } })).status).toBe(201);
  });
});
