// The offline form of the validating webhook: the same rules over a set of manifests, the given objects counted as
// present in the cluster alongside --cluster-state.
import { MemoryView } from '../cluster/memory.js';
import { loadManifests, type LoadedObject } from '../cluster/manifests.js';
import type { MeshIdentity } from '../mesh/flavor.js';
import { gvkOf, isRecord } from '../mesh/objects.js';
import { ValidationContext } from '../validator/context.js';
import type { FieldError } from '../validator/findings.js';
import { findKind } from '../validator/kinds.js';
import { validateObject } from '../validator/validate.js';

export interface OfflineResult {
  readonly source: string;
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  /** false: not a kind the webhook validates (it would be admitted with a warning) */
  readonly known: boolean;
  readonly allowed: boolean;
  readonly warnings: readonly string[];
  readonly causes: readonly FieldError[];
}

/** kubectl's default namespace for namespaced objects without one. */
const DEFAULT_NAMESPACE = 'default';

export function withDefaultNamespace(l: LoadedObject): LoadedObject {
  const gvk = gvkOf(l.object);
  const entry = findKind(gvk.group, gvk.kind);
  const clusterScoped = entry ? entry.scope === 'Cluster' : ['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'Node', 'PersistentVolume', 'StorageClass', 'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'].includes(gvk.kind);
  if (clusterScoped || l.object.metadata?.namespace) return l;
  return { ...l, object: { ...l.object, metadata: { ...(isRecord(l.object.metadata) ? l.object.metadata : {}), namespace: DEFAULT_NAMESPACE } } };
}

export function validateOffline(files: readonly string[], mesh: MeshIdentity, stateDir?: string): OfflineResult[] {
  const state = stateDir ? loadManifests([stateDir]).map(withDefaultNamespace) : [];
  const given = loadManifests(files).map(withDefaultNamespace);
  // The given objects replace state objects of the same kind, namespace and name (they are the newer version).
  const view = new MemoryView([...state, ...given].map((l) => l.object));
  return given.map(({ object, source }) => {
    const gvk = gvkOf(object);
    const namespace = object.metadata?.namespace ?? '';
    const name = object.metadata?.name ?? object.metadata?.generateName ?? '';
    const ctx = new ValidationContext(mesh, view, { kind: gvk.kind, namespace, name }, 'CREATE');
    const v = validateObject(object, gvk, ctx);
    return { source, apiVersion: object.apiVersion ?? '', kind: gvk.kind, namespace, name, known: v.known, allowed: v.allowed, warnings: v.warnings, causes: v.errors };
  });
}

/** `<kind>.<group>/<name>`, the way kubectl names objects in its output. */
function resourceName(r: OfflineResult): string {
  const { group } = gvkOf({ apiVersion: r.apiVersion, kind: r.kind });
  const kind = (r.kind || 'object').toLowerCase();
  return `${group ? `${kind}.${group}` : kind}/${r.name}`;
}

/** What kubectl would print for each object: warnings, then a result line or the 422 form. */
export function formatText(results: readonly OfflineResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    for (const w of r.warnings) if (r.known) lines.push(`Warning: ${w}`);
    if (!r.known) lines.push(`${resourceName(r)} skipped: not a kind this webhook validates (${r.source})`);
    else if (r.allowed) lines.push(`${resourceName(r)} admitted${r.namespace ? ` (namespace ${r.namespace})` : ''}`);
    else {
      lines.push(`The ${r.kind} "${r.name}" is invalid: (${r.source})`);
      for (const c of r.causes) lines.push(`* ${c.field}: ${c.message}`);
    }
  }
  return lines.join('\n') + (lines.length ? '\n' : '');
}

export function formatJson(results: readonly OfflineResult[]): string {
  return JSON.stringify(
    results.map((r) => ({ ...r, causes: r.causes.map((c) => ({ type: c.type, field: c.field, message: c.message, rule: c.rule })) })),
    null,
    2,
  ) + '\n';
}
