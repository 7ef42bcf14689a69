import { createPrivateKey, createPublicKey, generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromPemAll, parseCertificate, readTlv } from '../../src/certs/der.js';
import { issueCA } from '../../src/certs/issue.js';
import type { EncodedKeyPair } from '../../src/certs/keys.js';
import { keyIdentifier, LeafSigner, newSerial, OID, type CaMaterial } from '../../src/certs/signer.js';
import { foreignCa } from './support.js';

const NB = new Date('2025-01-02T03:04:05Z');
const NA = new Date('2035-01-02T03:04:05Z');
const CN = '0f8c2a52-4b43-4e0e-9f4c-8b1e2d3c4a5b.sidecar.bookbuyer.bookstore.cluster.local';

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}
const OPENSSL = hasOpenssl();

let dir: string;
let ecCa: CaMaterial;
let rsaCa: CaMaterial;
let rsaLeafKey: EncodedKeyPair;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'signer-test-'));
  ecCa = await issueCA('fsm-ca.flomesh.io', { notBefore: NB, notAfter: NA });
  rsaCa = await foreignCa(generateKeyPairSync('rsa', { modulusLength: 2048 }), 'O=Open Service Mesh Edge, CN=osm-ca.openservicemesh.io', NB, NA);
  const leaf = generateKeyPairSync('rsa', { modulusLength: 2048 });
  rsaLeafKey = { kind: 'rsa', spki: leaf.publicKey.export({ type: 'spki', format: 'der' }), privateKeyPem: leaf.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function caPublicKey(ca: CaMaterial): KeyObject {
  return new X509Certificate(ca.cert).publicKey;
}

function opensslText(pem: string): string {
  const f = join(dir, `c-${Math.random().toString(36).slice(2)}.pem`);
  writeFileSync(f, pem);
  return execFileSync('openssl', ['x509', '-in', f, '-noout', '-text'], { encoding: 'utf8' });
}

function opensslVerify(caPem: string, leafPem: string, purpose: string): string {
  const c = join(dir, `ca-${Math.random().toString(36).slice(2)}.pem`);
  const l = join(dir, `leaf-${Math.random().toString(36).slice(2)}.pem`);
  writeFileSync(c, caPem);
  writeFileSync(l, leafPem);
  return execFileSync('openssl', ['verify', '-x509_strict', '-purpose', purpose, '-attime', String(Math.floor(NB.getTime() / 1000) + 3600), '-CAfile', c, l], {
    encoding: 'utf8',
  });
}

function checkLeaf(ca: CaMaterial, issued: { cert: string; key: string }, rsaLeaf: boolean): X509Certificate {
  const x = new X509Certificate(issued.cert);
  expect(x.verify(caPublicKey(ca))).toBe(true);
  expect(x.checkIssued(new X509Certificate(ca.cert))).toBe(true);
  expect(x.subject).toBe(`CN=${CN}`);
  expect(x.subjectAltName).toBe(`DNS:${CN}`);
  expect(x.checkPrivateKey(createPrivateKey(issued.key))).toBe(true);
  expect(issued.key).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
  expect(new Date(x.validFrom).getTime()).toBe(NB.getTime());
  expect(new Date(x.validTo).getTime()).toBe(NA.getTime());
  expect(x.ca).toBe(false);
  expect(x.keyUsage?.sort()).toEqual([OID.clientAuth, OID.serverAuth].sort()); // node's keyUsage is the EKU list
  const parts = parseCertificate(x.raw);
  const ku = parts.extensions.get(OID.keyUsage)!;
  expect(ku.toString('hex')).toBe(rsaLeaf ? '030205a0' : '03020780');
  const caParts = parseCertificate(new X509Certificate(ca.cert).raw);
  expect(parts.issuer.equals(caParts.subject)).toBe(true);
  const aki = parts.extensions.get(OID.authorityKeyIdentifier)!;
  expect(aki.subarray(aki.length - 20).equals(keyIdentifier(caParts.spki))).toBe(true);
  const ski = parts.extensions.get(OID.subjectKeyIdentifier)!;
  expect(ski.subarray(readTlv(ski).contentStart).equals(keyIdentifier(parts.spki))).toBe(true);
  if (OPENSSL) {
    const text = opensslText(issued.cert);
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(rsaLeaf ? /X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment/ : /X509v3 Key Usage: critical\s+Digital Signature\n/);
    expect(text).toMatch(/X509v3 Extended Key Usage:\s*\n\s+TLS Web Server Authentication, TLS Web Client Authentication/);
    expect(text).toContain(`DNS:${CN}`);
    expect(text).toContain('X509v3 Subject Key Identifier');
    expect(text).toContain('X509v3 Authority Key Identifier');
    expect(opensslVerify(ca.cert, issued.cert, 'sslserver')).toMatch(/: OK/);
    expect(opensslVerify(ca.cert, issued.cert, 'sslclient')).toMatch(/: OK/);
  }
  return x;
}

async function handshake(ca: CaMaterial, server: { cert: string; key: string }, client?: { cert: string; key: string }): Promise<{ authorized: boolean; peerCN: string | undefined }> {
  const srv = createServer({ cert: server.cert, key: server.key, ca: ca.cert, requestCert: client !== undefined, rejectUnauthorized: client !== undefined }, (s) => {
    s.end(`hello ${(s.getPeerCertificate()?.subject as { CN?: string } | undefined)?.CN ?? 'anon'}`);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  try {
    const port = (srv.address() as AddressInfo).port;
    return await new Promise((resolve, reject) => {
      const sock: TLSSocket = connect({ host: '127.0.0.1', port, ca: ca.cert, servername: CN, ...(client ?? {}) }, () => {
        let body = '';
        sock.on('data', (d) => (body += String(d)));
        sock.on('end', () => resolve({ authorized: sock.authorized, peerCN: body.replace(/^hello /, '') }));
      });
      sock.on('error', reject);
    });
  } finally {
    srv.close();
  }
}

describe('LeafSigner with an ECDSA P-256 CA', () => {
  it('issues a leaf that node and openssl accept', () => {
    const signer = new LeafSigner(ecCa);
    const issued = signer.issue({ commonName: CN, dnsNames: [CN], notBefore: NB, notAfter: NA });
    const x = checkLeaf(ecCa, issued, false);
    expect(x.publicKey.asymmetricKeyType).toBe('ec');
    expect(issued.serial).toBe(x.serialNumber.toLowerCase());
    expect(issued.notAfter.getTime()).toBe(NA.getTime());
    if (OPENSSL) expect(opensslText(issued.cert)).toContain('Signature Algorithm: ecdsa-with-SHA256');
  });

  it('signs a pooled/encoded RSA leaf key (keyEncipherment added)', () => {
    const issued = new LeafSigner(ecCa).issue({ commonName: CN, dnsNames: [CN], notBefore: NB, notAfter: NA, keyPair: rsaLeafKey });
    const x = checkLeaf(ecCa, issued, true);
    expect(x.publicKey.asymmetricKeyType).toBe('rsa');
    expect(issued.key).toBe(rsaLeafKey.privateKeyPem);
  });

  it('accepts a KeyObject pair', () => {
    const kp = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const issued = new LeafSigner(ecCa).issue({ commonName: CN, dnsNames: [CN], notBefore: NB, notAfter: NA, keyPair: kp });
    const x = checkLeaf(ecCa, issued, false);
    expect(x.publicKey.export({ type: 'spki', format: 'der' }).equals(kp.publicKey.export({ type: 'spki', format: 'der' }))).toBe(true);
  });

  it('completes a TLS handshake (server auth) and an mTLS handshake (client auth)', async () => {
    const signer = new LeafSigner(ecCa);
    const server = signer.issue({ commonName: CN, dnsNames: [CN], notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3_600_000) });
    const clientCN = 'client.sidecar.sa.ns.cluster.local';
    const client = signer.issue({ commonName: clientCN, dnsNames: [clientCN], notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3_600_000) });
    expect((await handshake(ecCa, server)).authorized).toBe(true);
    const mtls = await handshake(ecCa, server, client);
    expect(mtls.authorized).toBe(true);
    expect(mtls.peerCN).toBe(clientCN);
  });

  it('issues 2000 leaves with distinct serial numbers', () => {
    const signer = new LeafSigner(ecCa);
    const n = 2000;
    const serials = new Set<string>();
    for (let i = 0; i < n; i++) serials.add(signer.issue({ commonName: CN, dnsNames: [CN], notBefore: NB, notAfter: NA }).serial);
    expect(serials.size).toBe(n);
  });
});

describe('LeafSigner with an RSA CA', () => {
  it('issues leaves signed with sha256WithRSAEncryption that verify and handshake', async () => {
    const signer = new LeafSigner(rsaCa);
    const issued = signer.issue({ commonName: CN, dnsNames: [CN], notBefore: NB, notAfter: NA });
    checkLeaf(rsaCa, issued, false);
    if (OPENSSL) expect(opensslText(issued.cert)).toContain('Signature Algorithm: sha256WithRSAEncryption');
    expect(new X509Certificate(issued.cert).issuer).toBe('O=Open Service Mesh Edge\nCN=osm-ca.openservicemesh.io');
    const live = signer.issue({ commonName: CN, dnsNames: [CN], notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3_600_000), keyPair: rsaLeafKey });
    expect((await handshake(rsaCa, live)).authorized).toBe(true);
  });

  it('is deterministic given the key and the serial (PKCS#1 v1.5 signatures are)', () => {
    const signer = new LeafSigner(rsaCa);
    const serial = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    const a = signer.issue({ commonName: CN, dnsNames: [CN], notBefore: NB, notAfter: NA, keyPair: rsaLeafKey, serial });
    const b = signer.issue({ commonName: CN, dnsNames: [CN], notBefore: NB, notAfter: NA, keyPair: rsaLeafKey, serial });
    expect(a.cert).toBe(b.cert);
    expect(a.serial).toBe('112233445566778899aabbccddeeff');
    expect(new X509Certificate(a.cert).serialNumber.toLowerCase()).toBe('112233445566778899aabbccddeeff');
  });
});

describe('LeafSigner with CAs made elsewhere (a mesh CA Secret someone else wrote)', () => {
  it('signs under an Ed25519 CA and a P-384 CA', async () => {
    for (const keyPair of [generateKeyPairSync('ed25519'), generateKeyPairSync('ec', { namedCurve: 'P-384' })]) {
      const ca = await foreignCa(keyPair, 'CN=ca', NB, NA);
      const issued = new LeafSigner(ca).issue({ commonName: CN, dnsNames: [CN], notBefore: NB, notAfter: NA });
      expect(new X509Certificate(issued.cert).verify(caPublicKey(ca))).toBe(true);
    }
  });

  it('accepts a PKCS#1 / SEC1 CA key and a CA PEM with surrounding text', async () => {
    const kp = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const ca = await foreignCa(kp, 'CN=ca', NB, NA);
    const sec1 = kp.privateKey.export({ type: 'sec1', format: 'pem' }) as string;
    const signer = new LeafSigner({ cert: `subject=ca\n${ca.cert}`, key: sec1 });
    expect(new X509Certificate(signer.issue({ commonName: CN, dnsNames: [CN], notBefore: NB, notAfter: NA }).cert).verify(kp.publicKey)).toBe(true);
  });
});

describe('LeafSigner details', () => {
  it('uses the random source for serials, clearing the high bit', () => {
    const signer = new LeafSigner(ecCa, { random: (n) => Buffer.alloc(n, 0xff) });
    const issued = signer.issue({ commonName: CN, dnsNames: [CN], notBefore: NB, notAfter: NA });
    expect(issued.serial).toBe('7f' + 'ff'.repeat(15));
    expect(newSerial(() => Buffer.alloc(16, 0)).toString('hex')).toBe('0'.repeat(30) + '01');
    const s = newSerial();
    expect(s.length).toBe(16);
    expect(s[0]! & 0x80).toBe(0);
  });

  it('encodes dates from 2050 on as GeneralizedTime that node reads back', () => {
    const notAfter = new Date('2061-06-07T08:09:10Z');
    const issued = new LeafSigner(ecCa).issue({ commonName: CN, dnsNames: [CN], notBefore: NB, notAfter });
    expect(new Date(new X509Certificate(issued.cert).validTo).getTime()).toBe(notAfter.getTime());
  });

  it('truncates milliseconds', () => {
    const issued = new LeafSigner(ecCa).issue({ commonName: CN, dnsNames: [CN], notBefore: new Date(NB.getTime() + 999), notAfter: new Date(NA.getTime() + 500) });
    const x = new X509Certificate(issued.cert);
    expect(new Date(x.validFrom).getTime()).toBe(NB.getTime());
    expect(issued.notAfter.getTime()).toBe(NA.getTime());
  });

  it('adds several DNS names and IP addresses', () => {
    const issued = new LeafSigner(ecCa).issue({ commonName: 'x', dnsNames: ['a.example', 'b.example'], ipAddresses: ['127.0.0.1', '::1', 'fe80::1:2'], notBefore: NB, notAfter: NA });
    const x = new X509Certificate(issued.cert);
    expect(x.subjectAltName).toBe('DNS:a.example, DNS:b.example, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:FE80:0:0:0:0:0:1:2');
    expect(x.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(x.checkHost('b.example')).toBe('b.example');
  });

  it('server-only and client-only usages', () => {
    const signer = new LeafSigner(ecCa);
    expect(new X509Certificate(signer.issue({ commonName: 'x', dnsNames: ['x'], notBefore: NB, notAfter: NA, usage: 'server' }).cert).keyUsage).toEqual([OID.serverAuth]);
    expect(new X509Certificate(signer.issue({ commonName: 'x', dnsNames: ['x'], notBefore: NB, notAfter: NA, usage: 'client' }).cert).keyUsage).toEqual([OID.clientAuth]);
  });

  it('rejects bad input and bad CAs with a reason', () => {
    const signer = new LeafSigner(ecCa);
    expect(() => signer.issue({ commonName: CN, dnsNames: [CN], notBefore: NA, notAfter: NB })).toThrow(/notAfter/);
    expect(() => signer.issue({ commonName: CN, dnsNames: ['bücher.example'], notBefore: NB, notAfter: NA })).toThrow(/IA5String/);
    expect(() => signer.issue({ commonName: CN, dnsNames: [''], notBefore: NB, notAfter: NA })).toThrow(/DNS name/);
    expect(() => new LeafSigner({ cert: ecCa.cert, key: rsaCa.key })).toThrow(/do not match/);
    const leaf = signer.issue({ commonName: CN, dnsNames: [CN], notBefore: NB, notAfter: NA });
    expect(() => new LeafSigner(leaf)).toThrow(/not a CA/);
    expect(() => new LeafSigner({ cert: 'garbage', key: ecCa.key })).toThrow(/PEM/);
  });

  it('the CA PEM exposed is the signing certificate alone', () => {
    const signer = new LeafSigner({ cert: rsaCa.cert + ecCa.cert, key: ecCa.key });
    expect(fromPemAll(signer.caCert)).toHaveLength(1);
    expect(signer.caCert).toBe(ecCa.cert);
    expect(signer.caNotAfter.getTime()).toBe(NA.getTime());
    // the public key of the CA is what createPublicKey sees
    expect(createPublicKey(signer.caCert).asymmetricKeyType).toBe('ec');
  });
});
