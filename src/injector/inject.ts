// The injector: a pod admission and a view of the cluster in → a decision, a patch and the bootstrap Secret to create.
// `injectPod` is the one entry point, shared by the mutating webhook, `explain`, the audit and the tests. Pure: the
// UUID comes in as a parameter, the certificate is issued by the caller after the decision, and every annotation is
// validated before the caller touches anything outside the process.
import type { V1Container, V1PodDNSConfig, V1PodDNSConfigOption, V1Volume } from '@kubernetes/client-node';
import type { Operation } from 'fast-json-patch';
import { annotationKeys, bootstrapSecretLabels, bootstrapSecretName, ignoreLabel, INJECTED_BY_LABEL, isUnmeshedNamespace, monitoredByLabel, proxyUuidLabel } from '../mesh/names.js';
import type { MeshIdentity } from '../mesh/flavor.js';
import { isRecord, type KubeObject } from '../mesh/objects.js';
import { DEFAULT_NAMESPACE } from '../mesh/kinds.js';
import { meshConfigOf } from '../cluster/mesh-config.js';
import type { ClusterView } from '../cluster/view.js';
import {
  BOOTSTRAP_VOLUME,
  SIDECAR_CONTAINER,
  healthcheckContainer,
  healthcheckContainerName,
  healthPath,
  initContainer,
  initContainerName,
  sidecarContainer,
} from './containers.js';
import { initScript } from './iptables.js';
import { resolveInterception } from './interception.js';
import { PatchBuilder } from './patch.js';
import { PORTS } from './ports.js';
import { originalProbesFromPod, rewriteProbes } from './probes.js';
import { repoHost } from './bootstrap.js';
import { bootstrapSettings, invalidAnnotation, resolveSettings, type Annotations, type InjectorOptions, type ObjectRef } from './settings.js';
import type { BootstrapSettings, SecretPlan, SidecarSettings } from './types.js';
import { parseBoolWord, BOOL_WORDS_TEXT } from './words.js';
import { levelLabel, levelVersionText, namespacePolicy, podSecurityVerdict, strictestLevelAllowing, violationText, type PodSecurityMode, type Violation } from './pod-security.js';

export type SkipReason = 'host-network' | 'system-namespace' | 'not-monitored' | 'not-enabled';
export type DenyReason = 'invalid-annotation' | 'invalid-pod' | 'pod-security';

/** What the webhook (or the CLI) knows of one pod creation. */
export interface PodRequest {
  /** request.object */
  readonly pod: KubeObject;
  /** request.namespace (the pod's own metadata.namespace is often empty at admission); kubectl's `default` if neither */
  readonly namespace?: string;
  /** a fresh UUID v4 for this injection */
  readonly uuid: string;
  /** the Namespace as just fetched from the API server, when the view does not have it yet */
  readonly namespaceObject?: KubeObject;
}

/** The namespace the pod is created in: the request's, else its own, else kubectl's `default`. */
export function podNamespace(req: Pick<PodRequest, 'pod' | 'namespace'>): string {
  const own = req.pod.metadata?.namespace;
  return req.namespace || (typeof own === 'string' ? own : '') || DEFAULT_NAMESPACE;
}

/** The injector's entry point: the namespace, the MeshConfig and the controller Service come from the view. */
export function injectPod(req: PodRequest, view: ClusterView, opts: InjectorOptions): InjectionPlan {
  const { mesh } = opts;
  const namespace = podNamespace(req);
  return planInjection(opts, {
    pod: req.pod,
    namespace,
    namespaceObject: req.namespaceObject ?? view.get('Namespace', '', namespace),
    meshConfigSpec: meshConfigOf(view, mesh),
    controllerService: view.get('Service', mesh.meshNamespace, mesh.flavor.controllerService),
    uuid: req.uuid,
  });
}

const serviceAccountOf = (spec: Record<string, unknown>): string =>
  (typeof spec.serviceAccountName === 'string' && spec.serviceAccountName) || (typeof spec.serviceAccount === 'string' && spec.serviceAccount) || 'default';

/** The bootstrap Secret's plan from the pod's identity and the MeshConfig-derived settings: one recipe for both paths. */
function secretPlan(mesh: MeshIdentity, settings: BootstrapSettings, pod: { uuid: string; namespace: string; serviceAccount: string; containers: readonly V1Container[] }): SecretPlan {
  return {
    name: bootstrapSecretName(pod.uuid),
    namespace: pod.namespace,
    uuid: pod.uuid,
    serviceAccount: pod.serviceAccount,
    commonName: `${pod.uuid}.sidecar.${pod.serviceAccount}.${pod.namespace}.${settings.trustDomain}`,
    labels: bootstrapSecretLabels(mesh, pod.uuid),
    repoHost: repoHost(mesh),
    repoPort: settings.repoPort,
    tls: settings.tls,
    originalHealthProbes: originalProbesFromPod(pod.containers, healthPath(mesh)),
    keyType: settings.rsaBits ? 'rsa' : 'ec',
    ...(settings.rsaBits ? { rsaBits: settings.rsaBits } : {}),
  };
}

/**
 * The bootstrap Secret an admitted pod needs, computed from the pod as stored (its proxy UUID label, its bootstrap
 * volume, service account and rewritten probes) and the view's MeshConfig: the plan admission made, recomputed by
 * whoever creates the Secret once the pod exists. undefined when the pod carries no bootstrap volume of this mesh
 * (not injected, NodeLevel interception, or another injector's naming).
 */
export function bootstrapSecretPlan(pod: KubeObject, view: ClusterView, opts: InjectorOptions): SecretPlan | undefined {
  const { mesh } = opts;
  const uuid = pod.metadata?.labels?.[proxyUuidLabel(mesh)];
  const namespace = pod.metadata?.namespace;
  if (typeof uuid !== 'string' || !uuid || typeof namespace !== 'string' || !namespace || !isRecord(pod.spec)) return undefined;
  const spec = pod.spec;
  const volume = arr<V1Volume>(spec.volumes).find((v) => isRecord(v) && v.name === BOOTSTRAP_VOLUME);
  if (volume?.secret?.secretName !== bootstrapSecretName(uuid)) return undefined;
  const containers = arr<V1Container>(spec.containers).filter(isRecord);
  return secretPlan(mesh, bootstrapSettings(opts, meshConfigOf(view, mesh)), { uuid, namespace, serviceAccount: serviceAccountOf(spec), containers });
}

/**
 * The sidecar image the injector would give this pod now (pod and namespace annotations, MeshConfig, flags, defaults,
 * in that order): what the audit compares a running sidecar with. An invalid annotation elsewhere does not matter here.
 */
export function sidecarImageFor(pod: KubeObject, view: ClusterView, opts: InjectorOptions): string {
  const namespace = podNamespace({ pod });
  const podRef: ObjectRef = { label: podLabel(pod, namespace), annotations: annotationsOf(pod) };
  const nsRef: ObjectRef = { label: `Namespace ${namespace}`, annotations: annotationsOf(view.get('Namespace', '', namespace)) };
  return resolveSettings(opts, meshConfigOf(view, opts.mesh), podRef, nsRef, []).sidecarImage;
}

/** Everything planInjection reads, resolved from the request and the view. */
interface PodAdmission {
  /** request.object */
  readonly pod: KubeObject;
  /** request.namespace (the pod's own metadata.namespace is often empty at admission) */
  readonly namespace: string;
  readonly namespaceObject: KubeObject | undefined;
  readonly meshConfigSpec: Record<string, unknown> | undefined;
  /** the mesh controller Service (local DNS proxy needs its ClusterIP) */
  readonly controllerService: KubeObject | undefined;
  /** a fresh UUID v4 for this injection */
  readonly uuid: string;
}

/** What would be added, for logs and `mesh-admission explain`. */
export interface AddedSummary {
  readonly mode: 'classic' | 'native';
  readonly initContainers: string[];
  readonly containers: string[];
  readonly volumes: string[];
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  readonly rewrittenProbes: string[];
  /** image of each added container */
  readonly images: Record<string, string>;
}

export type InjectionPlan =
  | { readonly action: 'skip'; readonly reason: SkipReason; readonly message: string; readonly warnings: string[] }
  | { readonly action: 'deny'; readonly reason: DenyReason; readonly message: string; readonly warnings: string[] }
  /**
   * already-injected: this server injected it (a reinvocation); other-injector: the sidecar and proxy UUID are there
   * without this server's INJECTED_BY_LABEL, so another injector (the mesh's own) put them there
   */
  | { readonly action: 'noop'; readonly reason: 'already-injected' | 'other-injector'; readonly message: string; readonly warnings: string[] }
  | {
      readonly action: 'inject' | 'reidentify';
      readonly reason: string;
      readonly message: string;
      readonly patch: Operation[];
      /** undefined when only the label is added (FSM NodeLevel interception) */
      readonly secret: SecretPlan | undefined;
      readonly summary: AddedSummary;
      readonly warnings: string[];
    };

const arr = <T = unknown>(v: unknown): T[] => (Array.isArray(v) ? (v as T[]) : []);
const annotationsOf = (o: KubeObject | undefined): Annotations => {
  const a = o?.metadata?.annotations;
  return isRecord(a) ? (Object.fromEntries(Object.entries(a).filter(([, v]) => typeof v === 'string')) as Annotations) : {};
};

export function podLabel(pod: KubeObject, namespace: string): string {
  const name = pod.metadata?.name || (pod.metadata?.generateName ? `${pod.metadata.generateName}*` : '(unnamed)');
  return `Pod ${namespace}/${name}`;
}

/** The containers of a pod as sent; a malformed pod is answered with a reason instead of a crash. */
function podShape(pod: KubeObject): string | undefined {
  if (!isRecord(pod.spec)) return 'the pod has no spec';
  const spec = pod.spec;
  if (!Array.isArray(spec.containers) || spec.containers.length === 0) return 'the pod has no containers';
  for (const field of ['containers', 'initContainers'] as const) {
    const list = spec[field];
    if (list !== undefined && list !== null && (!Array.isArray(list) || list.some((c) => !isRecord(c) || typeof c.name !== 'string')))
      return `spec.${field} must be a list of containers with names`;
  }
  if (spec.volumes !== undefined && spec.volumes !== null && (!Array.isArray(spec.volumes) || spec.volumes.some((v) => !isRecord(v))))
    return 'spec.volumes must be a list of volumes';
  if (pod.metadata !== undefined && !isRecord(pod.metadata)) return 'metadata must be an object';
  return undefined;
}

/** DNS settings the local DNS proxy needs, merged into the user's instead of replacing them. */
function mergeDns(
  user: V1PodDNSConfig | undefined,
  ours: { nameservers: string[]; searches: string[]; options: V1PodDNSConfigOption[] },
): { config: V1PodDNSConfig } | { error: string } {
  const nameservers = [...new Set([...ours.nameservers, ...arr<string>(user?.nameservers)])];
  const searches = [...new Set([...ours.searches, ...arr<string>(user?.searches)])];
  const userOptions = arr<V1PodDNSConfigOption>(user?.options).filter(isRecord);
  const options = [...userOptions, ...ours.options.filter((o) => !userOptions.some((u) => u.name === o.name))];
  // Kubernetes rejects more than 3 nameservers or 32 search domains: better a clear denial here than a pod the API refuses.
  if (nameservers.length > 3) return { error: `the local DNS proxy needs nameserver ${ours.nameservers.join(', ')}, but the pod's dnsConfig already lists ${arr(user?.nameservers).length} nameservers (at most 3 in all)` };
  if (searches.length > 32) return { error: 'the local DNS proxy search domains and the pod\'s dnsConfig searches exceed 32 entries' };
  // Fields of dnsConfig this server does not know are kept as the user wrote them.
  return { config: { ...(user ?? {}), nameservers, searches, options } };
}

function ndots(trustDomain: string): string {
  return String(trustDomain.split('.').length + 3);
}

function planInjection(opts: InjectorOptions, input: PodAdmission): InjectionPlan {
  const { mesh } = opts;
  const keys = annotationKeys(mesh.flavor);
  const pod = input.pod;
  const ns = input.namespace;
  const podRef: ObjectRef = { label: podLabel(pod, ns), annotations: annotationsOf(pod) };
  const nsRef: ObjectRef = { label: `Namespace ${ns}`, annotations: annotationsOf(input.namespaceObject) };
  const podAsked = parseBoolWord(podRef.annotations[keys.injection] ?? '') === true;
  const skip = (reason: SkipReason, message: string): InjectionPlan => ({ action: 'skip', reason, message, warnings: podAsked ? [`sidecar not injected although ${keys.injection} asks for it: ${message}`] : [] });

  const shapeError = podShape(pod);
  if (shapeError) return { action: 'deny', reason: 'invalid-pod', message: `${podRef.label}: ${shapeError}`, warnings: [] };
  const spec = pod.spec as Record<string, unknown>;

  // 1. Interception on a host-network pod would rewrite the node's own iptables.
  if (spec.hostNetwork === true) return skip('host-network', 'the pod uses the host network');
  // 2. The control plane and Kubernetes' own namespaces are never meshed.
  if (isUnmeshedNamespace(mesh, ns)) return skip('system-namespace', `namespace ${ns} is a system or mesh control-plane namespace`);
  // 3. Only namespaces that joined this mesh.
  const labels = isRecord(input.namespaceObject?.metadata?.labels) ? input.namespaceObject.metadata.labels : {};
  if (!input.namespaceObject) return skip('not-monitored', `namespace ${ns} is not known to the webhook`);
  if (labels[monitoredByLabel(mesh.flavor)] !== mesh.meshName) return skip('not-monitored', `namespace ${ns} is not labelled ${monitoredByLabel(mesh.flavor)}=${mesh.meshName}`);
  if (ignoreLabel(mesh.flavor) in labels) return skip('not-monitored', `namespace ${ns} is labelled ${ignoreLabel(mesh.flavor)}`);

  // 4. The injection annotation: pod wins over namespace; a value that is neither yes nor no is a mistake to report.
  const errors: string[] = [];
  const decide = (ref: ObjectRef): boolean | undefined => {
    const v = ref.annotations[keys.injection];
    if (v === undefined) return undefined;
    const b = parseBoolWord(v);
    if (b === undefined) errors.push(invalidAnnotation(keys.injection, ref, v, BOOL_WORDS_TEXT));
    return b;
  };
  const podWants = decide(podRef);
  const nsWants = decide(nsRef);
  if (errors.length > 0) return { action: 'deny', reason: 'invalid-annotation', message: errors.join('; '), warnings: [] };
  if (!(podWants ?? nsWants)) return skip('not-enabled', podWants === false ? `${keys.injection} is disabled on the pod` : `${keys.injection} is not enabled on the pod or namespace ${ns}`);

  // 5. Already injected: a reinvocation is a no-op; a copy (kubectl debug --copy-to) gets its own identity.
  const containers = arr<V1Container>(spec.containers);
  const initContainers = arr<V1Container>(spec.initContainers);
  const volumes = arr<V1Volume>(spec.volumes);
  const uuidLabel = proxyUuidLabel(mesh);
  const podLabels = isRecord(pod.metadata?.labels) ? pod.metadata.labels : undefined;
  const hasLabel = typeof podLabels?.[uuidLabel] === 'string' && podLabels[uuidLabel] !== '';
  const hasSidecar = [...containers, ...initContainers].some((c) => c.name === SIDECAR_CONTAINER);
  const volumeIndex = volumes.findIndex((v) => v.name === BOOTSTRAP_VOLUME);
  const volume = volumes[volumeIndex];
  if (volume && !isRecord(volume.secret))
    return { action: 'deny', reason: 'invalid-pod', message: `${podRef.label}: volume "${BOOTSTRAP_VOLUME}" is reserved for the sidecar's bootstrap Secret, but this pod defines it as another volume type; rename it`, warnings: [] };
  if (hasSidecar && hasLabel) {
    if (podLabels?.[INJECTED_BY_LABEL] === mesh.meshName) return { action: 'noop', reason: 'already-injected', message: 'the sidecar and proxy UUID label are present', warnings: [] };
    // Whoever injected it also made its bootstrap Secret: adding anything (or a Secret) would break its sidecar.
    return { action: 'noop', reason: 'other-injector', message: `the sidecar and proxy UUID label are present without ${INJECTED_BY_LABEL}=${mesh.meshName}: another injector injected this pod`, warnings: [] };
  }

  const settings = resolveSettings(opts, input.meshConfigSpec, podRef, nsRef, errors);
  const interception = resolveInterception(mesh.flavor, podRef.annotations, input.meshConfigSpec);
  errors.push(...interception.errors.map((e) => `${e} on ${podRef.label}`));
  const probes = hasSidecar || volume ? undefined : rewriteProbes(containers, healthPath(mesh));
  if (probes) errors.push(...probes.errors.map((e) => `${podRef.label}: ${e}`));
  if (errors.length > 0) return { action: 'deny', reason: 'invalid-annotation', message: errors.join('; '), warnings: [] };

  const uuid = input.uuid;
  const serviceAccount = serviceAccountOf(spec);
  const cnPrefix = `${uuid}.sidecar.${serviceAccount}.${ns}`;
  const secretName = bootstrapSecretName(uuid);
  const warnings: string[] = [...(probes?.warnings ?? [])];
  const patch = new PatchBuilder();
  // the UUID names the bootstrap Secret; INJECTED_BY_LABEL tells the Secret's creator (and a later call) the pod is ours
  const ownLabels = { [uuidLabel]: uuid, [INJECTED_BY_LABEL]: mesh.meshName };
  const summary: AddedSummary = { mode: settings.mode, initContainers: [], containers: [], volumes: [], labels: { ...ownLabels }, annotations: {}, rewrittenProbes: [], images: {} };
  // What bootstrap.yaml records comes from the probes as the pod will carry them (rewritten now, or already, in a
  // copy): exactly what the Secret's creator reads back from the stored pod (bootstrapSecretPlan).
  const finalContainers = containers.map((c, i) => {
    const changes = probes?.changes.filter((ch) => ch.container === i) ?? [];
    return changes.length === 0 ? c : Object.assign({ ...c }, ...changes.map((ch) => ({ [ch.field]: ch.probe })));
  });
  const secret = secretPlan(mesh, settings, { uuid, namespace: ns, serviceAccount, containers: finalContainers });

  if (pod.metadata === undefined) patch.add('/metadata', {});
  if (hasSidecar || volume) {
    // The copy keeps its containers and probes; only the identity (label, Secret, volume) is new.
    patch.setMapEntries('/metadata/labels', podLabels, ownLabels);
    if (volume) patch.replace(`/spec/volumes/${volumeIndex}/secret/secretName`, secretName);
    else patch.append('/spec/volumes', spec.volumes, [{ name: BOOTSTRAP_VOLUME, secret: { secretName } }]);
    return {
      action: 'reidentify',
      reason: 'copied-pod',
      message: 'the pod carries a sidecar without its proxy UUID (a copy): new identity and bootstrap Secret',
      patch: patch.ops,
      secret,
      summary: { ...summary, volumes: volume ? [] : [BOOTSTRAP_VOLUME] },
      warnings,
    };
  }

  if (settings.labelOnly) {
    patch.setMapEntries('/metadata/labels', podLabels, ownLabels);
    return { action: 'inject', reason: 'node-level-interception', message: 'NodeLevel interception: proxy UUID label only', patch: patch.ops, secret: undefined, summary, warnings };
  }

  // Probe replacements use the containers' indices at admission, so they go before anything is inserted.
  for (const ch of probes?.changes ?? []) {
    patch.replace(`/spec/containers/${ch.container}/${ch.field}`, ch.probe);
    summary.rewrittenProbes.push(`${containers[ch.container]?.name ?? ch.container}/${ch.field}`);
  }
  patch.setMapEntries('/metadata/labels', podLabels, ownLabels);

  if (settings.metrics) {
    const podAnnotations = isRecord(pod.metadata?.annotations) ? pod.metadata.annotations : undefined;
    const prom = { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(PORTS.METRICS), 'prometheus.io/path': '/stats/prometheus' };
    for (const [k, v] of Object.entries(prom))
      if (typeof podAnnotations?.[k] === 'string' && podAnnotations[k] !== v) warnings.push(`metadata.annotations: ${k} "${podAnnotations[k]}" replaced by "${v}" because namespace ${ns} enables sidecar metrics`);
    patch.setMapEntries('/metadata/annotations', podAnnotations, prom);
    Object.assign(summary.annotations, prom);
  }

  patch.append('/spec/volumes', spec.volumes, [{ name: BOOTSTRAP_VOLUME, secret: { secretName } }]);
  summary.volumes.push(BOOTSTRAP_VOLUME);

  const pullPolicy = opts.pullPolicy ?? 'IfNotPresent';
  const podSeccomp = isRecord(spec.securityContext) && isRecord(spec.securityContext.seccompProfile);
  const sidecar = sidecarContainer(mesh, settings, { cnPrefix, owners: pod.metadata?.ownerReferences, probeKinds: probes?.usedKinds ?? new Set(), podSeccomp });
  const healthcheck = probes?.usesTcp ? healthcheckContainer(mesh, settings, opts.logLevel ?? 'info', pullPolicy, podSeccomp) : undefined;
  const init = settings.initContainer
    ? (() => {
        const s = interception.settings;
        const inbound = [...new Set([...s.inboundPortExclusions, ...(probes?.grpcPorts ?? [])])];
        return initContainer(mesh, settings, initScript({ ...s, inboundPortExclusions: inbound }), pullPolicy);
      })()
    : undefined;

  // Pod Security judges the pod after this webhook: refuse now, with the reason and the ways out, rather than hand
  // the API server a patch it refuses a moment later.
  const added = [init, sidecar, healthcheck].filter((c): c is V1Container => c !== undefined);
  const security = podSecurityVerdict(namespacePolicy(input.namespaceObject, opts.podSecurityDefaults), spec, added);
  if (security.enforce) return { action: 'deny', reason: 'pod-security', message: `${podRef.label}: ${podSecurityText(opts, input, security.enforce.violations, added, spec)}`, warnings };
  if (security.warn) warnings.push(podSecurityWarning(opts, input, security.warn.violations, added, spec));

  for (const c of [init, sidecar, healthcheck]) if (c?.image) summary.images[c.name] = c.image;
  if (settings.mode === 'native') {
    // Interception first, then the proxy, both before the pod's own init containers, which then run meshed.
    const first = [init, sidecar, healthcheck].filter((c): c is V1Container => c !== undefined);
    patch.prepend('/spec/initContainers', spec.initContainers, first);
    summary.initContainers.push(...first.map((c) => c.name));
  } else {
    if (init) {
      patch.append('/spec/initContainers', spec.initContainers, [init]);
      summary.initContainers.push(init.name);
    }
    if (settings.holdApplication) patch.prepend('/spec/containers', spec.containers, [sidecar]);
    else patch.append('/spec/containers', spec.containers, [sidecar]);
    summary.containers.push(sidecar.name);
    if (healthcheck) {
      patch.append('/spec/containers', spec.containers, [healthcheck]);
      summary.containers.push(healthcheck.name);
    }
  }

  if (settings.localDnsProxy.enable) {
    const dns = dnsSettings(opts, settings, input, ns);
    if (dns) {
      const merged = mergeDns(isRecord(spec.dnsConfig) ? (spec.dnsConfig as V1PodDNSConfig) : undefined, dns);
      if ('error' in merged) return { action: 'deny', reason: 'invalid-pod', message: `${podRef.label}: ${merged.error}`, warnings };
      if (typeof spec.dnsPolicy === 'string' && spec.dnsPolicy !== 'None') warnings.push(`spec.dnsPolicy ${spec.dnsPolicy} replaced by None: DNS goes through the mesh's local DNS proxy`);
      if (isRecord(spec.dnsConfig)) warnings.push('spec.dnsConfig merged with the local DNS proxy settings');
      patch.add('/spec/dnsPolicy', 'None');
      patch.add('/spec/dnsConfig', merged.config);
      if (dns.hostAlias) patch.append('/spec/hostAliases', spec.hostAliases, [dns.hostAlias]);
    } else warnings.push(`local DNS proxy not configured: Service ${mesh.meshNamespace}/${mesh.flavor.controllerService} has no cluster IP in the webhook's view`);
  }

  return { action: 'inject', reason: settings.mode, message: `sidecar injected (${settings.mode} mode)`, patch: patch.ops, secret, summary, warnings };
}

/**
 * One message for an enforced Pod Security level the injected containers fail: the namespace's level (or the cluster
 * default), the API server's own words for each failed check, what the containers named need it for, and the ways out.
 */
function podSecurityText(opts: InjectorOptions, input: PodAdmission, violations: readonly Violation[], added: readonly V1Container[], spec: Record<string, unknown>): string {
  const mode: PodSecurityMode = 'enforce';
  const { mesh } = opts;
  const ns = input.namespace;
  const policy = namespacePolicy(input.namespaceObject, opts.podSecurityDefaults);
  const labels = isRecord(input.namespaceObject?.metadata?.labels) ? input.namespaceObject.metadata.labels : {};
  const source = typeof labels[levelLabel(mode)] === 'string' ? '' : ' (the cluster default)';
  const named = new Set(violations.flatMap((v) => v.containers));
  const init = initContainerName(mesh);
  const helper = healthcheckContainerName(mesh);
  const why = [
    ...(named.has(init) ? [`container "${init}" sets up the traffic interception with iptables, which needs NET_ADMIN and root`] : []),
    ...(named.has(helper) ? [`container "${helper}" answers the pod's TCP and HTTPS probes and runs as its image's user`] : []),
  ];
  const interception = mesh.flavor.name === 'fsm' ? 'node-level interception (MeshConfig spec.traffic.interceptionMode: NodeLevel)' : 'eBPF interception (MeshConfig spec.traffic.interceptionMode: ebpf)';
  const ways = [
    `label namespace ${ns} ${levelLabel(mode)}=${strictestLevelAllowing(spec, added)}`,
    ...(named.has(init) ? [`use ${interception}`] : []),
    ...(named.has(helper) ? ['give the pod spec.securityContext.runAsNonRoot: true or probes other than tcpSocket and HTTPS (the helper is added for those only)'] : []),
    `disable injection for namespace ${ns} (annotation ${annotationKeys(mesh.flavor).injection}: disabled)`,
  ];
  const last = ways.length > 1 ? `${ways.slice(0, -1).join(', ')} or ${ways[ways.length - 1]}` : ways[0];
  return `namespace ${ns} enforces Pod Security "${levelVersionText(policy[mode])}"${source}, which would refuse this pod once the sidecar is injected: ${violations.map(violationText).join(', ')}; ${why.length ? `${why.join('; ')}; ` : ''}ways out: ${last}`;
}

/** The API server cuts a warning at 256 characters: the longest one that fits. */
const MAX_WARNING_CHARS = 256;

/**
 * The `warn` level's warning, short enough for the API server to pass on whole (it adds its own warning with every
 * failed check in full): the level, the containers, what failed (when it fits) and the ways out.
 */
function podSecurityWarning(opts: InjectorOptions, input: PodAdmission, violations: readonly Violation[], added: readonly V1Container[], spec: Record<string, unknown>): string {
  const { mesh } = opts;
  const policy = namespacePolicy(input.namespaceObject, opts.podSecurityDefaults);
  const named = [...new Set(violations.flatMap((v) => v.containers))];
  const containers = `${named.length === 1 ? 'container' : 'containers'} ${named.map((n) => JSON.stringify(n)).join(', ')}`;
  const ways = [
    `${levelLabel('warn')}=${strictestLevelAllowing(spec, added)}`,
    ...(named.includes(initContainerName(mesh)) ? [`interceptionMode ${mesh.flavor.name === 'fsm' ? 'NodeLevel' : 'ebpf'}`] : []),
    ...(named.includes(healthcheckContainerName(mesh)) ? ['pod runAsNonRoot: true'] : []),
    'injection disabled',
  ].join(', ');
  const head = `Pod Security "${levelVersionText(policy.warn)}" (warn) would refuse this pod once injected`;
  const full = `${head}: ${violations.map((v) => v.reason).join(', ')} in injected ${containers}; ways out: ${ways}`;
  return full.length <= MAX_WARNING_CHARS ? full : `${head}: injected ${containers}; ways out: ${ways}`;
}

function dnsSettings(opts: InjectorOptions, s: SidecarSettings, input: PodAdmission, ns: string) {
  const { mesh } = opts;
  const svcSpec = isRecord(input.controllerService?.spec) ? input.controllerService.spec : {};
  const clusterIP = typeof svcSpec.clusterIP === 'string' && svcSpec.clusterIP !== 'None' && svcSpec.clusterIP !== '' ? svcSpec.clusterIP : undefined;
  const hostAlias = clusterIP ? { ip: clusterIP, hostnames: [`${mesh.flavor.controllerService}.${mesh.meshNamespace}`] } : undefined;
  const td = s.trustDomain;
  const options = [{ name: 'ndots', value: ndots(td) }];
  if (mesh.flavor.name === 'osm-edge') return { nameservers: ['127.0.0.153'], searches: [`svc.${td}`, td], options, hostAlias };
  if (!clusterIP) return undefined;
  return { nameservers: [clusterIP], searches: [`${ns}.svc.${td}`, `svc.${td}`, td], options, hostAlias };
}
