// The per-pod bootstrap Secret the sidecar starts from: its name, labels and keys, and `bootstrap.yaml`, exactly as
// the FSM/osm-edge injector writes them, so that their sidecars and controllers read ours unchanged. Pure: no I/O, no
// clock, no randomness; the UUID and the issued certificate come in as parameters.
//
// `bootstrap.yaml` is JSON despite its name, byte-for-byte what FSM/osm-edge write: Go's
// json.MarshalIndent(builder, "", "") over
//   Builder{RepoHost string; RepoPort uint32; NodeID string; TLSMinProtocolVersion string; TLSMaxProtocolVersion string;
//           CipherSuites []string; ECDHCurves []string; OriginalHealthProbes HealthProbes}
//   HealthProbes{Liveness, Readiness, Startup *HealthProbe}
//   HealthProbe{Path string; Port int32; Timeout time.Duration /*ns*/; IsHTTP bool; IsTCPSocket bool}
// i.e. one member or element per line with no indentation, `"key": value`, empty arrays/objects as `[]`/`{}`,
// nil slices and pointers as `null`, Go's string escaping (HTML-safe: <, >, & as \u003c...), no trailing newline.
//
// MeshConfig defaults when `spec.sidecar` leaves a field out (decision, documented):
// - TLSMinProtocolVersion "TLSv1_2", TLSMaxProtocolVersion "TLSv1_3": the MeshConfig CRD defaults, i.e. what the
//   forks read from any MeshConfig stored by a real API server (a Go zero value "" would reach pipy only when the
//   MeshConfig comes from a file without them, e.g. standalone mode).
// - CipherSuites, ECDHCurves: null (the CRD has no default, and a nil Go slice marshals to null); an explicit [] is
//   kept as [].
import type { MeshIdentity } from '../mesh/flavor.js';
import type { OwnerReference } from '../mesh/objects.js';
import type { OriginalHealthProbe, OriginalHealthProbes, SecretPlan } from './types.js';
import { bootstrapSecretLabels, bootstrapSecretName } from '../mesh/names.js';

export const BOOTSTRAP_KEYS = { config: 'bootstrap.yaml', ca: 'cacert.pem', cert: 'repo_cert.pem', key: 'repo_key.pem' } as const;
export const DEFAULT_REPO_PORT = 6060;
export const DEFAULT_TRUST_DOMAIN = 'cluster.local';
export const DEFAULT_TLS_MIN = 'TLSv1_2';
export const DEFAULT_TLS_MAX = 'TLSv1_3';

/** The MeshConfig `spec.sidecar` fields copied into bootstrap.yaml. */
export interface SidecarTlsConfig {
  readonly tlsMinProtocolVersion?: string;
  readonly tlsMaxProtocolVersion?: string;
  readonly cipherSuites?: readonly string[] | null;
  readonly ecdhCurves?: readonly string[] | null;
}

/** The certificate material written next to bootstrap.yaml. */
export interface BootstrapCertificate {
  /** trusted CA bundle (cacert.pem) */
  readonly caBundle: string;
  /** leaf certificate chain (repo_cert.pem) */
  readonly cert: string;
  /** leaf private key (repo_key.pem) */
  readonly key: string;
}

export interface BootstrapSecretInput {
  readonly mesh: MeshIdentity;
  readonly uuid: string;
  /** the admission request namespace (pod.metadata.namespace is often empty at admission) */
  readonly namespace: string;
  /** full certificate CN, used as NodeID */
  readonly commonName: string;
  readonly certificate: BootstrapCertificate;
  /** MeshConfig `spec.repoServer.port`; default 6060 */
  readonly repoPort?: number;
  readonly sidecar?: SidecarTlsConfig;
  readonly probes?: OriginalHealthProbes;
  /** when given, also labelled `app.kubernetes.io/version` (as the forks do with their build version) */
  readonly version?: string;
}

export interface BootstrapSecret {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: { name: string; namespace: string; labels: Record<string, string>; ownerReferences?: OwnerReference[] };
  type: 'Opaque';
  /** base64 values, in the order bootstrap.yaml, cacert.pem, repo_cert.pem, repo_key.pem */
  data: Record<string, string>;
}

/** `<uuid>.sidecar.<serviceAccount>.<namespace>.<trustDomain>`; an empty service account counts as `default`. */
export function proxyCommonName(uuid: string, serviceAccount: string, namespace: string, trustDomain: string = DEFAULT_TRUST_DOMAIN): string {
  return `${uuid}.sidecar.${serviceAccount || 'default'}.${namespace}.${trustDomain || DEFAULT_TRUST_DOMAIN}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Go-shaped config

interface GoHealthProbe {
  Path: string;
  Port: number;
  Timeout: bigint;
  IsHTTP: boolean;
  IsTCPSocket: boolean;
}

/** The Go Builder struct, field order significant. */
export interface GoBootstrapConfig {
  RepoHost: string;
  RepoPort: number;
  NodeID: string;
  TLSMinProtocolVersion: string;
  TLSMaxProtocolVersion: string;
  CipherSuites: string[] | null;
  ECDHCurves: string[] | null;
  OriginalHealthProbes: { Liveness: GoHealthProbe | null; Readiness: GoHealthProbe | null; Startup: GoHealthProbe | null };
}

const NS_PER_SECOND = 1_000_000_000n;

function goProbe(p: OriginalHealthProbe | null | undefined): GoHealthProbe | null {
  if (!p) return null;
  return { Path: p.path, Port: p.port, Timeout: BigInt(Math.trunc(p.timeoutSeconds)) * NS_PER_SECOND, IsHTTP: p.isHTTP, IsTCPSocket: p.isTCPSocket };
}

export function repoHost(mesh: MeshIdentity): string {
  // The forks hard-code cluster.local here whatever the trust domain is.
  return `${mesh.flavor.controllerService}.${mesh.meshNamespace}.svc.cluster.local`;
}

export function bootstrapConfig(input: Pick<BootstrapSecretInput, 'mesh' | 'commonName' | 'repoPort' | 'sidecar' | 'probes'>): GoBootstrapConfig {
  const sc = input.sidecar ?? {};
  return {
    RepoHost: repoHost(input.mesh),
    RepoPort: input.repoPort ?? DEFAULT_REPO_PORT,
    NodeID: input.commonName,
    TLSMinProtocolVersion: sc.tlsMinProtocolVersion || DEFAULT_TLS_MIN,
    TLSMaxProtocolVersion: sc.tlsMaxProtocolVersion || DEFAULT_TLS_MAX,
    CipherSuites: sc.cipherSuites ? [...sc.cipherSuites] : null,
    ECDHCurves: sc.ecdhCurves ? [...sc.ecdhCurves] : null,
    OriginalHealthProbes: {
      Liveness: goProbe(input.probes?.liveness),
      Readiness: goProbe(input.probes?.readiness),
      Startup: goProbe(input.probes?.startup),
    },
  };
}

/** Go encoding/json string escaping (HTML-safe, as json.Marshal does by default; Go ≥ 1.22 short escapes). */
export function goJsonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        out += s[i]! + s[i + 1]!;
        i++;
      } else out += '\\ufffd';
      continue;
    }
    if (c >= 0xdc00 && c <= 0xdfff) {
      out += '\\ufffd';
      continue;
    }
    switch (c) {
      case 0x22:
        out += '\\"';
        break;
      case 0x5c:
        out += '\\\\';
        break;
      case 0x0a:
        out += '\\n';
        break;
      case 0x0d:
        out += '\\r';
        break;
      case 0x09:
        out += '\\t';
        break;
      case 0x08:
        out += '\\b';
        break;
      case 0x0c:
        out += '\\f';
        break;
      case 0x3c:
      case 0x3e:
      case 0x26:
      case 0x2028:
      case 0x2029:
        out += '\\u' + c.toString(16).padStart(4, '0');
        break;
      default:
        out += c < 0x20 ? '\\u' + c.toString(16).padStart(4, '0') : s[i]!;
    }
  }
  return out + '"';
}

type GoValue = string | number | bigint | boolean | null | GoValue[] | { [k: string]: GoValue };

/** json.MarshalIndent(v, "", "") layout for plain values; object members in insertion order. */
export function goMarshalIndentEmpty(v: GoValue): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
      return goJsonString(v);
    case 'bigint':
      return v.toString();
    case 'number':
      if (!Number.isFinite(v)) throw new Error('json: unsupported value: non-finite number');
      return Number.isInteger(v) ? v.toString() : String(v);
    case 'boolean':
      return v ? 'true' : 'false';
  }
  if (Array.isArray(v)) return v.length === 0 ? '[]' : '[\n' + v.map(goMarshalIndentEmpty).join(',\n') + '\n]';
  const keys = Object.keys(v);
  if (keys.length === 0) return '{}';
  return '{\n' + keys.map((k) => `${goJsonString(k)}: ${goMarshalIndentEmpty(v[k]!)}`).join(',\n') + '\n}';
}

export function bootstrapConfigText(config: GoBootstrapConfig): string {
  return goMarshalIndentEmpty(config as unknown as GoValue);
}

// ---------------------------------------------------------------------------------------------------------------
// Secrets

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

function secretOf(input: Pick<BootstrapSecretInput, 'mesh' | 'uuid' | 'namespace' | 'certificate' | 'version'>, configText: string): BootstrapSecret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: bootstrapSecretName(input.uuid), namespace: input.namespace, labels: bootstrapSecretLabels(input.mesh, input.uuid, input.version) },
    type: 'Opaque',
    data: {
      [BOOTSTRAP_KEYS.config]: b64(configText),
      [BOOTSTRAP_KEYS.ca]: b64(input.certificate.caBundle),
      [BOOTSTRAP_KEYS.cert]: b64(input.certificate.cert),
      [BOOTSTRAP_KEYS.key]: b64(input.certificate.key),
    },
  };
}

/** The bootstrap Secret for a newly injected pod. */
export function buildBootstrapSecret(input: BootstrapSecretInput): BootstrapSecret {
  return secretOf(input, bootstrapConfigText(bootstrapConfig(input)));
}

/**
 * The Secret for a plan (admission's, or bootstrapSecretPlan's for a pod that exists) and the certificate issued for
 * it. `owner` is the pod, once it exists: Kubernetes' garbage collector then deletes the Secret with it.
 */
export function bootstrapSecretFor(mesh: MeshIdentity, plan: SecretPlan, certificate: BootstrapCertificate, owner?: OwnerReference): BootstrapSecret {
  const secret = buildBootstrapSecret({
    mesh,
    uuid: plan.uuid,
    namespace: plan.namespace,
    commonName: plan.commonName,
    certificate,
    repoPort: plan.repoPort,
    sidecar: { tlsMinProtocolVersion: plan.tls.min, tlsMaxProtocolVersion: plan.tls.max, cipherSuites: plan.tls.cipherSuites ?? null, ecdhCurves: plan.tls.ecdhCurves ?? null },
    probes: plan.originalHealthProbes,
  });
  return owner ? { ...secret, metadata: { ...secret.metadata, ownerReferences: [owner] } } : secret;
}
