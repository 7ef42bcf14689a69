// Fast X.509 v3 issuance on node:crypto: a hand-built DER TBSCertificate signed with crypto.sign. It makes one kind of
// certificate only, the per-pod bootstrap leaf, because there is one per injected pod (live mode issues it for every
// pod the watch sees, standalone mode at admission). Measured per leaf (bench part F, CPU on a 2-core AMD EPYC):
// ~0.15 ms with its P-256 key made inline, ~0.05 ms with a pooled key, against ~4 ms for @peculiar/x509 and ~8 ms for
// `selfsigned`. Everything made rarely (the CAs, the serving certificate) is issue.ts's, on those libraries.
import { createHash, createPrivateKey, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import {
  algorithmIdentifier,
  boolean,
  explicit,
  fromPemAll,
  ia5String,
  implicit,
  namedBits,
  NULL,
  octetString,
  oid,
  parseCertificate,
  readTlv,
  sequence,
  set,
  TAG,
  time,
  tlv,
  toPem,
  unsignedInteger,
  utf8String,
} from './der.js';
import { generateEcKey, type EncodedKeyPair } from './keys.js';

export const OID = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
  ecdsaWithSHA384: '1.2.840.10045.4.3.3',
  ecdsaWithSHA512: '1.2.840.10045.4.3.4',
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
  ed25519: '1.3.101.112',
} as const;

/** KeyUsage bit numbers (RFC 5280 4.2.1.3). */
export const KEY_USAGE = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 } as const;

export interface KeyObjectPair {
  readonly publicKey: KeyObject;
  readonly privateKey: KeyObject;
}

export interface LeafIssueOptions {
  readonly commonName: string;
  readonly dnsNames: readonly string[];
  readonly ipAddresses?: readonly string[];
  /** encoded to whole seconds (milliseconds truncated) */
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** the leaf key: a pooled/encoded pair or KeyObjects; default a fresh ECDSA P-256 key */
  readonly keyPair?: EncodedKeyPair | KeyObjectPair;
  /** serial magnitude (big-endian, positive); default 128 random bits with the high bit cleared */
  readonly serial?: Buffer;
  /** default serverAuth + clientAuth (the pipy sidecar is both a TLS client of the repo and an mTLS server) */
  readonly usage?: 'server' | 'client' | 'both';
}

export interface IssuedCertificate {
  /** PEM of the leaf alone */
  readonly cert: string;
  /** PKCS#8 PEM */
  readonly key: string;
  /** serial, lower-case hex */
  readonly serial: string;
  readonly notAfter: Date;
}

export interface SignerOptions {
  /** source of randomness for serials (tests pass a seeded one) */
  readonly random?: (n: number) => Buffer;
}

interface SigningAlgorithm {
  readonly algId: Buffer;
  /** digest name for crypto.sign, null for Ed25519 */
  readonly hash: string | null;
}

function signingAlgorithm(key: KeyObject): SigningAlgorithm {
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === 'prime256v1') return { algId: algorithmIdentifier(OID.ecdsaWithSHA256), hash: 'sha256' };
      if (curve === 'secp384r1') return { algId: algorithmIdentifier(OID.ecdsaWithSHA384), hash: 'sha384' };
      if (curve === 'secp521r1') return { algId: algorithmIdentifier(OID.ecdsaWithSHA512), hash: 'sha512' };
      throw new Error(`CA key: unsupported EC curve ${String(curve)}`);
    }
    case 'rsa':
      return { algId: algorithmIdentifier(OID.sha256WithRSAEncryption, NULL), hash: 'sha256' };
    case 'ed25519':
      return { algId: algorithmIdentifier(OID.ed25519), hash: null };
    default:
      throw new Error(`CA key: unsupported key type ${String(key.asymmetricKeyType)}`);
  }
}

/** Name ::= RDNSequence with one RDN per attribute; UTF8String values (PrintableString for countries is not needed). */
export function distinguishedName(attrs: readonly { oid: string; value: string }[]): Buffer {
  return sequence(...attrs.map((a) => set(sequence(oid(a.oid), utf8String(a.value)))));
}

/** Extension ::= SEQUENCE { extnID, critical DEFAULT FALSE, extnValue OCTET STRING } */
export function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? sequence(oid(id), boolean(true), octetString(value)) : sequence(oid(id), octetString(value));
}

/** RFC 5280 4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING value. */
export function keyIdentifier(spki: Buffer): Buffer {
  const root = readTlv(spki);
  const alg = readTlv(spki, root.contentStart, root.end);
  const bits = readTlv(spki, alg.end, root.end);
  if (bits.tag !== TAG.BIT_STRING) throw new Error('bad SubjectPublicKeyInfo');
  return createHash('sha1')
    .update(spki.subarray(bits.contentStart + 1, bits.end))
    .digest();
}

function ipBytes(ip: string): Buffer {
  const v = isIP(ip);
  if (v === 4) return Buffer.from(ip.split('.').map(Number));
  if (v === 6) {
    // expand "::" and an embedded IPv4 tail
    let s = ip;
    const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
    if (v4) {
      const b = v4[1]!.split('.').map(Number);
      s = s.slice(0, -v4[1]!.length) + ((b[0]! << 8) | b[1]!).toString(16) + ':' + ((b[2]! << 8) | b[3]!).toString(16);
    }
    const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
    const h = head ? head.split(':') : [];
    const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
    const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
    const out = Buffer.alloc(16);
    groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
    return out;
  }
  throw new Error(`not an IP address: ${ip}`);
}

/** GeneralNames for subjectAltName: dNSName [2] IA5String, iPAddress [7] OCTET STRING. */
export function subjectAltNames(dnsNames: readonly string[], ips: readonly string[] = []): Buffer {
  const names: Buffer[] = [];
  for (const d of dnsNames) {
    if (d.length === 0 || d.length > 253) throw new Error(`bad DNS name ${JSON.stringify(d)}`);
    const enc = ia5String(d); // throws on non-ASCII
    names.push(implicit(2, enc.subarray(readTlv(enc).contentStart)));
  }
  for (const ip of ips) names.push(implicit(7, ipBytes(ip)));
  return sequence(...names);
}

export interface TbsInput {
  readonly serial: Buffer;
  readonly signatureAlgorithm: Buffer;
  readonly issuer: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly subject: Buffer;
  readonly spki: Buffer;
  readonly extensions: readonly Buffer[];
}

/** TBSCertificate, version 3. */
export function tbsCertificate(t: TbsInput): Buffer {
  return sequence(
    explicit(0, Buffer.from([TAG.INTEGER, 1, 2])),
    unsignedInteger(t.serial),
    t.signatureAlgorithm,
    t.issuer,
    sequence(time(t.notBefore), time(t.notAfter)),
    t.subject,
    t.spki,
    explicit(3, sequence(...t.extensions)),
  );
}

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING } */
export function signTbs(tbs: Buffer, alg: SigningAlgorithm, key: KeyObject): Buffer {
  const sig = sign(alg.hash, tbs, key);
  return sequence(tbs, alg.algId, tlvBitString(sig));
}

function tlvBitString(sig: Buffer): Buffer {
  const b = Buffer.allocUnsafe(sig.length + 1);
  b[0] = 0;
  sig.copy(b, 1);
  return tlv(TAG.BIT_STRING, b);
}

/** 128-bit positive serial: random with the high bit cleared, never zero. */
export function newSerial(random: (n: number) => Buffer = randomBytes): Buffer {
  const s = Buffer.from(random(16));
  if (s.length !== 16) throw new Error('serial source must return 16 bytes');
  s[0]! &= 0x7f;
  if (s.every((b) => b === 0)) s[15] = 1;
  return s;
}

function isEncoded(k: EncodedKeyPair | KeyObjectPair): k is EncodedKeyPair {
  return (k as EncodedKeyPair).privateKeyPem !== undefined;
}

/** A certificate plus its private key: the CA this module signs with. */
export interface CaMaterial {
  readonly cert: string;
  readonly key: string;
}

const DER_PREFIX = /-----BEGIN CERTIFICATE-----/;

/**
 * Issues leaf certificates signed by one CA. Construction parses and checks the CA (key matches, is a CA, can sign);
 * `issue()` is synchronous and does no I/O.
 */
export class LeafSigner {
  /** PEM of the signing CA certificate alone */
  readonly caCert: string;
  readonly caNotAfter: Date;
  private readonly caKey: KeyObject;
  private readonly alg: SigningAlgorithm;
  private readonly issuerName: Buffer;
  private readonly aki: Buffer;
  private readonly random: (n: number) => Buffer;
  private readonly basicConstraints = extension(OID.basicConstraints, true, sequence());
  private readonly kuEc = extension(OID.keyUsage, true, namedBits([KEY_USAGE.digitalSignature]));
  private readonly kuRsa = extension(OID.keyUsage, true, namedBits([KEY_USAGE.digitalSignature, KEY_USAGE.keyEncipherment]));
  private readonly eku = {
    both: extension(OID.extKeyUsage, false, sequence(oid(OID.serverAuth), oid(OID.clientAuth))),
    server: extension(OID.extKeyUsage, false, sequence(oid(OID.serverAuth))),
    client: extension(OID.extKeyUsage, false, sequence(oid(OID.clientAuth))),
  };

  constructor(ca: CaMaterial, opts: SignerOptions = {}) {
    if (!DER_PREFIX.test(ca.cert)) throw new Error('CA certificate: no PEM CERTIFICATE block');
    this.caKey = createPrivateKey(ca.key);
    // A bundle may be given: the signing certificate is the one whose public key matches the private key.
    const all = fromPemAll(ca.cert).map((d) => new X509Certificate(d));
    const x = all.find((c) => c.checkPrivateKey(this.caKey));
    if (!x) throw new Error('CA certificate and private key do not match');
    const der = x.raw;
    if (!x.ca) throw new Error(`certificate ${x.subject.replace(/\n/g, ', ')} is not a CA (basicConstraints CA:TRUE missing)`);
    this.alg = signingAlgorithm(this.caKey);
    const parts = parseCertificate(der);
    this.issuerName = Buffer.from(parts.subject);
    const ski = parts.extensions.get(OID.subjectKeyIdentifier);
    const caKeyId = ski ? Buffer.from(ski.subarray(readTlv(ski).contentStart)) : keyIdentifier(parts.spki);
    this.aki = extension(OID.authorityKeyIdentifier, false, sequence(implicit(0, caKeyId)));
    this.caCert = toPem('CERTIFICATE', der);
    this.caNotAfter = new Date(x.validTo);
    this.random = opts.random ?? randomBytes;
  }

  issue(opts: LeafIssueOptions): IssuedCertificate {
    if (!(opts.notAfter.getTime() > opts.notBefore.getTime())) throw new Error('certificate notAfter must be after notBefore');
    let spki: Buffer;
    let keyPem: string;
    let rsa: boolean;
    const kp = opts.keyPair ?? generateEcKey();
    if (isEncoded(kp)) {
      spki = kp.spki;
      keyPem = kp.privateKeyPem;
      rsa = kp.kind === 'rsa';
    } else {
      spki = kp.publicKey.export({ type: 'spki', format: 'der' });
      keyPem = kp.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
      rsa = kp.publicKey.asymmetricKeyType === 'rsa';
    }
    const serial = opts.serial ?? newSerial(this.random);
    const exts = [
      this.basicConstraints,
      rsa ? this.kuRsa : this.kuEc,
      this.eku[opts.usage ?? 'both'],
      extension(OID.subjectKeyIdentifier, false, octetString(keyIdentifier(spki))),
      this.aki,
    ];
    if (opts.dnsNames.length > 0 || (opts.ipAddresses?.length ?? 0) > 0) exts.push(extension(OID.subjectAltName, false, subjectAltNames(opts.dnsNames, opts.ipAddresses)));
    const tbs = tbsCertificate({
      serial,
      signatureAlgorithm: this.alg.algId,
      issuer: this.issuerName,
      notBefore: opts.notBefore,
      notAfter: opts.notAfter,
      subject: distinguishedName([{ oid: OID.commonName, value: opts.commonName }]),
      spki,
      extensions: exts,
    });
    const der = signTbs(tbs, this.alg, this.caKey);
    return { cert: toPem('CERTIFICATE', der), key: keyPem, serial: serialHex(serial), notAfter: new Date(Math.floor(opts.notAfter.getTime() / 1000) * 1000) };
  }
}

function serialHex(s: Buffer): string {
  let i = 0;
  while (i < s.length - 1 && s[i] === 0) i++;
  return s.subarray(i).toString('hex');
}
