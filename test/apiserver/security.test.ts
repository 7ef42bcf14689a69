// Secure by default, through a real kube-apiserver (RBAC, PodSecurity on):
// - /metrics and /audit answer only callers whose token (from the TokenRequest API) passes a TokenReview and whose
//   SubjectAccessReview allows the path: a reader bound to the install's mesh-admission-fsm-metrics-reader ClusterRole, not
//   a tenant's ServiceAccount; repeated scrapes cost no review (the API server's audit log counts them); the metrics
//   port serves the serving certificate; the probes stay open on their own port.
// - Pod Security predicted: in namespaces labelled baseline and restricted the webhook refuses the pod itself with the
//   level, the containers, the capability and the ways out; its prediction is word for word what the API server's
//   PodSecurity plugin says of the injected pod; warn gives a warning; the pod (itself meeting the level) is admitted
//   injected in a privileged namespace, and with node-level interception (FSM) or eBPF (osm-edge) in a restricted
//   one; `explain --kubeconfig` and the server's audit say the same before anything is applied.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { injectedViolations, violatesText, type LevelVersion } from '../../src/injector/pod-security.js';
import { servingSecretName } from '../../src/mesh/names.js';
import { REPO_ROOT } from '../support/fixtures.js';
import { describeApiServer, meshIdentity, plainPod, statusMessage, TestCluster, TSX_LOADER, waitFor, type Obj, type ServerProcess } from './harness.js';

const PSA = 'pod-security.kubernetes.io';
const SERVER_USER = 'system:serviceaccount:fsm-system:mesh-admission';
type Container = { name: string; securityContext?: Record<string, unknown> };
const spec = (pod: Obj): { containers: Container[]; initContainers?: Container[] } & Record<string, unknown> => pod.spec as never;
const names = (cs: Container[] | undefined): string[] => (cs ?? []).map((c) => c.name);

/** A pod that itself meets `restricted`: non-root, no escalation, no capabilities, the runtime's seccomp profile. */
function compliantPod(namespace: string, name: string, extra: Record<string, unknown> = {}): Obj {
  return plainPod(namespace, name, {
    spec: {
      securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [{ name: 'app', image: 'busybox:1.36', command: ['sleep', '3600'], ports: [{ name: 'http', containerPort: 8080 }], securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } }, ...extra }],
    },
  });
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', TSX_LOADER, join(REPO_ROOT, 'src/cli/main.ts'), ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

/** A create as admin, with the API server's Warning headers (the project's client does not return headers). */
function createWithWarnings(cluster: TestCluster, obj: Obj): Promise<{ status: number; body: Obj; warnings: string[] }> {
  const { cp } = cluster;
  const payload = JSON.stringify(obj);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${cp.url}/api/v1/namespaces/${obj.metadata?.namespace}/pods`, { method: 'POST', ca: cp.caPem, headers: { Authorization: `Bearer ${cp.adminToken}`, 'Content-Type': 'application/json' } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        const raw = res.headers.warning;
        const list = (Array.isArray(raw) ? raw : raw ? [raw] : []).flatMap((h) => [...h.matchAll(/299 - "((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!.replace(/\\(.)/g, '$1')));
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) as Obj, warnings: list });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const WAYS_FSM = (ns: string) =>
  `ways out: label namespace ${ns} ${PSA}/enforce=privileged, use node-level interception (MeshConfig spec.traffic.interceptionMode: NodeLevel) or disable injection for namespace ${ns} (annotation flomesh.io/sidecar-injection: disabled)`;
const INIT_WHY = 'container "fsm-init" sets up the traffic interception with iptables, which needs NET_ADMIN and root';
const BASELINE = 'non-default capabilities (container "fsm-init" must not include "NET_ADMIN" in securityContext.capabilities.add)';
const RESTRICTED = [
  'allowPrivilegeEscalation != false (container "fsm-init" must set securityContext.allowPrivilegeEscalation=false)',
  'unrestricted capabilities (container "fsm-init" must set securityContext.capabilities.drop=["ALL"]; container "fsm-init" must not include "NET_ADMIN" in securityContext.capabilities.add)',
  'runAsNonRoot != true (container "fsm-init" must not set securityContext.runAsNonRoot=false)',
  'runAsUser=0 (container "fsm-init" must not set runAsUser=0)',
].join(', ');
const refusal = (ns: string, level: string, violations: string) =>
  `namespace ${ns} enforces Pod Security "${level}", which would refuse this pod once the sidecar is injected: ${violations}; ${INIT_WHY}; ${WAYS_FSM(ns)}`;

describeApiServer('secure by default (FSM)', () => {
  let cluster: TestCluster;
  let server: ServerProcess;
  let readerToken: string;
  let tenantToken: string;
  const reviewsByServer = (): { tokenReviews: number; accessReviews: number } => {
    const events = cluster.cp.auditEvents().filter((e) => e.user.username === SERVER_USER && e.verb === 'create');
    return { tokenReviews: events.filter((e) => e.objectRef?.resource === 'tokenreviews').length, accessReviews: events.filter((e) => e.objectRef?.resource === 'subjectaccessreviews').length };
  };

  beforeAll(async () => {
    cluster = await TestCluster.start({ auditPolicy: { apiVersion: 'audit.k8s.io/v1', kind: 'Policy', omitStages: ['RequestReceived'], rules: [{ level: 'Metadata', users: [SERVER_USER] }, { level: 'None' }] } });
    const { admin } = cluster;
    // the install's scraper role, a reader bound to it, a tenant bound to nothing
    // the install's metrics-reader ClusterRole, as the flavor's manifests ship it
    for (const role of parseAllDocuments(readFileSync(join(REPO_ROOT, 'manifests/flavors/fsm/rbac.yaml'), 'utf8')).map((d) => d.toJSON() as Obj).filter((o) => o.metadata?.name === 'mesh-admission-fsm-metrics-reader')) await admin.create(role);
    for (const ns of ['monitoring', 'shop']) await admin.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    for (const [ns, sa] of [['monitoring', 'prometheus'], ['monitoring', 'cache-probe'], ['shop', 'tenant']] as const) await admin.create({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: ns } });
    await admin.create({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'prometheus-metrics-reader' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'mesh-admission-fsm-metrics-reader' },
      subjects: [
        { kind: 'ServiceAccount', name: 'prometheus', namespace: 'monitoring' },
        { kind: 'ServiceAccount', name: 'cache-probe', namespace: 'monitoring' },
      ],
    });
    readerToken = await admin.token('monitoring', 'prometheus');
    tenantToken = await admin.token('shop', 'tenant');
    // a namespace per Pod Security level, all in the mesh
    await cluster.meshNamespace('ps-privileged', { labels: { [`${PSA}/enforce`]: 'privileged' } });
    await cluster.meshNamespace('ps-baseline', { labels: { [`${PSA}/enforce`]: 'baseline' } });
    await cluster.meshNamespace('ps-restricted', { labels: { [`${PSA}/enforce`]: 'restricted' } });
    await cluster.meshNamespace('ps-warn', { labels: { [`${PSA}/warn`]: 'baseline' } });
    // and the same levels outside the mesh (no webhook), where the API server judges an injected pod by itself
    for (const level of ['baseline', 'restricted']) await admin.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `plain-${level}`, labels: { [`${PSA}/enforce`]: level } } });
    server = await cluster.startServer(await cluster.serviceAccountKubeConfig(), ['--audit-interval-seconds', '1']);
    await cluster.registerWebhooks(server.url);
    await cluster.waitForCaBundle();
    await waitFor(async () => (await server.readyz()).status === 200, { timeoutMs: 60_000, what: 'the server to be ready' });
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  describe('metrics and audit behind RBAC', () => {
    it('the API server refuses privileged pods where a namespace enforces baseline (its PodSecurity plugin is on)', async () => {
      const res = await cluster.admin.tryCreate(plainPod('plain-baseline', 'privileged', { spec: { containers: [{ name: 'app', image: 'busybox:1.36', securityContext: { privileged: true } }] } }));
      expect(res.status).toBe(403);
      expect(statusMessage(res.body)).toBe('pods "privileged" is forbidden: violates PodSecurity "baseline:latest": privileged (container "app" must not set securityContext.privileged=true)');
    });

    it('401 without a token, 403 for a token without the grant, 200 for the metrics reader; probes open on their own port', async () => {
      const none = await server.scrape('/metrics');
      expect(none.status).toBe(401);
      expect(none.headers['www-authenticate']).toBe('Bearer realm="mesh-admission"');
      expect(JSON.parse(none.body)).toEqual({ code: 401, error: 'Unauthorized: a bearer token is required (Authorization: Bearer <token>)' });
      expect(JSON.parse((await server.scrape('/metrics', 'not-a-token')).body)).toMatchObject({ code: 401 });
      const tenant = await server.scrape('/audit', tenantToken);
      expect(tenant.status).toBe(403);
      expect(JSON.parse(tenant.body)).toEqual({ code: 403, error: 'Forbidden: user "system:serviceaccount:shop:tenant" cannot get path "/audit"' });
      const reader = await server.scrape('/metrics', readerToken);
      expect(reader.status).toBe(200);
      expect(reader.body).toContain('# TYPE mesh_admission_requests_total counter');
      const ready = await fetch(`http://127.0.0.1:${server.healthPort}/readyz`);
      expect(ready.status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${server.healthPort}/metrics`)).status).toBe(404);
    });

    it('repeated scrapes cost no API call: one TokenReview and one SubjectAccessReview for a new reader', async () => {
      const token = await cluster.admin.token('monitoring', 'cache-probe');
      const before = reviewsByServer();
      for (let i = 0; i < 5; i++) expect((await server.scrape('/metrics', token)).status).toBe(200);
      expect(reviewsByServer()).toEqual({ tokenReviews: before.tokenReviews + 1, accessReviews: before.accessReviews + 1 });
    });

    it('the metrics port serves the serving certificate, verified with the CA of its Secret for the Service name', async () => {
      const secret = await cluster.admin.get(`/api/v1/namespaces/fsm-system/secrets/${servingSecretName(cluster.mesh)}`);
      const ca = Buffer.from((secret?.data as Record<string, string>)['ca.crt']!, 'base64').toString();
      const served = (port: number) =>
        new Promise<string>((resolve, reject) => {
          const s = connect({ host: '127.0.0.1', port, ca, servername: 'mesh-admission.fsm-system.svc' }, () => {
            resolve(s.getPeerX509Certificate()?.fingerprint256 ?? '');
            s.end();
          });
          s.once('error', reject);
        });
      expect(await served(server.metricsPort)).toBe(await served(server.port));
    });
  });

  describe('Pod Security predicted', () => {
    it('baseline: the webhook refuses the pod itself, naming level, container, capability and the ways out', async () => {
      const res = await cluster.admin.tryCreate(plainPod('ps-baseline', 'web-1'));
      expect(res.status).toBe(403);
      expect(statusMessage(res.body)).toBe(`admission webhook "inject.flomesh.io" denied the request: Pod ps-baseline/web-1: ${refusal('ps-baseline', 'baseline:latest', BASELINE)}`);
    });

    it('restricted: refused naming the init container only (the sidecar meets restricted)', async () => {
      const res = await cluster.admin.tryCreate(compliantPod('ps-restricted', 'web-1'));
      expect(res.status).toBe(403);
      expect(statusMessage(res.body)).toBe(`admission webhook "inject.flomesh.io" denied the request: Pod ps-restricted/web-1: ${refusal('ps-restricted', 'restricted:latest', RESTRICTED)}`);
    });

    it('privileged: the same pod is admitted, injected', async () => {
      const pod = await cluster.admin.create(compliantPod('ps-privileged', 'web-1'));
      expect(names(spec(pod).initContainers)).toEqual(['fsm-init']);
      expect(names(spec(pod).containers)).toEqual(['sidecar', 'app']);
    });

    it('the prediction is word for word what the API server\'s PodSecurity says of the injected pod', async () => {
      const injected = await cluster.admin.create(compliantPod('ps-privileged', 'web-2'));
      const s = spec(injected);
      const added = [...(s.initContainers ?? []), ...s.containers].filter((c) => c.name !== 'app');
      const own = { ...s, containers: s.containers.filter((c) => c.name === 'app'), initContainers: [] };
      for (const level of ['baseline', 'restricted'] as const) {
        const copy = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'copy', namespace: `plain-${level}` }, spec: s };
        const res = await cluster.admin.tryCreate(copy, { dryRun: 'All' });
        const lv: LevelVersion = { level, version: 'latest' };
        expect(res.status, level).toBe(403);
        expect(statusMessage(res.body), level).toBe(`pods "copy" is forbidden: ${violatesText(lv, injectedViolations(own, added as never, lv))}`);
      }
    });

    it('warn: admitted, injected, with the warning beside the API server\'s own', async () => {
      const res = await createWithWarnings(cluster, plainPod('ps-warn', 'web-1'));
      expect(res.status).toBe(201);
      expect(names(spec(res.body).initContainers)).toEqual(['fsm-init']);
      // ours within the 256 characters the API server passes on whole, and the API server's own with every check
      expect(res.warnings).toEqual([
        `Pod Security "baseline:latest" (warn) would refuse this pod once injected: non-default capabilities in injected container "fsm-init"; ways out: ${PSA}/warn=privileged, interceptionMode NodeLevel, injection disabled`,
        'would violate PodSecurity "baseline:latest": non-default capabilities (container "fsm-init" must not include "NET_ADMIN" in securityContext.capabilities.add)',
      ]);
    });

    it('explain --kubeconfig says the same before anything is applied', async () => {
      const file = join(cluster.cp.dir, 'deploy.yaml');
      writeFileSync(file, 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: ps-baseline\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: web, image: nginx}]\n');
      const r = await cli(['explain', file, '--kubeconfig', cluster.cp.writeKubeConfig('explain')]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe(`${file}:1: Deployment ps-baseline/web: DENY — Pod ps-baseline/web-*: ${refusal('ps-baseline', 'baseline:latest', BASELINE)}\n1 pod or template: 0 inject, 0 skip, 1 deny\n`);
    });

    it('the server\'s audit reports the namespaces whose enforce level refuses injected pods, to the metrics reader only', async () => {
      type Doc = { findings: Array<{ kind: string; name: string; rule: string; message: string }> };
      const doc = await waitFor(
        async () => {
          const res = await server.scrape('/audit', readerToken);
          return res.status === 200 ? (JSON.parse(res.body) as Doc) : undefined;
        },
        { timeoutMs: 60_000, what: 'an audit run' },
      );
      const namespaces = doc.findings.filter((f) => f.rule === 'namespace-pod-security');
      expect(namespaces.map((f) => `${f.kind} ${f.name}`)).toEqual(['Namespace ps-baseline', 'Namespace ps-restricted']);
      expect(namespaces[0]!.message).toBe(`pods injected here are refused: ${refusal('ps-baseline', 'baseline:latest', BASELINE)}`);
      expect((await server.scrape('/audit', tenantToken)).status).toBe(403);
    });

    it('restricted with node-level interception (FSM): the pod is admitted with the proxy UUID label only', async () => {
      await cluster.admin.create({ apiVersion: 'config.flomesh.io/v1alpha3', kind: 'MeshConfig', metadata: { name: 'fsm-mesh-config', namespace: 'fsm-system' }, spec: { traffic: { interceptionMode: 'NodeLevel' } } });
      // the server's view follows the MeshConfig: a dry run is admitted once it does
      await waitFor(async () => (await cluster.admin.tryCreate(compliantPod('ps-restricted', 'probe'), { dryRun: 'All' })).status === 201, { timeoutMs: 30_000, what: 'the MeshConfig in the view' });
      const pod = await cluster.admin.create(compliantPod('ps-restricted', 'web-2'));
      expect(names(spec(pod).initContainers)).toEqual([]);
      expect(names(spec(pod).containers)).toEqual(['app']);
      expect(pod.metadata?.labels?.['fsm-proxy-uuid']).toMatch(/^[0-9a-f-]{36}$/);
    });
  });
});

describeApiServer('secure by default (osm-edge, eBPF interception)', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    const mesh = meshIdentity('osm-edge');
    cluster = await TestCluster.start({ mesh });
    await cluster.admin.create({ apiVersion: `${mesh.flavor.meshConfigGroup}/v1alpha3`, kind: 'MeshConfig', metadata: { name: mesh.flavor.meshConfigName, namespace: mesh.meshNamespace }, spec: { traffic: { interceptionMode: 'ebpf' } } });
    await cluster.meshNamespace('ps-restricted', { labels: { [`${PSA}/enforce`]: 'restricted' } });
    const server = await cluster.startServer(await cluster.serviceAccountKubeConfig());
    await cluster.registerWebhooks(server.url);
    await cluster.waitForCaBundle();
    await waitFor(async () => (await server.readyz()).status === 200, { timeoutMs: 60_000, what: 'the server to be ready' });
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('restricted: a pod meeting it is admitted with the sidecar (no init container), and with the TCP-probe helper', async () => {
    const pod = await cluster.admin.create(compliantPod('ps-restricted', 'web-1'));
    expect(names(spec(pod).initContainers)).toEqual([]);
    expect(names(spec(pod).containers)).toEqual(['app', 'sidecar']);
    const probed = await cluster.admin.create(compliantPod('ps-restricted', 'web-2', { livenessProbe: { tcpSocket: { port: 8080 } } }));
    expect(names(spec(probed).containers)).toEqual(['app', 'sidecar', 'osm-healthcheck']);
  });
});
