// Everything `mesh-admission serve` can be told, with its defaults (the flags and their help are in cli/main.ts).
import type { FlavorName } from '../mesh/flavor.js';
import type { SidecarModeFlag } from '../mesh/names.js';
import type { PodSecurityDefaults } from '../injector/pod-security.js';


export interface ServeOptions {
  port: number;
  /** /metrics and /audit: HTTPS behind TokenReview and SubjectAccessReview in live mode */
  metricsPort: number;
  /** /healthz and /readyz: plain HTTP for the kubelet */
  healthPort: number;
  /** serve /metrics and /audit over plain HTTP to anyone who reaches the port (the old behaviour, by choice) */
  insecureMetrics: boolean;
  host: string;
  clusterState?: string;
  kubeconfig?: string;
  certsDir: string;
  /**
   * standalone mode: --certs-dir and --secrets-dir were not given, so a folder that cannot be written (an image's
   * read-only working directory) falls back to one under the temporary directory; a given one must be writable
   */
  defaultDirs?: { readonly certsDir: boolean; readonly secretsDir: boolean };
  tlsCertFile?: string;
  tlsKeyFile?: string;
  /** live mode with certificate files: the CA to publish in the webhook configurations' caBundle */
  tlsCaFile?: string;
  secretsDir: string;
  flavor: FlavorName;
  meshName?: string;
  meshNamespace?: string;
  sidecarMode: SidecarModeFlag;
  sidecarImage?: string;
  initContainerImage?: string;
  /** the API server's Pod Security defaults (its admission configuration), for namespaces without the labels */
  podSecurityDefaults?: PodSecurityDefaults;
  /** the healthcheck helper's image (default: the flavor's) */
  healthcheckImage?: string;
  registerWebhooks?: string;
  /** with registerWebhooks: leave the configurations in place on shutdown (default: delete them) */
  keepWebhooks?: boolean;
  /** the Service the webhooks are reached through (names in the serving certificate) */
  serviceName: string;
  /** extra DNS names and IP addresses of the self-managed serving certificate (webhooks reached by URL) */
  tlsSan: string[];
  /** seconds the server keeps answering after SIGTERM (every answer with Connection: close) before it stops accepting */
  shutdownDelaySeconds: number;
  /** seconds in-flight requests then get to finish */
  shutdownGraceSeconds: number;
  /** admit with a warning instead of denying when validation runs out of time */
  validationFailOpen: boolean;
  /** live mode: seconds between two runs of the continuous audit (jittered); 0 turns it off */
  auditIntervalSeconds: number;
  logLevel: string;
}

/**
 * Where serve listens when --host is not given: a standalone server (a workstation trying things out) only on the
 * loopback address; a live one (in a pod, or registered with a cluster that must reach it) on every address.
 */
export const LISTEN_HOSTS = { standalone: '127.0.0.1', live: '0.0.0.0' } as const;

export function listenHost(explicit: string | undefined, live: boolean): string {
  return explicit ?? (live ? LISTEN_HOSTS.live : LISTEN_HOSTS.standalone);
}

export const SERVE_DEFAULTS: ServeOptions = {
  port: 9443,
  metricsPort: 9091,
  healthPort: 8081,
  insecureMetrics: false,
  host: LISTEN_HOSTS.standalone,
  certsDir: './certs',
  secretsDir: './bootstrap-secrets',
  flavor: 'fsm',
  sidecarMode: 'auto',
  serviceName: 'mesh-admission',
  tlsSan: [],
  shutdownDelaySeconds: 5,
  shutdownGraceSeconds: 20,
  validationFailOpen: false,
  auditIntervalSeconds: 300,
  logLevel: 'info',
};
