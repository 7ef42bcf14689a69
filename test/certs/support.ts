// Shared checks of the certificate tests.
import { createPrivateKey, createPublicKey, sign, verify, webcrypto, type KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { expect } from 'vitest';
import type { EncodedKeyPair } from '../../src/certs/keys.js';

/** The pair is of its kind, its halves belong together (a signature verifies), and the private key is PKCS#8 PEM. */
export function assertUsable(k: EncodedKeyPair): void {
  const pub = createPublicKey({ key: k.spki, format: 'der', type: 'spki' });
  const priv = createPrivateKey(k.privateKeyPem);
  expect(pub.asymmetricKeyType).toBe(k.kind);
  expect(priv.asymmetricKeyType).toBe(k.kind);
  const msg = Buffer.from('pool');
  expect(verify('sha256', msg, pub, sign('sha256', msg, priv))).toBe(true);
  expect(k.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n[\s\S]+-----END PRIVATE KEY-----\n$/);
}

type WebAlgorithm = { name: string; namedCurve?: string; hash?: string };
const CURVES: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };
const SIGNING: Record<string, (k: KeyObject) => { import: WebAlgorithm; sign: WebAlgorithm }> = {
  ec: (k) => ({ import: { name: 'ECDSA', namedCurve: CURVES[k.asymmetricKeyDetails!.namedCurve!]! }, sign: { name: 'ECDSA', hash: 'SHA-256' } }),
  rsa: () => ({ import: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, sign: { name: 'RSASSA-PKCS1-v1_5' } }),
  ed25519: () => ({ import: { name: 'Ed25519' }, sign: { name: 'Ed25519' } }),
};

/**
 * A self-signed CA (`name` as "O=…, CN=…") on a key of any type node makes (RSA, ECDSA on any curve, Ed25519), built with @peculiar/x509: the
 * CAs that operators bring (a mesh CA Secret written by someone else), which the project itself never makes.
 */
export async function foreignCa(keys: { publicKey: KeyObject; privateKey: KeyObject }, name: string, notBefore: Date, notAfter: Date): Promise<{ cert: string; key: string }> {
  const alg = SIGNING[keys.privateKey.asymmetricKeyType!]!(keys.privateKey);
  const subtle = webcrypto.subtle;
  const privateKey = await subtle.importKey('pkcs8', keys.privateKey.export({ type: 'pkcs8', format: 'der' }), alg.import, false, ['sign']);
  const publicKey = await subtle.importKey('spki', keys.publicKey.export({ type: 'spki', format: 'der' }), alg.import, true, ['verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: '01',
      name,
      notBefore,
      notAfter,
      signingAlgorithm: alg.sign,
      keys: { privateKey, publicKey },
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(publicKey, false, webcrypto as never),
      ],
    },
    webcrypto as never,
  );
  return { cert: cert.toString('pem') + '\n', key: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}
