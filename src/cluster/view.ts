// What the decisions read of the cluster. Reads are synchronous against a cache (informers in live mode, a YAML folder
// in standalone mode, the given files in the offline CLI): the admission hot path never waits on the API server.
//
// A decision must cost what its answer needs, not what the cluster holds: a rule that looks for "the other objects
// that could conflict with this one" asks an index (`byIndex`) for the few objects sharing a key, instead of listing
// every object of a kind. Indexes are declared by the rules (IndexDef), built on first use and kept up to date on
// every change by the store.
import type { KubeObject } from '../mesh/objects.js';

export interface ObjectKey {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

/** A secondary index over one kind: the keys an object is found under (none: not indexed). */
export interface IndexDef {
  /** unique per index, for logs and tests */
  readonly name: string;
  readonly kind: string;
  keys(obj: KubeObject): readonly string[];
}

export interface ClusterView {
  /** True once the view reflects the cluster: every informer has listed once, or the folder was loaded. */
  ready(): boolean;
  /** Objects of a kind (matched by Kind whatever group it was published under), optionally in one namespace. */
  list(kind: string, namespace?: string): readonly KubeObject[];
  get(kind: string, namespace: string, name: string): KubeObject | undefined;
  /** Objects of `index.kind` found under `key` (in no particular order). */
  byIndex(index: IndexDef, key: string): readonly KubeObject[];
}
