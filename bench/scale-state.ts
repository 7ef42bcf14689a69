// Part E of `npm run bench` (bench/scale.ts): a cluster state of size N, generated deterministically (a seeded PRNG,
// never Math.random), that the validators ADMIT object by object, and the admission requests measured against it.
//
// The state, for N ≥ 0 (counts are exact; `scaleCounts(n)` gives them):
//   - the base, the same for every N: Namespace fsm-system, the example cluster's MeshConfig
//     (examples/cluster/01-meshconfig.yaml), Service fsm-system/fsm-controller, Clusters cluster-1..3
//     (examples/cluster/03-multicluster.yaml);
//   - max(N, 1) Namespaces `app-NNNNN` (app-00000, the namespace the requests are sent to, exists even for N = 0):
//     ~85 % labelled `flomesh.io/monitored-by: fsm`, most of those annotated `flomesh.io/sidecar-injection: enabled`;
//   - N Services over the namespaces, 1–3 ports each (`http-…`, `grpc-…`, `tcp-…`, `tcp-server-first-…` names, some
//     `appProtocol`s; ~15 % of the ports are tcp-server-first);
//   - N Egresses (policy.flomesh.io/v1alpha1): sources are ServiceAccounts of their own namespace; ~35 % name one of 8
//     ServiceAccounts shared by Egresses of every namespace (`egress-shared-K`; 25 % only it, 10 % beside their
//     own), so each shared ServiceAccount is a source of ~N/23 Egresses; ports http / https / tcp /
//     tcp-server-first; `hosts` when a port is http or https, else `ipAddresses`;
//   - N/10 Plugins (cluster-scoped) and N/10 PluginChains mounting them on the four chains with pinned selectors
//     (every 10th chain also mounts `scale-request-plugin`, the Plugin the Plugin request creates);
//   - N/10 ServiceImports (multicluster.flomesh.io/v1alpha1, for every 10th Service: same namespace and name,
//     endpoints from default/default/default/cluster-1..3);
//   - N/10 IngressBackends, N/10 HTTPRouteGroups and N/10 TrafficTargets (so that the IngressBackend and TrafficTarget
//     requests meet objects of their kind).
//
// How a valid state is kept valid while conflicts CAN occur: port numbers come from pools by protocol class. A
// server-first number (3306, 5432, 25, 22, …) is only ever tcp-server-first, on Services and Egresses alike; an http
// number (80, 8080, …) only http; https, grpc and plain tcp numbers have pools of their own. So every port number of
// the state occurs in many objects (the cross-object rules have material: the same number under the same source
// ServiceAccount, on Egresses and Services), but never under two protocol classes, which is what the server-first
// rules deny or warn about. Egress hosts are unique per Egress (no duplicate virtual host for a shared
// ServiceAccount). A request that mixed classes would be denied: the requests below keep to the classes too.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, parseAllDocuments, stringify as stringifyYaml } from 'yaml';
import type { KubeObject } from '../src/mesh/objects.js';
import { reviewTemplate, CLUSTER, FIXTURES, type Review } from './lib.js';

// ---------------------------------------------------------------------------------------------------------------
// Deterministic randomness

/** mulberry32: a small, fast, seeded PRNG (uniform in [0, 1)). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Rand {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = prng(seed);
  }
  float(): number {
    return this.next();
  }
  /** integer in [0, n) */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  /** k distinct elements (k ≤ xs.length), in drawing order */
  sample<T>(xs: readonly T[], k: number): T[] {
    const pool = [...xs];
    const out: T[] = [];
    for (let i = 0; i < k && pool.length > 0; i++) out.push(pool.splice(this.int(pool.length), 1)[0]!);
    return out;
  }
}

/** One independent stream per kind, so adding objects of one kind does not reshuffle the others. */
const SEED = 0x5ca1e;
const stream = (kind: string, n: number): Rand => {
  let h = SEED ^ Math.imul(n, 0x9e3779b1);
  for (let i = 0; i < kind.length; i++) h = Math.imul(h ^ kind.charCodeAt(i), 0x01000193);
  return new Rand(h);
};

// ---------------------------------------------------------------------------------------------------------------
// Port pools by protocol class (see the header: a number never occurs under two classes)

interface PortChoice {
  readonly number: number;
  /** the suffix of a Service port name (`tcp-server-first-mysql`) */
  readonly word: string;
}

const HTTP_PORTS: readonly PortChoice[] = [
  { number: 80, word: 'web' },
  { number: 8080, word: 'api' },
  { number: 8000, word: 'app' },
  { number: 3000, word: 'ui' },
  { number: 5000, word: 'rest' },
  { number: 9090, word: 'admin' },
];
const HTTPS_PORTS: readonly PortChoice[] = [
  { number: 443, word: 'tls' },
  { number: 8443, word: 'secure' },
];
const GRPC_PORTS: readonly PortChoice[] = [
  { number: 50051, word: 'api' },
  { number: 9000, word: 'rpc' },
  { number: 8081, word: 'internal' },
];
const TCP_PORTS: readonly PortChoice[] = [
  { number: 6379, word: 'redis' },
  { number: 27017, word: 'mongodb' },
  { number: 9092, word: 'kafka' },
  { number: 1883, word: 'mqtt' },
  { number: 4222, word: 'nats' },
  { number: 9200, word: 'elastic' },
  { number: 11211, word: 'memcached' },
  { number: 5672, word: 'amqp' },
];
/** protocols where the server speaks first (banners, greetings): detection must be off on these numbers */
const SERVER_FIRST_PORTS: readonly PortChoice[] = [
  { number: 3306, word: 'mysql' },
  { number: 5432, word: 'postgres' },
  { number: 25, word: 'smtp' },
  { number: 22, word: 'ssh' },
  { number: 21, word: 'ftp' },
  { number: 110, word: 'pop3' },
  { number: 143, word: 'imap' },
  { number: 1521, word: 'oracle' },
];

export const SCALE_PORTS = { http: HTTP_PORTS, https: HTTPS_PORTS, grpc: GRPC_PORTS, tcp: TCP_PORTS, serverFirst: SERVER_FIRST_PORTS } as const;

// ---------------------------------------------------------------------------------------------------------------
// Names

const pad = (i: number, width = 5): string => String(i).padStart(width, '0');
export const namespaceName = (i: number): string => `app-${pad(i)}`;
export const serviceName = (i: number): string => `svc-${pad(i)}`;
export const pluginName = (i: number): string => `plugin-${pad(i, 4)}`;
/** the namespace every request goes to: always present, monitored and injection-enabled */
export const REQUEST_NAMESPACE = namespaceName(0);
/** ServiceAccounts shared by Egresses of every namespace */
export const SHARED_SERVICE_ACCOUNTS = 8;
const sharedSa = (k: number, nsCount: number): { name: string; namespace: string } => ({ name: `egress-shared-${k}`, namespace: namespaceName(k % nsCount) });
/** the Plugin the Plugin request creates, mounted by every 10th generated PluginChain */
export const REQUEST_PLUGIN = 'scale-request-plugin';
const CLUSTER_KEYS = ['default/default/default/cluster-1', 'default/default/default/cluster-2', 'default/default/default/cluster-3'] as const;
const CLUSTER_PORTS: Readonly<Record<string, number>> = { 'default/default/default/cluster-1': 81, 'default/default/default/cluster-2': 82, 'default/default/default/cluster-3': 83 };

const MONITORED = { 'flomesh.io/monitored-by': 'fsm' } as const;
const NS_NAME_LABEL = 'kubernetes.io/metadata.name';
const INJECTION = 'flomesh.io/sidecar-injection';

// ---------------------------------------------------------------------------------------------------------------
// The base: what the example cluster gives every N

function yamlDocs(file: string): KubeObject[] {
  return parseAllDocuments(readFileSync(join(CLUSTER, file), 'utf8'))
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null && typeof o === 'object');
}

function baseObjects(): KubeObject[] {
  const meshConfig = parseYaml(readFileSync(join(CLUSTER, '01-meshconfig.yaml'), 'utf8')) as KubeObject;
  const meshNamespace = yamlDocs('00-namespaces.yaml').find((o) => o.kind === 'Namespace' && o.metadata?.name === 'fsm-system');
  const clusters = yamlDocs('03-multicluster.yaml').filter((o) => o.kind === 'Cluster');
  if (!meshNamespace || clusters.length === 0) throw new Error(`${CLUSTER}: fsm-system or the Clusters are missing`);
  // The FSM chart's controller Service (the injector reads its cluster IP for the local DNS proxy).
  const controller: KubeObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'fsm-controller', namespace: 'fsm-system', labels: { app: 'fsm-controller' } },
    spec: {
      type: 'ClusterIP',
      clusterIP: '10.96.0.50',
      selector: { app: 'fsm-controller' },
      ports: [
        { name: 'repo', port: 6060, targetPort: 6060, protocol: 'TCP' },
        { name: 'metrics', port: 9091, targetPort: 9091, protocol: 'TCP' },
        { name: 'webhook', port: 9443, targetPort: 9443, protocol: 'TCP' },
        { name: 'health', port: 9092, targetPort: 9092, protocol: 'TCP' },
      ],
    },
  };
  return [meshNamespace, meshConfig, controller, ...clusters];
}

// ---------------------------------------------------------------------------------------------------------------
// Generated kinds

export interface ScaleCounts {
  readonly namespaces: number;
  readonly services: number;
  readonly egresses: number;
  readonly plugins: number;
  readonly pluginChains: number;
  readonly serviceImports: number;
  readonly ingressBackends: number;
  readonly httpRouteGroups: number;
  readonly trafficTargets: number;
}

export function scaleCounts(n: number): ScaleCounts {
  const tenth = Math.floor(n / 10);
  return { namespaces: Math.max(n, 1), services: n, egresses: n, plugins: tenth, pluginChains: tenth, serviceImports: tenth, ingressBackends: tenth, httpRouteGroups: tenth, trafficTargets: tenth };
}

/** Objects in scaleState(n): the base (6) plus the generated ones. */
export function scaleSize(n: number): number {
  const c = scaleCounts(n);
  return 6 + Object.values(c).reduce((a, b) => a + b, 0);
}

function namespaces(count: number): KubeObject[] {
  const r = stream('Namespace', count);
  return Array.from({ length: count }, (_, i) => {
    const name = namespaceName(i);
    // the first namespaces hold the shared ServiceAccounts and the requests' references: always in the mesh
    const monitored = i < SHARED_SERVICE_ACCOUNTS || r.chance(0.85);
    const labels: Record<string, string> = { [NS_NAME_LABEL]: name, team: `team-${i % 37}`, ...(monitored ? MONITORED : {}) };
    const annotations: Record<string, string> = {};
    if (i === 0 || (monitored && r.chance(0.7))) annotations[INJECTION] = 'enabled';
    else if (monitored && r.chance(0.2)) annotations[INJECTION] = 'disabled';
    return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels, ...(Object.keys(annotations).length ? { annotations } : {}) } };
  });
}

interface ServicePortSpec {
  name: string;
  port: number;
  targetPort: number;
  protocol: 'TCP';
  appProtocol?: string;
}

/** One Service port of a class; the name or appProtocol says the class, as the mesh reads it. */
function servicePort(r: Rand, taken: Set<number>): ServicePortSpec | undefined {
  const x = r.float();
  const [pool, name, appProtocol]: [readonly PortChoice[], (w: string) => string, string | undefined] =
    x < 0.35
      ? [HTTP_PORTS, (w) => `http-${w}`, undefined]
      : x < 0.45
        ? [HTTP_PORTS, (w) => w, 'http']
        : x < 0.55
          ? [HTTPS_PORTS, (w) => `https-${w}`, 'https']
          : x < 0.65
            ? [GRPC_PORTS, (w) => `grpc-${w}`, undefined]
            : x < 0.85
              ? [TCP_PORTS, (w) => `tcp-${w}`, undefined]
              : x < 0.95
                ? [SERVER_FIRST_PORTS, (w) => `tcp-server-first-${w}`, undefined]
                : [SERVER_FIRST_PORTS, (w) => w, 'tcp-server-first'];
  const free = pool.filter((p) => !taken.has(p.number));
  if (free.length === 0) return undefined;
  const choice = r.pick(free);
  taken.add(choice.number);
  return { name: name(choice.word), port: choice.number, targetPort: choice.number, protocol: 'TCP', ...(appProtocol ? { appProtocol } : {}) };
}

interface GeneratedService {
  readonly object: KubeObject;
  readonly namespace: string;
  readonly name: string;
  readonly ports: readonly ServicePortSpec[];
}

function services(count: number, nsCount: number): GeneratedService[] {
  const r = stream('Service', count);
  return Array.from({ length: count }, (_, i) => {
    const namespace = i === 0 ? REQUEST_NAMESPACE : namespaceName(r.int(nsCount));
    const name = serviceName(i);
    const taken = new Set<number>();
    const wanted = 1 + (r.chance(0.4) ? 1 : 0) + (r.chance(0.15) ? 1 : 0);
    const ports: ServicePortSpec[] = [];
    for (let k = 0; k < wanted; k++) {
      const p = servicePort(r, taken);
      if (p) ports.push(p);
    }
    if (i === 0 && !ports.some((p) => p.port === 8080)) ports.unshift({ name: 'http-api', port: 8080, targetPort: 8080, protocol: 'TCP' });
    const object: KubeObject = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace, labels: { app: name } },
      spec: { type: 'ClusterIP', clusterIP: `10.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, selector: { app: name }, ports },
    };
    return { object, namespace, name, ports };
  });
}

type EgressProtocol = 'http' | 'https' | 'tcp' | 'tcp-server-first';

function egresses(count: number, nsCount: number): KubeObject[] {
  const r = stream('Egress', count);
  return Array.from({ length: count }, (_, i) => {
    const namespace = namespaceName(r.int(nsCount));
    const own = { kind: 'ServiceAccount', name: `workload-${r.int(4)}`, namespace };
    const shared = (): { kind: string; name: string; namespace: string } => ({ kind: 'ServiceAccount', ...sharedSa(r.int(SHARED_SERVICE_ACCOUNTS), nsCount) });
    // ~25 % of the Egresses name one of the shared ServiceAccounts, ~10 % name both their own and a shared one
    const x = r.float();
    const sources = x < 0.25 ? [shared()] : x < 0.35 ? [own, shared()] : [own];
    const taken = new Set<number>();
    const ports: Array<{ number: number; protocol: EgressProtocol }> = [];
    const wanted = r.chance(0.3) ? 2 : 1;
    for (let k = 0; k < wanted; k++) {
      const y = r.float();
      const [pool, protocol]: [readonly PortChoice[], EgressProtocol] =
        y < 0.4 ? [HTTP_PORTS, 'http'] : y < 0.65 ? [HTTPS_PORTS, 'https'] : y < 0.85 ? [SERVER_FIRST_PORTS, 'tcp-server-first'] : [TCP_PORTS, 'tcp'];
      const free = pool.filter((p) => !taken.has(p.number));
      if (free.length === 0) continue;
      const choice = r.pick(free);
      taken.add(choice.number);
      ports.push({ number: choice.number, protocol });
    }
    const spec: Record<string, unknown> = { sources, ports };
    // hosts only where a port reads them (http, https); unique per Egress, so no two Egresses of one
    // ServiceAccount add the same virtual host
    if (ports.some((p) => p.protocol === 'http' || p.protocol === 'https')) {
      spec.hosts = [`api-${i}.partner-${i % 97}.example.com`, ...(r.chance(0.3) ? [`cdn-${i}.partner-${i % 97}.example.net`] : [])];
    } else {
      spec.ipAddresses = [`10.${(i >> 8) & 255}.${i & 255}.0/24`];
    }
    return { apiVersion: 'policy.flomesh.io/v1alpha1', kind: 'Egress', metadata: { name: `egress-${pad(i)}`, namespace }, spec };
  });
}

const CHAINS = ['inbound-tcp', 'inbound-http', 'outbound-tcp', 'outbound-http'] as const;

const pipyScript = (name: string): string => `(
pipy({
  _pluginName: '',
  _pluginConfig: null,
  _header: null,
})
.import({
  __service: 'outbound-http-routing',
})
.pipeline()
.onStart(
  () => void (
    _pluginName = __filename.slice(9, -3),
    _pluginConfig = __service?.Plugins?.[_pluginName],
    _header = _pluginConfig?.Header || 'x-${name}'
  )
)
.handleMessageStart(
  msg => msg.head.headers[_header] = '1'
)
.chain()
)
`;

function plugins(count: number): KubeObject[] {
  const r = stream('Plugin', count);
  return Array.from({ length: count }, (_, i) => {
    const name = pluginName(i);
    // between the built-in modules (100–180), or above them
    const priority = r.chance(0.8) ? 101 + r.int(79) : 200 + r.int(800);
    return { apiVersion: 'plugin.flomesh.io/v1alpha1', kind: 'Plugin', metadata: { name }, spec: { priority, pipyscript: pipyScript(name) } };
  });
}

function pluginChains(count: number, pluginCount: number, nsCount: number): KubeObject[] {
  const r = stream('PluginChain', count);
  const all = Array.from({ length: pluginCount }, (_, i) => pluginName(i));
  return Array.from({ length: count }, (_, i) => {
    const namespace = i === 0 ? REQUEST_NAMESPACE : namespaceName(r.int(nsCount));
    const chainNames = r.sample(CHAINS, 1 + (r.chance(0.3) ? 1 : 0));
    // every 10th chain mounts the Plugin that the Plugin request creates, on outbound-http
    if (i % 10 === 0 && !chainNames.includes('outbound-http')) chainNames.push('outbound-http');
    const chains = chainNames.map((name) => {
      const mounted = r.sample(all, 1 + r.int(3));
      if (i % 10 === 0 && name === 'outbound-http') mounted.push(REQUEST_PLUGIN);
      return { name, plugins: mounted };
    });
    const app = serviceName(r.int(Math.max(count * 10, 1)));
    return {
      apiVersion: 'plugin.flomesh.io/v1alpha1',
      kind: 'PluginChain',
      metadata: { name: `chain-${pad(i)}`, namespace },
      spec: { chains, selectors: { podSelector: { matchLabels: { app } }, namespaceSelector: { matchLabels: { [NS_NAME_LABEL]: namespace } } } },
    };
  });
}

function serviceImports(count: number, svcs: readonly GeneratedService[]): KubeObject[] {
  const r = stream('ServiceImport', count);
  return Array.from({ length: count }, (_, i) => {
    const svc = svcs[i * 10]!;
    // the first import is the one the GlobalTrafficPolicy request governs: cluster-1 and cluster-3 export it
    const keys = i === 0 ? [CLUSTER_KEYS[0], CLUSTER_KEYS[2]] : r.sample(CLUSTER_KEYS, 1 + r.int(3));
    const ports = svc.ports.map((p) => ({
      port: p.port,
      protocol: 'TCP',
      ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}),
      endpoints: keys.map((key) => {
        const cluster = key.slice(key.lastIndexOf('/') + 1);
        return { clusterKey: key, target: { host: '192.168.1.110', ip: '192.168.1.110', path: `/${cluster}/${svc.name}`, port: CLUSTER_PORTS[key]! } };
      }),
    }));
    return {
      apiVersion: 'multicluster.flomesh.io/v1alpha1',
      kind: 'ServiceImport',
      metadata: { name: svc.name, namespace: svc.namespace },
      spec: { ports, serviceAccountName: `workload-${r.int(4)}`, type: 'ClusterSetIP' },
    };
  });
}

function ingressBackends(count: number, svcs: readonly GeneratedService[]): KubeObject[] {
  const r = stream('IngressBackend', count);
  return Array.from({ length: count }, (_, i) => {
    // one IngressBackend per Service (distinct names, so no two policies of a namespace name the same backend port)
    const svc = svcs[i * 10 + 5] ?? svcs[i * 10]!;
    const port = svc.ports[0]?.port ?? 8080;
    return {
      apiVersion: 'policy.flomesh.io/v1alpha1',
      kind: 'IngressBackend',
      metadata: { name: `ingress-${svc.name}`, namespace: svc.namespace },
      spec: {
        backends: [{ name: svc.name, port: { number: port, protocol: r.chance(0.8) ? 'http' : 'grpc' } }],
        sources: [{ kind: 'IPRange', name: r.chance(0.5) ? '10.0.0.0/8' : '192.168.0.0/16' }],
      },
    };
  });
}

function httpRouteGroups(count: number, nsCount: number): KubeObject[] {
  const r = stream('HTTPRouteGroup', count);
  return Array.from({ length: count }, (_, i) => ({
    apiVersion: 'specs.smi-spec.io/v1alpha4',
    kind: 'HTTPRouteGroup',
    metadata: { name: `routes-${pad(i)}`, namespace: i === 0 ? REQUEST_NAMESPACE : namespaceName(r.int(nsCount)) },
    spec: {
      matches: [
        { name: 'api', pathRegex: `/api/v${1 + r.int(3)}/.*`, methods: ['GET', 'POST'] },
        { name: 'metrics', pathRegex: '/metrics', methods: ['GET'] },
      ],
    },
  }));
}

function trafficTargets(groups: readonly KubeObject[], monitored: readonly string[]): KubeObject[] {
  const r = stream('TrafficTarget', groups.length);
  return groups.map((g, i) => {
    const namespace = g.metadata!.namespace!;
    // sources in namespaces of the mesh (the mesh ignores the others, and the validator says so)
    const sources = Array.from({ length: 1 + r.int(2) }, (_, k) => ({ kind: 'ServiceAccount', name: `workload-${k}`, namespace: r.pick(monitored) }));
    const unique = sources.filter((s, k) => sources.findIndex((o) => o.namespace === s.namespace && o.name === s.name) === k);
    return {
      apiVersion: 'access.smi-spec.io/v1alpha3',
      kind: 'TrafficTarget',
      metadata: { name: `access-${pad(i)}`, namespace },
      spec: {
        destination: { kind: 'ServiceAccount', name: `workload-${r.int(4)}`, namespace },
        rules: [{ kind: 'HTTPRouteGroup', name: g.metadata!.name, matches: r.chance(0.5) ? ['api'] : ['api', 'metrics'] }],
        sources: unique,
      },
    };
  });
}

/** The cluster state of size N (see the header). Deterministic: the same N gives the same objects. */
export function scaleState(n: number): KubeObject[] {
  if (!Number.isInteger(n) || n < 0) throw new Error(`scaleState: N must be an integer ≥ 0, got ${n}`);
  const c = scaleCounts(n);
  const svcs = services(c.services, c.namespaces);
  const groups = httpRouteGroups(c.httpRouteGroups, c.namespaces);
  const nss = namespaces(c.namespaces);
  const monitored = nss.filter((ns) => ns.metadata?.labels?.['flomesh.io/monitored-by'] === 'fsm').map((ns) => ns.metadata!.name!);
  return [
    ...baseObjects(),
    ...nss,
    ...svcs.map((s) => s.object),
    ...egresses(c.egresses, c.namespaces),
    ...plugins(c.plugins),
    ...pluginChains(c.pluginChains, c.plugins, c.namespaces),
    ...serviceImports(c.serviceImports, svcs),
    ...ingressBackends(c.ingressBackends, svcs),
    ...groups,
    ...trafficTargets(groups, monitored),
  ];
}

/**
 * A state of exactly `total` objects (≥ scaleSize(0)): the smallest N whose state holds at least `total`, less its
 * last Egresses (nothing refers to an Egress, so dropping some keeps the state valid). For `validate -f`.
 */
export function scaleStateOfSize(total: number): { n: number; objects: KubeObject[] } {
  let n = 0;
  while (scaleSize(n) < total) n++;
  const objects = scaleState(n);
  let extra = objects.length - total;
  for (let i = objects.length - 1; i >= 0 && extra > 0; i--)
    if (objects[i]!.kind === 'Egress') {
      objects.splice(i, 1);
      extra--;
    }
  if (objects.length !== total) throw new Error(`scaleStateOfSize(${total}): got ${objects.length} objects`);
  return { n, objects };
}

// ---------------------------------------------------------------------------------------------------------------
// Writing a state

/** Multi-document YAML over `files` files (`state-000.yaml` …), objects in order, as even as the count allows. */
export function writeStateFolder(objects: readonly KubeObject[], dir: string, files = 200): string[] {
  mkdirSync(dir, { recursive: true });
  const count = Math.max(1, Math.min(files, objects.length));
  const width = String(count - 1).length < 3 ? 3 : String(count - 1).length;
  const written: string[] = [];
  for (let f = 0; f < count; f++) {
    const from = Math.floor((f * objects.length) / count);
    const to = Math.floor(((f + 1) * objects.length) / count);
    const text = objects
      .slice(from, to)
      .map((o) => stringifyYaml(o, { lineWidth: 0 }))
      .join('---\n');
    const file = join(dir, `state-${String(f).padStart(width, '0')}.yaml`);
    writeFileSync(file, text);
    written.push(file);
  }
  return written;
}

/** A JSON array of the objects, for bench/fake-api-child.ts's `objectsFile`. */
export function writeStateJson(objects: readonly KubeObject[], file: string): void {
  writeFileSync(file, JSON.stringify(objects));
}

// ---------------------------------------------------------------------------------------------------------------
// The requests measured: CREATE of a NEW object of each kind, touching the cross-object rules

export interface ScaleRequest {
  /** the kind, as shown in the tables */
  readonly label: string;
  readonly path: '/validate' | '/mutate-pod-creation';
  readonly review: Review;
  /** what the request meets in the state, for the report */
  readonly touches: string;
}

interface Gvr {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly resource: string;
}

function review(gvr: Gvr, object: KubeObject, namespace: string | undefined): Review {
  const kind = { group: gvr.group, version: gvr.version, kind: gvr.kind };
  const resource = { group: gvr.group, version: gvr.version, resource: gvr.resource };
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: '00000000-0000-4000-8000-000000000000',
      kind,
      resource,
      requestKind: kind,
      requestResource: resource,
      name: object.metadata?.name,
      ...(namespace ? { namespace } : {}),
      operation: 'CREATE',
      userInfo: { username: 'admin', uid: 'admin-uid', groups: ['system:masters', 'system:authenticated'] },
      object,
      oldObject: null,
      dryRun: false,
      options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1', fieldManager: 'kubectl-client-side-apply', fieldValidation: 'Strict' },
    },
  };
}

const NS = REQUEST_NAMESPACE;

/**
 * The requests, the same for every N (they refer to objects that exist whenever N is large enough: app-00000, the
 * shared ServiceAccount egress-shared-0, svc-00000's ServiceImport, routes-00000, plugin-0000 …; for small N they
 * are still admitted, with warnings where a reference is missing).
 */
export function scaleRequests(): ScaleRequest[] {
  const egress: KubeObject = {
    apiVersion: 'policy.flomesh.io/v1alpha1',
    kind: 'Egress',
    metadata: { name: 'scale-request-egress', namespace: NS },
    spec: {
      // shared by ~N/23 generated Egresses of every namespace
      sources: [{ kind: 'ServiceAccount', ...sharedSa(0, 1) }],
      hosts: ['scale-request.example.com'],
      // both numbers are on many generated Egresses and Services, in the same classes
      ports: [
        { number: 3306, protocol: 'tcp-server-first' },
        { number: 8080, protocol: 'http' },
      ],
    },
  };
  const service: KubeObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'scale-request-svc', namespace: NS, labels: { app: 'scale-request-svc' } },
    spec: {
      selector: { app: 'scale-request-svc' },
      ports: [
        { name: 'tcp-server-first-mysql', port: 3306, targetPort: 3306, protocol: 'TCP' },
        { name: 'http-api', port: 8080, targetPort: 8080, protocol: 'TCP' },
      ],
    },
  };
  const plugin: KubeObject = {
    apiVersion: 'plugin.flomesh.io/v1alpha1',
    kind: 'Plugin',
    metadata: { name: REQUEST_PLUGIN },
    spec: { priority: 115, pipyscript: pipyScript(REQUEST_PLUGIN) },
  };
  const chain: KubeObject = {
    apiVersion: 'plugin.flomesh.io/v1alpha1',
    kind: 'PluginChain',
    metadata: { name: 'scale-request-chain', namespace: NS },
    spec: {
      chains: [
        { name: 'inbound-http', plugins: [pluginName(0), pluginName(1)] },
        { name: 'outbound-http', plugins: [pluginName(2), REQUEST_PLUGIN] },
      ],
      selectors: { podSelector: { matchLabels: { app: serviceName(0) } }, namespaceSelector: { matchLabels: { [NS_NAME_LABEL]: NS } } },
    },
  };
  const gtp: KubeObject = {
    apiVersion: 'multicluster.flomesh.io/v1alpha1',
    kind: 'GlobalTrafficPolicy',
    // governs svc-00000, whose ServiceImport (generated for N ≥ 10) cluster-1 and cluster-3 export
    metadata: { name: serviceName(0), namespace: NS },
    spec: { lbType: 'ActiveActive', targets: [{ clusterKey: CLUSTER_KEYS[0], weight: 60 }, { clusterKey: CLUSTER_KEYS[2], weight: 40 }] },
  };
  const serviceImport: KubeObject = {
    apiVersion: 'multicluster.flomesh.io/v1alpha1',
    kind: 'ServiceImport',
    metadata: { name: 'scale-request-import', namespace: NS },
    spec: {
      type: 'ClusterSetIP',
      serviceAccountName: 'workload-0',
      ports: [
        {
          port: 8080,
          protocol: 'TCP',
          endpoints: [
            { clusterKey: CLUSTER_KEYS[0], target: { host: '192.168.1.110', ip: '192.168.1.110', path: '/cluster-1/scale-request-import', port: 81 } },
            { clusterKey: CLUSTER_KEYS[2], target: { host: '192.168.1.110', ip: '192.168.1.110', path: '/cluster-3/scale-request-import', port: 83 } },
          ],
        },
      ],
    },
  };
  const ingressBackend: KubeObject = {
    apiVersion: 'policy.flomesh.io/v1alpha1',
    kind: 'IngressBackend',
    metadata: { name: 'scale-request-ingress', namespace: NS },
    spec: { backends: [{ name: 'scale-request-svc', port: { number: 8080, protocol: 'http' } }], sources: [{ kind: 'IPRange', name: '10.0.0.0/8' }] },
  };
  const trafficTarget: KubeObject = {
    apiVersion: 'access.smi-spec.io/v1alpha3',
    kind: 'TrafficTarget',
    metadata: { name: 'scale-request-access', namespace: NS },
    spec: {
      destination: { kind: 'ServiceAccount', name: 'workload-0', namespace: NS },
      rules: [{ kind: 'HTTPRouteGroup', name: 'routes-00000', matches: ['api'] }],
      sources: [
        { kind: 'ServiceAccount', name: 'workload-1', namespace: namespaceName(1) },
        { kind: 'ServiceAccount', name: 'workload-2', namespace: namespaceName(2) },
      ],
    },
  };
  const pod = JSON.parse(readFileSync(join(FIXTURES, 'pod-create-from-replicaset-v1.json'), 'utf8')) as Review;
  pod.request.namespace = NS;
  if (pod.request.object?.metadata) pod.request.object.metadata.namespace = NS;

  const V = 'v1alpha1';
  return [
    { label: 'Egress', path: '/validate', review: review({ group: 'policy.flomesh.io', version: V, kind: 'Egress', resource: 'egresses' }, egress, NS), touches: 'source ServiceAccount shared with ~N/23 Egresses; ports 3306 (tcp-server-first) and 8080 (http), on many Egresses and Services' },
    { label: 'Service', path: '/validate', review: review({ group: '', version: 'v1', kind: 'Service', resource: 'services' }, service, NS), touches: 'tcp-server-first 3306 and http 8080, numbers on many Egresses and Services' },
    { label: 'Plugin', path: '/validate', review: review({ group: 'plugin.flomesh.io', version: V, kind: 'Plugin', resource: 'plugins' }, plugin, undefined), touches: 'mounted on outbound-http by every 10th PluginChain' },
    { label: 'PluginChain', path: '/validate', review: review({ group: 'plugin.flomesh.io', version: V, kind: 'PluginChain', resource: 'pluginchains' }, chain, NS), touches: 'mounts generated Plugins beside the other chains' },
    { label: 'GlobalTrafficPolicy', path: '/validate', review: review({ group: 'multicluster.flomesh.io', version: V, kind: 'GlobalTrafficPolicy', resource: 'globaltrafficpolicies' }, gtp, NS), touches: 'clusterKeys exported by the ServiceImport app-00000/svc-00000' },
    { label: 'ServiceImport', path: '/validate', review: review({ group: 'multicluster.flomesh.io', version: V, kind: 'ServiceImport', resource: 'serviceimports' }, serviceImport, NS), touches: 'endpoints from cluster-1 and cluster-3' },
    { label: 'IngressBackend', path: '/validate', review: review({ group: 'policy.flomesh.io', version: V, kind: 'IngressBackend', resource: 'ingressbackends' }, ingressBackend, NS), touches: 'backend ports of the IngressBackends in app-00000' },
    { label: 'TrafficTarget', path: '/validate', review: review({ group: 'access.smi-spec.io', version: V, kind: 'TrafficTarget', resource: 'traffictargets' }, trafficTarget, NS), touches: 'HTTPRouteGroup app-00000/routes-00000, sources in app-00001/2' },
    { label: 'Pod (mutate)', path: '/mutate-pod-creation', review: pod, touches: 'namespace app-00000 (monitored, injection enabled), the MeshConfig, fsm-controller' },
  ];
}

/** A request's body as the load generator sends it: compact JSON split around request.uid. */
export function requestTemplate(r: ScaleRequest): [string, string] {
  return reviewTemplate(structuredClone(r.review), r.label);
}
