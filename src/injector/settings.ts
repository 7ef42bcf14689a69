// Everything about a pod's sidecar that comes from the MeshConfig, the flags and the annotations, resolved and
// validated in one place before anything is built.
import type { V1ResourceRequirements } from '@kubernetes/client-node';
import type { Flavor, MeshIdentity } from '../mesh/flavor.js';
import { annotationKeys, type SidecarMode, type SidecarModeFlag } from '../mesh/names.js';
import { isRecord } from '../mesh/objects.js';
import { DEFAULT_REPO_PORT, DEFAULT_TRUST_DOMAIN } from './bootstrap.js';
import type { PodSecurityDefaults } from './pod-security.js';
import type { BootstrapSettings, SidecarSettings } from './types.js';
import { BOOL_WORDS_TEXT, isQuantity, parseBoolWord } from './words.js';


export interface InjectorOptions {
  readonly mesh: MeshIdentity;
  /** --sidecar-mode */
  readonly sidecarMode: SidecarModeFlag;
  /** Kubernetes minor version reported by the API server (live mode); auto means native from 1.33 */
  readonly kubernetesMinor?: number;
  readonly sidecarImage?: string;
  readonly initContainerImage?: string;
  readonly healthcheckImage?: string;
  readonly trustDomain?: string;
  /** verbosity handed to the healthcheck helper */
  readonly logLevel?: string;
  readonly pullPolicy?: string;
  /** the cluster's Pod Security defaults for namespaces without the labels (invisible to a webhook: a flag) */
  readonly podSecurityDefaults?: PodSecurityDefaults;
}

/** Images of the FSM chart (1.6.0) and osm-edge chart (1.3.9), used when neither MeshConfig nor flags name one. */
export const DEFAULT_IMAGES: Readonly<Record<Flavor['name'], { sidecar: string; init: string; healthcheck: string }>> = {
  fsm: { sidecar: 'flomesh/pipy:1.5.14', init: 'flomesh/fsm-sidecar-init:1.6.0', healthcheck: 'flomesh/fsm-healthcheck:1.6.0' },
  'osm-edge': { sidecar: 'flomesh/pipy:0.90.3-38', init: 'flomesh/osm-edge-sidecar-init:1.3.9', healthcheck: 'flomesh/osm-edge-healthcheck:1.3.9' },
};

export const DEFAULT_LOG_LEVEL = 'error';
export const NATIVE_SIDECAR_MINOR = 33;

export const RESOURCE_NAMES = ['cpu', 'memory', 'storage', 'ephemeral-storage'] as const;

export type Annotations = Readonly<Record<string, string>>;

export interface ObjectRef {
  /** e.g. `Pod default/web-7c9f` or `Namespace default` */
  readonly label: string;
  readonly annotations: Annotations;
}

/** The first of pod, namespace that sets a key (a blank value counts as unset). */
export function layered(key: string, layers: readonly ObjectRef[]): { value: string; from: ObjectRef } | undefined {
  for (const l of layers) {
    const v = l.annotations[key];
    if (typeof v === 'string' && v.trim() !== '') return { value: v, from: l };
  }
  return undefined;
}

export function invalidAnnotation(key: string, from: ObjectRef, value: string, expected: string): string {
  return `invalid value ${JSON.stringify(value)} for annotation "${key}" on ${from.label}: expected ${expected}`;
}

export function boolAnnotation(key: string, layers: readonly ObjectRef[], fallback: boolean, errors: string[]): boolean {
  const found = layered(key, layers);
  if (!found) return fallback;
  const b = parseBoolWord(found.value);
  if (b === undefined) {
    errors.push(invalidAnnotation(key, found.from, found.value, BOOL_WORDS_TEXT));
    return fallback;
  }
  return b;
}

const rec = (v: unknown): Record<string, unknown> => (isRecord(v) ? v : {});
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);

function resources(v: unknown): V1ResourceRequirements | undefined {
  return isRecord(v) && Object.keys(v).length > 0 ? (structuredClone(v) as V1ResourceRequirements) : undefined;
}

function stringList(v: unknown): string[] | undefined {
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : undefined;
}

/** osm-edge keeps per-driver settings in sidecarDrivers[]; FSM in repoServer. */
function repoPort(flavor: Flavor, sidecar: Record<string, unknown>, repoServer: Record<string, unknown>): number {
  if (flavor.name === 'fsm' && typeof repoServer.port === 'number') return repoServer.port;
  const drivers = Array.isArray(sidecar.sidecarDrivers) ? sidecar.sidecarDrivers.filter(isRecord) : [];
  const cls = str(sidecar.sidecarClass) ?? 'pipy';
  const driver = drivers.find((d) => d.sidecarName === cls);
  if (driver && typeof driver.proxyServerPort === 'number') return driver.proxyServerPort;
  return DEFAULT_REPO_PORT;
}

export function bootstrapSettings(opts: InjectorOptions, meshConfigSpec: Record<string, unknown> | undefined): BootstrapSettings {
  const spec = rec(meshConfigSpec);
  const sidecar = rec(spec.sidecar);
  const cert = rec(spec.certificate);
  return {
    repoPort: repoPort(opts.mesh.flavor, sidecar, rec(spec.repoServer)),
    trustDomain: opts.trustDomain ?? DEFAULT_TRUST_DOMAIN,
    tls: { min: str(sidecar.tlsMinProtocolVersion), max: str(sidecar.tlsMaxProtocolVersion), cipherSuites: stringList(sidecar.cipherSuites), ecdhCurves: stringList(sidecar.ecdhCurves) },
    rsaBits: typeof cert.certKeyBitSize === 'number' && cert.certKeyBitSize > 0 && cert.keyType === 'rsa' ? cert.certKeyBitSize : undefined,
  };
}

export function resolveSettings(opts: InjectorOptions, meshConfigSpec: Record<string, unknown> | undefined, pod: ObjectRef, ns: ObjectRef, errors: string[]): SidecarSettings {
  const f = opts.mesh.flavor;
  const keys = annotationKeys(f);
  const layers = [pod, ns];
  const spec = rec(meshConfigSpec);
  const sidecar = rec(spec.sidecar);
  const traffic = rec(spec.traffic);
  const repoServer = rec(spec.repoServer);
  const defaults = DEFAULT_IMAGES[f.name];

  const modeAnn = layered(keys.sidecarMode, layers);
  let modeFlag: SidecarModeFlag = opts.sidecarMode;
  if (modeAnn) {
    const m = modeAnn.value.trim().toLowerCase();
    if (m === 'classic' || m === 'native' || m === 'auto') modeFlag = m;
    else errors.push(invalidAnnotation(keys.sidecarMode, modeAnn.from, modeAnn.value, 'classic, native or auto'));
  }
  const mode: SidecarMode = modeFlag === 'auto' ? ((opts.kubernetesMinor ?? 0) >= NATIVE_SIDECAR_MINOR ? 'native' : 'classic') : modeFlag;

  const interception = str(traffic.interceptionMode);
  const labelOnly = f.name === 'fsm' && interception === 'NodeLevel';
  const initContainer = !labelOnly && !(f.name === 'osm-edge' && (interception === 'ebpf' || interception === 'none'));

  // Hosts starting 127. mean "the controller" in the chart defaults: pods must reach it by Service name.
  const ipaddr = str(repoServer.ipaddr) ?? '127.0.0.1';
  const repoHost = ipaddr.startsWith('127.') || ipaddr === 'localhost' ? `${f.controllerService}.${opts.mesh.meshNamespace}` : ipaddr;

  const res = resources(sidecar.resources) ?? {};
  for (const kind of ['limits', 'requests'] as const)
    for (const name of RESOURCE_NAMES) {
      const key = keys.resource(kind, name);
      const found = layered(key, layers);
      if (!found) continue;
      // An unparsable quantity would be dropped silently by the Go injector, leaving the sidecar unbounded.
      if (!isQuantity(found.value)) {
        errors.push(invalidAnnotation(key, found.from, found.value, 'a Kubernetes quantity such as 100m, 128Mi or 1Gi'));
        continue;
      }
      res[kind] = { ...(res[kind] ?? {}), [name]: found.value.trim() };
    }

  const dns = rec(sidecar.localDNSProxy);
  const metricsAnn = ns.annotations[keys.metrics];
  let metrics = false;
  if (typeof metricsAnn === 'string' && metricsAnn.trim() !== '') {
    const b = parseBoolWord(metricsAnn);
    if (b === undefined) errors.push(invalidAnnotation(keys.metrics, ns, metricsAnn, BOOL_WORDS_TEXT));
    else metrics = b;
  }
  const lifecycle = f.name === 'fsm';
  return {
    ...bootstrapSettings(opts, meshConfigSpec),
    mode,
    sidecarImage: str(layered(keys.sidecarImage, layers)?.value) ?? str(sidecar.sidecarImage) ?? opts.sidecarImage ?? defaults.sidecar,
    initImage: str(sidecar.initContainerImage) ?? opts.initContainerImage ?? defaults.init,
    healthcheckImage: opts.healthcheckImage ?? defaults.healthcheck,
    logLevel: str(sidecar.logLevel) ?? DEFAULT_LOG_LEVEL,
    repoHost,
    repoCodebase: (str(repoServer.codebase) ?? '').replace(/^\/+|\/+$/g, ''),
    resources: Object.keys(res).length > 0 ? res : undefined,
    initResources: resources(sidecar.initResources),
    healthcheckResources: resources(sidecar.healthcheckResources),
    privilegedInit: sidecar.enablePrivilegedInitContainer === true,
    holdApplication: lifecycle && boolAnnotation(keys.hold, layers, sidecar.holdApplicationUntilProxyStarts !== false, errors),
    gracefulExit: lifecycle && boolAnnotation(keys.gracefulExit, layers, sidecar.gracefulExitUntilDownstreamEnds !== false, errors),
    initContainer,
    labelOnly,
    localDnsProxy: { enable: dns.enable === true, primary: str(dns.primaryUpstreamDNSServerIPAddr), secondary: str(dns.secondaryUpstreamDNSServerIPAddr) },
    metrics,
  };
}
