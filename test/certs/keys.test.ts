import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fromPemAll } from '../../src/certs/der.js';
import { generateEcKey, generateRsaKey, p256FromSec1 } from '../../src/certs/keys.js';
import { assertUsable } from './support.js';

describe('generateEcKey', () => {
  it('returns a usable P-256 pair encoded as SPKI DER + PKCS#8 PEM', () => {
    const k = generateEcKey();
    expect(k.kind).toBe('ec');
    assertUsable(k);
    expect(createPublicKey({ key: k.spki, format: 'der', type: 'spki' }).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });
});

describe('p256FromSec1', () => {
  it('re-frames SEC1 into exactly the SPKI and PKCS#8 bytes node exports for the same key', () => {
    for (let i = 0; i < 20; i++) {
      const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const k = p256FromSec1(privateKey.export({ type: 'sec1', format: 'der' }))!;
      expect(k.kind).toBe('ec');
      expect(k.spki.equals(publicKey.export({ type: 'spki', format: 'der' }))).toBe(true);
      expect(fromPemAll(k.privateKeyPem, 'PRIVATE KEY')[0]!.equals(privateKey.export({ type: 'pkcs8', format: 'der' }))).toBe(true);
      expect(k.privateKeyPem).toBe(privateKey.export({ type: 'pkcs8', format: 'pem' }));
    }
  });

  it('declines any other layout (another curve, a changed byte, a cut buffer), so the caller falls back to node', () => {
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ type: 'sec1', format: 'der' });
    expect(p256FromSec1(p384)).toBeUndefined();
    const sec1 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'sec1', format: 'der' });
    expect(p256FromSec1(sec1)).toBeDefined();
    const uncompressedMarker = Buffer.from(sec1);
    uncompressedMarker[56] = 0x02;
    expect(p256FromSec1(uncompressedMarker)).toBeUndefined();
    const otherCurveOid = Buffer.from(sec1);
    otherCurveOid[50] = otherCurveOid[50]! ^ 0xff;
    expect(p256FromSec1(otherCurveOid)).toBeUndefined();
    expect(p256FromSec1(sec1.subarray(0, 120))).toBeUndefined();
  });
});

describe('generateRsaKey', () => {
  it('returns a usable RSA pair of the asked size with exponent 65537', () => {
    const k = generateRsaKey(1024);
    expect(k.kind).toBe('rsa');
    assertUsable(k);
    const details = createPublicKey({ key: k.spki, format: 'der', type: 'spki' }).asymmetricKeyDetails;
    expect(details?.modulusLength).toBe(1024);
    expect(details?.publicExponent).toBe(65537n);
  });
});
