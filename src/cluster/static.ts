// Standalone mode: the cluster view read once from a folder of manifests.
import { MemoryView } from './memory.js';
import { loadManifests } from './manifests.js';

export function loadStaticView(dir: string): MemoryView {
  return new MemoryView(loadManifests([dir]).map((l) => l.object));
}
