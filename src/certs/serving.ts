// Standalone serving certificates: a CA and a leaf kept under the certs directory, reused while they are valid.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { issueCA, issueLeaf, type KeyPairPem } from './issue.js';
import { validity } from './validity.js';

export interface ServingCerts {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  readonly notAfter: Date;
  readonly caNotAfter: Date;
  /** true when the files on disk were reused */
  readonly reused: boolean;
}

export const CERT_FILES = { ca: 'ca.crt', caKey: 'ca.key', cert: 'tls.crt', key: 'tls.key' } as const;

/** The DNS names a webhook Service is reached by, plus the loopback names in standalone mode. */
export function serviceDnsNames(service: string, namespace: string, standalone: boolean): { dns: string[]; ips: string[] } {
  const dns = [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`];
  return standalone ? { dns: [...dns, 'localhost'], ips: ['127.0.0.1', '::1'] } : { dns, ips: [] };
}

const readIf = (p: string): string | undefined => {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
};

/** A leaf is reused only while it has more than a third of its life left and covers every name asked for. */
export function reusable(caPem: string, caKeyPem: string, certPem: string, keyPem: string, names: { dns: string[]; ips: string[] }, now: Date): boolean {
  try {
    const ca = new X509Certificate(caPem);
    const leaf = new X509Certificate(certPem);
    if (!ca.checkPrivateKey(createPrivateKey(caKeyPem)) || !leaf.checkPrivateKey(createPrivateKey(keyPem))) return false;
    if (!leaf.verify(ca.publicKey)) return false;
    const from = Date.parse(leaf.validFrom);
    const to = Date.parse(leaf.validTo);
    if (!(now.getTime() >= from && now.getTime() < from + ((to - from) * 2) / 3)) return false;
    if (now.getTime() >= Date.parse(ca.validTo)) return false;
    const sans = (leaf.subjectAltName ?? '').split(', ');
    return names.dns.every((d) => sans.includes(`DNS:${d}`)) && names.ips.every((ip) => leaf.checkIP(ip) !== undefined);
  } catch {
    return false;
  }
}

export interface EnsureOptions {
  readonly dir: string;
  readonly service: string;
  readonly namespace: string;
  readonly standalone: boolean;
  readonly now?: Date;
  readonly leafDays?: number;
  readonly caDays?: number;
  /** more DNS names for the leaf (e.g. an ingress or node name) */
  readonly extraDns?: readonly string[];
  /** more IP addresses for the leaf (a node or load balancer address) */
  readonly extraIps?: readonly string[];
}

export async function ensureServingCerts(opts: EnsureOptions): Promise<ServingCerts> {
  const now = opts.now ?? new Date();
  const base = serviceDnsNames(opts.service, opts.namespace, opts.standalone);
  const names = { dns: [...new Set([...base.dns, ...(opts.extraDns ?? [])])], ips: [...new Set([...base.ips, ...(opts.extraIps ?? [])])] };
  const paths = Object.fromEntries(Object.entries(CERT_FILES).map(([k, f]) => [k, join(opts.dir, f)])) as Record<keyof typeof CERT_FILES, string>;
  const existing = { ca: readIf(paths.ca), caKey: readIf(paths.caKey), cert: readIf(paths.cert), key: readIf(paths.key) };
  if (existing.ca && existing.caKey && existing.cert && existing.key && reusable(existing.ca, existing.caKey, existing.cert, existing.key, names, now)) {
    return { ca: existing.ca, cert: existing.cert, key: existing.key, notAfter: new Date(new X509Certificate(existing.cert).validTo), caNotAfter: new Date(new X509Certificate(existing.ca).validTo), reused: true };
  }
  // Keep a still-valid CA so clients that trust it keep working; only the leaf is renewed.
  let ca: KeyPairPem | undefined;
  if (existing.ca && existing.caKey) {
    try {
      const x = new X509Certificate(existing.ca);
      if (x.ca && x.checkPrivateKey(createPrivateKey(existing.caKey)) && Date.parse(x.validTo) - now.getTime() > 30 * 24 * 3600 * 1000) ca = { cert: existing.ca, key: existing.caKey };
    } catch {
      ca = undefined;
    }
  }
  ca ??= await issueCA(`${opts.service}-ca`, validity(now, opts.caDays ?? 3650));
  const leaf = await issueLeaf(ca, {
    ...validity(now, opts.leafDays ?? 365),
    commonName: `${opts.service}.${opts.namespace}.svc`,
    dnsNames: names.dns,
    ips: names.ips,
    usage: 'server',
  });
  mkdirSync(opts.dir, { recursive: true });
  writeFileSync(paths.ca, ca.cert);
  writeFileSync(paths.caKey, ca.key, { mode: 0o600 });
  writeFileSync(paths.cert, leaf.cert);
  writeFileSync(paths.key, leaf.key, { mode: 0o600 });
  return { ca: ca.cert, cert: leaf.cert, key: leaf.key, notAfter: new Date(new X509Certificate(leaf.cert).validTo), caNotAfter: new Date(new X509Certificate(ca.cert).validTo), reused: false };
}
