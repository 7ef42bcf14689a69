// The types several injector modules share: what the settings resolve to, the probes as the sidecar records them,
// and the plan for the bootstrap Secret. They live here, apart from the code that makes or reads them, so that the
// modules import one another in one direction only.
import type { V1ResourceRequirements } from '@kubernetes/client-node';
import type { SidecarMode } from '../mesh/names.js';

/** One rewritten probe as recorded for the sidecar (Go models.HealthProbe). */
export interface OriginalHealthProbe {
  /** the original httpGet path ("" for TCP probes) */
  readonly path: string;
  /** the resolved original port */
  readonly port: number;
  /** probe timeoutSeconds; written as Timeout in nanoseconds */
  readonly timeoutSeconds: number;
  readonly isHTTP: boolean;
  readonly isTCPSocket: boolean;
}

export interface OriginalHealthProbes {
  readonly liveness?: OriginalHealthProbe | null;
  readonly readiness?: OriginalHealthProbe | null;
  readonly startup?: OriginalHealthProbe | null;
}

export type ProbeKind = keyof OriginalHealthProbes;

export interface SidecarSettings {
  readonly mode: SidecarMode;
  readonly sidecarImage: string;
  readonly initImage: string;
  readonly healthcheckImage: string;
  readonly logLevel: string;
  readonly repoHost: string;
  readonly repoPort: number;
  readonly repoCodebase: string;
  readonly resources: V1ResourceRequirements | undefined;
  readonly initResources: V1ResourceRequirements | undefined;
  readonly healthcheckResources: V1ResourceRequirements | undefined;
  readonly privilegedInit: boolean;
  readonly holdApplication: boolean;
  readonly gracefulExit: boolean;
  /** FSM NodeLevel interception or osm-edge ebpf/none: no init container */
  readonly initContainer: boolean;
  /** FSM NodeLevel: only the proxy-uuid label is added */
  readonly labelOnly: boolean;
  readonly localDnsProxy: { enable: boolean; primary?: string; secondary?: string };
  readonly metrics: boolean;
  readonly trustDomain: string;
  readonly tls: { min?: string; max?: string; cipherSuites?: string[]; ecdhCurves?: string[] };
  readonly rsaBits?: number;
}

/** What the bootstrap Secret needs: from the MeshConfig and the flags only, never from annotations, so the Secret's
 * creator (which sees the pod after admission) computes what admission computed. */
export type BootstrapSettings = Pick<SidecarSettings, 'trustDomain' | 'repoPort' | 'tls' | 'rsaBits'>;

/** What the caller needs to issue the certificate and write the bootstrap Secret. */
export interface SecretPlan {
  readonly name: string;
  readonly namespace: string;
  readonly uuid: string;
  readonly serviceAccount: string;
  /** `<uuid>.sidecar.<sa>.<ns>.<trustDomain>`: certificate CN, DNS SAN and NodeID */
  readonly commonName: string;
  readonly labels: Record<string, string>;
  readonly repoHost: string;
  readonly repoPort: number;
  readonly tls: SidecarSettings['tls'];
  readonly originalHealthProbes: OriginalHealthProbes;
  readonly keyType: 'ec' | 'rsa';
  readonly rsaBits?: number;
}

