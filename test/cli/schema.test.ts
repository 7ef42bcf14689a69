// The offline schema checks as data: published versions for every group of the kind table, the did-you-mean, the
// unknown-field walk (free-form maps left alone), and the YAML positions each finding is reported at.
import { describe, expect, it } from 'vitest';
import { parseSource } from '../../src/cli/input.js';
import { checkObjectMeta, checkObjectSize, checkTypeMeta, didYouMean, editDistance, MAX_OBJECT_BYTES, nameFormatOf, nameMessages, PUBLISHED_VERSIONS, unknownFields } from '../../src/cli/schema.js';
import { findKind, KINDS } from '../../src/mesh/kinds.js';
import type { KubeObject } from '../../src/mesh/objects.js';
import { LISTEN_HOSTS, listenHost } from '../../src/server/options.js';

const unknown = (obj: KubeObject): string[] => {
  const [group] = [obj.apiVersion!.includes('/') ? obj.apiVersion!.split('/')[0]! : ''];
  return unknownFields(obj, findKind(group, obj.kind!)!).map((w) => `${w.field}: ${w.message}`);
};

describe('offline schema', () => {
  it('knows the published versions of every group of the kind table', () => {
    const groups = new Set(KINDS.flatMap((k) => k.groups));
    for (const g of groups) expect(PUBLISHED_VERSIONS[g], `versions of ${g || 'core'}`).toBeDefined();
    for (const k of KINDS) for (const g of k.groups) for (const v of PUBLISHED_VERSIONS[g]!) expect(checkTypeMeta({ apiVersion: g ? `${g}/${v}` : v, kind: k.kind })).toEqual([]);
  });

  it('suggests what a typo meant, and nothing for words that are merely different', () => {
    const cases: Array<[string, string[], string | undefined]> = [
      ['priorty', ['priority', 'pipyscript'], 'priority'],
      ['pipyScript', ['priority', 'pipyscript'], 'pipyscript'],
      ['flomseh.io', ['flomesh.io'], 'flomesh.io'],
      ['prot', ['port', 'ports'], 'port'],
      ['hosts', ['hosts'], undefined],
      ['weights', ['service', 'backends'], undefined],
      ['UDPRoute', ['HTTPRouteGroup'], undefined],
    ];
    for (const [word, candidates, meant] of cases) expect(didYouMean(word, candidates), word).toBe(meant);
    expect(editDistance('ab', 'ba')).toBe(1);
    expect(editDistance('Egress', 'egress')).toBe(0);
  });

  it('reports unknown fields where the schema is known, and leaves free-form maps alone', () => {
    expect(
      unknown({
        apiVersion: 'plugin.flomesh.io/v1alpha1',
        kind: 'PluginConfig',
        metadata: { name: 'c', namespace: 'n', labels: { anything: 'x' }, annotations: { 'a.b/c': 'd' }, nmae: 'x' },
        spec: { plugin: 'p', config: { whatever: { deep: 1 } }, destinationRefs: [{ kind: 'Service', name: 's', namespace: 'n', nmespace: 'x' }] },
        sepc: {},
      }),
    ).toEqual([
      'metadata.nmae: unknown field; did you mean "metadata.name"?',
      'spec.destinationRefs[0].nmespace: unknown field; did you mean "spec.destinationRefs[0].namespace"?',
      'sepc: unknown field; did you mean "spec"?',
    ]);
    expect(
      unknown({
        apiVersion: 'plugin.flomesh.io/v1alpha1',
        kind: 'PluginChain',
        metadata: { name: 'c' },
        spec: { chains: [{ name: 'inbound-http', plugins: ['p'] }], selectors: { podSelector: { matchLabels: { any: 'thing' }, matchExpressions: [{ key: 'k', operator: 'In', values: ['v'], vaules: [] }] } } },
      }),
    ).toEqual(['spec.selectors.podSelector.matchExpressions[0].vaules: unknown field; did you mean "spec.selectors.podSelector.matchExpressions[0].values"?']);
    // SMI v1alpha1 kept its fields outside spec: its layout is not judged
    expect(unknown({ apiVersion: 'access.smi-spec.io/v1alpha1', kind: 'TrafficTarget', metadata: { name: 't' }, destination: {}, specs: [] })).toEqual([]);
    // MeshConfig: only the plugin chains are known for sure
    expect(unknown({ apiVersion: 'config.flomesh.io/v1alpha3', kind: 'MeshConfig', metadata: { name: 'm' }, spec: { anyNewSection: {}, pluginChains: { 'outbound-http': [{ plugin: 'p', priority: 1, prio: 2 }] } } })).toEqual([
      'spec.pluginChains.outbound-http[0].prio: unknown field',
    ]);
  });

  it('finds the line of a field path, or of its nearest parent present in the YAML', () => {
    const { documents } = parseSource({
      name: 'x.yaml',
      text: '# comment\napiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  labels:\n    app.kubernetes.io/name: s\nspec:\n  ports:\n  - port: 80\n  - port: 81\n    name: b\n',
    });
    const doc = documents[0]!;
    expect(doc.line).toBe(2);
    expect(doc.lineOf('spec.ports[1].name')).toBe(12);
    expect(doc.lineOf('spec.ports[1]')).toBe(11);
    expect(doc.lineOf('spec.ports[1].targetPort')).toBe(11);
    expect(doc.lineOf('metadata.labels[app.kubernetes.io/name]')).toBe(7);
    expect(doc.lineOf('spec.selector')).toBe(8);
    expect(doc.lineOf('')).toBe(2);
  });

  it('names by the rules of their kind: every mesh kind a DNS-1123 subdomain, Namespaces a label, Services a DNS-1035 label', () => {
    for (const k of KINDS.filter((x) => x.kind !== 'Service')) for (const g of k.groups) expect(nameFormatOf(g, k.kind), `${g}/${k.kind}`).toEqual({ format: 'dns1123-subdomain' });
    expect(nameFormatOf('', 'Service')).toEqual({ format: 'dns1035-label' });
    expect(nameFormatOf('', 'Namespace')).toEqual({ format: 'dns1123-label' });
    expect(nameFormatOf('example.com', 'Widget')).toBeUndefined();
    expect(nameMessages('a.b-c', 'dns1123-subdomain')).toEqual([]);
    expect(nameMessages('x'.repeat(254), 'dns1123-subdomain')).toEqual(['must be no more than 253 characters']);
    expect(nameMessages('x'.repeat(64), 'dns1123-label')).toEqual(['must be no more than 63 characters']);
    expect(nameMessages('-a', 'dns1035-label')).toHaveLength(1);
    // generateName is a prefix: its trailing dash is fine, a bad character is not
    const pod = (meta: Record<string, unknown>): KubeObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: meta });
    expect(checkObjectMeta(pod({ generateName: 'web-' }))).toEqual([]);
    expect(checkObjectMeta(pod({ generateName: 'Web-' })).map((e) => e.field)).toEqual(['metadata.generateName']);
    // a cluster-scoped object's namespace is not the API server's concern here
    expect(checkObjectMeta({ apiVersion: 'plugin.flomesh.io/v1alpha1', kind: 'Plugin', metadata: { name: 'p', namespace: 'Not_A_Label' } })).toEqual([]);
    expect(checkObjectMeta({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'Not_A_Label' } }).map((e) => e.field)).toEqual(['metadata.namespace']);
  });

  it('the size limit is etcd\'s default request limit, measured as JSON: up to it an object passes', () => {
    expect(MAX_OBJECT_BYTES).toBe(1_572_864);
    const sized = (bytes: number): KubeObject => {
      const o = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { a: '' } };
      o.data.a = 'x'.repeat(bytes - Buffer.byteLength(JSON.stringify(o)));
      return o;
    };
    expect(checkObjectSize(sized(MAX_OBJECT_BYTES))).toEqual([]);
    expect(checkObjectSize(sized(MAX_OBJECT_BYTES + 1)).map((e) => e.rule)).toEqual(['object-size']);
  });

  it('serve listens on the loopback address standalone, on every address live, unless --host says otherwise', () => {
    expect(listenHost(undefined, false)).toBe(LISTEN_HOSTS.standalone);
    expect(LISTEN_HOSTS.standalone).toBe('127.0.0.1');
    expect(listenHost(undefined, true)).toBe('0.0.0.0');
    expect(listenHost('::1', true)).toBe('::1');
  });
});
