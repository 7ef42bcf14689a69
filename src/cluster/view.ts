// What the decisions read of the cluster. Reads are synchronous against a cache (informers in live mode, a YAML folder
// in standalone mode, the given files in the offline CLI): the admission hot path never waits on the API server.
import type { KubeObject } from '../mesh/objects.js';

export interface ObjectKey {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

export interface ClusterView {
  /** True once the view reflects the cluster: every informer has listed once, or the folder was loaded. */
  synced(): boolean;
  /** Objects of a kind (matched by Kind whatever group it was published under), optionally in one namespace. */
  list(kind: string, namespace?: string): readonly KubeObject[];
  get(kind: string, namespace: string, name: string): KubeObject | undefined;
}
