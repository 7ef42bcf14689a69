// The indexed store follows every change: after any sequence of upserts, removes and relists (replaceKind, per group
// when groups are kept apart), list, get and every index answer exactly what a plain model of the objects answers.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryView } from '../../src/cluster/memory.js';
import type { IndexDef } from '../../src/cluster/view.js';
import type { KubeObject } from '../../src/mesh/objects.js';

/** An index on a label value (objects without the label are not indexed), as the rules' indexes key on spec fields. */
const BY_COLOR: IndexDef = { name: 'by-color', kind: 'Egress', keys: (o) => (o.metadata?.labels?.color ? [o.metadata.labels.color, 'any'] : []) };
const COLORS = ['red', 'blue', 'green'];
const GROUPS = ['policy.flomesh.io', 'policy.openservicemesh.io'];

const obj = fc
  .record({ group: fc.constantFrom(...GROUPS), ns: fc.constantFrom('a', 'b', ''), name: fc.constantFrom('x', 'y', 'z'), color: fc.option(fc.constantFrom(...COLORS), { nil: undefined }), v: fc.nat(1000) })
  .map(
    (r): KubeObject => ({
      apiVersion: `${r.group}/v1alpha1`,
      kind: 'Egress',
      metadata: { name: r.name, ...(r.ns ? { namespace: r.ns } : {}), labels: r.color ? { color: r.color } : {}, resourceVersion: String(r.v) },
    }),
  );

type Op = { op: 'upsert'; o: KubeObject } | { op: 'remove'; o: KubeObject } | { op: 'removeAll'; o: KubeObject } | { op: 'replace'; group: string; objects: KubeObject[] };
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: obj.map((o): Op => ({ op: 'upsert', o })) },
  { weight: 2, arbitrary: obj.map((o): Op => ({ op: 'remove', o })) },
  { weight: 1, arbitrary: obj.map((o): Op => ({ op: 'removeAll', o })) },
  { weight: 1, arbitrary: fc.record({ group: fc.constantFrom(...GROUPS), objects: fc.array(obj, { maxLength: 4 }) }).map((r): Op => ({ op: 'replace', group: r.group, objects: r.objects.filter((o) => o.apiVersion?.startsWith(r.group)) })) },
);

const groupOf = (o: KubeObject): string => o.apiVersion!.split('/')[0]!;
const ident = (o: KubeObject, groups: boolean): string => `${groups ? groupOf(o) : ''}|${o.metadata?.namespace ?? ''}|${o.metadata?.name}`;

/** The plain model: a map from identity to object, searched by scanning. */
function model(ops: readonly Op[], groups: boolean): Map<string, KubeObject> {
  const m = new Map<string, KubeObject>();
  for (const o of ops) {
    if (o.op === 'upsert') m.set(ident(o.o, groups), o.o);
    else if (o.op === 'remove') m.delete(ident(o.o, groups));
    else if (o.op === 'removeAll') {
      for (const [k, v] of [...m]) if ((v.metadata?.namespace ?? '') === (o.o.metadata?.namespace ?? '') && v.metadata?.name === o.o.metadata?.name) m.delete(k);
    } else {
      for (const [k, v] of [...m]) if (!groups || groupOf(v) === o.group) m.delete(k);
      for (const x of o.objects) m.set(ident(x, groups), x);
    }
  }
  return m;
}

function apply(view: MemoryView, ops: readonly Op[]): void {
  for (const o of ops) {
    if (o.op === 'upsert') view.upsert(o.o);
    else if (o.op === 'remove') view.removeObject(o.o);
    else if (o.op === 'removeAll') view.remove('Egress', o.o.metadata?.namespace ?? '', o.o.metadata?.name ?? '');
    else view.replaceKind('Egress', o.objects, o.group);
  }
}

const sortByIdent = (xs: readonly KubeObject[]): KubeObject[] => [...xs].sort((a, b) => (ident(a, true) < ident(b, true) ? -1 : 1));

describe.each([false, true])('MemoryView follows every change (groups kept apart: %s)', (groups) => {
  it('list, get and the index agree with a plain model after any sequence of changes', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), fc.boolean(), (ops, indexFirst) => {
        const view = new MemoryView([], { distinctGroups: groups });
        // the index built before the changes (maintained) or after them (built from what is there)
        if (indexFirst) view.byIndex(BY_COLOR, 'red');
        apply(view, ops);
        const m = [...model(ops, groups).values()];
        expect(sortByIdent(view.list('Egress'))).toEqual(sortByIdent(m));
        for (const ns of ['a', 'b', '']) expect(sortByIdent(view.list('Egress', ns))).toEqual(sortByIdent(m.filter((o) => (o.metadata?.namespace ?? '') === ns)));
        for (const key of [...COLORS, 'any', 'none'])
          expect(sortByIdent(view.byIndex(BY_COLOR, key))).toEqual(sortByIdent(m.filter((o) => BY_COLOR.keys(o).includes(key))));
        for (const ns of ['a', 'b', ''])
          for (const name of ['x', 'y', 'z']) {
            const found = view.get('Egress', ns, name);
            const candidates = m.filter((o) => (o.metadata?.namespace ?? '') === ns && o.metadata?.name === name);
            if (candidates.length === 0) expect(found).toBeUndefined();
            // with groups kept apart, the kind table's first group wins a read by name
            else expect(found).toBe(groups ? (candidates.find((o) => groupOf(o) === GROUPS[0]) ?? candidates[0]) : candidates[0]);
          }
      }),
      { numRuns: 300 },
    );
  });
});

describe('MemoryView', () => {
  it('answers list and index reads without copying the kind: unrelated kinds and namespaces cost nothing', () => {
    const view = new MemoryView([
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'a' } },
      { apiVersion: 'policy.flomesh.io/v1alpha1', kind: 'Egress', metadata: { name: 'e', namespace: 'b', labels: { color: 'red' } } },
    ]);
    expect(view.list('Service', 'b')).toEqual([]);
    expect(view.list('Nothing')).toEqual([]);
    expect(view.byIndex(BY_COLOR, 'blue')).toEqual([]);
    expect(view.byIndex(BY_COLOR, 'red').map((o) => o.metadata?.name)).toEqual(['e']);
    // a list is the same array until something changes
    expect(view.list('Service')).toBe(view.list('Service'));
    const before = view.list('Service');
    view.upsert({ apiVersion: 'v1', kind: 'Service', metadata: { name: 't', namespace: 'a' } });
    expect(view.list('Service')).not.toBe(before);
    expect(view.counts()).toEqual(new Map([['Service', 2], ['Egress', 1]]));
  });
});
