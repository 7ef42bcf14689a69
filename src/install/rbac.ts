// The RBAC the server needs, derived from the kind table (mesh/kinds.ts) so that the read rules follow the kinds the
// validator understands. Pure: no I/O. Used by `npm run manifests` (manifests/flavors/<flavor>/rbac.yaml).
import type { V1ClusterRole, V1ClusterRoleBinding, V1ObjectMeta, V1PolicyRule, V1Role } from '@kubernetes/client-node';
import type { MeshIdentity } from '../mesh/flavor.js';
import { KINDS, kindResources, type KindInfo } from '../mesh/kinds.js';
import { installName, leaderLeaseName, serverLabels, servingSecretName } from '../mesh/names.js';
import { webhookNames, type WebhookNames } from './webhook-config.js';

const ADMISSION_GROUP = 'admissionregistration.k8s.io';
const COORDINATION_GROUP = 'coordination.k8s.io';

export type PolicyRule = Omit<V1PolicyRule, 'apiGroups' | 'resources'> & { apiGroups: string[]; resources: string[] };
export type ClusterRole = Omit<V1ClusterRole, 'metadata' | 'rules'> & { metadata: V1ObjectMeta & { name: string }; rules: PolicyRule[] };
export type Role = Omit<V1Role, 'metadata' | 'rules'> & { metadata: V1ObjectMeta & { name: string; namespace: string }; rules: PolicyRule[] };
export type ClusterRoleBinding = Omit<V1ClusterRoleBinding, 'metadata'> & { metadata: V1ObjectMeta & { name: string } };

/** The ServiceAccount the server runs as, in the mesh namespace. */
export const SERVICE_ACCOUNT = 'mesh-admission';

/** What the cluster view does with every resource it caches: one list, then watches. */
const LIST_WATCH = ['list', 'watch'];

/**
 * The ClusterRole's rules: what the server does cluster-wide, verb by verb, and nothing else (a test compares them
 * with the requests the server makes against the fake API server). No wildcard anywhere.
 * - namespaces: list/watch (the view) and get (a namespace missing from the cache is fetched at admission);
 * - pods: list/watch, only those labelled `<p>-proxy-uuid` (the bootstrap Secret creator's watch);
 * - every (group, plural) of the kind table, and services: list/watch (the view; references are read from the cache
 *   or relisted, never fetched one by one);
 * - secrets: create only. A bootstrap Secret goes into the namespace of its pod, which can be any monitored
 *   namespace, so this cannot be a Role; the server never reads, lists, changes or deletes a Secret outside its own
 *   namespace (the Secret belongs to its pod, and Kubernetes deletes it with the pod);
 * - events: create (a Warning Event on a pod whose Secret cannot be created);
 * - resourcequotas: list/watch (a quota that refused a bootstrap Secret and is then lifted retries it at once);
 * - every mutating and validating webhook configuration: get, list, watch, read-only (the conflict watcher reports the
 *   other webhooks called for the mesh's pods and policies; the caBundle patcher gets and watches its own two);
 * - its own two webhook configurations, by resourceNames: patch (caBundle). No create/update/delete: the manifests
 *   create them; `--register-webhooks` runs with the user's own credentials.
 * - tokenreviews and subjectaccessreviews: create (the callers of /metrics and /audit: accessReviewRules).
 */
export function clusterRoleRules(mesh: MeshIdentity, names?: Partial<WebhookNames>, kinds: readonly KindInfo[] = KINDS): PolicyRule[] {
  const n = webhookNames(mesh, names);
  const reads = kindReadRules(kinds, LIST_WATCH);
  return [
    { apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: [''], resources: ['pods'], verbs: [...LIST_WATCH] },
    ...reads,
    { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
    { apiGroups: [''], resources: ['events'], verbs: ['create'] },
    { apiGroups: [''], resources: ['resourcequotas'], verbs: [...LIST_WATCH] },
    { apiGroups: [ADMISSION_GROUP], resources: ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations'], verbs: ['get', ...LIST_WATCH] },
    { apiGroups: [ADMISSION_GROUP], resources: ['mutatingwebhookconfigurations'], resourceNames: [n.mutatingConfiguration], verbs: ['patch'] },
    { apiGroups: [ADMISSION_GROUP], resources: ['validatingwebhookconfigurations'], resourceNames: [n.validatingConfiguration], verbs: ['patch'] },
    ...accessReviewRules(),
  ];
}

/**
 * Who may read /metrics and /audit is asked of the API server: `create` on tokenreviews (whose token is this) and
 * subjectaccessreviews (may that user get this path). Nothing is stored by either; creating one reveals only the
 * answer about the token or user in it.
 */
export function accessReviewRules(): PolicyRule[] {
  return [
    { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
    { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
  ];
}

/** One rule per API group of the kind table, for `verbs`. */
function kindReadRules(kinds: readonly KindInfo[], verbs: readonly string[]): PolicyRule[] {
  const byGroup = new Map<string, string[]>();
  for (const r of kindResources(kinds)) {
    const list = byGroup.get(r.group) ?? [];
    if (!list.includes(r.resource)) list.push(r.resource);
    byGroup.set(r.group, list);
  }
  return [...byGroup].map(([group, resources]) => ({ apiGroups: [group], resources, verbs: [...verbs] }));
}

/**
 * What the read-only commands (`audit`, `validate --kubeconfig`, `explain --kubeconfig`) need: list on Namespaces,
 * Pods, every (group, plural) of the kind table (Services among them) and the webhook configurations. Plain lists: no watch, no get of single
 * objects, nothing that writes. Discovery and /version are allowed to every authenticated user by Kubernetes' own
 * system:discovery role.
 */
export function auditClusterRoleRules(kinds: readonly KindInfo[] = KINDS): PolicyRule[] {
  return [
    { apiGroups: [''], resources: ['namespaces', 'pods'], verbs: ['list'] },
    ...kindReadRules(kinds, ['list']),
    // the other webhooks called for the mesh's pods and policies (webhook-conflict findings)
    { apiGroups: [ADMISSION_GROUP], resources: ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations'], verbs: ['list'] },
  ];
}

/**
 * The optional extra for the audit's bootstrap Secret check: list Secrets. The audit asks for metadata only, but RBAC
 * cannot grant "metadata only": whoever holds this can read every Secret's content. Without it the check is skipped
 * (and the report says so).
 */
export function auditSecretsRule(): PolicyRule {
  return { apiGroups: [''], resources: ['secrets'], verbs: ['list'] };
}

/** The audit's roles serve any mesh: labelled with the tool's name only. */
const AUDIT_LABELS = { 'app.kubernetes.io/name': 'mesh-admission' };

export function auditClusterRoles(): ClusterRole[] {
  const role = (name: string, rules: PolicyRule[]): ClusterRole => ({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name, labels: { ...AUDIT_LABELS } }, rules });
  return [role('mesh-admission-audit', auditClusterRoleRules()), role('mesh-admission-audit-secrets', [auditSecretsRule()])];
}

/**
 * The Role in the mesh namespace, by resourceNames wherever Kubernetes allows:
 * - the serving certificate Secret `<p>-admission-tls`, shared by the replicas: get and update (renewal); its first
 *   creation is covered by the cluster-wide create;
 * - the mesh CA Secret `<p>-ca-bundle`: get (created once, if absent, through the same create; never changed);
 * - the Lease that elects the replica creating bootstrap Secrets: get and update, and create, which RBAC can never
 *   restrict by name (the name is not known at authorization time).
 */
export function meshNamespaceRoleRules(mesh: MeshIdentity): PolicyRule[] {
  return [
    { apiGroups: [''], resources: ['secrets'], resourceNames: [servingSecretName(mesh)], verbs: ['get', 'update'] },
    { apiGroups: [''], resources: ['secrets'], resourceNames: [mesh.flavor.caBundleSecret], verbs: ['get'] },
    { apiGroups: [COORDINATION_GROUP], resources: ['leases'], resourceNames: [leaderLeaseName(mesh)], verbs: ['get', 'update'] },
    { apiGroups: [COORDINATION_GROUP], resources: ['leases'], verbs: ['create'] },
  ];
}

/** The ClusterRole of the install: `mesh-admission-<mesh>`, so that two meshes' installs keep theirs apart. */
export function clusterRole(mesh: MeshIdentity, name = installName(mesh), names?: Partial<WebhookNames>): ClusterRole {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name, labels: serverLabels(mesh) },
    rules: clusterRoleRules(mesh, names),
  };
}

/** Binds the install's ClusterRole to its ServiceAccount; named like the ClusterRole (`mesh-admission-<mesh>`). */
export function clusterRoleBinding(mesh: MeshIdentity, name = installName(mesh)): ClusterRoleBinding {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name, labels: serverLabels(mesh) },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
    subjects: [{ kind: 'ServiceAccount', name: SERVICE_ACCOUNT, namespace: mesh.meshNamespace }],
  };
}

export function meshNamespaceRole(mesh: MeshIdentity, name = 'mesh-admission'): Role {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name, namespace: mesh.meshNamespace, labels: serverLabels(mesh) },
    rules: meshNamespaceRoleRules(mesh),
  };
}

/** The paths a scraper reads: what the metrics-reader ClusterRole grants `get` on. */
export const METRICS_PATHS = ['/metrics', '/audit'] as const;

/** A ClusterRole of non-resource rules only (RBAC allows no apiGroups/resources beside nonResourceURLs). */
export type NonResourceClusterRole = Omit<V1ClusterRole, 'metadata' | 'rules'> & { metadata: V1ObjectMeta & { name: string }; rules: Array<{ nonResourceURLs: string[]; verbs: string[] }> };

/**
 * `mesh-admission-<mesh>-metrics-reader`, for scrapers (bind it to Prometheus's ServiceAccount): `get` on the
 * non-resource URLs /metrics and /audit. Named and labelled per mesh like every cluster-scoped object of the install,
 * so that two meshes' installs never share (or rewrite) one. A non-resource URL is not tied to one server: the same
 * grant lets its holder read /metrics of every component that checks its callers this way (the API server's own
 * included), as controller-runtime's metrics-reader role does.
 */
export function metricsReaderClusterRole(mesh: MeshIdentity): NonResourceClusterRole {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: `${installName(mesh)}-metrics-reader`, labels: serverLabels(mesh) },
    rules: [{ nonResourceURLs: [...METRICS_PATHS], verbs: ['get'] }],
  };
}
