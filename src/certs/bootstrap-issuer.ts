// Issues the per-pod bootstrap certificate: ECDSA P-256 keys from a pool (inline generation when it runs dry), RSA
// keys only from pools filled by a worker thread — RSA generation never runs on the request path.
import type { MeshCA } from './mesh-ca.js';
import { KeyPool } from './key-pool.js';
import { generateEcKey, type EncodedKeyPair } from './keys.js';
import { LeafSigner } from './signer.js';
import { CERT_BACKDATE_MS } from './validity.js';

/** The forks issue bootstrap certificates for 10 years and never rotate them; a shorter life would break long-lived pods. */
export const BOOTSTRAP_CERT_VALIDITY_MS = 87600 * 3600 * 1000;

export interface IssueRequest {
  readonly commonName: string;
  readonly keyType: 'ec' | 'rsa';
  readonly rsaBits?: number;
  /** epoch ms: an RSA key must be available before this */
  readonly deadline: number;
}

export interface IssuedBootstrapCertificate {
  readonly caBundle: string;
  readonly cert: string;
  readonly key: string;
  readonly notAfter: Date;
}

export class BootstrapIssuer {
  private readonly signer: LeafSigner;
  private readonly ecPool: KeyPool | undefined;
  private readonly rsaPools = new Map<number, KeyPool>();

  constructor(
    readonly ca: MeshCA,
    private readonly opts: { now?: () => Date; ecPool?: boolean; onPoolError?: (err: Error) => void } = {},
  ) {
    this.signer = new LeafSigner(ca);
    this.ecPool = opts.ecPool === false ? undefined : new KeyPool({ kind: 'ec', ...(opts.onPoolError ? { onError: opts.onPoolError } : {}) });
  }

  private rsaPool(bits: number): KeyPool {
    let pool = this.rsaPools.get(bits);
    if (!pool) this.rsaPools.set(bits, (pool = new KeyPool({ kind: 'rsa', bits, ...(this.opts.onPoolError ? { onError: this.opts.onPoolError } : {}) })));
    return pool;
  }

  private async key(req: IssueRequest): Promise<EncodedKeyPair> {
    if (req.keyType === 'ec') return this.ecPool?.take() ?? generateEcKey();
    const pool = this.rsaPool(req.rsaBits ?? 2048);
    return pool.take() ?? pool.takeWithin(Math.max(1, req.deadline - Date.now()));
  }

  async issue(req: IssueRequest): Promise<IssuedBootstrapCertificate> {
    const keyPair = await this.key(req);
    const now = this.opts.now?.() ?? new Date();
    const leaf = this.signer.issue({
      commonName: req.commonName,
      dnsNames: [req.commonName],
      notBefore: new Date(now.getTime() - CERT_BACKDATE_MS),
      notAfter: new Date(Math.min(now.getTime() + BOOTSTRAP_CERT_VALIDITY_MS, this.ca.notAfter.getTime())),
      keyPair,
      usage: 'both',
    });
    return { caBundle: this.ca.bundle, cert: leaf.cert, key: leaf.key, notAfter: leaf.notAfter };
  }

  async close(): Promise<void> {
    await Promise.all([this.ecPool?.close(), ...[...this.rsaPools.values()].map((p) => p.close())]);
  }
}
