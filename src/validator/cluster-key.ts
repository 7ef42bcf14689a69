// The key GlobalTrafficPolicy targets name a cluster by, as the mesh's Cluster.Key() computes it (read by the rules
// and by the index of Clusters by key).
import { nameOf, type KubeObject } from '../mesh/objects.js';
import { asRecord } from './checks.js';

const DEFAULT_LOCATION = 'default';

/** `Cluster.Key()`: `<region>/<zone>/<group>/<metadata.name>`, an unset or empty segment meaning `default`. */
export function clusterKeyOf(cluster: KubeObject): string {
  const spec = asRecord(cluster.spec);
  const segment = (v: unknown): string => (typeof v === 'string' && v !== '' ? v : DEFAULT_LOCATION);
  return `${segment(spec.region)}/${segment(spec.zone)}/${segment(spec.group)}/${nameOf(cluster)}`;
}
