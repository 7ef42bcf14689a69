// A decision costs what its answer needs, not what the cluster holds: the number of objects the rules read for one
// request is the same in a cluster of 100 look-alike objects as in one of 2,000 (objects sharing its port numbers,
// source ServiceAccount and chain, but in the same protocol class, so nothing conflicts). Counted, not timed.
import { describe, expect, it } from 'vitest';
import { MemoryView } from '../../src/cluster/memory.js';
import type { ClusterView, IndexDef } from '../../src/cluster/view.js';
import { meshIdentity } from '../../src/mesh/flavor.js';
import { placeManifest } from '../../src/mesh/kinds.js';
import { gvkOf, type KubeObject } from '../../src/mesh/objects.js';
import { validate } from '../../src/validator/validate.js';

const mesh = meshIdentity('fsm');

const ns = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'flomesh.io/monitored-by': 'fsm' } } });
const service = (i: number, port: number, name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${i}`, namespace: `ns-${i % 10}` }, spec: { ports: [{ name, port }] } });
const egress = (i: number, sa: string, ports: Array<{ number: number; protocol: string }>, host = `h${i}.example.com`): KubeObject => ({
  apiVersion: 'policy.flomesh.io/v1alpha1',
  kind: 'Egress',
  metadata: { name: `eg-${i}`, namespace: `ns-${i % 10}` },
  spec: { sources: [{ kind: 'ServiceAccount', namespace: 'ns-0', name: sa }], hosts: [host], ports },
});
const plugin = (i: number): KubeObject => ({ apiVersion: 'plugin.flomesh.io/v1alpha1', kind: 'Plugin', metadata: { name: `p-${i}` }, spec: { priority: 1000 + i, pipyscript: 'pipy()' } });
const chain = (i: number, plugins: string[]): KubeObject => ({
  apiVersion: 'plugin.flomesh.io/v1alpha1',
  kind: 'PluginChain',
  metadata: { name: `c-${i}`, namespace: `ns-${i % 10}` },
  spec: { chains: [{ name: 'inbound-http', plugins }], selectors: { podSelector: { matchLabels: { app: `a${i}` } }, namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': `ns-${i % 10}` } } } },
});

/** A cluster of `n` look-alikes: http Services on 8080 and server-first ones on 3306, Egresses of one shared source. */
function cluster(n: number): KubeObject[] {
  const out: KubeObject[] = Array.from({ length: 10 }, (_, i) => ns(`ns-${i}`));
  for (let i = 0; i < n; i++) {
    out.push(service(i, i % 2 ? 8080 : 3306, i % 2 ? 'http-web' : 'tcp-server-first-db'));
    out.push(egress(i, 'shared', [i % 2 ? { number: 8080, protocol: 'http' } : { number: 3306, protocol: 'tcp-server-first' }]));
    out.push(plugin(i), chain(i, [`p-${i}`]));
  }
  return out;
}

/** The view, counting every object handed to the rules. */
function counting(view: ClusterView): { view: ClusterView; read: () => number } {
  let read = 0;
  return {
    read: () => read,
    view: {
      ready: () => view.ready(),
      list: (kind, namespace) => {
        const r = view.list(kind, namespace);
        read += r.length;
        return r;
      },
      get: (kind, namespace, name) => {
        const r = view.get(kind, namespace, name);
        if (r) read++;
        return r;
      },
      byIndex: (index: IndexDef, key: string) => {
        const r = view.byIndex(index, key);
        read += r.length;
        return r;
      },
    },
  };
}

const requests: KubeObject[] = [
  egress(99_999, 'shared', [{ number: 3306, protocol: 'tcp-server-first' }, { number: 8080, protocol: 'http' }], 'new.example.com'),
  service(99_999, 8080, 'http-new'),
  service(99_998, 3306, 'tcp-server-first-new'),
  chain(99_999, ['p-1', 'p-2']),
];

describe('the cost of a decision does not grow with the cluster', () => {
  it.each(requests.map((r) => [`${r.kind} ${r.metadata?.name}`, r] as const))('%s reads the same number of objects at 100 and 2,000 look-alikes', (_, request) => {
    const reads = [100, 2000].map((n) => {
      const { view, read } = counting(new MemoryView(cluster(n).map(placeManifest)));
      const verdict = validate({ operation: 'CREATE', kind: gvkOf(request), object: request }, view, mesh);
      expect(verdict.allowed).toBe(true);
      return read();
    });
    expect(reads[1]).toBe(reads[0]);
    expect(reads[0]).toBeLessThan(20);
  });

  it('a real conflict is still found among the look-alikes', () => {
    const http3306 = egress(99_999, 'shared', [{ number: 3306, protocol: 'http' }], 'new.example.com');
    const verdict = validate({ operation: 'CREATE', kind: gvkOf(http3306), object: http3306 }, new MemoryView(cluster(100).map(placeManifest)), mesh);
    expect(verdict.allowed).toBe(false);
    expect(verdict.errors.filter((e) => e.rule === 'egress-server-first-egress')).toHaveLength(50);
  });
});
