// What the real-API-server tests (test/apiserver/) and the bench's part on a real control plane share: a private
// control plane (control-plane.ts) with the mesh's CRDs installed, an admin client, the install's RBAC applied from
// manifests/ and a ServiceAccount token from the TokenRequest API, and mesh-admission servers started as processes of
// their own, as they run in a pod.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { KubeHttp } from '../../src/kube/http.js';
import { webhookConfigurations, type WebhookConfigOptions } from '../../src/install/webhook-config.js';
import { meshIdentity, type MeshIdentity } from '../../src/mesh/flavor.js';
import { installName } from '../../src/mesh/names.js';
import { KINDS } from '../../src/mesh/kinds.js';
import { PUBLISHED_VERSIONS } from '../../src/cli/schema.js';
import { ControlPlane, controlPlaneAssets, freePort, type ControlPlaneOptions } from './control-plane.js';
export type { AuditEvent } from './control-plane.js';
import { waitFor } from './fake-apiserver.js';
import { REPO_ROOT } from './fixtures.js';

export const assets = controlPlaneAssets();

export type Obj = Record<string, unknown> & {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; generateName?: string; labels?: Record<string, string>; annotations?: Record<string, string>; uid?: string; resourceVersion?: string; ownerReferences?: Array<Record<string, unknown>>; [k: string]: unknown };
};

export interface ApiResult<T = Obj> {
  readonly status: number;
  readonly body: T;
}

/** REST paths of the kinds the tests create (core and built-in groups, and the mesh's own kinds). */
const PLURALS: Readonly<Record<string, { plural: string; namespaced: boolean }>> = {
  Namespace: { plural: 'namespaces', namespaced: false },
  ServiceAccount: { plural: 'serviceaccounts', namespaced: true },
  Secret: { plural: 'secrets', namespaced: true },
  Pod: { plural: 'pods', namespaced: true },
  Service: { plural: 'services', namespaced: true },
  ResourceQuota: { plural: 'resourcequotas', namespaced: true },
  ConfigMap: { plural: 'configmaps', namespaced: true },
  Event: { plural: 'events', namespaced: true },
  ClusterRole: { plural: 'clusterroles', namespaced: false },
  ClusterRoleBinding: { plural: 'clusterrolebindings', namespaced: false },
  Role: { plural: 'roles', namespaced: true },
  RoleBinding: { plural: 'rolebindings', namespaced: true },
  CustomResourceDefinition: { plural: 'customresourcedefinitions', namespaced: false },
  MutatingWebhookConfiguration: { plural: 'mutatingwebhookconfigurations', namespaced: false },
  ValidatingWebhookConfiguration: { plural: 'validatingwebhookconfigurations', namespaced: false },
  Deployment: { plural: 'deployments', namespaced: true },
  PodDisruptionBudget: { plural: 'poddisruptionbudgets', namespaced: true },
  Lease: { plural: 'leases', namespaced: true },
  ...Object.fromEntries(KINDS.map((k) => [k.kind, { plural: k.plural, namespaced: k.scope === 'Namespaced' }])),
};

/** Collection path of an object (its namespace's, for a namespaced kind). */
export function collectionOf(obj: Obj): string {
  const kind = obj.kind ?? '';
  const info = PLURALS[kind];
  if (!info) throw new Error(`no REST path known for kind ${kind}`);
  const apiVersion = obj.apiVersion ?? 'v1';
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const ns = info.namespaced ? `/namespaces/${obj.metadata?.namespace ?? 'default'}` : '';
  return `${base}${ns}/${info.plural}`;
}

export function pathOf(obj: Obj): string {
  return `${collectionOf(obj)}/${obj.metadata?.name ?? ''}`;
}

/** A thin admin (or any user's) client over the project's own transport. */
export class Kube {
  readonly http: KubeHttp;

  constructor(kubeConfigYaml: string) {
    const kc = new KubeConfig();
    kc.loadFromString(kubeConfigYaml);
    this.http = new KubeHttp(kc);
  }

  async request<T = Obj>(method: string, path: string, body?: unknown, query?: Record<string, string | number | boolean | undefined>, contentType?: string): Promise<ApiResult<T>> {
    const res = await this.http.request<T>({ method, path, ...(body !== undefined ? { body } : {}), ...(query ? { query } : {}), ...(contentType ? { contentType } : {}), timeoutMs: 30_000 });
    return { status: res.status, body: res.body as T };
  }

  /** Creates an object; throws on anything but 201/200 (the Status message in the error). */
  async create<T extends Obj = Obj>(obj: Obj, query?: Record<string, string>): Promise<T> {
    const res = await this.request<T>('POST', collectionOf(obj), obj, query);
    if (res.status !== 201 && res.status !== 200) throw new Error(`create ${obj.kind} ${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? obj.metadata?.generateName}: ${res.status} ${statusMessage(res.body)}`);
    return res.body;
  }

  /** Creates an object and returns the API server's answer whatever it is (for refusals). */
  tryCreate(obj: Obj, query?: Record<string, string>): Promise<ApiResult> {
    return this.request('POST', collectionOf(obj), obj, query);
  }

  async get<T extends Obj = Obj>(path: string): Promise<T | undefined> {
    const res = await this.request<T>('GET', path);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${statusMessage(res.body)}`);
    return res.body;
  }

  async list<T extends Obj = Obj>(path: string, query?: Record<string, string>): Promise<T[]> {
    const res = await this.request<{ items?: T[] }>('GET', path, undefined, query);
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${statusMessage(res.body)}`);
    return res.body.items ?? [];
  }

  async delete(path: string, query?: Record<string, string>): Promise<number> {
    return (await this.request('DELETE', path, undefined, query)).status;
  }

  async mergePatch(path: string, patch: unknown): Promise<Obj> {
    const res = await this.request('PATCH', path, patch, undefined, 'application/merge-patch+json');
    if (res.status !== 200) throw new Error(`PATCH ${path}: ${res.status} ${statusMessage(res.body)}`);
    return res.body;
  }

  /** Creates, or replaces when it exists (the body's resourceVersion taken from the stored object). */
  async apply(obj: Obj): Promise<Obj> {
    const res = await this.tryCreate(obj);
    if (res.status === 201 || res.status === 200) return res.body;
    if (res.status !== 409) throw new Error(`create ${obj.kind} ${obj.metadata?.name}: ${res.status} ${statusMessage(res.body)}`);
    const current = await this.get(pathOf(obj));
    const put = await this.request('PUT', pathOf(obj), { ...obj, metadata: { ...obj.metadata, resourceVersion: current?.metadata?.resourceVersion } });
    if (put.status !== 200) throw new Error(`replace ${obj.kind} ${obj.metadata?.name}: ${put.status} ${statusMessage(put.body)}`);
    return put.body;
  }

  /** A token for a ServiceAccount from the TokenRequest API. */
  async token(namespace: string, serviceAccount: string, expirationSeconds = 3600): Promise<string> {
    const res = await this.request<{ status?: { token?: string } }>('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds },
    });
    const token = res.body.status?.token;
    if (res.status !== 201 || !token) throw new Error(`token for ${namespace}/${serviceAccount}: ${res.status} ${statusMessage(res.body)}`);
    return token;
  }

  close(): void {
    this.http.close();
  }
}

export function statusMessage(body: unknown): string {
  if (body && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string') return (body as { message: string }).message;
  return typeof body === 'string' ? body : JSON.stringify(body);
}

/**
 * A CRD for each kind of the kind table under the given groups, serving every version it was published in (the last
 * one stored), with an open schema: the validating webhook, not the CRD, is under test.
 */
export function meshCrds(groups: ReadonlySet<string>): Obj[] {
  return KINDS.flatMap((k) =>
    k.groups
      .filter((g) => g !== '' && groups.has(g))
      .map((group) => {
        const versions = PUBLISHED_VERSIONS[group] ?? ['v1alpha1'];
        return {
          apiVersion: 'apiextensions.k8s.io/v1',
          kind: 'CustomResourceDefinition',
          metadata: { name: `${k.plural}.${group}` },
          spec: {
            group,
            scope: k.scope,
            names: { kind: k.kind, plural: k.plural, singular: k.kind.toLowerCase(), listKind: `${k.kind}List` },
            versions: versions.map((v, i) => ({
              name: v,
              served: true,
              storage: i === versions.length - 1,
              schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
            })),
          },
        };
      }),
  );
}

/** The groups a flavor's mesh installs its CRDs under (plus SMI). */
export function flavorGroups(mesh: MeshIdentity): Set<string> {
  const own = mesh.flavor.name === 'fsm' ? ['plugin.flomesh.io', 'policy.flomesh.io', 'multicluster.flomesh.io', 'config.flomesh.io'] : ['plugin.flomesh.io', 'policy.openservicemesh.io', 'multicluster.flomesh.io', 'config.openservicemesh.io'];
  return new Set([...own, 'access.smi-spec.io', 'specs.smi-spec.io', 'split.smi-spec.io']);
}

/** The install's own objects as the manifests give them: ServiceAccount and bindings (base) and the flavor's roles. */
export function installRbac(mesh: MeshIdentity): Obj[] {
  const docs = [readFileSync(join(REPO_ROOT, 'manifests/base/serviceaccount.yaml'), 'utf8'), readFileSync(join(REPO_ROOT, `manifests/flavors/${mesh.flavor.name}/rbac.yaml`), 'utf8')];
  const objects = docs.flatMap((text) => parseAllDocuments(text).map((d) => d.toJSON() as Obj)).filter((o) => o && o.kind);
  // what kustomize's `namespace:` does for the flavor's default namespace
  return objects.map((o) => {
    const out = structuredClone(o);
    if (PLURALS[out.kind ?? '']?.namespaced) out.metadata = { ...out.metadata, namespace: mesh.meshNamespace };
    const subjects = out.subjects as Array<{ namespace?: string }> | undefined;
    for (const s of subjects ?? []) s.namespace = mesh.meshNamespace;
    return out;
  });
}

export const SERVICE_ACCOUNT = 'mesh-admission';

/** tsx's loader by URL: a server process runs in a folder of its own, where `--import tsx` would not resolve. */
export const TSX_LOADER = pathToFileURL(join(REPO_ROOT, 'node_modules/tsx/dist/loader.mjs')).href;

export interface TestClusterOptions extends ControlPlaneOptions {
  readonly mesh?: MeshIdentity;
  /** install the CRDs of every group of the kind table, not only the flavor's (both meshes' groups served) */
  readonly allGroups?: boolean;
}

/** One private control plane with the mesh's CRDs, the mesh namespace and the install's RBAC. */
export class TestCluster {
  readonly mesh: MeshIdentity;
  readonly admin: Kube;
  private readonly servers: ServerProcess[] = [];

  private constructor(
    readonly cp: ControlPlane,
    mesh: MeshIdentity,
  ) {
    this.mesh = mesh;
    this.admin = new Kube(cp.kubeConfigYaml());
  }

  static async start(opts: TestClusterOptions = {}): Promise<TestCluster> {
    if (!assets) throw new Error('KUBEBUILDER_ASSETS is not set');
    const cp = await ControlPlane.start(assets, opts);
    const c = new TestCluster(cp, opts.mesh ?? meshIdentity('fsm'));
    try {
      const groups = opts.allGroups ? new Set(KINDS.flatMap((k) => k.groups).filter((g) => g !== '')) : flavorGroups(c.mesh);
      for (const crd of meshCrds(groups)) await c.admin.create(crd);
      await waitFor(
        async () => {
          const crds = await c.admin.list('/apis/apiextensions.k8s.io/v1/customresourcedefinitions');
          return crds.every((crd) => ((crd.status as { conditions?: Array<{ type: string; status: string }> })?.conditions ?? []).some((x) => x.type === 'Established' && x.status === 'True'));
        },
        { timeoutMs: 30_000, what: 'CRDs established' },
      );
      await c.admin.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: c.mesh.meshNamespace } });
      for (const o of installRbac(c.mesh)) await c.admin.apply(o);
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  /** A kubeconfig file for the install's ServiceAccount, with a fresh token. */
  async serviceAccountKubeConfig(name = 'mesh-admission'): Promise<string> {
    const token = await this.admin.token(this.mesh.meshNamespace, SERVICE_ACCOUNT);
    return this.cp.writeKubeConfig(name, token);
  }

  /** A namespace in the mesh (monitored, injection enabled) unless labels/annotations say otherwise. */
  async meshNamespace(name: string, extra: { labels?: Record<string, string>; annotations?: Record<string, string> } = {}): Promise<void> {
    const d = this.mesh.flavor.domain;
    await this.admin.create({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: {
        name,
        labels: { [`${d}/monitored-by`]: this.mesh.meshName, ...extra.labels },
        annotations: { [`${d}/sidecar-injection`]: 'enabled', ...extra.annotations },
      },
    });
  }

  /** The install's webhook configurations pointing at a loopback URL (the server patches their caBundle). */
  async registerWebhooks(url: string, opts: Partial<WebhookConfigOptions> = {}): Promise<void> {
    const { mutating, validating } = webhookConfigurations(this.mesh, { ...opts, target: { url } });
    await this.admin.apply(mutating as unknown as Obj);
    await this.admin.apply(validating as unknown as Obj);
  }

  /** Resolves once every entry of both configurations carries a caBundle (the server has patched them). */
  async waitForCaBundle(name = installName(this.mesh)): Promise<void> {
    await waitFor(
      async () => {
        for (const kind of ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations']) {
          const c = await this.admin.get(`/apis/admissionregistration.k8s.io/v1/${kind}/${name}`);
          const hooks = (c?.webhooks as Array<{ clientConfig?: { caBundle?: string } }> | undefined) ?? [];
          if (hooks.length === 0 || hooks.some((w) => !w.clientConfig?.caBundle)) return false;
        }
        return true;
      },
      { timeoutMs: 30_000, what: 'caBundle patched' },
    );
  }

  /** Starts `mesh-admission serve` in a process of its own, in live mode with the given kubeconfig. */
  async startServer(kubeconfig: string, extraArgs: readonly string[] = [], opts: { port?: number; env?: NodeJS.ProcessEnv; /** run dist/ (built) instead of src/ through tsx */ dist?: boolean; /** node's own flags (--cpu-prof) */ nodeArgs?: readonly string[] } = {}): Promise<ServerProcess> {
    const port = opts.port ?? (await freePort());
    const metricsPort = await freePort();
    const healthPort = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'mesh-admission-server-'));
    const args = [
      ...(opts.nodeArgs ?? []),
      ...(opts.dist ? [join(REPO_ROOT, 'dist/cli/main.js')] : ['--import', TSX_LOADER, join(REPO_ROOT, 'src/cli/main.ts')]),
      'serve',
      '--kubeconfig',
      kubeconfig,
      '--port',
      String(port),
      '--metrics-port',
      String(metricsPort),
      '--health-port',
      String(healthPort),
      '--host',
      '127.0.0.1',
      '--tls-san',
      '127.0.0.1',
      '--certs-dir',
      join(dir, 'certs'),
      '--flavor',
      this.mesh.flavor.name,
      '--mesh-name',
      this.mesh.meshName,
      '--mesh-namespace',
      this.mesh.meshNamespace,
      '--shutdown-delay-seconds',
      '0',
      ...extraArgs,
    ];
    const child = spawn(process.execPath, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
    const s = new ServerProcess(child, port, metricsPort, healthPort, this.cp.adminToken);
    this.servers.push(s);
    await waitFor(() => s.out.includes('mesh-admission serving') || s.exited, { timeoutMs: 60_000, what: 'the server to serve' });
    if (s.exited) throw new Error(`server exited at start:\n${s.out}`);
    return s;
  }

  /** Stops the servers (SIGKILL, or SIGTERM first when `graceful`: a profile is written at exit) and the control plane. */
  async stop(opts: { graceful?: boolean } = {}): Promise<void> {
    if (opts.graceful) {
      for (const s of this.servers) s.kill('SIGTERM');
      await Promise.race([Promise.all(this.servers.map((s) => s.whenExited())), new Promise((r) => setTimeout(r, 30_000))]);
    }
    for (const s of this.servers) s.kill('SIGKILL');
    await Promise.all(this.servers.map((s) => s.whenExited()));
    this.admin.close();
    await this.cp.stop();
  }
}

export class ServerProcess {
  out = '';
  exited = false;
  exitCode: number | null = null;
  private readonly done: Promise<void>;

  constructor(
    readonly child: ChildProcess,
    readonly port: number,
    readonly metricsPort: number,
    readonly healthPort: number,
    /** the bearer token `metrics()` scrapes with (admin's: system:masters may get /metrics) */
    private readonly scrapeToken: string,
  ) {
    child.stdout!.on('data', (c: Buffer) => (this.out += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (this.out += c.toString()));
    this.done = new Promise((resolve) =>
      child.once('exit', (code) => {
        this.exited = true;
        this.exitCode = code;
        resolve();
      }),
    );
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** The server's JSON log lines. */
  logs(): Array<Record<string, unknown>> {
    return this.out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          return {};
        }
      });
  }

  kill(signal: NodeJS.Signals): void {
    if (!this.exited) this.child.kill(signal);
  }

  whenExited(): Promise<void> {
    return this.done;
  }

  /** /metrics as a Prometheus with a token would read it (throws unless 200). */
  async metrics(): Promise<string> {
    const res = await this.scrape('/metrics', this.scrapeToken);
    if (res.status !== 200) throw new Error(`GET /metrics: ${res.status} ${res.body}`);
    return res.body;
  }

  /**
   * A GET on the metrics port (HTTPS): with `token` as the bearer token, or none. The certificate is not verified here
   * (this is the test's own server on loopback); test/apiserver/security.test.ts checks which one is served.
   */
  scrape(path: string, token?: string): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
    return new Promise((resolve, reject) => {
      const req = httpsGet({ host: '127.0.0.1', port: this.metricsPort, path, rejectUnauthorized: false, headers: token ? { Authorization: `Bearer ${token}` } : {}, timeout: 10_000 }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
    });
  }

  async readyz(): Promise<{ status: number; body: string }> {
    const res = await fetch(`http://127.0.0.1:${this.healthPort}/readyz`);
    return { status: res.status, body: await res.text() };
  }
}

/** A plain pod (busybox, sleeping) in a namespace. */
export function plainPod(namespace: string, name: string, extra: { annotations?: Record<string, string>; labels?: Record<string, string>; spec?: Record<string, unknown> } = {}): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, ...(extra.labels ? { labels: extra.labels } : {}), ...(extra.annotations ? { annotations: extra.annotations } : {}) },
    spec: {
      containers: [{ name: 'app', image: 'busybox:1.36', command: ['sleep', '3600'], ports: [{ name: 'http', containerPort: 8080 }] }],
      ...extra.spec,
    },
  };
}

export { meshIdentity, waitFor };

export interface PodLoadResult {
  /** names of the pods created */
  readonly created: string[];
  /** every create that was not answered 201: status and message */
  readonly failures: string[];
}

/**
 * Creates pods in `namespace`, `concurrency` at a time, until `stop` resolves; then lets the creates in
 * flight finish. Every answer other than 201 is a failure.
 */
export async function podLoad(kube: Kube, namespace: string, concurrency: number, stop: Promise<unknown>, pod: Obj = plainPod(namespace, ''), pauseMs = 0): Promise<PodLoadResult> {
  let stopping = false;
  void stop.then(() => (stopping = true));
  // names of our own: generateName's 5 random characters collide (409) once thousands of pods share a prefix
  const prefix = `load-${Date.now().toString(36)}`;
  let seq = 0;
  const created: string[] = [];
  const failures: string[] = [];
  const worker = async (): Promise<void> => {
    while (!stopping) {
      try {
        const res = await kube.tryCreate({ ...pod, metadata: { ...pod.metadata, name: `${prefix}-${++seq}` } });
        if (res.status === 201) created.push(res.body.metadata?.name ?? '');
        else failures.push(`${res.status} ${statusMessage(res.body)}`);
      } catch (err) {
        failures.push((err as Error).message);
      }
      if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { created, failures };
}
