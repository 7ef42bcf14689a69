// What the API server checks before a webhook is ever called, for the offline command only: the versions each group
// was published in, the names of the fields of each kind (kubectl's strict field validation), and metadata.name. The
// webhook path never runs these: there the API server has already decoded the object against the installed CRD.
//
// Data first: the published versions per group and the known field names per kind are tables; the code walks them.
// The field table is deliberately partial: a path that is not in it is not checked (free-form maps such as labels,
// PluginConfig.config, HTTPRouteGroup headers, and the MeshConfig subtrees whose schema differs between releases).
import type { FieldError, Warning } from '../mesh/field-errors.js';
import { findKind, KINDS, scopeOf, type KindInfo } from '../mesh/kinds.js';
import { isRecord, splitApiVersion, type KubeObject } from '../mesh/objects.js';

/**
 * The versions each group of the kind table has been published in (osm-edge, FSM, fsm-classic, the SMI releases the
 * meshes install). Any other version of these groups does not exist on a cluster: `kubectl apply` fails with
 * `no matches for kind`.
 */
export const PUBLISHED_VERSIONS: Readonly<Record<string, readonly string[]>> = {
  '': ['v1'],
  'plugin.flomesh.io': ['v1alpha1'],
  'policy.flomesh.io': ['v1alpha1'],
  'policy.openservicemesh.io': ['v1alpha1'],
  'multicluster.flomesh.io': ['v1alpha1'],
  'flomesh.io': ['v1alpha1'],
  'config.flomesh.io': ['v1alpha1', 'v1alpha2', 'v1alpha3'],
  'config.openservicemesh.io': ['v1alpha1', 'v1alpha2', 'v1alpha3'],
  'access.smi-spec.io': ['v1alpha1', 'v1alpha2', 'v1alpha3'],
  'specs.smi-spec.io': ['v1alpha1', 'v1alpha2', 'v1alpha3', 'v1alpha4'],
  'split.smi-spec.io': ['v1alpha1', 'v1alpha2', 'v1alpha3', 'v1alpha4'],
};

/** Kinds of the mesh groups that exist but are not checked here: never taken for a misspelling of a checked kind. */
const OTHER_KINDS: Readonly<Record<string, readonly string[]>> = {
  'policy.flomesh.io': ['AccessCert', 'Isolation'],
  'policy.openservicemesh.io': ['AccessCert'],
  'config.flomesh.io': ['MeshRootCertificate'],
  'config.openservicemesh.io': ['MeshRootCertificate'],
  'flomesh.io': ['ProxyProfile'],
  'access.smi-spec.io': ['IdentityBinding'],
  'specs.smi-spec.io': ['UDPRoute'],
};

/** Fields under a schema path (`spec.ports[]` stands for every item of spec.ports; '' is the object itself). */
type FieldTable = Readonly<Record<string, readonly string[]>>;

interface KindSchema {
  /** the versions whose layout the table describes (default: every published version) */
  readonly versions?: readonly string[];
  readonly fields: FieldTable;
}

const TOP = ['apiVersion', 'kind', 'metadata', 'spec', 'status'];
const OBJECT_META = [
  'name', 'generateName', 'namespace', 'selfLink', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp',
  'deletionGracePeriodSeconds', 'labels', 'annotations', 'ownerReferences', 'finalizers', 'managedFields',
];
const OBJECT_REFERENCE = ['apiVersion', 'kind', 'name', 'namespace', 'uid', 'resourceVersion', 'fieldPath'];
const TYPED_REFERENCE = ['apiGroup', 'kind', 'name'];
const STATUS_REASON = ['currentStatus', 'reason'];

const labelSelector = (p: string): FieldTable => ({ [p]: ['matchLabels', 'matchExpressions'], [`${p}.matchExpressions[]`]: ['key', 'operator', 'values'] });
const localHttpRateLimit = (p: string): FieldTable => ({
  [p]: ['requests', 'unit', 'burst', 'responseStatusCode', 'responseHeadersToAdd'],
  [`${p}.responseHeadersToAdd[]`]: ['name', 'value'],
});

/** IngressBackend and AccessControl share one layout. */
const BACKEND_POLICY: FieldTable = {
  spec: ['backends', 'sources', 'matches'],
  'spec.backends[]': ['name', 'port', 'tls'],
  'spec.backends[].port': ['number', 'protocol'],
  'spec.backends[].tls': ['skipClientCertValidation', 'sniHosts'],
  'spec.sources[]': ['kind', 'name', 'namespace'],
  'spec.matches[]': TYPED_REFERENCE,
  status: STATUS_REASON,
};

/** From the published CRDs and Go types of FSM, osm-edge and SMI, and the fields the rules read. */
const SCHEMAS: Readonly<Record<string, KindSchema>> = {
  // the osm-edge CRD also declares spec.matches (the Go type has no such field, but the API server accepts it)
  Plugin: { fields: { spec: ['priority', 'pipyscript', 'matches'], status: STATUS_REASON } },
  PluginChain: {
    fields: { spec: ['chains', 'selectors'], 'spec.chains[]': ['name', 'plugins'], 'spec.selectors': ['podSelector', 'namespaceSelector'], ...labelSelector('spec.selectors.podSelector'), ...labelSelector('spec.selectors.namespaceSelector'), status: STATUS_REASON },
  },
  PluginConfig: { fields: { spec: ['plugin', 'destinationRefs', 'config'], 'spec.destinationRefs[]': OBJECT_REFERENCE, status: STATUS_REASON } },
  Egress: {
    fields: {
      spec: ['sources', 'hosts', 'ipAddresses', 'ports', 'matches'],
      'spec.sources[]': ['kind', 'name', 'namespace', 'mtls'],
      'spec.sources[].mtls': ['issuer', 'cert'],
      'spec.sources[].mtls.cert': ['sn', 'subjectAltNames', 'expiration', 'secret'],
      'spec.sources[].mtls.cert.secret': ['name', 'namespace'],
      'spec.ports[]': ['number', 'protocol'],
      'spec.matches[]': TYPED_REFERENCE,
      status: STATUS_REASON,
    },
  },
  IngressBackend: { fields: BACKEND_POLICY },
  AccessControl: { fields: BACKEND_POLICY },
  UpstreamTrafficSetting: {
    fields: {
      spec: ['host', 'connectionSettings', 'rateLimit', 'httpRoutes'],
      'spec.connectionSettings': ['tcp', 'http'],
      'spec.connectionSettings.tcp': ['maxConnections', 'connectTimeout'],
      'spec.connectionSettings.http': ['maxRequests', 'maxRequestsPerConnection', 'maxPendingRequests', 'maxRetries', 'circuitBreaking'],
      'spec.connectionSettings.http.circuitBreaking': [
        'statTimeWindow', 'minRequestAmount', 'degradedTimeWindow', 'slowTimeThreshold', 'slowAmountThreshold', 'slowRatioThreshold',
        'errorAmountThreshold', 'errorRatioThreshold', 'degradedStatusCode', 'degradedResponseContent',
      ],
      'spec.rateLimit': ['local'],
      'spec.rateLimit.local': ['tcp', 'http'],
      'spec.rateLimit.local.tcp': ['connections', 'unit', 'burst'],
      ...localHttpRateLimit('spec.rateLimit.local.http'),
      'spec.httpRoutes[]': ['path', 'rateLimit'],
      'spec.httpRoutes[].rateLimit': ['local'],
      ...localHttpRateLimit('spec.httpRoutes[].rateLimit.local'),
      status: STATUS_REASON,
    },
  },
  EgressGateway: {
    fields: {
      spec: ['global', 'rules', 'matches'],
      'spec.global[]': ['service', 'namespace', 'weight'],
      'spec.rules[]': ['egressPolicies', 'egressGateways'],
      'spec.rules[].egressPolicies[]': ['name', 'namespace'],
      'spec.rules[].egressGateways[]': ['service', 'namespace', 'weight'],
      status: STATUS_REASON,
    },
  },
  Retry: {
    fields: {
      spec: ['source', 'destinations', 'retryPolicy'],
      'spec.source': ['kind', 'name', 'namespace'],
      'spec.destinations[]': ['kind', 'name', 'namespace'],
      'spec.retryPolicy': ['retryOn', 'perTryTimeout', 'numRetries', 'retryBackoffBaseInterval'],
      status: STATUS_REASON,
    },
  },
  GlobalTrafficPolicy: { fields: { spec: ['lbType', 'targets'], 'spec.targets[]': ['clusterKey', 'weight'] } },
  ServiceExport: {
    fields: {
      spec: ['pathRewrite', 'sessionSticky', 'loadBalancer', 'rules', 'targetClusters', 'serviceAccountName'],
      'spec.pathRewrite': ['from', 'to'],
      'spec.rules[]': ['portNumber', 'path', 'pathType'],
    },
  },
  ServiceImport: {
    fields: {
      spec: ['ports', 'ips', 'type', 'sessionAffinity', 'sessionAffinityConfig', 'serviceAccountName'],
      'spec.ports[]': ['name', 'protocol', 'appProtocol', 'port', 'endpoints'],
      'spec.ports[].endpoints[]': ['clusterKey', 'target'],
      'spec.ports[].endpoints[].target': ['host', 'ip', 'port', 'path'],
      'spec.sessionAffinityConfig': ['clientIP'],
      'spec.sessionAffinityConfig.clientIP': ['timeoutSeconds'],
    },
  },
  // Cluster: FSM and fsm-classic spell the spec differently; only its envelope is checked
  Cluster: { fields: {} },
  // SMI v1alpha1 kept these fields outside `spec`; its layout is not checked
  TrafficTarget: {
    versions: ['v1alpha2', 'v1alpha3'],
    fields: { spec: ['destination', 'rules', 'sources'], 'spec.destination': ['kind', 'name', 'namespace', 'port'], 'spec.rules[]': ['kind', 'name', 'matches'], 'spec.sources[]': ['kind', 'name', 'namespace'] },
  },
  HTTPRouteGroup: { versions: ['v1alpha2', 'v1alpha3', 'v1alpha4'], fields: { spec: ['matches'], 'spec.matches[]': ['name', 'pathRegex', 'methods', 'headers'] } },
  TCPRoute: { versions: ['v1alpha4'], fields: { spec: ['matches'], 'spec.matches': ['name', 'ports'] } },
  TrafficSplit: { versions: ['v1alpha2', 'v1alpha3', 'v1alpha4'], fields: { spec: ['service', 'backends', 'matches'], 'spec.backends[]': ['service', 'weight'], 'spec.matches[]': ['kind', 'name', 'apiGroup'] } },
  // the MeshConfig spec grows with every release (FSM v1alpha3 adds a dozen sections): only the plugin chains
  MeshConfig: {
    fields: {
      'spec.pluginChains': ['inbound-tcp', 'inbound-http', 'outbound-tcp', 'outbound-http'],
      ...Object.fromEntries(['inbound-tcp', 'inbound-http', 'outbound-tcp', 'outbound-http'].map((c) => [`spec.pluginChains.${c}[]`, ['plugin', 'priority', 'disable']])),
    },
  },
  Service: {
    fields: {
      spec: [
        'ports', 'selector', 'clusterIP', 'clusterIPs', 'type', 'externalIPs', 'sessionAffinity', 'loadBalancerIP', 'loadBalancerSourceRanges',
        'externalName', 'externalTrafficPolicy', 'healthCheckNodePort', 'publishNotReadyAddresses', 'sessionAffinityConfig', 'ipFamilies',
        'ipFamilyPolicy', 'allocateLoadBalancerNodePorts', 'loadBalancerClass', 'internalTrafficPolicy', 'trafficDistribution',
      ],
      'spec.ports[]': ['name', 'protocol', 'appProtocol', 'port', 'targetPort', 'nodePort'],
    },
  },
};

// ---- did you mean ------------------------------------------------------------------------------------------------

/** Optimal string alignment distance (a transposition counts as one edit), case-insensitive. */
export function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  const d: number[][] = Array.from({ length: s.length + 1 }, (_, i) => Array.from({ length: t.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= s.length; i++)
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  return d[s.length]![t.length]!;
}

/** The closest candidate a typo could have meant: a different case, or one or two edits for words of 5+ letters. */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    if (c === word) return undefined;
    const dist = editDistance(word, c);
    if (dist < bestDistance) [best, bestDistance] = [c, dist];
  }
  const allowed = word.length >= 5 ? 2 : 1;
  return best !== undefined && bestDistance <= allowed ? best : undefined;
}

// ---- checks ------------------------------------------------------------------------------------------------------

export const RULES = {
  unknownField: 'unknown-field',
  apiVersion: 'api-version',
  kind: 'kind',
  name: 'metadata-name',
  namespace: 'metadata-namespace',
  size: 'object-size',
} as const;

const KNOWN_GROUPS = Object.keys(PUBLISHED_VERSIONS).filter((g) => g !== '');

/**
 * An apiVersion and kind that cannot be what was meant: a group one or two letters away from a mesh group, a kind of
 * a mesh group spelled differently from the table's, a version the group was never published in. An object of a
 * group nobody here knows (apps, other CRDs) is not a mistake: it is skipped.
 */
export function checkTypeMeta(obj: KubeObject): FieldError[] {
  const apiVersion = String(obj.apiVersion ?? '');
  const kind = String(obj.kind ?? '');
  const { group, version } = splitApiVersion(apiVersion);
  const entry = findKind(group, kind);
  if (entry) {
    const versions = PUBLISHED_VERSIONS[group] ?? [];
    if (versions.includes(version)) return [];
    // The API server serves no such version: `kubectl apply` fails before any webhook, so a CI gate must too.
    const supported = versions.map((v) => JSON.stringify(group ? `${group}/${v}` : v)).join(', ');
    return [{ type: 'FieldValueNotSupported', field: 'apiVersion', message: `Unsupported value: ${JSON.stringify(apiVersion)}: ${kind} is not served in version ${version || '(none)'} of ${group || 'the core group'}; supported values: ${supported}`, rule: RULES.apiVersion }];
  }
  const groupKinds = KINDS.filter((k) => k.groups.includes(group)).map((k) => k.kind);
  if (group === '' || KNOWN_GROUPS.includes(group)) {
    // a known group: only a near miss of one of its checked kinds is a mistake (it holds other kinds too)
    const others = OTHER_KINDS[group] ?? [];
    const meant = others.includes(kind) ? undefined : didYouMean(kind, [...groupKinds, ...others]);
    // A misspelt kind is no resource the API server serves: the object is refused (or, unchecked, lost) as written.
    return meant && groupKinds.includes(meant) ? [{ type: 'FieldValueNotSupported', field: 'kind', message: `Unsupported value: ${JSON.stringify(kind)}: no kind ${kind} in ${group || 'the core group'}; did you mean ${JSON.stringify(meant)}?`, rule: RULES.kind }] : [];
  }
  // A group one or two letters from a mesh group is a typo: the API server knows no such group and refuses the object.
  const meantGroup = didYouMean(group, KNOWN_GROUPS);
  if (!meantGroup) return [];
  const meantKind = KINDS.some((k) => k.kind === kind && k.groups.includes(meantGroup)) ? kind : didYouMean(kind, KINDS.filter((k) => k.groups.includes(meantGroup)).map((k) => k.kind));
  const suggestion = `${meantGroup}/${version}`;
  return [
    {
      type: 'FieldValueNotSupported',
      field: 'apiVersion',
      message: `Unsupported value: ${JSON.stringify(apiVersion)}: no API group ${group}; did you mean ${JSON.stringify(suggestion)}${meantKind && meantKind !== kind ? ` (kind ${meantKind})` : ''}?`,
      rule: RULES.apiVersion,
    },
  ];
}

/** A table kind without a name cannot be created (kubectl apply needs the name, create at least generateName). */
export function checkName(obj: KubeObject): FieldError[] {
  const meta = isRecord(obj.metadata) ? obj.metadata : {};
  const named = (v: unknown): boolean => typeof v === 'string' && v !== '';
  if (named(meta.name) || named(meta.generateName)) return [];
  return [{ type: 'FieldValueRequired', field: 'metadata.name', message: 'Required value: name or generateName is required', rule: RULES.name }];
}

// ---- names ---------------------------------------------------------------------------------------------------

/**
 * How the API server validates metadata.name: custom resources (every mesh kind) and most built-in kinds take a
 * DNS-1123 subdomain, a Namespace a DNS-1123 label, a Service a DNS-1035 label (its name becomes a DNS label that
 * must start with a letter). Built-in kinds not listed here are not checked: some take other forms (RBAC objects
 * take path segments), and a wrong denial would block a valid change.
 */
type NameFormat = 'dns1123-subdomain' | 'dns1123-label' | 'dns1035-label';

const BUILTIN_NAMES: Readonly<Record<string, { format: NameFormat; maxLength?: number }>> = {
  '/Namespace': { format: 'dns1123-label' },
  '/Service': { format: 'dns1035-label' },
  '/Pod': { format: 'dns1123-subdomain' },
  '/ConfigMap': { format: 'dns1123-subdomain' },
  '/Secret': { format: 'dns1123-subdomain' },
  '/ServiceAccount': { format: 'dns1123-subdomain' },
  'apps/Deployment': { format: 'dns1123-subdomain' },
  'apps/StatefulSet': { format: 'dns1123-subdomain' },
  'apps/DaemonSet': { format: 'dns1123-subdomain' },
  'apps/ReplicaSet': { format: 'dns1123-subdomain' },
  'batch/Job': { format: 'dns1123-subdomain' },
  // the Jobs it creates are named <name>-<11 digits>, which must fit a label value
  'batch/CronJob': { format: 'dns1123-subdomain', maxLength: 52 },
};

const NAME_FORMATS: Readonly<Record<NameFormat, { readonly regex: RegExp; readonly source: string; readonly maxLength: number; readonly message: string; readonly examples: readonly string[] }>> = {
  'dns1123-subdomain': {
    regex: /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
    source: '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*',
    maxLength: 253,
    message: "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
    examples: ['example.com'],
  },
  'dns1123-label': {
    regex: /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/,
    source: '[a-z0-9]([-a-z0-9]*[a-z0-9])?',
    maxLength: 63,
    message: "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
    examples: ['my-name', '123-abc'],
  },
  'dns1035-label': {
    regex: /^[a-z]([-a-z0-9]*[a-z0-9])?$/,
    source: '[a-z]([-a-z0-9]*[a-z0-9])?',
    maxLength: 63,
    message: "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
    examples: ['my-name', 'abc-123'],
  },
};

/** The name format of a kind, or undefined when it is not checked here. */
export function nameFormatOf(group: string, kind: string): { format: NameFormat; maxLength?: number } | undefined {
  const builtin = BUILTIN_NAMES[`${group}/${kind}`];
  if (builtin) return builtin;
  return findKind(group, kind) ? { format: 'dns1123-subdomain' } : undefined;
}

/** apimachinery's messages for a value that is not of `format`, word for word (kubectl users know them). */
export function nameMessages(value: string, format: NameFormat, maxLength?: number): string[] {
  const f = NAME_FORMATS[format];
  const out: string[] = [];
  const max = Math.min(maxLength ?? f.maxLength, f.maxLength);
  if (value.length > max) out.push(`must be no more than ${max} characters`);
  if (!f.regex.test(value)) out.push(`${f.message} (e.g. ${f.examples.map((e) => `'${e}', `).join(' or ')}regex used for validation is '${f.source}')`);
  return out;
}

/**
 * metadata.name and generateName by the rules of the kind, and metadata.namespace (a DNS-1123 label), as the API
 * server checks them before any webhook is called. A generateName is a prefix: a trailing '-' is allowed.
 */
export function checkObjectMeta(obj: KubeObject): FieldError[] {
  const meta = isRecord(obj.metadata) ? obj.metadata : {};
  const { group } = splitApiVersion(String(obj.apiVersion ?? ''));
  const rule = nameFormatOf(group, String(obj.kind ?? ''));
  const errors: FieldError[] = [];
  const invalid = (field: string, value: string, messages: string[], ruleId: string): void => {
    for (const m of messages) errors.push({ type: 'FieldValueInvalid', field, message: `Invalid value: ${JSON.stringify(value)}: ${m}`, rule: ruleId });
  };
  // The API server refuses these names before any webhook runs: say so offline, in its words.
  if (rule && typeof meta.name === 'string' && meta.name !== '') invalid('metadata.name', meta.name, nameMessages(meta.name, rule.format, rule.maxLength), RULES.name);
  if (rule && typeof meta.generateName === 'string' && meta.generateName !== '') {
    const masked = meta.generateName.endsWith('-') ? `${meta.generateName.slice(0, -1)}a` : meta.generateName;
    invalid('metadata.generateName', meta.generateName, nameMessages(masked, rule.format, rule.maxLength), RULES.name);
  }
  // A namespace name that is not a DNS-1123 label is refused the same way.
  if (typeof meta.namespace === 'string' && meta.namespace !== '' && scopeOf({ group, kind: String(obj.kind ?? '') }) === 'Namespaced') invalid('metadata.namespace', meta.namespace, nameMessages(meta.namespace, 'dns1123-label'), RULES.namespace);
  return errors;
}

// ---- size ----------------------------------------------------------------------------------------------------

/**
 * The largest object a cluster stores: etcd's default request limit (its --max-request-bytes, 1.5 MiB). The API
 * server itself accepts request bodies up to 3 MiB, then etcd refuses the write ("etcdserver: request is too
 * large"). Measured as JSON, the form custom resources are stored in.
 */
export const MAX_OBJECT_BYTES = 1.5 * 1024 * 1024;

export function checkObjectSize(obj: KubeObject): FieldError[] {
  const bytes = Buffer.byteLength(JSON.stringify(obj));
  if (bytes <= MAX_OBJECT_BYTES) return [];
  // The write fails in etcd after every webhook admitted it: say so before it is applied.
  return [
    {
      type: 'FieldValueTooLong',
      field: '',
      message: `Too long: the object is ${bytes} bytes as JSON; etcd stores at most ${MAX_OBJECT_BYTES} bytes (1.5 MiB, its default --max-request-bytes) and the API server fails the request with "etcdserver: request is too large"`,
      rule: RULES.size,
    },
  ];
}

/** Fields the kind's schema does not have, each with the closest known field when there is one. */
export function unknownFields(obj: KubeObject, entry: KindInfo): Warning[] {
  const schema = SCHEMAS[entry.kind];
  if (!schema) return [];
  const { version } = splitApiVersion(obj.apiVersion);
  const layoutKnown = !schema.versions || schema.versions.includes(version);
  const table: FieldTable = { metadata: OBJECT_META, ...(layoutKnown ? { '': TOP, ...schema.fields } : {}) };
  const found: Warning[] = [];
  const visit = (value: unknown, schemaPath: string, fieldPath: string): void => {
    if (Array.isArray(value)) {
      value.forEach((item, i) => visit(item, `${schemaPath}[]`, `${fieldPath}[${i}]`));
      return;
    }
    if (!isRecord(value)) return;
    const known = table[schemaPath];
    for (const [key, child] of Object.entries(value)) {
      const childField = fieldPath ? `${fieldPath}.${key}` : key;
      if (known && !known.includes(key)) {
        // The API server prunes an unknown field silently (or refuses it with kubectl --validate=strict): a misspelt
        // field is a setting that never takes effect.
        const meant = didYouMean(key, known);
        found.push({ field: childField, message: `unknown field${meant ? `; did you mean ${JSON.stringify(fieldPath ? `${fieldPath}.${meant}` : meant)}?` : ''}`, rule: RULES.unknownField });
        continue;
      }
      visit(child, schemaPath ? `${schemaPath}.${key}` : key, childField);
    }
  };
  visit(obj, '', '');
  return found;
}
