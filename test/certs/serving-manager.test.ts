import { X509Certificate } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KubeHttp } from '../../src/kube/http.js';
import { apiSecretSlot } from '../../src/controllers/secret-slot.js';
import { CaBundlePatcher } from '../../src/controllers/ca-bundle-patcher.js';
import { fromPemAll } from '../../src/certs/der.js';
import { SERVING_SECRET_KEYS, ServingCertManager, type ServingCertManagerOptions, type ServingMaterial } from '../../src/certs/serving-manager.js';
import { meshIdentity } from '../../src/mesh/flavor.js';
import { webhookConfigurations } from '../../src/install/webhook-config.js';
import { FakeApiServer, waitFor, type Obj } from '../support/fake-apiserver.js';

const HOUR = 3600_000;
const ADM = 'admissionregistration.k8s.io/v1';
const mesh = meshIdentity('fsm');

const fingerprints = (pem: string): string[] => fromPemAll(pem).map((d) => new X509Certificate(d).fingerprint256);
const issuerOf = (leafPem: string, bundlePem: string): string | undefined => {
  const leaf = new X509Certificate(leafPem);
  return fromPemAll(bundlePem)
    .map((d) => new X509Certificate(d))
    .find((c) => leaf.checkIssued(c) && leaf.verify(c.publicKey))?.fingerprint256;
};

describe('ServingCertManager', () => {
  let fake: FakeApiServer;
  let http: KubeHttp;
  let clock: number;
  let ns: string;
  let nsN = 0;
  const managers: ServingCertManager[] = [];
  const patchers: CaBundlePatcher[] = [];

  const manager = (extra: Partial<ServingCertManagerOptions> = {}): ServingCertManager => {
    const m = new ServingCertManager({
      store: apiSecretSlot(http, ns, 'fsm-admission-tls'),
      namespace: ns,
      service: 'mesh-admission',
      now: () => new Date(clock),
      caValidityMs: 30 * HOUR,
      leafValidityMs: 3 * HOUR,
      checkIntervalMs: 60_000,
      rotationDelayMs: 0,
      ...extra,
    });
    managers.push(m);
    return m;
  };
  const secret = (): Obj & { data: Record<string, string> } => fake.getObject('v1', 'Secret', ns, 'fsm-admission-tls') as Obj & { data: Record<string, string> };
  const secretValue = (k: string): string | undefined => {
    const v = secret()?.data?.[k];
    return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
  };

  beforeAll(async () => {
    fake = await FakeApiServer.start();
    http = new KubeHttp(fake.kubeConfig());
  });
  afterAll(() => fake.close());
  beforeEach(() => {
    clock = Date.parse('2030-06-01T00:00:00Z');
    ns = `ns-${++nsN}`;
    fake.clearRequests();
    fake.clearFailures();
  });
  afterEach(async () => {
    await Promise.all([...managers.splice(0).map((m) => m.stop()), ...patchers.splice(0).map((p) => p.stop())]);
  });

  it('creates CA + leaf in <p>-admission-tls; a second replica reads the same Secret', async () => {
    const expiry: [string, number][] = [];
    const m1 = manager({ onExpiry: (cert, s) => expiry.push([cert, s]) });
    const a = await m1.sync();
    const creates = fake.requestsFor({ verb: 'create', resource: 'secrets' });
    expect(creates).toHaveLength(1);
    expect(creates[0]!.path).toBe(`/api/v1/namespaces/${ns}/secrets`);
    expect(secret().type).toBe('kubernetes.io/tls');
    expect(secretValue(SERVING_SECRET_KEYS.cert)).toBe(a.cert);
    expect(secretValue(SERVING_SECRET_KEYS.bundle)).toBe(a.ca);

    // the leaf: Service DNS names (no loopback names in-cluster), signed by the CA in the bundle, ECDSA P-256
    const leaf = new X509Certificate(a.cert);
    expect(leaf.subjectAltName).toBe(`DNS:mesh-admission, DNS:mesh-admission.${ns}, DNS:mesh-admission.${ns}.svc, DNS:mesh-admission.${ns}.svc.cluster.local`);
    expect(issuerOf(a.cert, a.ca)).toBeDefined();
    expect(leaf.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(expiry.map((e) => e[0])).toEqual(['serving', 'serving-ca']);
    expect(expiry[0]![1]).toBe(a.notAfter.getTime() / 1000);

    const m2 = manager();
    const b = await m2.sync();
    expect(b.cert).toBe(a.cert);
    expect(b.key).toBe(a.key);
    expect(b.ca).toBe(a.ca);
    expect(fake.requestsFor({ verb: 'create', resource: 'secrets' })).toHaveLength(1);
    expect(fake.requestsFor({ verb: 'update', resource: 'secrets' })).toHaveLength(0);
  });

  it('two replicas starting together converge on one Secret (create; on 409 read)', async () => {
    const [a, b] = await Promise.all([manager().start(), manager().start()]);
    expect(a.cert).toBe(b.cert);
    expect(a.ca).toBe(b.ca);
    expect(secretValue(SERVING_SECRET_KEYS.cert)).toBe(a.cert);
  });

  it('renews the leaf at 2/3 of its life and swaps it in memory; the other replica picks it up without writing', async () => {
    const changes1: ServingMaterial[] = [];
    const changes2: ServingMaterial[] = [];
    const m1 = manager({ onChange: (m) => changes1.push(m) });
    const m2 = manager({ onChange: (m) => changes2.push(m) });
    const first = await m1.sync();
    await m2.sync();
    const leaf = new X509Certificate(first.cert);
    const from = Date.parse(leaf.validFrom);
    const to = Date.parse(leaf.validTo);
    const renewAt = from + ((to - from) * 2) / 3;

    clock = renewAt - 60_000;
    fake.clearRequests();
    expect((await m1.sync()).cert).toBe(first.cert);
    expect(fake.requestsFor({ verb: 'update' })).toHaveLength(0);

    clock = renewAt + 1000;
    const renewed = await m1.sync();
    expect(renewed.cert).not.toBe(first.cert);
    const updates = fake.requestsFor({ verb: 'update', resource: 'secrets' });
    expect(updates).toHaveLength(1);
    expect((updates[0]!.body as Obj).metadata!.resourceVersion).toBeDefined(); // conditional update
    expect(changes1.map((c) => c.cert)).toEqual([first.cert, renewed.cert]);
    expect(Date.parse(new X509Certificate(renewed.cert).validFrom)).toBeGreaterThan(from);
    // same CA: the bundle does not change
    expect(renewed.ca).toBe(first.ca);

    fake.clearRequests();
    const seen = await m2.sync();
    expect(seen.cert).toBe(renewed.cert);
    expect(changes2.map((c) => c.cert)).toEqual([first.cert, renewed.cert]);
    expect(fake.requestsFor({ verb: 'update' })).toHaveLength(0);
  });

  it('replicas renewing at the same moment write once (conditional update, 409 → read)', async () => {
    const m1 = manager();
    const m2 = manager();
    const first = await m1.sync();
    await m2.sync();
    const leaf = new X509Certificate(first.cert);
    clock = Date.parse(leaf.validTo) - 10 * 60_000;
    fake.clearRequests();
    const [a, b] = await Promise.all([m1.sync(), m2.sync()]);
    expect(a.cert).toBe(b.cert);
    expect(a.cert).not.toBe(first.cert);
    expect(secretValue(SERVING_SECRET_KEYS.cert)).toBe(a.cert);
  });

  it('CA rotation: the bundle with old + new CA is in the webhook configurations before any leaf of the new CA is served', async () => {
    const { mutating, validating } = webhookConfigurations(mesh, { target: { service: { name: 'mesh-admission', namespace: ns } } });
    fake.addObject(mutating as unknown as Obj);
    fake.addObject(validating as unknown as Obj);
    const patcher = new CaBundlePatcher({ http, mutatingName: 'mesh-admission-fsm', validatingName: 'mesh-admission-fsm', watch: false, resyncMs: 3_600_000 });
    patchers.push(patcher);
    const published = (): string[][] =>
      ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'].flatMap((kind) =>
        ((fake.getObject(ADM, kind, undefined, 'mesh-admission-fsm') as unknown as { webhooks: { clientConfig: { caBundle?: string } }[] }).webhooks ?? []).map((w) =>
          w.clientConfig.caBundle ? fingerprints(Buffer.from(w.clientConfig.caBundle, 'base64').toString('utf8')) : [],
        ),
      );
    const log: string[] = [];
    const violations: string[] = [];
    const m = manager({
      rotationDelayMs: 30 * 60_000,
      publish: async (pem) => {
        const r = await patcher.setBundle(pem);
        log.push(`publish ${fingerprints(pem).length}`);
        return r;
      },
      onChange: (mat) => {
        // at the moment a leaf is served, every webhook entry must already trust its issuer
        const issuer = issuerOf(mat.cert, mat.ca)!;
        for (const b of published()) if (!b.includes(issuer)) violations.push(`leaf of ${issuer} served while a caBundle holds ${b.join(',')}`);
        log.push('serve');
      },
    });
    const first = await m.start();
    const oldCa = fingerprints(first.ca);
    expect(oldCa).toHaveLength(1);
    expect(log).toEqual(['publish 1', 'serve']);

    // past 2/3 of the CA's life: step 1 only — new CA added to the bundle and published, leaf still from the old CA
    const caCert = new X509Certificate(secretValue(SERVING_SECRET_KEYS.signingCert)!);
    const caFrom = Date.parse(caCert.validFrom);
    const caTo = Date.parse(caCert.validTo);
    clock = caFrom + ((caTo - caFrom) * 2) / 3 + 60_000;
    const step1 = await m.sync();
    const both = fingerprints(step1.ca);
    expect(both).toHaveLength(2);
    expect(both[0]).toBe(oldCa[0]);
    expect(issuerOf(step1.cert, step1.ca)).toBe(oldCa[0]);
    expect(secretValue(SERVING_SECRET_KEYS.nextCert)).toBeDefined();
    for (const b of published()) expect(b).toEqual(both);

    // within the rotation delay: still the old CA signs
    clock += 10 * 60_000;
    expect(issuerOf((await m.sync()).cert, step1.ca)).toBe(oldCa[0]);

    // after the delay: step 2 — the leaf is signed by the new CA, the old CA stays in the bundle
    clock += 25 * 60_000;
    const step2 = await m.sync();
    const newCa = both[1]!;
    expect(issuerOf(step2.cert, step2.ca)).toBe(newCa);
    expect(fingerprints(step2.ca)).toEqual(both);
    expect(secretValue(SERVING_SECRET_KEYS.nextCert)).toBeUndefined();
    expect(violations).toEqual([]);
    const firstNewServe = log.lastIndexOf('serve');
    expect(log.indexOf('publish 2')).toBeGreaterThan(-1);
    expect(log.indexOf('publish 2')).toBeLessThan(firstNewServe);

    // once the old CA has expired it is dropped from the bundle (no leaf it signed can still be valid)
    clock = caTo + 60_000;
    const later = await m.sync();
    expect(fingerprints(later.ca)).toEqual([newCa]);
    for (const b of published()) expect(b).toEqual([newCa]);
    expect(violations).toEqual([]);
  });

  it('a replica whose publication fails holds back a leaf signed by a CA it could not publish', async () => {
    // leaves as long-lived as the CA: the old leaf is still far from expiry when the CA rotates
    const m1 = manager({ publish: async () => ({ ok: true }), leafValidityMs: 100 * HOUR });
    const first = await m1.start();
    let ok = false;
    const m2 = manager({ publish: async () => ({ ok }), leafValidityMs: 100 * HOUR });
    await m2.sync();
    const caCert = new X509Certificate(secretValue(SERVING_SECRET_KEYS.signingCert)!);
    const caFrom = Date.parse(caCert.validFrom);
    clock = caFrom + ((Date.parse(caCert.validTo) - caFrom) * 2) / 3 + 60_000;
    await m1.sync(); // step 1 + (no delay) step 2 by m1
    const rotated = m1.current()!;
    expect(issuerOf(rotated.cert, rotated.ca)).not.toBe(issuerOf(first.cert, first.ca));
    // m2 cannot publish: it keeps serving the old leaf (valid, its CA still trusted)
    expect((await m2.sync()).cert).toBe(first.cert);
    expect(m2.caBundle()).toBe(rotated.ca);
    ok = true;
    expect((await m2.sync()).cert).toBe(rotated.cert);
  });

  it('replaces a Secret without a usable CA', async () => {
    fake.addObject({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'fsm-admission-tls', namespace: ns }, data: { 'tls.crt': 'AA==' } });
    const m = await manager().sync();
    expect(secretValue(SERVING_SECRET_KEYS.cert)).toBe(m.cert);
    expect(fake.requestsFor({ verb: 'update', resource: 'secrets' })).toHaveLength(1);
  });

  it('start() re-syncs periodically; stop() ends it', async () => {
    const m = manager({ checkIntervalMs: 20 });
    const first = await m.start();
    clock = first.notAfter.getTime() - 60_000;
    await waitFor(() => m.current()!.cert !== first.cert, { timeoutMs: 10_000, what: 'periodic renewal' });
    await m.stop();
  });

  it('extra DNS names and IPs: a leaf missing one is re-issued', async () => {
    const first = await manager().sync();
    const m = await manager({ extraDns: ['webhook.example.test'], extraIps: ['127.0.0.1'] }).sync();
    expect(m.cert).not.toBe(first.cert);
    const x = new X509Certificate(m.cert);
    expect(x.subjectAltName).toContain('DNS:webhook.example.test');
    expect(x.checkIP('127.0.0.1')).toBeDefined();
  });

  it('fails start() when the Secret can be neither read nor written', async () => {
    fake.failRequests({ count: 1, verb: 'get', resource: 'secrets', status: 403 });
    await expect(manager().start()).rejects.toThrow(/403/);
  });
});
