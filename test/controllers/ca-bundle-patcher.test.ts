import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KubeHttp } from '../../src/kube/http.js';
import { CaBundlePatcher } from '../../src/controllers/ca-bundle-patcher.js';
import { webhookConfigurationPath } from '../../src/kube/paths.js';
import { issueCA } from '../../src/certs/issue.js';
import { meshIdentity } from '../../src/mesh/flavor.js';
import { encodeCaBundle, webhookConfigurations } from '../../src/install/webhook-config.js';
import { FakeApiServer, waitFor, type Obj } from '../support/fake-apiserver.js';

const mesh = meshIdentity('fsm');
const ADM = 'admissionregistration.k8s.io/v1';
const now = Date.now();
const ca = (cn: string) => issueCA(cn, { notBefore: new Date(now - 3600_000), notAfter: new Date(now + 86_400_000) });
const CA1 = (await ca('one')).cert;
const CA2 = (await ca('two')).cert;

type Cfg = { webhooks: Array<{ name: string; clientConfig: { caBundle?: string } }> };

describe('CaBundlePatcher', () => {
  let fake: FakeApiServer;
  let http: KubeHttp;
  const patchers: CaBundlePatcher[] = [];
  const patcher = (extra: Partial<ConstructorParameters<typeof CaBundlePatcher>[0]> = {}): CaBundlePatcher => {
    const p = new CaBundlePatcher({ http, mutatingName: 'mesh-admission-fsm', validatingName: 'mesh-admission-fsm', resyncMs: 3_600_000, backoffMs: [10, 50], ...extra });
    patchers.push(p);
    return p;
  };
  const get = (kind: 'MutatingWebhookConfiguration' | 'ValidatingWebhookConfiguration', name = 'mesh-admission-fsm'): Cfg | undefined => fake.getObject(ADM, kind, undefined, name) as unknown as Cfg | undefined;
  const bundles = (kind: 'MutatingWebhookConfiguration' | 'ValidatingWebhookConfiguration', name = 'mesh-admission-fsm'): (string | undefined)[] => (get(kind, name)?.webhooks ?? []).map((w) => w.clientConfig.caBundle);
  const install = (names?: { mutatingConfiguration: string; validatingConfiguration: string }): void => {
    const { mutating, validating } = webhookConfigurations(mesh, { target: { service: { name: 'mesh-admission', namespace: 'fsm-system' } }, ...(names ? { names } : {}) });
    fake.addObject(mutating as unknown as Obj);
    fake.addObject(validating as unknown as Obj);
  };

  beforeAll(async () => {
    fake = await FakeApiServer.start();
    http = new KubeHttp(fake.kubeConfig());
  });
  afterAll(() => fake.close());
  beforeEach(() => {
    for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) for (const o of fake.listObjects(ADM, kind)) fake.deleteObject(ADM, kind, undefined, o.metadata!.name!);
    fake.clearRequests();
    fake.clearFailures();
  });
  afterEach(async () => {
    await Promise.all(patchers.splice(0).map((p) => p.stop()));
    expect(fake.watchCount()).toBe(0);
  });

  it('patches every webhook of both configurations with a test-guarded JSON patch, once', async () => {
    install();
    const p = patcher();
    const r = await p.setBundle(CA1);
    expect(r.ok).toBe(true);
    expect(r.configurations.map((c) => c.status)).toEqual(['patched', 'patched']);
    const b64 = encodeCaBundle(CA1);
    expect(bundles('MutatingWebhookConfiguration')).toEqual([b64]);
    expect(bundles('ValidatingWebhookConfiguration')).toEqual([b64, b64, b64]);
    const patches = fake.requestsFor({ verb: 'patch' });
    expect(patches.map((x) => x.path)).toEqual([webhookConfigurationPath('MutatingWebhookConfiguration', 'mesh-admission-fsm'), webhookConfigurationPath('ValidatingWebhookConfiguration', 'mesh-admission-fsm')]);
    expect(patches[0]!.contentType).toBe('application/json-patch+json');
    expect(patches[1]!.body).toEqual([
      { op: 'test', path: '/webhooks/0/name', value: 'validate.flomesh.io' },
      { op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: b64 },
      { op: 'test', path: '/webhooks/1/name', value: 'validate-services.flomesh.io' },
      { op: 'add', path: '/webhooks/1/clientConfig/caBundle', value: b64 },
      { op: 'test', path: '/webhooks/2/name', value: 'validate-references.flomesh.io' },
      { op: 'add', path: '/webhooks/2/clientConfig/caBundle', value: b64 },
    ]);
    // unchanged: no more writes
    fake.clearRequests();
    expect((await p.setBundle(CA1)).configurations.map((c) => c.status)).toEqual(['unchanged', 'unchanged']);
    expect(fake.requestsFor({ verb: 'patch' })).toHaveLength(0);
    // a new bundle: patched again
    expect((await p.setBundle(CA1 + CA2)).ok).toBe(true);
    expect(bundles('ValidatingWebhookConfiguration')).toEqual([encodeCaBundle(CA1 + CA2), encodeCaBundle(CA1 + CA2), encodeCaBundle(CA1 + CA2)]);
  });

  it('configurable names', async () => {
    install({ mutatingConfiguration: 'inject.flomesh.io', validatingConfiguration: 'validate.flomesh.io' });
    const r = await patcher({ mutatingName: 'inject.flomesh.io', validatingName: 'validate.flomesh.io' }).setBundle(CA1);
    expect(r.configurations.map((c) => [c.name, c.status])).toEqual([
      ['inject.flomesh.io', 'patched'],
      ['validate.flomesh.io', 'patched'],
    ]);
    expect(bundles('MutatingWebhookConfiguration', 'inject.flomesh.io')).toEqual([encodeCaBundle(CA1)]);
  });

  it('a missing configuration is logged and retried, not fatal; patched once it exists', async () => {
    const p = patcher({ resyncMs: 20, watch: false });
    const r = await p.setBundle(CA1);
    expect(r.ok).toBe(true);
    expect(r.configurations.map((c) => c.status)).toEqual(['missing', 'missing']);
    p.start();
    install();
    await waitFor(() => bundles('ValidatingWebhookConfiguration').every((b) => b === encodeCaBundle(CA1)) && bundles('MutatingWebhookConfiguration')[0] === encodeCaBundle(CA1), { timeoutMs: 10_000, what: 'patched by the re-check' });
  });

  it('a failed patch (test op fails after a reorder, 422) is re-read and retried', async () => {
    install();
    fake.failRequests({ count: 1, verb: 'patch', status: 422, message: 'test operation failed' });
    const r = await patcher().setBundle(CA1);
    expect(r.ok).toBe(true);
    expect(fake.requestsFor({ verb: 'patch' })).toHaveLength(3);
    expect(bundles('MutatingWebhookConfiguration')).toEqual([encodeCaBundle(CA1)]);
  });

  it('after a reorder, the guarded patch is computed from a fresh read and targets the right entries', async () => {
    install();
    const p = patcher();
    await p.setBundle(CA1);
    // someone reverses the validating webhooks and changes one bundle; our patch is computed from a fresh read
    fake.modifyObject(ADM, 'ValidatingWebhookConfiguration', undefined, 'mesh-admission-fsm', (o) => {
      const c = o as unknown as Cfg;
      c.webhooks.reverse();
      c.webhooks[0]!.clientConfig.caBundle = 'b3RoZXI=';
    });
    expect((await p.reconcile()).ok).toBe(true);
    const cfg = get('ValidatingWebhookConfiguration')!;
    expect(cfg.webhooks.map((w) => w.name)).toEqual(['validate-references.flomesh.io', 'validate-services.flomesh.io', 'validate.flomesh.io']);
    expect(cfg.webhooks.map((w) => w.clientConfig.caBundle)).toEqual([encodeCaBundle(CA1), encodeCaBundle(CA1), encodeCaBundle(CA1)]);
    expect(fake.requestsFor({ verb: 'patch' }).at(-1)!.body).toEqual([
      { op: 'test', path: '/webhooks/0/name', value: 'validate-references.flomesh.io' },
      { op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: encodeCaBundle(CA1) },
    ]);
  });

  it('re-patches after an external edit (watch)', async () => {
    install();
    const p = patcher();
    await p.setBundle(CA1);
    p.start();
    await waitFor(() => fake.watchCount('mutatingwebhookconfigurations') === 1 && fake.watchCount('validatingwebhookconfigurations') === 1, { timeoutMs: 10_000, what: 'watches' });
    expect(fake.requestsFor({ verb: 'watch' }).map((r) => r.query.fieldSelector)).toEqual(['metadata.name=mesh-admission-fsm', 'metadata.name=mesh-admission-fsm']);
    fake.modifyObject(ADM, 'MutatingWebhookConfiguration', undefined, 'mesh-admission-fsm', (o) => {
      delete (o as unknown as Cfg).webhooks[0]!.clientConfig.caBundle;
    });
    await waitFor(() => bundles('MutatingWebhookConfiguration')[0] === encodeCaBundle(CA1), { timeoutMs: 10_000, what: 're-patch after edit' });
  });


  it('after an API server restart the named watches resume with one read each, not a loop of 410s (the object\'s resourceVersion is older than the new watch cache)', async () => {
    install();
    const p = patcher();
    await p.setBundle(CA1);
    p.start();
    await waitFor(() => fake.watchCount('mutatingwebhookconfigurations') === 1 && fake.watchCount('validatingwebhookconfigurations') === 1, { timeoutMs: 10_000, what: 'watches' });
    await fake.restart({ downMs: 50 });
    fake.clearRequests();
    await waitFor(() => fake.watchCount('mutatingwebhookconfigurations') === 1 && fake.watchCount('validatingwebhookconfigurations') === 1, { timeoutMs: 10_000, what: 'watches again' });
    // an edit after the restart is still followed
    fake.modifyObject(ADM, 'MutatingWebhookConfiguration', undefined, 'mesh-admission-fsm', (o) => {
      delete (o as unknown as Cfg).webhooks[0]!.clientConfig.caBundle;
    });
    await waitFor(() => bundles('MutatingWebhookConfiguration')[0] === encodeCaBundle(CA1), { timeoutMs: 10_000, what: 're-patch after the restart' });
    const reads = fake.requestsFor({ verb: 'get', resource: 'mutatingwebhookconfigurations' });
    const watches = fake.requestsFor({ verb: 'watch', resource: 'mutatingwebhookconfigurations' });
    expect(reads.length).toBeLessThanOrEqual(3);
    expect(watches.length).toBeLessThanOrEqual(3);
    expect(watches.map((w) => w.query.resourceVersion)).not.toContain(String((get('MutatingWebhookConfiguration') as unknown as Obj | undefined)?.metadata?.resourceVersion ?? 'x'));
  });
  it('re-patches after an external edit the watch missed (periodic re-check)', async () => {
    install();
    const p = patcher({ resyncMs: 20 });
    await p.setBundle(CA1);
    p.start();
    await waitFor(() => fake.watchCount() === 2, { timeoutMs: 10_000, what: 'watches' });
    fake.silently(() =>
      fake.modifyObject(ADM, 'ValidatingWebhookConfiguration', undefined, 'mesh-admission-fsm', (o) => {
        (o as unknown as Cfg).webhooks[1]!.clientConfig.caBundle = encodeCaBundle(CA2);
      }),
    );
    await waitFor(() => bundles('ValidatingWebhookConfiguration')[1] === encodeCaBundle(CA1), { timeoutMs: 10_000, what: 're-patch by re-check' });
  });

  it('an API failure makes the publication not ok', async () => {
    install();
    fake.failRequests({ count: 10, verb: 'get', resource: 'validatingwebhookconfigurations', status: 500 });
    const r = await patcher().setBundle(CA1);
    expect(r.ok).toBe(false);
    expect(r.configurations.map((c) => c.status)).toEqual(['patched', 'error']);
  });
});
