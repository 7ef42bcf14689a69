// The offline schema checks as data: published versions for every group of the kind table, the did-you-mean, the
// unknown-field walk (free-form maps left alone), and the YAML positions each finding is reported at.
import { describe, expect, it } from 'vitest';
import { parseSource } from '../../src/cli/input.js';
import { checkTypeMeta, didYouMean, editDistance, PUBLISHED_VERSIONS, unknownFields } from '../../src/cli/schema.js';
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

  it('serve listens on the loopback address standalone, on every address live, unless --host says otherwise', () => {
    expect(listenHost(undefined, false)).toBe(LISTEN_HOSTS.standalone);
    expect(LISTEN_HOSTS.standalone).toBe('127.0.0.1');
    expect(listenHost(undefined, true)).toBe('0.0.0.0');
    expect(listenHost('::1', true)).toBe('::1');
  });
});
