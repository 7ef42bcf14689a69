// Leaf key pairs for the bootstrap certificates, generated and encoded once the way the signer (SPKI DER) and the
// bootstrap Secret (PKCS#8 PEM) use them. Shared by the main thread (an ECDSA key made inline when the pool is dry)
// and the key worker thread, so the encoding exists once.
//
// An ECDSA P-256 key is exported once, as SEC1 DER, and re-framed by fixed offsets into SPKI and PKCS#8: Node's own
// SPKI export alone costs more than generating the key. OpenSSL's SEC1 encoding of a P-256 key with its parameters and
// public key is always
//   30 77 02 01 01 04 20 <d:32> a0 0a 06 08 <prime256v1 OID> a1 44 03 42 00 <04 x y:65>
// and anything else falls back to Node's generic exports.
import { generateKeyPairSync } from 'node:crypto';
import { toPem } from './der.js';

export type KeyKind = 'ec' | 'rsa';

/** A leaf key pair, already encoded the way the signer and the bootstrap Secret need it. */
export interface EncodedKeyPair {
  readonly kind: KeyKind;
  /** DER SubjectPublicKeyInfo */
  readonly spki: Buffer;
  /** PKCS#8 PEM ("PRIVATE KEY") */
  readonly privateKeyPem: string;
}

const SPKI_P256_HEAD = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');
// Inside PKCS#8 the curve is named by the AlgorithmIdentifier, so the inner ECPrivateKey leaves out its [0] parameters
// (RFC 5915 section 3), as OpenSSL writes it.
const PKCS8_P256_HEAD = Buffer.from('308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420', 'hex');
const PKCS8_P256_MID = Buffer.from('a144034200', 'hex');
const SEC1_P256_HEAD = Buffer.from('30770201010420', 'hex');
const SEC1_P256_MID = Buffer.from('a00a06082a8648ce3d030107a144034200', 'hex');

/**
 * SPKI and PKCS#8 PEM of a P-256 key from its SEC1 DER (with parameters and public key), or undefined when the
 * encoding is not that exact layout.
 */
export function p256FromSec1(sec1: Buffer): EncodedKeyPair | undefined {
  if (sec1.length !== 121 || !sec1.subarray(0, 7).equals(SEC1_P256_HEAD) || !sec1.subarray(39, 56).equals(SEC1_P256_MID) || sec1[56] !== 0x04) return undefined;
  const d = sec1.subarray(7, 39);
  const q = sec1.subarray(56, 121);
  return { kind: 'ec', spki: Buffer.concat([SPKI_P256_HEAD, q]), privateKeyPem: toPem('PRIVATE KEY', Buffer.concat([PKCS8_P256_HEAD, d, PKCS8_P256_MID, q])) };
}

/** A fresh ECDSA P-256 key pair. */
export function generateEcKey(): EncodedKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return (
    p256FromSec1(privateKey.export({ type: 'sec1', format: 'der' })) ?? {
      kind: 'ec',
      spki: publicKey.export({ type: 'spki', format: 'der' }),
      privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    }
  );
}

/** A fresh RSA key pair (exponent 65537): 100–300 ms for 2048 bits, so only ever on the key worker thread. */
export function generateRsaKey(bits: number): EncodedKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: bits,
    publicExponent: 0x10001,
    publicKeyEncoding: { type: 'spki', format: 'der' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { kind: 'rsa', spki: publicKey, privateKeyPem: privateKey };
}
