// Which other webhooks the API server calls alongside this server's, read from the cluster's webhook configurations:
// another mutating webhook called for pod CREATE in the mesh's namespaces (above all the mesh's own injector: two
// injectors make a pod the API server refuses, or one with two sidecars), and another validator of the kind table's
// kinds (an object must then satisfy both). Pure: the configurations and the namespaces come in, the conflicts go out.
// The server's conflict watcher, its injection webhook (to step aside for the mesh's injector) and the audit use it.
//
// What the API server does, and what this follows: mutating webhooks are called one configuration after the other,
// in the order of the configurations' names, then the validating ones (in parallel); a webhook is called for a pod
// when one of its rules matches CREATE of `pods` (scope Namespaced or `*`) and its namespaceSelector matches the pod's
// namespace's labels. An objectSelector or matchConditions may narrow that further; they cannot be judged without the
// pod, so such a webhook counts as one that may be called. Generic policy engines, whose rules match every resource
// (`*`) rather than pods or the mesh's groups by name, are not counted: they do not inject or validate the mesh's
// objects as such. Nor is another mesh's install of this server, and a validator whose namespaceSelector keeps it out of
// the mesh's namespaces counts for the cluster-scoped kinds only.
import type { MeshIdentity } from './flavor.js';
import { selectorMatches } from './label-selector.js';
import { isMonitoredNamespace, isUnmeshedNamespace, meshWebhookNames } from './names.js';
import { kindResources } from './kinds.js';
import { isRecord, type KubeObject } from './objects.js';

export type ConfigurationKind = 'MutatingWebhookConfiguration' | 'ValidatingWebhookConfiguration';

/** This server's own configurations (never a conflict) and the Service the install reaches it through. */
export interface OwnWebhooks {
  readonly mutating: string;
  readonly validating: string;
  /** a configuration of another name pointing at this Service is a leftover of an earlier install */
  readonly service?: { readonly name: string; readonly namespace: string };
}

/**
 * - mesh-injector: the mesh's own sidecar injector (by its names: see meshWebhookNames);
 * - leftover: a configuration of another name that points at this server's own Service (pods are then mutated twice
 *   by this server, policies validated twice);
 * - pod-mutator: any other webhook that mutates pods created in the mesh's namespaces;
 * - validator: another validator of the kind table's kinds (the mesh's own, or a third party's).
 */
export type ConflictKind = 'mesh-injector' | 'leftover' | 'pod-mutator' | 'validator';

export interface WebhookConflict {
  readonly configurationKind: ConfigurationKind;
  readonly configuration: string;
  /** the webhook entry's name and index in the configuration */
  readonly webhook: string;
  readonly index: number;
  readonly kind: ConflictKind;
  /** error: pods cannot be injected right (two injectors); warning: it works, but not only as this server decides */
  readonly severity: 'error' | 'warning';
  /** mutating webhooks: called before this server's injection webhook (its configuration's name sorts first) */
  readonly calledBefore?: boolean;
  /** the mesh's namespaces it is called for (mutating webhooks), sorted */
  readonly namespaces: readonly string[];
  /** the kind table's kinds it validates (validators), in table order */
  readonly kinds: readonly string[];
  /** what it does and what to do about it, one line */
  readonly message: string;
}

/** A mutating webhook called for pod CREATE in one namespace. */
export interface PodMutator {
  readonly configuration: string;
  readonly webhook: string;
  readonly index: number;
  /** the mesh's own injector */
  readonly meshInjector: boolean;
  /** points at this server's own Service under another name */
  readonly leftover: boolean;
  /** called before this server's injection webhook */
  readonly calledBefore: boolean;
  /** failurePolicy Fail (the API default): an error from it refuses the pod */
  readonly failClosed: boolean;
}

export interface WebhookConfigurations {
  readonly mutating: readonly KubeObject[];
  readonly validating: readonly KubeObject[];
}

const README_SECTION = 'README: "Replacing the mesh\'s own webhooks"';

const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const strings = (v: unknown): string[] => list(v).filter((x): x is string => typeof x === 'string');
const nameOf = (o: KubeObject): string => (typeof o.metadata?.name === 'string' ? o.metadata.name : '');

interface Entry {
  readonly configuration: KubeObject;
  readonly webhook: Record<string, unknown>;
  readonly name: string;
  readonly index: number;
}

function entries(configurations: readonly KubeObject[], own: string): Entry[] {
  return [...configurations]
    .filter((c) => nameOf(c) !== '' && nameOf(c) !== own)
    .sort((a, b) => (nameOf(a) < nameOf(b) ? -1 : nameOf(a) > nameOf(b) ? 1 : 0))
    .flatMap((configuration) =>
      list(configuration.webhooks).flatMap((w, index) => (isRecord(w) ? [{ configuration, webhook: w, name: typeof w.name === 'string' ? w.name : `#${index}`, index }] : [])),
    );
}

/**
 * Another mesh's install of this server (labelled as serverLabels labels it, for another mesh): it validates with its own
 * mesh's view, as this one does, and its injection selects its own mesh's namespaces. Not a conflict.
 */
function otherInstall(mesh: MeshIdentity, configuration: KubeObject): boolean {
  const labels = isRecord(configuration.metadata?.labels) ? configuration.metadata.labels : {};
  return labels['app.kubernetes.io/name'] === 'mesh-admission' && labels['app.kubernetes.io/instance'] !== mesh.meshName;
}

/**
 * A rule matches one of the operations on (group, resource) in this scope. `named`: the group (mutating: the resource)
 * must be named in the rule, not only reached through `*`.
 */
function ruleMatches(rule: unknown, operations: readonly string[], group: string, resource: string, scope: 'Namespaced' | 'Cluster', named: 'group' | 'resource'): boolean {
  if (!isRecord(rule)) return false;
  const ops = strings(rule.operations);
  const groups = strings(rule.apiGroups);
  const resources = strings(rule.resources);
  const ruleScope = typeof rule.scope === 'string' ? rule.scope : '*';
  const groupOk = named === 'group' ? groups.includes(group) : groups.includes(group) || groups.includes('*');
  const resourceOk = named === 'resource' ? resources.includes(resource) : resources.includes(resource) || resources.includes('*');
  return (ops.includes('*') || operations.some((o) => ops.includes(o))) && groupOk && resourceOk && (ruleScope === '*' || ruleScope === scope);
}

function failClosed(w: Record<string, unknown>): boolean {
  return w.failurePolicy !== 'Ignore';
}

function pointsAt(w: Record<string, unknown>, service: OwnWebhooks['service']): boolean {
  if (!service) return false;
  const cc = isRecord(w.clientConfig) ? w.clientConfig : {};
  const svc = isRecord(cc.service) ? cc.service : undefined;
  return svc?.name === service.name && svc?.namespace === service.namespace;
}

function isMeshInjector(mesh: MeshIdentity, e: Entry): boolean {
  const n = meshWebhookNames(mesh);
  const labels = isRecord(e.configuration.metadata?.labels) ? e.configuration.metadata.labels : {};
  return e.name === n.injectorWebhook || nameOf(e.configuration) === n.injectorConfiguration || labels.app === n.injectorApp;
}

/** The mutating webhooks (other than this server's) the API server calls for a pod created in a namespace with these labels. */
export function podMutatorsFor(mesh: MeshIdentity, own: OwnWebhooks, mutating: readonly KubeObject[], namespaceLabels: Readonly<Record<string, unknown>> | undefined): PodMutator[] {
  return entries(mutating, own.mutating)
    .filter((e) => !otherInstall(mesh, e.configuration) && list(e.webhook.rules).some((r) => ruleMatches(r, ['CREATE'], '', 'pods', 'Namespaced', 'resource')) && selectorMatches(e.webhook.namespaceSelector, namespaceLabels))
    .map((e) => ({
      configuration: nameOf(e.configuration),
      webhook: e.name,
      index: e.index,
      meshInjector: isMeshInjector(mesh, e),
      leftover: pointsAt(e.webhook, own.service),
      calledBefore: nameOf(e.configuration) < own.mutating,
      failClosed: failClosed(e.webhook),
    }));
}

/** The namespaces this mesh injects into: monitored by it, not ignored, not a system or the mesh's own namespace. */
export function meshNamespaceObjects(mesh: MeshIdentity, namespaces: readonly KubeObject[]): KubeObject[] {
  return namespaces.filter((ns) => {
    const name = nameOf(ns);
    const labels = isRecord(ns.metadata?.labels) ? ns.metadata.labels : undefined;
    return name !== '' && !isUnmeshedNamespace(mesh, name) && isMonitoredNamespace(mesh, labels);
  });
}

const shortList = (items: readonly string[], max = 3): string => (items.length <= max ? items.join(', ') : `${items.slice(0, max).join(', ')} and ${items.length - max} more`);

function mutatorMessage(mesh: MeshIdentity, m: PodMutator, namespaces: readonly string[], own: string): string {
  const where = `pod CREATE in ${shortList(namespaces)}`;
  const order = m.calledBefore ? `before ${own}` : `after ${own}`;
  if (m.leftover) return `points at this server's own Service under another name (a configuration left by an earlier install?) and is called for ${where}: delete it`;
  if (m.meshInjector) {
    const outcome = m.calledBefore
      ? 'pods are injected by it, and this server adds nothing to them'
      : m.failClosed
        ? 'it would refuse pods this server injected, so this server leaves them to it'
        : 'its failurePolicy is Ignore, so it cannot refuse the pods this server injects, but it may inject them again';
    return `the mesh's own sidecar injector, called ${order} for ${where}: ${outcome}; run one injector per mesh: scale ${mesh.flavor.prefix}-injector to zero and delete this configuration (${README_SECTION})`;
  }
  const seen = m.calledBefore ? 'the injector sees what it adds' : 'what it adds is not seen by the injector (no probe rewrite or port exclusion for it)';
  return `also mutates pods (${where}), called ${order}: ${seen}; check that its changes work with the sidecar`;
}

function validatorMessage(mesh: MeshIdentity, e: Entry, kinds: readonly string[]): string {
  const n = meshWebhookNames(mesh);
  const own = e.name === n.validatorWebhook || nameOf(e.configuration) === n.validatorConfiguration;
  const what = `also validates ${shortList(kinds, 4)}: an object must satisfy both validators`;
  return own
    ? `${what}; it is the mesh's own validator, which its controller re-creates when it starts: delete it after each restart of ${mesh.flavor.prefix}-controller (${README_SECTION})`
    : `${what}; remove it unless its checks are wanted in addition to this server's`;
}

/**
 * Every other webhook that conflicts with this server's: mutating webhooks called for pod CREATE in at least one of
 * the mesh's namespaces as they are labelled now (only while this server's own injection webhook exists), and
 * validators of the kind table's kinds (the cluster-scoped ones whatever their namespaceSelector, the namespaced ones
 * when it reaches the mesh's namespaces or its control-plane namespace). Sorted by configuration kind, name and entry.
 */
export function webhookConflicts(mesh: MeshIdentity, own: OwnWebhooks, configurations: WebhookConfigurations, namespaces: readonly KubeObject[]): WebhookConflict[] {
  const out: WebhookConflict[] = [];
  const meshed = meshNamespaceObjects(mesh, namespaces);
  const byEntry = new Map<string, { m: PodMutator; namespaces: string[] }>();
  // without this server's injection webhook (an install that only validates) no other injector conflicts with it
  const injecting = configurations.mutating.some((c) => nameOf(c) === own.mutating);
  for (const ns of injecting ? meshed : []) {
    const labels = isRecord(ns.metadata?.labels) ? ns.metadata.labels : undefined;
    for (const m of podMutatorsFor(mesh, own, configurations.mutating, labels)) {
      const key = `${m.configuration}\u0000${m.index}`;
      const found = byEntry.get(key) ?? { m, namespaces: [] };
      found.namespaces.push(nameOf(ns));
      byEntry.set(key, found);
    }
  }
  for (const { m, namespaces: nss } of byEntry.values()) {
    const sorted = [...nss].sort();
    out.push({
      configurationKind: 'MutatingWebhookConfiguration',
      configuration: m.configuration,
      webhook: m.webhook,
      index: m.index,
      kind: m.leftover ? 'leftover' : m.meshInjector ? 'mesh-injector' : 'pod-mutator',
      severity: m.leftover || m.meshInjector ? 'error' : 'warning',
      calledBefore: m.calledBefore,
      namespaces: sorted,
      kinds: [],
      message: mutatorMessage(mesh, m, sorted, own.mutating),
    });
  }
  const validated = kindResources().filter((r) => !r.warningsOnly);
  // where the mesh's namespaced policies live: its namespaces and its own (the MeshConfig)
  const home = [...meshed, ...namespaces.filter((n) => nameOf(n) === mesh.meshNamespace)];
  for (const e of entries(configurations.validating, own.validating)) {
    if (otherInstall(mesh, e.configuration)) continue;
    const rules = list(e.webhook.rules);
    // a namespaceSelector never applies to cluster-scoped objects (Plugin, Cluster)
    const reaches = (r: { scope: string }): boolean => r.scope === 'Cluster' || home.some((n) => selectorMatches(e.webhook.namespaceSelector, isRecord(n.metadata?.labels) ? n.metadata.labels : undefined));
    const kinds = [...new Set(validated.filter((r) => reaches(r) && rules.some((rule) => ruleMatches(rule, ['CREATE', 'UPDATE'], r.group, r.resource, r.scope, 'group'))).map((r) => r.kind))];
    if (kinds.length === 0) continue;
    const leftover = pointsAt(e.webhook, own.service);
    out.push({
      configurationKind: 'ValidatingWebhookConfiguration',
      configuration: nameOf(e.configuration),
      webhook: e.name,
      index: e.index,
      kind: leftover ? 'leftover' : 'validator',
      severity: leftover ? 'error' : 'warning',
      namespaces: [],
      kinds,
      message: leftover ? `points at this server's own Service under another name (a configuration left by an earlier install?) and validates ${shortList(kinds, 4)} a second time: delete it` : validatorMessage(mesh, e, kinds),
    });
  }
  return out.sort((a, b) => (a.configurationKind < b.configurationKind ? -1 : a.configurationKind > b.configurationKind ? 1 : a.configuration < b.configuration ? -1 : a.configuration > b.configuration ? 1 : a.index - b.index));
}

/** One line per conflict, for logs and /readyz: `<Kind> <name> (<webhook>): <message>`. */
export function conflictLine(c: WebhookConflict): string {
  return `${c.configurationKind} ${c.configuration} (${c.webhook}): ${c.message}`;
}
