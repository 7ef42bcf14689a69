// One-off, read-only reads of a live cluster for the commands that only look (`audit`, `validate --kubeconfig`,
// `explain --kubeconfig`) and for the server's continuous audit: the same discovery and the same store as the live
// view (indexed, objects shaped the same way), filled by plain paginated lists. GET requests only: no watch, no write.
import { MemoryView } from '../cluster/memory.js';
import type { MeshIdentity } from '../mesh/flavor.js';
import { bootstrapSecretSelector } from '../mesh/names.js';
import type { KubeObject } from '../mesh/objects.js';
import { KubeConfigError, loadKubeConfig } from '../kube/kubeconfig.js';
import { KubeApiError, KubeHttp } from '../kube/http.js';
import { collectionPath, dedupe, defaultResources, discoverServed, type ResourceSpec } from '../kube/discovery.js';
import { listAll } from '../kube/list.js';
import { forTheView } from './live-view.js';
import { podsPath, secretsPath } from '../kube/paths.js';
import { dropMetadataNoise } from '../kube/reflector.js';

export interface SnapshotOptions {
  readonly resources?: readonly ResourceSpec[];
  readonly pageSize?: number;
  readonly timeoutMs?: number;
  /** lists run at once (default 8) */
  readonly concurrency?: number;
}

export interface Snapshot {
  readonly view: MemoryView;
  /** `<plural>.<group>` of the wanted resources the cluster does not serve (CRD not installed) */
  readonly notServed: string[];
}

/** Runs `fn` over `items`, at most `limit` at a time; rejects with the first failure. */
async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Every Namespace, Service and object of the kind table, read once. Throws KubeApiError (e.g. 403) on a failed read. */
export async function readSnapshot(http: KubeHttp, opts: SnapshotOptions = {}): Promise<Snapshot> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const specs = dedupe(opts.resources ?? defaultResources());
  const get = <T>(path: string): Promise<T | undefined> => http.getOptional<T>({ path, timeoutMs });
  const served = await discoverServed(get, specs);
  const reads = [
    ...specs.filter((s) => s.group === '').map((spec) => ({ spec, version: 'v1' })),
    ...specs.flatMap((s) => {
      const found = served.get(`${s.group}/${s.plural}`);
      return found ? [found] : [];
    }),
  ];
  const view = new MemoryView([], { distinctGroups: true });
  await eachLimited(reads, opts.concurrency ?? 8, async ({ spec, version }) => {
    const apiVersion = spec.group ? `${spec.group}/${version}` : version;
    const items = await listAll(http, collectionPath(spec.group, version, spec.plural), { apiVersion, kind: spec.kind, timeoutMs, ...(opts.pageSize ? { limit: opts.pageSize } : {}) });
    view.replaceKind(spec.kind, items.map(forTheView), spec.group);
  });
  const notServed = specs.filter((s) => s.group !== '' && !served.has(`${s.group}/${s.plural}`)).map((s) => `${s.plural}.${s.group}`);
  return { view, notServed };
}

/**
 * Above this many namespaces, one cluster-wide paginated list (filtered here) asks less of the API server than one
 * list per namespace: a mesh of thousands of namespaces must not mean thousands of requests per audit.
 */
export const PER_NAMESPACE_LISTS_UP_TO = 50;

/** The objects of a namespaced collection in these namespaces: a list per namespace, or one for all, filtered. */
async function listInNamespaces(
  http: KubeHttp,
  namespaces: readonly string[],
  pathOf: (namespace?: string) => string,
  list: { apiVersion: string; kind: string; labelSelector?: string; accept?: string },
  opts: Pick<SnapshotOptions, 'concurrency' | 'timeoutMs'>,
): Promise<KubeObject[]> {
  const request = { ...list, ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) };
  if (namespaces.length > PER_NAMESPACE_LISTS_UP_TO) {
    const wanted = new Set(namespaces);
    return (await listAll(http, pathOf(), request)).filter((o) => wanted.has(o.metadata?.namespace ?? ''));
  }
  const out: KubeObject[] = [];
  await eachLimited(namespaces, opts.concurrency ?? 8, async (ns) => {
    out.push(...(await listAll(http, pathOf(ns), request)));
  });
  return out;
}

/** The pods of these namespaces, status included (the audit skips finished pods), without managedFields. */
export async function listPods(http: KubeHttp, namespaces: readonly string[], opts: Pick<SnapshotOptions, 'concurrency' | 'timeoutMs'> = {}): Promise<KubeObject[]> {
  return (await listInNamespaces(http, namespaces, podsPath, { apiVersion: 'v1', kind: 'Pod' }, opts)).map(dropMetadataNoise);
}

/** Asks for metadata only: the Secrets' contents never leave the API server. */
const METADATA_ONLY = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';

/**
 * `<namespace>/<name>` of this mesh's bootstrap Secrets in these namespaces, read as metadata only; undefined when the
 * caller may not list Secrets (403): the audit then says the check did not run.
 */
export async function listBootstrapSecretNames(http: KubeHttp, mesh: MeshIdentity, namespaces: readonly string[], opts: Pick<SnapshotOptions, 'concurrency' | 'timeoutMs'> = {}): Promise<Set<string> | undefined> {
  try {
    const items = await listInNamespaces(http, namespaces, secretsPath, { apiVersion: 'v1', kind: 'Secret', labelSelector: bootstrapSecretSelector(mesh), accept: METADATA_ONLY }, opts);
    return new Set(items.map((s) => `${s.metadata?.namespace ?? ''}/${s.metadata?.name ?? ''}`));
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 403) return undefined;
    throw err;
  }
}

/**
 * `/version` minor (e.g. "33", or "33+" on some distributions). A failure is an error like any other read: the sidecar
 * mode must not fall back to classic sidecars silently because the version could not be read.
 */
export async function serverMinor(http: KubeHttp): Promise<number> {
  const v = await http.json<{ minor?: string }>({ path: '/version', timeoutMs: 5000 });
  const n = Number.parseInt(v?.minor ?? '', 10);
  if (!Number.isFinite(n)) throw new KubeApiError(`GET /version: no minor version in ${JSON.stringify(v)}`, 0);
  return n;
}

/**
 * The live cluster's state for `validate --kubeconfig` and `explain --kubeconfig`: the same view as `--cluster-state`
 * would give, read once from the API server (lists only), and the server's minor version (native sidecars).
 * Throws KubeConfigError for an unusable kubeconfig, KubeApiError for a refused or failed read.
 */
export async function readLiveState(kubeconfig: string | readonly string[], context?: string): Promise<Snapshot & { kubernetesMinor: number }> {
  const kc = loadKubeConfig({ kubeconfig, ...(context ? { context } : {}), inCluster: false });
  if (!kc) throw new KubeConfigError(`${[kubeconfig].flat().join(', ')}: no cluster`);
  const http = new KubeHttp(kc);
  try {
    const [snapshot, kubernetesMinor] = await Promise.all([readSnapshot(http), serverMinor(http)]);
    return { ...snapshot, kubernetesMinor };
  } finally {
    http.close();
  }
}
