// The indexed in-memory store behind every view: the YAML folder of standalone mode, the offline CLI's files, and the
// live informers' cache. Reads cost what their answer holds: objects are kept by kind, by namespace and by name, and
// secondary indexes (IndexDef, declared by the rules) are built on first use and kept up to date on every upsert,
// remove and replace, so no rule has to scan every object of a kind.
import { findKind } from '../mesh/kinds.js';
import { splitApiVersion, type KubeObject } from '../mesh/objects.js';
import type { ClusterView, IndexDef } from './view.js';

export interface MemoryViewOptions {
  /**
   * Keep objects of one kind published under two groups apart (live mode: one informer per group, and a
   * `flomesh.io` and a `multicluster.flomesh.io` ServiceImport of the same name coexist). Otherwise a later object of
   * the same kind, namespace and name replaces the earlier one whatever its group (files: the newer version wins).
   */
  readonly distinctGroups?: boolean;
}

const SEP = '\u0000';
const EMPTY: readonly KubeObject[] = Object.freeze([]);

/** Where an object sits in the store: its group (when groups are kept apart), namespace and name. */
interface Slot {
  readonly key: string;
  readonly group: string;
  readonly namespace: string;
  readonly name: string;
}

class KindStore {
  readonly entries = new Map<string, KubeObject>();
  /** `<namespace>\0<name>` → the objects of that name, one per group, in the kind table's group order */
  readonly byName = new Map<string, KubeObject[]>();
  readonly byNamespace = new Map<string, Map<string, KubeObject>>();
  readonly indexes = new Map<IndexDef, Map<string, Set<KubeObject>>>();
  private allCache: readonly KubeObject[] | undefined;
  private readonly nsCache = new Map<string, readonly KubeObject[]>();

  constructor(readonly kind: string) {}

  changed(): void {
    this.allCache = undefined;
    this.nsCache.clear();
  }

  all(): readonly KubeObject[] {
    return (this.allCache ??= Object.freeze([...this.entries.values()]));
  }

  inNamespace(namespace: string): readonly KubeObject[] {
    let cached = this.nsCache.get(namespace);
    if (!cached) {
      const m = this.byNamespace.get(namespace);
      cached = m ? Object.freeze([...m.values()]) : EMPTY;
      this.nsCache.set(namespace, cached);
    }
    return cached;
  }

  index(def: IndexDef, obj: KubeObject): void {
    const idx = this.indexes.get(def);
    if (!idx) return;
    for (const k of def.keys(obj)) {
      let set = idx.get(k);
      if (!set) idx.set(k, (set = new Set()));
      set.add(obj);
    }
  }

  unindex(def: IndexDef, obj: KubeObject): void {
    const idx = this.indexes.get(def);
    if (!idx) return;
    for (const k of def.keys(obj)) {
      const set = idx.get(k);
      if (!set) continue;
      set.delete(obj);
      if (set.size === 0) idx.delete(k);
    }
  }
}

export class MemoryView implements ClusterView {
  private readonly kinds = new Map<string, KindStore>();
  private isReady = true;
  private readonly distinctGroups: boolean;

  constructor(objects: Iterable<KubeObject> = [], opts: MemoryViewOptions = {}) {
    this.distinctGroups = opts.distinctGroups === true;
    for (const o of objects) this.upsert(o);
  }

  ready(): boolean {
    return this.isReady;
  }


  private store(kind: string, create: true): KindStore;
  private store(kind: string, create?: false): KindStore | undefined;
  private store(kind: string, create = false): KindStore | undefined {
    let s = this.kinds.get(kind);
    if (!s && create) this.kinds.set(kind, (s = new KindStore(kind)));
    return s;
  }

  private groupOf(obj: KubeObject): string {
    return this.distinctGroups ? splitApiVersion(obj.apiVersion).group : '';
  }

  private slot(group: string, namespace: string, name: string): Slot {
    return { key: `${group}${SEP}${namespace}${SEP}${name}`, group, namespace, name };
  }

  /** Group order of a kind (the kind table's), so that reads across groups are stable. */
  private groupRank(kind: string, obj: KubeObject): number {
    const groups = findKind(splitApiVersion(obj.apiVersion).group, kind)?.groups ?? [];
    const i = groups.indexOf(splitApiVersion(obj.apiVersion).group);
    return i < 0 ? groups.length : i;
  }

  upsert(obj: KubeObject): void {
    const kind = obj.kind;
    const name = obj.metadata?.name;
    if (typeof kind !== 'string' || !kind || typeof name !== 'string' || !name) return;
    const namespace = obj.metadata?.namespace ?? '';
    const s = this.store(kind, true);
    const slot = this.slot(this.groupOf(obj), namespace, name);
    const old = s.entries.get(slot.key);
    if (old) this.detach(s, slot, old);
    s.entries.set(slot.key, obj);
    let ns = s.byNamespace.get(namespace);
    if (!ns) s.byNamespace.set(namespace, (ns = new Map()));
    ns.set(slot.key, obj);
    const nameKey = `${namespace}${SEP}${name}`;
    const same = [...(s.byName.get(nameKey) ?? []), obj].sort((a, b) => this.groupRank(kind, a) - this.groupRank(kind, b));
    s.byName.set(nameKey, same);
    for (const def of s.indexes.keys()) s.index(def, obj);
    s.changed();
  }

  private detach(s: KindStore, slot: Slot, obj: KubeObject): void {
    s.entries.delete(slot.key);
    const ns = s.byNamespace.get(slot.namespace);
    ns?.delete(slot.key);
    if (ns && ns.size === 0) s.byNamespace.delete(slot.namespace);
    const nameKey = `${slot.namespace}${SEP}${slot.name}`;
    const rest = (s.byName.get(nameKey) ?? []).filter((o) => o !== obj);
    if (rest.length) s.byName.set(nameKey, rest);
    else s.byName.delete(nameKey);
    for (const def of s.indexes.keys()) s.unindex(def, obj);
    s.changed();
  }

  /** Removes the object of that kind, namespace and name (under every group). */
  remove(kind: string, namespace: string, name: string): void {
    const s = this.store(kind);
    if (!s) return;
    for (const obj of [...(s.byName.get(`${namespace}${SEP}${name}`) ?? [])]) this.detach(s, this.slot(this.groupOf(obj), namespace, name), obj);
  }

  /** Removes this object (under its own group when groups are kept apart). */
  removeObject(obj: KubeObject): void {
    const kind = obj.kind;
    const name = obj.metadata?.name;
    if (typeof kind !== 'string' || typeof name !== 'string') return;
    const s = this.store(kind);
    const slot = this.slot(this.groupOf(obj), obj.metadata?.namespace ?? '', name);
    const stored = s?.entries.get(slot.key);
    if (s && stored) this.detach(s, slot, stored);
  }

  /**
   * Replaces every object of one kind (a relist), or, when groups are kept apart and `group` is given, every object
   * of that kind published under that group.
   */
  replaceKind(kind: string, objects: readonly KubeObject[], group?: string): void {
    const s = this.store(kind);
    if (s)
      for (const obj of [...s.entries.values()]) {
        if (this.distinctGroups && group !== undefined && splitApiVersion(obj.apiVersion).group !== group) continue;
        this.detach(s, this.slot(this.groupOf(obj), obj.metadata?.namespace ?? '', obj.metadata?.name ?? ''), obj);
      }
    for (const o of objects) if (o.kind === kind) this.upsert(o);
  }

  list(kind: string, namespace?: string): readonly KubeObject[] {
    const s = this.store(kind);
    if (!s) return EMPTY;
    return namespace === undefined ? s.all() : s.inNamespace(namespace);
  }

  get(kind: string, namespace: string, name: string): KubeObject | undefined {
    return this.store(kind)?.byName.get(`${namespace}${SEP}${name}`)?.[0];
  }

  byIndex(def: IndexDef, key: string): readonly KubeObject[] {
    const s = this.store(def.kind, true);
    let idx = s.indexes.get(def);
    if (!idx) {
      // First use: build it over what is there; from now on every change keeps it up to date.
      idx = new Map();
      s.indexes.set(def, idx);
      for (const obj of s.entries.values()) s.index(def, obj);
    }
    const set = idx.get(key);
    return set ? [...set] : EMPTY;
  }

  all(): KubeObject[] {
    return [...this.kinds.values()].flatMap((s) => [...s.entries.values()]);
  }

  /** Objects held, per kind (status pages, tests). */
  counts(): Map<string, number> {
    return new Map([...this.kinds].map(([k, s]) => [k, s.entries.size]));
  }
}
