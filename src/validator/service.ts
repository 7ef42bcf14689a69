// Service (core v1), warnings only: how the mesh will read each port's protocol, and server-first port numbers that
// collide with protocols needing detection elsewhere in the mesh. A Service is never denied.
import { isRecord, namespaceOf, nameOf, type KubeObject } from '../mesh/objects.js';
import { asArray, asRecord } from './checks.js';
import type { ValidationContext } from './context.js';
import type { Findings } from './findings.js';
import { egressDecl, EGRESS_BY_PORT, SERVICE_BY_PORT, servicePorts } from './indexes.js';
import {
  describeEgressProtocol,
  describeServicePort,
  isServerFirst,
  isServiceAppProtocol,
  needsDetection,
  readServicePorts,
  resolveServicePortProtocol,
  SERVICE_APP_PROTOCOLS,
  transportOf,
  usesInspector,
  type EgressDecl,
  type ServicePortDecl,
} from './protocols.js';

export function validateService(obj: KubeObject, ctx: ValidationContext, out: Findings): void {
  // outside the mesh no proxy reads these ports
  if (!ctx.isMonitored(namespaceOf(obj))) return;
  asArray(asRecord(obj.spec).ports).forEach((port, i) => {
    if (!isRecord(port)) return;
    checkAppProtocol(port.appProtocol, `spec.ports[${i}].appProtocol`, out);
    checkTransportDefault(port, `spec.ports[${i}]`, out);
  });
  const ports = readServicePorts(obj);
  if (ports.length === 0) return;
  checkAgainstEgresses(ports, ctx, out);
  checkAgainstServices(ports, ctx, out);
}

function checkAppProtocol(v: unknown, f: string, out: Findings): void {
  if (v === undefined || v === null || v === '') return;
  // the mesh takes appProtocol verbatim and case-sensitively: any other value (HTTP, mysql, kubernetes.io/h2c) is
  // passed through unhandled instead of selecting the proxy's http/tcp/grpc handling
  if (typeof v === 'string' && isServiceAppProtocol(v)) return;
  const text = typeof v === 'string' ? v : JSON.stringify(v);
  const hint = typeof v === 'string' && isServiceAppProtocol(v.toLowerCase()) ? `; did you mean "${v.toLowerCase()}"?` : '';
  out.warn(f, `appProtocol "${text}" is not one the mesh handles (${SERVICE_APP_PROTOCOLS.join(', ')}; case-sensitive)${hint}`, 'service-app-protocol');
}

function checkTransportDefault(port: Record<string, unknown>, f: string, out: Findings): void {
  const transport = transportOf(port);
  if (transport === 'TCP') return;
  // the mesh defaults a port without appProtocol or name prefix to http even when it is UDP/SCTP (osm#5223), so TCP
  // traffic to that port number is configured as http
  const { protocol, source } = resolveServicePortProtocol(port);
  if (source !== 'default') return;
  const number = typeof port.port === 'number' ? String(port.port) : JSON.stringify(port.port);
  out.warn(f, `${String(transport)} port ${number} has no appProtocol or protocol name prefix, so the mesh configures it as ${protocol}; set appProtocol: tcp`, 'service-transport-default');
}

/** Egress policies whose sources include a ServiceAccount in the mesh: only they have a proxy to confuse. */
function meshEgresses(ctx: ValidationContext, ports: readonly ServicePortDecl[]): EgressDecl[] {
  return ctx
    // a server-first port conflicts with inspecting Egress ports, one needing detection with server-first ones
    .candidates(EGRESS_BY_PORT, ports.flatMap((p) => (isServerFirst(p.protocol) ? [`${p.number}|inspect`] : needsDetection(p.protocol, false) ? [`${p.number}|sf`] : [])))
    .map(egressDecl)
    .filter((e) => e.sources.some((sa) => ctx.isMonitored(sa.slice(0, sa.indexOf('/')))))
    .sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0));
}

function checkAgainstEgresses(ports: readonly ServicePortDecl[], ctx: ValidationContext, out: Findings): void {
  for (const egress of meshEgresses(ctx, ports)) {
    const hasHosts = egress.hosts.length > 0;
    for (const sp of ports)
      for (const ep of egress.ports) {
        if (ep.number !== sp.number) continue;
        const head = `port ${sp.number} is ${sp.protocol} here but ${describeEgressProtocol(ep.protocol, hasHosts)} in Egress ${egress.ref}`;
        // this in-mesh server-first port turns detection off on the port number for the Egress sources that reach
        // the Service: their http (ALPN) / https (SNI) egress on it stops matching
        if (isServerFirst(sp.protocol) && usesInspector(ep.protocol))
          out.warn(`spec.ports[${sp.index}]`, `${head}; that egress stops matching for its sources that can reach this Service`, 'service-server-first-egress');
        // the Egress turns detection off on this port number for its sources, including their traffic to this Service
        else if (isServerFirst(ep.protocol) && needsDetection(sp.protocol, false))
          out.warn(`spec.ports[${sp.index}]`, `${head}; its sources lose protocol detection on port ${sp.number} for this Service too`, 'service-server-first-egress');
      }
  }
}

function checkAgainstServices(ports: readonly ServicePortDecl[], ctx: ValidationContext, out: Findings): void {
  const others = ctx
    .candidates(SERVICE_BY_PORT, ports.flatMap((p) => (isServerFirst(p.protocol) ? [`${p.number}|detect`] : needsDetection(p.protocol, false) ? [`${p.number}|sf`] : [])))
    .filter((s) => ctx.isMonitored(namespaceOf(s)))
    .map((s) => ({ svc: s, ref: `${namespaceOf(s)}/${nameOf(s)}` }))
    .sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0));
  for (const { svc } of others)
    for (const op of servicePorts(svc))
      for (const sp of ports) {
        if (op.number !== sp.number) continue;
        // a client of both Services gets detection turned off on the port number by the server-first one, so the
        // detection-dependent one stops being recognised on it (osm#4313: clients stall until the listener timeout)
        const collide = (isServerFirst(sp.protocol) && needsDetection(op.protocol, false)) || (isServerFirst(op.protocol) && needsDetection(sp.protocol, false));
        if (collide)
          out.warn(`spec.ports[${sp.index}]`, `port ${sp.number} is ${sp.protocol} here but ${op.protocol} on ${describeServicePort(svc, op)}; a client of both loses protocol detection on port ${sp.number}`, 'service-server-first-service');
      }
}
