// Certificate issuance with the `selfsigned` package: a CA and leaves signed by it. ECDSA P-256 unless asked otherwise.
import selfsigned from 'selfsigned';

export interface KeyPairPem {
  readonly cert: string;
  readonly key: string;
}

export interface IssueOptions {
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly keyType?: 'ec' | 'rsa';
}

export { validity } from './validity.js';

function keyOptions(keyType: 'ec' | 'rsa' = 'ec'): { keyType: 'ec'; curve: 'P-256' } | { keyType: 'rsa'; keySize: number } {
  return keyType === 'ec' ? { keyType: 'ec', curve: 'P-256' } : { keyType: 'rsa', keySize: 2048 };
}

export async function issueCA(commonName: string, opts: IssueOptions): Promise<KeyPairPem> {
  const pems = await selfsigned.generate([{ name: 'commonName', value: commonName }], {
    ...keyOptions(opts.keyType),
    algorithm: 'sha256',
    notBeforeDate: opts.notBefore,
    notAfterDate: opts.notAfter,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

export interface LeafOptions extends IssueOptions {
  readonly commonName: string;
  readonly dnsNames: readonly string[];
  readonly ips?: readonly string[];
  readonly usage: 'server' | 'client' | 'both';
}

export async function issueLeaf(ca: KeyPairPem, opts: LeafOptions): Promise<KeyPairPem> {
  const altNames = [...opts.dnsNames.map((value) => ({ type: 2 as const, value })), ...(opts.ips ?? []).map((ip) => ({ type: 7 as const, ip }))];
  const pems = await selfsigned.generate([{ name: 'commonName', value: opts.commonName }], {
    ...keyOptions(opts.keyType),
    algorithm: 'sha256',
    notBeforeDate: opts.notBefore,
    notAfterDate: opts.notAfter,
    ca: { key: ca.key, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: opts.keyType === 'rsa', critical: true },
      { name: 'extKeyUsage', serverAuth: opts.usage !== 'client', clientAuth: opts.usage !== 'server' },
      ...(altNames.length > 0 ? [{ name: 'subjectAltName' as const, altNames }] : []),
    ],
  });
  return { cert: pems.cert, key: pems.private };
}
