// The certificates made rarely: every CA (the serving CA, the mesh root) and the webhook's serving certificate.
// ECDSA P-256, SHA-256. Cost does not matter here (a CA every few years, a serving certificate every few weeks), so
// these use the `selfsigned` package and the @peculiar/x509 library it is built on, not the hand-built DER of
// signer.ts, which exists only for the one certificate per pod (see there for what each way costs).
//
// A CA is made with @peculiar/x509 directly: `selfsigned` cannot add a Subject Key Identifier, which RFC 5280
// requires of a CA certificate and strict verifiers insist on (OpenSSL's -x509_strict, Python's default context since
// 3.13). The serving certificate is `selfsigned`'s: a CA-signed leaf is exactly what its options describe.
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import selfsigned from 'selfsigned';
import { fromPemAll, toPem } from './der.js';

export interface KeyPairPem {
  readonly cert: string;
  readonly key: string;
}

export interface IssueOptions {
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface CaOptions extends IssueOptions {
  /** the subject's O, before its CN */
  readonly organization?: string;
}

/** The certificate alone, armoured with a final newline, so that bundles concatenate safely. */
const certificatePem = (pem: string): string => toPem('CERTIFICATE', fromPemAll(pem)[0]!);

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' };
const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' };

/** 128-bit positive serial (RFC 5280 asks for at most 20 octets, unpredictable). */
function serialHex(): string {
  const b = webcrypto.getRandomValues(new Uint8Array(16));
  b[0]! &= 0x7f;
  b[15]! |= 1;
  return Buffer.from(b).toString('hex');
}

/** A self-signed root: basicConstraints CA:TRUE and keyUsage keyCertSign, cRLSign, digitalSignature (both critical), SKI. */
export async function issueCA(commonName: string, opts: CaOptions): Promise<KeyPairPem> {
  const keys = (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serialHex(),
      name: [...(opts.organization ? [{ O: [opts.organization] }] : []), { CN: [commonName] }],
      notBefore: opts.notBefore,
      notAfter: opts.notAfter,
      signingAlgorithm: ECDSA_SHA256,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
      ],
    },
    webcrypto,
  );
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return { cert: certificatePem(cert.toString('pem')), key: toPem('PRIVATE KEY', pkcs8) };
}

export interface LeafOptions extends IssueOptions {
  readonly commonName: string;
  readonly dnsNames: readonly string[];
  readonly ips?: readonly string[];
  readonly usage: 'server' | 'client' | 'both';
}

/** A leaf signed by `ca` with a new ECDSA P-256 key: keyUsage digitalSignature (critical), the EKU of `usage`, SANs. */
export async function issueLeaf(ca: KeyPairPem, opts: LeafOptions): Promise<KeyPairPem> {
  const altNames = [...opts.dnsNames.map((value) => ({ type: 2 as const, value })), ...(opts.ips ?? []).map((ip) => ({ type: 7 as const, ip }))];
  const pems = await selfsigned.generate([{ name: 'commonName', value: opts.commonName }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: opts.notBefore,
    notAfterDate: opts.notAfter,
    ca: { key: ca.key, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: opts.usage !== 'client', clientAuth: opts.usage !== 'server' },
      ...(altNames.length > 0 ? [{ name: 'subjectAltName' as const, altNames }] : []),
    ],
  });
  return { cert: certificatePem(pems.cert), key: pems.private };
}
