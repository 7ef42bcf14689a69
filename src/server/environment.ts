// What differs between standalone and live mode, behind one shape: where the cluster view, the mesh CA, the serving
// certificate and the bootstrap Secrets come from, and what runs beside the HTTPS server.
import type { Server as HttpsServer } from 'node:https';
import type { Logger } from 'pino';
import type { BootstrapIssuer } from '../certs/bootstrap-issuer.js';
import type { AccessReview } from '../controllers/access-review.js';
import type { MeshCA } from '../certs/mesh-ca.js';
import type { InjectorOptions } from '../injector/settings.js';
import type { ClusterView } from '../cluster/view.js';
import type { MeshIdentity } from '../mesh/flavor.js';
import type { KubeObject } from '../mesh/objects.js';
import type { OwnWebhooks, PodMutator, WebhookConfigurations } from '../mesh/webhook-conflicts.js';
import type { Metrics } from './metrics.js';
import type { ServeOptions } from './options.js';
import type { SecretStore } from '../webhooks/secret-store.js';
import type { Freshness } from '../webhooks/validate.js';
import type { TlsMaterial } from './tls.js';

export interface Environment {
  readonly mode: 'standalone' | 'live';
  readonly view: ClusterView;
  /** live mode: whether each kind's cache follows the API server, and reading it afresh when it does not */
  readonly freshness?: Freshness;
  readonly meshCA: MeshCA;
  /** standalone mode: bootstrap Secrets written at admission (live mode creates them from the pod watch) */
  readonly secretStore?: SecretStore;
  /** the serving certificate to start with */
  readonly tls: TlsMaterial;
  readonly fetchNamespace?: (name: string) => Promise<KubeObject | undefined>;
  /** live mode: the pods of these namespaces, read from the API server (the audit's) */
  readonly listPods?: (namespaces: readonly string[]) => Promise<KubeObject[]>;
  /** minor version of the API server (native sidecars from 1.33), as known now; undefined while it is not */
  readonly kubernetesMinor?: () => number | undefined;
  /** starts what needs the running HTTPS servers (certificate swaps, caBundle patching, watches, Secret creation) */
  attach(https: TlsTarget, deps: AttachDeps): Promise<void>;
  /** resolves once the view holds the cluster (standalone: at once; live: after every resource listed once) */
  whenReady(): Promise<unknown>;
  /** reasons the server is not ready, empty when it is */
  notReady(): string[];
  /** what /readyz says without failing readiness (live mode: conflicting webhooks), one line each */
  warnings?(): string[];
  /** live mode: the other mutating webhooks the API server calls for a pod of this namespace */
  readonly podMutators?: (namespace: KubeObject | undefined) => PodMutator[];
  /** live mode: the cluster's webhook configurations as last seen, and this server's own (the continuous audit) */
  readonly webhooks?: () => { configurations: WebhookConfigurations | undefined; own: OwnWebhooks };
  /** shutdown has begun (the server still answers): hand over what another replica should take at once */
  drain?(): Promise<void>;
  stop(): Promise<void>;
  /** live mode: TokenReviews and SubjectAccessReviews for the callers of /metrics and /audit */
  readonly accessReview?: AccessReview;
}

/** Where a renewed serving certificate goes: every listener that serves it (the webhook port and the metrics port). */
export type TlsTarget = Pick<HttpsServer, 'setSecureContext'>;

/** What the environment's background work shares with the webhooks. */
export interface AttachDeps {
  readonly issuer: BootstrapIssuer;
  readonly injector: InjectorOptions;
}

export interface EnvironmentContext {
  readonly opts: ServeOptions;
  readonly mesh: MeshIdentity;
  readonly logger: Logger;
  readonly metrics: Metrics;
}
