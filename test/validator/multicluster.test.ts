import { fixtureObject } from '../support/fixtures.js';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import type { KubeObject } from '../../src/mesh/objects.js';
import { causes, check } from './helpers.js';

const fixtureExport = fixtureObject<KubeObject>('serviceexport-create.json');

// Seed 002: the httpbin Service of cluster-1 and the two ServiceExports of each guide (serviceAccountName "httpbin"
// in the access-control guide, "*" in the discovery guide).
const seedService = parse(`
apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: httpbin}
spec:
  ports:
  - {port: 8080, targetPort: 8080, protocol: TCP}
  selector: {app: pipy}
`) as KubeObject;

const seedExports = (serviceAccountName: string): KubeObject[] =>
  parseAllDocuments(`
apiVersion: flomesh.io/v1alpha1
kind: ServiceExport
metadata: {namespace: httpbin, name: httpbin}
spec:
  serviceAccountName: "${serviceAccountName}"
  rules:
  - portNumber: 8080
    path: "/cluster-1/httpbin-mesh"
    pathType: Prefix
---
apiVersion: flomesh.io/v1alpha1
kind: ServiceExport
metadata: {namespace: httpbin, name: httpbin-cluster-1}
spec:
  serviceAccountName: "${serviceAccountName}"
  rules:
  - portNumber: 8080
    path: "/cluster-1/httpbin-mesh-cluster-1"
    pathType: Prefix
`).map((d) => d.toJS() as KubeObject);

const seedServices = [seedService, { ...seedService, metadata: { name: 'httpbin-cluster-1', namespace: 'httpbin' } }];

const serviceExport = (spec: unknown, name = 'httpbin'): KubeObject => ({
  apiVersion: 'multicluster.flomesh.io/v1alpha1',
  kind: 'ServiceExport',
  metadata: { name, namespace: 'httpbin' },
  spec,
});

const rule = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ portNumber: 8080, path: '/httpbin', pathType: 'Prefix', ...extra });

describe('ServiceExport', () => {
  it.each(['httpbin', '*'])('admits both seed 002 exports with serviceAccountName %j once the Services exist', (sa) => {
    for (const obj of seedExports(sa)) expect(check(obj, { state: seedServices })).toMatchObject({ allowed: true, errors: [], warnings: [] });
  });

  it('admits the real AdmissionReview object (loadBalancer defaulted by the CRD)', () => {
    expect(check(fixtureExport, { state: [seedService] })).toMatchObject({ allowed: true, errors: [], warnings: [] });
  });

  it('warns (apply order may race) when the Service is missing, keeping FSM\'s "not found" wording', () => {
    const v = check(fixtureExport);
    expect(v).toMatchObject({ allowed: true, errors: [] });
    expect(v.warnings).toEqual(['metadata.name: Service httpbin/httpbin not found: the export stays invalid until that Service exists']);
  });

  it('denies exporting an ExternalName Service (FSM\'s status text kept)', () => {
    const external: KubeObject = { ...seedService, spec: { type: 'ExternalName', externalName: 'httpbin.example.com' } };
    const v = check(serviceExport({ rules: [rule()] }), { state: [external] });
    expect(causes(v)).toEqual([
      'metadata.name: Type of Service httpbin/httpbin is ExternalName, cannot be exported. It has no endpoints in this cluster that other clusters could reach',
      'spec.rules[0].portNumber: port 8080 is not a port of Service httpbin/httpbin (it has no ports)',
    ]);
  });

  it.each([[0], [70000], [80.5], ['8080']])('denies portNumber %j', (portNumber) => {
    const v = check(serviceExport({ rules: [rule({ portNumber })] }), { state: [seedService] });
    expect(causes(v)).toEqual([`spec.rules[0].portNumber: Invalid value: ${JSON.stringify(portNumber)}: must be an integer between 1 and 65535`]);
  });

  it('accepts ports 1 and 65535 when the Service has them', () => {
    const svc: KubeObject = { ...seedService, spec: { ports: [{ port: 1 }, { port: 65535 }] } };
    const v = check(serviceExport({ rules: [rule({ portNumber: 1, path: '/a' }), rule({ portNumber: 65535, path: '/b' })] }), { state: [svc] });
    expect(v).toMatchObject({ allowed: true, errors: [], warnings: [] });
  });

  it('denies a port the Service does not have, naming its ports', () => {
    const svc: KubeObject = { ...seedService, spec: { ports: [{ port: 8080 }, { port: 9090, name: 'grpc' }] } };
    const v = check(serviceExport({ rules: [rule({ portNumber: 8000 })] }), { state: [svc] });
    expect(causes(v)).toEqual(['spec.rules[0].portNumber: port 8000 is not a port of Service httpbin/httpbin (its ports: 8080, 9090)']);
  });

  it('does not check ports against a Service that is not there yet', () => {
    const v = check(serviceExport({ rules: [rule({ portNumber: 8000 })] }));
    expect(v.allowed).toBe(true);
  });

  it('requires portNumber and pathType, and path for Prefix', () => {
    const v = check(serviceExport({ rules: [{ path: '/x' }, { portNumber: 8080, pathType: 'Prefix' }, { portNumber: 8080, pathType: 'Exact', path: '' }] }), {
      state: [seedService],
    });
    expect(causes(v)).toEqual([
      'spec.rules[0].portNumber: Required value: the Service port to export',
      'spec.rules[0].pathType: Required value',
      'spec.rules[1].path: Required value: required for pathType Prefix',
      'spec.rules[2].path: Required value: required for pathType Exact',
    ]);
  });

  it('denies a pathType outside Exact|Prefix and a relative or non-string path', () => {
    const v = check(serviceExport({ rules: [rule({ pathType: 'ImplementationSpecific' }), rule({ path: 'httpbin' }), rule({ path: 5 })] }), {
      state: [seedService],
    });
    expect(causes(v)).toEqual([
      'spec.rules[0].pathType: Unsupported value: "ImplementationSpecific": supported values: "Exact", "Prefix"',
      "spec.rules[1].path: Invalid value: \"httpbin\": must be an absolute path starting with '/'",
      "spec.rules[2].path: Invalid value: 5: must be an absolute path starting with '/'",
    ]);
  });

  it('denies the same (path, pathType) twice but allows the same path with another pathType', () => {
    const v = check(serviceExport({ rules: [rule(), rule({ pathType: 'Exact' }), rule({ portNumber: 8080 })] }), { state: [seedService] });
    expect(causes(v)).toEqual(['spec.rules[2].path: Duplicate value: "/httpbin": the same path and pathType Prefix as spec.rules[0]']);
  });

  it('denies an empty rules list and rules that are not a list or not objects', () => {
    expect(causes(check(serviceExport({ rules: [] }), { state: [seedService] }))).toEqual(['spec.rules: Required value: must have at least 1 item']);
    expect(causes(check(serviceExport({ rules: { portNumber: 8080 } }), { state: [seedService] }))).toEqual([
      'spec.rules: Invalid value: {"portNumber":8080}: must be a list',
    ]);
    expect(causes(check(serviceExport({ rules: [8080] }), { state: [seedService] }))).toEqual([
      'spec.rules[0]: Invalid value: 8080: must be an object with portNumber, path and pathType',
    ]);
  });

  it('admits an export without rules (the field is optional)', () => {
    expect(check(serviceExport({ serviceAccountName: 'httpbin' }), { state: [seedService] })).toMatchObject({ allowed: true, warnings: [] });
  });

  it('requires pathRewrite.from when pathRewrite.to is set', () => {
    const ok = check(serviceExport({ rules: [rule()], pathRewrite: { from: '/httpbin', to: '/' } }), { state: [seedService] });
    expect(ok.allowed).toBe(true);
    const v = check(serviceExport({ rules: [rule()], pathRewrite: { to: '/' } }), { state: [seedService] });
    expect(causes(v)).toEqual(['spec.pathRewrite.from: Required value: the path prefix to replace must be set when spec.pathRewrite.to is set']);
    const bad = check(serviceExport({ rules: [rule()], pathRewrite: { from: 1, to: '/' } }), { state: [seedService] });
    expect(causes(bad)).toEqual(['spec.pathRewrite.from: Invalid value: 1: must be a string']);
    expect(causes(check(serviceExport({ rules: [rule()], pathRewrite: '/' }), { state: [seedService] }))).toEqual([
      'spec.pathRewrite: Invalid value: "/": must be an object with from and to',
    ]);
  });

  it.each([['Foo_Bar'], ['HTTPBIN'], ['-sa'], [42]])('denies serviceAccountName %j', (sa) => {
    const v = check(serviceExport({ rules: [rule()], serviceAccountName: sa }), { state: [seedService] });
    expect(causes(v)).toEqual([
      `spec.serviceAccountName: Invalid value: ${JSON.stringify(sa)}: must be a lowercase RFC 1123 subdomain (dot-separated labels of a-z, 0-9 and '-', at most 253 characters)`,
    ]);
  });

  it('denies an unknown loadBalancer and a non-boolean sessionSticky', () => {
    const v = check(serviceExport({ rules: [rule()], loadBalancer: 'RandomLoadBalancer', sessionSticky: 'true' }), { state: [seedService] });
    expect(causes(v)).toEqual([
      'spec.loadBalancer: Unsupported value: "RandomLoadBalancer": supported values: "RoundRobinLoadBalancer", "HashingLoadBalancer", "LeastWorkLoadBalancer"',
      'spec.sessionSticky: Invalid value: "true": must be a boolean (true or false)',
    ]);
  });

  it('admits HashingLoadBalancer with sessionSticky true', () => {
    const v = check(serviceExport({ rules: [rule()], loadBalancer: 'HashingLoadBalancer', sessionSticky: true }), { state: [seedService] });
    expect(v).toMatchObject({ allowed: true, warnings: [] });
  });

  it('checks targetClusters keys and warns that FSM ignores the field', () => {
    const v = check(serviceExport({ rules: [rule()], targetClusters: ['default/default/default/cluster-1', 'cluster-2'] }), { state: [seedService] });
    expect(causes(v)).toEqual([
      "spec.targetClusters[1]: Invalid value: \"cluster-2\": must be region/zone/group/cluster: exactly four non-empty '/'-separated segments, each a lowercase RFC 1123 label (e.g. default/default/default/cluster-1)",
    ]);
    expect(v.warnings).toEqual([
      'spec.targetClusters: FSM ignores targetClusters: every cluster in the cluster set imports this service; choose clusters with a GlobalTrafficPolicy on the importing side',
    ]);
    expect(check(serviceExport({ rules: [rule()], targetClusters: [] }), { state: [seedService] }).warnings).toEqual([]);
  });

  it('never throws on a spec of the wrong shape', () => {
    expect(causes(check(serviceExport(['rules']), { state: [seedService] }))).toEqual(['spec: Invalid value: ["rules"]: must be an object']);
    expect(check(serviceExport(null), { state: [seedService] })).toMatchObject({ allowed: true, errors: [] });
  });
});

// ---------------------------------------------------------------------------------------------------------------

// Seed 002: the ServiceImport the controllers wrote into cluster-2 (discovery guide; serviceAccountName "*").
const seedImport = parse(`
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

const serviceImport = (spec: unknown): KubeObject => ({
  apiVersion: 'multicluster.flomesh.io/v1alpha1',
  kind: 'ServiceImport',
  metadata: { name: 'httpbin', namespace: 'httpbin' },
  spec,
});

const endpoint = (target: Record<string, unknown> = {}, clusterKey: unknown = 'default/default/default/cluster-1'): Record<string, unknown> => ({
  clusterKey,
  target: { host: 'gw.example.com', ip: '10.0.0.1', path: '/c1/httpbin', port: 81, ...target },
});

describe('ServiceImport', () => {
  it('admits the seed 002 ServiceImport, also with serviceAccountName httpbin', () => {
    expect(check(seedImport)).toMatchObject({ allowed: true, errors: [], warnings: [] });
    expect(check({ ...seedImport, spec: { ...(seedImport.spec as object), serviceAccountName: 'httpbin' } })).toMatchObject({ allowed: true });
  });

  it('admits a full, valid import (IPv6 endpoint, one ClusterSet IP, ClientIP affinity bounds)', () => {
    for (const timeoutSeconds of [1, 86400]) {
      const v = check(
        serviceImport({
          ports: [{ port: 8080, appProtocol: 'grpc', endpoints: [endpoint({ ip: 'fd00::1' })] }, { port: 3306, appProtocol: 'tcp-server-first', endpoints: null }],
          ips: ['10.96.0.10'],
          type: 'Headless',
          sessionAffinity: 'ClientIP',
          sessionAffinityConfig: { clientIP: { timeoutSeconds } },
        }),
      );
      expect(v).toMatchObject({ allowed: true, errors: [], warnings: [] });
    }
  });

  it('requires at least one port', () => {
    expect(causes(check(serviceImport({})))).toEqual(['spec.ports: Required value']);
    expect(causes(check(serviceImport({ ports: [] })))).toEqual(['spec.ports: Required value: must have at least 1 item']);
  });

  it('denies ports out of range, missing, or listed twice', () => {
    const v = check(serviceImport({ ports: [{ port: 0, endpoints: [] }, { endpoints: [] }, { port: 8080 }, { port: 8080 }, { port: 65536 }] }));
    expect(causes(v)).toEqual([
      'spec.ports[0].port: Invalid value: 0: must be an integer between 1 and 65535',
      'spec.ports[1].port: Required value',
      'spec.ports[4].port: Invalid value: 65536: must be an integer between 1 and 65535',
      'spec.ports[3].port: Duplicate value: 8080: also at spec.ports[2].port',
    ]);
  });

  it('denies an appProtocol the mesh does not route, and a protocol outside TCP|UDP|SCTP', () => {
    const v = check(serviceImport({ ports: [{ port: 80, appProtocol: 'HTTP', protocol: 'tcp', endpoints: [] }, { port: 81, appProtocol: 'kubernetes.io/h2c' }] }));
    expect(causes(v)).toEqual([
      'spec.ports[0].protocol: Unsupported value: "tcp": supported values: "TCP", "UDP", "SCTP"',
      'spec.ports[0].appProtocol: Unsupported value: "HTTP": supported values: "http", "https", "tcp", "tcp-server-first", "grpc"',
      'spec.ports[1].appProtocol: Unsupported value: "kubernetes.io/h2c": supported values: "http", "https", "tcp", "tcp-server-first", "grpc"',
    ]);
  });

  it('checks endpoint keys, IPs, ports and field types', () => {
    const v = check(
      serviceImport({
        ports: [
          {
            port: 8080,
            endpoints: [
              endpoint({ ip: '192.168.1.300' }, 'default/default/cluster-1'),
              endpoint({ ip: 'gw.example.com', port: 0 }),
              endpoint({ ip: 'fe80::1%eth0', host: 5, path: ['/'] }),
              endpoint({ ip: undefined, port: undefined }, null),
              { clusterKey: 'default/default/default/c4' },
              'default/default/default/c5',
            ],
          },
        ],
      }),
    );
    expect(causes(v)).toEqual([
      "spec.ports[0].endpoints[0].clusterKey: Invalid value: \"default/default/cluster-1\": must be region/zone/group/cluster: exactly four non-empty '/'-separated segments, each a lowercase RFC 1123 label (e.g. default/default/default/cluster-1)",
      'spec.ports[0].endpoints[0].target.ip: Invalid value: "192.168.1.300": must be an IPv4 or IPv6 address',
      'spec.ports[0].endpoints[1].target.ip: Invalid value: "gw.example.com": must be an IPv4 or IPv6 address',
      'spec.ports[0].endpoints[1].target.port: Invalid value: 0: must be an integer between 1 and 65535',
      'spec.ports[0].endpoints[2].target.ip: Invalid value: "fe80::1%eth0": must be an IPv4 or IPv6 address',
      'spec.ports[0].endpoints[2].target.host: Invalid value: 5: must be a string',
      'spec.ports[0].endpoints[2].target.path: Invalid value: ["/"]: must be a string',
      'spec.ports[0].endpoints[3].clusterKey: Required value: region/zone/group/cluster of the cluster (e.g. default/default/default/cluster-1)',
      'spec.ports[0].endpoints[3].target.ip: Required value',
      'spec.ports[0].endpoints[3].target.port: Required value',
      'spec.ports[0].endpoints[4].target: Required value',
      'spec.ports[0].endpoints[5]: Invalid value: "default/default/default/c5": must be an object with clusterKey and target',
    ]);
  });

  it('denies more than one IP, IPs that are not addresses, and ips that is not a list', () => {
    expect(causes(check(serviceImport({ ports: [{ port: 80 }], ips: ['10.0.0.1', '10.0.0.2'] })))).toEqual([
      'spec.ips: Invalid value: ["10.0.0.1","10.0.0.2"]: must have at most 1 item (the ClusterSet IP)',
    ]);
    expect(causes(check(serviceImport({ ports: [{ port: 80 }], ips: ['10.0.0.0/24'] })))).toEqual([
      'spec.ips[0]: Invalid value: "10.0.0.0/24": must be an IPv4 or IPv6 address',
    ]);
    expect(causes(check(serviceImport({ ports: [{ port: 80 }], ips: '10.0.0.1' })))).toEqual(['spec.ips: Invalid value: "10.0.0.1": must be a list']);
  });

  it('denies type, sessionAffinity and timeoutSeconds outside their ranges', () => {
    const v = check(
      serviceImport({ ports: [{ port: 80 }], type: 'ClusterIP', sessionAffinity: 'Cookie', sessionAffinityConfig: { clientIP: { timeoutSeconds: 86401 } } }),
    );
    expect(causes(v)).toEqual([
      'spec.type: Unsupported value: "ClusterIP": supported values: "ClusterSetIP", "Headless"',
      'spec.sessionAffinity: Unsupported value: "Cookie": supported values: "None", "ClientIP"',
      'spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 86401: must be an integer between 1 and 86400',
    ]);
    expect(causes(check(serviceImport({ ports: [{ port: 80 }], sessionAffinityConfig: { clientIP: { timeoutSeconds: 0 } } })))).toEqual([
      'spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 0: must be an integer between 1 and 86400',
    ]);
  });

  it('denies an invalid serviceAccountName', () => {
    expect(causes(check(serviceImport({ ports: [{ port: 80 }], serviceAccountName: 'Foo_Bar' })))).toEqual([
      "spec.serviceAccountName: Invalid value: \"Foo_Bar\": must be a lowercase RFC 1123 subdomain (dot-separated labels of a-z, 0-9 and '-', at most 253 characters)",
    ]);
  });
});

// ---------------------------------------------------------------------------------------------------------------

const KUBECONFIG = 'apiVersion: v1\nkind: Config\nclusters:\n- cluster: {server: "https://192.168.1.110:6445"}\n  name: k3d-cluster-1\n';
const PLAIN_TEXT =
  'spec.kubeconfig: kubeconfig is stored in plain text in this Cluster object: anyone who can read Clusters gets these credentials; restrict RBAC accordingly';

// Seed 002: the Clusters enrolled in the control-plane cluster (gatewayPort 81..83, kubeconfig inline).
const seedClusters: KubeObject[] = [1, 2, 3].map(
  (i) =>
    parse(`
apiVersion: flomesh.io/v1alpha1
kind: Cluster
metadata:
  name: cluster-${i}
spec:
  gatewayHost: 192.168.1.110
  gatewayPort: ${80 + i}
  fsmMeshConfigName: fsm-system
  kubeconfig: |+
${KUBECONFIG.split('\n')
  .map((l) => `    ${l}`)
  .join('\n')}
`) as KubeObject,
);

const clusterObj = (spec: unknown, labels?: Record<string, string>, name = 'cluster-1'): KubeObject => ({
  apiVersion: 'multicluster.flomesh.io/v1alpha1',
  kind: 'Cluster',
  metadata: labels ? { name, labels } : { name },
  spec,
});

const remote = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  gatewayHost: 'gw.cluster-1.example.com',
  gatewayPort: 80,
  kubeconfig: KUBECONFIG,
  fsmNamespace: 'fsm-system',
  ...extra,
});

describe('Cluster', () => {
  it('admits the seed 002 Clusters, warning that the kubeconfig is stored in plain text', () => {
    for (const c of seedClusters) {
      const v = check(c, { state: seedClusters });
      expect(v).toMatchObject({ allowed: true, errors: [] });
      expect(v.warnings).toEqual([PLAIN_TEXT]);
    }
  });

  it('requires gatewayHost and kubeconfig for a remote (OutCluster) Cluster, keeping FSM wording', () => {
    const v = check(clusterObj({ gatewayPort: 80 }));
    expect(causes(v)).toEqual([
      'spec.gatewayHost: Required value: GatewayHost is required in OutCluster mode (other clusters reach this cluster through its gateway)',
      'spec.kubeconfig: Required value: kubeconfig must be set in OutCluster mode',
    ]);
    expect(causes(check(clusterObj(null)))).toEqual([
      'spec.gatewayHost: Required value: GatewayHost is required in OutCluster mode (other clusters reach this cluster through its gateway)',
      'spec.kubeconfig: Required value: kubeconfig must be set in OutCluster mode',
    ]);
  });

  it('treats a Cluster as local when spec.isInCluster is true or the connector-mode label is local', () => {
    expect(check(clusterObj({ isInCluster: true }))).toMatchObject({ allowed: true, errors: [], warnings: [] });
    expect(check(clusterObj({}, { 'multicluster.flomesh.io/connector-mode': 'local' }))).toMatchObject({ allowed: true, errors: [] });
    expect(check(clusterObj(remote(), { 'multicluster.flomesh.io/connector-mode': 'remote' }))).toMatchObject({ allowed: true, warnings: [PLAIN_TEXT] });
  });

  it('denies a connector-mode label that is unknown or contradicts spec.isInCluster (fsm-classic texts)', () => {
    expect(causes(check(clusterObj(remote(), { 'multicluster.flomesh.io/connector-mode': 'Remote' })))).toEqual([
      'metadata.labels[multicluster.flomesh.io/connector-mode]: Invalid value: "Remote": invalid value "Remote" for label multicluster.flomesh.io/connector-mode, must be either \'local\' or \'remote\'',
    ]);
    expect(causes(check(clusterObj(remote({ isInCluster: true }), { 'multicluster.flomesh.io/connector-mode': 'remote' })))).toEqual([
      "metadata.labels[multicluster.flomesh.io/connector-mode]: label and spec doesn't match: multicluster.flomesh.io/connector-mode=remote, spec.IsInCluster=true",
    ]);
    expect(causes(check(clusterObj({ isInCluster: false }, { 'multicluster.flomesh.io/connector-mode': 'local' })))).toEqual([
      "metadata.labels[multicluster.flomesh.io/connector-mode]: label and spec doesn't match: multicluster.flomesh.io/connector-mode=local, spec.IsInCluster=false",
    ]);
    expect(causes(check(clusterObj(remote({ isInCluster: 'yes' }))))).toEqual(['spec.isInCluster: Invalid value: "yes": must be a boolean (true or false)']);
  });

  it.each([
    ['127.0.0.1'],
    ['127.10.0.5'],
    ['0.0.0.0'],
    ['::1'],
    ['::'],
    ['::ffff:127.0.0.1'],
    ['localhost'],
    ['gw.localhost'],
  ])('denies gatewayHost %s (loopback/unspecified, FSM wording, no DNS lookup)', (host) => {
    expect(causes(check(clusterObj(remote({ gatewayHost: host }))))).toEqual([
      `spec.gatewayHost: Invalid value: "${host}": gateway Host ${host} is resolved to Loopback IP or Unspecified, which other clusters cannot reach`,
    ]);
  });

  it.each([['192.168.1.110'], ['fd00::10'], ['gw.example.com'], ['nonexistent.invalid']])('admits gatewayHost %s without resolving it', (host) => {
    expect(check(clusterObj(remote({ gatewayHost: host })))).toMatchObject({ allowed: true, errors: [] });
  });

  it.each([['Gateway.Example.com'], ['gw_1.example.com'], ['gw.example.com:80'], ['https://gw.example.com'], [8080]])(
    'denies gatewayHost %j as an invalid DNS name',
    (host) => {
      expect(causes(check(clusterObj(remote({ gatewayHost: host }))))).toEqual([
        `spec.gatewayHost: Invalid value: ${JSON.stringify(host)}: invalid DNS name ${JSON.stringify(host)}: must be an IP address or a lowercase RFC 1123 subdomain`,
      ]);
    },
  );

  it.each([[0], [65536], [-1], [80.5], ['80']])('denies gatewayPort %j (FSM wording)', (port) => {
    expect(causes(check(clusterObj(remote({ gatewayPort: port }))))).toEqual([
      `spec.gatewayPort: Invalid value: ${JSON.stringify(port)}: invalid port number ${JSON.stringify(port)}: must be an integer between 1 and 65535`,
    ]);
  });

  it('admits gatewayPort 1 and 65535, and an absent port (CRD default 80)', () => {
    for (const gatewayPort of [1, 65535, undefined]) expect(check(clusterObj(remote({ gatewayPort })))).toMatchObject({ allowed: true, errors: [] });
  });

  it('denies a kubeconfig that is not a string', () => {
    expect(causes(check(clusterObj(remote({ kubeconfig: { apiVersion: 'v1' } }))))).toEqual([
      'spec.kubeconfig: Invalid value: {"apiVersion":"v1"}: must be a string (the kubeconfig file content)',
    ]);
  });

  it('checks region/zone/group as RFC 1123 labels, and fsmNamespace / fsmMeshConfigName', () => {
    const v = check(clusterObj(remote({ region: 'us-east/1', zone: 'A', group: 'default', fsmNamespace: 'fsm.system', fsmMeshConfigName: 'Fsm_Mesh' })));
    const label = "must be a lowercase RFC 1123 label (a-z, 0-9 and '-', starting and ending with an alphanumeric character, at most 63 characters)";
    expect(causes(v)).toEqual([
      `spec.region: Invalid value: "us-east/1": ${label}`,
      `spec.zone: Invalid value: "A": ${label}`,
      `spec.fsmNamespace: Invalid value: "fsm.system": ${label}`,
      "spec.fsmMeshConfigName: Invalid value: \"Fsm_Mesh\": must be a lowercase RFC 1123 subdomain (dot-separated labels of a-z, 0-9 and '-', at most 253 characters)",
    ]);
    expect(check(clusterObj(remote({ region: 'us-east-1', zone: '', group: 'prod' })))).toMatchObject({ allowed: true, errors: [] });
  });

  it('warns when the Cluster name cannot appear in a GlobalTrafficPolicy clusterKey', () => {
    const v = check(clusterObj(remote(), undefined, 'c1.example.com'));
    expect(v).toMatchObject({ allowed: true, errors: [] });
    expect(v.warnings).toEqual([
      PLAIN_TEXT,
      'metadata.name: cluster key default/default/default/c1.example.com cannot be referenced by GlobalTrafficPolicy targets, whose segments must be RFC 1123 labels (no dots)',
    ]);
  });

  it('never throws on a spec of the wrong shape', () => {
    // One cause: the fields of a spec that is not an object cannot be checked one by one.
    expect(causes(check(clusterObj('remote')))).toEqual(['spec: Invalid value: "remote": must be an object']);
  });
});
