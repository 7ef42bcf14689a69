// Shared checks of the certificate tests.
import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
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
