// Health-probe rewriting: the kubelet's probes go through the sidecar (which forwards them to the app), because
// iptables sends every inbound connection to the proxy and a plain probe would otherwise hit mTLS and fail.
import type { V1Container, V1HTTPHeader, V1Probe } from '@kubernetes/client-node';
import { isRecord } from '../mesh/objects.js';
import type { OriginalHealthProbe, ProbeKind } from './types.js';
import { PORTS } from './ports.js';

export const PROBE_KINDS: readonly { kind: ProbeKind; field: 'livenessProbe' | 'readinessProbe' | 'startupProbe'; port: number; portName: string }[] = [
  { kind: 'liveness', field: 'livenessProbe', port: PORTS.LIVENESS, portName: 'liveness-port' },
  { kind: 'readiness', field: 'readinessProbe', port: PORTS.READINESS, portName: 'readiness-port' },
  { kind: 'startup', field: 'startupProbe', port: PORTS.STARTUP, portName: 'startup-port' },
];

export interface ProbeChange {
  /** index in spec.containers at admission */
  readonly container: number;
  readonly field: 'livenessProbe' | 'readinessProbe' | 'startupProbe';
  readonly probe: V1Probe;
}

export interface ProbeRewrite {
  readonly changes: ProbeChange[];
  /** what bootstrap.yaml records (OriginalHealthProbes) */
  readonly original: Record<ProbeKind, OriginalHealthProbe | null>;
  /** the sidecar exposes these probe ports */
  readonly usedKinds: ReadonlySet<ProbeKind>;
  /** a TCP or HTTPS probe was rewritten: the healthcheck container is needed */
  readonly usesTcp: boolean;
  /** gRPC probe ports: the kubelet must reach them directly, so they bypass interception */
  readonly grpcPorts: number[];
  readonly errors: string[];
  readonly warnings: string[];
}


/** An integer port is used as is; a name must be one of the same container's ports. */
function resolvePort(c: V1Container, port: unknown): number | undefined {
  if (typeof port === 'number') return Number.isInteger(port) && port >= 1 && port <= 65535 ? port : undefined;
  if (typeof port !== 'string') return undefined;
  if (/^\d+$/.test(port)) return resolvePort(c, Number(port));
  const match = (Array.isArray(c.ports) ? c.ports : []).find((p) => isRecord(p) && p.name === port);
  return match && typeof match.containerPort === 'number' ? match.containerPort : undefined;
}

/** A probe this server (or the Go injector) already rewrote: rewriting it again would stack headers and ports. */
export function isRewritten(probe: V1Probe, healthPath: string): boolean {
  const get = probe.httpGet;
  if (!get || get.path !== healthPath) return false;
  return ([PORTS.LIVENESS, PORTS.READINESS, PORTS.STARTUP, PORTS.HEALTHCHECK] as number[]).includes(Number(get.port));
}

const header = (name: string, value: number | string): V1HTTPHeader => ({ name, value: String(value) });

/** The last header of that name (ours are appended after the user's). */
function headerValue(headers: unknown, name: string): string | undefined {
  if (!Array.isArray(headers)) return undefined;
  for (let i = headers.length - 1; i >= 0; i--) {
    const h: unknown = headers[i];
    if (isRecord(h) && h.name === name && typeof h.value === 'string') return h.value;
  }
  return undefined;
}

/**
 * The inverse of rewriteProbes: what bootstrap.yaml must record, read back from probes already rewritten (the pod
 * as stored after admission, or a copy made by `kubectl debug --copy-to`). Whoever creates the bootstrap Secret
 * after admission needs nothing but the pod; the headers the rewrite added carry the original ports and paths.
 */
export function originalProbesFromPod(containers: readonly V1Container[], healthPath: string): Record<ProbeKind, OriginalHealthProbe | null> {
  const original: Record<ProbeKind, OriginalHealthProbe | null> = { liveness: null, readiness: null, startup: null };
  for (const c of containers) {
    if (!isRecord(c)) continue;
    for (const k of PROBE_KINDS) {
      const probe = c[k.field];
      if (!isRecord(probe) || original[k.kind] !== null || !isRewritten(probe, healthPath)) continue;
      const timeoutSeconds = typeof probe.timeoutSeconds === 'number' && probe.timeoutSeconds > 0 ? probe.timeoutSeconds : 1;
      const headers = isRecord(probe.httpGet) ? probe.httpGet.httpHeaders : undefined;
      const httpPort = Number(headerValue(headers, 'Original-Http-Port'));
      const tcpPort = Number(headerValue(headers, 'Original-Tcp-Port'));
      if (Number.isInteger(httpPort) && httpPort > 0) original[k.kind] = { path: headerValue(headers, 'Original-Http-Path') ?? '', port: httpPort, timeoutSeconds, isHTTP: true, isTCPSocket: false };
      else if (Number.isInteger(tcpPort) && tcpPort > 0) original[k.kind] = { path: '', port: tcpPort, timeoutSeconds, isHTTP: false, isTCPSocket: true };
    }
  }
  return original;
}

export function rewriteProbes(containers: readonly V1Container[], healthPath: string): ProbeRewrite {
  const changes: ProbeChange[] = [];
  const original: Record<ProbeKind, OriginalHealthProbe | null> = { liveness: null, readiness: null, startup: null };
  const usedKinds = new Set<ProbeKind>();
  const errors: string[] = [];
  const warnings: string[] = [];
  const grpcPorts: number[] = [];
  let usesTcp = false;

  containers.forEach((c, index) => {
    for (const k of PROBE_KINDS) {
      const probe = c[k.field];
      if (!isRecord(probe)) continue;
      if (isRewritten(probe, healthPath)) continue;
      const where = `container "${c.name}" ${k.kind} probe`;
      const timeoutSeconds = typeof probe.timeoutSeconds === 'number' && probe.timeoutSeconds > 0 ? probe.timeoutSeconds : 1;
      let rewritten: V1Probe | undefined;
      let record: OriginalHealthProbe | undefined;

      if (isRecord(probe.httpGet)) {
        const get = probe.httpGet;
        const port = resolvePort(c, get.port);
        // Port 0 (the Go injector's fallback) makes the sidecar probe nothing and the pod never become ready.
        if (port === undefined) {
          errors.push(`${where} uses port ${JSON.stringify(get.port)}, which does not resolve to a port of that container (declare it in the container's ports or use a number)`);
          continue;
        }
        if (get.host) warnings.push(`${where} sets httpGet.host "${get.host}": the kubelet will probe that host directly, bypassing the sidecar`);
        const https = typeof get.scheme === 'string' && get.scheme.toUpperCase() === 'HTTPS';
        const headers = Array.isArray(get.httpHeaders) ? [...get.httpHeaders] : [];
        if (https) {
          // The sidecar cannot terminate the app's TLS: it checks the port is open through the healthcheck helper.
          rewritten = { ...probe, httpGet: { ...get, port: k.port, path: healthPath, scheme: 'HTTP', httpHeaders: [...headers, header('Original-Tcp-Port', port)] } };
          record = { path: '', port, timeoutSeconds, isHTTP: false, isTCPSocket: true };
          usesTcp = true;
        } else {
          const path = typeof get.path === 'string' ? get.path : '';
          rewritten = { ...probe, httpGet: { ...get, port: k.port, path: healthPath, httpHeaders: [...headers, header('Original-Http-Port', port), header('Original-Http-Path', path)] } };
          record = { path, port, timeoutSeconds, isHTTP: true, isTCPSocket: false };
        }
        usedKinds.add(k.kind);
      } else if (isRecord(probe.tcpSocket)) {
        const port = resolvePort(c, probe.tcpSocket.port);
        if (port === undefined) {
          errors.push(`${where} uses port ${JSON.stringify(probe.tcpSocket.port)}, which does not resolve to a port of that container (declare it in the container's ports or use a number)`);
          continue;
        }
        const { tcpSocket: _dropped, ...rest } = probe;
        rewritten = { ...rest, httpGet: { port: PORTS.HEALTHCHECK, path: healthPath, httpHeaders: [header('Original-Tcp-Port', port)] } };
        record = { path: '', port, timeoutSeconds, isHTTP: false, isTCPSocket: true };
        usesTcp = true;
      } else if (isRecord(probe.grpc)) {
        const port = probe.grpc.port;
        if (typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535 && !grpcPorts.includes(port)) {
          grpcPorts.push(port);
          warnings.push(`${where} is gRPC on port ${port}: that port is excluded from inbound interception so the kubelet can reach it`);
        }
        continue;
      } else continue; // exec probes run inside the container and need nothing

      changes.push({ container: index, field: k.field, probe: rewritten });
      // The sidecar forwards one probe of each kind (osm#4948): keep the first and say so for the others.
      if (original[k.kind] === null) original[k.kind] = record;
      else warnings.push(`${where}: only one ${k.kind} probe per pod is forwarded by the sidecar; the first container's is used`);
    }
  });
  return { changes, original, usedKinds, usesTcp, grpcPorts, errors, warnings };
}
