// Explicit, minimal RFC 6902 operations: never a diff of a re-serialised pod, so fields this server does not know
// (newer Kubernetes fields, native-sidecar fields) pass through untouched.
import type { Operation } from 'fast-json-patch';

/** RFC 6901: `~` → `~0`, `/` → `~1` (e.g. `prometheus.io~1scrape`). */
export function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

export class PatchBuilder {
  readonly ops: Operation[] = [];

  /** Sets keys of a map that may not exist yet: one `add` of the whole map when absent, one per key otherwise. */
  setMapEntries(path: string, existing: unknown, entries: Record<string, string>): void {
    const keys = Object.keys(entries);
    if (keys.length === 0) return;
    if (existing === undefined || existing === null) {
      this.ops.push({ op: 'add', path, value: { ...entries } });
      return;
    }
    for (const k of keys) this.ops.push({ op: 'add', path: `${path}/${escapePointer(k)}`, value: entries[k] });
  }

  /** Appends items to an array that may not exist yet. */
  append(path: string, existing: unknown, items: readonly unknown[]): void {
    if (items.length === 0) return;
    if (!Array.isArray(existing)) {
      this.ops.push({ op: 'add', path, value: [...items] });
      return;
    }
    for (const item of items) this.ops.push({ op: 'add', path: `${path}/-`, value: item });
  }

  /** Inserts items at the front of an array that may not exist yet, keeping their order. */
  prepend(path: string, existing: unknown, items: readonly unknown[]): void {
    if (items.length === 0) return;
    if (!Array.isArray(existing)) {
      this.ops.push({ op: 'add', path, value: [...items] });
      return;
    }
    items.forEach((item, i) => this.ops.push({ op: 'add', path: `${path}/${i}`, value: item }));
  }

  replace(path: string, value: unknown): void {
    this.ops.push({ op: 'replace', path, value });
  }

  add(path: string, value: unknown): void {
    this.ops.push({ op: 'add', path, value });
  }
}
