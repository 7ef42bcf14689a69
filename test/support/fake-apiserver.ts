// An in-process fake Kubernetes API server speaking enough of the REST protocol for client-node's generated clients
// and our own list/watch loop: discovery and /version, list (with limit/continue), get, create, update, patch, delete,
// and watch streams with bookmarks, 410 Gone and abrupt disconnects. Tests drive it through the control API
// (addObject / modifyObject / deleteObject / bookmark / sendWatchError / expireResourceVersions / dropWatches /
// failRequests / restart / dropConnections / authorize / setLatency) and assert on `requests`.
//
// Where a webhook server's client can tell the difference, it behaves like a real kube-apiserver: plain HTTP or HTTPS
// with its own CA (connections and TLS handshakes counted, so connection reuse can be checked), a per-request latency,
// restarts that cut every connection and reset the watch cache, optimistic concurrency and delete preconditions with
// the real Status messages, RBAC over the request attributes the apiserver derives (RequestInfo), and optionally the
// garbage collector of kube-controller-manager.
//
// Not modelled: authentication (any token is accepted as the policy's user), admission, field managers, conversion
// between versions (each version of a resource is a separate store, so core/v1 and events.k8s.io/v1 Events are
// separate too), strategic-merge and apply semantics (both are treated as JSON merge patches), finalizers and
// foreground deletion, RBAC nonResourceURLs rules (discovery and health paths are always allowed, other non-resource
// paths never).
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import fastJsonPatch from 'fast-json-patch';
import selfsigned from 'selfsigned';
import { parse as parseYaml } from 'yaml';
import { KubeConfig } from '@kubernetes/client-node';

// ---------------------------------------------------------------------------------------------------------------------
// Public types

export interface ResourceDef {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly kind: string;
  readonly namespaced: boolean;
  readonly singular?: string;
  readonly shortNames?: readonly string[];
  readonly verbs?: readonly string[];
  /** served under a `/status` subresource too (default true) */
  readonly status?: boolean;
}

export type Obj = Record<string, unknown> & {
  apiVersion?: string;
  kind?: string;
  metadata?: Record<string, unknown> & { name?: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> };
};

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  /** parsed JSON (or YAML for apply patches) when possible, else the raw text; undefined when empty */
  readonly body: unknown;
  readonly contentType?: string;
  readonly accept?: string;
  readonly authorization?: string;
  /** classification: discovery, list, watch, get, create, update, patch, delete, deletecollection, other */
  readonly verb: string;
  /** the plural of a resource request (also when the resource is not served) */
  readonly resource?: string;
  // The attributes RBAC sees (see requestAttributes): present for resource requests only; namespace, name and
  // subresource only when not empty. For a list or watch with a `metadata.name=` field selector, name is that name.
  readonly apiGroup?: string;
  readonly namespace?: string;
  readonly name?: string;
  readonly subresource?: string;
  /** false when the policy given to authorize() refused the request (it was answered 403) */
  readonly allowed: boolean;
  readonly at: number;
}

export interface FailureRule {
  /** how many matching requests fail (then the rule is removed) */
  count: number;
  /** HTTP status to answer (default 500) */
  status?: number;
  /** only requests of this verb (list, watch, get, create, update, patch, delete, discovery) */
  verb?: string;
  /** only requests on this plural (e.g. 'namespaces') */
  resource?: string;
  /** only requests whose path matches */
  path?: string | RegExp;
  message?: string;
}

/** Same shape as a rbac.authorization.k8s.io/v1 PolicyRule (resource rules only); subresources as `pods/status`. */
export interface PolicyRule {
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly verbs: readonly string[];
  readonly resourceNames?: readonly string[];
}

export interface AuthorizationPolicy {
  /** the user every request is made as (default DEFAULT_USER) */
  readonly user?: string;
  /** what ClusterRoleBindings grant: applies to every namespace and to cluster-scoped resources */
  readonly clusterRules: readonly PolicyRule[];
  /** what RoleBindings grant, per namespace: only applies to requests in that namespace */
  readonly namespaceRules?: Readonly<Record<string, readonly PolicyRule[]>>;
}

/** Request attributes as kube-apiserver's RequestInfoFactory derives them from a request ('' when absent). */
export interface RequestAttributes {
  readonly resourceRequest: boolean;
  /** get, list, watch, create, update, patch, delete, deletecollection, proxy; the lowercase method otherwise */
  readonly verb: string;
  readonly path: string;
  readonly apiGroup: string;
  readonly apiVersion: string;
  readonly resource: string;
  readonly subresource: string;
  readonly namespace: string;
  readonly name: string;
}

export interface KubernetesVersion {
  readonly major?: string | number;
  /** e.g. 28, or '28+' as some distributions report it */
  readonly minor: string | number;
}

export interface RestartOptions {
  /** how long the listener stays closed (connections refused), in ms (default 0) */
  readonly downMs?: number;
  /** stay down until this settles too (lets a test act while the server is down without guessing durations) */
  readonly until?: Promise<unknown>;
}

export interface FakeApiServerOptions {
  /** resources served from the start (default CORE_RESOURCES) */
  readonly resources?: readonly ResourceDef[];
  /** answer a watch from an expired resourceVersion with an ERROR event in a 200 stream (default, like a real
   * API server) or with an HTTP 410 */
  readonly expiredWatch?: 'event' | 'status';
  /** serve HTTPS with a CA of its own (kubeConfig() then trusts exactly that CA); default plain HTTP */
  readonly tls?: boolean;
  /** delay before every request is answered, in ms (default 0); see setLatency */
  readonly latencyMs?: number;
  /** what /version reports (default 1.28) */
  readonly kubernetesVersion?: KubernetesVersion;
  /** delete objects whose owners are all gone, like kube-controller-manager's garbage collector (default false) */
  readonly garbageCollect?: boolean;
}

// ---------------------------------------------------------------------------------------------------------------------
// Resources

export const LEASES: ResourceDef = { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease', namespaced: true, status: false };
export const EVENTS_V1: ResourceDef = { group: 'events.k8s.io', version: 'v1', plural: 'events', kind: 'Event', namespaced: true, status: false };

export const CORE_RESOURCES: readonly ResourceDef[] = [
  { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false },
  { group: '', version: 'v1', plural: 'services', kind: 'Service', namespaced: true },
  { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true },
  { group: '', version: 'v1', plural: 'secrets', kind: 'Secret', namespaced: true, status: false },
  { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true, status: false },
  { group: '', version: 'v1', plural: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true, status: false },
  { group: '', version: 'v1', plural: 'events', kind: 'Event', namespaced: true, status: false },
  { group: '', version: 'v1', plural: 'resourcequotas', kind: 'ResourceQuota', namespaced: true },
  { group: 'admissionregistration.k8s.io', version: 'v1', plural: 'mutatingwebhookconfigurations', kind: 'MutatingWebhookConfiguration', namespaced: false, status: false },
  { group: 'admissionregistration.k8s.io', version: 'v1', plural: 'validatingwebhookconfigurations', kind: 'ValidatingWebhookConfiguration', namespaced: false, status: false },
  { group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment', namespaced: true },
  { group: 'apps', version: 'v1', plural: 'replicasets', kind: 'ReplicaSet', namespaced: true },
  LEASES,
  EVENTS_V1,
];

/** The in-cluster identity of mesh-admission, the user requests are made as when a policy names none. */
export const DEFAULT_USER = 'system:serviceaccount:fsm-system:mesh-admission';

const DEFAULT_VERSION: KubernetesVersion = { major: '1', minor: '28' };
const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

// ---------------------------------------------------------------------------------------------------------------------
// Helpers

interface Resource {
  readonly def: ResourceDef;
  readonly objects: Map<string, Obj>;
}

interface HistoryEntry {
  readonly rv: number;
  readonly key: string;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: Obj;
}

interface Watcher {
  readonly key: string;
  readonly namespace?: string;
  readonly fieldSelector?: string;
  readonly labelSelector?: string;
  readonly bookmarks: boolean;
  readonly res: http.ServerResponse;
  readonly req: http.IncomingMessage;
  timer?: NodeJS.Timeout;
}

interface Route {
  readonly verb: string;
  readonly discovery?: unknown;
  readonly resource?: Resource;
  readonly namespace?: string;
  readonly name?: string;
  readonly subresource?: string;
}

interface TlsMaterial {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

interface OwnerReference {
  readonly uid?: unknown;
}

const resKey = (group: string, version: string, plural: string): string => `${group}/${version}/${plural}`;
const objKey = (namespace: string | undefined, name: string): string => `${namespace ?? ''}/${name}`;
const clone = <T>(v: T): T => structuredClone(v);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** Go's %q for the plain strings Kubernetes messages quote */
const q = (s: string): string => JSON.stringify(s);
/** schema.GroupResource.String(): `plural.group`, just `plural` for the core group */
const groupResource = (group: string, resource: string): string => (group ? `${resource}.${group}` : resource);
/** metav1.StatusDetails, whose fields are all omitempty */
const statusDetails = (group: string, kind: string, name: string): Record<string, unknown> => ({ ...(name ? { name } : {}), ...(group ? { group } : {}), ...(kind ? { kind } : {}) });
/** at least `ms` by performance.now(), which a bare setTimeout can undercut by a fraction of a millisecond */
async function sleepAtLeast(ms: number): Promise<void> {
  const due = performance.now() + ms;
  for (let left = ms; left > 0; left = due - performance.now()) await new Promise((resolve) => setTimeout(resolve, Math.ceil(left)));
}

export function status(code: number, reason: string, message: string, details?: Record<string, unknown>): Obj {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code, ...(details ? { details } : {}) };
}

const REASONS: Record<number, string> = { 400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 405: 'MethodNotAllowed', 409: 'Conflict', 410: 'Expired', 415: 'UnsupportedMediaType', 422: 'Invalid', 429: 'TooManyRequests', 500: 'InternalError', 503: 'ServiceUnavailable', 504: 'Timeout' };

function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function matchLabels(labels: Record<string, string> | undefined, selector: string | undefined): boolean {
  if (!selector) return true;
  const l = labels ?? {};
  return selector.split(',').every((term) => {
    const t = term.trim();
    if (!t) return true;
    let m: RegExpMatchArray | null;
    if ((m = t.match(/^([^!=\s]+)\s*!=\s*(.*)$/))) return l[m[1]!] !== m[2];
    if ((m = t.match(/^([^!=\s]+)\s*==?\s*(.*)$/))) return l[m[1]!] === m[2];
    if ((m = t.match(/^!(\S+)$/))) return !(m[1]! in l);
    if ((m = t.match(/^(\S+)\s+in\s+\((.*)\)$/))) return m[2]!.split(',').map((s) => s.trim()).includes(l[m[1]!] ?? '\u0000');
    if ((m = t.match(/^(\S+)\s+notin\s+\((.*)\)$/))) return !m[2]!.split(',').map((s) => s.trim()).includes(l[m[1]!] ?? '\u0000');
    return t in l;
  });
}

function matchFields(obj: Obj, selector: string | undefined): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const m = term.trim().match(/^([^!=]+)(!=|==|=)(.*)$/);
    if (!m) return true;
    let v: unknown = obj;
    for (const part of m[1]!.split('.')) v = isObject(v) ? v[part] : undefined;
    const eq = String(v ?? '') === m[3];
    return m[2] === '!=' ? !eq : eq;
  });
}

function ownerReferences(o: Obj): OwnerReference[] {
  const refs = o.metadata?.ownerReferences;
  return Array.isArray(refs) ? refs.filter(isObject) : [];
}

/** the object with these owner references (none: the field goes, as omitempty drops it) */
function withOwners(o: Obj, refs: OwnerReference[]): Obj {
  const { ownerReferences: _old, ...meta } = o.metadata ?? {};
  return { ...o, metadata: refs.length > 0 ? { ...meta, ownerReferences: refs } : meta };
}

async function issueServingCertificate(): Promise<TlsMaterial> {
  // Back-dated like a real cluster CA, so a client clock slightly behind still accepts it.
  const notBeforeDate = new Date(Date.now() - 60 * 60 * 1000);
  const notAfterDate = new Date(Date.now() + 7 * 24 * 60 * 60 * 1000);
  const common = { keyType: 'ec', curve: 'P-256', algorithm: 'sha256', notBeforeDate, notAfterDate } as const;
  const ca = await selfsigned.generate([{ name: 'commonName', value: 'fake-kubernetes-ca' }], {
    ...common,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const leaf = await selfsigned.generate([{ name: 'commonName', value: 'kube-apiserver' }], {
    ...common,
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 2, value: 'kubernetes.default.svc' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  });
  return { ca: ca.cert, cert: leaf.cert, key: leaf.private };
}

// ---------------------------------------------------------------------------------------------------------------------
// Request attributes and RBAC, ported from k8s.io/apiserver (endpoints/request/requestinfo.go) and
// k8s.io/kubernetes (plugin/pkg/auth/authorizer/rbac): pure functions, so a test can check them directly.

const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);
/** what the system:discovery and system:public-info-viewer ClusterRoles grant every authenticated user */
const ALWAYS_ALLOWED_PATH = /^\/(?:(?:api|apis|openapi)(?:\/.*)?|version\/?|healthz|livez|readyz)$/;

/** Go's query parameter to bool conversion (runtime.Convert_Slice_string_To_bool) */
function queryBool(v: string | undefined): boolean {
  if (v === undefined) return false;
  return !['0', 'f', 'false', 'n', 'no'].includes(v.toLowerCase());
}

/** fields.Selector.RequiresExactMatch(field) over a comma-separated (AND) field selector */
function exactFieldMatch(selector: string | undefined, field: string): string | undefined {
  for (const term of (selector ?? '').split(',')) {
    const m = term.trim().match(/^([^!=]+?)\s*(==|=)\s*(.*)$/);
    if (m && m[1] === field) return m[3];
  }
  return undefined;
}

/** path.IsValidPathSegmentName */
const validPathSegment = (s: string): boolean => s !== '.' && s !== '..' && !s.includes('/') && !s.includes('%');

/** The attributes kube-apiserver derives from a request (its RequestInfo), which RBAC decides on. */
export function requestAttributes(method: string, pathname: string, query: Readonly<Record<string, string>> = {}): RequestAttributes {
  const nonResource: RequestAttributes = { resourceRequest: false, verb: method.toLowerCase(), path: pathname, apiGroup: '', apiVersion: '', resource: '', subresource: '', namespace: '', name: '' };
  let parts = pathname.split('/').filter(Boolean);
  if (parts.length < 3 || (parts[0] !== 'api' && parts[0] !== 'apis')) return nonResource;
  let apiGroup = '';
  if (parts[0] === 'apis') {
    if (parts.length < 4) return nonResource;
    apiGroup = parts[1]!;
    parts = parts.slice(2);
  } else parts = parts.slice(1);
  const apiVersion = parts[0]!;
  parts = parts.slice(1);

  let verb: string;
  if (parts[0] === 'watch' || parts[0] === 'proxy') {
    if (parts.length < 2) return nonResource;
    verb = parts[0];
    parts = parts.slice(1);
  } else {
    const byMethod: Record<string, string> = { POST: 'create', GET: 'get', HEAD: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };
    verb = byMethod[method.toUpperCase()] ?? '';
  }

  let namespace = '';
  // /namespaces/<ns>/<resource>/...; /namespaces/<name>[/status|/finalize] is the Namespace itself, in namespace <name>
  if (parts[0] === 'namespaces' && parts.length > 1) {
    namespace = parts[1]!;
    if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2]!)) parts = parts.slice(2);
  }
  const resource = parts[0] ?? '';
  let name = parts[1] ?? '';
  const subresource = parts.length >= 3 && verb !== 'proxy' ? parts[2]! : '';

  // Only a GET without a name becomes list or watch, and only then does a metadata.name field selector name the
  // object (so the legacy /watch/ prefix never gets a name from a selector).
  if (name === '' && verb === 'get') {
    verb = queryBool(query.watch) ? 'watch' : 'list';
    const selected = exactFieldMatch(query.fieldSelector, 'metadata.name');
    if (selected !== undefined && validPathSegment(selected)) name = selected;
  }
  if (name === '' && verb === 'delete') verb = 'deletecollection';
  return { resourceRequest: true, verb, path: pathname, apiGroup, apiVersion, resource, subresource, namespace, name };
}

function ruleAllows(rule: PolicyRule, a: RequestAttributes): boolean {
  const combined = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const verbOk = rule.verbs.includes('*') || rule.verbs.includes(a.verb);
  const groupOk = rule.apiGroups.includes('*') || rule.apiGroups.includes(a.apiGroup);
  const resourceOk = rule.resources.some((r) => r === '*' || r === combined || (a.subresource !== '' && r === `*/${a.subresource}`));
  // a rule naming objects never matches a request without a name (create, an unfiltered list or watch)
  const nameOk = !rule.resourceNames || rule.resourceNames.length === 0 || rule.resourceNames.includes(a.name);
  return verbOk && groupOk && resourceOk && nameOk;
}

/** RBAC's decision for these attributes (undefined policy: everything allowed). */
export function isAllowed(policy: AuthorizationPolicy | undefined, a: RequestAttributes): boolean {
  if (!policy) return true;
  if (!a.resourceRequest) return ALWAYS_ALLOWED_PATH.test(a.path);
  const rules = [...policy.clusterRules, ...(a.namespace ? (policy.namespaceRules?.[a.namespace] ?? []) : [])];
  return rules.some((rule) => ruleAllows(rule, a));
}

/** The Status kube-apiserver answers a refused request with (responsewriters.Forbidden + errors.NewForbidden). */
export function forbidden(user: string, a: RequestAttributes): Obj {
  if (!a.resourceRequest) return status(403, 'Forbidden', `forbidden: User ${q(user)} cannot ${a.verb} path ${q(a.path)}`, {});
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const scope = a.namespace ? `in the namespace ${q(a.namespace)}` : 'at the cluster scope';
  const why = `User ${q(user)} cannot ${a.verb} resource ${q(resource)} in API group ${q(a.apiGroup)} ${scope}`;
  const gr = groupResource(a.apiGroup, a.resource);
  const message = a.name ? `${gr} ${q(a.name)} is forbidden: ${why}` : `${gr} is forbidden: ${why}`;
  return status(403, 'Forbidden', message, statusDetails(a.apiGroup, a.resource, a.name));
}

// ---------------------------------------------------------------------------------------------------------------------
// The server

export class FakeApiServer {
  readonly requests: RecordedRequest[] = [];
  port = 0;
  // typed as the common base: the http and https servers' own overloads do not unify
  private readonly server: NetServer;
  private readonly tlsMaterial: TlsMaterial | undefined;
  private readonly resources = new Map<string, Resource>();
  /** preferred version per group, in registration order unless set */
  private readonly preferred = new Map<string, string>();
  private readonly history: HistoryEntry[] = [];
  private readonly watchers = new Set<Watcher>();
  private failures: FailureRule[] = [];
  private rv = 1000;
  /** watches/continues from a resourceVersion below this get 410 */
  private compactedRv = 0;
  /** the last resourceVersion handed out before the latest restart: nothing up to it is served again */
  private restartedAtRv = 0;
  private readonly expiredWatch: 'event' | 'status';
  private version: KubernetesVersion;
  private readonly garbageCollect: boolean;
  private latency: number;
  private policy: AuthorizationPolicy | undefined;
  /** raw TCP sockets and, over HTTPS, the TLS sockets wrapping them */
  private readonly sockets = new Set<Socket>();
  private connections = 0;
  private handshakes = 0;
  /** requests waiting out the latency */
  private readonly delayed = new Set<NodeJS.Timeout>();
  private isListening = false;
  private closed = false;

  private constructor(opts: FakeApiServerOptions, tlsMaterial: TlsMaterial | undefined) {
    for (const d of opts.resources ?? CORE_RESOURCES) this.addResource(d);
    this.expiredWatch = opts.expiredWatch ?? 'event';
    this.version = opts.kubernetesVersion ?? DEFAULT_VERSION;
    this.garbageCollect = opts.garbageCollect ?? false;
    this.latency = opts.latencyMs ?? 0;
    this.tlsMaterial = tlsMaterial;
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => this.receive(req, res);
    const track = (socket: Socket): void => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    };
    if (tlsMaterial) {
      const s = https.createServer({ cert: tlsMaterial.cert, key: tlsMaterial.key }, onRequest);
      s.on('secureConnection', (socket) => {
        this.handshakes++;
        track(socket);
      });
      this.server = s;
    } else this.server = http.createServer(onRequest);
    this.server.on('connection', (socket: Socket) => {
      this.connections++;
      track(socket);
    });
  }

  static async start(opts: FakeApiServerOptions = {}): Promise<FakeApiServer> {
    const s = new FakeApiServer(opts, opts.tls ? await issueServingCertificate() : undefined);
    await s.listen(0);
    return s;
  }

  get url(): string {
    return `${this.tlsMaterial ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  /** The CA (PEM) that signed the serving certificate, in HTTPS mode. */
  get caPem(): string | undefined {
    return this.tlsMaterial?.ca;
  }

  /** False while a restart holds the listener closed. */
  get listening(): boolean {
    return this.isListening;
  }

  /** The current resourceVersion (the last one handed out). */
  get resourceVersion(): string {
    return String(this.rv);
  }

  /** A KubeConfig pointing at this server (over HTTPS trusting its CA; http needs insecure-skip-tls-verify in client-node). */
  kubeConfig(token = 'test-token'): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromString(this.kubeConfigYaml(token));
    return kc;
  }

  kubeConfigYaml(token = 'test-token'): string {
    const trust = this.tlsMaterial ? `    certificate-authority-data: ${Buffer.from(this.tlsMaterial.ca).toString('base64')}` : '    insecure-skip-tls-verify: true';
    return [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: fake',
      '  cluster:',
      `    server: ${this.url}`,
      trust,
      'users:',
      '- name: tester',
      '  user:',
      `    token: ${token}`,
      'contexts:',
      '- name: fake',
      '  context:',
      '    cluster: fake',
      '    user: tester',
      '    namespace: default',
      'current-context: fake',
      '',
    ].join('\n');
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.delayed) clearTimeout(t);
    this.delayed.clear();
    await this.stopListening();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Control API: transport (connections, latency, restarts)

  /** TCP connections accepted since the start (or resetCounters). */
  connectionCount(): number {
    return this.connections;
  }

  /** TLS handshakes completed since the start (or resetCounters); always 0 over plain HTTP. */
  tlsHandshakeCount(): number {
    return this.handshakes;
  }

  resetCounters(): void {
    this.connections = 0;
    this.handshakes = 0;
  }

  /** Answer every request (discovery and /version too; for a watch, its response headers) `ms` after it arrived. */
  setLatency(ms: number): void {
    this.latency = ms;
  }

  /** Destroy every open connection abruptly (watches cut mid-stream, idle keep-alive ones too); returns how many. */
  dropConnections(): number {
    for (const w of [...this.watchers]) this.endWatch(w, true);
    let n = 0;
    for (const s of [...this.sockets]) {
      // over HTTPS the raw socket and its TLS wrapper are both tracked: count connections once
      if (!('encrypted' in s)) n++;
      s.destroy();
    }
    return n;
  }

  /**
   * Simulate a kube-apiserver restart: every connection dies abruptly, the port refuses connections for a while, then
   * the same port answers again with a fresh watch cache: a watch or list continuation from any resourceVersion
   * handed out before gets 410 Gone, a fresh list gets a higher resourceVersion. Objects survive (they live in etcd).
   */
  async restart(opts: RestartOptions = {}): Promise<void> {
    if (this.closed) throw new Error('fake apiserver: restart after close');
    await this.stopListening();
    this.restartedAtRv = this.rv;
    this.rv++;
    this.history.length = 0;
    if (opts.downMs) await sleepAtLeast(opts.downMs);
    if (opts.until) await opts.until.catch(() => undefined);
    if (!this.closed) await this.listen(this.port);
  }

  private async listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
    this.isListening = true;
  }

  private async stopListening(): Promise<void> {
    this.isListening = false;
    // close() first so nothing new is accepted while the open connections are cut
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.dropConnections();
    await closed;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Control API: authorization

  /** Authorize every request with RBAC rules (undefined, the default: allow everything). Refused requests get 403. */
  authorize(policy: AuthorizationPolicy | undefined): void {
    this.policy = policy;
  }

  /** What /version reports from now on (an upgraded API server). */
  setKubernetesVersion(version: KubernetesVersion): void {
    this.version = version;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Control API: resources

  /** Serve a resource (e.g. "install a CRD"); it appears in discovery at once. */
  addResource(def: ResourceDef, opts: { preferred?: boolean } = {}): void {
    const key = resKey(def.group, def.version, def.plural);
    if (!this.resources.has(key)) this.resources.set(key, { def, objects: new Map() });
    if (opts.preferred || !this.preferred.has(def.group)) this.preferred.set(def.group, def.version);
  }

  /** Stop serving a resource ("delete a CRD"): its objects go, its watches end. */
  removeResource(group: string, version: string, plural: string): void {
    const key = resKey(group, version, plural);
    this.resources.delete(key);
    for (const w of this.watchers) if (w.key === key) this.endWatch(w, false);
    if (![...this.resources.values()].some((r) => r.def.group === group)) this.preferred.delete(group);
    else if (this.preferred.get(group) === version && ![...this.resources.values()].some((r) => r.def.group === group && r.def.version === version))
      this.preferred.set(group, [...this.resources.values()].find((r) => r.def.group === group)!.def.version);
  }

  setPreferredVersion(group: string, version: string): void {
    this.preferred.set(group, version);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Control API: objects (all emit watch events)

  private resourceFor(obj: Obj): Resource {
    const apiVersion = obj.apiVersion ?? '';
    const slash = apiVersion.lastIndexOf('/');
    const group = slash < 0 ? '' : apiVersion.slice(0, slash);
    const version = slash < 0 ? apiVersion : apiVersion.slice(slash + 1);
    const r = [...this.resources.values()].find((x) => x.def.group === group && x.def.version === version && x.def.kind === obj.kind);
    if (!r) throw new Error(`fake apiserver: no resource serves ${apiVersion} ${String(obj.kind)}`);
    return r;
  }

  /** Create (or replace, emitting MODIFIED) an object given with apiVersion and kind. Returns the stored copy. */
  addObject(obj: Obj): Obj {
    const r = this.resourceFor(obj);
    const name = obj.metadata?.name;
    if (!name) throw new Error('fake apiserver: object without metadata.name');
    const key = objKey(r.def.namespaced ? (obj.metadata?.namespace ?? 'default') : undefined, name);
    const existing = r.objects.get(key);
    return existing ? this.store(r, { ...clone(obj), metadata: { ...existing.metadata, ...clone(obj.metadata) } }, 'MODIFIED') : this.store(r, clone(obj), 'ADDED');
  }

  /** Change an existing object with a function (MODIFIED). */
  modifyObject(apiVersion: string, kind: string, namespace: string | undefined, name: string, change: (o: Obj) => void): Obj {
    const r = this.resourceFor({ apiVersion, kind });
    const existing = r.objects.get(objKey(r.def.namespaced ? namespace : undefined, name));
    if (!existing) throw new Error(`fake apiserver: ${kind} ${namespace ?? ''}/${name} not found`);
    const next = clone(existing);
    change(next);
    return this.store(r, next, 'MODIFIED');
  }

  /** Delete an object (DELETED); returns it, or undefined if absent. */
  deleteObject(apiVersion: string, kind: string, namespace: string | undefined, name: string): Obj | undefined {
    const r = this.resourceFor({ apiVersion, kind });
    return this.remove(r, objKey(r.def.namespaced ? namespace : undefined, name));
  }

  getObject(apiVersion: string, kind: string, namespace: string | undefined, name: string): Obj | undefined {
    const r = this.resourceFor({ apiVersion, kind });
    const o = r.objects.get(objKey(r.def.namespaced ? namespace : undefined, name));
    return o ? clone(o) : undefined;
  }

  listObjects(apiVersion: string, kind: string, namespace?: string): Obj[] {
    const r = this.resourceFor({ apiVersion, kind });
    return [...r.objects.values()].filter((o) => namespace === undefined || o.metadata?.namespace === namespace).map(clone);
  }

  /** Change objects without any watch event (simulates events a dropped watch missed and that only a relist sees). */
  silently(fn: () => void): void {
    const n = this.watchers.size;
    const saved = [...this.watchers];
    this.watchers.clear();
    try {
      fn();
    } finally {
      for (const w of saved) this.watchers.add(w);
      if (this.watchers.size !== n) throw new Error('fake apiserver: watchers changed during silently()');
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Control API: watches and failures

  /** Number of open watch streams (optionally on one plural). */
  watchCount(plural?: string): number {
    return [...this.watchers].filter((w) => plural === undefined || w.key.endsWith(`/${plural}`)).length;
  }

  /** Send a BOOKMARK carrying the current resourceVersion to every watch that asked for bookmarks. */
  bookmark(plural?: string): string {
    const rv = String(++this.rv);
    for (const w of this.watchers) {
      if (!w.bookmarks || (plural !== undefined && !w.key.endsWith(`/${plural}`))) continue;
      const r = this.resources.get(w.key);
      if (!r) continue;
      this.write(w, 'BOOKMARK', { apiVersion: apiVersionOf(r.def), kind: r.def.kind, metadata: { resourceVersion: rv } });
    }
    return rv;
  }

  /** Send an ERROR event (default 410 Expired, "too old resource version") then end those watches. */
  sendWatchError(opts: { code?: number; plural?: string; message?: string } = {}): void {
    const code = opts.code ?? 410;
    for (const w of [...this.watchers]) {
      if (opts.plural !== undefined && !w.key.endsWith(`/${opts.plural}`)) continue;
      this.write(w, 'ERROR', status(code, code === 410 ? 'Expired' : (REASONS[code] ?? 'InternalError'), opts.message ?? (code === 410 ? 'too old resource version: 1 (2)' : 'watch error')));
      this.endWatch(w, false);
    }
  }

  /** Forget history: a watch or list continuation from any resourceVersion up to `rv` (default: now) gets 410. */
  expireResourceVersions(rv?: string | number): void {
    this.compactedRv = Math.max(this.compactedRv, Number(rv ?? this.rv) + 1);
    while (this.history.length > 0 && this.history[0]!.rv < this.compactedRv) this.history.shift();
  }

  /** Destroy every watch connection abruptly (no final chunk), optionally only on one plural. */
  dropWatches(plural?: string): number {
    let n = 0;
    for (const w of [...this.watchers]) {
      if (plural !== undefined && !w.key.endsWith(`/${plural}`)) continue;
      this.endWatch(w, true);
      n++;
    }
    return n;
  }

  /** Make the next `count` matching requests fail with `status` (default 500). */
  failRequests(rule: FailureRule): void {
    this.failures.push({ ...rule });
  }

  /** Shorthand: the next `count` list requests (optionally of one plural) answer `status` (default 500). */
  failLists(count: number, opts: { status?: number; resource?: string } = {}): void {
    this.failRequests({ count, verb: 'list', ...opts });
  }

  clearFailures(): void {
    this.failures = [];
  }

  clearRequests(): void {
    this.requests.length = 0;
  }

  /** Recorded requests filtered by verb, plural, method and the other request attributes. */
  requestsFor(filter: { verb?: string; resource?: string; method?: string; apiGroup?: string; namespace?: string; name?: string; allowed?: boolean } = {}): RecordedRequest[] {
    return this.requests.filter(
      (r) =>
        (!filter.verb || r.verb === filter.verb) &&
        (!filter.resource || r.resource === filter.resource) &&
        (!filter.method || r.method === filter.method) &&
        (filter.apiGroup === undefined || r.apiGroup === filter.apiGroup) &&
        (filter.namespace === undefined || r.namespace === filter.namespace) &&
        (filter.name === undefined || r.name === filter.name) &&
        (filter.allowed === undefined || r.allowed === filter.allowed),
    );
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Storage

  private store(r: Resource, obj: Obj, type: 'ADDED' | 'MODIFIED'): Obj {
    const rv = ++this.rv;
    const meta = (obj.metadata ??= {});
    if (!r.def.namespaced) delete meta.namespace;
    else meta.namespace ??= 'default';
    meta.resourceVersion = String(rv);
    meta.uid ??= randomUUID();
    meta.creationTimestamp ??= new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    if (type === 'ADDED') meta.generation ??= 1;
    obj.apiVersion = apiVersionOf(r.def);
    obj.kind = r.def.kind;
    const key = objKey(meta.namespace as string | undefined, meta.name as string);
    r.objects.set(key, obj);
    this.emit(r, type, obj, rv);
    return clone(obj);
  }

  private remove(r: Resource, key: string, opts: { orphan?: boolean } = {}): Obj | undefined {
    const existing = r.objects.get(key);
    if (!existing) return undefined;
    const uid = existing.metadata?.uid;
    // the orphan finalizer frees the dependents before the owner goes
    if (opts.orphan && typeof uid === 'string') this.forEachDependent(uid, (dr, dep) => this.store(dr, withOwners(dep, ownerReferences(dep).filter((ref) => ref.uid !== uid)), 'MODIFIED'));
    r.objects.delete(key);
    const rv = ++this.rv;
    const gone = clone(existing);
    gone.metadata!.resourceVersion = String(rv);
    this.emit(r, 'DELETED', gone, rv);
    if (this.garbageCollect && !opts.orphan && typeof uid === 'string') this.scheduleCollection(uid);
    return clone(gone);
  }

  // The garbage collector runs apart from the apiserver: dependents go after the owner's DELETE was answered, each with
  // its own DELETED event, cascading down (background propagation).
  private scheduleCollection(ownerUid: string): void {
    setImmediate(() => {
      if (this.closed) return;
      this.forEachDependent(ownerUid, (dr, dep, key) => {
        const alive = ownerReferences(dep).filter((ref) => typeof ref.uid === 'string' && this.uidExists(ref.uid));
        // another owner still exists: only the dangling references are removed, the object stays
        if (alive.length > 0) this.store(dr, withOwners(dep, alive), 'MODIFIED');
        else this.remove(dr, key);
      });
    });
  }

  private forEachDependent(ownerUid: string, fn: (r: Resource, dependent: Obj, key: string) => void): void {
    for (const r of this.resources.values())
      for (const [key, o] of [...r.objects]) if (ownerReferences(o).some((ref) => ref.uid === ownerUid)) fn(r, clone(o), key);
  }

  private uidExists(uid: string): boolean {
    for (const r of this.resources.values()) for (const o of r.objects.values()) if (o.metadata?.uid === uid) return true;
    return false;
  }

  private emit(r: Resource, type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: Obj, rv: number): void {
    const key = resKey(r.def.group, r.def.version, r.def.plural);
    this.history.push({ rv, key, type, object: clone(obj) });
    for (const w of this.watchers) if (w.key === key && this.watcherWants(w, obj)) this.write(w, type, obj);
  }

  private watcherWants(w: Watcher, obj: Obj): boolean {
    if (w.namespace !== undefined && obj.metadata?.namespace !== w.namespace) return false;
    return matchFields(obj, w.fieldSelector) && matchLabels(obj.metadata?.labels, w.labelSelector);
  }

  private write(w: Watcher, type: WatchEventType, object: Obj): void {
    if (!w.res.writableEnded && !w.res.destroyed) w.res.write(JSON.stringify({ type, object }) + '\n');
  }

  private endWatch(w: Watcher, abrupt: boolean): void {
    if (w.timer) clearTimeout(w.timer);
    this.watchers.delete(w);
    if (abrupt) w.req.socket.destroy();
    else w.res.end();
  }

  /** Whether a watch (or, stricter, a list continuation) from `rv` can no longer be served. */
  private expired(rv: number, continuation: boolean): boolean {
    if (Number.isNaN(rv) || rv <= this.restartedAtRv) return true;
    return continuation ? rv < this.compactedRv : rv < this.compactedRv - 1;
  }

  /** the oldest resourceVersion still served, as "too old resource version" messages report it */
  private get oldestRv(): number {
    return Math.max(this.compactedRv, this.restartedAtRv + 1);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // HTTP

  private send(res: http.ServerResponse, code: number, body: unknown): void {
    if (res.headersSent) return;
    const text = JSON.stringify(body);
    res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  private fail(res: http.ServerResponse, code: number, message: string, details?: Record<string, unknown>): void {
    this.send(res, code, status(code, REASONS[code] ?? 'Unknown', message, details));
  }

  private notFound(res: http.ServerResponse, def: ResourceDef, name: string): void {
    this.fail(res, 404, `${groupResource(def.group, def.plural)} ${q(name)} not found`, statusDetails(def.group, def.plural, name));
  }

  /** errors.NewConflict over the resource, with storage's OptimisticLockErrorMsg */
  private modified(res: http.ServerResponse, def: ResourceDef, name: string): void {
    this.fail(res, 409, `Operation cannot be fulfilled on ${groupResource(def.group, def.plural)} ${q(name)}: the object has been modified; please apply your changes to the latest version and try again`, statusDetails(def.group, def.plural, name));
  }

  private receive(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const run = (): void => {
        try {
          this.handle(req, res, Buffer.concat(chunks).toString('utf8'));
        } catch (err) {
          this.send(res, 500, status(500, 'InternalError', `fake apiserver: ${(err as Error).stack ?? String(err)}`));
        }
      };
      // like sleepAtLeast, but cancellable by close()
      const due = performance.now() + this.latency;
      const wait = (): void => {
        if (req.socket.destroyed || this.closed) return; // cut by a restart or dropConnections meanwhile
        const left = due - performance.now();
        if (left <= 0) return run();
        const t = setTimeout(() => {
          this.delayed.delete(t);
          wait();
        }, Math.ceil(left));
        this.delayed.add(t);
      };
      wait();
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, raw: string): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    const query = Object.fromEntries(url.searchParams.entries());
    const method = (req.method ?? 'GET').toUpperCase();
    const contentType = req.headers['content-type']?.split(';')[0]?.trim();
    let body: unknown = undefined;
    if (raw) {
      try {
        body = contentType === 'application/apply-patch+yaml' ? parseYaml(raw) : JSON.parse(raw);
      } catch {
        body = raw;
      }
    }
    const route = this.route(url.pathname, method, query);
    const attrs = requestAttributes(method, url.pathname, query);
    const allowed = isAllowed(this.policy, attrs);
    const resource = route?.resource?.def.plural ?? (attrs.resourceRequest ? attrs.resource : undefined);
    const rec: RecordedRequest = {
      method,
      path: url.pathname,
      query,
      body,
      verb: route?.verb ?? 'other',
      at: Date.now(),
      allowed,
      ...(contentType ? { contentType } : {}),
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      ...(req.headers.accept ? { accept: req.headers.accept } : {}),
      ...(resource ? { resource } : {}),
      ...(attrs.resourceRequest ? { apiGroup: attrs.apiGroup } : {}),
      ...(attrs.namespace ? { namespace: attrs.namespace } : {}),
      ...(attrs.name ? { name: attrs.name } : {}),
      ...(attrs.subresource ? { subresource: attrs.subresource } : {}),
    };
    this.requests.push(rec);

    // like the real filter chain: authorization before anything reaches storage (or an injected storage failure)
    if (!allowed) return this.send(res, 403, forbidden(this.policy?.user ?? DEFAULT_USER, attrs));

    const failure = this.failures.find(
      (f) =>
        f.count > 0 &&
        (!f.verb || f.verb === rec.verb) &&
        (!f.resource || f.resource === rec.resource) &&
        (!f.path || (typeof f.path === 'string' ? f.path === rec.path : f.path.test(rec.path))),
    );
    if (failure) {
      failure.count--;
      this.failures = this.failures.filter((f) => f.count > 0);
      const code = failure.status ?? 500;
      return this.fail(res, code, failure.message ?? `injected failure (${code})`);
    }

    if (!route) return this.fail(res, 404, `the server could not find the requested resource (${method} ${url.pathname})`);
    if (route.verb === 'discovery') return this.send(res, 200, route.discovery);
    const r = route.resource!;
    const ns = route.namespace;
    const name = route.name;
    switch (route.verb) {
      case 'list':
        return this.list(res, r, ns, query, /as=PartialObjectMetadataList/.test(String(req.headers.accept ?? '')));
      case 'watch':
        return this.watch(req, res, r, ns, name, query);
      case 'get': {
        const o = r.objects.get(objKey(ns, name!));
        return o ? this.send(res, 200, o) : this.notFound(res, r.def, name!);
      }
      case 'create':
        return this.create(res, r, ns, body, query, /as=PartialObjectMetadata(;|,|$)/.test(String(req.headers.accept ?? '')));
      case 'update':
        return this.update(res, r, ns, name!, body, route.subresource, query);
      case 'patch':
        return this.patch(res, r, ns, name!, body, contentType, route.subresource, query);
      case 'delete':
        return this.delete(res, r, ns, name!, body, query);
      case 'deletecollection': {
        for (const [key, o] of [...r.objects]) if ((ns === undefined || o.metadata?.namespace === ns) && matchLabels(o.metadata?.labels, query.labelSelector)) this.remove(r, key);
        return this.send(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success' });
      }
      default:
        return this.fail(res, 405, `method ${method} not allowed`);
    }
  }

  private route(pathname: string, method: string, query: Record<string, string>): Route | undefined {
    const parts = pathname.split('/').filter(Boolean);
    let group: string;
    let version: string;
    let rest: string[];
    if (parts[0] === 'api') {
      if (parts.length === 1) return { verb: 'discovery', discovery: { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${this.port}` }] } };
      group = '';
      version = parts[1]!;
      rest = parts.slice(2);
    } else if (parts[0] === 'apis') {
      if (parts.length === 1) return { verb: 'discovery', discovery: this.groupList() };
      if (parts.length === 2) {
        const g = this.groupList().groups.find((x) => x.name === parts[1]);
        return g ? { verb: 'discovery', discovery: { kind: 'APIGroup', apiVersion: 'v1', ...g } } : undefined;
      }
      group = parts[1]!;
      version = parts[2]!;
      rest = parts.slice(3);
    } else if (parts[0] === 'version' && parts.length === 1) {
      return { verb: 'discovery', discovery: this.versionInfo() };
    } else return undefined;

    const inGroup = [...this.resources.values()].filter((r) => r.def.group === group && r.def.version === version);
    if (rest.length === 0) {
      if (inGroup.length === 0) return undefined;
      return { verb: 'discovery', discovery: this.resourceList(group, version, inGroup) };
    }
    let watchPath = false;
    if (rest[0] === 'watch') {
      watchPath = true;
      rest = rest.slice(1);
    }
    let namespace: string | undefined;
    // /namespaces/<ns>/<plural>... (but /namespaces and /namespaces/<name>[/status] are the Namespace resource itself)
    if (rest[0] === 'namespaces' && rest.length >= 3 && !(group === '' && rest.length === 3 && rest[2] === 'status') && !(group === '' && rest[2] === 'finalize')) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const [plural, name, subresource] = rest;
    const resource = inGroup.find((r) => r.def.plural === plural);
    if (!resource || rest.length > 3) return undefined;
    if (resource.def.namespaced === false && namespace !== undefined) return undefined;
    if (subresource !== undefined && !(subresource === 'status' && resource.def.status !== false)) return undefined;
    const watching = watchPath || query.watch === 'true' || query.watch === '1';
    let verb: string;
    if (method === 'GET') verb = watching ? 'watch' : name === undefined ? 'list' : 'get';
    else if (method === 'POST' && name === undefined) verb = 'create';
    else if (method === 'PUT' && name !== undefined) verb = 'update';
    else if (method === 'PATCH' && name !== undefined) verb = 'patch';
    else if (method === 'DELETE') verb = name === undefined ? 'deletecollection' : 'delete';
    else verb = 'unsupported';
    if (resource.def.namespaced && name !== undefined && namespace === undefined) return undefined;
    return {
      verb,
      resource,
      ...(namespace !== undefined ? { namespace } : {}),
      ...(name !== undefined ? { name } : {}),
      ...(subresource !== undefined ? { subresource } : {}),
    };
  }

  private versionInfo(): Record<string, string> {
    const major = String(this.version.major ?? '1');
    const minor = String(this.version.minor);
    return {
      major,
      minor,
      gitVersion: `v${major}.${Number.parseInt(minor, 10)}.0`,
      gitCommit: '0000000000000000000000000000000000000000',
      gitTreeState: 'clean',
      buildDate: '2024-01-01T00:00:00Z',
      goVersion: 'go1.22.0',
      compiler: 'gc',
      platform: 'linux/amd64',
    };
  }

  private groupList(): { kind: string; apiVersion: string; groups: Array<{ name: string; versions: Array<{ groupVersion: string; version: string }>; preferredVersion: { groupVersion: string; version: string } }> } {
    const versions = new Map<string, string[]>();
    for (const r of this.resources.values()) {
      if (r.def.group === '') continue;
      const list = versions.get(r.def.group) ?? [];
      if (!list.includes(r.def.version)) list.push(r.def.version);
      versions.set(r.def.group, list);
    }
    const groups = [...versions].map(([name, vs]) => {
      const pref = this.preferred.get(name) ?? vs[0]!;
      const ordered = [pref, ...vs.filter((v) => v !== pref)];
      return {
        name,
        versions: ordered.map((v) => ({ groupVersion: `${name}/${v}`, version: v })),
        preferredVersion: { groupVersion: `${name}/${pref}`, version: pref },
      };
    });
    return { kind: 'APIGroupList', apiVersion: 'v1', groups };
  }

  private resourceList(group: string, version: string, rs: Resource[]): unknown {
    const resources: unknown[] = [];
    for (const r of rs) {
      resources.push({
        name: r.def.plural,
        singularName: r.def.singular ?? r.def.kind.toLowerCase(),
        namespaced: r.def.namespaced,
        kind: r.def.kind,
        verbs: r.def.verbs ?? ALL_VERBS,
        ...(r.def.shortNames ? { shortNames: r.def.shortNames } : {}),
      });
      if (r.def.status !== false) resources.push({ name: `${r.def.plural}/status`, singularName: '', namespaced: r.def.namespaced, kind: r.def.kind, verbs: ['get', 'patch', 'update'] });
    }
    return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources };
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Verbs

  /** `metadataOnly`: the client asked for a PartialObjectMetadataList (Accept: application/json;as=PartialObjectMetadataList;...) */
  private list(res: http.ServerResponse, r: Resource, ns: string | undefined, query: Record<string, string>, metadataOnly = false): void {
    let items = [...r.objects.values()]
      .filter((o) => ns === undefined || o.metadata?.namespace === ns)
      .filter((o) => matchFields(o, query.fieldSelector) && matchLabels(o.metadata?.labels, query.labelSelector))
      .sort((a, b) => objKey(a.metadata?.namespace, a.metadata?.name ?? '').localeCompare(objKey(b.metadata?.namespace, b.metadata?.name ?? '')));
    let listRv = this.rv;
    let offset = 0;
    if (query.continue) {
      let token: { rv: number; offset: number };
      try {
        token = JSON.parse(Buffer.from(query.continue, 'base64url').toString('utf8')) as { rv: number; offset: number };
      } catch {
        return this.fail(res, 400, 'invalid continue token');
      }
      if (this.expired(token.rv, true)) return this.fail(res, 410, 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.');
      listRv = token.rv;
      offset = token.offset;
    }
    const limit = query.limit ? Number(query.limit) : 0;
    let next: string | undefined;
    items = items.slice(offset);
    if (limit > 0 && items.length > limit) {
      items = items.slice(0, limit);
      next = Buffer.from(JSON.stringify({ rv: listRv, offset: offset + limit })).toString('base64url');
    }
    if (metadataOnly)
      return this.send(res, 200, {
        apiVersion: 'meta.k8s.io/v1',
        kind: 'PartialObjectMetadataList',
        metadata: { resourceVersion: String(listRv), ...(next ? { continue: next } : {}) },
        items: items.map((o) => ({ apiVersion: 'meta.k8s.io/v1', kind: 'PartialObjectMetadata', metadata: clone(o.metadata ?? {}) })),
      });
    // list items carry no apiVersion/kind, like a real API server's
    const stripped = items.map((o) => {
      const { apiVersion: _a, kind: _k, ...restOf } = clone(o);
      return restOf;
    });
    this.send(res, 200, {
      apiVersion: apiVersionOf(r.def),
      kind: `${r.def.kind}List`,
      metadata: { resourceVersion: String(listRv), ...(next ? { continue: next } : {}) },
      items: stripped,
    });
  }

  private watch(req: http.IncomingMessage, res: http.ServerResponse, r: Resource, ns: string | undefined, name: string | undefined, query: Record<string, string>): void {
    const key = resKey(r.def.group, r.def.version, r.def.plural);
    const fieldSelector = [query.fieldSelector, name ? `metadata.name=${name}` : undefined].filter(Boolean).join(',') || undefined;
    const from = query.resourceVersion;
    const fromNum = from === undefined || from === '' || from === '0' ? undefined : Number(from);
    const tooOld = fromNum !== undefined && this.expired(fromNum, false);
    const tooOldMessage = `too old resource version: ${from} (${this.oldestRv})`;
    if (tooOld && this.expiredWatch === 'status') return this.fail(res, 410, tooOldMessage);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    const w: Watcher = {
      key,
      req,
      res,
      bookmarks: query.allowWatchBookmarks === 'true',
      ...(ns !== undefined ? { namespace: ns } : {}),
      ...(fieldSelector ? { fieldSelector } : {}),
      ...(query.labelSelector ? { labelSelector: query.labelSelector } : {}),
    };
    if (tooOld) {
      this.write(w, 'ERROR', status(410, 'Expired', tooOldMessage));
      res.end();
      return;
    }
    if (fromNum === undefined) {
      // "any" resourceVersion: synthetic ADDED for the current state first
      for (const o of r.objects.values()) if (this.watcherWants(w, o)) this.write(w, 'ADDED', o);
    } else {
      for (const h of this.history) if (h.rv > fromNum && h.key === key && this.watcherWants(w, h.object)) this.write(w, h.type, h.object);
    }
    this.watchers.add(w);
    const timeout = Number(query.timeoutSeconds ?? 0);
    if (timeout > 0) w.timer = setTimeout(() => this.endWatch(w, false), timeout * 1000);
    const gone = (): void => {
      if (w.timer) clearTimeout(w.timer);
      this.watchers.delete(w);
    };
    res.on('close', gone);
  }

  private validateBody(res: http.ServerResponse, r: Resource, body: unknown): body is Obj {
    if (!isObject(body)) {
      this.fail(res, 400, 'the request body is not a JSON object');
      return false;
    }
    if (body.kind !== undefined && body.kind !== r.def.kind) {
      this.fail(res, 400, `the object kind ${String(body.kind)} does not match ${r.def.kind}`);
      return false;
    }
    return true;
  }

  /** `metadataOnly`: the answer as a PartialObjectMetadata (Accept: application/json;as=PartialObjectMetadata;...), as the real one answers a create */
  private create(res: http.ServerResponse, r: Resource, ns: string | undefined, body: unknown, query: Record<string, string>, metadataOnly = false): void {
    if (!this.validateBody(res, r, body)) return;
    const obj = clone(body);
    const meta = (obj.metadata ??= {});
    if (r.def.namespaced) {
      if (ns === undefined) return this.fail(res, 404, 'the server could not find the requested resource');
      if (meta.namespace !== undefined && meta.namespace !== ns) return this.fail(res, 400, 'the namespace of the provided object does not match the namespace sent on the request');
      meta.namespace = ns;
    }
    if (!meta.name && typeof meta.generateName === 'string') meta.name = `${meta.generateName}${randomUUID().slice(0, 5)}`;
    if (!meta.name) return this.fail(res, 422, `${r.def.kind} "" is invalid: metadata.name: Required value: name or generateName is required`);
    delete meta.resourceVersion;
    delete meta.uid;
    if (r.objects.has(objKey(meta.namespace as string | undefined, meta.name)))
      return this.send(res, 409, status(409, 'AlreadyExists', `${groupResource(r.def.group, r.def.plural)} ${q(meta.name)} already exists`, statusDetails(r.def.group, r.def.plural, meta.name)));
    const exceeded = ns === undefined ? undefined : this.quotaExceeded(r, ns);
    if (exceeded) return this.send(res, 403, status(403, 'Forbidden', `${groupResource(r.def.group, r.def.plural)} ${q(meta.name)} is forbidden: ${exceeded}`, statusDetails(r.def.group, r.def.plural, meta.name)));
    const answer = (o: Obj): Obj => (metadataOnly ? { apiVersion: 'meta.k8s.io/v1', kind: 'PartialObjectMetadata', metadata: clone(o.metadata ?? {}) } : o);
    if (query.dryRun) {
      obj.apiVersion = apiVersionOf(r.def);
      obj.kind = r.def.kind;
      return this.send(res, 201, answer(obj));
    }
    this.send(res, 201, answer(this.store(r, obj, 'ADDED')));
  }

  /**
   * The ResourceQuota admission plugin for object counts (`count/<resource>`, or the bare core names such as
   * `secrets`): the refusal's text when one more object of `r` in `ns` would pass a quota's hard limit. Unlike the
   * real one it counts the objects itself, so there is no "status unknown" phase before the quota controller ran.
   */
  private quotaExceeded(r: Resource, ns: string): string | undefined {
    const quotas = this.resources.get(resKey('', 'v1', 'resourcequotas'));
    if (!quotas) return undefined;
    const gr = r.def.group ? `${r.def.plural}.${r.def.group}` : r.def.plural;
    const used = [...r.objects.values()].filter((o) => o.metadata?.namespace === ns).length;
    for (const quota of quotas.objects.values()) {
      if (quota.metadata?.namespace !== ns) continue;
      const hard = ((quota.spec as { hard?: Record<string, string> } | undefined)?.hard ?? {}) as Record<string, string>;
      for (const key of [`count/${gr}`, ...(r.def.group === '' ? [r.def.plural] : [])]) {
        if (hard[key] === undefined || used + 1 <= Number(hard[key])) continue;
        return `exceeded quota: ${quota.metadata?.name}, requested: ${key}=1, used: ${key}=${used}, limited: ${key}=${hard[key]}`;
      }
    }
    return undefined;
  }

  private update(res: http.ServerResponse, r: Resource, ns: string | undefined, name: string, body: unknown, subresource: string | undefined, query: Record<string, string>): void {
    if (!this.validateBody(res, r, body)) return;
    const key = objKey(ns, name);
    const existing = r.objects.get(key);
    if (!existing) return this.notFound(res, r.def, name);
    const obj = clone(body);
    const meta = (obj.metadata ??= {});
    if (meta.name !== undefined && meta.name !== name) return this.fail(res, 400, 'the name of the object does not match the name on the URL');
    // an update without a resourceVersion is unconditional, as for every built-in resource
    if (meta.resourceVersion !== undefined && meta.resourceVersion !== existing.metadata?.resourceVersion) return this.modified(res, r.def, name);
    let next: Obj;
    if (subresource === 'status') next = { ...clone(existing), status: obj.status };
    else {
      next = { ...obj, metadata: { ...meta, name, uid: existing.metadata?.uid, creationTimestamp: existing.metadata?.creationTimestamp } };
      if (r.def.status !== false && existing.status !== undefined) next.status = existing.status;
      if (ns !== undefined) next.metadata!.namespace = ns;
    }
    if (query.dryRun) return this.send(res, 200, next);
    this.send(res, 200, this.store(r, next, 'MODIFIED'));
  }

  private patch(res: http.ServerResponse, r: Resource, ns: string | undefined, name: string, body: unknown, contentType: string | undefined, subresource: string | undefined, query: Record<string, string>): void {
    const existing = r.objects.get(objKey(ns, name));
    if (!existing) {
      if (contentType === 'application/apply-patch+yaml' && isObject(body)) return this.create(res, r, ns, body, query);
      return this.notFound(res, r.def, name);
    }
    let next: Obj;
    try {
      if (contentType === 'application/json-patch+json') {
        if (!Array.isArray(body)) return this.fail(res, 400, 'a JSON patch must be an array of operations');
        next = fastJsonPatch.applyPatch(clone(existing), body as fastJsonPatch.Operation[], true, false).newDocument as Obj;
      } else if (contentType === 'application/merge-patch+json' || contentType === 'application/strategic-merge-patch+json' || contentType === 'application/apply-patch+yaml') {
        next = mergePatch(existing, body) as Obj;
      } else return this.fail(res, 415, `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`);
    } catch (err) {
      return this.fail(res, 422, `patch failed: ${(err as Error).message}`);
    }
    // the patched object keeps the stored resourceVersion unless the patch set one: then it is a precondition
    const rvWanted = isObject(next.metadata) ? next.metadata.resourceVersion : undefined;
    if (rvWanted !== undefined && rvWanted !== existing.metadata?.resourceVersion) return this.modified(res, r.def, name);
    if (subresource === 'status') next = { ...clone(existing), status: next.status };
    next.metadata = { ...(next.metadata ?? {}), name, uid: existing.metadata?.uid, creationTimestamp: existing.metadata?.creationTimestamp, ...(ns !== undefined ? { namespace: ns } : {}) };
    if (query.dryRun) return this.send(res, 200, next);
    this.send(res, 200, this.store(r, next, 'MODIFIED'));
  }

  private delete(res: http.ServerResponse, r: Resource, ns: string | undefined, name: string, body: unknown, query: Record<string, string>): void {
    const key = objKey(ns, name);
    const existing = r.objects.get(key);
    if (!existing) return this.notFound(res, r.def, name);
    const options = isObject(body) ? body : {};
    // rest.BeforeDelete checks the preconditions first, naming the Kind (not the plural) in its Conflict
    const pre = isObject(options.preconditions) ? options.preconditions : {};
    const conflict = (why: string): void => this.fail(res, 409, `Operation cannot be fulfilled on ${groupResource(r.def.group, r.def.kind)} ${q(name)}: ${why}`, statusDetails(r.def.group, r.def.kind, name));
    const uid = String(existing.metadata?.uid ?? '');
    if (typeof pre.uid === 'string' && pre.uid !== uid)
      return conflict(`the UID in the precondition (${pre.uid}) does not match the UID in record (${uid}). The object might have been deleted and then recreated`);
    const rv = existing.metadata?.resourceVersion ?? '';
    if (typeof pre.resourceVersion === 'string' && pre.resourceVersion !== rv)
      return conflict(`the ResourceVersion in the precondition (${pre.resourceVersion}) does not match the ResourceVersion in record (${rv}). The object might have been modified`);
    if (query.dryRun) return this.send(res, 200, existing);
    const orphan = options.propagationPolicy === 'Orphan' || options.orphanDependents === true || query.propagationPolicy === 'Orphan';
    this.send(res, 200, this.remove(r, key, { orphan }));
  }
}

export function apiVersionOf(def: Pick<ResourceDef, 'group' | 'version'>): string {
  return def.group ? `${def.group}/${def.version}` : def.version;
}

/** Poll `fn` until it returns a truthy value (or throw after `timeoutMs`). */
export async function waitFor<T>(fn: () => T | Promise<T>, opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${opts.what ?? 'condition'}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 10));
  }
}
