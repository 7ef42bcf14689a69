// Live mode end to end against the in-process fake API server over TLS, which enforces exactly the RBAC the manifests
// grant: the server lists and watches every kind of the kind table, creates its mesh CA and replaces a broken serving
// certificate Secret, patches the webhook configurations' caBundle (and again after an edit), admits pods without any
// API write, creates each bootstrap Secret from the pod watch once the pod exists (owned by it, deleted with it),
// reports a Secret it cannot create with a Warning Event, fetches a namespace its cache has not seen yet, re-reads a
// kind its cache lost after an API server restart instead of admitting "unverified", and uses every verb it is
// granted and no other.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fastJsonPatch from 'fast-json-patch';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterRoleRules, meshNamespaceRoleRules } from '../../src/install/rbac.js';
import { webhookConfigurations } from '../../src/install/webhook-config.js';
import { meshIdentity } from '../../src/mesh/flavor.js';
import { kindResources } from '../../src/mesh/kinds.js';
import { SERVE_DEFAULTS } from '../../src/server/options.js';
import { startServer, type RunningServer } from '../../src/server/run.js';
import type { LiveView } from '../../src/controllers/live-view.js';
import { CORE_RESOURCES, FakeApiServer, waitFor, type Obj, type PolicyRule, type ResourceDef } from '../support/fake-apiserver.js';
import { loadFixture } from '../support/fixtures.js';
import { client } from '../support/https-client.js';

const mesh = meshIdentity('fsm');
const namespace = (name: string): Obj => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name, labels: { 'flomesh.io/monitored-by': 'fsm' }, annotations: { 'flomesh.io/sidecar-injection': 'enabled' } },
});
/** every (group, plural) of the kind table, served at v1alpha1 (the core Services are in CORE_RESOURCES) */
const CRDS: ResourceDef[] = kindResources()
  .filter((r) => r.group !== '')
  .map((r) => ({ group: r.group, version: 'v1alpha1', plural: r.resource, kind: r.kind, namespaced: r.scope === 'Namespaced' }));
const clusterRules = clusterRoleRules(mesh) as unknown as PolicyRule[];
const roleRules = meshNamespaceRoleRules(mesh) as unknown as PolicyRule[];

let api: FakeApiServer;
let server: RunningServer;
let http: ReturnType<typeof client>;
let caPem: string;

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: unknown) => Buffer.from(String(s), 'base64').toString('utf8');
const caBundles = (kind: string): string[] => {
  const obj = api.getObject('admissionregistration.k8s.io/v1', kind, undefined, 'mesh-admission-fsm');
  return ((obj?.webhooks as Array<{ clientConfig: { caBundle?: string } }>) ?? []).map((w) => w.clientConfig.caBundle ?? '');
};
const WRITES = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

interface Review {
  apiVersion: string;
  kind: string;
  request: { uid: string; namespace?: string; object: Obj; dryRun?: boolean } & Record<string, unknown>;
}

/** What the API server does with an admitted pod: applies the patch and stores it (name, uid, phase Pending). */
function storePod(review: Review, patch: fastJsonPatch.Operation[], name: string): Obj {
  const pod = fastJsonPatch.applyPatch(structuredClone(review.request.object), patch, true, false).newDocument as Obj;
  pod.metadata = { ...pod.metadata, name, namespace: review.request.namespace };
  (pod as Record<string, unknown>).status = { phase: 'Pending' };
  return api.addObject(pod);
}

/** The proxy UUID the patch gives the pod (a label added to the pod's labels, or with them). */
function uuidOf(patch: fastJsonPatch.Operation[]): string {
  for (const o of patch) {
    if (o.op !== 'add') continue;
    if (o.path === '/metadata/labels/fsm-proxy-uuid') return String(o.value);
    if (o.path === '/metadata/labels') return String((o.value as Record<string, string>)['fsm-proxy-uuid']);
  }
  return '';
}

async function admit(review: Review): Promise<{ allowed: boolean; patch: fastJsonPatch.Operation[]; warnings?: string[] }> {
  const answer = (await http.post('/mutate-pod-creation?timeout=10s', review)).json() as { response: { allowed: boolean; patch?: string; warnings?: string[] } };
  return { ...answer.response, patch: answer.response.patch ? (JSON.parse(unb64(answer.response.patch)) as fastJsonPatch.Operation[]) : [] };
}

beforeAll(async () => {
  api = await FakeApiServer.start({ tls: true, garbageCollect: true, resources: [...CORE_RESOURCES, ...CRDS] });
  api.authorize({ clusterRules, namespaceRules: { 'fsm-system': roleRules } });
  api.addObject(namespace('curl'));
  api.addObject({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'fsm-system' } });
  api.addObject(namespace('locked'));
  api.addObject(namespace('httpbin'));
  // a serving certificate Secret left behind broken: the server must replace it (update)
  api.addObject({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'fsm-admission-tls', namespace: 'fsm-system' }, type: 'kubernetes.io/tls', data: { 'tls.crt': b64('garbage') } });
  const { mutating, validating } = webhookConfigurations(mesh, { target: { service: { name: 'mesh-admission', namespace: 'fsm-system' } } });
  api.addObject(mutating as unknown as Obj);
  api.addObject(validating as unknown as Obj);
  // the mesh's own injector, still registered: a conflict the server reports without failing readiness
  api.addObject({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: 'fsm-webhook-fsm', labels: { app: 'fsm-injector' } },
    webhooks: [{ name: 'fsm-inject.k8s.io', clientConfig: { service: { name: 'fsm-injector', namespace: 'fsm-system', path: '/mutate-pod-creation', port: 9090 } }, namespaceSelector: { matchLabels: { 'flomesh.io/monitored-by': 'fsm' } }, rules: [{ operations: ['CREATE'], apiGroups: ['*'], apiVersions: ['v1'], resources: ['pods'] }], sideEffects: 'NoneOnDryRun', admissionReviewVersions: ['v1'] }],
  });
  const dir = mkdtempSync(join(tmpdir(), 'mesh-admission-live-'));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, api.kubeConfigYaml());
  // --insecure-metrics: the fake API server models no authentication (no TokenReview); the secured metrics port is
  // tested in test/server/side-ports.test.ts and, with the real authenticator and authorizer, test/apiserver/security.test.ts
  server = await startServer({ ...SERVE_DEFAULTS, port: 0, metricsPort: 0, healthPort: 0, insecureMetrics: true, host: '127.0.0.1', kubeconfig, certsDir: join(dir, 'certs'), secretsDir: join(dir, 'secrets') }, { logger: pino({ level: 'silent' }) });
  const tlsSecret = api.getObject('v1', 'Secret', 'fsm-system', 'fsm-admission-tls');
  caPem = unb64((tlsSecret?.data as Record<string, string>)['ca.crt']);
  http = client(caPem, server.port, '127.0.0.1', 'mesh-admission.fsm-system.svc');
});

afterAll(async () => {
  http?.close();
  await server?.shutdown(1, 0);
  await api?.close();
});

describe('live mode', () => {
  it('runs in live mode and becomes ready once every informer has listed', async () => {
    expect(server.mode).toBe('live');
    await waitFor(async () => (await fetch(`http://127.0.0.1:${server.healthPort}/readyz`)).status === 200 || undefined);
  });

  it('reports the mesh\'s own injector as a conflicting webhook: a /readyz line (still ready) and the metric', async () => {
    const body = await waitFor(
      async () => {
        const b = (await (await fetch(`http://127.0.0.1:${server.healthPort}/readyz`)).json()) as { status: string; warnings?: string[] };
        return b.warnings ? b : undefined;
      },
      { what: 'the conflict on /readyz' },
    );
    expect(body).toEqual({
      status: 'ready',
      reasons: [],
      warnings: [
        'conflicting webhook: MutatingWebhookConfiguration fsm-webhook-fsm (fsm-inject.k8s.io): the mesh\'s own sidecar injector, called before mesh-admission-fsm for pod CREATE in curl, httpbin, locked: pods are injected by it, and this server adds nothing to them; run one injector per mesh: scale fsm-injector to zero and delete this configuration (README: "Replacing the mesh\'s own webhooks")',
      ],
    });
    const metrics = await (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).text();
    expect(metrics).toContain('mesh_admission_conflicting_webhooks{name="fsm-webhook-fsm"} 1');
  });

  it('creates the mesh CA Secret and replaces the broken serving certificate Secret', () => {
    const ca = api.getObject('v1', 'Secret', 'fsm-system', 'fsm-ca-bundle');
    expect(Object.keys((ca?.data as Record<string, string>) ?? {})).toEqual(expect.arrayContaining(['ca.crt', 'private.key']));
    const leaf = new X509Certificate(server.tls.cert);
    expect(leaf.subjectAltName).toContain('DNS:mesh-admission.fsm-system.svc');
    expect(leaf.verify(new X509Certificate(caPem).publicKey)).toBe(true);
    expect(api.requestsFor({ verb: 'update', resource: 'secrets' }).map((r) => r.name)).toContain('fsm-admission-tls');
  });

  it('patches the caBundle of both webhook configurations, and again after someone edits it', async () => {
    await waitFor(() => [...caBundles('MutatingWebhookConfiguration'), ...caBundles('ValidatingWebhookConfiguration')].every((c) => c === b64(caPem)) || undefined);
    api.modifyObject('admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration', undefined, 'mesh-admission-fsm', (o) => {
      (o.webhooks as Array<{ clientConfig: { caBundle?: string } }>)[0]!.clientConfig.caBundle = b64('stale');
    });
    await waitFor(() => caBundles('ValidatingWebhookConfiguration').every((c) => c === b64(caPem)) || undefined);
  });

  it('serves over a certificate the published CA verifies, and validates against the live view', async () => {
    await waitFor(() => server.view.ready() || undefined);
    const answer = (await http.post('/validate', loadFixture('plugin-create-priority-70000.json').raw)).json() as { response: { allowed: boolean; status: { code: number } } };
    expect(answer.response).toMatchObject({ allowed: false, status: { code: 422 } });
  });

  it('admits a pod with no API write; the bootstrap Secret is created once the pod exists, owned by it, and deleted with it', async () => {
    const fx = loadFixture('pod-create-from-replicaset-v1.json');
    const before = api.requests.length;
    const answer = await admit(fx.review as unknown as Review);
    expect(answer.allowed).toBe(true);
    // admission: no write of any kind reached the API server
    expect(api.requests.slice(before).filter((r) => WRITES.has(r.verb))).toEqual([]);
    const uuid = uuidOf(answer.patch);
    expect(uuid).toMatch(/^[0-9a-f-]{36}$/);
    const pod = storePod(fx.review as unknown as Review, answer.patch, 'curl-abc12');
    const secret = await waitFor(() => api.getObject('v1', 'Secret', 'curl', `sidecar-bootstrap-config-${uuid}`), { what: 'the bootstrap Secret' });
    expect(secret.metadata?.ownerReferences).toEqual([{ apiVersion: 'v1', kind: 'Pod', name: 'curl-abc12', uid: pod.metadata!.uid, controller: false, blockOwnerDeletion: false }]);
    expect(secret.metadata?.labels).toMatchObject({ 'fsm-proxy-uuid': uuid, 'app.kubernetes.io/instance': 'fsm' });
    expect(api.requestsFor({ verb: 'create', resource: 'secrets', namespace: 'curl' })).toHaveLength(1);
    const metricsText = async (): Promise<string> => (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).text();
    const metrics = await waitFor(async () => ((await metricsText()).match(/mesh_bootstrap_secrets_total\{result="created"\} 1/) ? metricsText() : undefined), { what: 'the creation to be counted' });
    expect(metrics).toMatch(/mesh_bootstrap_secret_seconds_count 1/);
    api.deleteObject('v1', 'Pod', 'curl', 'curl-abc12');
    await waitFor(() => api.getObject('v1', 'Secret', 'curl', `sidecar-bootstrap-config-${uuid}`) === undefined, { what: 'the Secret to go with its pod' });
  });

  it('a dry run, or a pod that is never created, leaves no Secret behind', async () => {
    const fx = loadFixture('pod-create-dryrun-v1.json');
    const creates = api.requestsFor({ verb: 'create', resource: 'secrets' }).length;
    const answer = await admit(fx.review as unknown as Review);
    expect(answer.allowed).toBe(true);
    expect(answer.patch.length).toBeGreaterThan(0);
    const again = await admit({ ...(loadFixture('pod-create-from-replicaset-v1.json').review as unknown as Review), request: { ...(loadFixture('pod-create-from-replicaset-v1.json').review as unknown as Review).request, uid: 'never-created' } });
    expect(again.allowed).toBe(true);
    expect(api.requestsFor({ verb: 'create', resource: 'secrets' })).toHaveLength(creates);
  });

  it('a pod whose Secret cannot be created gets a Warning Event naming the reason, and a metric counts it', async () => {
    const fx = loadFixture('pod-create-from-replicaset-v1.json');
    const review = { ...(fx.review as unknown as Review), request: { ...(fx.review as unknown as Review).request, uid: 'locked', namespace: 'locked' } };
    const answer = await admit(review);
    api.failRequests({ count: 1, verb: 'create', resource: 'secrets', status: 403, message: 'secrets is forbidden: exceeded quota: secrets-quota' });
    const pod = storePod(review, answer.patch, 'curl-locked');
    const event = await waitFor(() => api.listObjects('v1', 'Event', 'locked').find((e) => (e.involvedObject as { uid?: string }).uid === pod.metadata!.uid), { what: 'the Warning Event' });
    expect(event).toMatchObject({ type: 'Warning', reason: 'BootstrapSecretFailed', involvedObject: { kind: 'Pod', name: 'curl-locked' } });
    expect(String(event.message)).toContain('exceeded quota: secrets-quota');
    const metrics = await (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/mesh_bootstrap_secret_failures_total\{status="403"\} 1/);
  });

  it('fetches a namespace missing from the cache instead of admitting the pod uninjected', async () => {
    api.silently(() => api.addObject(namespace('fresh')));
    const fx = loadFixture('pod-create-from-replicaset-v1.json');
    const review = { ...fx.review, request: { ...fx.review.request, uid: 'fresh-ns', namespace: 'fresh' } };
    const answer = (await http.post('/mutate-pod-creation', review)).json() as { response: { uid: string; allowed: boolean; patch?: string } };
    expect(answer.response.uid).toBe('fresh-ns');
    expect(answer.response.patch).toBeDefined();
    expect(api.requestsFor({ verb: 'get', resource: 'namespaces', name: 'fresh' })).toHaveLength(1);
  });

  it('after an API server restart, a reference check reads the kind it lost instead of admitting "unverified"', async () => {
    // the ServiceImport appears while the API server is down: only a fresh read can know it
    let up!: () => void;
    const restarted = api.restart({ until: new Promise<void>((r) => (up = r)) });
    api.addObject({ apiVersion: 'multicluster.flomesh.io/v1alpha1', kind: 'ServiceImport', metadata: { name: 'httpbin', namespace: 'curl' }, spec: { ports: [{ port: 8080, endpoints: [{ clusterKey: 'default/default/default/cluster-1' }] }] } });
    // while the API server is down the webhook gets no calls (they go through it); the view notices its cut watches
    const view = server.view as LiveView;
    await waitFor(() => !view.kindCurrent('ServiceImport'), { what: 'the view to notice the cut watches' });
    up();
    await restarted;
    // the first call after the restart: the cache may not have relisted yet
    const gtp = {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: 'gtp-after-restart',
        kind: { group: 'multicluster.flomesh.io', version: 'v1alpha1', kind: 'GlobalTrafficPolicy' },
        resource: { group: 'multicluster.flomesh.io', version: 'v1alpha1', resource: 'globaltrafficpolicies' },
        namespace: 'curl',
        operation: 'CREATE',
        object: { apiVersion: 'multicluster.flomesh.io/v1alpha1', kind: 'GlobalTrafficPolicy', metadata: { name: 'httpbin', namespace: 'curl' }, spec: { lbType: 'FailOver', targets: [{ clusterKey: 'default/default/default/cluster-3' }] } },
      },
    };
    const answer = (await http.post('/validate?timeout=10s', gtp)).json() as { response: { allowed: boolean; status?: { code: number; details?: { causes: Array<{ field: string; message: string }> } }; warnings?: string[] } };
    expect(answer.response, JSON.stringify(answer.response)).toMatchObject({ allowed: false });
    expect(answer.response.status?.code, JSON.stringify(answer.response)).toBe(422);
    expect(answer.response.status?.details?.causes[0]).toMatchObject({ field: 'spec.targets[0].clusterKey', message: expect.stringContaining('does not export this service') });
    const metrics = await (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/mesh_informer_synced_since_timestamp_seconds\{kind="ServiceImport"\} [1-9]/);
  });

  it('audits continuously: findings on /audit and as metrics, with the server\'s own RBAC (pods listed, Secrets not)', async () => {
    // a pod admitted while the injector was down: in an injection-enabled namespace, without sidecar
    api.addObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'legacy', namespace: 'httpbin', creationTimestamp: '2026-01-01T00:00:00Z' }, spec: { containers: [{ name: 'app', image: 'httpbin' }] }, status: { phase: 'Running' } });
    expect(server.audit).toBeDefined();
    const report = await server.audit!.runNow();
    expect(report?.findings).toContainEqual(expect.objectContaining({ kind: 'Pod', namespace: 'httpbin', name: 'legacy', rule: 'pod-sidecar-missing', severity: 'warning' }));
    // the webhook configurations from the conflict watcher's cache: the mesh's own injector is an error
    expect(report?.findings).toContainEqual(expect.objectContaining({ kind: 'MutatingWebhookConfiguration', name: 'fsm-webhook-fsm', rule: 'webhook-conflict', severity: 'error', field: 'webhooks[0]' }));
    const doc = (await (await fetch(`http://127.0.0.1:${server.metricsPort}/audit`)).json()) as { summary: { notChecked: string[] }; findings: unknown[] };
    expect(doc.summary.notChecked).toEqual(['bootstrap Secrets (the server may not list Secrets; run mesh-admission audit with a role that may)']);
    expect(doc.findings).toContainEqual(expect.objectContaining({ name: 'legacy', rule: 'pod-sidecar-missing' }));
    const metrics = await (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/mesh_admission_audit_findings\{kind="Pod",rule="pod-sidecar-missing",severity="warning"\} [1-9]/);
    expect(metrics).toMatch(/mesh_admission_audit_last_run_timestamp_seconds [1-9]/);
    expect(api.requestsFor({ verb: 'list', resource: 'pods', namespace: 'httpbin' }).length).toBeGreaterThan(0);
    api.deleteObject('v1', 'Pod', 'httpbin', 'legacy');
  });

  it('every request was allowed by the generated RBAC, and every verb it grants was used', async () => {
    // the caBundle watch and the Lease renewals are continuous; wait until the Lease has been both created and renewed
    await waitFor(() => api.requestsFor({ verb: 'update', resource: 'leases' }).length > 0, { what: 'a Lease renewal' });
    const refused = api.requests.filter((r) => r.allowed === false && r.path !== '/api/v1/namespaces/locked/secrets');
    expect(refused.map((r) => `${r.verb} ${r.path}`)).toEqual([]);
    const key = (group: string, resource: string, verb: string, name?: string) => `${verb} ${resource}.${group}${name ? `/${name}` : ''}`;
    // the reviews of metrics callers are not made here (--insecure-metrics above): test/apiserver/privileges.test.ts
    // sees them used against the real API server
    const reviews = new Set(['tokenreviews', 'subjectaccessreviews']);
    const granted = new Set([...clusterRules.filter((r) => !r.resources.some((res) => reviews.has(res))), ...roleRules].flatMap((r) => r.verbs.flatMap((v) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => (r.resourceNames?.length ? r.resourceNames.map((n) => key(g, res, v, n)) : [key(g, res, v)]))))));
    const used = new Set(
      api.requests
        .filter((r) => r.resource && r.allowed !== false)
        .flatMap((r) => {
          const named = [...clusterRules, ...roleRules].some((rule) => rule.resourceNames?.includes(r.name ?? '') && rule.resources.includes(r.resource!) && rule.verbs.includes(r.verb));
          return [key(r.apiGroup ?? '', r.resource!, r.verb, named ? r.name : undefined)];
        }),
    );
    expect([...granted].filter((g) => !used.has(g)).sort()).toEqual([]);
    expect([...used].filter((u) => !granted.has(u)).sort()).toEqual([]);
    // never a read, change or delete of a Secret outside the server's own two
    const secretReads = api.requests.filter((r) => r.resource === 'secrets' && r.verb !== 'create');
    expect(new Set(secretReads.map((r) => `${r.namespace}/${r.name}`))).toEqual(new Set(['fsm-system/fsm-admission-tls', 'fsm-system/fsm-ca-bundle']));
  });
});

describe('live mode shutdown', () => {
  it('hands the Lease over as soon as shutdown begins, while the server still answers', async () => {
    const holder = (): unknown => (api.getObject('coordination.k8s.io/v1', 'Lease', 'fsm-system', 'fsm-admission-leader')?.spec as { holderIdentity?: string } | undefined)?.holderIdentity;
    await waitFor(() => Boolean(holder()) || undefined, { what: 'a Lease holder' });
    const stopping = server.shutdown(5, 2);
    await waitFor(() => !holder() || undefined, { what: 'the Lease released' });
    // still within the shutdown delay: the server answers (closing each connection)
    const answer = (await http.post('/validate', loadFixture('plugin-create-priority-70000.json').raw)).json() as { response: { allowed: boolean } };
    expect(answer.response.allowed).toBe(false);
    await stopping;
  });
});
