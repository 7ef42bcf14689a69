// Multi-cluster kinds (groups multicluster.flomesh.io and flomesh.io): GlobalTrafficPolicy, ServiceExport,
// ServiceImport and Cluster. Clusters are joined by a "cluster key" region/zone/group/name that the controllers write
// into ServiceImport endpoints and that GlobalTrafficPolicy targets must repeat exactly: the runtime drops every
// endpoint whose key is not listed, so a key that matches nothing black-holes traffic without any error.
import { BlockList, isIP } from 'node:net';
import { isRecord, nameOf, namespaceOf, type KubeObject } from '../mesh/objects.js';
import {
  asArray,
  asRecord,
  checkArray,
  checkDns1123Label,
  checkDns1123Subdomain,
  checkIntRange,
  checkPort,
  checkUnique,
  isDns1123Label,
  isDns1123Subdomain,
  isInteger,
  specOf,
} from './checks.js';
import { clusterKeyOf } from './cluster-key.js';
import { CLUSTER_BY_KEY } from './indexes.js';
import type { ValidationContext } from './context.js';
import { formatValue, type Findings } from './findings.js';

// ---------------------------------------------------------------------------------------------------------------
// Shared helpers (local to this family)

const KEY_LIST_LIMIT = 10;

const CLUSTER_KEY_TEXT =
  "must be region/zone/group/cluster: exactly four non-empty '/'-separated segments, each a lowercase RFC 1123 label (e.g. default/default/default/cluster-1)";


const isUnset = (v: unknown): boolean => v === undefined || v === null;

export function isClusterKey(s: string): boolean {
  const segments = s.split('/');
  return segments.length === 4 && segments.every(isDns1123Label);
}

/** A key in the region/zone/group/cluster form; returns it when valid so callers can look it up. */
function checkClusterKey(out: Findings, field: string, v: unknown, rule: string): string | undefined {
  if (typeof v === 'string' && isClusterKey(v)) return v;
  if (isUnset(v) || v === '') out.required(field, rule, 'region/zone/group/cluster of the cluster (e.g. default/default/default/cluster-1)');
  else out.invalid(field, v, CLUSTER_KEY_TEXT, rule);
  return undefined;
}

export { clusterKeyOf } from './cluster-key.js';

/** Sorted, de-duplicated, capped so a denial stays readable when a cluster set is large. */
function listKeys(keys: Iterable<string>): string {
  const sorted = [...new Set(keys)].sort();
  const shown = sorted.slice(0, KEY_LIST_LIMIT).join(', ');
  return sorted.length > KEY_LIST_LIMIT ? `${shown} (and ${sorted.length - KEY_LIST_LIMIT} more)` : shown;
}

/** Every clusterKey that a ServiceImport has endpoints from. */
export function exportingClusterKeys(serviceImport: KubeObject): Set<string> {
  const keys = new Set<string>();
  for (const port of asArray(asRecord(serviceImport.spec).ports))
    for (const endpoint of asArray(asRecord(port).endpoints)) {
      const key = asRecord(endpoint).clusterKey;
      if (typeof key === 'string' && key !== '') keys.add(key);
    }
  return keys;
}

/**
 * serviceAccountName becomes the identity of remote endpoints in SMI access checks; `*` is the documented wildcard
 * (FSM multi-cluster guide) for "any ServiceAccount".
 */
function checkServiceAccountName(out: Findings, field: string, v: unknown, rule: string): void {
  if (isUnset(v) || v === '' || v === '*') return;
  // A name that is not a valid ServiceAccount name never matches a TrafficTarget, so remote endpoints are denied.
  checkDns1123Subdomain(out, field, v, rule);
}

function checkBoolean(out: Findings, field: string, v: unknown, rule: string): void {
  if (isUnset(v) || typeof v === 'boolean') return;
  out.invalid(field, v, 'must be a boolean (true or false)', rule);
}

function checkEnum(out: Findings, field: string, v: unknown, supported: readonly string[], rule: string): void {
  if (isUnset(v) || (typeof v === 'string' && supported.includes(v))) return;
  out.notSupported(field, v, supported, rule);
}

// ---------------------------------------------------------------------------------------------------------------
// GlobalTrafficPolicy

const LB_TYPES = ['Locality', 'FailOver', 'ActiveActive'] as const;
type LbType = (typeof LB_TYPES)[number];

/** What lbType needs at least one target, and the sentence saying so (FailOver's is fsm-classic's wording). */
const TARGETS_REQUIRED: Partial<Record<LbType, string>> = {
  FailOver: 'requires at least one cluster for failover',
  ActiveActive: 'requires at least one cluster for active-active load balancing',
};

const LOCALITY_SINGLE_TARGET_TEXT =
  'in case of Locality load balancer, the traffic can only be sticky to exact one cluster, either in cluster or a specific remote cluster';

interface TargetKey {
  readonly index: number;
  readonly key: string;
}

/** Absent or empty means Locality (the defaulter's value); anything else outside the enum is undefined. */
function readLbType(v: unknown, out: Findings): LbType | undefined {
  if (isUnset(v) || v === '') return 'Locality';
  if (typeof v === 'string' && (LB_TYPES as readonly string[]).includes(v)) return v as LbType;
  // The controllers switch on lbType; an unknown value falls back to no remote endpoints at all.
  out.notSupported('spec.lbType', v, LB_TYPES, 'gtp-lb-type');
  return undefined;
}

function checkWeight(out: Findings, field: string, target: Record<string, unknown>, lbType: LbType | undefined): void {
  const weight = target.weight;
  if (isUnset(weight)) return;
  if (!Number.isSafeInteger(weight) || (weight as number) < 0) {
    // A negative or fractional weight breaks the weighted round-robin of the remote endpoints.
    const key = typeof target.clusterKey === 'string' ? target.clusterKey : '(no clusterKey)';
    const detail =
      lbType === 'ActiveActive' && typeof weight === 'number' && weight < 0
        ? `weight ${weight} of ${key} is invalid for active-active load balancing, it must be >= 0`
        : 'must be an integer >= 0';
    out.invalid(field, weight, detail, 'gtp-weight');
    return;
  }
  // Only ActiveActive reads weights: elsewhere the value silently does nothing.
  if (lbType !== undefined && lbType !== 'ActiveActive')
    out.warn(field, `weight is only used by ActiveActive load balancing; it is ignored with lbType ${lbType}`, 'gtp-weight-ignored');
}

function checkTargetCount(out: Findings, lbType: LbType, count: number): void {
  if (lbType === 'Locality') {
    // fsm-classic's rule: Locality sticks to one cluster, several targets are contradictory.
    if (count > 1) out.forbidden('spec.targets', `${LOCALITY_SINGLE_TARGET_TEXT} (got ${count} targets)`, 'gtp-locality-single-target');
    // At runtime Locality returns no remote endpoints at all, so the target the user wrote has no effect.
    if (count > 0)
      out.warn('spec.targets', 'Locality load balancing uses only endpoints of this cluster and ignores targets; use FailOver or ActiveActive to reach other clusters', 'gtp-locality-targets');
    return;
  }
  const required = TARGETS_REQUIRED[lbType];
  // FailOver/ActiveActive without targets never select a remote endpoint: the policy silently does nothing.
  if (required && count === 0) out.required('spec.targets', 'gtp-targets-required', required);
}

/**
 * The policy governs the Service/ServiceImport of its own namespace and name. Keys are checked against what really
 * exports the service (the ServiceImport), else against the Clusters known here, else flagged as unverified.
 * Applied to every lbType, Locality included: a key that names no cluster is wrong whatever the lbType, and becomes a
 * black hole as soon as the policy is switched to FailOver or ActiveActive.
 */
function checkClusterKeyReferences(obj: KubeObject, ctx: ValidationContext, out: Findings, keys: readonly TargetKey[]): void {
  const namespace = namespaceOf(obj);
  const name = nameOf(obj);
  const ref = `${namespace}/${name}`;
  const serviceImport = ctx.get('ServiceImport', namespace, name);

  if (serviceImport) {
    const exported = exportingClusterKeys(serviceImport);
    const exporters = exported.size > 0 ? `has endpoints only from ${listKeys(exported)}` : 'has no endpoints from any cluster';
    for (const { index, key } of keys)
      if (!exported.has(key))
        // The runtime keeps only endpoints whose clusterKey is listed: this target would receive no traffic.
        out.conflict(
          `spec.targets[${index}].clusterKey`,
          `cluster ${key} does not export this service: ServiceImport ${ref} ${exporters}; traffic for this target would be dropped`,
          'gtp-cluster-key-reference',
        );
  } else {
    // Each key is looked up (an index); the Clusters are all read only when one is missing, to list the known keys.
    const unknown = keys.filter(({ key }) => !ctx.candidates(CLUSTER_BY_KEY, [key]).some((c) => clusterKeyOf(c) === key));
    const clusters = unknown.length > 0 ? ctx.others('Cluster') : [];
    if (clusters.length > 0) {
      const known = new Set(clusters.map(clusterKeyOf));
      for (const { index, key } of unknown)
        // No Cluster has this key, so no controller will ever write an endpoint with it.
        out.conflict(
          `spec.targets[${index}].clusterKey`,
          `no Cluster has the key ${key} (known Cluster keys: ${listKeys(known)}); traffic for this target would be dropped`,
          'gtp-cluster-key-reference',
        );
    }
    // Nothing to check against yet (the export may arrive later): said, so that the references are not taken as
    // verified.
    else if (unknown.length > 0) {
      out.warn(
        'spec.targets',
        `clusterKey references not verified (no ServiceImport ${ref} and no Cluster known yet): ${listKeys(keys.map((k) => k.key))}`, 'gtp-cluster-key-unverified',
      );
    }
  }

  // A policy whose name matches no service is silently inert: GTPs are looked up by the service's namespace/name.
  if (!serviceImport && !ctx.get('Service', namespace, name))
    out.warn(
      'metadata.name',
      `no Service or ServiceImport ${ref} exists yet, so this policy governs nothing (it applies to the Service/ServiceImport of the same namespace and name)`, 'gtp-governs-nothing',
    );
}

export function validateGlobalTrafficPolicy(obj: KubeObject, ctx: ValidationContext, out: Findings): void {
  const spec = specOf(obj, out, { rule: 'object-shape' });
  if (!spec) return;
  const lbType = readLbType(spec.lbType, out);

  // The targets are the clusters FailOver and ActiveActive send traffic to: an entry that is not a target object
  // selects no cluster.
  const targetsOk = isUnset(spec.targets) || checkArray(out, 'spec.targets', spec.targets, 'gtp-target');
  const targets = asArray(spec.targets);
  const keys: TargetKey[] = [];
  targets.forEach((t, index) => {
    const field = `spec.targets[${index}]`;
    if (!isRecord(t)) {
      out.invalid(field, t, 'must be an object with a clusterKey and an optional weight', 'gtp-target');
      return;
    }
    // A malformed key can never equal a key the controllers write: the target would be a black hole.
    const key = checkClusterKey(out, `${field}.clusterKey`, t.clusterKey, 'gtp-cluster-key-format');
    if (key !== undefined) keys.push({ index, key });
    checkWeight(out, `${field}.weight`, t, lbType);
  });

  // The same cluster twice skews ActiveActive weights and hides which entry the user meant.
  checkUnique(out, keys, (k) => k.key, (i) => `spec.targets[${keys[i]?.index ?? i}].clusterKey`, (k) => k.key, 'gtp-cluster-key-unique');
  const firstOccurrences = keys.filter((k, i) => keys.findIndex((o) => o.key === k.key) === i);

  if (lbType !== undefined && targetsOk) checkTargetCount(out, lbType, targets.length);
  checkClusterKeyReferences(obj, ctx, out, firstOccurrences);
}

// ---------------------------------------------------------------------------------------------------------------
// ServiceExport

const PATH_TYPES = ['Exact', 'Prefix'] as const;
const LOAD_BALANCERS = ['RoundRobinLoadBalancer', 'HashingLoadBalancer', 'LeastWorkLoadBalancer'] as const;

function servicePorts(service: KubeObject): number[] {
  return asArray(asRecord(service.spec).ports)
    .map((p) => asRecord(p).port)
    .filter(isInteger);
}

function checkExportRule(out: Findings, field: string, rule: unknown, service: KubeObject | undefined, serviceRef: string): void {
  // A rule that is not an object names no port or path: the export gets no route for it.
  if (!isRecord(rule)) {
    out.invalid(field, rule, 'must be an object with portNumber, path and pathType', 'serviceexport-rule');
    return;
  }
  // Port 0 or > 65535 cannot be an Ingress backend port: the export never gets a route.
  if (isUnset(rule.portNumber)) out.required(`${field}.portNumber`, 'serviceexport-port', 'the Service port to export');
  else if (checkPort(out, `${field}.portNumber`, rule.portNumber, 'serviceexport-port') && service) {
    const ports = servicePorts(service);
    // The controller finds no Service port to route to and the export stays invalid.
    if (!ports.includes(rule.portNumber))
      out.conflict(
        `${field}.portNumber`,
        `port ${rule.portNumber} is not a port of Service ${serviceRef} (${ports.length > 0 ? `its ports: ${ports.join(', ')}` : 'it has no ports'})`,
        'serviceexport-port',
      );
  }

  // The Ingress the controller generates needs a path type it understands.
  const pathType = rule.pathType;
  if (isUnset(pathType) || pathType === '') out.required(`${field}.pathType`, 'serviceexport-path-type');
  else checkEnum(out, `${field}.pathType`, pathType, PATH_TYPES, 'serviceexport-path-type');

  // Exact/Prefix Ingress paths must be absolute; an empty or relative path is rejected by the Ingress controller.
  const path = rule.path;
  if (isUnset(path) || path === '') {
    if (typeof pathType === 'string' && (PATH_TYPES as readonly string[]).includes(pathType))
      out.required(`${field}.path`, 'serviceexport-path', `required for pathType ${pathType}`);
  } else if (typeof path !== 'string' || !path.startsWith('/')) {
    out.invalid(`${field}.path`, path, "must be an absolute path starting with '/'", 'serviceexport-path');
  }
}

/** Two rules with the same (path, pathType) compete for one Ingress path: only one of them can win. */
function checkUniquePaths(out: Findings, rules: readonly unknown[]): void {
  const seen = new Map<string, number>();
  rules.forEach((r, i) => {
    const { path, pathType } = asRecord(r);
    if (typeof path !== 'string' || path === '' || typeof pathType !== 'string') return;
    const key = JSON.stringify([path, pathType]);
    const first = seen.get(key);
    if (first === undefined) seen.set(key, i);
    else out.duplicate(`spec.rules[${i}].path`, path, 'serviceexport-path-unique', `the same path and pathType ${pathType} as spec.rules[${first}]`);
  });
}

function checkPathRewrite(out: Findings, v: unknown): void {
  if (isUnset(v)) return;
  if (!isRecord(v)) {
    out.invalid('spec.pathRewrite', v, 'must be an object with from and to', 'serviceexport-path-rewrite');
    return;
  }
  for (const key of ['from', 'to'] as const)
    if (!isUnset(v[key]) && typeof v[key] !== 'string') out.invalid(`spec.pathRewrite.${key}`, v[key], 'must be a string', 'serviceexport-path-rewrite');
  // A rewrite with nothing to replace produces a rewrite rule that matches nothing (or everything).
  if (typeof v.to === 'string' && v.to !== '' && (isUnset(v.from) || v.from === ''))
    out.required('spec.pathRewrite.from', 'serviceexport-path-rewrite', 'the path prefix to replace must be set when spec.pathRewrite.to is set');
}

export function validateServiceExport(obj: KubeObject, ctx: ValidationContext, out: Findings): void {
  const spec = specOf(obj, out, { rule: 'object-shape' });
  if (!spec) return;
  const namespace = namespaceOf(obj);
  const serviceRef = `${namespace}/${nameOf(obj)}`;
  const service = ctx.get('Service', namespace, nameOf(obj));

  // The export applies to the Service of the same name; applying both at once may race, so only warn.
  if (!service) out.warn('metadata.name', `Service ${serviceRef} not found: the export stays invalid until that Service exists`, 'serviceexport-service-missing');
  // An ExternalName Service has no endpoints in this cluster for other clusters to reach.
  else if (asRecord(service.spec).type === 'ExternalName')
    out.conflict('metadata.name', `Type of Service ${serviceRef} is ExternalName, cannot be exported. It has no endpoints in this cluster that other clusters could reach`, 'serviceexport-service-type');

  // Each rule is a port and path other clusters reach: an export without rules exports nothing.
  if (checkArray(out, 'spec.rules', spec.rules, 'serviceexport-rule', { minItems: 1 })) {
    spec.rules.forEach((r, i) => checkExportRule(out, `spec.rules[${i}]`, r, service, serviceRef));
    checkUniquePaths(out, spec.rules);
  }
  checkPathRewrite(out, spec.pathRewrite);
  // Copied into the ServiceImport as the identity of the remote endpoints: a name no ServiceAccount can have matches
  // no access policy.
  checkServiceAccountName(out, 'spec.serviceAccountName', spec.serviceAccountName, 'serviceexport-service-account');
  // An unknown balancer name reaches the generated Ingress annotation and the proxy config as is.
  checkEnum(out, 'spec.loadBalancer', spec.loadBalancer, LOAD_BALANCERS, 'serviceexport-load-balancer');
  // A value that is not a boolean cannot be decoded into the controller's Go type: the export would be skipped.
  checkBoolean(out, 'spec.sessionSticky', spec.sessionSticky, 'serviceexport-session-sticky');

  if (checkArray(out, 'spec.targetClusters', spec.targetClusters, 'serviceexport-target-clusters')) {
    // Malformed keys here mean the user expects a restriction that could never match a cluster.
    spec.targetClusters.forEach((k, i) => checkClusterKey(out, `spec.targetClusters[${i}]`, k, 'serviceexport-target-clusters'));
    // FSM never reads the field: users believe the export is restricted when every cluster imports it.
    if (spec.targetClusters.length > 0)
      out.warn('spec.targetClusters', 'FSM ignores targetClusters: every cluster in the cluster set imports this service; choose clusters with a GlobalTrafficPolicy on the importing side', 'serviceexport-target-clusters');
  }
}

// ---------------------------------------------------------------------------------------------------------------
// ServiceImport

/** Protocols the mesh routes for a service port (sidecar protocol selection; https as in ingress/egress). */
const APP_PROTOCOLS = ['http', 'https', 'tcp', 'tcp-server-first', 'grpc'] as const;
const PORT_PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;
const IMPORT_TYPES = ['ClusterSetIP', 'Headless'] as const;
const SESSION_AFFINITIES = ['None', 'ClientIP'] as const;
const MAX_AFFINITY_TIMEOUT_SECONDS = 86400;

/** A literal IPv4/IPv6 address an endpoint can be dialled at (no zone index: it only means something on one host). */
function isEndpointIp(v: unknown): v is string {
  return typeof v === 'string' && isIP(v) !== 0 && !v.includes('%');
}

function checkImportEndpoint(out: Findings, field: string, endpoint: unknown): void {
  if (!isRecord(endpoint)) {
    out.invalid(field, endpoint, 'must be an object with clusterKey and target', 'serviceimport-endpoint');
    return;
  }
  // GlobalTrafficPolicy targets are matched against this key; a malformed one can never be selected.
  checkClusterKey(out, `${field}.clusterKey`, endpoint.clusterKey, 'serviceimport-cluster-key-format');
  const target = endpoint.target;
  if (!isRecord(target)) {
    if (isUnset(target)) out.required(`${field}.target`, 'serviceimport-endpoint');
    else out.invalid(`${field}.target`, target, 'must be an object with host, ip, port and path', 'serviceimport-endpoint');
    return;
  }
  // The sidecar dials target.ip directly: anything else makes the endpoint unreachable.
  if (isUnset(target.ip) || target.ip === '') out.required(`${field}.target.ip`, 'serviceimport-target-ip');
  else if (!isEndpointIp(target.ip)) out.invalid(`${field}.target.ip`, target.ip, 'must be an IPv4 or IPv6 address', 'serviceimport-target-ip');
  // Port 0 or out of range: the upstream cannot be dialled.
  if (isUnset(target.port)) out.required(`${field}.target.port`, 'serviceimport-target-port');
  else checkPort(out, `${field}.target.port`, target.port, 'serviceimport-target-port');
  // host and path are copied into the proxy config as strings; another type fails decoding in the controller.
  for (const key of ['host', 'path'] as const)
    if (!isUnset(target[key]) && typeof target[key] !== 'string') out.invalid(`${field}.target.${key}`, target[key], 'must be a string', 'serviceimport-target-field');
}

function checkImportPort(out: Findings, field: string, port: unknown): void {
  if (!isRecord(port)) {
    out.invalid(field, port, 'must be an object with port and endpoints', 'serviceimport-port');
    return;
  }
  // Port 0 or out of range gives the imported service a listener that cannot exist.
  if (isUnset(port.port)) out.required(`${field}.port`, 'serviceimport-port');
  else checkPort(out, `${field}.port`, port.port, 'serviceimport-port');
  // The imported Service port is built with this protocol: Kubernetes knows TCP, UDP and SCTP only.
  checkEnum(out, `${field}.protocol`, port.protocol, PORT_PROTOCOLS, 'serviceimport-protocol');
  // An appProtocol the sidecar does not know is passed through unhandled: the port gets none of the mesh's protocol
  // handling.
  checkEnum(out, `${field}.appProtocol`, port.appProtocol, APP_PROTOCOLS, 'serviceimport-app-protocol');
  // A null list is how the controllers write "no endpoints yet"; only a non-list is wrong.
  if (checkArray(out, `${field}.endpoints`, port.endpoints, 'serviceimport-endpoint'))
    port.endpoints.forEach((e, j) => checkImportEndpoint(out, `${field}.endpoints[${j}]`, e));
}

function checkSessionAffinity(out: Findings, spec: Record<string, unknown>): void {
  // kube-proxy semantics: any other value is rejected when the imported Service is materialised.
  checkEnum(out, 'spec.sessionAffinity', spec.sessionAffinity, SESSION_AFFINITIES, 'serviceimport-session-affinity');
  const config = spec.sessionAffinityConfig;
  if (isUnset(config)) return;
  const clientIP = asRecord(asRecord(config).clientIP);
  // Kubernetes bounds the affinity timeout to one day; anything else is rejected on the derived Service.
  if (!isUnset(clientIP.timeoutSeconds))
    checkIntRange(out, 'spec.sessionAffinityConfig.clientIP.timeoutSeconds', clientIP.timeoutSeconds, 1, MAX_AFFINITY_TIMEOUT_SECONDS, 'serviceimport-timeout');
}

export function validateServiceImport(obj: KubeObject, _ctx: ValidationContext, out: Findings): void {
  const spec = specOf(obj, out, { rule: 'object-shape' });
  if (!spec) return;

  // An import without ports has nothing to route: the Service it stands for is unreachable.
  if (checkArray(out, 'spec.ports', spec.ports, 'serviceimport-ports', { required: true, minItems: 1 })) {
    spec.ports.forEach((p, i) => checkImportPort(out, `spec.ports[${i}]`, p));
    // Two entries for one port number: which endpoints serve it is undefined.
    checkUnique(out, spec.ports, (p) => (isInteger(asRecord(p).port) ? String(asRecord(p).port) : undefined), (i) => `spec.ports[${i}].port`, (p) => asRecord(p).port, 'serviceimport-port-unique');
  }

  if (checkArray(out, 'spec.ips', spec.ips, 'serviceimport-ips')) {
    // A ClusterSet service has exactly one virtual IP; extra ones are never programmed.
    if (spec.ips.length > 1) out.invalid('spec.ips', spec.ips, 'must have at most 1 item (the ClusterSet IP)', 'serviceimport-ips');
    spec.ips.forEach((ip, i) => {
      if (!isEndpointIp(ip)) out.invalid(`spec.ips[${i}]`, ip, 'must be an IPv4 or IPv6 address', 'serviceimport-ips');
    });
  }
  // The controllers build a ClusterIP or headless Service from this; other values have no meaning.
  checkEnum(out, 'spec.type', spec.type, IMPORT_TYPES, 'serviceimport-type');
  checkSessionAffinity(out, spec);
  // The identity the remote endpoints are authorized as: a name no ServiceAccount can have matches no access policy.
  checkServiceAccountName(out, 'spec.serviceAccountName', spec.serviceAccountName, 'serviceimport-service-account');
}

// ---------------------------------------------------------------------------------------------------------------
// Cluster (cluster-scoped). Syntactic checks only: FSM resolves gatewayHost over DNS at admission, which is slow and
// flaky inside a 10 s webhook budget; a name that does not resolve yet is not a reason to reject the object.

const CONNECTOR_MODE_LABEL = 'multicluster.flomesh.io/connector-mode';
const CONNECTOR_MODES = ['local', 'remote'] as const;
const LOCATION_FIELDS = ['region', 'zone', 'group'] as const;

/** Addresses no other cluster can reach this cluster's gateway at (Go's IsLoopback || IsUnspecified). */
const UNREACHABLE_ADDRESSES = (() => {
  const list = new BlockList();
  list.addSubnet('127.0.0.0', 8, 'ipv4');
  list.addAddress('0.0.0.0', 'ipv4');
  list.addAddress('::1', 'ipv6');
  list.addAddress('::', 'ipv6');
  return list;
})();

/** `localhost` and `*.localhost` always resolve to loopback (RFC 6761): known without a DNS lookup. */
function isLoopbackHost(host: string): boolean {
  const family = isIP(host);
  if (family !== 0) return UNREACHABLE_ADDRESSES.check(host, family === 4 ? 'ipv4' : 'ipv6');
  return host === 'localhost' || host.endsWith('.localhost');
}

/**
 * A Cluster is the local one ("InCluster") when fsm-classic's `spec.isInCluster: true` or connector-mode label `local`
 * says so; every other Cluster (all of FSM's, which has neither) is a remote "OutCluster" reached through its gateway.
 */
function isLocalCluster(obj: KubeObject, spec: Record<string, unknown>, out: Findings): boolean {
  const field = `metadata.labels[${CONNECTOR_MODE_LABEL}]`;
  const labels: unknown = obj.metadata?.labels;
  const mode = isRecord(labels) ? labels[CONNECTOR_MODE_LABEL] : undefined;
  checkBoolean(out, 'spec.isInCluster', spec.isInCluster, 'cluster-connector-mode');
  const inCluster = spec.isInCluster === true;
  if (mode === undefined) return inCluster;
  // fsm-classic's connector picks its mode from this label; another value leaves the cluster unmanaged.
  if (typeof mode !== 'string' || !(CONNECTOR_MODES as readonly string[]).includes(mode)) {
    out.invalid(field, mode, `invalid value ${formatValue(mode)} for label ${CONNECTOR_MODE_LABEL}, must be either 'local' or 'remote'`, 'cluster-connector-mode');
    return inCluster;
  }
  // Label and spec disagreeing makes the connector and the controller treat the cluster differently (FSM's Cluster
  // has no isInCluster: only an explicit value can disagree).
  if (typeof spec.isInCluster === 'boolean' && (mode === 'local') !== inCluster)
    out.conflict(field, `label and spec doesn't match: ${CONNECTOR_MODE_LABEL}=${mode}, spec.IsInCluster=${inCluster}`, 'cluster-connector-mode');
  return mode === 'local' || inCluster;
}

function checkGatewayHost(out: Findings, host: unknown, remote: boolean): void {
  const field = 'spec.gatewayHost';
  if (isUnset(host) || host === '') {
    // Remote clusters are reached only through their gateway: without a host no endpoint can be written.
    if (remote) out.required(field, 'cluster-gateway-host', 'GatewayHost is required in OutCluster mode (other clusters reach this cluster through its gateway)');
    return;
  }
  if (typeof host !== 'string' || (isIP(host) === 0 && !isDns1123Subdomain(host))) {
    // A malformed host becomes the target of every imported endpoint of this cluster: all of them unreachable.
    out.invalid(field, host, `invalid DNS name ${JSON.stringify(host)}: must be an IP address or a lowercase RFC 1123 subdomain`, 'cluster-gateway-host');
    return;
  }
  // Loopback/unspecified sends other clusters' traffic to themselves.
  if (isLoopbackHost(host))
    out.invalid(field, host, `gateway Host ${host} is resolved to Loopback IP or Unspecified, which other clusters cannot reach`, 'cluster-gateway-host');
}

function checkKubeconfig(out: Findings, kubeconfig: unknown, remote: boolean): void {
  const field = 'spec.kubeconfig';
  if (isUnset(kubeconfig) || kubeconfig === '') {
    // Without credentials the control plane cannot connect to a remote cluster to sync exports.
    if (remote) out.required(field, 'cluster-kubeconfig', 'kubeconfig must be set in OutCluster mode');
    return;
  }
  if (typeof kubeconfig !== 'string') {
    out.invalid(field, kubeconfig, 'must be a string (the kubeconfig file content)', 'cluster-kubeconfig');
    return;
  }
  // Credentials in a CR are readable by anyone allowed to get Clusters.
  out.warn(field, 'kubeconfig is stored in plain text in this Cluster object: anyone who can read Clusters gets these credentials; restrict RBAC accordingly', 'cluster-kubeconfig-plaintext');
}

export function validateCluster(obj: KubeObject, _ctx: ValidationContext, out: Findings): void {
  const spec = specOf(obj, out, { rule: 'object-shape' });
  if (!spec) return;
  const remote = !isLocalCluster(obj, spec, out);

  checkGatewayHost(out, spec.gatewayHost, remote);
  // FSM's "invalid port number" check: the gateway port goes into every imported endpoint of this cluster.
  if (!isUnset(spec.gatewayPort) && !(isInteger(spec.gatewayPort) && spec.gatewayPort >= 1 && spec.gatewayPort <= 65535))
    out.invalid('spec.gatewayPort', spec.gatewayPort, `invalid port number ${formatValue(spec.gatewayPort)}: must be an integer between 1 and 65535`, 'cluster-gateway-port');
  checkKubeconfig(out, spec.kubeconfig, remote);

  // Each location segment is part of the cluster key: a '/' or odd character makes a key no policy can match.
  for (const key of LOCATION_FIELDS)
    if (!isUnset(spec[key]) && spec[key] !== '') checkDns1123Label(out, `spec.${key}`, spec[key], 'cluster-location');
  // Namespace and MeshConfig names of the member's control plane: anything else is never found there.
  if (!isUnset(spec.fsmNamespace) && spec.fsmNamespace !== '') checkDns1123Label(out, 'spec.fsmNamespace', spec.fsmNamespace, 'cluster-fsm-namespace');
  // The member's MeshConfig is looked up by this name: one no object can have is never found.
  if (!isUnset(spec.fsmMeshConfigName) && spec.fsmMeshConfigName !== '')
    checkDns1123Subdomain(out, 'spec.fsmMeshConfigName', spec.fsmMeshConfigName, 'cluster-mesh-config-name');

  // A dotted name is a valid object name but its key fails the GlobalTrafficPolicy clusterKey format.
  const name = nameOf(obj);
  if (name !== '' && !isDns1123Label(name))
    out.warn('metadata.name', `cluster key ${clusterKeyOf(obj)} cannot be referenced by GlobalTrafficPolicy targets, whose segments must be RFC 1123 labels (no dots)`, 'cluster-key-unreferencable');
}
