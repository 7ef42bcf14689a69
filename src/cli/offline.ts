// The offline form of the validating webhook: the same entry point over a set of manifests, the given objects counted
// as present in the cluster alongside --cluster-state.
import { MemoryView } from '../cluster/memory.js';
import { loadManifests, type LoadedObject } from '../cluster/manifests.js';
import type { FieldError } from '../mesh/field-errors.js';
import type { MeshIdentity } from '../mesh/flavor.js';
import { placeManifest } from '../mesh/kinds.js';
import { gvkOf } from '../mesh/objects.js';
import { validate } from '../validator/validate.js';

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

/** The manifests given and the state folder, placed as kubectl would store them, in one view (the given win). */
export function loadOffline(files: readonly string[], stateDir?: string): { given: LoadedObject[]; view: MemoryView } {
  const place = (l: LoadedObject): LoadedObject => ({ ...l, object: placeManifest(l.object) });
  const state = stateDir ? loadManifests([stateDir]).map(place) : [];
  const given = loadManifests(files).map(place);
  // The given objects replace state objects of the same kind, namespace and name (they are the newer version).
  return { given, view: new MemoryView([...state, ...given].map((l) => l.object)) };
}

export function validateOffline(files: readonly string[], mesh: MeshIdentity, stateDir?: string): OfflineResult[] {
  const { given, view } = loadOffline(files, stateDir);
  return given.map(({ object, source }) => {
    const v = validate({ operation: 'CREATE', kind: gvkOf(object), object }, view, mesh);
    return { source, apiVersion: object.apiVersion ?? '', kind: v.target.kind, namespace: v.target.namespace, name: v.target.label, known: v.known, allowed: v.allowed, warnings: v.warnings, causes: v.errors };
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
