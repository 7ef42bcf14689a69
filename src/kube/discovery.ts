// API discovery: which of the wanted resources the cluster serves, and at which version (the group's preferred version,
// else the first version serving the resource). A resource whose CRD is not installed is simply absent. Shared by the
// live view (which re-runs it to follow CRDs installed later) and the one-off snapshot of the read-only commands.
import { KINDS } from '../mesh/kinds.js';

/** A resource to read; the version is found by discovery (the core group is always v1). */
export interface ResourceSpec {
  readonly group: string;
  readonly kind: string;
  readonly plural: string;
}

export interface ServedResource {
  readonly spec: ResourceSpec;
  readonly version: string;
}

interface GroupList {
  groups?: Array<{ name?: string; versions?: Array<{ version?: string }>; preferredVersion?: { version?: string } }>;
}

interface ResourceList {
  resources?: Array<{ name?: string; kind?: string }>;
}

/** GET of a discovery document; undefined on 404. */
export type DiscoveryGet = <T>(path: string) => Promise<T | undefined>;

const CORE_SPECS: readonly ResourceSpec[] = [{ group: '', kind: 'Namespace', plural: 'namespaces' }];

/** Namespaces and every (group, kind) of the KINDS table (Services among them). */
export function defaultResources(): ResourceSpec[] {
  const out: ResourceSpec[] = [...CORE_SPECS];
  for (const k of KINDS) for (const group of k.groups) out.push({ group, kind: k.kind, plural: k.plural });
  return dedupe(out);
}

export function dedupe(specs: readonly ResourceSpec[]): ResourceSpec[] {
  const seen = new Map<string, ResourceSpec>();
  for (const s of specs) seen.set(`${s.group}/${s.plural}`, s);
  return [...seen.values()];
}

/** `${group}/${plural}` → version, for every wanted resource of a named group that the cluster serves. */
export async function discoverServed(get: DiscoveryGet, specs: readonly ResourceSpec[]): Promise<Map<string, ServedResource>> {
  const groups = new Map<string, ResourceSpec[]>();
  for (const s of specs) if (s.group !== '') groups.set(s.group, [...(groups.get(s.group) ?? []), s]);
  const served = (await get<GroupList>('/apis'))?.groups ?? [];
  const want = new Map<string, ServedResource>();
  for (const [group, wanted] of groups) {
    const g = served.find((x) => x.name === group);
    if (!g) continue;
    const preferred = g.preferredVersion?.version;
    const versions = [...new Set([preferred, ...(g.versions ?? []).map((v) => v.version)].filter((v): v is string => Boolean(v)))];
    let missing = [...wanted];
    for (const version of versions) {
      if (missing.length === 0) break;
      const list = await get<ResourceList>(`/apis/${group}/${version}`);
      const names = new Set((list?.resources ?? []).map((r) => r.name));
      for (const spec of missing) if (names.has(spec.plural)) want.set(`${group}/${spec.plural}`, { spec, version });
      missing = missing.filter((s) => !want.has(`${group}/${s.plural}`));
    }
  }
  return want;
}

/** The collection path of a resource at a version. */
export function collectionPath(group: string, version: string, plural: string): string {
  return group ? `/apis/${group}/${version}/${plural}` : `/api/${version}/${plural}`;
}
