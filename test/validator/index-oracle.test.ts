// The indexed rules against a brute-force oracle: over generated cluster states full of overlapping ServiceAccounts,
// ports, hosts, chains and plugins, every object gets exactly the verdict (same causes, fields, messages, warnings,
// in the same order) whether the rules ask the indexes for their candidates or are handed every object of the kind,
// as the full scans were.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryView } from '../../src/cluster/memory.js';
import type { ClusterView, IndexDef } from '../../src/cluster/view.js';
import { meshIdentity } from '../../src/mesh/flavor.js';
import { placeManifest } from '../../src/mesh/kinds.js';
import { gvkOf, type KubeObject } from '../../src/mesh/objects.js';
import { validate } from '../../src/validator/validate.js';

const mesh = meshIdentity('fsm');
const NUM_RUNS = 150;

/** Every index query answered with every object of the kind: what the rules saw before there were indexes. */
function scanning(view: ClusterView): ClusterView {
  return {
    ready: () => view.ready(),
    list: (kind, namespace) => view.list(kind, namespace),
    get: (kind, namespace, name) => view.get(kind, namespace, name),
    byIndex: (index: IndexDef) => view.list(index.kind),
  };
}

const NS = ['apps', 'db', 'web', 'outside'] as const;
const SA = ['apps/curl', 'db/client', 'web/front', 'apps/batch'] as const;
const PORTS = [80, 443, 3306, 5432] as const;
const EGRESS_PROTOCOLS = ['http', 'https', 'tcp', 'tcp-server-first', 'HTTP'] as const;
const PLUGINS = ['p1', 'p2', 'p3', 'p4'] as const;
const CHAINS = ['inbound-http', 'outbound-http', 'inbound-tcp', 'outbound-tcp', 'sideways'] as const;
const SERVICES = ['db/mysql', 'apps/api', 'web/front'] as const;

const ref = (s: string): { namespace: string; name: string } => ({ namespace: s.split('/')[0]!, name: s.split('/')[1]! });
const name = fc.constantFrom('a', 'b', 'c', 'd', 'e');
const ns = fc.constantFrom(...NS);

const egress = fc.record({ name, ns, sources: fc.subarray([...SA], { minLength: 1, maxLength: 2 }), ports: fc.array(fc.record({ number: fc.constantFrom(...PORTS), protocol: fc.constantFrom(...EGRESS_PROTOCOLS) }), { minLength: 1, maxLength: 3 }), hosts: fc.subarray(['a.example.com', 'b.example.com']) }).map(
  (e): KubeObject => ({
    apiVersion: 'policy.flomesh.io/v1alpha1',
    kind: 'Egress',
    metadata: { name: `eg-${e.name}`, namespace: e.ns },
    spec: { sources: e.sources.map((s) => ({ kind: 'ServiceAccount', ...ref(s) })), ports: e.ports, ...(e.hosts.length ? { hosts: e.hosts } : { ipAddresses: ['10.0.0.0/24'] }) },
  }),
);

const servicePort = fc.record({ port: fc.constantFrom(...PORTS), kind: fc.constantFrom('tcp-server-first-x', 'http-x', 'tcp-x', 'plain', 'app-sf', 'app-http') }).map(({ port, kind }) => {
  if (kind === 'app-sf') return { port, name: `p${port}`, appProtocol: 'tcp-server-first' };
  if (kind === 'app-http') return { port, name: `p${port}`, appProtocol: 'http' };
  if (kind === 'plain') return { port };
  return { port, name: `${kind.replace('-x', '')}-${port}` };
});
const service = fc.record({ name, ns, ports: fc.uniqueArray(servicePort, { minLength: 1, maxLength: 2, selector: (p) => p.port }) }).map(
  (s): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${s.name}`, namespace: s.ns }, spec: { ports: s.ports } }),
);

const plugin = fc.record({ name: fc.constantFrom(...PLUGINS), priority: fc.constantFrom(100, 110, 115, 120, 160) }).map(
  (p): KubeObject => ({ apiVersion: 'plugin.flomesh.io/v1alpha1', kind: 'Plugin', metadata: { name: p.name }, spec: { priority: p.priority, pipyscript: 'pipy()' } }),
);

const chain = fc.record({ name, ns, entries: fc.array(fc.record({ chain: fc.constantFrom(...CHAINS), plugins: fc.subarray([...PLUGINS], { minLength: 1 }) }), { minLength: 1, maxLength: 3 }) }).map(
  (c): KubeObject => ({
    apiVersion: 'plugin.flomesh.io/v1alpha1',
    kind: 'PluginChain',
    metadata: { name: `chain-${c.name}`, namespace: c.ns },
    spec: { chains: c.entries.map((e) => ({ name: e.chain, plugins: e.plugins })), selectors: { podSelector: { matchLabels: { app: 'x' } } } },
  }),
);

const pluginConfig = fc.record({ name, ns, plugin: fc.constantFrom(...PLUGINS), targets: fc.subarray([...SERVICES], { minLength: 1 }) }).map(
  (c): KubeObject => ({
    apiVersion: 'plugin.flomesh.io/v1alpha1',
    kind: 'PluginConfig',
    metadata: { name: `cfg-${c.name}`, namespace: c.ns },
    spec: { plugin: c.plugin, config: {}, destinationRefs: c.targets.map((t) => ({ kind: 'Service', ...ref(t) })) },
  }),
);

const accessControl = fc.record({ name, ns, backends: fc.subarray(['api', 'front']) }).map(
  (a): KubeObject => ({
    apiVersion: 'policy.flomesh.io/v1alpha1',
    kind: 'AccessControl',
    metadata: { name: `ac-${a.name}`, namespace: a.ns },
    spec: { backends: a.backends.map((b) => ({ name: b, port: { number: 80, protocol: 'http' } })), sources: [{ kind: 'Service', namespace: 'apps', name: 'api' }] },
  }),
);

const retry = fc.record({ name, ns, source: fc.constantFrom(...SA), targets: fc.subarray([...SERVICES], { minLength: 1 }) }).map(
  (r): KubeObject => ({
    apiVersion: 'policy.flomesh.io/v1alpha1',
    kind: 'Retry',
    metadata: { name: `retry-${r.name}`, namespace: r.ns },
    spec: { source: { kind: 'ServiceAccount', ...ref(r.source) }, destinations: r.targets.map((t) => ({ kind: 'Service', ...ref(t) })), retryPolicy: { retryOn: '5xx', perTryTimeout: '1s', numRetries: 3, retryBackoffBaseInterval: '1s' } },
  }),
);

const gateway = fc.record({ name, ns, global: fc.boolean() }).map(
  (g): KubeObject => ({
    apiVersion: 'policy.flomesh.io/v1alpha1',
    kind: 'EgressGateway',
    metadata: { name: `gw-${g.name}`, namespace: g.ns },
    spec: g.global ? { global: [{ service: 'egress-gw', namespace: 'fsm', weight: 100 }] } : { rules: [] },
  }),
);

// References by name: SMI routes and the objects naming them, multicluster keys, Services named by splits and exports.
const ROUTES = ['r1', 'r2'] as const;
const SVC_NAMES = ['mysql', 'api', 'front'] as const;
const KEYS = ['default/default/default/c1', 'default/default/default/c2', 'eu/default/default/c1'] as const;

const routeGroup = fc.record({ name: fc.constantFrom(...ROUTES), ns, matches: fc.subarray(['m1', 'm2'], { minLength: 1 }) }).map(
  (r): KubeObject => ({ apiVersion: 'specs.smi-spec.io/v1alpha4', kind: 'HTTPRouteGroup', metadata: { name: r.name, namespace: r.ns }, spec: { matches: r.matches.map((m) => ({ name: m, pathRegex: '.*' })) } }),
);
const tcpRoute = fc.record({ name: fc.constantFrom(...ROUTES), ns }).map(
  (r): KubeObject => ({ apiVersion: 'specs.smi-spec.io/v1alpha4', kind: 'TCPRoute', metadata: { name: r.name, namespace: r.ns }, spec: { matches: { ports: [80] } } }),
);
const trafficTarget = fc
  .record({ name, ns, rules: fc.array(fc.record({ kind: fc.constantFrom('HTTPRouteGroup', 'TCPRoute'), name: fc.constantFrom(...ROUTES), matches: fc.subarray(['m1', 'm2', 'm3']) }), { minLength: 1, maxLength: 3 }) })
  .map(
    (t): KubeObject => ({
      apiVersion: 'access.smi-spec.io/v1alpha3',
      kind: 'TrafficTarget',
      metadata: { name: `tt-${t.name}`, namespace: t.ns },
      spec: {
        destination: { kind: 'ServiceAccount', name: 'b', namespace: t.ns },
        sources: [{ kind: 'ServiceAccount', name: 'a', namespace: t.ns }],
        rules: t.rules.map((r) => (r.kind === 'TCPRoute' ? { kind: r.kind, name: r.name } : r)),
      },
    }),
  );
const trafficSplit = fc.record({ name, ns, apex: fc.constantFrom(...SVC_NAMES), backends: fc.subarray([...SVC_NAMES], { minLength: 1 }), matches: fc.subarray([...ROUTES]) }).map(
  (t): KubeObject => ({
    apiVersion: 'split.smi-spec.io/v1alpha4',
    kind: 'TrafficSplit',
    metadata: { name: `ts-${t.name}`, namespace: t.ns },
    spec: { service: t.apex, backends: t.backends.map((b) => ({ service: b, weight: 50 })), matches: t.matches.map((m) => ({ kind: 'HTTPRouteGroup', name: m })) },
  }),
);
const gtp = fc.record({ name: fc.constantFrom(...SVC_NAMES), ns, keys: fc.subarray([...KEYS], { minLength: 1 }) }).map(
  (g): KubeObject => ({ apiVersion: 'flomesh.io/v1alpha1', kind: 'GlobalTrafficPolicy', metadata: { name: g.name, namespace: g.ns }, spec: { lbType: 'ActiveActive', targets: g.keys.map((clusterKey) => ({ clusterKey, weight: 10 })) } }),
);
const cluster = fc.record({ name: fc.constantFrom('c1', 'c2'), region: fc.constantFrom('default', 'eu') }).map(
  (c): KubeObject => ({ apiVersion: 'flomesh.io/v1alpha1', kind: 'Cluster', metadata: { name: c.name }, spec: { region: c.region, gatewayHost: 'gw.example', gatewayPort: 80 } }),
);
const serviceImport = fc.record({ name: fc.constantFrom(...SVC_NAMES), ns, keys: fc.subarray([...KEYS]) }).map(
  (i): KubeObject => ({
    apiVersion: 'flomesh.io/v1alpha1',
    kind: 'ServiceImport',
    metadata: { name: i.name, namespace: i.ns },
    spec: { type: 'ClusterSetIP', ports: [{ port: 80, protocol: 'TCP', endpoints: i.keys.map((clusterKey) => ({ clusterKey, target: { host: 'h', ip: '10.0.0.1', port: 80 } })) }] },
  }),
);
const namedService = fc.record({ name: fc.constantFrom(...SVC_NAMES), ns, ports: fc.subarray([80, 8080], { minLength: 1 }) }).map(
  (s): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: s.name, namespace: s.ns }, spec: { ports: s.ports.map((port) => ({ port })) } }),
);
const serviceExport = fc.record({ name: fc.constantFrom(...SVC_NAMES), ns, ports: fc.subarray([80, 8080], { minLength: 1 }) }).map(
  (e): KubeObject => ({ apiVersion: 'flomesh.io/v1alpha1', kind: 'ServiceExport', metadata: { name: e.name, namespace: e.ns }, spec: { rules: e.ports.map((portNumber) => ({ portNumber, path: '/', pathType: 'Prefix' })) } }),
);

const ingressBackend = fc.record({ name, ns, backends: fc.array(fc.record({ name: fc.constantFrom(...SVC_NAMES), port: fc.constantFrom(80, 8080) }), { minLength: 1, maxLength: 2 }) }).map(
  (b): KubeObject => ({
    apiVersion: 'policy.flomesh.io/v1alpha1',
    kind: 'IngressBackend',
    metadata: { name: `ib-${b.name}`, namespace: b.ns },
    spec: { backends: b.backends.map((x) => ({ name: x.name, port: { number: x.port, protocol: 'http' } })), sources: [{ kind: 'Service', namespace: 'apps', name: 'ingress' }] },
  }),
);
const upstream = fc.record({ name, ns, host: fc.constantFrom('mysql.db', 'mysql.db.svc', 'mysql.db.svc.cluster.local', 'api.apps', 'example.com', 'x.y.svc.other') }).map(
  (u): KubeObject => ({ apiVersion: 'policy.flomesh.io/v1alpha1', kind: 'UpstreamTrafficSetting', metadata: { name: `uts-${u.name}`, namespace: u.ns }, spec: { host: u.host } }),
);
const utsEgress = fc.record({ name, ns, uts: fc.constantFrom('uts-a', 'uts-b') }).map(
  (e): KubeObject => ({
    apiVersion: 'policy.flomesh.io/v1alpha1',
    kind: 'Egress',
    metadata: { name: `eu-${e.name}`, namespace: e.ns },
    spec: { sources: [{ kind: 'ServiceAccount', namespace: e.ns, name: 'x' }], hosts: ['u.example.com'], ports: [{ number: 80, protocol: 'http' }], matches: [{ apiGroup: 'policy.flomesh.io/v1alpha1', kind: 'UpstreamTrafficSetting', name: e.uts }] },
  }),
);

const references = fc
  .tuple(
    fc.array(ingressBackend, { maxLength: 3 }),
    fc.array(upstream, { maxLength: 3 }),
    fc.array(utsEgress, { maxLength: 2 }),
    fc.array(routeGroup, { maxLength: 3 }),
    fc.array(tcpRoute, { maxLength: 2 }),
    fc.array(trafficTarget, { maxLength: 4 }),
    fc.array(trafficSplit, { maxLength: 3 }),
    fc.array(gtp, { maxLength: 3 }),
    fc.array(cluster, { maxLength: 2 }),
    fc.array(serviceImport, { maxLength: 3 }),
    fc.array(namedService, { maxLength: 4 }),
    fc.array(serviceExport, { maxLength: 2 }),
  )
  .map((groups) => groups.flat());

const state = fc
  .tuple(
    fc.array(egress, { maxLength: 8 }),
    fc.array(service, { maxLength: 5 }),
    fc.array(plugin, { maxLength: 4 }),
    fc.array(chain, { maxLength: 5 }),
    fc.array(pluginConfig, { maxLength: 4 }),
    fc.array(accessControl, { maxLength: 4 }),
    fc.array(retry, { maxLength: 4 }),
    fc.array(gateway, { maxLength: 3 }),
    fc.boolean(),
    references,
  )
  .map(([eg, svc, pl, ch, cfg, ac, rt, gw, permissive, refs]) => [
    ...NS.filter((n) => n !== 'outside').map((n): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: n, labels: { 'flomesh.io/monitored-by': 'fsm' } } })),
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'outside' } },
    { apiVersion: 'config.flomesh.io/v1alpha3', kind: 'MeshConfig', metadata: { name: 'fsm-mesh-config', namespace: 'fsm-system' }, spec: { traffic: { enablePermissiveTrafficPolicyMode: permissive } } },
    ...eg,
    ...svc,
    ...pl,
    ...ch,
    ...cfg,
    ...ac,
    ...rt,
    ...gw,
    ...refs,
  ]);

describe('indexed cross-object rules equal the full scans (fast-check)', () => {
  it('every object of every generated state gets the same verdict from the indexes as from a full scan', () => {
    fc.assert(
      fc.property(state, (objects) => {
        const view = new MemoryView(objects.map(placeManifest));
        const scan = scanning(view);
        for (const obj of view.all()) {
          const req = { operation: 'CREATE', kind: gvkOf(obj), object: obj };
          const indexed = validate(req, view, mesh);
          const full = validate(req, scan, mesh);
          expect(indexed.errors, `${obj.kind} ${obj.metadata?.namespace}/${obj.metadata?.name}`).toEqual(full.errors);
          expect(indexed.warnings, `${obj.kind} ${obj.metadata?.namespace}/${obj.metadata?.name}`).toEqual(full.warnings);
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('DELETE and UPDATE of a referenced object name the same referrers from the indexes as from a full scan', () => {
    const referenced = new Set(['Plugin', 'ServiceImport', 'Cluster', 'HTTPRouteGroup', 'TCPRoute', 'Service']);
    /** a next version that takes something away: no endpoints, another region, one port left */
    const changed = (obj: KubeObject): KubeObject => ({
      ...obj,
      spec: { ...(obj.spec as Record<string, unknown>), ports: [{ port: 8080, endpoints: [] }], region: 'elsewhere', matches: [{ name: 'm1' }] },
    });
    let warned = 0;
    fc.assert(
      fc.property(state, (objects) => {
        const view = new MemoryView(objects.map(placeManifest));
        const scan = scanning(view);
        for (const obj of view.all().filter((o) => referenced.has(o.kind ?? ''))) {
          for (const req of [
            { operation: 'DELETE', kind: gvkOf(obj), object: obj, oldObject: obj },
            { operation: 'UPDATE', kind: gvkOf(obj), object: changed(obj), oldObject: obj },
          ]) {
            const indexed = validate(req, view, mesh);
            expect(indexed.warnings, `${req.operation} ${obj.kind} ${obj.metadata?.namespace}/${obj.metadata?.name}`).toEqual(validate(req, scan, mesh).warnings);
            if (req.operation === 'DELETE') warned += indexed.warnings.length;
          }
        }
      }),
      { numRuns: NUM_RUNS },
    );
    expect(warned).toBeGreaterThan(50);
  });

  it('the generated states do exercise the cross-object rules (a property that could not fail would prove nothing)', () => {
    const rules = new Set<string>();
    const warnings = new Set<string>();
    fc.assert(
      fc.property(state, (objects) => {
        const view = new MemoryView(objects.map(placeManifest));
        for (const obj of view.all()) {
          const v = validate({ operation: 'CREATE', kind: gvkOf(obj), object: obj }, view, mesh);
          for (const e of v.errors) rules.add(e.rule);
          for (const w of v.warnings) warnings.add(w.replace(/[a-z]+-[a-z]\b|\d+/g, '#').slice(0, 40));
        }
      }),
      { numRuns: NUM_RUNS },
    );
    for (const rule of ['egress-server-first-egress', 'egress-host-conflict', 'egress-server-first-service', 'egress-gateway-global', 'backend-conflict', 'uts-host-conflict', 'gtp-cluster-key-reference']) expect([...rules]).toContain(rule);
    expect(warnings.size).toBeGreaterThan(10);
  });
});
