import { createPrivateKey, createPublicKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createMeshCA,
  loadOrCreateMeshCA,
  MESH_CA_FILES,
  meshCACommonName,
  meshCAFromPem,
  meshCAFromSecretData,
  meshCASecret,
} from '../../src/certs/mesh-ca.js';
import { LeafSigner } from '../../src/certs/signer.js';
import { foreignCa } from './support.js';

const NOW = new Date('2026-02-03T04:05:06Z');
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mesh-ca-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('mesh CA', () => {
  it('names the root as the forks do', async () => {
    expect(meshCACommonName('fsm')).toBe('fsm-ca.flomesh.io');
    expect(meshCACommonName('osm-edge')).toBe('osm-ca.openservicemesh.io');
  });

  it('creates an ECDSA P-256 root valid for 87600 h that signs leaves', async () => {
    const ca = await createMeshCA('fsm', NOW);
    const x = new X509Certificate(ca.cert);
    expect(x.subject).toBe('CN=fsm-ca.flomesh.io');
    expect(x.ca).toBe(true);
    expect(x.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(new Date(x.validTo).getTime()).toBe(NOW.getTime() + 87600 * 3600 * 1000);
    expect(new Date(x.validFrom).getTime()).toBeLessThan(NOW.getTime());
    expect(x.verify(x.publicKey)).toBe(true);
    expect(ca.notAfter.getTime()).toBe(new Date(x.validTo).getTime());
    const leaf = new LeafSigner(ca).issue({ commonName: 'a', dnsNames: ['a'], notBefore: NOW, notAfter: new Date(NOW.getTime() + 1000_000) });
    expect(new X509Certificate(leaf.cert).verify(x.publicKey)).toBe(true);
    expect(new X509Certificate((await createMeshCA('osm-edge', NOW)).cert).subject).toBe('O=Open Service Mesh Edge\nCN=osm-ca.openservicemesh.io');
  });

  it('standalone: creates mesh-ca.crt/mesh-ca.key once and reuses them while valid', async () => {
    const first = await loadOrCreateMeshCA(dir, 'fsm', NOW);
    expect(first.reused).toBe(false);
    expect(readFileSync(join(dir, MESH_CA_FILES.cert), 'utf8')).toBe(first.cert);
    expect(readFileSync(join(dir, MESH_CA_FILES.key), 'utf8')).toBe(first.key);
    expect(statSync(join(dir, MESH_CA_FILES.key)).mode & 0o777).toBe(0o600);
    const again = await loadOrCreateMeshCA(dir, 'fsm', new Date(NOW.getTime() + 86_400_000));
    expect(again.reused).toBe(true);
    expect(again.cert).toBe(first.cert);
    // expired → replaced
    const later = new Date(NOW.getTime() + 11 * 365 * 86_400_000);
    const renewed = await loadOrCreateMeshCA(dir, 'fsm', later);
    expect(renewed.reused).toBe(false);
    expect(renewed.cert).not.toBe(first.cert);
  });

  it('standalone: replaces a corrupt or mismatched pair', async () => {
    const first = await loadOrCreateMeshCA(dir, 'fsm', NOW);
    writeFileSync(join(dir, MESH_CA_FILES.key), (await createMeshCA('fsm', NOW)).key);
    const replaced = await loadOrCreateMeshCA(dir, 'fsm', NOW);
    expect(replaced.reused).toBe(false);
    expect(replaced.cert).not.toBe(first.cert);
    writeFileSync(join(dir, MESH_CA_FILES.cert), 'garbage');
    expect((await loadOrCreateMeshCA(dir, 'fsm', NOW)).reused).toBe(false);
  });

  it('Secret round trip: meshCASecret → meshCAFromSecretData', async () => {
    const ca = await createMeshCA('osm-edge', NOW);
    const secret = meshCASecret(ca, 'osm-edge', 'osm-system', { 'app.kubernetes.io/name': 'openservicemesh.io' });
    expect(secret.metadata).toEqual({ name: 'osm-ca-bundle', namespace: 'osm-system', labels: { 'app.kubernetes.io/name': 'openservicemesh.io' } });
    expect(Object.keys(secret.data)).toEqual(['ca.crt', 'private.key', 'expiration']);
    expect(Buffer.from(secret.data['expiration']!, 'base64').toString()).toBe(ca.notAfter.toISOString());
    const back = meshCAFromSecretData(secret.data, NOW);
    expect(back.cert).toBe(ca.cert);
    expect(back.bundle).toBe(ca.cert);
    expect(createPrivateKey(back.key).asymmetricKeyType).toBe('ec');
  });

  it('reads a Tresor-style Secret: RSA PKCS#1 key, bundle with an extra CA', async () => {
    const rsaCa = await foreignCa(generateKeyPairSync('rsa', { modulusLength: 2048 }), 'CN=fsm-ca.flomesh.io', new Date('2025-01-01Z'), new Date('2035-01-01Z'));
    const other = await createMeshCA('fsm', NOW);
    const pkcs1 = createPrivateKey(rsaCa.key).export({ type: 'pkcs1', format: 'pem' }) as string;
    const data = { 'ca.crt': Buffer.from(other.cert + rsaCa.cert).toString('base64'), 'private.key': Buffer.from(pkcs1).toString('base64') };
    const ca = meshCAFromSecretData(data, NOW);
    expect(ca.cert).toBe(rsaCa.cert);
    expect(ca.bundle).toBe(other.cert + rsaCa.cert);
    const leaf = new LeafSigner(ca).issue({ commonName: 'a', dnsNames: ['a'], notBefore: NOW, notAfter: new Date(NOW.getTime() + 1000_000) });
    expect(new X509Certificate(leaf.cert).verify(createPublicKey(rsaCa.key))).toBe(true);
  });

  it('explains what is wrong with a bad Secret', async () => {
    const ca = await createMeshCA('fsm', NOW);
    const otherKey = (await createMeshCA('fsm', NOW)).key;
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    expect(() => meshCAFromSecretData(undefined)).toThrow(/"ca.crt" is missing/);
    expect(() => meshCAFromSecretData({ 'ca.crt': b64(ca.cert) })).toThrow(/"private.key" is missing/);
    expect(() => meshCAFromSecretData({ 'ca.crt': b64(ca.cert), 'private.key': b64(otherKey) })).toThrow(/no certificate matches/);
    expect(() => meshCAFromSecretData({ 'ca.crt': b64('nope'), 'private.key': b64(ca.key) })).toThrow(/no certificate/);
    expect(() => meshCAFromSecretData({ 'ca.crt': b64(ca.cert), 'private.key': b64('nope') })).toThrow(/does not parse/);
    expect(() => meshCAFromPem(ca.cert, ca.key, new Date('2040-01-01Z'))).toThrow(/not valid at/);
    const leaf = new LeafSigner(ca).issue({ commonName: 'a', dnsNames: ['a'], notBefore: NOW, notAfter: new Date(NOW.getTime() + 1000_000) });
    expect(() => meshCAFromPem(leaf.cert, leaf.key)).toThrow(/not a CA/);
  });
});
