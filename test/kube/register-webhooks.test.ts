import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KubeHttp } from '../../src/kube/client.js';
import { selfSignedCa } from '../../src/certs/signer.js';
import { meshIdentity } from '../../src/mesh/flavor.js';
import { registerWebhooks, registrationBaseUrl } from '../../src/kube/register-webhooks.js';
import { encodeCaBundle, policyRules } from '../../src/install/webhook-config.js';
import { FakeApiServer, type Obj } from '../support/fake-apiserver.js';

const ADM = 'admissionregistration.k8s.io/v1';
const mesh = meshIdentity('fsm');
const now = Date.now();
const CA1 = selfSignedCa({ commonName: 'one', notBefore: new Date(now - 1000), notAfter: new Date(now + 86_400_000) }).cert;
const CA2 = selfSignedCa({ commonName: 'two', notBefore: new Date(now - 1000), notAfter: new Date(now + 86_400_000) }).cert;

type Cfg = Obj & { webhooks: Array<{ name: string; rules: unknown; clientConfig: { url?: string; service?: unknown; caBundle?: string } }> };

describe('--register-webhooks', () => {
  let fake: FakeApiServer;
  let http: KubeHttp;
  const get = (kind: string): Cfg => fake.getObject(ADM, kind, undefined, 'mesh-admission') as Cfg;
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
      ['MutatingWebhookConfiguration', 'mesh-admission', 'created'],
      ['ValidatingWebhookConfiguration', 'mesh-admission', 'created'],
    ]);
    expect(fake.requestsFor({ verb: 'create' }).map((r) => r.path)).toEqual([
      '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations',
      '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations',
    ]);
    const m = get('MutatingWebhookConfiguration');
    expect(m.webhooks.map((w) => w.clientConfig)).toEqual([{ url: 'https://127.0.0.1:9443/mutate-pod-creation', caBundle: encodeCaBundle(CA1) }]);
    const v = get('ValidatingWebhookConfiguration');
    expect(v.webhooks.map((w) => w.clientConfig)).toEqual([
      { url: 'https://127.0.0.1:9443/validate', caBundle: encodeCaBundle(CA1) },
      { url: 'https://127.0.0.1:9443/validate', caBundle: encodeCaBundle(CA1) },
    ]);
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
    fake.deleteObject(ADM, 'ValidatingWebhookConfiguration', undefined, 'mesh-admission');
    fake.addObject({ apiVersion: ADM, kind: 'ValidatingWebhookConfiguration', metadata: { name: 'mesh-admission' }, webhooks: [] });
    fake.clearRequests();
    fake.failRequests({ count: 1, verb: 'get', resource: 'validatingwebhookconfigurations', status: 404 });
    const r = await registerWebhooks({ http, mesh, url: 'https://127.0.0.1:9443', caBundle: CA1 });
    expect(r[1]!.action).toBe('updated');
    expect(fake.requestsFor({ resource: 'validatingwebhookconfigurations' }).map((x) => x.verb)).toEqual(['get', 'create', 'get', 'update']);
    expect(get('ValidatingWebhookConfiguration').webhooks).toHaveLength(2);
  });

  it('fails with the reason on other errors, and on a URL the API server cannot call', async () => {
    fake.failRequests({ count: 1, verb: 'get', resource: 'mutatingwebhookconfigurations', status: 403, message: 'forbidden' });
    await expect(registerWebhooks({ http, mesh, url: 'https://127.0.0.1:9443', caBundle: CA1 })).rejects.toThrow(/MutatingWebhookConfiguration mesh-admission: .*403 forbidden/);
    expect(() => registrationBaseUrl('http://127.0.0.1:9443')).toThrow(/https only/);
    expect(() => registrationBaseUrl('not a url')).toThrow(/not a URL/);
    expect(() => registrationBaseUrl('https://h:1/?x=1')).toThrow(/no query/);
    expect(registrationBaseUrl('https://h:1/base/')).toBe('https://h:1/base');
  });
});
