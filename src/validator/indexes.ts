// The secondary indexes the cross-object rules ask the view for, and the parsed forms they read. A rule looking for
// "the other objects that could conflict with this one" asks for the few objects sharing a key (a source
// ServiceAccount and port, a port number, a chain, a plugin) instead of reading every object of a kind; and an
// object is parsed once per version (objects are replaced on every change, so its identity is its version).
//
// An index only narrows: every rule still applies its whole condition to the candidates it gets, so that handing it
// every object of the kind (what the full scans did, and what the oracle test does) gives the same verdict.
import type { IndexDef } from '../cluster/view.js';
import { isRecord, type KubeObject } from '../mesh/objects.js';
import { asArray, asRecord } from './checks.js';
import { clusterKeyOf } from './cluster-key.js';
import { isServerFirst, needsDetection, readEgress, readServicePorts, usesInspector, type EgressDecl, type ServicePortDecl } from './protocols.js';
import { parseHost } from './upstream-host.js';

/** `fn` computed once per object (per version: the store replaces objects on change, never mutates them). */
function perObject<T>(fn: (obj: KubeObject) => T): (obj: KubeObject) => T {
  const cache = new WeakMap<KubeObject, T>();
  return (obj) => {
    if (cache.has(obj)) return cache.get(obj) as T;
    const v = fn(obj);
    cache.set(obj, v);
    return v;
  };
}

const unique = (keys: Iterable<string>): string[] => [...new Set(keys)];

export const egressDecl: (obj: KubeObject) => EgressDecl = perObject(readEgress);
export const servicePorts: (obj: KubeObject) => ServicePortDecl[] = perObject(readServicePorts);

// Port numbers are keyed with the protocol class that can conflict on them, so that a rule asks only for the objects
// it could conflict with: in a cluster where a port number is used by thousands of objects of the same class (every
// http Service on 8080), a new one meets no candidate at all. A server-first port (detection off) conflicts with ports
// whose matching needs detection (http, https with hosts) or inspects the first bytes; nothing else conflicts.

/** `sf` for a server-first protocol, `inspect` for one whose matching reads the first bytes (http, https). */
function egressPortClass(protocol: string): 'sf' | 'inspect' | undefined {
  return isServerFirst(protocol) ? 'sf' : usesInspector(protocol) ? 'inspect' : undefined;
}

/** `sf` for a server-first Service port, `detect` for one that needs protocol detection (http, grpc, ...). */
function servicePortClass(protocol: string): 'sf' | 'detect' | undefined {
  return isServerFirst(protocol) ? 'sf' : needsDetection(protocol, false) ? 'detect' : undefined;
}

/**
 * Egress policies by `<source ServiceAccount>|<port>|<sf or other>`, and `<source ServiceAccount>|<port>|host|<host>`
 * for their http ports: the ones a policy of the same source can conflict with (server-first against the rest on one
 * port number; the same virtual host on one http port).
 */
export const EGRESS_BY_SOURCE_PORT: IndexDef = {
  name: 'egress-by-source-port',
  kind: 'Egress',
  keys: (obj) => {
    const e = egressDecl(obj);
    return unique(
      e.sources.flatMap((sa) =>
        e.ports.flatMap((p) => [`${sa}|${p.number}|${isServerFirst(p.protocol) ? 'sf' : 'other'}`, ...(p.protocol === 'http' ? e.hosts.map((h) => `${sa}|${p.number}|host|${h.host}`) : [])]),
      ),
    );
  },
};

/** Egress policies by `<port>|<class>` (egressPortClass). */
export const EGRESS_BY_PORT: IndexDef = {
  name: 'egress-by-port',
  kind: 'Egress',
  keys: (obj) => unique(egressDecl(obj).ports.flatMap((p) => (egressPortClass(p.protocol) ? [`${p.number}|${egressPortClass(p.protocol)}`] : []))),
};

/** Services by `<port>|<class>` (servicePortClass) of their TCP ports. */
export const SERVICE_BY_PORT: IndexDef = {
  name: 'service-by-port',
  kind: 'Service',
  keys: (obj) => unique(servicePorts(obj).flatMap((p) => (servicePortClass(p.protocol) ? [`${p.number}|${servicePortClass(p.protocol)}`] : []))),
};

/** The chains a PluginChain has entries for, and `<chain>|<plugin>` for each plugin it mounts there. */
export const PLUGINCHAIN_MOUNTS: IndexDef = {
  name: 'pluginchain-mounts',
  kind: 'PluginChain',
  keys: (obj) =>
    unique(
      asArray(asRecord(obj.spec).chains).flatMap((entry) => {
        const e = asRecord(entry);
        if (typeof e.name !== 'string') return [];
        return [e.name, ...asArray(e.plugins).flatMap((p) => (typeof p === 'string' ? [`${e.name}|${p}`] : []))];
      }),
    ),
};

/** Plugins by priority as the controller sorts them (absent = 0): the ones that tie with a given priority. */
export const PLUGIN_BY_PRIORITY: IndexDef = {
  name: 'plugin-by-priority',
  kind: 'Plugin',
  keys: (obj) => {
    const p = asRecord(obj.spec).priority;
    const priority = p === undefined || p === null ? 0 : p;
    return typeof priority === 'number' && Number.isFinite(priority) ? [String(priority)] : [];
  },
};

/** PluginConfigs by the Plugin they configure. */
export const PLUGINCONFIG_BY_PLUGIN: IndexDef = {
  name: 'pluginconfig-by-plugin',
  kind: 'PluginConfig',
  keys: (obj) => {
    const plugin = asRecord(obj.spec).plugin;
    return typeof plugin === 'string' ? [plugin] : [];
  },
};

/** AccessControls without backends (catch-alls for every Service without its own). */
export const ACCESSCONTROL_CATCH_ALL: IndexDef = {
  name: 'accesscontrol-catch-all',
  kind: 'AccessControl',
  keys: (obj) => (isRecord(obj.spec) && asArray(obj.spec.backends).length > 0 ? [] : ['catch-all']),
};

/** Retry policies by source ServiceAccount `<namespace>/<name>`. */
export const RETRY_BY_SOURCE: IndexDef = {
  name: 'retry-by-source',
  kind: 'Retry',
  keys: (obj) => {
    const s = asRecord(asRecord(obj.spec).source);
    return s.kind === 'ServiceAccount' ? [`${String(s.namespace)}/${String(s.name)}`] : [];
  },
};

/** EgressGateways that define a global gateway list (only one may in the cluster). */
export const EGRESSGATEWAY_GLOBAL: IndexDef = {
  name: 'egressgateway-global',
  kind: 'EgressGateway',
  keys: (obj) => (isRecord(obj.spec) && asArray(obj.spec.global).length > 0 ? ['global'] : []),
};

const str = (v: unknown): v is string => typeof v === 'string' && v !== '';
const nsOf = (obj: KubeObject): string => obj.metadata?.namespace ?? '';

/** TrafficTargets by the routes their rules name: `<namespace>/<kind>/<name>` (routes are looked up in the target's namespace). */
export const TRAFFICTARGET_BY_ROUTE: IndexDef = {
  name: 'traffictarget-by-route',
  kind: 'TrafficTarget',
  keys: (obj) =>
    unique(
      asArray(asRecord(obj.spec).rules).flatMap((r) => {
        const rule = asRecord(r);
        return str(rule.kind) && str(rule.name) ? [`${nsOf(obj)}/${rule.kind}/${rule.name}`] : [];
      }),
    ),
};

/** The apex's Service name in `namespace`: `name`, or the first label of `name.<namespace>[.svc...]`. */
export function apexName(service: string, namespace: string): string | undefined {
  const labels = service.split('.');
  if (labels.length === 1) return service;
  return labels[1] === namespace ? labels[0] : undefined;
}

/** TrafficSplits by what they name: `<namespace>/Service/<apex or backend>` and `<namespace>/HTTPRouteGroup/<match>`. */
export const TRAFFICSPLIT_BY_REF: IndexDef = {
  name: 'trafficsplit-by-ref',
  kind: 'TrafficSplit',
  keys: (obj) => {
    const ns = nsOf(obj);
    const spec = asRecord(obj.spec);
    const apex = str(spec.service) ? apexName(spec.service, ns) : undefined;
    const backends = asArray(spec.backends).map((b) => asRecord(b).service).filter(str);
    const matches = asArray(spec.matches).flatMap((m) => {
      const match = asRecord(m);
      return str(match.kind) && str(match.name) ? [`${ns}/${match.kind}/${match.name}`] : [];
    });
    return unique([...(apex ? [apex] : []), ...backends].map((s) => `${ns}/Service/${s}`).concat(matches));
  },
};

/** Egress policies by the objects their matches name: `<namespace>/<kind>/<name>`. */
export const EGRESS_BY_MATCH: IndexDef = {
  name: 'egress-by-match',
  kind: 'Egress',
  keys: (obj) =>
    unique(
      asArray(asRecord(obj.spec).matches).flatMap((m) => {
        const match = asRecord(m);
        return str(match.kind) && str(match.name) ? [`${nsOf(obj)}/${match.kind}/${match.name}`] : [];
      }),
    ),
};

/** GlobalTrafficPolicies by the cluster keys their targets name. */
export const GTP_BY_CLUSTER_KEY: IndexDef = {
  name: 'gtp-by-cluster-key',
  kind: 'GlobalTrafficPolicy',
  keys: (obj) => unique(asArray(asRecord(obj.spec).targets).map((t) => asRecord(t).clusterKey).filter(str)),
};

/** PluginConfigs by the Services their destinationRefs name: `<namespace>/<name>`. */
export const PLUGINCONFIG_BY_SERVICE: IndexDef = {
  name: 'pluginconfig-by-service',
  kind: 'PluginConfig',
  keys: (obj) =>
    unique(
      asArray(asRecord(obj.spec).destinationRefs).flatMap((r) => {
        const ref = asRecord(r);
        return ref.kind === 'Service' && str(ref.namespace) && str(ref.name) ? [`${ref.namespace}/${ref.name}`] : [];
      }),
    ),
};

/** Clusters by their key (`region/zone/group/name`). */
export const CLUSTER_BY_KEY: IndexDef = { name: 'cluster-by-key', kind: 'Cluster', keys: (obj) => [clusterKeyOf(obj)] };

/** `<namespace>/<backend name>:<port number>` of a backend policy's well-formed backends. */
function backendKeys(obj: KubeObject): string[] {
  const spec = asRecord(obj.spec);
  return unique(
    asArray(spec.backends).flatMap((b) => {
      const r = asRecord(b);
      const port = asRecord(r.port).number;
      return typeof r.name === 'string' && typeof port === 'number' && Number.isInteger(port) ? [`${nsOf(obj)}/${r.name}:${port}`] : [];
    }),
  );
}

/** IngressBackends by backend `<namespace>/<name>:<port>`: the policies that compete for one backend port. */
export const INGRESSBACKEND_BY_BACKEND: IndexDef = { name: 'ingressbackend-by-backend', kind: 'IngressBackend', keys: backendKeys };

/** AccessControls by backend `<namespace>/<name>:<port>`. */
export const ACCESSCONTROL_BY_BACKEND: IndexDef = { name: 'accesscontrol-by-backend', kind: 'AccessControl', keys: backendKeys };

/** UpstreamTrafficSettings by `<namespace>/<what the host names>` (a Service in any of its spellings, or the host). */
export const UPSTREAM_BY_HOST: IndexDef = {
  name: 'upstream-by-host',
  kind: 'UpstreamTrafficSetting',
  keys: (obj) => {
    const host = asRecord(obj.spec).host;
    const parsed = typeof host === 'string' ? parseHost(host) : undefined;
    return parsed && parsed !== 'bad-svc-suffix' ? [`${nsOf(obj)}/${parsed.key}`] : [];
  },
};

/** Every index the rules use: the server builds them when its view is loaded, so the first request pays nothing. */
export const INDEXES: readonly IndexDef[] = [
  EGRESS_BY_SOURCE_PORT,
  EGRESS_BY_PORT,
  SERVICE_BY_PORT,
  PLUGINCHAIN_MOUNTS,
  PLUGINCONFIG_BY_PLUGIN,
  PLUGIN_BY_PRIORITY,
  ACCESSCONTROL_CATCH_ALL,
  RETRY_BY_SOURCE,
  EGRESSGATEWAY_GLOBAL,
  TRAFFICTARGET_BY_ROUTE,
  TRAFFICSPLIT_BY_REF,
  EGRESS_BY_MATCH,
  GTP_BY_CLUSTER_KEY,
  PLUGINCONFIG_BY_SERVICE,
  CLUSTER_BY_KEY,
  INGRESSBACKEND_BY_BACKEND,
  ACCESSCONTROL_BY_BACKEND,
  UPSTREAM_BY_HOST,
];

/** Builds every index now (a view builds an index on first use, then keeps it up to date). */
export function buildIndexes(view: { byIndex(index: IndexDef, key: string): unknown }): void {
  for (const index of INDEXES) view.byIndex(index, '');
}
