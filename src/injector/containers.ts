// The containers the injector adds: the iptables init container, the pipy sidecar and the TCP-probe helper.
import type { V1Container, V1ContainerPort, V1EnvVar, V1OwnerReference, V1SecurityContext } from '@kubernetes/client-node';
import type { MeshIdentity } from '../mesh/flavor.js';
import { PORTS } from './ports.js';
import { PROBE_KINDS } from './probes.js';
import type { ProbeKind, SidecarSettings } from './types.js';

export const SIDECAR_CONTAINER = 'sidecar';
export const BOOTSTRAP_VOLUME = 'sidecar-bootstrap-config-volume';
export const BOOTSTRAP_MOUNT_PATH = '/etc/pipy';

export const initContainerName = (mesh: MeshIdentity): string => `${mesh.flavor.prefix}-init`;
export const healthcheckContainerName = (mesh: MeshIdentity): string => `${mesh.flavor.prefix}-healthcheck`;
export const healthPath = (mesh: MeshIdentity): string => `/${mesh.flavor.prefix}-healthcheck`;

const fieldEnv = (name: string, fieldPath: string): V1EnvVar => ({ name, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath } } });

export function initContainer(mesh: MeshIdentity, s: SidecarSettings, script: string, pullPolicy: string): V1Container {
  const c: V1Container = {
    name: initContainerName(mesh),
    image: s.initImage,
    imagePullPolicy: pullPolicy,
    command: ['/bin/sh'],
    args: ['-c', script],
    env: [fieldEnv('POD_IP', 'status.podIP')],
    // iptables needs NET_ADMIN as root; explicit runAsNonRoot: false keeps pods with a pod-level runAsNonRoot working (osm#4388).
    securityContext: { privileged: s.privilegedInit, capabilities: { add: ['NET_ADMIN'] }, runAsNonRoot: false, runAsUser: 0 },
  };
  if (s.initResources) c.resources = s.initResources;
  return c;
}

/** ReplicaSet `web-7c9f5` is reported as Deployment `web`: that is the name users know. */
export function podController(owners: readonly V1OwnerReference[] | undefined): { kind: string; name: string } {
  const owner = (owners ?? []).find((o) => o.controller === true);
  if (!owner) return { kind: '', name: '' };
  if (owner.kind === 'ReplicaSet' && owner.name.includes('-')) return { kind: 'Deployment', name: owner.name.slice(0, owner.name.lastIndexOf('-')) };
  return { kind: owner.kind, name: owner.name };
}

export function repoUrl(mesh: MeshIdentity, s: SidecarSettings, cnPrefix: string): string {
  const codebase = s.repoCodebase ? `${s.repoCodebase}/` : '';
  return `http://${s.repoHost}:${s.repoPort}/repo/${codebase}${mesh.flavor.repoPathSegment}/${cnPrefix}/`;
}

export interface SidecarInputs {
  readonly cnPrefix: string;
  readonly owners: readonly V1OwnerReference[] | undefined;
  readonly probeKinds: ReadonlySet<ProbeKind>;
  /** the pod sets spec.securityContext.seccompProfile: its containers inherit it, ours included */
  readonly podSeccomp: boolean;
}

/**
 * What Pod Security's `restricted` level asks of a container, for the containers that need no privilege (the sidecar
 * runs as its fixed UID, binds ports above 1024 and intercepts nothing itself): no privilege escalation, every
 * capability dropped, the runtime's default seccomp profile unless the pod names one for all its containers.
 */
function restrictedContext(podSeccomp: boolean): V1SecurityContext {
  return { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, ...(podSeccomp ? {} : { seccompProfile: { type: 'RuntimeDefault' } }) };
}

export function sidecarContainer(mesh: MeshIdentity, s: SidecarSettings, input: SidecarInputs): V1Container {
  const controller = podController(input.owners);
  const ports: V1ContainerPort[] = [
    { name: 'proxy-admin', containerPort: PORTS.PROXY_ADMIN, protocol: 'TCP' },
    { name: 'proxy-inbound', containerPort: PORTS.INBOUND, protocol: 'TCP' },
    { name: 'proxy-metrics', containerPort: PORTS.METRICS, protocol: 'TCP' },
    ...PROBE_KINDS.filter((k) => input.probeKinds.has(k.kind)).map((k) => ({ name: k.portName, containerPort: k.port, protocol: 'TCP' })),
  ];
  const env: V1EnvVar[] = [
    { name: 'MESH_NAME', value: mesh.meshName },
    fieldEnv('POD_UID', 'metadata.uid'),
    fieldEnv('POD_NAME', 'metadata.name'),
    fieldEnv('POD_NAMESPACE', 'metadata.namespace'),
    fieldEnv('POD_IP', 'status.podIP'),
    fieldEnv('SERVICE_ACCOUNT', 'spec.serviceAccountName'),
    { name: 'POD_CONTROLLER_KIND', value: controller.kind },
    { name: 'POD_CONTROLLER_NAME', value: controller.name },
  ];
  if (mesh.flavor.name === 'osm-edge' && s.localDnsProxy.enable) {
    env.push({ name: 'LOCAL_DNS_PROXY', value: 'true' });
    if (s.localDnsProxy.primary) env.push({ name: 'LOCAL_DNS_PROXY_PRIMARY_UPSTREAM', value: s.localDnsProxy.primary });
    if (s.localDnsProxy.secondary) env.push({ name: 'LOCAL_DNS_PROXY_SECONDARY_UPSTREAM', value: s.localDnsProxy.secondary });
  }
  const c: V1Container = {
    name: SIDECAR_CONTAINER,
    image: s.sidecarImage,
    imagePullPolicy: 'IfNotPresent',
    args: ['pipy', `--log-level=${s.logLevel}`, `--admin-port=${s.repoPort}`, repoUrl(mesh, s, input.cnPrefix)],
    ports,
    env,
    volumeMounts: [{ name: BOOTSTRAP_VOLUME, mountPath: BOOTSTRAP_MOUNT_PATH, readOnly: true }],
    // The proxy's fixed UID (the interception rules let its own traffic out by this UID), declared non-root so the
    // kubelet refuses to start it as root whatever the image says.
    securityContext: { runAsUser: PORTS.PROXY_UID, runAsNonRoot: true, ...restrictedContext(input.podSeccomp) },
  };
  if (s.resources) c.resources = s.resources;
  if (s.mode === 'native') {
    // A restartable init container: starts before the app, keeps running, and does not keep a Job alive.
    c.restartPolicy = 'Always';
    c.startupProbe = { tcpSocket: { port: PORTS.PROXY_ADMIN }, periodSeconds: 1, failureThreshold: 120, timeoutSeconds: 1 };
    if (s.gracefulExit) c.lifecycle = { preStop: { exec: { command: ['/usr/local/bin/gkill'] } } };
  } else if (s.holdApplication || s.gracefulExit) {
    c.lifecycle = {};
    if (s.holdApplication) c.lifecycle.postStart = { exec: { command: ['/usr/local/bin/wait-pipy'] } };
    if (s.gracefulExit) c.lifecycle.preStop = { exec: { command: ['/usr/local/bin/gkill'] } };
  }
  return c;
}

export function healthcheckContainer(mesh: MeshIdentity, s: SidecarSettings, verbosity: string, pullPolicy: string, podSeccomp: boolean): V1Container {
  const c: V1Container = {
    name: healthcheckContainerName(mesh),
    image: s.healthcheckImage,
    imagePullPolicy: pullPolicy,
    command: [`/${mesh.flavor.prefix}-healthcheck`],
    args: ['--verbosity', verbosity],
    ports: [{ containerPort: PORTS.HEALTHCHECK, protocol: 'TCP' }],
    // Its user is the image's (not known here, so no runAsNonRoot); what it does (listen above 1024, dial the pod's
    // own ports) needs no capability and no escalation whatever the user.
    securityContext: restrictedContext(podSeccomp),
  };
  if (s.healthcheckResources) c.resources = s.healthcheckResources;
  if (s.mode === 'native') c.restartPolicy = 'Always';
  return c;
}
