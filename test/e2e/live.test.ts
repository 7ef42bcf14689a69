// Live mode end to end against the in-process fake API server: the server lists and watches, creates its mesh CA and
// serving certificate Secrets, patches the webhook configurations' caBundle (and again after an edit), writes
// bootstrap Secrets through the API, and fetches a namespace its cache has not seen yet.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshIdentity } from '../../src/mesh/flavor.js';
import { SERVE_DEFAULTS } from '../../src/server/options.js';
import { startServer, type RunningServer } from '../../src/server/run.js';
import { webhookConfigurations } from '../../src/install/webhook-config.js';
import { CORE_RESOURCES, FakeApiServer, waitFor, type Obj } from '../support/fake-apiserver.js';
import { loadFixture } from '../support/fixtures.js';
import { client } from '../support/https-client.js';

const PLUGIN = { group: 'plugin.flomesh.io', version: 'v1alpha1', plural: 'plugins', kind: 'Plugin', namespaced: false };
const mesh = meshIdentity('fsm');
const namespace = (name: string): Obj => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name, labels: { 'flomesh.io/monitored-by': 'fsm' }, annotations: { 'flomesh.io/sidecar-injection': 'enabled' } },
});

let api: FakeApiServer;
let server: RunningServer;
let http: ReturnType<typeof client>;
let caPem: string;

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: unknown) => Buffer.from(String(s), 'base64').toString('utf8');
const caBundles = (kind: string): string[] => {
  const obj = api.getObject('admissionregistration.k8s.io/v1', kind, undefined, 'mesh-admission');
  return ((obj?.webhooks as Array<{ clientConfig: { caBundle?: string } }>) ?? []).map((w) => w.clientConfig.caBundle ?? '');
};

beforeAll(async () => {
  api = await FakeApiServer.start({ resources: [...CORE_RESOURCES, PLUGIN] });
  api.addObject(namespace('curl'));
  api.addObject({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'fsm-system' } });
  const { mutating, validating } = webhookConfigurations(mesh, { target: { service: { name: 'mesh-admission', namespace: 'fsm-system' } } });
  api.addObject(mutating as unknown as Obj);
  api.addObject(validating as unknown as Obj);
  const dir = mkdtempSync(join(tmpdir(), 'mesh-admission-live-'));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, api.kubeConfigYaml());
  server = await startServer({ ...SERVE_DEFAULTS, port: 0, metricsPort: 0, host: '127.0.0.1', kubeconfig, certsDir: join(dir, 'certs'), secretsDir: join(dir, 'secrets') }, { logger: pino({ level: 'silent' }) });
  const tlsSecret = api.getObject('v1', 'Secret', 'fsm-system', 'fsm-admission-tls');
  caPem = unb64((tlsSecret?.data as Record<string, string>)['ca.crt']);
  http = client(caPem, server.port, '127.0.0.1', 'mesh-admission.fsm-system.svc');
});

afterAll(async () => {
  http?.close();
  await server?.shutdown(1);
  await api?.close();
});

describe('live mode', () => {
  it('runs in live mode and becomes ready once every informer has listed', async () => {
    expect(server.mode).toBe('live');
    await waitFor(async () => (await fetch(`http://127.0.0.1:${server.metricsPort}/readyz`)).status === 200 || undefined, { timeoutMs: 10_000 });
  });

  it('creates the mesh CA Secret and the shared serving certificate Secret', () => {
    const ca = api.getObject('v1', 'Secret', 'fsm-system', 'fsm-ca-bundle');
    expect(Object.keys((ca?.data as Record<string, string>) ?? {})).toEqual(expect.arrayContaining(['ca.crt', 'private.key']));
    const leaf = new X509Certificate(server.tls.cert);
    expect(leaf.subjectAltName).toContain('DNS:mesh-admission.fsm-system.svc');
    expect(leaf.verify(new X509Certificate(caPem).publicKey)).toBe(true);
  });

  it('patches the caBundle of both webhook configurations, and again after someone edits it', async () => {
    await waitFor(() => [...caBundles('MutatingWebhookConfiguration'), ...caBundles('ValidatingWebhookConfiguration')].every((c) => c === b64(caPem)) || undefined, { timeoutMs: 10_000 });
    api.modifyObject('admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration', undefined, 'mesh-admission', (o) => {
      (o.webhooks as Array<{ clientConfig: { caBundle?: string } }>)[0]!.clientConfig.caBundle = b64('stale');
    });
    await waitFor(() => caBundles('ValidatingWebhookConfiguration').every((c) => c === b64(caPem)) || undefined, { timeoutMs: 10_000 });
  });

  it('serves over a certificate the published CA verifies, and validates against the live view', async () => {
    await waitFor(() => server.view.synced() || undefined, { timeoutMs: 10_000 });
    const answer = (await http.post('/validate', loadFixture('plugin-create-priority-70000.json').raw)).json() as { response: { allowed: boolean; status: { code: number } } };
    expect(answer.response).toMatchObject({ allowed: false, status: { code: 422 } });
  });

  it('writes the bootstrap Secret through the API', async () => {
    const fx = loadFixture('pod-create-from-replicaset-v1.json');
    const answer = (await http.post('/mutate-pod-creation', fx.raw)).json() as { response: { allowed: boolean; patch?: string } };
    expect(answer.response.allowed).toBe(true);
    const ops = JSON.parse(unb64(answer.response.patch)) as Array<{ path: string; value: unknown }>;
    const uuid = ops.find((o) => o.path === '/metadata/labels/fsm-proxy-uuid')?.value;
    const secret = api.getObject('v1', 'Secret', 'curl', `sidecar-bootstrap-config-${String(uuid)}`);
    expect(secret?.metadata?.labels).toMatchObject({ 'fsm-proxy-uuid': uuid, 'app.kubernetes.io/instance': 'fsm' });
    expect(api.requestsFor({ method: 'POST', resource: 'secrets' }).some((r) => r.path === '/api/v1/namespaces/curl/secrets')).toBe(true);
  });

  it('fetches a namespace missing from the cache instead of admitting the pod uninjected', async () => {
    api.silently(() => api.addObject(namespace('fresh')));
    const fx = loadFixture('pod-create-from-replicaset-v1.json');
    const review = { ...fx.review, request: { ...fx.review.request, uid: 'fresh-ns', namespace: 'fresh' } };
    const answer = (await http.post('/mutate-pod-creation', review)).json() as { response: { uid: string; allowed: boolean; patch?: string } };
    expect(answer.response.uid).toBe('fresh-ns');
    expect(answer.response.patch).toBeDefined();
    expect(api.requestsFor({ method: 'GET', resource: 'namespaces' }).some((r) => r.path === '/api/v1/namespaces/fresh')).toBe(true);
  });
});
