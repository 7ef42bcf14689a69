// Port protocols as the mesh reads them from Egress policies and Services, and what each protocol asks of the
// proxy's listener inspectors. A `tcp-server-first` port turns the inspectors off for that port number in every
// proxy that sees it, so the protocols that need them (the "detection" column) silently stop matching there.
import { isRecord, namespaceOf, nameOf, type KubeObject } from '../mesh/objects.js';
import { asArray, asRecord, isInteger } from './checks.js';

export const SERVER_FIRST = 'tcp-server-first';

/**
 * - `always`: matching reads the first bytes (HTTP inspector: ALPN / HTTP/2 preface)
 * - `with-hosts`: only when `hosts` are listed (TLS inspector: SNI); without hosts, port and IPs suffice
 * - `never`: port and IPs only
 * - `disables`: turns detection off for its port number
 */
export type Detection = 'always' | 'with-hosts' | 'never' | 'disables';

interface ProtocolTraits {
  readonly detection: Detection;
  /** a valid `Egress.spec.ports[].protocol` (the runtime lowercases it, then ignores anything else) */
  readonly egress: boolean;
  /** an `appProtocol` value the mesh handles on a Service port (taken verbatim, case-sensitive) */
  readonly service: boolean;
}

const PROTOCOLS: Readonly<Record<string, ProtocolTraits>> = {
  http: { detection: 'always', egress: true, service: true },
  https: { detection: 'with-hosts', egress: true, service: true },
  tcp: { detection: 'never', egress: true, service: true },
  [SERVER_FIRST]: { detection: 'disables', egress: true, service: true },
  // gRPC is HTTP/2: detected like http; the Egress catalog has no grpc case, so it is Service-only
  grpc: { detection: 'always', egress: false, service: true },
};

const traitsOf = (protocol: string): ProtocolTraits | undefined =>
  Object.prototype.hasOwnProperty.call(PROTOCOLS, protocol) ? PROTOCOLS[protocol] : undefined;

export const EGRESS_PROTOCOLS: readonly string[] = Object.keys(PROTOCOLS).filter((p) => PROTOCOLS[p]?.egress);
export const SERVICE_APP_PROTOCOLS: readonly string[] = Object.keys(PROTOCOLS).filter((p) => PROTOCOLS[p]?.service);

/** The Egress protocol, case-insensitively as the runtime reads it; undefined for values the runtime ignores. */
export function egressProtocol(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const p = v.toLowerCase();
  return traitsOf(p)?.egress ? p : undefined;
}

export function isServiceAppProtocol(v: string): boolean {
  return traitsOf(v)?.service === true;
}

export function isServerFirst(protocol: string): boolean {
  return traitsOf(protocol)?.detection === 'disables';
}

/** Whether traffic of this protocol stops matching on a port where detection is off. */
export function needsDetection(protocol: string, hasHosts: boolean): boolean {
  const d = traitsOf(protocol)?.detection;
  return d === 'always' || (d === 'with-hosts' && hasHosts);
}

/** http and https: the protocols whose matching may read the first bytes (depending on hosts for https). */
export function usesInspector(protocol: string): boolean {
  const d = traitsOf(protocol)?.detection;
  return d === 'always' || d === 'with-hosts';
}

// ---- Service ports ----

/** Checked in this order, so `tcp-server-first-db` is not read as `tcp`. */
const PORT_NAME_PREFIXES: readonly (readonly [prefix: string, protocol: string])[] = [
  [`${SERVER_FIRST}-`, SERVER_FIRST],
  ['http-', 'http'],
  ['tcp-', 'tcp'],
  ['grpc-', 'grpc'],
];

/** The mesh's protocol for a Service port that declares none. */
export const DEFAULT_SERVICE_PROTOCOL = 'http';

export interface ResolvedProtocol {
  readonly protocol: string;
  readonly source: 'appProtocol' | 'name' | 'default';
}

/** `appProtocol` wins (verbatim), else a port-name prefix, else http. */
export function resolveServicePortProtocol(port: unknown): ResolvedProtocol {
  const p = asRecord(port);
  if (typeof p.appProtocol === 'string' && p.appProtocol !== '') return { protocol: p.appProtocol, source: 'appProtocol' };
  const name = typeof p.name === 'string' ? p.name : '';
  const match = PORT_NAME_PREFIXES.find(([prefix]) => name.startsWith(prefix));
  return match ? { protocol: match[1], source: 'name' } : { protocol: DEFAULT_SERVICE_PROTOCOL, source: 'default' };
}

export function servicePortProtocol(port: unknown): string {
  return resolveServicePortProtocol(port).protocol;
}

/** A Kubernetes Service port's transport; absent means TCP. */
export function transportOf(port: unknown): unknown {
  const p = asRecord(port);
  return p.protocol === undefined || p.protocol === null ? 'TCP' : p.protocol;
}

export interface ServicePortDecl {
  readonly index: number;
  readonly name: string | undefined;
  readonly number: number;
  readonly protocol: string;
}

/** TCP ports with a usable number: the only ones the sidecar proxies. */
export function readServicePorts(svc: KubeObject): ServicePortDecl[] {
  return asArray(asRecord(svc.spec).ports).flatMap((raw, index) => {
    if (!isRecord(raw) || transportOf(raw) !== 'TCP' || !isInteger(raw.port) || raw.port < 1 || raw.port > 65535) return [];
    const name = typeof raw.name === 'string' && raw.name !== '' ? raw.name : undefined;
    return [{ index, name, number: raw.port, protocol: servicePortProtocol(raw) }];
  });
}

/** `Service ns/name port "web" (8080)`, or without the name when the port has none. */
export function describeServicePort(svc: KubeObject, port: ServicePortDecl): string {
  const which = port.name ? `"${port.name}" (${port.number})` : String(port.number);
  return `Service ${namespaceOf(svc)}/${nameOf(svc)} port ${which}`;
}

// ---- Egress policies ----

export interface EgressPortDecl {
  readonly index: number;
  readonly number: number;
  /** lowercased */
  readonly protocol: string;
}

export interface EgressDecl {
  /** `<namespace>/<name>` */
  readonly ref: string;
  /** source ServiceAccounts as `<namespace>/<name>` */
  readonly sources: readonly string[];
  readonly hosts: readonly { readonly index: number; readonly host: string }[];
  readonly ports: readonly EgressPortDecl[];
}

/** What the runtime would take from an Egress: well-formed entries only, the rest is reported by the validator. */
export function readEgress(obj: KubeObject): EgressDecl {
  const spec = asRecord(obj.spec);
  const sources = asArray(spec.sources).flatMap((s) => {
    const r = asRecord(s);
    return r.kind === 'ServiceAccount' && typeof r.name === 'string' && r.name && typeof r.namespace === 'string' && r.namespace
      ? [`${r.namespace}/${r.name}`]
      : [];
  });
  const hosts = asArray(spec.hosts).flatMap((h, index) => (typeof h === 'string' && h !== '' ? [{ index, host: h.toLowerCase() }] : []));
  const ports = asArray(spec.ports).flatMap((p, index) => {
    const r = asRecord(p);
    const protocol = egressProtocol(r.protocol);
    return protocol && isInteger(r.number) && r.number >= 1 && r.number <= 65535 ? [{ index, number: r.number, protocol }] : [];
  });
  return { ref: `${namespaceOf(obj)}/${nameOf(obj)}`, sources: [...new Set(sources)], hosts, ports };
}

/** `http`, `tcp-server-first`, or https qualified by hosts (which decide whether it needs detection). */
export function describeEgressProtocol(protocol: string, hasHosts: boolean): string {
  return traitsOf(protocol)?.detection === 'with-hosts' ? `${protocol} (${hasHosts ? 'with' : 'without'} hosts)` : protocol;
}
