// This server beside the mesh's own injector (a stand-in behaving as fsm-injector does: test/support/
// mesh-injector-standin.ts), both registered with a real API server, which calls mutating webhooks in the order of
// their configurations' names.
// - FSM's default order (`fsm-webhook-fsm` before `mesh-admission-fsm`): the pod keeps the mesh injector's sidecar,
//   volume and Secret untouched; this server adds nothing, never tries to create a Secret, and answers with a warning
//   naming the other injector; the conflict is on /readyz and in the metric.
// - osm-edge's default order (`mesh-admission-osm` before `osm-webhook-osm`): what the mesh's injector does to a pod
//   this server injected (an injector it does not recognise: the pod is refused, with the API server's words), and
//   what this server does when it recognises the mesh's injector (it leaves the pod to it), or when that injector
//   fails open (this server's injection stands).
import https from 'node:https';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MeshInjectorStandin, STANDIN_SIDECAR_IMAGE } from '../support/mesh-injector-standin.js';
import { collectionOf, describeApiServer, meshIdentity, plainPod, statusMessage, TestCluster, waitFor, type AuditEvent, type Obj, type ServerProcess } from './harness.js';

const containers = (pod: Obj): Array<{ name: string; image: string }> => (pod.spec as { containers: Array<{ name: string; image: string }> }).containers;
const volumes = (pod: Obj): Array<{ name: string; secret?: { secretName: string } }> => (pod.spec as { volumes: Array<{ name: string; secret?: { secretName: string } }> }).volumes ?? [];
const ADM = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';

/** A create as admin that also returns the Warning headers (what kubectl prints as `Warning: …`). */
function createWithWarnings(cluster: TestCluster, obj: Obj): Promise<{ status: number; body: Obj; warnings: string[] }> {
  return new Promise((resolve, reject) => {
    const req = https.request(`${cluster.cp.url}${collectionOf(obj)}`, { method: 'POST', ca: cluster.cp.caPem, headers: { Authorization: `Bearer ${cluster.cp.adminToken}`, 'Content-Type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => {
        const warnings: string[] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) {
          if (res.rawHeaders[i]!.toLowerCase() !== 'warning') continue;
          const m = /^299 - "(.*)"$/.exec(res.rawHeaders[i + 1]!);
          if (m) warnings.push(m[1]!.replace(/\\"/g, '"').replace(/\\\\/g, '\\'));
        }
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Obj, warnings });
      });
    });
    req.on('error', reject);
    req.end(JSON.stringify(obj));
  });
}

interface Setup {
  cluster: TestCluster;
  server: ServerProcess;
  standin: MeshInjectorStandin;
  serverUser: string;
}

async function setUp(flavor: 'fsm' | 'osm-edge'): Promise<Setup> {
  const mesh = meshIdentity(flavor);
  const serverUser = `system:serviceaccount:${mesh.meshNamespace}:mesh-admission`;
  const cluster = await TestCluster.start({ mesh, auditPolicy: { apiVersion: 'audit.k8s.io/v1', kind: 'Policy', omitStages: ['RequestReceived'], rules: [{ level: 'Metadata', users: [serverUser] }, { level: 'None' }] } });
  await cluster.meshNamespace('apps');
  // in the mesh, but out of the mesh injector's reach (its selector excludes namespaces labelled control-plane)
  await cluster.meshNamespace('solo', { labels: { 'control-plane': 'x' } });
  const server = await cluster.startServer(await cluster.serviceAccountKubeConfig());
  await cluster.registerWebhooks(server.url);
  await cluster.waitForCaBundle();
  await waitFor(async () => (await server.readyz()).status === 200, { timeoutMs: 60_000, what: 'the server to be ready' });
  const standin = await MeshInjectorStandin.start(mesh, cluster.admin);
  return { cluster, server, standin, serverUser };
}

const secretCreates = (s: Setup, namespace: string): AuditEvent[] =>
  s.cluster.cp.auditEvents().filter((e) => e.user.username === s.serverUser && e.verb === 'create' && e.objectRef?.resource === 'secrets' && e.objectRef.namespace === namespace);

/**
 * Once this server has created the Secret of a pod it injected in `solo`, created after the pods under test, its pod
 * watch has gone past them: whatever it would have done about them, it has done.
 */
async function serverCaughtUp(s: Setup, name: string): Promise<void> {
  const pod = await s.cluster.admin.create(plainPod('solo', name));
  expect(pod.metadata?.labels?.['mesh-admission.io/mesh']).toBe(s.cluster.mesh.meshName);
  const uuid = pod.metadata?.labels?.[`${s.cluster.mesh.flavor.prefix}-proxy-uuid`];
  await waitFor(() => s.cluster.admin.get(`/api/v1/namespaces/solo/secrets/sidecar-bootstrap-config-${uuid}`), { what: `the Secret of solo/${name}` });
}

describeApiServer('the mesh\'s injector called first (FSM\'s default order)', () => {
  let s: Setup;
  beforeAll(async () => {
    s = await setUp('fsm');
    await s.cluster.admin.create(s.standin.configuration());
  });
  afterAll(async () => {
    await s?.standin.close();
    await s?.cluster.stop();
  });

  it('the pod keeps what the mesh injected; this server adds nothing, makes no Secret, and names the other injector', async () => {
    expect('fsm-webhook-fsm' < 'mesh-admission-fsm').toBe(true);
    // the server knows the configuration (the warning names it)
    await waitFor(async () => ((await s.server.readyz()).body.includes('fsm-webhook-fsm') ? true : undefined), { what: 'the conflict seen' });
    const created = await createWithWarnings(s.cluster, plainPod('apps', 'web-1'));
    expect(created.status, statusMessage(created.body)).toBe(201);
    const pod = created.body;
    const [call] = s.standin.calls.filter((c) => c.name === 'web-1');
    expect(call).toMatchObject({ outcome: 'injected' });
    // exactly the mesh injector's pod: its sidecar first (hold-application), its init container, its label and volume
    expect(containers(pod).map((c) => [c.name, c.image])).toEqual([
      ['sidecar', STANDIN_SIDECAR_IMAGE],
      ['app', 'busybox:1.36'],
    ]);
    expect((pod.spec as { initContainers: Array<{ name: string; image: string }> }).initContainers.map((c) => c.image)).toEqual(['standin.example.com/fsm-sidecar-init:mesh']);
    expect(pod.metadata?.labels).toEqual({ 'fsm-proxy-uuid': call!.uuid });
    expect(volumes(pod).filter((v) => v.name === 'sidecar-bootstrap-config-volume')).toEqual([{ name: 'sidecar-bootstrap-config-volume', secret: { secretName: `sidecar-bootstrap-config-${call!.uuid}`, defaultMode: 420 } }]);
    expect(created.warnings).toEqual([
      'sidecar already injected by another injector (MutatingWebhookConfiguration fsm-webhook-fsm, called before this server): this server added nothing; run one injector per mesh (README: "Replacing the mesh\'s own webhooks")',
    ]);
    const secretPath = `/api/v1/namespaces/apps/secrets/sidecar-bootstrap-config-${call!.uuid}`;
    const before = await s.cluster.admin.get(secretPath);
    expect(before?.metadata?.labels).toEqual({ 'app.kubernetes.io/name': 'flomesh.io', 'app.kubernetes.io/instance': 'fsm', 'app.kubernetes.io/version': 'standin' });

    await serverCaughtUp(s, 'marker-1');
    // not one Secret create from this server in apps (not even one answered 409), and the mesh's Secret unchanged
    expect(secretCreates(s, 'apps')).toEqual([]);
    expect(secretCreates(s, 'solo')).toHaveLength(1);
    const after = await s.cluster.admin.get(secretPath);
    expect(after?.metadata?.resourceVersion).toBe(before?.metadata?.resourceVersion);
    expect(after?.metadata?.ownerReferences).toBeUndefined();
  });

  it('reports the mesh\'s injector on /readyz (still ready) and in the metric', async () => {
    const readyz = await s.server.readyz();
    expect(readyz.status).toBe(200);
    expect((JSON.parse(readyz.body) as { warnings: string[] }).warnings).toEqual([
      'conflicting webhook: MutatingWebhookConfiguration fsm-webhook-fsm (fsm-inject.k8s.io): the mesh\'s own sidecar injector, called before mesh-admission-fsm for pod CREATE in apps: pods are injected by it, and this server adds nothing to them; run one injector per mesh: scale fsm-injector to zero and delete this configuration (README: "Replacing the mesh\'s own webhooks")',
    ]);
    expect(await s.server.metrics()).toContain('mesh_admission_conflicting_webhooks{name="fsm-webhook-fsm"} 1');
    // log lines are written in batches (flushed within 250 ms): wait for the line rather than read at once
    const conflictLines = (): ReturnType<typeof s.server.logs> => s.server.logs().filter((l) => typeof l.msg === 'string' && l.msg.startsWith('conflicting webhook: MutatingWebhookConfiguration fsm-webhook-fsm'));
    await waitFor(() => conflictLines().length > 0, { what: 'the conflict logged' });
    const errors = conflictLines();
    expect(errors).toHaveLength(1);
    expect(errors[0]!.level).toBe(50);
  });
});

describeApiServer('this server called first (osm-edge\'s default order)', () => {
  let s: Setup;
  beforeAll(async () => {
    s = await setUp('osm-edge');
  });
  afterAll(async () => {
    await s?.standin.close();
    await s?.cluster.stop();
  });

  it('an injector it does not recognise as the mesh\'s refuses the pod this server injected: the API server\'s answer', async () => {
    // the same injector registered under names this server cannot know it by (a renamed configuration and entry)
    await s.cluster.admin.create(s.standin.configuration({ name: 'zz-sidecar-injector', webhook: 'sidecar.injector.example.com', labels: {} }));
    await waitFor(async () => ((await s.server.readyz()).body.includes('zz-sidecar-injector') ? true : undefined), { what: 'the mutator seen' });
    const refused = await s.cluster.admin.tryCreate(plainPod('apps', 'web-refused'));
    expect(refused.status).toBe(500);
    expect(statusMessage(refused.body)).toMatch(/^Internal error occurred: failed calling webhook "sidecar\.injector\.example\.com": received invalid webhook response: expected response\.uid="[0-9a-f-]{36}", got ""$/);
    expect(s.standin.calls.filter((c) => c.name === 'web-refused').map((c) => c.outcome)).toEqual(['failed']);
    expect(s.standin.calls.find((c) => c.name === 'web-refused')?.error).toMatch(/^secrets "sidecar-bootstrap-config-[0-9a-f-]{36}" not found$/);
    expect(await s.cluster.admin.get('/api/v1/namespaces/apps/pods/web-refused')).toBeUndefined();
    await s.cluster.admin.delete(`${ADM}/zz-sidecar-injector`);
  });

  it('the mesh\'s own injector (osm-webhook-osm, failing closed): this server leaves the pod to it and says so', async () => {
    await s.cluster.admin.create(s.standin.configuration());
    expect('mesh-admission-osm' < 'osm-webhook-osm').toBe(true);
    await waitFor(async () => ((await s.server.readyz()).body.includes('osm-webhook-osm') ? true : undefined), { what: 'the conflict seen' });
    const created = await createWithWarnings(s.cluster, plainPod('apps', 'web-2'));
    expect(created.status, statusMessage(created.body)).toBe(201);
    const [call] = s.standin.calls.filter((c) => c.name === 'web-2');
    expect(call).toMatchObject({ outcome: 'injected' });
    expect(containers(created.body).map((c) => [c.name, c.image])).toEqual([
      ['app', 'busybox:1.36'],
      ['sidecar', STANDIN_SIDECAR_IMAGE],
    ]);
    expect(created.body.metadata?.labels).toEqual({ 'osm-proxy-uuid': call!.uuid });
    expect(created.warnings).toEqual([
      'sidecar left to the mesh\'s own injector: MutatingWebhookConfiguration osm-webhook-osm is called after this server and refuses a pod injected twice; run one injector per mesh (README: "Replacing the mesh\'s own webhooks")',
    ]);
    await serverCaughtUp(s, 'marker-2');
    expect(secretCreates(s, 'apps')).toEqual([]);
    expect(await s.cluster.admin.get(`/api/v1/namespaces/apps/secrets/sidecar-bootstrap-config-${call!.uuid}`)).toBeDefined();
    expect(await s.server.metrics()).toContain('mesh_injection_total{result="skipped",reason="other-injector"} 1');
  });

  it('the mesh\'s injector failing open: its failure is ignored, this server\'s injection stands', async () => {
    await s.cluster.admin.delete(`${ADM}/osm-webhook-osm`);
    await s.cluster.admin.create(s.standin.configuration({ failurePolicy: 'Ignore' }));
    await waitFor(async () => ((await s.server.readyz()).body.includes('its failurePolicy is Ignore') ? true : undefined), { what: 'the change seen' });
    const created = await createWithWarnings(s.cluster, plainPod('apps', 'web-3'));
    expect(created.status, statusMessage(created.body)).toBe(201);
    expect(s.standin.calls.filter((c) => c.name === 'web-3').map((c) => c.outcome)).toEqual(['failed']);
    expect(containers(created.body).map((c) => c.name)).toEqual(['app', 'sidecar']);
    expect(containers(created.body)[1]!.image).not.toBe(STANDIN_SIDECAR_IMAGE);
    expect(created.body.metadata?.labels?.['mesh-admission.io/mesh']).toBe('osm');
    const uuid = created.body.metadata?.labels?.['osm-proxy-uuid'];
    await waitFor(() => s.cluster.admin.get(`/api/v1/namespaces/apps/secrets/sidecar-bootstrap-config-${uuid}`), { what: 'this server\'s Secret' });
  });
});

