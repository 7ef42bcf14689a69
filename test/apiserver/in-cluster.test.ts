// In-cluster mode for real: the server started as the kubelet starts the Deployment's container, with the arguments and
// environment of the rendered manifests (`kubectl kustomize manifests/overlays/fsm`: $(VAR) expanded, the downward API
// filled in, the /tmp emptyDir a folder of its own), in-cluster credentials from a service-account folder
// (token, ca.crt, namespace; the test-only MESH_ADMISSION_TEST_SERVICE_ACCOUNT_DIR points at it) and
// KUBERNETES_SERVICE_HOST/PORT, no kubeconfig. Its token is a TokenRequest token bound to a pod, as a projected
// token is. Mid-run the token file is rewritten, as the kubelet does, with a token bound to another pod; the first
// pod is then deleted, which revokes the first token. The API server's audit log tells which token made each request
// (the bound pod's name): the server moves to the new token, and keeps injecting and creating Secrets with it.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { freePort } from '../support/control-plane.js';
import { REPO_ROOT } from '../support/fixtures.js';
import { describeApiServer, plainPod, ServerProcess, TestCluster, TSX_LOADER, waitFor, type AuditEvent, type Obj } from './harness.js';

const KUBECTL = ['/usr/bin/kubectl', '/usr/local/bin/kubectl'].find((p) => existsSync(p));
const NS = 'fsm-system';
const POD = 'mesh-admission-7d4b9c-x2x9q';
const SERVER_USER = `system:serviceaccount:${NS}:mesh-admission`;
const POD_NAME_EXTRA = 'authentication.kubernetes.io/pod-name';

let cluster: TestCluster;
let server: ServerProcess;
let saDir: string;

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}

/** The container of the rendered Deployment. */
function deploymentContainer(): { args: string[]; env: EnvVar[]; mounts: Array<{ mountPath: string }> } {
  const docs = parseAllDocuments(execFileSync(KUBECTL!, ['kustomize', join(REPO_ROOT, 'manifests/overlays/fsm')], { encoding: 'utf8' })).map((d) => d.toJSON() as Obj);
  const dep = docs.find((d) => d.kind === 'Deployment')!;
  const c = (dep.spec as { template: { spec: { containers: Array<{ args: string[]; env: EnvVar[]; volumeMounts: Array<{ mountPath: string }> }> } } }).template.spec.containers[0]!;
  return { args: c.args, env: c.env, mounts: c.volumeMounts };
}

/** A TokenRequest token of the install's ServiceAccount bound to a pod (deleting the pod revokes it). */
async function boundToken(podName: string): Promise<string> {
  const pod = await cluster.admin.get(`/api/v1/namespaces/${NS}/pods/${podName}`);
  const res = await cluster.admin.request<{ status?: { token?: string } }>('POST', `/api/v1/namespaces/${NS}/serviceaccounts/mesh-admission/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { expirationSeconds: 3600, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: podName, uid: pod!.metadata!.uid } },
  });
  expect(res.status).toBe(201);
  return res.body.status!.token!;
}

/** What the kubelet does: the new file in place at once (its atomic writer swaps a link; a rename is as atomic). */
function writeToken(token: string): void {
  const tmp = join(saDir, `.token.${Date.now()}`);
  writeFileSync(tmp, token);
  renameSync(tmp, join(saDir, 'token'));
}

/** GET with a bearer token: its status. */
function statusWith(token: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    https
      .get(`${cluster.cp.url}${path}`, { ca: cluster.cp.caPem, headers: { Authorization: `Bearer ${token}` } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', reject);
  });
}

const serverEvents = (): AuditEvent[] => cluster.cp.auditEvents().filter((e) => e.user.username === SERVER_USER);
const boundPod = (e: AuditEvent): string | undefined => e.user.extra?.[POD_NAME_EXTRA]?.[0];

describeApiServer('in-cluster mode, the Deployment as the kubelet runs it, its token rotated', () => {
  beforeAll(async () => {
    cluster = await TestCluster.start({ auditPolicy: { apiVersion: 'audit.k8s.io/v1', kind: 'Policy', omitStages: ['RequestReceived'], rules: [{ level: 'Metadata', users: [SERVER_USER] }, { level: 'None' }] } });
    await cluster.meshNamespace('apps');
    // the pods the two tokens are bound to (the install's ServiceAccount runs them; nothing schedules them here)
    for (const name of ['token-holder-1', 'token-holder-2']) await cluster.admin.create(plainPod(NS, name, { spec: { serviceAccountName: 'mesh-admission' } }));
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it.skipIf(!KUBECTL)('starts from the manifests\' arguments and a service-account folder, and keeps working across a token rotation', async () => {
    const { args, env, mounts } = deploymentContainer();
    // the pod's volumes: /tmp (an emptyDir) becomes a folder of its own
    const root = mkdtempSync(join(tmpdir(), 'mesh-admission-pod-'));
    expect(mounts.map((m) => m.mountPath)).toEqual(['/tmp']);
    const podTmp = join(root, 'tmp');
    mkdirSync(podTmp);
    saDir = join(root, 'serviceaccount');
    mkdirSync(saDir);
    writeFileSync(join(saDir, 'ca.crt'), cluster.cp.caPem);
    writeFileSync(join(saDir, 'namespace'), NS);
    const firstToken = await boundToken('token-holder-1');
    writeToken(firstToken);

    // the kubelet's part: the environment (values and the downward API), then $(VAR) in the arguments
    const podEnv: Record<string, string> = {};
    for (const e of env) {
      const field = e.valueFrom?.fieldRef?.fieldPath;
      podEnv[e.name] = field === 'metadata.namespace' ? NS : field === 'metadata.name' ? POD : (e.value ?? '');
    }
    expect(Object.keys(podEnv).sort()).toEqual(['HEALTHCHECK_IMAGE', 'MESH_FLAVOR', 'MESH_NAME', 'NODE_ENV', 'POD_NAME', 'POD_NAMESPACE']);
    const expanded = args.map((a) => a.replace(/\$\(([A-Z_]+)\)/g, (_m, name: string) => podEnv[name] ?? `$(${name})`).replace(/^\/tmp\//, `${podTmp}/`));
    // what this test changes: free ports on loopback instead of 9443/9091/8081 on every address (this machine is shared),
    // the loopback address in the certificate (the webhooks are reached by URL: there is no Service to route them),
    // and no shutdown delay
    const port = await freePort();
    const metricsPort = await freePort();
    const healthPort = await freePort();
    const overrides = ['--port', String(port), '--metrics-port', String(metricsPort), '--health-port', String(healthPort), '--host', '127.0.0.1', '--tls-san', '127.0.0.1', '--shutdown-delay-seconds', '0'];
    const child = spawn(process.execPath, ['--import', TSX_LOADER, join(REPO_ROOT, 'src/cli/main.ts'), ...expanded, ...overrides], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        ...podEnv,
        HOSTNAME: POD,
        KUBERNETES_SERVICE_HOST: '127.0.0.1',
        KUBERNETES_SERVICE_PORT: String(cluster.cp.port),
        MESH_ADMISSION_TEST_SERVICE_ACCOUNT_DIR: saDir,
      },
    });
    server = new ServerProcess(child, port, metricsPort, healthPort, cluster.cp.adminToken);
    try {
      await waitFor(() => server.out.includes('mesh-admission serving') || server.exited, { timeoutMs: 60_000, what: 'the server to serve' });
      expect(server.exited, server.out).toBe(false);
      expect(server.logs().find((l) => l.msg === 'mesh-admission serving')).toMatchObject({ mode: 'live', flavor: 'fsm', mesh: 'fsm', namespace: NS });
      expect(expanded).toContain('flomesh/fsm-healthcheck:1.6.0');
      await cluster.registerWebhooks(server.url);
      await cluster.waitForCaBundle();
      await waitFor(async () => (await server.readyz()).status === 200, { timeoutMs: 60_000, what: 'the server to be ready' });

      // with the first token: a pod injected, its Secret created
      const first = await cluster.admin.create(plainPod('apps', 'web-1'));
      await waitFor(() => cluster.admin.get(`/api/v1/namespaces/apps/secrets/sidecar-bootstrap-config-${first.metadata?.labels?.['fsm-proxy-uuid']}`), { what: 'the first Secret' });
      expect(new Set(serverEvents().map(boundPod))).toEqual(new Set(['token-holder-1']));

      // the kubelet rotates the token: the server's requests move to the new one (within its 10 s credentials reuse)
      const second = await boundToken('token-holder-2');
      writeToken(second);
      await waitFor(() => serverEvents().some((e) => boundPod(e) === 'token-holder-2') || undefined, { timeoutMs: 30_000, what: 'a request with the new token' });
      // the first token revoked: its pod deleted (unscheduled, it goes at once); the API server refuses it from now on
      expect(await statusWith(firstToken, `/api/v1/namespaces/${NS}/pods`)).toBe(200);
      expect(await cluster.admin.delete(`/api/v1/namespaces/${NS}/pods/token-holder-1`, { gracePeriodSeconds: '0' })).toBe(200);
      await waitFor(async () => ((await statusWith(firstToken, `/api/v1/namespaces/${NS}/pods`)) === 401) || undefined, { what: 'the first token refused' });
      const revokedAt = serverEvents().length;

      // the server keeps working: a pod injected, its Secret created, with the new token
      const later = await cluster.admin.create(plainPod('apps', 'web-2'));
      expect(later.metadata?.labels?.['mesh-admission.io/mesh']).toBe('fsm');
      const secret = `sidecar-bootstrap-config-${later.metadata?.labels?.['fsm-proxy-uuid']}`;
      await waitFor(() => cluster.admin.get(`/api/v1/namespaces/apps/secrets/${secret}`), { what: 'the Secret after the rotation' });
      const after = serverEvents().slice(revokedAt);
      const created = after.find((e) => e.verb === 'create' && e.objectRef?.resource === 'secrets' && e.objectRef.name === secret);
      expect(created && boundPod(created)).toBe('token-holder-2');
      // every request the server began after the revocation carried the new token (a watch begun before may end after)
      expect(after.filter((e) => e.verb !== 'watch' && e.stage === 'ResponseComplete').map(boundPod).filter((p) => p !== 'token-holder-2')).toEqual([]);
      expect(after.filter((e) => e.responseStatus?.code === 401)).toEqual([]);
      expect((await server.readyz()).status).toBe(200);
    } finally {
      server.kill('SIGTERM');
      await server.whenExited();
    }
    expect(server.exitCode).toBe(0);
  });
});
