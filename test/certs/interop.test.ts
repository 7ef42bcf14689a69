// Every kind of certificate the project issues, read by two X.509 implementations (node's X509Certificate, on
// OpenSSL, and @peculiar/x509, on WebCrypto): each parses, verifies against its CA, and carries what the project
// promises: the names, key types, extensions and validity the sidecars, the API server and the forks rely on.
import { createPrivateKey, webcrypto, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { afterAll, describe, expect, it } from 'vitest';
import { BootstrapIssuer } from '../../src/certs/bootstrap-issuer.js';
import { createMeshCA } from '../../src/certs/mesh-ca.js';
import type { SecretContent, SecretSlot, StoredSecretContent } from '../../src/certs/secret-slot.js';
import { SERVING_SECRET_KEYS, ServingCertManager } from '../../src/certs/serving-manager.js';
import { ensureServingCerts } from '../../src/certs/serving.js';
import { writeCerts } from '../../src/cli/certs.js';
import { MemoryView } from '../../src/cluster/memory.js';
import { injectPod } from '../../src/injector/inject.js';
import type { SecretPlan } from '../../src/injector/types.js';
import { meshIdentity, type FlavorName } from '../../src/mesh/flavor.js';
import { meshConfigObject, namespace, pod, UUID } from '../injector/helpers.js';

const NOW = new Date(Math.floor(Date.now() / 1000) * 1000);
const MINUTE = 60_000;
const DAY = 86_400_000;
const TEN_YEARS = 87600 * 3600 * 1000;
const OID = { serverAuth: '1.3.6.1.5.5.7.3.1', clientAuth: '1.3.6.1.5.5.7.3.2' };
const KU = x509.KeyUsageFlags;
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Expected {
  /** node's one-line-per-RDN form, e.g. "O=…\nCN=…" */
  readonly subject: string;
  readonly ca: boolean;
  readonly key: 'P-256' | 'RSA-2048';
  /** @peculiar/x509 KeyUsageFlags */
  readonly keyUsage: number;
  /** extended key usage OIDs, in order; undefined when there is none (CAs) */
  readonly eku?: readonly string[];
  /** subjectAltName entries, `DNS:<name>` or `IP:<address>`; undefined when there is none */
  readonly san?: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/**
 * Reads `pem` with both implementations, checks it against the CA certificate `caPem` (which signs it: itself for a
 * root) and against `expected`; returns node's view.
 */
async function check(pem: string, caPem: string, expected: Expected): Promise<X509Certificate> {
  const node = new X509Certificate(pem);
  const nodeCa = new X509Certificate(caPem);
  const pec = new x509.X509Certificate(pem);
  const pecCa = new x509.X509Certificate(caPem);
  // the same certificate to both
  expect(Buffer.from(pec.rawData).equals(node.raw)).toBe(true);

  // signed by its CA: node checks the signature and the names, @peculiar/x509 the signature and the dates
  expect(node.checkIssued(nodeCa)).toBe(true);
  expect(node.verify(nodeCa.publicKey)).toBe(true);
  expect(await pec.verify({ publicKey: pecCa, date: new Date(NOW.getTime() + MINUTE) }, webcrypto as never)).toBe(true);
  expect(pec.issuer).toBe(pecCa.subject);

  expect(node.subject).toBe(expected.subject);
  expect(node.ca).toBe(expected.ca);
  const details = node.publicKey.asymmetricKeyDetails;
  if (expected.key === 'P-256') {
    expect(node.publicKey.asymmetricKeyType).toBe('ec');
    expect(details?.namedCurve).toBe('prime256v1');
  } else {
    expect(node.publicKey.asymmetricKeyType).toBe('rsa');
    expect(details?.modulusLength).toBe(2048);
    expect(details?.publicExponent).toBe(65537n);
  }
  expect(pec.publicKey.algorithm).toMatchObject(expected.key === 'P-256' ? { name: 'ECDSA', namedCurve: 'P-256' } : { name: 'RSASSA-PKCS1-v1_5' });
  // every CA the project makes is ECDSA P-256: everything it signs is ECDSA with SHA-256
  expect(pec.signatureAlgorithm).toMatchObject({ name: 'ECDSA', hash: { name: 'SHA-256' } });

  const bc = pec.getExtension(x509.BasicConstraintsExtension);
  expect({ ca: bc?.ca, critical: bc?.critical }).toEqual({ ca: expected.ca, critical: true });
  const ku = pec.getExtension(x509.KeyUsagesExtension);
  expect({ usages: ku?.usages, critical: ku?.critical }).toEqual({ usages: expected.keyUsage, critical: true });
  const eku = pec.getExtension(x509.ExtendedKeyUsageExtension);
  expect(eku?.usages).toEqual(expected.eku);
  expect(node.keyUsage).toEqual(expected.eku); // node's keyUsage is the extended key usage list
  const nodeSan = expected.san?.map((n) => n.replace(/^IP:/, 'IP Address:').replace('IP Address:::1', 'IP Address:0:0:0:0:0:0:0:1')).join(', ');
  expect(node.subjectAltName).toBe(nodeSan);
  expect(pec.getExtension(x509.SubjectAlternativeNameExtension)?.names.items.map((n) => `${n.type === 'dns' ? 'DNS' : n.type === 'ip' ? 'IP' : n.type}:${n.value}`)).toEqual(expected.san);

  expect(pec.notBefore.getTime()).toBe(expected.notBefore.getTime());
  expect(pec.notAfter.getTime()).toBe(expected.notAfter.getTime());
  expect(new Date(node.validFrom).getTime()).toBe(expected.notBefore.getTime());
  expect(new Date(node.validTo).getTime()).toBe(expected.notAfter.getTime());

  if (expected.ca) {
    // a CA names its key (RFC 5280 4.2.1.2), so its leaves can name it back
    expect(pec.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId).toMatch(/^[0-9a-f]{40}$/);
  }
  return node;
}

/** The leaf's Authority Key Identifier is its CA's Subject Key Identifier (strict verifiers match them). */
function expectAkiMatches(leafPem: string, caPem: string): void {
  const aki = new x509.X509Certificate(leafPem).getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId;
  expect(aki).toBe(new x509.X509Certificate(caPem).getExtension(x509.SubjectKeyIdentifierExtension)?.keyId);
}

const CA_USAGE = KU.digitalSignature | KU.keyCertSign | KU.cRLSign;
const serviceNames = (svc: string, ns: string): string[] => [`DNS:${svc}`, `DNS:${svc}.${ns}`, `DNS:${svc}.${ns}.svc`, `DNS:${svc}.${ns}.svc.cluster.local`];

describe('mesh CA and per-pod bootstrap certificates', () => {
  for (const [flavor, subject] of [
    ['fsm', 'CN=fsm-ca.flomesh.io'],
    ['osm-edge', 'O=Open Service Mesh Edge\nCN=osm-ca.openservicemesh.io'],
  ] as [FlavorName, string][]) {
    it(`${flavor}: the mesh root is a self-signed ECDSA P-256 CA for 87600 h`, async () => {
      const ca = await createMeshCA(flavor, NOW);
      await check(ca.cert, ca.cert, { subject, ca: true, key: 'P-256', keyUsage: CA_USAGE, notBefore: new Date(NOW.getTime() - 5 * MINUTE), notAfter: new Date(NOW.getTime() + TEN_YEARS) });
      expect(ca.bundle).toBe(ca.cert);
      expect(new X509Certificate(ca.cert).checkPrivateKey(createPrivateKey(ca.key))).toBe(true);
    });
  }

  /** The plan admission makes for a pod of ServiceAccount web in namespace apps, with this MeshConfig. */
  const planFor = (meshConfig: Record<string, unknown>): SecretPlan => {
    const mesh = meshIdentity('fsm');
    const view = new MemoryView([namespace('apps'), meshConfigObject(mesh, meshConfig)]);
    const plan = injectPod({ pod: pod(), namespace: 'apps', uuid: UUID }, view, { mesh, sidecarMode: 'classic' });
    if (plan.action !== 'inject' || !plan.secret) throw new Error(`not injected: ${plan.action}`);
    return plan.secret;
  };
  const CN = `${UUID}.sidecar.web.apps.cluster.local`;

  for (const [label, meshConfig, key] of [
    ['ECDSA P-256 (the default)', {}, 'P-256'],
    ['RSA 2048 (MeshConfig certificate.keyType rsa)', { certificate: { keyType: 'rsa', certKeyBitSize: 2048 } }, 'RSA-2048'],
  ] as [string, Record<string, unknown>, Expected['key']][]) {
    it(`bootstrap leaf, ${label}: CN and only DNS SAN <uuid>.sidecar.<serviceAccount>.<namespace>.<trustDomain>, client and server auth`, async () => {
      const ca = await createMeshCA('fsm', NOW);
      const issuer = new BootstrapIssuer(ca, { now: () => NOW, ecPool: false });
      try {
        const plan = planFor(meshConfig);
        expect(plan.commonName).toBe(CN);
        const issued = await issuer.issue({ commonName: plan.commonName, keyType: plan.keyType, ...(plan.rsaBits ? { rsaBits: plan.rsaBits } : {}), deadline: Date.now() + 30_000 });
        expect(issued.caBundle).toBe(ca.cert);
        const leaf = await check(issued.cert, ca.cert, {
          subject: `CN=${CN}`,
          ca: false,
          key,
          keyUsage: key === 'P-256' ? KU.digitalSignature : KU.digitalSignature | KU.keyEncipherment,
          eku: [OID.serverAuth, OID.clientAuth],
          san: [`DNS:${CN}`],
          notBefore: new Date(NOW.getTime() - 5 * MINUTE),
          notAfter: new Date(NOW.getTime() + TEN_YEARS),
        });
        expect(leaf.checkPrivateKey(createPrivateKey(issued.key))).toBe(true);
        expect(issued.key).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
        expectAkiMatches(issued.cert, ca.cert);
      } finally {
        await issuer.close();
      }
    });
  }
});

describe('serving certificates', () => {
  it('standalone: a CA and a leaf for the Service names plus localhost, 127.0.0.1 and ::1, server auth only', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'interop-serving-'));
    dirs.push(dir);
    const certs = await ensureServingCerts({ dir, service: 'mesh-admission', namespace: 'fsm-system', standalone: true, now: NOW });
    await check(certs.ca, certs.ca, { subject: 'CN=mesh-admission-ca', ca: true, key: 'P-256', keyUsage: CA_USAGE, notBefore: new Date(NOW.getTime() - 5 * MINUTE), notAfter: new Date(NOW.getTime() + 3650 * DAY) });
    const leaf = await check(certs.cert, certs.ca, {
      subject: 'CN=mesh-admission.fsm-system.svc',
      ca: false,
      key: 'P-256',
      keyUsage: KU.digitalSignature,
      eku: [OID.serverAuth],
      san: [...serviceNames('mesh-admission', 'fsm-system'), 'DNS:localhost', 'IP:127.0.0.1', 'IP:::1'],
      notBefore: new Date(NOW.getTime() - 5 * MINUTE),
      notAfter: new Date(NOW.getTime() + 365 * DAY),
    });
    expect(leaf.checkHost('mesh-admission.fsm-system.svc.cluster.local')).toBe('mesh-admission.fsm-system.svc.cluster.local');
    expect(leaf.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(leaf.checkPrivateKey(createPrivateKey(certs.key))).toBe(true);
  });

  it('`mesh-admission certs`: the files it writes, the Service names and the extra DNS names, no loopback', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'interop-certs-cmd-'));
    dirs.push(dir);
    const names = await writeCerts(dir, 'webhook', 'mesh', ['webhook.example.com']);
    const caPem = readFileSync(join(dir, 'ca.crt'), 'utf8');
    const certPem = readFileSync(join(dir, 'tls.crt'), 'utf8');
    const san = [...serviceNames('webhook', 'mesh'), 'DNS:webhook.example.com'];
    expect(names.map((n) => `DNS:${n}`)).toEqual(san);
    const ca = await check(caPem, caPem, { subject: 'CN=webhook-ca', ca: true, key: 'P-256', keyUsage: CA_USAGE, notBefore: new Date(new X509Certificate(caPem).validFrom), notAfter: new Date(new X509Certificate(caPem).validTo) });
    expect(Date.parse(ca.validTo) - Date.parse(ca.validFrom)).toBe(3650 * DAY + 5 * MINUTE);
    const leafX = new X509Certificate(certPem);
    const leaf = await check(certPem, caPem, { subject: 'CN=webhook.mesh.svc', ca: false, key: 'P-256', keyUsage: KU.digitalSignature, eku: [OID.serverAuth], san, notBefore: new Date(leafX.validFrom), notAfter: new Date(leafX.validTo) });
    expect(Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)).toBe(365 * DAY + 5 * MINUTE);
    expect(leaf.checkPrivateKey(createPrivateKey(readFileSync(join(dir, 'tls.key'), 'utf8')))).toBe(true);
    expect(ca.checkPrivateKey(createPrivateKey(readFileSync(join(dir, 'ca.key'), 'utf8')))).toBe(true);
  });

  it('live: the CA and the leaf kept in the serving Secret (Service names only, 365-day CA, 30-day leaf)', async () => {
    let stored: StoredSecretContent | undefined;
    const store: SecretSlot = {
      ref: 'fsm-system/fsm-admission-tls',
      read: async () => stored,
      write: async (content: SecretContent) => {
        stored = { ...content, resourceVersion: String(Number(stored?.resourceVersion ?? 0) + 1) };
        return true;
      },
    };
    const manager = new ServingCertManager({ store, namespace: 'fsm-system', service: 'mesh-admission', now: () => NOW });
    const served = await manager.start();
    await manager.stop();
    const caPem = Buffer.from(stored!.data[SERVING_SECRET_KEYS.signingCert]!, 'base64').toString('utf8');
    expect(served.ca).toBe(caPem);
    await check(caPem, caPem, {
      subject: `CN=mesh-admission.fsm-system-ca-${NOW.toISOString().slice(0, 10)}`,
      ca: true,
      key: 'P-256',
      keyUsage: CA_USAGE,
      notBefore: new Date(NOW.getTime() - 5 * MINUTE),
      notAfter: new Date(NOW.getTime() + 365 * DAY),
    });
    const leaf = await check(served.cert, caPem, {
      subject: 'CN=mesh-admission.fsm-system.svc',
      ca: false,
      key: 'P-256',
      keyUsage: KU.digitalSignature,
      eku: [OID.serverAuth],
      san: serviceNames('mesh-admission', 'fsm-system'),
      notBefore: new Date(NOW.getTime() - 5 * MINUTE),
      notAfter: new Date(NOW.getTime() + 30 * DAY),
    });
    expect(leaf.checkPrivateKey(createPrivateKey(served.key))).toBe(true);
  });
});
