// The RBAC the server needs, derived from the kind table (mesh/kinds.ts) so that the read rules follow the kinds the
// validator understands. Pure: no I/O. Used by `npm run manifests` (manifests/rbac.yaml).
import type { V1ClusterRole, V1ObjectMeta, V1PolicyRule, V1Role } from '@kubernetes/client-node';
import type { MeshIdentity } from '../mesh/flavor.js';
import { KINDS, kindResources, type KindInfo } from '../mesh/kinds.js';
import { serverLabels, servingSecretName } from '../mesh/names.js';
import { webhookNames, type WebhookNames } from './webhook-config.js';

const ADMISSION_GROUP = 'admissionregistration.k8s.io';

export type PolicyRule = Omit<V1PolicyRule, 'apiGroups' | 'resources'> & { apiGroups: string[]; resources: string[] };
export type ClusterRole = Omit<V1ClusterRole, 'metadata' | 'rules'> & { metadata: V1ObjectMeta & { name: string }; rules: PolicyRule[] };
export type Role = Omit<V1Role, 'metadata' | 'rules'> & { metadata: V1ObjectMeta & { name: string; namespace: string }; rules: PolicyRule[] };

const READ = ['get', 'list', 'watch'];

/**
 * The ClusterRole's rules, with no wildcard anywhere:
 * - get/list/watch on namespaces, pods (a bootstrap Secret's ownerReference needs its pod; orphan clean-up checks the
 *   pod still exists) and every (group, plural) of the kind table, one rule per group;
 * - secrets cluster-wide: create (a bootstrap Secret goes into the namespace of the pod being injected, which can be
 *   any monitored namespace), get/list/watch/patch/delete (re-injection and orphan clean-up). RBAC cannot narrow by
 *   label, and the set of namespaces is dynamic, so this cannot be a Role;
 * - the two webhook configurations by resourceNames: get, patch and update (caBundle patching) and list/watch, which
 *   the API server authorizes against resourceNames only when the request carries `fieldSelector=metadata.name=<name>`
 *   — so the informer on each configuration must list/watch with that field selector. No create/delete: the
 *   manifests create them; `--register-webhooks` runs with the user's own credentials.
 */
export function clusterRoleRules(mesh: MeshIdentity, names?: Partial<WebhookNames>, kinds: readonly KindInfo[] = KINDS): PolicyRule[] {
  const n = webhookNames(mesh, names);
  const byGroup = new Map<string, string[]>([['', ['namespaces', 'pods']]]);
  for (const r of kindResources(kinds)) {
    const list = byGroup.get(r.group) ?? [];
    if (!list.includes(r.resource)) list.push(r.resource);
    byGroup.set(r.group, list);
  }
  const reads: PolicyRule[] = [...byGroup].map(([group, resources]) => ({ apiGroups: [group], resources, verbs: [...READ] }));
  return [
    ...reads,
    { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'] },
    { apiGroups: [ADMISSION_GROUP], resources: ['mutatingwebhookconfigurations'], resourceNames: [n.mutatingConfiguration], verbs: ['get', 'list', 'watch', 'patch', 'update'] },
    { apiGroups: [ADMISSION_GROUP], resources: ['validatingwebhookconfigurations'], resourceNames: [n.validatingConfiguration], verbs: ['get', 'list', 'watch', 'patch', 'update'] },
  ];
}

/**
 * The Role in the mesh namespace: the server's own TLS Secret `<p>-admission-tls` and the mesh CA Secret `<p>-ca-bundle`
 * (get/update/patch by name), and create — which RBAC can never restrict by name (the name is not known at
 * authorization time), so it is granted in this namespace only. Replicas racing to create either Secret converge:
 * create, and on conflict read.
 */
export function meshNamespaceRoleRules(mesh: MeshIdentity): PolicyRule[] {
  return [
    { apiGroups: [''], resources: ['secrets'], resourceNames: [servingSecretName(mesh), mesh.flavor.caBundleSecret], verbs: ['get', 'update', 'patch'] },
    { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
  ];
}

export function clusterRole(mesh: MeshIdentity, name = 'mesh-admission', names?: Partial<WebhookNames>): ClusterRole {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name, labels: serverLabels(mesh) },
    rules: clusterRoleRules(mesh, names),
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
