// Finding the mesh's MeshConfig in a view: `<p>-mesh-config` in the mesh namespace, else the only one there is.
import type { MeshIdentity } from '../mesh/flavor.js';
import { isRecord, type KubeObject } from '../mesh/objects.js';
import type { ClusterView } from './view.js';

export function meshConfigObject(view: ClusterView, mesh: MeshIdentity): KubeObject | undefined {
  const exact = view.get('MeshConfig', mesh.meshNamespace, mesh.flavor.meshConfigName);
  if (exact) return exact;
  const all = view.list('MeshConfig');
  return all.length === 1 ? all[0] : undefined;
}

export function meshConfigOf(view: ClusterView, mesh: MeshIdentity): Record<string, unknown> | undefined {
  const spec = meshConfigObject(view, mesh)?.spec;
  return isRecord(spec) ? spec : undefined;
}
