// Standalone mode: the cluster view read once from a folder of manifests, each placed as kubectl would store it.
import { placeManifest } from '../mesh/kinds.js';
import { MemoryView } from './memory.js';
import { loadManifests } from './manifests.js';

export function loadStaticView(dir: string): MemoryView {
  return new MemoryView(loadManifests([dir]).map((l) => placeManifest(l.object)));
}
