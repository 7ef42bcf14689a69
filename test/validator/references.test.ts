// DELETE (and UPDATE) of the kinds other objects refer to by name: allowed, with one warning per referrer naming it
// and what stops working. Every message is asserted exactly: it is what `kubectl delete` prints after "Warning:".
import { describe, expect, it } from 'vitest';
import { MemoryView } from '../../src/cluster/memory.js';
import { meshIdentity } from '../../src/mesh/flavor.js';
import { KINDS, placeManifest } from '../../src/mesh/kinds.js';
import { gvkOf, type KubeObject } from '../../src/mesh/objects.js';
import { MAX_REFERRER_WARNINGS, REFERENCE_CHECKS } from '../../src/validator/references.js';
import { validate } from '../../src/validator/validate.js';
import { validateHandler } from '../../src/webhooks/validate.js';

const mesh = meshIdentity('fsm');

const obj = (apiVersion: string, kind: string, name: string, namespace: string | undefined, spec: Record<string, unknown>): KubeObject => ({
  apiVersion,
  kind,
  metadata: { name, ...(namespace ? { namespace } : {}) },
  spec,
});
const plugin = (name: string): KubeObject => obj('plugin.flomesh.io/v1alpha1', 'Plugin', name, undefined, { priority: 100, pipyscript: 'pipy()' });
const chain = (ns: string, name: string, chains: Record<string, string[]>): KubeObject =>
  obj('plugin.flomesh.io/v1alpha1', 'PluginChain', name, ns, { chains: Object.entries(chains).map(([n, plugins]) => ({ name: n, plugins })), selectors: {} });
const pluginConfig = (ns: string, name: string, pluginName: string, services: string[] = []): KubeObject =>
  obj('plugin.flomesh.io/v1alpha1', 'PluginConfig', name, ns, { plugin: pluginName, destinationRefs: services.map((s) => ({ kind: 'Service', namespace: ns, name: s })), config: {} });
const service = (ns: string, name: string, ports: number[] = [80]): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: ns },
  spec: { ports: ports.map((port) => ({ port })) },
});
const gtp = (ns: string, name: string, keys: string[]): KubeObject =>
  obj('flomesh.io/v1alpha1', 'GlobalTrafficPolicy', name, ns, { lbType: 'FailOver', targets: keys.map((clusterKey) => ({ clusterKey })) });
const serviceImport = (ns: string, name: string, keys: string[]): KubeObject =>
  obj('flomesh.io/v1alpha1', 'ServiceImport', name, ns, { type: 'ClusterSetIP', ports: [{ port: 80, protocol: 'TCP', endpoints: keys.map((clusterKey) => ({ clusterKey, target: { host: 'h', ip: '10.0.0.1', port: 80 } })) }] });
const cluster = (name: string, region = 'default'): KubeObject => obj('flomesh.io/v1alpha1', 'Cluster', name, undefined, { region, gatewayHost: 'gw.example', gatewayPort: 80 });
const routeGroup = (ns: string, name: string, matches: string[] = ['all']): KubeObject =>
  obj('specs.smi-spec.io/v1alpha4', 'HTTPRouteGroup', name, ns, { matches: matches.map((m) => ({ name: m, pathRegex: '.*' })) });
const tcpRoute = (ns: string, name: string): KubeObject => obj('specs.smi-spec.io/v1alpha4', 'TCPRoute', name, ns, { matches: { ports: [80] } });
const trafficTarget = (ns: string, name: string, rules: Array<{ kind: string; name: string; matches?: string[] }>): KubeObject =>
  obj('access.smi-spec.io/v1alpha3', 'TrafficTarget', name, ns, { destination: { kind: 'ServiceAccount', name: 'b', namespace: ns }, sources: [{ kind: 'ServiceAccount', name: 'a', namespace: ns }], rules });
const split = (ns: string, name: string, apex: string, backends: string[], matches: string[] = []): KubeObject =>
  obj('split.smi-spec.io/v1alpha4', 'TrafficSplit', name, ns, { service: apex, backends: backends.map((s) => ({ service: s, weight: 50 })), matches: matches.map((m) => ({ kind: 'HTTPRouteGroup', name: m })) });
const serviceExport = (ns: string, name: string, ports: number[]): KubeObject =>
  obj('flomesh.io/v1alpha1', 'ServiceExport', name, ns, { rules: ports.map((portNumber) => ({ portNumber, path: '/', pathType: 'Prefix' })) });
const egress = (ns: string, name: string, routeGroups: string[]): KubeObject =>
  obj('policy.flomesh.io/v1alpha1', 'Egress', name, ns, {
    sources: [{ kind: 'ServiceAccount', name: 'a', namespace: ns }],
    hosts: ['example.com'],
    ports: [{ number: 80, protocol: 'http' }],
    matches: routeGroups.map((n) => ({ apiGroup: 'specs.smi-spec.io/v1alpha4', kind: 'HTTPRouteGroup', name: n })),
  });

function deleting(target: KubeObject, state: KubeObject[]): { allowed: boolean; warnings: readonly string[] } {
  const view = new MemoryView([target, ...state].map(placeManifest));
  const v = validate({ operation: 'DELETE', kind: gvkOf(target), object: target, oldObject: target }, view, mesh);
  return { allowed: v.allowed, warnings: v.warnings };
}

function updating(old: KubeObject, next: KubeObject, state: KubeObject[]): readonly string[] {
  const view = new MemoryView([old, ...state].map(placeManifest));
  return validate({ operation: 'UPDATE', kind: gvkOf(next), object: next, oldObject: old }, view, mesh).warnings;
}

describe('reference warnings on DELETE', () => {
  it('covers exactly the kinds the table flags as referenced', () => {
    expect(Object.keys(REFERENCE_CHECKS).sort()).toEqual(KINDS.filter((k) => k.referenced).map((k) => k.kind).sort());
  });

  it('Plugin: every chain that mounts it (on which chain) and every config of it', () => {
    const state = [
      chain('ns', 'c', { 'inbound-http': ['x', 'y'], 'outbound-http': ['x'] }),
      chain('other', 'd', { 'inbound-tcp': ['y'] }),
      pluginConfig('ns', 'cfg', 'x'),
      pluginConfig('ns', 'cfg-y', 'y'),
    ];
    expect(deleting(plugin('x'), state)).toEqual({
      allowed: true,
      warnings: ['Plugin "x" is still mounted by PluginChain ns/c on inbound-http', 'Plugin "x" is still mounted by PluginChain ns/c on outbound-http', 'Plugin "x" is still configured by PluginConfig ns/cfg'],
    });
    expect(deleting(plugin('unused'), state)).toEqual({ allowed: true, warnings: [] });
  });

  it('caps the warnings and counts the rest', () => {
    const state = Array.from({ length: MAX_REFERRER_WARNINGS + 3 }, (_, i) => chain('ns', `c${String(i).padStart(2, '0')}`, { 'inbound-http': ['x'] }));
    const { warnings } = deleting(plugin('x'), state);
    expect(warnings).toHaveLength(MAX_REFERRER_WARNINGS + 1);
    expect(warnings[0]).toBe('Plugin "x" is still mounted by PluginChain ns/c00 on inbound-http');
    expect(warnings.at(-1)).toBe('Plugin "x" is also referred to by 3 more object(s) (mesh-admission audit lists them all)');
  });

  it('ServiceImport: the GlobalTrafficPolicy of its name and the targets that lose their endpoints', () => {
    const imp = serviceImport('ns', 'web', ['default/default/default/c1', 'default/default/default/c2']);
    expect(deleting(imp, [gtp('ns', 'web', ['default/default/default/c2'])]).warnings).toEqual([
      'ServiceImport "web" is still governed by GlobalTrafficPolicy ns/web (targets default/default/default/c2): traffic for those targets would be dropped',
    ]);
    expect(deleting(imp, [gtp('ns', 'other', ['default/default/default/c2'])]).warnings).toEqual([]);
  });

  it('Cluster: every GlobalTrafficPolicy that targets its key', () => {
    const state = [gtp('a', 'web', ['default/default/default/c1']), gtp('b', 'api', ['default/default/default/c2', 'default/default/default/c1'])];
    expect(deleting(cluster('c1'), state).warnings).toEqual([
      'Cluster "c1" is still a target of GlobalTrafficPolicy a/web (clusterKey default/default/default/c1): traffic for that target would be dropped',
      'Cluster "c1" is still a target of GlobalTrafficPolicy b/api (clusterKey default/default/default/c1): traffic for that target would be dropped',
    ]);
  });

  it('HTTPRouteGroup: TrafficTarget rules, TrafficSplit matches and Egress matches that name it, in its namespace only', () => {
    const state = [
      trafficTarget('ns', 'tt', [{ kind: 'TCPRoute', name: 'tcp' }, { kind: 'HTTPRouteGroup', name: 'routes', matches: ['all'] }]),
      trafficTarget('elsewhere', 'tt', [{ kind: 'HTTPRouteGroup', name: 'routes' }]),
      split('ns', 'sp', 'web', ['web-v1'], ['routes']),
      egress('ns', 'eg', ['routes']),
    ];
    expect(deleting(routeGroup('ns', 'routes'), state).warnings).toEqual([
      'HTTPRouteGroup "routes" is still named by TrafficTarget ns/tt (spec.rules[1]): that rule grants no access once it is gone',
      'HTTPRouteGroup "routes" is still named by TrafficSplit ns/sp (spec.matches[0]): that match selects no traffic once it is gone',
      'HTTPRouteGroup "routes" is still named by Egress ns/eg (spec.matches[0]): its http traffic is not allowed once it is gone',
    ]);
    expect(deleting(tcpRoute('ns', 'tcp'), state).warnings).toEqual(['TCPRoute "tcp" is still named by TrafficTarget ns/tt (spec.rules[0]): that rule grants no access once it is gone']);
  });

  it('Service: TrafficSplits (apex or backend), its ServiceExport, a GlobalTrafficPolicy of its name, PluginConfigs', () => {
    const state = [
      split('ns', 'apex', 'web.ns.svc.cluster.local', ['web-v1']),
      split('ns', 'back', 'other', ['web']),
      serviceExport('ns', 'web', [80]),
      gtp('ns', 'web', []),
      pluginConfig('ns', 'cfg', 'x', ['web']),
    ];
    expect(deleting(service('ns', 'web'), state).warnings).toEqual([
      'Service "web" is still named by TrafficSplit ns/apex: requests split to it fail once it is gone',
      'Service "web" is still named by TrafficSplit ns/back: requests split to it fail once it is gone',
      'Service "web" is still exported by ServiceExport ns/web: the export becomes invalid',
      'Service "web" is still governed by GlobalTrafficPolicy ns/web, which then governs nothing',
      'Service "web" is still a destination of PluginConfig ns/cfg: that config reaches no proxy once it is gone',
    ]);
  });
});

describe('reference warnings on UPDATE', () => {
  it('ServiceImport: a cluster whose endpoints disappear while a GlobalTrafficPolicy targets it', () => {
    const before = serviceImport('ns', 'web', ['default/default/default/c1', 'default/default/default/c2']);
    const after = serviceImport('ns', 'web', ['default/default/default/c1']);
    expect(updating(before, after, [gtp('ns', 'web', ['default/default/default/c2'])])).toContain(
      'ServiceImport "web" no longer has endpoints from cluster default/default/default/c2, a target of GlobalTrafficPolicy ns/web: traffic for that target would be dropped',
    );
    expect(updating(before, before, [gtp('ns', 'web', ['default/default/default/c2'])]).filter((w) => w.includes('no longer'))).toEqual([]);
  });

  it('Cluster: a key change leaves the policies that target the old key', () => {
    expect(updating(cluster('c1'), cluster('c1', 'eu'), [gtp('a', 'web', ['default/default/default/c1'])])).toContain(
      'Cluster "c1" changes its key from default/default/default/c1 to eu/default/default/c1, but GlobalTrafficPolicy a/web still targets default/default/default/c1: traffic for that target would be dropped',
    );
  });

  it('Service: a port its ServiceExport routes to is removed', () => {
    expect(updating(service('ns', 'web', [80, 8080]), service('ns', 'web', [8080]), [serviceExport('ns', 'web', [80])])).toContain(
      'Service "web" no longer has port 80, exported by ServiceExport ns/web (spec.rules[0].portNumber)',
    );
  });
});

describe('the validating webhook on DELETE', () => {
  it('answers allowed with the warnings, from request.oldObject (request.object is null on DELETE)', async () => {
    const view = new MemoryView([plugin('x'), chain('ns', 'c', { 'inbound-http': ['x'] })].map(placeManifest));
    const handler = validateHandler({ mesh, view });
    const outcome = await handler.handle(
      { uid: 'u1', kind: { group: 'plugin.flomesh.io', version: 'v1alpha1', kind: 'Plugin' }, resource: { group: 'plugin.flomesh.io', version: 'v1alpha1', resource: 'plugins' }, operation: 'DELETE', name: 'x', object: null, oldObject: plugin('x') } as never,
      { deadline: Date.now() + 5000 } as never,
    );
    expect(outcome.response).toMatchObject({ uid: 'u1', allowed: true, warnings: ['Plugin "x" is still mounted by PluginChain ns/c on inbound-http'] });
  });
});
