// What a kind validator may read besides the object itself: the mesh identity, the MeshConfig and the other objects.
import { meshConfigObject } from '../cluster/mesh-config.js';
import type { ClusterView, IndexDef, ObjectKey } from '../cluster/view.js';
import type { MeshIdentity } from '../mesh/flavor.js';
import { monitoredByLabel } from '../mesh/names.js';
import { isRecord, type KubeObject } from '../mesh/objects.js';

export class ValidationContext {
  private meshConfigCache: KubeObject | null | undefined;

  constructor(
    readonly mesh: MeshIdentity,
    readonly view: ClusterView,
    /** the object under validation: cross-object checks never compare it with (an older version of) itself */
    readonly self: ObjectKey,
    readonly operation: string = 'CREATE',
    /** the stored version on UPDATE: rules about a change (not a state) compare with it */
    readonly oldObject?: KubeObject,
  ) {}

  /** Other objects of a kind (any group), optionally in one namespace, excluding the object being validated. */
  others(kind: string, namespace?: string): KubeObject[] {
    return this.view
      .list(kind, namespace)
      .filter((o) => !(kind === this.self.kind && (o.metadata?.namespace ?? '') === this.self.namespace && o.metadata?.name === this.self.name));
  }

  /**
   * The other objects found under any of `keys` in `index` (each once), excluding the object being validated: the few
   * objects a cross-object rule has to compare with, without reading every object of the kind.
   */
  candidates(index: IndexDef, keys: Iterable<string>): KubeObject[] {
    const found = new Set<KubeObject>();
    for (const key of keys) for (const o of this.view.byIndex(index, key)) found.add(o);
    const kind = index.kind;
    return [...found].filter((o) => !(kind === this.self.kind && (o.metadata?.namespace ?? '') === this.self.namespace && o.metadata?.name === this.self.name));
  }

  get(kind: string, namespace: string, name: string): KubeObject | undefined {
    if (kind === this.self.kind && namespace === this.self.namespace && name === this.self.name) return undefined;
    return this.view.get(kind, namespace, name);
  }

  /** The mesh's MeshConfig: `<p>-mesh-config` in the mesh namespace, else the only MeshConfig known. */
  meshConfig(): KubeObject | undefined {
    if (this.meshConfigCache === undefined) this.meshConfigCache = meshConfigObject(this.view, this.mesh) ?? null;
    return this.meshConfigCache ?? undefined;
  }

  meshConfigSpec(): Record<string, unknown> | undefined {
    const spec = this.meshConfig()?.spec;
    return isRecord(spec) ? spec : undefined;
  }

  /** `<namespace>/<name>` of the MeshConfig, for messages. */
  meshConfigRef(): string {
    const mc = this.meshConfig();
    return mc ? `${mc.metadata?.namespace ?? ''}/${mc.metadata?.name ?? ''}` : `${this.mesh.meshNamespace}/${this.mesh.flavor.meshConfigName}`;
  }

  /** A namespace is in the mesh when it carries `<domain>/monitored-by: <meshName>`. */
  isMonitored(namespace: string): boolean {
    const ns = this.view.get('Namespace', '', namespace);
    return ns?.metadata?.labels?.[monitoredByLabel(this.mesh.flavor)] === this.mesh.meshName;
  }

  /** Permissive mode: every Service in the mesh is reachable by every client. */
  permissive(): boolean {
    const traffic = this.meshConfigSpec()?.traffic;
    return isRecord(traffic) && traffic.enablePermissiveTrafficPolicyMode === true;
  }
}
