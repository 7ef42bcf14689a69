// The kind table: every kind the validating webhook understands, the API groups it has been published under and its
// scope. Data only: the validator registers a check per kind (validator/registry.ts); the webhook rules, the RBAC
// rules and the live view's informers are generated from this same table, so none of them can drift apart.
import { splitApiVersion, type GroupVersionKind, type KubeObject } from './objects.js';

export type Scope = 'Namespaced' | 'Cluster';

export interface KindInfo {
  readonly kind: string;
  readonly plural: string;
  readonly groups: readonly string[];
  readonly scope: Scope;
  /** never denied: findings are returned as warnings (Services) */
  readonly warningsOnly?: boolean;
  /**
   * other objects refer to it by name: its DELETE (and UPDATE) is answered with warnings naming who still refers to
   * it (never a denial; DELETE goes to a fail-open webhook entry)
   */
  readonly referenced?: boolean;
}

const PLUGIN = ['plugin.flomesh.io'] as const;
const POLICY = ['policy.flomesh.io', 'policy.openservicemesh.io'] as const;
const MULTICLUSTER = ['multicluster.flomesh.io', 'flomesh.io'] as const;
const CONFIG = ['config.flomesh.io', 'config.openservicemesh.io'] as const;

export const KINDS: readonly KindInfo[] = [
  { kind: 'Plugin', plural: 'plugins', groups: PLUGIN, scope: 'Cluster', referenced: true },
  { kind: 'PluginChain', plural: 'pluginchains', groups: PLUGIN, scope: 'Namespaced' },
  { kind: 'PluginConfig', plural: 'pluginconfigs', groups: PLUGIN, scope: 'Namespaced' },
  { kind: 'Egress', plural: 'egresses', groups: POLICY, scope: 'Namespaced' },
  { kind: 'IngressBackend', plural: 'ingressbackends', groups: POLICY, scope: 'Namespaced' },
  { kind: 'AccessControl', plural: 'accesscontrols', groups: POLICY, scope: 'Namespaced' },
  { kind: 'UpstreamTrafficSetting', plural: 'upstreamtrafficsettings', groups: POLICY, scope: 'Namespaced' },
  { kind: 'EgressGateway', plural: 'egressgateways', groups: POLICY, scope: 'Namespaced' },
  { kind: 'Retry', plural: 'retries', groups: POLICY, scope: 'Namespaced' },
  { kind: 'GlobalTrafficPolicy', plural: 'globaltrafficpolicies', groups: MULTICLUSTER, scope: 'Namespaced' },
  { kind: 'ServiceExport', plural: 'serviceexports', groups: MULTICLUSTER, scope: 'Namespaced' },
  { kind: 'ServiceImport', plural: 'serviceimports', groups: MULTICLUSTER, scope: 'Namespaced', referenced: true },
  { kind: 'Cluster', plural: 'clusters', groups: MULTICLUSTER, scope: 'Cluster', referenced: true },
  { kind: 'TrafficTarget', plural: 'traffictargets', groups: ['access.smi-spec.io'], scope: 'Namespaced' },
  { kind: 'HTTPRouteGroup', plural: 'httproutegroups', groups: ['specs.smi-spec.io'], scope: 'Namespaced', referenced: true },
  { kind: 'TCPRoute', plural: 'tcproutes', groups: ['specs.smi-spec.io'], scope: 'Namespaced', referenced: true },
  { kind: 'TrafficSplit', plural: 'trafficsplits', groups: ['split.smi-spec.io'], scope: 'Namespaced' },
  { kind: 'MeshConfig', plural: 'meshconfigs', groups: CONFIG, scope: 'Namespaced' },
  { kind: 'Service', plural: 'services', groups: [''], scope: 'Namespaced', warningsOnly: true, referenced: true },
];

const BY_GROUP_KIND = new Map<string, KindInfo>(KINDS.flatMap((k) => k.groups.map((g) => [`${g}/${k.kind}`, k] as const)));

export function findKind(group: string, kind: string): KindInfo | undefined {
  return BY_GROUP_KIND.get(`${group}/${kind}`);
}

/** One (group, plural) of the kind table. */
export interface KindResource {
  readonly group: string;
  readonly resource: string;
  readonly kind: string;
  readonly scope: Scope;
  /** findings are warnings only (Services): validated by the fail-open webhook entry */
  readonly warningsOnly: boolean;
  /** its DELETE is sent to the webhook for reference warnings */
  readonly referenced: boolean;
}

/** Every (group, plural) the table knows, in table order (each kind under each group it is published in). */
export function kindResources(kinds: readonly KindInfo[] = KINDS): KindResource[] {
  return kinds.flatMap((k) => k.groups.map((group) => ({ group, resource: k.plural, kind: k.kind, scope: k.scope, warningsOnly: k.warningsOnly === true, referenced: k.referenced === true })));
}

/** Built-in kinds without a namespace, for objects of kinds outside the table (a manifest folder holds anything). */
const CLUSTER_SCOPED_BUILTINS = new Set([
  'Namespace',
  'Node',
  'PersistentVolume',
  'StorageClass',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'MutatingWebhookConfiguration',
  'ValidatingWebhookConfiguration',
  'PriorityClass',
  'IngressClass',
  'APIService',
]);

export function scopeOf(gvk: Pick<GroupVersionKind, 'group' | 'kind'>): Scope {
  const entry = findKind(gvk.group, gvk.kind);
  if (entry) return entry.scope;
  return CLUSTER_SCOPED_BUILTINS.has(gvk.kind) ? 'Cluster' : 'Namespaced';
}

/** kubectl's namespace for a namespaced object that names none. */
export const DEFAULT_NAMESPACE = 'default';

export interface ObjectIdentity {
  readonly kind: string;
  readonly group: string;
  /** '' for cluster-scoped kinds */
  readonly namespace: string;
  /** metadata.name, else the request's name ('' when the API server is still to generate it) */
  readonly name: string;
  /** the name for messages: the name, else generateName */
  readonly label: string;
}

/**
 * Where an object lives, decided once for the webhook, the CLI and the tests: a cluster-scoped kind has no namespace
 * (whatever the manifest says); a namespaced one takes its own, else the request's (the API server may leave
 * metadata.namespace out), else kubectl's `default`.
 */
export function identify(obj: KubeObject, gvk: Pick<GroupVersionKind, 'group' | 'kind'>, request: { namespace?: string; name?: string } = {}): ObjectIdentity {
  const meta = obj.metadata;
  const namespace = scopeOf(gvk) === 'Cluster' ? '' : meta?.namespace || request.namespace || DEFAULT_NAMESPACE;
  const name = meta?.name || request.name || '';
  return { kind: gvk.kind, group: gvk.group, namespace, name, label: name || meta?.generateName || '' };
}

/**
 * The object as stored in a view and shown to the rules: metadata.namespace and metadata.name set from its identity
 * (a copy; the input is not changed).
 */
export function placed(obj: KubeObject, id: ObjectIdentity): KubeObject {
  const meta = obj.metadata && typeof obj.metadata === 'object' ? obj.metadata : {};
  if ((meta.namespace ?? '') === id.namespace && (meta.name ?? '') === id.name) return obj;
  const metadata = { ...meta };
  if (id.name) metadata.name = id.name;
  if (id.namespace) metadata.namespace = id.namespace;
  else delete metadata.namespace;
  return { ...obj, metadata };
}

/** The identity of an object from its own apiVersion and kind (manifests). */
export function identifyManifest(obj: KubeObject): ObjectIdentity {
  const { group } = splitApiVersion(obj.apiVersion);
  return identify(obj, { group, kind: typeof obj.kind === 'string' ? obj.kind : '' });
}

/** A manifest as `kubectl apply` would store it: placed in its namespace (or none, for cluster-scoped kinds). */
export function placeManifest(obj: KubeObject): KubeObject {
  return placed(obj, identifyManifest(obj));
}
