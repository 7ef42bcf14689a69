// An in-process fake Kubernetes API server (plain HTTP) speaking enough of the REST protocol for client-node's
// generated clients and our own list/watch loop: discovery, list (with limit/continue), get, create, update, patch,
// delete, and watch streams with bookmarks, 410 Gone and abrupt disconnects. Tests drive it through the control API
// (addObject / modifyObject / deleteObject / bookmark / sendWatchError / expireResourceVersions / dropWatches /
// failRequests) and assert on `requests`.
//
// Not modelled: authentication, admission, field managers, conversion between versions (each version of a resource
// is a separate store), strategic-merge and apply semantics (both are treated as JSON merge patches), finalizers.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import fastJsonPatch from 'fast-json-patch';
import { parse as parseYaml } from 'yaml';
import { KubeConfig } from '@kubernetes/client-node';

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
  readonly authorization?: string;
  /** classification: discovery, list, watch, get, create, update, patch, delete, deletecollection, other */
  readonly verb: string;
  readonly resource?: string;
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

export const CORE_RESOURCES: readonly ResourceDef[] = [
  { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false },
  { group: '', version: 'v1', plural: 'services', kind: 'Service', namespaced: true },
  { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true },
  { group: '', version: 'v1', plural: 'secrets', kind: 'Secret', namespaced: true, status: false },
  { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true, status: false },
  { group: '', version: 'v1', plural: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true, status: false },
  { group: '', version: 'v1', plural: 'events', kind: 'Event', namespaced: true, status: false },
  { group: 'admissionregistration.k8s.io', version: 'v1', plural: 'mutatingwebhookconfigurations', kind: 'MutatingWebhookConfiguration', namespaced: false, status: false },
  { group: 'admissionregistration.k8s.io', version: 'v1', plural: 'validatingwebhookconfigurations', kind: 'ValidatingWebhookConfiguration', namespaced: false, status: false },
  { group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment', namespaced: true },
  { group: 'apps', version: 'v1', plural: 'replicasets', kind: 'ReplicaSet', namespaced: true },
];

const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

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

const resKey = (group: string, version: string, plural: string): string => `${group}/${version}/${plural}`;
const objKey = (namespace: string | undefined, name: string): string => `${namespace ?? ''}/${name}`;
const clone = <T>(v: T): T => structuredClone(v);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

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

export interface FakeApiServerOptions {
  /** resources served from the start (default CORE_RESOURCES) */
  readonly resources?: readonly ResourceDef[];
  /** answer a watch from an expired resourceVersion with an ERROR event in a 200 stream (default, like a real
   * API server) or with an HTTP 410 */
  readonly expiredWatch?: 'event' | 'status';
}

export class FakeApiServer {
  readonly requests: RecordedRequest[] = [];
  private readonly server: http.Server;
  private readonly resources = new Map<string, Resource>();
  /** preferred version per group, in registration order unless set */
  private readonly preferred = new Map<string, string>();
  private readonly history: HistoryEntry[] = [];
  private readonly watchers = new Set<Watcher>();
  private failures: FailureRule[] = [];
  private rv = 1000;
  /** watches/continues from a resourceVersion below this get 410 */
  private compactedRv = 0;
  private readonly expiredWatch: 'event' | 'status';
  port = 0;

  private constructor(opts: FakeApiServerOptions) {
    for (const d of opts.resources ?? CORE_RESOURCES) this.addResource(d);
    this.expiredWatch = opts.expiredWatch ?? 'event';
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        try {
          this.handle(req, res, Buffer.concat(chunks).toString('utf8'));
        } catch (err) {
          this.send(res, 500, status(500, 'InternalError', `fake apiserver: ${(err as Error).stack ?? String(err)}`));
        }
      });
    });
  }

  static async start(opts: FakeApiServerOptions = {}): Promise<FakeApiServer> {
    const s = new FakeApiServer(opts);
    await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
    s.port = (s.server.address() as AddressInfo).port;
    return s;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The current resourceVersion (the last one handed out). */
  get resourceVersion(): string {
    return String(this.rv);
  }

  /** A KubeConfig pointing at this server (http needs insecure-skip-tls-verify in client-node). */
  kubeConfig(token = 'test-token'): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromString(this.kubeConfigYaml(token));
    return kc;
  }

  kubeConfigYaml(token = 'test-token'): string {
    return [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: fake',
      '  cluster:',
      `    server: ${this.url}`,
      '    insecure-skip-tls-verify: true',
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
    for (const w of this.watchers) this.endWatch(w, true);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
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

  /** Recorded requests filtered by verb and/or plural. */
  requestsFor(filter: { verb?: string; resource?: string; method?: string } = {}): RecordedRequest[] {
    return this.requests.filter((r) => (!filter.verb || r.verb === filter.verb) && (!filter.resource || r.resource === filter.resource) && (!filter.method || r.method === filter.method));
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

  private remove(r: Resource, key: string): Obj | undefined {
    const existing = r.objects.get(key);
    if (!existing) return undefined;
    r.objects.delete(key);
    const rv = ++this.rv;
    const gone = clone(existing);
    gone.metadata!.resourceVersion = String(rv);
    this.emit(r, 'DELETED', gone, rv);
    return clone(gone);
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
    const rec: RecordedRequest = {
      method,
      path: url.pathname,
      query,
      body,
      verb: route?.verb ?? 'other',
      at: Date.now(),
      ...(contentType ? { contentType } : {}),
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      ...(route?.resource ? { resource: route.resource.def.plural } : {}),
    };
    this.requests.push(rec);

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
        return this.list(res, r, ns, query);
      case 'watch':
        return this.watch(req, res, r, ns, name, query);
      case 'get': {
        const o = r.objects.get(objKey(ns, name!));
        return o ? this.send(res, 200, o) : this.fail(res, 404, `${r.def.plural} "${name}" not found`, { name, kind: r.def.plural });
      }
      case 'create':
        return this.create(res, r, ns, body, query);
      case 'update':
        return this.update(res, r, ns, name!, body, route.subresource, query);
      case 'patch':
        return this.patch(res, r, ns, name!, body, contentType, route.subresource, query);
      case 'delete': {
        if (query.dryRun) {
          const o = r.objects.get(objKey(ns, name!));
          return o ? this.send(res, 200, o) : this.fail(res, 404, `${r.def.plural} "${name}" not found`);
        }
        const gone = this.remove(r, objKey(ns, name!));
        return gone ? this.send(res, 200, gone) : this.fail(res, 404, `${r.def.plural} "${name}" not found`, { name, kind: r.def.plural });
      }
      case 'deletecollection': {
        for (const [key, o] of [...r.objects]) if ((ns === undefined || o.metadata?.namespace === ns) && matchLabels(o.metadata?.labels, query.labelSelector)) this.remove(r, key);
        return this.send(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success' });
      }
      default:
        return this.fail(res, 405, `method ${method} not allowed`);
    }
  }

  private route(
    pathname: string,
    method: string,
    query: Record<string, string>,
  ): { verb: string; discovery?: unknown; resource?: Resource; namespace?: string; name?: string; subresource?: string } | undefined {
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
      return { verb: 'discovery', discovery: { major: '1', minor: '30', gitVersion: 'v1.30.0-fake', platform: 'linux/amd64' } };
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

  private list(res: http.ServerResponse, r: Resource, ns: string | undefined, query: Record<string, string>): void {
    let items = [...r.objects.values()]
      .filter((o) => ns === undefined || o.metadata?.namespace === ns)
      .filter((o) => matchFields(o, query.fieldSelector) && matchLabels(o.metadata?.labels, query.labelSelector))
      .sort((a, b) => objKey(a.metadata?.namespace, a.metadata?.name ?? '').localeCompare(objKey(b.metadata?.namespace, b.metadata?.name ?? '')));
    let listRv = this.rv;
    let offset = 0;
    if (query.continue) {
      try {
        const token = JSON.parse(Buffer.from(query.continue, 'base64url').toString('utf8')) as { rv: number; offset: number };
        if (token.rv < this.compactedRv) return this.fail(res, 410, 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.');
        listRv = token.rv;
        offset = token.offset;
      } catch {
        return this.fail(res, 400, 'invalid continue token');
      }
    }
    const limit = query.limit ? Number(query.limit) : 0;
    let next: string | undefined;
    items = items.slice(offset);
    if (limit > 0 && items.length > limit) {
      items = items.slice(0, limit);
      next = Buffer.from(JSON.stringify({ rv: listRv, offset: offset + limit })).toString('base64url');
    }
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
    if (fromNum !== undefined && (Number.isNaN(fromNum) || fromNum < this.compactedRv - 1) && this.expiredWatch === 'status')
      return this.fail(res, 410, `too old resource version: ${from} (${this.compactedRv})`);
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
    if (fromNum !== undefined && (Number.isNaN(fromNum) || fromNum < this.compactedRv - 1)) {
      this.write(w, 'ERROR', status(410, 'Expired', `too old resource version: ${from} (${this.compactedRv})`));
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

  private create(res: http.ServerResponse, r: Resource, ns: string | undefined, body: unknown, query: Record<string, string>): void {
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
      return this.send(res, 409, status(409, 'AlreadyExists', `${r.def.plural} "${meta.name}" already exists`, { name: meta.name, kind: r.def.plural }));
    if (query.dryRun) {
      obj.apiVersion = apiVersionOf(r.def);
      obj.kind = r.def.kind;
      return this.send(res, 201, obj);
    }
    this.send(res, 201, this.store(r, obj, 'ADDED'));
  }

  private update(res: http.ServerResponse, r: Resource, ns: string | undefined, name: string, body: unknown, subresource: string | undefined, query: Record<string, string>): void {
    if (!this.validateBody(res, r, body)) return;
    const key = objKey(ns, name);
    const existing = r.objects.get(key);
    if (!existing) return this.fail(res, 404, `${r.def.plural} "${name}" not found`, { name, kind: r.def.plural });
    const obj = clone(body);
    const meta = (obj.metadata ??= {});
    if (meta.name !== undefined && meta.name !== name) return this.fail(res, 400, 'the name of the object does not match the name on the URL');
    if (meta.resourceVersion !== undefined && meta.resourceVersion !== existing.metadata?.resourceVersion)
      return this.fail(res, 409, `Operation cannot be fulfilled on ${r.def.plural} "${name}": the object has been modified; please apply your changes to the latest version and try again`, { name, kind: r.def.plural });
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
      return this.fail(res, 404, `${r.def.plural} "${name}" not found`, { name, kind: r.def.plural });
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
    const rvWanted = isObject(next.metadata) ? next.metadata.resourceVersion : undefined;
    if (contentType !== 'application/json-patch+json' && isObject(body) && isObject(body.metadata) && body.metadata.resourceVersion !== undefined && rvWanted !== existing.metadata?.resourceVersion)
      return this.fail(res, 409, `Operation cannot be fulfilled on ${r.def.plural} "${name}": the object has been modified`);
    if (subresource === 'status') next = { ...clone(existing), status: next.status };
    next.metadata = { ...(next.metadata ?? {}), name, uid: existing.metadata?.uid, creationTimestamp: existing.metadata?.creationTimestamp, ...(ns !== undefined ? { namespace: ns } : {}) };
    if (query.dryRun) return this.send(res, 200, next);
    this.send(res, 200, this.store(r, next, 'MODIFIED'));
  }
}

export function apiVersionOf(def: Pick<ResourceDef, 'group' | 'version'>): string {
  return def.group ? `${def.group}/${def.version}` : def.version;
}

/** Poll `fn` until it returns a truthy value (or throw after `timeoutMs`). */
export async function waitFor<T>(fn: () => T | Promise<T>, opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 3000);
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
