// An in-memory object store implementing ClusterView: the base of the static view, the CLI's view, and the live
// informer cache.
import type { KubeObject } from '../mesh/objects.js';
import type { ClusterView } from './view.js';

const keyOf = (namespace: string, name: string): string => `${namespace}/${name}`;

export class MemoryView implements ClusterView {
  private readonly byKind = new Map<string, Map<string, KubeObject>>();
  private isSynced = true;

  constructor(objects: Iterable<KubeObject> = []) {
    for (const o of objects) this.upsert(o);
  }

  synced(): boolean {
    return this.isSynced;
  }

  setSynced(v: boolean): void {
    this.isSynced = v;
  }

  upsert(obj: KubeObject): void {
    const kind = obj.kind;
    const name = obj.metadata?.name;
    if (typeof kind !== 'string' || !kind || typeof name !== 'string' || !name) return;
    let objects = this.byKind.get(kind);
    if (!objects) this.byKind.set(kind, (objects = new Map()));
    objects.set(keyOf(obj.metadata?.namespace ?? '', name), obj);
  }

  remove(kind: string, namespace: string, name: string): void {
    this.byKind.get(kind)?.delete(keyOf(namespace, name));
  }

  /** Replaces every object of one kind (a relist). */
  replaceKind(kind: string, objects: readonly KubeObject[]): void {
    this.byKind.delete(kind);
    for (const o of objects) if (o.kind === kind) this.upsert(o);
  }

  list(kind: string, namespace?: string): readonly KubeObject[] {
    const objects = this.byKind.get(kind);
    if (!objects) return [];
    const all = [...objects.values()];
    return namespace === undefined ? all : all.filter((o) => (o.metadata?.namespace ?? '') === namespace);
  }

  get(kind: string, namespace: string, name: string): KubeObject | undefined {
    return this.byKind.get(kind)?.get(keyOf(namespace, name));
  }

  all(): KubeObject[] {
    return [...this.byKind.values()].flatMap((m) => [...m.values()]);
  }
}
