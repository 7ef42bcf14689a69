// The names this server reads and writes on Kubernetes objects, written once: labels, annotations, namespaces that are
// never meshed, webhook paths, and the names of the Secrets and configurations it owns. Flavor-dependent names take
// the mesh identity (flavor.ts).
import type { Flavor, MeshIdentity } from './flavor.js';

/** Namespaces that must never depend on this server: their pods run the cluster, including the API server's path to us. */
export const SYSTEM_NAMESPACES: readonly string[] = ['kube-system', 'kube-public', 'kube-node-lease'];

/** Set by the API server on every Namespace and impossible to strip: what namespaceSelectors can rely on. */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/** System namespaces and the mesh's own control-plane namespace. */
export function isUnmeshedNamespace(mesh: MeshIdentity, namespace: string): boolean {
  return SYSTEM_NAMESPACES.includes(namespace) || namespace === mesh.meshNamespace;
}

/** Label that marks a namespace as part of the mesh: `<domain>/monitored-by: <meshName>`. */
export function monitoredByLabel(f: Flavor): string {
  return `${f.domain}/monitored-by`;
}

/** Label that takes a namespace out of the mesh whatever else it says. */
export function ignoreLabel(f: Flavor): string {
  return `${f.domain}/ignore`;
}

/** A namespace of this mesh: labelled monitored-by this mesh and not ignored. */
export function isMonitoredNamespace(mesh: MeshIdentity, labels: Readonly<Record<string, unknown>> | undefined): boolean {
  return labels?.[monitoredByLabel(mesh.flavor)] === mesh.meshName && !(ignoreLabel(mesh.flavor) in (labels ?? {}));
}

/** `<p>-proxy-uuid`: the pod label carrying the proxy's identity (and naming its bootstrap Secret). */
export function proxyUuidLabel(mesh: MeshIdentity): string {
  return `${mesh.flavor.prefix}-proxy-uuid`;
}

/** Annotation keys users write on pods and namespaces. */
export function annotationKeys(f: Flavor) {
  const d = f.domain;
  return {
    injection: `${d}/sidecar-injection`,
    metrics: `${d}/metrics`,
    sidecarImage: `${d}/sidecar-image`,
    sidecarMode: `${d}/sidecar-mode`,
    hold: `${d}/hold-application-until-proxy-starts`,
    gracefulExit: `${d}/graceful-exit-until-downstream-ends`,
    resource: (kind: 'limits' | 'requests', name: string) => `${d}/sidecar-resource-${kind}-${name}`,
  };
}

export const BOOTSTRAP_SECRET_PREFIX = 'sidecar-bootstrap-config-';

export function bootstrapSecretName(uuid: string): string {
  return BOOTSTRAP_SECRET_PREFIX + uuid;
}

/** The UUID in a bootstrap Secret name, or undefined when the name does not have the prefix. */
export function uuidFromBootstrapSecretName(name: string): string | undefined {
  return name.startsWith(BOOTSTRAP_SECRET_PREFIX) && name.length > BOOTSTRAP_SECRET_PREFIX.length ? name.slice(BOOTSTRAP_SECRET_PREFIX.length) : undefined;
}

/** Labels of the objects the mesh owns (bootstrap Secrets, the mesh CA Secret), as the mesh's own injector writes them. */
export function meshLabels(mesh: MeshIdentity): Record<string, string> {
  return { 'app.kubernetes.io/name': mesh.flavor.domain, 'app.kubernetes.io/instance': mesh.meshName };
}

export function bootstrapSecretLabels(mesh: MeshIdentity, uuid: string, version?: string): Record<string, string> {
  return { ...meshLabels(mesh), ...(version ? { 'app.kubernetes.io/version': version } : {}), [proxyUuidLabel(mesh)]: uuid };
}

/** Label selector of the bootstrap Secrets this mesh's injector writes. */
export function bootstrapSecretSelector(mesh: MeshIdentity): string {
  return `app.kubernetes.io/name=${mesh.flavor.domain},app.kubernetes.io/instance=${mesh.meshName},${proxyUuidLabel(mesh)}`;
}

/** The two webhooks' paths on the HTTPS port. */
export const WEBHOOK_PATHS = { validate: '/validate', mutate: '/mutate-pod-creation' } as const;
export type WebhookName = keyof typeof WEBHOOK_PATHS;

/**
 * The name every cluster-scoped object of an install carries (both webhook configurations, the ClusterRole and its
 * binding): `mesh-admission-<mesh name>`, so that the installs of two meshes in one cluster never overwrite each other.
 * It sorts after FSM's own injector configuration (`fsm-webhook-<mesh>`) and before osm-edge's (`osm-webhook-<mesh>`);
 * the API server calls mutating webhooks in the order of their configurations' names.
 */
export const INSTALL_NAME_PREFIX = 'mesh-admission';

export function installName(mesh: MeshIdentity): string {
  return `${INSTALL_NAME_PREFIX}-${mesh.meshName}`;
}

/**
 * The label this server's injection adds to every pod it injects, valued with the mesh's name: what tells its pods
 * from pods another injector (the mesh's own) injected, so that it creates bootstrap Secrets for its own pods only.
 */
export const INJECTED_BY_LABEL = 'mesh-admission.io/mesh';

/** Label selector of the pods this server injected for this mesh (the bootstrap Secret creator's watch). */
export function injectedPodSelector(mesh: MeshIdentity): string {
  return `${proxyUuidLabel(mesh)},${INJECTED_BY_LABEL}=${mesh.meshName}`;
}

/**
 * How the mesh's own webhooks are named: the injector writes its MutatingWebhookConfiguration `<p>-webhook-<mesh>`
 * (the chart's default prefix) with one entry `<p>-inject.k8s.io` and the label `app: <p>-injector`; the controller
 * writes the ValidatingWebhookConfiguration `<p>-validator-mesh-<mesh>` with one entry `<p>-validator.k8s.io`.
 */
export function meshWebhookNames(mesh: MeshIdentity) {
  const p = mesh.flavor.prefix;
  return {
    injectorConfiguration: `${p}-webhook-${mesh.meshName}`,
    injectorWebhook: `${p}-inject.k8s.io`,
    injectorApp: `${p}-injector`,
    validatorConfiguration: `${p}-validator-mesh-${mesh.meshName}`,
    validatorWebhook: `${p}-validator.k8s.io`,
  };
}

/** Labels on this server's own objects (webhook configurations, RBAC, its TLS Secret); `kubectl get -l` finds them. */
export function serverLabels(mesh: MeshIdentity): Record<string, string> {
  return { 'app.kubernetes.io/name': 'mesh-admission', 'app.kubernetes.io/instance': mesh.meshName };
}

/** The Lease that elects the replica creating bootstrap Secrets. */
export function leaderLeaseName(mesh: MeshIdentity): string {
  return `${mesh.flavor.prefix}-admission-leader`;
}

/** The Secret holding the serving CA and leaf that all replicas share. */
export function servingSecretName(mesh: MeshIdentity): string {
  return `${mesh.flavor.prefix}-admission-tls`;
}

/** How the sidecar runs: a classic container, or a native sidecar (an init container with restartPolicy Always). */
export type SidecarMode = 'classic' | 'native';
/** What --sidecar-mode and the `<d>/sidecar-mode` annotation accept: a mode, or `auto` (native from Kubernetes 1.33). */
export type SidecarModeFlag = SidecarMode | 'auto';
export const SIDECAR_MODE_FLAGS: readonly SidecarModeFlag[] = ['auto', 'classic', 'native'];
