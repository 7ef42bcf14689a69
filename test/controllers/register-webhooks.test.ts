// `serve --register-webhooks URL`: the workstation's own configurations (mesh-admission-dev, never the install's
// mesh-admission), created or updated, kept patched, and deleted on shutdown unless --keep-webhooks.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KubeHttp } from '../../src/kube/http.js';
import { issueCA } from '../../src/certs/issue.js';
import { meshIdentity } from '../../src/mesh/flavor.js';
import { DEV_WEBHOOK_CONFIGURATION_NAME, registerWebhooks, registrationBaseUrl, unregisterWebhooks } from '../../src/controllers/register-webhooks.js';
import { encodeCaBundle, policyRules, webhookConfigurations } from '../../src/install/webhook-config.js';
import { startServer } from '../../src/server/run.js';
import { SERVE_DEFAULTS } from '../../src/server/options.js';
import { FakeApiServer, type Obj } from '../support/fake-apiserver.js';

const ADM = 'admissionregistration.k8s.io/v1';
const DEV = 'mesh-admission-dev';
const mesh = meshIdentity('fsm');
const now = Date.now();
const CA1 = (await issueCA('one', { notBefore: new Date(now - 1000), notAfter: new Date(now + 86_400_000) })).cert;
const CA2 = (await issueCA('two', { notBefore: new Date(now - 1000), notAfter: new Date(now + 86_400_000) })).cert;

type Cfg = Obj & { webhooks: Array<{ name: string; rules: unknown; clientConfig: { url?: string; service?: unknown; caBundle?: string } }> };

describe('--register-webhooks', () => {
  let fake: FakeApiServer;
  let http: KubeHttp;
  const get = (kind: string): Cfg => fake.getObject(ADM, kind, undefined, DEV) as Cfg;
  beforeAll(async () => {
    fake = await FakeApiServer.start();
    http = new KubeHttp(fake.kubeConfig());
  });
  afterAll(() => fake.close());
  beforeEach(() => {
    fake.clearRequests();
    fake.clearFailures();
  });

  it('creates both configurations, then updates them keeping resourceVersion', async () => {
    const created = await registerWebhooks({ http, mesh, url: 'https://127.0.0.1:9443/', caBundle: CA1 });
    expect(created.map((c) => [c.kind, c.name, c.action])).toEqual([
      ['MutatingWebhookConfiguration', DEV, 'created'],
      ['ValidatingWebhookConfiguration', DEV, 'created'],
    ]);
    expect(fake.requestsFor({ verb: 'create' }).map((r) => r.path)).toEqual([
      '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations',
      '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations',
    ]);
    const m = get('MutatingWebhookConfiguration');
    expect(m.webhooks.map((w) => w.clientConfig)).toEqual([{ url: 'https://127.0.0.1:9443/mutate-pod-creation', caBundle: encodeCaBundle(CA1) }]);
    const v = get('ValidatingWebhookConfiguration');
    expect(v.webhooks.map((w) => w.clientConfig)).toEqual(v.webhooks.map(() => ({ url: 'https://127.0.0.1:9443/validate', caBundle: encodeCaBundle(CA1) })));
    expect(v.webhooks[0]!.rules).toEqual(policyRules());
    expect(m.metadata?.labels).toEqual({ 'app.kubernetes.io/name': 'mesh-admission', 'app.kubernetes.io/instance': 'fsm' });

    fake.clearRequests();
    const rvBefore = get('MutatingWebhookConfiguration').metadata!.resourceVersion;
    const updated = await registerWebhooks({ http, mesh, url: 'https://10.0.0.5:8443', caBundle: CA1 + CA2 });
    expect(updated.map((c) => c.action)).toEqual(['updated', 'updated']);
    expect(fake.requestsFor().map((r) => r.verb)).toEqual(['get', 'update', 'get', 'update']);
    const put = fake.requestsFor({ verb: 'update', resource: 'mutatingwebhookconfigurations' })[0]!;
    expect((put.body as Obj).metadata!.resourceVersion).toBe(rvBefore);
    expect(get('MutatingWebhookConfiguration').webhooks[0]!.clientConfig).toEqual({ url: 'https://10.0.0.5:8443/mutate-pod-creation', caBundle: encodeCaBundle(CA1 + CA2) });
  });

  it('retries an update that lost a race (409)', async () => {
    await registerWebhooks({ http, mesh, url: 'https://127.0.0.1:9443', caBundle: CA1 });
    fake.clearRequests();
    fake.failRequests({ count: 1, verb: 'update', resource: 'mutatingwebhookconfigurations', status: 409 });
    const r = await registerWebhooks({ http, mesh, url: 'https://127.0.0.1:9443', caBundle: CA2 });
    expect(r.map((c) => c.action)).toEqual(['updated', 'updated']);
    expect(fake.requestsFor({ resource: 'mutatingwebhookconfigurations' }).map((x) => x.verb)).toEqual(['get', 'update', 'get', 'update']);
    expect(get('MutatingWebhookConfiguration').webhooks[0]!.clientConfig.caBundle).toBe(encodeCaBundle(CA2));
  });

  it('a create that lost a race (409) becomes an update', async () => {
    fake.deleteObject(ADM, 'ValidatingWebhookConfiguration', undefined, DEV);
    fake.addObject({ apiVersion: ADM, kind: 'ValidatingWebhookConfiguration', metadata: { name: DEV }, webhooks: [] });
    fake.clearRequests();
    fake.failRequests({ count: 1, verb: 'get', resource: 'validatingwebhookconfigurations', status: 404 });
    const r = await registerWebhooks({ http, mesh, url: 'https://127.0.0.1:9443', caBundle: CA1 });
    expect(r[1]!.action).toBe('updated');
    expect(fake.requestsFor({ resource: 'validatingwebhookconfigurations' }).map((x) => x.verb)).toEqual(['get', 'create', 'get', 'update']);
    expect(get('ValidatingWebhookConfiguration').webhooks.map((w) => w.name)).toEqual(webhookConfigurations(mesh, { target: { url: 'https://x' } }).validating.webhooks.map((w) => w.name));
  });

  it('fails with the reason on other errors, and on a URL the API server cannot call', async () => {
    fake.failRequests({ count: 1, verb: 'get', resource: 'mutatingwebhookconfigurations', status: 403, message: 'forbidden' });
    await expect(registerWebhooks({ http, mesh, url: 'https://127.0.0.1:9443', caBundle: CA1 })).rejects.toThrow(/MutatingWebhookConfiguration mesh-admission-dev: .*403 forbidden/);
    expect(() => registrationBaseUrl('http://127.0.0.1:9443')).toThrow(/https only/);
    expect(() => registrationBaseUrl('not a url')).toThrow(/not a URL/);
    expect(() => registrationBaseUrl('https://h:1/?x=1')).toThrow(/no query/);
    expect(registrationBaseUrl('https://h:1/base/')).toBe('https://h:1/base');
  });

  it('deletes what it registered; one already gone counts as done', async () => {
    await registerWebhooks({ http, mesh, url: 'https://127.0.0.1:9443', caBundle: CA1 });
    fake.deleteObject(ADM, 'ValidatingWebhookConfiguration', undefined, DEV);
    fake.clearRequests();
    const r = await unregisterWebhooks({ http });
    expect(r.map((c) => [c.kind, c.name, c.action])).toEqual([
      ['MutatingWebhookConfiguration', DEV, 'deleted'],
      ['ValidatingWebhookConfiguration', DEV, 'absent'],
    ]);
    expect(fake.requestsFor().map((x) => [x.verb, x.resource, x.name])).toEqual([
      ['delete', 'mutatingwebhookconfigurations', DEV],
      ['delete', 'validatingwebhookconfigurations', DEV],
    ]);
    expect(fake.getObject(ADM, 'MutatingWebhookConfiguration', undefined, DEV)).toBeUndefined();
  });
});

describe('serve --register-webhooks against a cluster with the in-cluster install', () => {
  const INSTALL_NAME = 'mesh-admission-fsm';

  async function run(extra: { keepWebhooks?: boolean }) {
    const api = await FakeApiServer.start();
    // the kustomize install's configurations, reached through the Service: a workstation run must leave them alone
    const { mutating, validating } = webhookConfigurations(mesh, { target: { service: { name: 'mesh-admission', namespace: 'fsm-system' } } });
    api.addObject(mutating as unknown as Obj);
    api.addObject(validating as unknown as Obj);
    const dir = mkdtempSync(join(tmpdir(), 'mesh-admission-register-'));
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, api.kubeConfigYaml());
    const server = await startServer(
      { ...SERVE_DEFAULTS, port: 0, metricsPort: 0, healthPort: 0, host: '127.0.0.1', kubeconfig, certsDir: join(dir, 'certs'), secretsDir: join(dir, 'secrets'), registerWebhooks: 'https://127.0.0.1:9443', ...extra },
      { logger: pino({ level: 'silent' }) },
    );
    return { api, server, installed: { mutating, validating } };
  }
  const configurations = (api: FakeApiServer, name: string) =>
    ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'].map((kind) => api.getObject(ADM, kind, undefined, name) as Cfg | undefined);

  it('registers mesh-admission-dev with the serving CA, patches only those, and deletes them on shutdown', async () => {
    const { api, server, installed } = await run({});
    try {
      expect(DEV_WEBHOOK_CONFIGURATION_NAME).toBe(DEV);
      const bundle = encodeCaBundle(server.tls.ca!);
      for (const cfg of configurations(api, DEV)) for (const w of cfg!.webhooks) expect(w.clientConfig).toEqual({ url: expect.stringMatching(/^https:\/\/127\.0\.0\.1:9443\//), caBundle: bundle });
      // the install's objects are exactly as applied: not rewritten, not patched, not even written to
      expect(configurations(api, INSTALL_NAME).map((c) => c?.webhooks)).toEqual([installed.mutating.webhooks, installed.validating.webhooks]);
      const writes = api.requestsFor().filter((r) => r.resource?.endsWith('webhookconfigurations') && r.verb !== 'get' && r.verb !== 'list' && r.verb !== 'watch');
      expect(writes.map((r) => r.name ?? (r.body as Obj).metadata?.name)).toEqual(writes.map(() => DEV));
      expect(writes.length).toBeGreaterThan(0);
      const reads = api.requestsFor({ verb: 'get' }).filter((r) => r.resource?.endsWith('webhookconfigurations'));
      expect(reads.length).toBeGreaterThan(0);
      expect(reads.every((r) => r.name === DEV)).toBe(true);
    } finally {
      await server.shutdown(1, 0);
    }
    expect(configurations(api, DEV)).toEqual([undefined, undefined]);
    expect(configurations(api, INSTALL_NAME).every((c) => c !== undefined)).toBe(true);
    await api.close();
  });

  it('leaves them in place with --keep-webhooks', async () => {
    const { api, server } = await run({ keepWebhooks: true });
    await server.shutdown(1, 0);
    expect(configurations(api, DEV).map((c) => c?.metadata?.name)).toEqual([DEV, DEV]);
    expect(api.requestsFor({ verb: 'delete' }).filter((r) => r.resource?.endsWith('webhookconfigurations'))).toEqual([]);
    await api.close();
  });
});
