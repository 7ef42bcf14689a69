import { fixtureObject } from '../support/fixtures.js';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { KubeObject } from '../../src/mesh/objects.js';
import { clusterKeyOf } from '../../src/validator/multicluster.js';
import { causes, check } from './helpers.js';

// Seed 002 (FSM multi-cluster guide), as applied in cluster-2: the ServiceImport the controllers wrote, the local
// Service, and the ActiveActive / FailOver policies.
const seedServiceImport = parse(`
apiVersion: flomesh.io/v1alpha1
kind: ServiceImport
metadata: {name: httpbin, namespace: httpbin}
spec:
  ports:
  - endpoints:
    - clusterKey: default/default/default/cluster-1
      target: {host: 192.168.1.110, ip: 192.168.1.110, path: /cluster-1/httpbin-mesh, port: 81}
    - clusterKey: default/default/default/cluster-3
      target: {host: 192.168.1.110, ip: 192.168.1.110, path: /cluster-3/httpbin-mesh, port: 83}
    port: 8080
    protocol: TCP
  serviceAccountName: "*"
  type: ClusterSetIP
`) as KubeObject;

const seedService = parse(`
apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: httpbin}
spec:
  ports:
  - {port: 8080, targetPort: 8080, protocol: TCP}
  selector: {app: pipy}
`) as KubeObject;

const seedGtp = (lbType: string): KubeObject =>
  parse(`
apiVersion: flomesh.io/v1alpha1
kind: GlobalTrafficPolicy
metadata: {name: httpbin, namespace: httpbin}
spec:
  lbType: ${lbType}
  targets:
  - clusterKey: default/default/default/cluster-1
  - clusterKey: default/default/default/cluster-3
`) as KubeObject;

const fixtureGtp = fixtureObject<KubeObject>('globaltrafficpolicy-create.json');

const cluster = (name: string, spec: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'multicluster.flomesh.io/v1alpha1',
  kind: 'Cluster',
  metadata: { name },
  spec: { gatewayHost: '192.168.1.110', gatewayPort: 81, kubeconfig: 'apiVersion: v1', ...spec },
});

const gtp = (spec: unknown, apiVersion = 'multicluster.flomesh.io/v1alpha1'): KubeObject => ({
  apiVersion,
  kind: 'GlobalTrafficPolicy',
  metadata: { name: 'httpbin', namespace: 'httpbin' },
  spec,
});

const K1 = 'default/default/default/cluster-1';
const K3 = 'default/default/default/cluster-3';
const inSeedState = { state: [seedServiceImport, seedService] };

const UNVERIFIED = (keys: string) => `spec.targets: clusterKey references not verified (no ServiceImport httpbin/httpbin and no Cluster known yet): ${keys}`;
const GOVERNS_NOTHING =
  'metadata.name: no Service or ServiceImport httpbin/httpbin exists yet, so this policy governs nothing (it applies to the Service/ServiceImport of the same namespace and name)';
const LOCALITY_IGNORES =
  'spec.targets: Locality load balancing uses only endpoints of this cluster and ignores targets; use FailOver or ActiveActive to reach other clusters';

describe('GlobalTrafficPolicy: seed 002 and fixture', () => {
  it.each(['ActiveActive', 'FailOver'])('admits the seed %s policy when the ServiceImport exports both clusters', (lbType) => {
    expect(check(seedGtp(lbType), inSeedState)).toMatchObject({ allowed: true, errors: [], warnings: [] });
  });

  it('admits the real AdmissionReview object (flomesh.io) against the seed state', () => {
    expect(check(fixtureGtp, inSeedState)).toMatchObject({ allowed: true, errors: [], warnings: [] });
  });

  it('admits the fixture against the seed Clusters when no ServiceImport has arrived (a Service exists)', () => {
    const state = [seedService, cluster('cluster-1'), cluster('cluster-2'), cluster('cluster-3')];
    expect(check(fixtureGtp, { state })).toMatchObject({ allowed: true, errors: [], warnings: [] });
  });
});

describe('GlobalTrafficPolicy: lbType', () => {
  it('treats an absent lbType as Locality', () => {
    const v = check(gtp({ targets: [{ clusterKey: K1 }, { clusterKey: K3 }] }), inSeedState);
    expect(causes(v)).toEqual([
      'spec.targets: Forbidden: in case of Locality load balancer, the traffic can only be sticky to exact one cluster, either in cluster or a specific remote cluster (got 2 targets)',
    ]);
  });

  it('rejects an lbType outside the enum (case-sensitive)', () => {
    const v = check(gtp({ lbType: 'activeactive', targets: [{ clusterKey: K1 }] }), inSeedState);
    expect(causes(v)).toEqual(['spec.lbType: Unsupported value: "activeactive": supported values: "Locality", "FailOver", "ActiveActive"']);
    expect(v.warnings).toEqual([]);
  });

  it('admits Locality without targets and warns about nothing', () => {
    expect(check(gtp({ lbType: 'Locality' }), inSeedState)).toMatchObject({ allowed: true, errors: [], warnings: [] });
  });

  it('admits Locality with one target, warning that targets are ignored', () => {
    const v = check(gtp({ lbType: 'Locality', targets: [{ clusterKey: K1 }] }), inSeedState);
    expect(v.allowed).toBe(true);
    expect(v.warnings).toEqual([LOCALITY_IGNORES]);
  });

  it('denies Locality with two targets (fsm-classic text) and still warns that targets are ignored', () => {
    const v = check(gtp({ lbType: 'Locality', targets: [{ clusterKey: K1 }, { clusterKey: K3 }] }), inSeedState);
    expect(causes(v)).toEqual([
      'spec.targets: Forbidden: in case of Locality load balancer, the traffic can only be sticky to exact one cluster, either in cluster or a specific remote cluster (got 2 targets)',
    ]);
    expect(v.warnings).toEqual([LOCALITY_IGNORES]);
  });

  it.each([
    ['FailOver', undefined],
    ['FailOver', []],
    ['FailOver', null],
  ])('denies %s with targets %j (fsm-classic text)', (lbType, targets) => {
    const v = check(gtp({ lbType, targets }), inSeedState);
    expect(causes(v)).toEqual(['spec.targets: Required value: requires at least one cluster for failover']);
  });

  it('denies ActiveActive without targets', () => {
    const v = check(gtp({ lbType: 'ActiveActive', targets: [] }), inSeedState);
    expect(causes(v)).toEqual(['spec.targets: Required value: requires at least one cluster for active-active load balancing']);
  });

  it('reports targets that are not a list once, not also as missing', () => {
    const v = check(gtp({ lbType: 'FailOver', targets: 'default/default/default/cluster-1' }), inSeedState);
    expect(causes(v)).toEqual(['spec.targets: Invalid value: "default/default/default/cluster-1": must be a list']);
  });

  it('reports a spec that is not an object', () => {
    const v = check(gtp('FailOver'), inSeedState);
    expect(causes(v)).toEqual(['spec: Invalid value: "FailOver": must be an object']);
  });
});

describe('GlobalTrafficPolicy: clusterKey format and duplicates', () => {
  const KEY_TEXT =
    "must be region/zone/group/cluster: exactly four non-empty '/'-separated segments, each a lowercase RFC 1123 label (e.g. default/default/default/cluster-1)";

  it.each([
    ['a/b/c'],
    ['a/b/c/d/e'],
    ['default//default/cluster-1'],
    ['default/default/default/'],
    ['default/default/default/Cluster-1'],
    ['default/default/default/cluster.one'],
    ['default/us_east/default/cluster-1'],
    [' default/default/default/cluster-1'],
  ])('rejects clusterKey %j', (key) => {
    const v = check(gtp({ lbType: 'FailOver', targets: [{ clusterKey: K1 }, { clusterKey: key }] }), inSeedState);
    expect(causes(v)).toEqual([`spec.targets[1].clusterKey: Invalid value: ${JSON.stringify(key)}: ${KEY_TEXT}`]);
  });

  it('accepts a 63-character segment and rejects a 64-character one', () => {
    const ok = `r/z/g/${'c'.repeat(63)}`;
    const long = `r/z/g/${'c'.repeat(64)}`;
    const v = check(gtp({ lbType: 'FailOver', targets: [{ clusterKey: ok }, { clusterKey: long }] }), {
      state: [{ ...seedServiceImport, spec: { ports: [{ port: 8080, endpoints: [{ clusterKey: ok }] }] } }],
    });
    expect(causes(v)).toEqual([`spec.targets[1].clusterKey: Invalid value: "${long}": ${KEY_TEXT}`]);
  });

  it('rejects a missing or non-string clusterKey, and a target that is not an object', () => {
    const v = check(gtp({ lbType: 'FailOver', targets: [{ weight: 1 }, { clusterKey: 7 }, 'cluster-1', { clusterKey: K1 }] }), inSeedState);
    expect(causes(v)).toEqual([
      'spec.targets[0].clusterKey: Required value: region/zone/group/cluster of the cluster (e.g. default/default/default/cluster-1)',
      `spec.targets[1].clusterKey: Invalid value: 7: ${KEY_TEXT}`,
      'spec.targets[2]: Invalid value: "cluster-1": must be an object with a clusterKey and an optional weight',
    ]);
    expect(v.warnings).toEqual(['spec.targets[0].weight: weight is only used by ActiveActive load balancing; it is ignored with lbType FailOver']);
  });

  it('rejects the same clusterKey twice (once, at the second position)', () => {
    const v = check(gtp({ lbType: 'ActiveActive', targets: [{ clusterKey: K1 }, { clusterKey: K3 }, { clusterKey: K1 }] }), inSeedState);
    expect(causes(v)).toEqual([`spec.targets[2].clusterKey: Duplicate value: "${K1}": also at spec.targets[0].clusterKey`]);
  });

  it('reports a duplicate that is also unexported only once as missing', () => {
    const K9 = 'default/default/default/c9';
    const v = check(gtp({ lbType: 'ActiveActive', targets: [{ clusterKey: K9 }, { clusterKey: 'x' }, { clusterKey: K9 }] }), inSeedState);
    expect(causes(v)).toEqual([
      `spec.targets[1].clusterKey: Invalid value: "x": ${KEY_TEXT}`,
      `spec.targets[2].clusterKey: Duplicate value: "${K9}": also at spec.targets[0].clusterKey`,
      `spec.targets[0].clusterKey: cluster ${K9} does not export this service: ServiceImport httpbin/httpbin has endpoints only from ${K1}, ${K3}; traffic for this target would be dropped`,
    ]);
  });
});

describe('GlobalTrafficPolicy: weight', () => {
  it('accepts weights 0 and 100 on ActiveActive without warnings', () => {
    const v = check(gtp({ lbType: 'ActiveActive', targets: [{ clusterKey: K1, weight: 0 }, { clusterKey: K3, weight: 100 }] }), inSeedState);
    expect(v).toMatchObject({ allowed: true, errors: [], warnings: [] });
  });

  it('rejects weight -1 on ActiveActive with the fsm-classic text, printing the weight (not a pointer)', () => {
    const v = check(gtp({ lbType: 'ActiveActive', targets: [{ clusterKey: K1, weight: -1 }, { clusterKey: K3 }] }), inSeedState);
    expect(causes(v)).toEqual([
      `spec.targets[0].weight: Invalid value: -1: weight -1 of ${K1} is invalid for active-active load balancing, it must be >= 0`,
    ]);
  });

  it.each([[1.5], ['10'], [true], [Number.MAX_SAFE_INTEGER + 1]])('rejects weight %j as not an integer >= 0', (weight) => {
    const v = check(gtp({ lbType: 'ActiveActive', targets: [{ clusterKey: K1, weight }] }), inSeedState);
    expect(causes(v)).toEqual([`spec.targets[0].weight: Invalid value: ${JSON.stringify(weight)}: must be an integer >= 0`]);
  });

  it('rejects a negative weight on FailOver with the generic text', () => {
    const v = check(gtp({ lbType: 'FailOver', targets: [{ clusterKey: K1, weight: -5 }] }), inSeedState);
    expect(causes(v)).toEqual(['spec.targets[0].weight: Invalid value: -5: must be an integer >= 0']);
    expect(v.warnings).toEqual([]);
  });

  it('warns that a weight on a FailOver policy is ignored', () => {
    const v = check(gtp({ lbType: 'FailOver', targets: [{ clusterKey: K1, weight: 3 }, { clusterKey: K3 }] }), inSeedState);
    expect(v.allowed).toBe(true);
    expect(v.warnings).toEqual(['spec.targets[0].weight: weight is only used by ActiveActive load balancing; it is ignored with lbType FailOver']);
  });

  it('warns about a weight on Locality as well as about the ignored target', () => {
    const v = check(gtp({ targets: [{ clusterKey: K1, weight: 3 }] }), inSeedState);
    expect(v.allowed).toBe(true);
    expect(v.warnings).toEqual(['spec.targets[0].weight: weight is only used by ActiveActive load balancing; it is ignored with lbType Locality', LOCALITY_IGNORES]);
  });
});

describe('GlobalTrafficPolicy: references', () => {
  const K9 = 'default/default/default/c9';

  it.each(['FailOver', 'ActiveActive'])('denies %s with a key the ServiceImport has no endpoints from, listing the exporters sorted', (lbType) => {
    const v = check(gtp({ lbType, targets: [{ clusterKey: K3 }, { clusterKey: K9 }] }), inSeedState);
    expect(causes(v)).toEqual([
      `spec.targets[1].clusterKey: cluster ${K9} does not export this service: ServiceImport httpbin/httpbin has endpoints only from ${K1}, ${K3}; traffic for this target would be dropped`,
    ]);
  });

  it('applies the reference check to a Locality target too', () => {
    const v = check(gtp({ lbType: 'Locality', targets: [{ clusterKey: K9 }] }), inSeedState);
    expect(causes(v)).toEqual([
      `spec.targets[0].clusterKey: cluster ${K9} does not export this service: ServiceImport httpbin/httpbin has endpoints only from ${K1}, ${K3}; traffic for this target would be dropped`,
    ]);
    expect(v.warnings).toEqual([LOCALITY_IGNORES]);
  });

  it('collects keys from every port of the ServiceImport', () => {
    const twoPorts: KubeObject = {
      ...seedServiceImport,
      spec: {
        ports: [
          { port: 8080, endpoints: [{ clusterKey: K3 }] },
          { port: 9090, endpoints: [{ clusterKey: 'eu/a/default/c2' }] },
        ],
      },
    };
    const v = check(gtp({ lbType: 'FailOver', targets: [{ clusterKey: 'eu/a/default/c2' }, { clusterKey: K3 }] }), { state: [twoPorts] });
    expect(v).toMatchObject({ allowed: true, errors: [], warnings: [] });
  });

  it('denies every key when the ServiceImport has no endpoints at all', () => {
    const empty: KubeObject = { ...seedServiceImport, spec: { ports: [{ port: 8080, endpoints: null }] } };
    const v = check(gtp({ lbType: 'FailOver', targets: [{ clusterKey: K1 }] }), { state: [empty] });
    expect(causes(v)).toEqual([
      `spec.targets[0].clusterKey: cluster ${K1} does not export this service: ServiceImport httpbin/httpbin has no endpoints from any cluster; traffic for this target would be dropped`,
    ]);
  });

  it('matches across groups: a flomesh.io GTP against a multicluster.flomesh.io ServiceImport', () => {
    const fsmImport: KubeObject = { ...seedServiceImport, apiVersion: 'multicluster.flomesh.io/v1alpha1' };
    const ok = check(gtp({ lbType: 'FailOver', targets: [{ clusterKey: K1 }] }, 'flomesh.io/v1alpha1'), { state: [fsmImport] });
    expect(ok).toMatchObject({ allowed: true, errors: [], warnings: [] });
    const bad = check(gtp({ lbType: 'FailOver', targets: [{ clusterKey: K9 }] }, 'flomesh.io/v1alpha1'), { state: [fsmImport] });
    expect(causes(bad)).toEqual([
      `spec.targets[0].clusterKey: cluster ${K9} does not export this service: ServiceImport httpbin/httpbin has endpoints only from ${K1}, ${K3}; traffic for this target would be dropped`,
    ]);
  });

  it('ignores a ServiceImport of the same name in another namespace', () => {
    const elsewhere: KubeObject = { ...seedServiceImport, metadata: { name: 'httpbin', namespace: 'other' } };
    const v = check(gtp({ lbType: 'FailOver', targets: [{ clusterKey: K9 }] }), { state: [elsewhere, seedService] });
    expect(v.allowed).toBe(true);
    expect(v.warnings).toEqual([UNVERIFIED(K9)]);
  });

  it('prefers the ServiceImport over the Clusters when both are known', () => {
    const state = [seedServiceImport, cluster('c9')];
    const v = check(gtp({ lbType: 'FailOver', targets: [{ clusterKey: K9 }] }), { state });
    expect(causes(v)).toEqual([
      `spec.targets[0].clusterKey: cluster ${K9} does not export this service: ServiceImport httpbin/httpbin has endpoints only from ${K1}, ${K3}; traffic for this target would be dropped`,
    ]);
  });

  it('without a ServiceImport, denies a key no Cluster has, listing the Cluster keys (region/zone/group defaulted)', () => {
    const state = [seedService, cluster('cluster-3'), cluster('cluster-1', { region: 'eu', zone: '' }), cluster('c2', { region: 'us', zone: 'east', group: 'prod' })];
    const v = check(gtp({ lbType: 'ActiveActive', targets: [{ clusterKey: 'eu/default/default/cluster-1' }, { clusterKey: K1 }] }), { state });
    expect(causes(v)).toEqual([
      `spec.targets[1].clusterKey: no Cluster has the key ${K1} (known Cluster keys: ${K3}, eu/default/default/cluster-1, us/east/prod/c2); traffic for this target would be dropped`,
    ]);
    expect(v.warnings).toEqual([]);
  });

  it('warns, naming the keys, when there is neither a ServiceImport nor a Cluster to check against', () => {
    const v = check(seedGtp('ActiveActive'), { state: [seedService] });
    expect(v).toMatchObject({ allowed: true, errors: [] });
    expect(v.warnings).toEqual([UNVERIFIED(`${K1}, ${K3}`)]);
  });

  it('warns that the policy governs nothing when no Service or ServiceImport has its name', () => {
    const v = check(seedGtp('ActiveActive'), { state: [{ ...seedService, metadata: { name: 'httpbin-cluster-1', namespace: 'httpbin' } }] });
    expect(v).toMatchObject({ allowed: true, errors: [] });
    expect(v.warnings).toEqual([UNVERIFIED(`${K1}, ${K3}`), GOVERNS_NOTHING]);
  });

  it('warns that the policy governs nothing, but still checks keys against Clusters', () => {
    const v = check(seedGtp('FailOver'), { state: [cluster('cluster-1'), cluster('cluster-3')] });
    expect(v).toMatchObject({ allowed: true, errors: [] });
    expect(v.warnings).toEqual([GOVERNS_NOTHING]);
  });

  it('does not need a Service when the ServiceImport exists', () => {
    expect(check(seedGtp('FailOver'), { state: [seedServiceImport] })).toMatchObject({ allowed: true, warnings: [] });
  });

  it('caps a long list of exporting keys', () => {
    const keys = Array.from({ length: 12 }, (_, i) => `default/default/default/c${String(i).padStart(2, '0')}`);
    const big: KubeObject = { ...seedServiceImport, spec: { ports: [{ port: 8080, endpoints: keys.map((clusterKey) => ({ clusterKey })) }] } };
    const v = check(gtp({ lbType: 'FailOver', targets: [{ clusterKey: K9 }] }), { state: [big] });
    expect(causes(v)).toEqual([
      `spec.targets[0].clusterKey: cluster ${K9} does not export this service: ServiceImport httpbin/httpbin has endpoints only from ${keys.slice(0, 10).join(', ')} (and 2 more); traffic for this target would be dropped`,
    ]);
  });
});

describe('clusterKeyOf', () => {
  it.each([
    [{}, 'default/default/default/c1'],
    [{ region: 'eu', zone: 'west', group: 'prod' }, 'eu/west/prod/c1'],
    [{ region: '', zone: 7, group: 'g' }, 'default/default/g/c1'],
  ])('keys %j as %s', (spec, key) => {
    expect(clusterKeyOf({ kind: 'Cluster', metadata: { name: 'c1' }, spec })).toBe(key);
  });

  it('survives a Cluster without spec', () => {
    expect(clusterKeyOf({ kind: 'Cluster', metadata: { name: 'c1' } })).toBe('default/default/default/c1');
  });
});
