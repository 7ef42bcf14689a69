// The two admissionregistration.k8s.io/v1 objects that route the API server to this server (server.md §7), and the RBAC
// rules the server needs, both derived from the kind table (src/validator/kinds.ts) so that neither can drift from the
// kinds the validator actually understands. Pure: no I/O. Used by `npm run manifests` (manifests/webhooks.yaml,
// manifests/rbac.yaml), by `serve --register-webhooks URL`, and by the caBundle patcher.
//
// Choices worth knowing:
// - `validate.<d>` (the policy kinds, failurePolicy Fail) carries NO namespaceSelector. A namespaceSelector never applies
//   to cluster-scoped objects (Plugin, Cluster), and namespaced policies outside monitored namespaces still shape mesh
//   traffic (the MeshConfig lives in the mesh namespace itself; Egress/IngressBackend/... may sit in any namespace the
//   mesh reads). The rules only match the mesh's own CRDs, so nothing in kube-system can be blocked by it.
// - Rules are split per (group, scope): the cluster-scoped plurals get `scope: Cluster`, the others `scope: Namespaced`,
//   so the configuration states exactly what the table says.
// - `validate-services.<d>` (Services, warnings only) is `failurePolicy: Ignore` and limited to monitored namespaces by
//   the same selector as injection: a Service must never fail to be created because this server is down.
import { KINDS, type KindEntry } from '../validator/kinds.js';
import { ignoreLabel, monitoredByLabel, type MeshIdentity } from '../mesh/flavor.js';

export const WEBHOOK_CONFIGURATION_NAME = 'mesh-admission';
export const MUTATE_PATH = '/mutate-pod-creation';
export const VALIDATE_PATH = '/validate';
/** Injection timeout (the API server's maximum is 30). The server answers before it with its own deadline. */
export const INJECT_TIMEOUT_SECONDS = 10;
export const VALIDATE_TIMEOUT_SECONDS = 5;
/** Namespaces that must never depend on this server (their pods run the cluster, including the API server's path to us). */
export const SYSTEM_NAMESPACES: readonly string[] = ['kube-system', 'kube-public', 'kube-node-lease'];
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';
const ADMISSION_API_VERSION = 'admissionregistration.k8s.io/v1';
const ADMISSION_GROUP = 'admissionregistration.k8s.io';

// ---------------------------------------------------------------------------------------------------------------------
// Types (the subset of admissionregistration.k8s.io/v1 and rbac.authorization.k8s.io/v1 this module writes)

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT' | '*';

export interface RuleWithOperations {
  operations: Operation[];
  apiGroups: string[];
  apiVersions: string[];
  resources: string[];
  scope: 'Cluster' | 'Namespaced' | '*';
}

export interface ServiceReference {
  namespace: string;
  name: string;
  path: string;
  port: number;
}

export interface WebhookClientConfig {
  service?: ServiceReference;
  url?: string;
  caBundle?: string;
}

interface WebhookCommon {
  name: string;
  clientConfig: WebhookClientConfig;
  rules: RuleWithOperations[];
  namespaceSelector?: LabelSelector;
  failurePolicy: 'Fail' | 'Ignore';
  matchPolicy: 'Equivalent' | 'Exact';
  sideEffects: 'None' | 'NoneOnDryRun';
  timeoutSeconds: number;
  admissionReviewVersions: string[];
}

export interface MutatingWebhook extends WebhookCommon {
  reinvocationPolicy: 'Never' | 'IfNeeded';
}

export type ValidatingWebhook = WebhookCommon;

export interface ObjectMetaLite {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
}

export interface MutatingWebhookConfiguration {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: 'MutatingWebhookConfiguration';
  metadata: ObjectMetaLite;
  webhooks: MutatingWebhook[];
}

export interface ValidatingWebhookConfiguration {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: 'ValidatingWebhookConfiguration';
  metadata: ObjectMetaLite;
  webhooks: ValidatingWebhook[];
}

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

export interface ClusterRole {
  apiVersion: 'rbac.authorization.k8s.io/v1';
  kind: 'ClusterRole';
  metadata: ObjectMetaLite;
  rules: PolicyRule[];
}

export interface Role {
  apiVersion: 'rbac.authorization.k8s.io/v1';
  kind: 'Role';
  metadata: ObjectMetaLite & { namespace: string };
  rules: PolicyRule[];
}

// ---------------------------------------------------------------------------------------------------------------------
// Inputs

/**
 * Where the API server reaches the webhooks. `service`: an in-cluster Service (the path is set per webhook: /mutate-pod-creation
 * or /validate; port defaults to 443). `url`: the base URL of the server (e.g. `https://127.0.0.1:9443`, as given to
 * `--register-webhooks`); the webhook's path is appended to it.
 */
export type WebhookTarget = { service: { name: string; namespace: string; port?: number } } | { url: string };

export interface WebhookNames {
  /** metadata.name of the MutatingWebhookConfiguration */
  mutatingConfiguration: string;
  /** metadata.name of the ValidatingWebhookConfiguration */
  validatingConfiguration: string;
  /** the injection webhook entry, `inject.<d>` */
  inject: string;
  /** the policy validation webhook entry, `validate.<d>` */
  validate: string;
  /** the Service warnings webhook entry, `validate-services.<d>` */
  validateServices: string;
}

export interface WebhookConfigOptions {
  target: WebhookTarget;
  /** base64 of the PEM bundle of CAs that sign the serving certificate; omitted when not given (patched at start) */
  caBundle?: string;
  names?: Partial<WebhookNames>;
}

export function defaultWebhookNames(mesh: MeshIdentity): WebhookNames {
  const d = mesh.flavor.domain;
  return {
    mutatingConfiguration: WEBHOOK_CONFIGURATION_NAME,
    validatingConfiguration: WEBHOOK_CONFIGURATION_NAME,
    inject: `inject.${d}`,
    validate: `validate.${d}`,
    validateServices: `validate-services.${d}`,
  };
}

export function webhookNames(mesh: MeshIdentity, names?: Partial<WebhookNames>): WebhookNames {
  const out = { ...defaultWebhookNames(mesh) };
  for (const [k, v] of Object.entries(names ?? {}) as [keyof WebhookNames, string | undefined][]) if (v !== undefined) out[k] = v;
  return out;
}

/** Labels on both configurations (server.md §4); the caBundle patcher and `kubectl get -l` find them by these. */
export function webhookLabels(mesh: MeshIdentity): Record<string, string> {
  return { 'app.kubernetes.io/name': 'mesh-admission', 'app.kubernetes.io/instance': mesh.meshName };
}

/** The Secret holding the serving CA + leaf shared by all replicas (server.md §4). */
export function servingSecretName(mesh: MeshIdentity): string {
  return `${mesh.flavor.prefix}-admission-tls`;
}

/** PEM → the base64 form `clientConfig.caBundle` takes. */
export function encodeCaBundle(pem: string): string {
  return Buffer.from(pem, 'utf8').toString('base64');
}

// ---------------------------------------------------------------------------------------------------------------------
// Selectors and rules

/**
 * The namespaces of this mesh: labelled `<d>/monitored-by: <meshName>`, not a system namespace nor the mesh's own
 * namespace (by `kubernetes.io/metadata.name`, which the API server sets and nobody can strip), and without the
 * `<d>/ignore` label.
 */
export function meshNamespaceSelector(mesh: MeshIdentity): LabelSelector {
  const excluded = [...new Set([...SYSTEM_NAMESPACES, mesh.meshNamespace])];
  return {
    matchLabels: { [monitoredByLabel(mesh.flavor)]: mesh.meshName },
    matchExpressions: [
      { key: NAMESPACE_NAME_LABEL, operator: 'NotIn', values: excluded },
      { key: ignoreLabel(mesh.flavor), operator: 'DoesNotExist' },
    ],
  };
}

/** One (group, plural) of the kind table. */
export interface KindResource {
  readonly group: string;
  readonly resource: string;
  readonly kind: string;
  readonly scope: 'Namespaced' | 'Cluster';
  /** findings are warnings only (Services): validated by the fail-open webhook entry */
  readonly warningsOnly: boolean;
}

/**
 * Every (group, plural) the kind table knows, in table order (each kind under each group it is published in). The
 * live informers and the ClusterRole's read rules are derived from this list.
 */
export function kindResources(kinds: readonly KindEntry[] = KINDS): KindResource[] {
  return kinds.flatMap((k) =>
    k.groups.map((group) => ({ group, resource: k.plural, kind: k.kind, scope: k.scope, warningsOnly: k.warningsOnly === true })),
  );
}

/** Group resources into CREATE/UPDATE rules, one per (group, scope); groups, scopes and plurals in table order. */
function rulesFor(resources: readonly KindResource[]): RuleWithOperations[] {
  const byGroup = new Map<string, Map<KindResource['scope'], RuleWithOperations>>();
  for (const r of resources) {
    let scopes = byGroup.get(r.group);
    if (!scopes) byGroup.set(r.group, (scopes = new Map()));
    let rule = scopes.get(r.scope);
    if (!rule) {
      rule = { operations: ['CREATE', 'UPDATE'], apiGroups: [r.group], apiVersions: ['*'], resources: [], scope: r.scope };
      scopes.set(r.scope, rule);
    }
    if (!rule.resources.includes(r.resource)) rule.resources.push(r.resource);
  }
  return [...byGroup.values()].flatMap((scopes) => [...scopes.values()]);
}

/** Rules of `validate.<d>`: every kind that can be denied, under every group it is published in. */
export function policyRules(kinds: readonly KindEntry[] = KINDS): RuleWithOperations[] {
  return rulesFor(kindResources(kinds).filter((r) => !r.warningsOnly));
}

/** Rules of `validate-services.<d>`: the warnings-only kinds (core Services). */
export function warningRules(kinds: readonly KindEntry[] = KINDS): RuleWithOperations[] {
  return rulesFor(kindResources(kinds).filter((r) => r.warningsOnly));
}

function clientConfig(target: WebhookTarget, path: string, caBundle: string | undefined): WebhookClientConfig {
  const base: WebhookClientConfig =
    'url' in target
      ? { url: target.url.replace(/\/+$/, '') + path }
      : { service: { namespace: target.service.namespace, name: target.service.name, path, port: target.service.port ?? 443 } };
  return caBundle ? { ...base, caBundle } : base;
}

// ---------------------------------------------------------------------------------------------------------------------
// The two configurations

export function mutatingWebhookConfiguration(mesh: MeshIdentity, opts: WebhookConfigOptions): MutatingWebhookConfiguration {
  const n = webhookNames(mesh, opts.names);
  return {
    apiVersion: ADMISSION_API_VERSION,
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: n.mutatingConfiguration, labels: webhookLabels(mesh) },
    webhooks: [
      {
        name: n.inject,
        clientConfig: clientConfig(opts.target, MUTATE_PATH, opts.caBundle),
        rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
        namespaceSelector: meshNamespaceSelector(mesh),
        failurePolicy: 'Fail',
        matchPolicy: 'Equivalent',
        sideEffects: 'NoneOnDryRun',
        timeoutSeconds: INJECT_TIMEOUT_SECONDS,
        reinvocationPolicy: 'IfNeeded',
        admissionReviewVersions: ['v1', 'v1beta1'],
      },
    ],
  };
}

export function validatingWebhookConfiguration(
  mesh: MeshIdentity,
  opts: WebhookConfigOptions,
  kinds: readonly KindEntry[] = KINDS,
): ValidatingWebhookConfiguration {
  const n = webhookNames(mesh, opts.names);
  const cc = clientConfig(opts.target, VALIDATE_PATH, opts.caBundle);
  return {
    apiVersion: ADMISSION_API_VERSION,
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: n.validatingConfiguration, labels: webhookLabels(mesh) },
    webhooks: [
      {
        name: n.validate,
        clientConfig: cc,
        rules: policyRules(kinds),
        failurePolicy: 'Fail',
        matchPolicy: 'Equivalent',
        sideEffects: 'NoneOnDryRun',
        timeoutSeconds: VALIDATE_TIMEOUT_SECONDS,
        admissionReviewVersions: ['v1', 'v1beta1'],
      },
      {
        name: n.validateServices,
        clientConfig: structuredClone(cc),
        rules: warningRules(kinds),
        namespaceSelector: meshNamespaceSelector(mesh),
        failurePolicy: 'Ignore',
        matchPolicy: 'Equivalent',
        sideEffects: 'NoneOnDryRun',
        timeoutSeconds: VALIDATE_TIMEOUT_SECONDS,
        admissionReviewVersions: ['v1', 'v1beta1'],
      },
    ],
  };
}

export function webhookConfigurations(
  mesh: MeshIdentity,
  opts: WebhookConfigOptions,
): { mutating: MutatingWebhookConfiguration; validating: ValidatingWebhookConfiguration } {
  return { mutating: mutatingWebhookConfiguration(mesh, opts), validating: validatingWebhookConfiguration(mesh, opts) };
}

export interface JsonPatchOperation {
  op: 'add' | 'test';
  path: string;
  value: unknown;
}

/**
 * RFC 6902 patch setting `clientConfig.caBundle` on every webhook entry of a configuration as last read (each `add`
 * guarded by a `test` of the entry's name, so a concurrent reorder fails the patch instead of patching the wrong entry).
 * Empty when every entry already carries this bundle.
 */
export function caBundlePatch(
  config: { webhooks?: Array<{ name: string; clientConfig?: { caBundle?: string } }> },
  caBundle: string,
): JsonPatchOperation[] {
  const ops: JsonPatchOperation[] = [];
  (config.webhooks ?? []).forEach((w, i) => {
    if (w.clientConfig?.caBundle === caBundle) return;
    ops.push({ op: 'test', path: `/webhooks/${i}/name`, value: w.name });
    ops.push({ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: caBundle });
  });
  return ops;
}

// ---------------------------------------------------------------------------------------------------------------------
// RBAC

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
export function clusterRoleRules(mesh: MeshIdentity, names?: Partial<WebhookNames>, kinds: readonly KindEntry[] = KINDS): PolicyRule[] {
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
    metadata: { name, labels: webhookLabels(mesh) },
    rules: clusterRoleRules(mesh, names),
  };
}

export function meshNamespaceRole(mesh: MeshIdentity, name = 'mesh-admission'): Role {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name, namespace: mesh.meshNamespace, labels: webhookLabels(mesh) },
    rules: meshNamespaceRoleRules(mesh),
  };
}
