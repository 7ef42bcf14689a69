// The mesh CA that signs the per-pod bootstrap certificates.
// - standalone: `mesh-ca.crt` / `mesh-ca.key` under the certs directory, created on first use and reused while valid;
// - live mode: the Secret `<p>-ca-bundle` in the mesh namespace (keys `ca.crt`, `private.key`, the names the forks'
//   controller reads, so both trust the same root), read with meshCAFromSecretData and, when absent, created from
//   meshCASecret(await createMeshCA(...)).
// Root CN as the Tresor provider of FSM/osm-edge: `fsm-ca.flomesh.io` / `osm-ca.openservicemesh.io`, 87600 h (10 y).
// Made like every CA here, by issue.ts (a root is made once in years, so its cost does not matter).
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Flavor, FlavorName } from '../mesh/flavor.js';
import { FLAVORS } from '../mesh/flavor.js';
import { fromPemAll, toPem } from './der.js';
import { issueCA } from './issue.js';
import { CERT_BACKDATE_MS } from './validity.js';

export const MESH_CA_FILES = { cert: 'mesh-ca.crt', key: 'mesh-ca.key' } as const;
export const CA_SECRET_KEYS = { cert: 'ca.crt', key: 'private.key', expiration: 'expiration' } as const;

/** 87600 h, as the forks' Tresor root. */
export const MESH_CA_VALIDITY_MS = 87600 * 3600 * 1000;

export interface MeshCA {
  /** PEM of the signing CA certificate */
  readonly cert: string;
  /** PEM private key of the signing CA */
  readonly key: string;
  /** all CA certificates to trust (the signing CA plus any others found in `ca.crt`, e.g. during a rotation) */
  readonly bundle: string;
  readonly notAfter: Date;
}

export interface LoadedMeshCA extends MeshCA {
  /** true when an existing CA was reused, false when a new one was created */
  readonly reused: boolean;
}

const flavorOf = (f: Flavor | FlavorName): Flavor => (typeof f === 'string' ? FLAVORS[f] : f);

/** Root CN of the mesh CA for a flavor. */
export function meshCACommonName(flavor: Flavor | FlavorName): string {
  const f = flavorOf(flavor);
  return `${f.prefix}-ca.${f.domain}`;
}

/** A new mesh root CA: ECDSA P-256, valid from 5 minutes before `now` for 10 years. */
export async function createMeshCA(flavor: Flavor | FlavorName, now: Date): Promise<MeshCA> {
  const f = flavorOf(flavor);
  const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000 - CERT_BACKDATE_MS);
  const notAfter = new Date(Math.floor(now.getTime() / 1000) * 1000 + MESH_CA_VALIDITY_MS);
  const ca = await issueCA(meshCACommonName(f), { notBefore, notAfter, ...(f.name === 'osm-edge' ? { organization: 'Open Service Mesh Edge' } : {}) });
  return { cert: ca.cert, key: ca.key, bundle: ca.cert, notAfter };
}

/**
 * Validates CA material: `certPem` may hold several certificates; the signing CA is the one whose public key matches
 * `keyPem`. It must be a CA and valid at `now` (when given). Throws with the reason otherwise.
 */
export function meshCAFromPem(certPem: string, keyPem: string, now?: Date): MeshCA {
  const ders = fromPemAll(certPem);
  if (ders.length === 0) throw new Error('mesh CA: no certificate found');
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (e) {
    throw new Error(`mesh CA: private key does not parse: ${(e as Error).message}`);
  }
  const certs = ders.map((d) => new X509Certificate(d));
  const signing = certs.find((c) => c.checkPrivateKey(key));
  if (!signing) throw new Error('mesh CA: no certificate matches the private key');
  if (!signing.ca) throw new Error('mesh CA: the certificate matching the key is not a CA');
  const notAfter = new Date(signing.validTo);
  if (now && (now.getTime() < Date.parse(signing.validFrom) || now.getTime() >= notAfter.getTime())) {
    throw new Error(`mesh CA: not valid at ${now.toISOString()} (valid ${signing.validFrom} – ${signing.validTo})`);
  }
  const bundle = certs
    .filter((c) => c.ca && (!now || now.getTime() < Date.parse(c.validTo)))
    .map((c) => toPem('CERTIFICATE', c.raw))
    .join('');
  return { cert: toPem('CERTIFICATE', signing.raw), key: keyPem, bundle, notAfter };
}

const readIf = (p: string): string | undefined => {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
};

/**
 * Standalone mesh CA under `dir`: reused while it parses, matches its key, is a CA and is valid at `now`; otherwise
 * a new one is created and written (key mode 0600, written atomically via rename).
 */
export async function loadOrCreateMeshCA(dir: string, flavor: Flavor | FlavorName, now: Date): Promise<LoadedMeshCA> {
  const certPath = join(dir, MESH_CA_FILES.cert);
  const keyPath = join(dir, MESH_CA_FILES.key);
  const certPem = readIf(certPath);
  const keyPem = readIf(keyPath);
  if (certPem !== undefined && keyPem !== undefined) {
    try {
      const ca = meshCAFromPem(certPem, keyPem, now);
      return { ...ca, reused: true };
    } catch {
      // fall through: replace it
    }
  }
  const ca = await createMeshCA(flavor, now);
  mkdirSync(dir, { recursive: true });
  writeAtomic(keyPath, ca.key, 0o600);
  writeAtomic(certPath, ca.cert, 0o644);
  return { ...ca, reused: false };
}

function writeAtomic(path: string, data: string, mode: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

/** Reads the `<p>-ca-bundle` Secret's `data` (base64 values). Throws with the missing key or the reason. */
export function meshCAFromSecretData(data: Readonly<Record<string, string>> | undefined, now?: Date): MeshCA {
  const get = (k: string): string => {
    const v = data?.[k];
    if (v === undefined || v === '') throw new Error(`mesh CA Secret: key ${JSON.stringify(k)} is missing`);
    return Buffer.from(v, 'base64').toString('utf8');
  };
  return meshCAFromPem(get(CA_SECRET_KEYS.cert), get(CA_SECRET_KEYS.key), now);
}

export interface SecretObject {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: { name: string; namespace: string; labels?: Record<string, string> };
  type?: string;
  data: Record<string, string>;
}

/**
 * The `<p>-ca-bundle` Secret for a mesh CA. Also carries `expiration` (`2006-01-02T15:04:05.000Z` layout, which is
 * what JavaScript's toISOString prints) because older Tresor versions refuse a CA Secret without it.
 */
export function meshCASecret(ca: MeshCA, flavor: Flavor | FlavorName, namespace: string, labels?: Record<string, string>): SecretObject {
  const f = flavorOf(flavor);
  const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: f.caBundleSecret, namespace, ...(labels ? { labels: { ...labels } } : {}) },
    type: 'Opaque',
    data: {
      [CA_SECRET_KEYS.cert]: b64(ca.bundle),
      [CA_SECRET_KEYS.key]: b64(ca.key),
      [CA_SECRET_KEYS.expiration]: b64(ca.notAfter.toISOString()),
    },
  };
}
