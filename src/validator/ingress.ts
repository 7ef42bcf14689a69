// IngressBackend and AccessControl: who may reach a mesh Service port from outside the mesh. Both kinds share one
// shape (backends[], sources[]) and one set of rules; only the words in the messages and whether `backends` may be
// left out differ. The mesh looks a policy up by (namespace, backend name, target port) and takes the FIRST match, so
// two policies naming the same backend port make the outcome depend on informer order.
import { isRecord, nameOf, namespaceOf, type KubeObject } from '../mesh/objects.js';
import { monitoredByLabel } from '../mesh/names.js';
import { asArray, byRef, checkArray, checkDns1123Label, checkPort, checkRequiredString, isDns1123Subdomain, isInteger } from './checks.js';
import { ACCESSCONTROL_BY_BACKEND, ACCESSCONTROL_CATCH_ALL, INGRESSBACKEND_BY_BACKEND } from './indexes.js';
import { parseCidr } from '../mesh/cidr.js';
import type { ValidationContext } from './context.js';
import type { Findings } from './findings.js';

interface BackendPolicyProfile {
  readonly kind: 'IngressBackend' | 'AccessControl';
  /** FSM's AccessControl CRD makes backends optional: a policy without backends covers every Service */
  readonly backendsRequired: boolean;
  /** the noun the Go validator used in its mTLS message */
  readonly mtlsSubject: 'ingress' | 'acl';
}

const INGRESS_BACKEND: BackendPolicyProfile = { kind: 'IngressBackend', backendsRequired: true, mtlsSubject: 'ingress' };
const ACCESS_CONTROL: BackendPolicyProfile = { kind: 'AccessControl', backendsRequired: false, mtlsSubject: 'acl' };

const BACKEND_PROTOCOLS = ['http', 'https', 'grpc'] as const;
const PROTOCOL_TEXT = "Expected 'port.protocol' to be 'http', 'https' or 'grpc'";
const SOURCE_KINDS = ['Service', 'AuthenticatedPrincipal', 'IPRange'] as const;
const SOURCE_KIND_TEXT = "Invalid 'source.kind' value specified. Must be one of: Service, AuthenticatedPrincipal, IPRange";

/** A backend whose name and port number passed their checks: the key the mesh looks policies up by. */
interface BackendKey {
  readonly index: number;
  readonly name: string;
  readonly port: number;
}

export function validateIngressBackend(obj: KubeObject, ctx: ValidationContext, out: Findings): void {
  validateBackendPolicy(obj, ctx, out, INGRESS_BACKEND);
}

export function validateAccessControl(obj: KubeObject, ctx: ValidationContext, out: Findings): void {
  validateBackendPolicy(obj, ctx, out, ACCESS_CONTROL);
}

function validateBackendPolicy(obj: KubeObject, ctx: ValidationContext, out: Findings, profile: BackendPolicyProfile): void {
  const spec = obj.spec;
  // Backends and sources are all in the spec: without one the policy protects nothing and lets nothing in.
  if (!isRecord(spec)) {
    out.required('spec', 'policy-spec');
    return;
  }
  const { keys, httpsNeedingPrincipal } = checkBackends(spec.backends, out, profile);
  const hasPrincipal = checkSources(spec.sources, ctx, out);

  // Without an AuthenticatedPrincipal the https filter chain validates client certificates but allows no identity,
  // so every client is rejected (the docs' rule; the Go validator ran it inverted, under grpc with skip=true).
  if (!hasPrincipal)
    for (const backend of httpsNeedingPrincipal)
      out.required('spec.sources', 'backend-mtls-principal',
        `HTTPS ${profile.mtlsSubject} with client certificate validation enabled must specify at least one 'AuthenticatedPrincipal' source (${backend} is https and tls.skipClientCertValidation is not true)`);

  checkDuplicateBackends(keys, out);
  checkOtherPolicies(obj, keys, ctx, out, profile);
}

/** Returns the lookup keys of the well-formed backends and a description of each https backend that validates client certificates. */
function checkBackends(v: unknown, out: Findings, profile: BackendPolicyProfile): { keys: BackendKey[]; httpsNeedingPrincipal: string[] } {
  const keys: BackendKey[] = [];
  const httpsNeedingPrincipal: string[] = [];
  // A policy with no backend protects nothing (IngressBackend); the CRD marks the list required.
  if (!checkArray(out, 'spec.backends', v, 'backend-shape', profile.backendsRequired ? { required: true, minItems: 1 } : {}))
    return { keys, httpsNeedingPrincipal };
  v.forEach((item, i) => {
    const field = `spec.backends[${i}]`;
    if (!isRecord(item)) {
      out.invalid(field, item, 'must be an object with name and port', 'backend-shape');
      return;
    }
    // The backend name is compared with Service names: anything that is not a Service name matches nothing.
    const nameOk = checkRequiredString(out, `${field}.name`, item.name, 'backend-shape') && checkDns1123Label(out, `${field}.name`, item.name, 'backend-shape');
    checkTls(out, `${field}.tls`, item.tls);
    const port = item.port;
    if (!isRecord(port)) {
      if (port === undefined || port === null) out.required(`${field}.port`, 'backend-port');
      else out.invalid(`${field}.port`, port, 'must be an object with number and protocol', 'backend-port');
      return;
    }
    // The lookup compares the number with the Service's target port; 0 or >65535 can never match a real port.
    let portOk = false;
    if (port.number === undefined || port.number === null) out.required(`${field}.port.number`, 'backend-port');
    else portOk = checkPort(out, `${field}.port.number`, port.number, 'backend-port');
    const protocol = checkProtocol(out, `${field}.port.protocol`, port.protocol);
    if (protocol === 'https' && !skipsClientCertValidation(item.tls))
      httpsNeedingPrincipal.push(`backend ${String(item.name)} port ${String(port.number)}`);
    if (nameOk && portOk) keys.push({ index: i, name: item.name as string, port: port.number as number });
  });
  return { keys, httpsNeedingPrincipal };
}

/** Returns the lowercased protocol when it is one the mesh builds a filter chain for. */
function checkProtocol(out: Findings, field: string, v: unknown): string | undefined {
  // The protocol picks the backend's filter chain: without one the backend gets no ingress route.
  if (v === undefined || v === null || v === '') {
    out.required(field, 'backend-protocol', PROTOCOL_TEXT);
    return undefined;
  }
  // The mesh lowercases the protocol and ignores any other value: the backend would silently get no ingress route.
  const lower = typeof v === 'string' ? v.toLowerCase() : undefined;
  if (lower !== undefined && (BACKEND_PROTOCOLS as readonly string[]).includes(lower)) return lower;
  out.invalid(field, v, `${PROTOCOL_TEXT}, got: ${typeof v === 'string' ? v : JSON.stringify(v)}`, 'backend-protocol');
  return undefined;
}

function skipsClientCertValidation(tls: unknown): boolean {
  return isRecord(tls) && tls.skipClientCertValidation === true;
}

function checkTls(out: Findings, field: string, tls: unknown): void {
  if (tls === undefined || tls === null) return;
  if (!isRecord(tls)) {
    out.invalid(field, tls, 'must be an object with skipClientCertValidation and optional sniHosts', 'backend-tls');
    return;
  }
  // Both CRDs require it once tls is given; a misspelt key (skipClientCertificateValidation) silently means false.
  const skip = tls.skipClientCertValidation;
  if (skip === undefined || skip === null) out.required(`${field}.skipClientCertValidation`, 'backend-tls', 'must be true or false when tls is set');
  else if (typeof skip !== 'boolean') out.invalid(`${field}.skipClientCertValidation`, skip, 'must be true or false', 'backend-tls');
  if (!checkArray(out, `${field}.sniHosts`, tls.sniHosts, 'backend-tls')) return;
  // SNI names are compared with the client's server name; anything that is not a DNS name can never match.
  tls.sniHosts.forEach((h, j) => {
    if (typeof h === 'string' && isDns1123Subdomain(h.startsWith('*.') ? h.slice(2) : h)) return;
    out.invalid(`${field}.sniHosts[${j}]`, h, "must be a lowercase DNS name such as httpbin.httpbin.svc.cluster.local, optionally starting with '*.'", 'backend-tls');
  });
}

/** Checks every source; returns whether one is a usable AuthenticatedPrincipal. */
function checkSources(v: unknown, ctx: ValidationContext, out: Findings): boolean {
  // Without a source nothing outside the mesh is allowed in: the policy only blocks traffic.
  if (!checkArray(out, 'spec.sources', v, 'source-shape', { required: true, minItems: 1 })) return false;
  let hasPrincipal = false;
  v.forEach((item, i) => {
    const field = `spec.sources[${i}]`;
    if (!isRecord(item)) {
      out.invalid(field, item, 'must be an object with kind and name', 'source-shape');
      return;
    }
    const kind = item.kind;
    // The mesh switches on the kind and skips any other value: the source would silently allow nothing.
    if (kind === undefined || kind === null || kind === '') {
      out.required(`${field}.kind`, 'source-kind', SOURCE_KIND_TEXT);
      return;
    }
    if (typeof kind !== 'string' || !(SOURCE_KINDS as readonly string[]).includes(kind)) {
      out.invalid(`${field}.kind`, kind, SOURCE_KIND_TEXT, 'source-kind');
      return;
    }
    if (kind === 'Service') checkServiceSource(out, ctx, field, item);
    else if (kind === 'AuthenticatedPrincipal') hasPrincipal = checkSourceName(out, field, item.name, kind) || hasPrincipal;
    else checkIpRangeSource(out, field, item.name);
  });
  return hasPrincipal;
}

function checkSourceName(out: Findings, field: string, name: unknown, kind: string): boolean {
  if (typeof name === 'string' && name.length > 0) return true;
  // The name is the principal or Service the source lets in: without one it lets no one in.
  if (name === undefined || name === null || name === '') out.required(`${field}.name`, 'source-name', `'source.name' not specified for source kind ${kind}`);
  else out.invalid(`${field}.name`, name, 'must be a string', 'source-name');
  return false;
}

function checkServiceSource(out: Findings, ctx: ValidationContext, field: string, item: Record<string, unknown>): void {
  // The mesh resolves a Service source to its endpoints' IPs by namespace and name; either missing resolves nothing.
  const nameOk = checkSourceName(out, field, item.name, 'Service') && checkDns1123Label(out, `${field}.name`, item.name, 'source-service');
  const ns = item.namespace;
  if (ns === undefined || ns === null || ns === '') {
    out.required(`${field}.namespace`, 'source-service', "'source.namespace' not specified for source kind Service");
    return;
  }
  if (!checkDns1123Label(out, `${field}.namespace`, ns, 'source-service') || !nameOk) return;
  // Endpoints are only known in monitored namespaces: an unmonitored source resolves to no IP and is denied.
  if (!ctx.isMonitored(ns as string)) {
    const label = `${monitoredByLabel(ctx.mesh.flavor)}=${ctx.mesh.meshName}`;
    out.warn(`${field}.namespace`, `Service source ${ns as string}/${item.name as string} is in a namespace not monitored by the mesh (no label ${label}): its endpoints are unknown, so its traffic is denied`, 'ingress-source-unmonitored');
  }
}

function checkIpRangeSource(out: Findings, field: string, name: unknown): void {
  // An unparsable range is skipped by the mesh with a log line, so the intended clients are silently denied.
  const text = "Invalid 'source.name' value specified for IPRange. Expected CIDR notation 'a.b.c.d/x'";
  if (name === undefined || name === null || name === '') {
    out.required(`${field}.name`, 'source-iprange', `${text} (or an IPv6 CIDR such as fd00::/8)`);
    return;
  }
  if (typeof name === 'string' && parseCidr(name)) return;
  out.invalid(`${field}.name`, name, `${text}, got '${typeof name === 'string' ? name : JSON.stringify(name)}' (or an IPv6 CIDR such as fd00::/8)`, 'source-iprange');
}

function checkDuplicateBackends(keys: readonly BackendKey[], out: Findings): void {
  // The lookup returns the first backend entry for (name, port); a second one is ignored, whatever it says.
  const seen = new Map<string, number>();
  for (const k of keys) {
    const id = `${k.name}:${k.port}`;
    const first = seen.get(id);
    if (first === undefined) seen.set(id, k.index);
    else out.duplicate(`spec.backends[${k.index}]`, id, 'backend-duplicate',
      `Duplicate backends detected with service name: ${k.name} and port: ${k.port} (also at spec.backends[${first}])`);
  }
}

/** Backend (name, port) pairs of another policy object, skipping entries too malformed to be looked up. */
function backendKeysOf(other: KubeObject): Set<string> {
  const keys = new Set<string>();
  const spec = other.spec;
  if (!isRecord(spec)) return keys;
  for (const b of asArray(spec.backends)) {
    if (!isRecord(b) || typeof b.name !== 'string' || !isRecord(b.port) || !isInteger(b.port.number)) continue;
    keys.add(`${b.name}:${b.port.number}`);
  }
  return keys;
}

function checkOtherPolicies(obj: KubeObject, keys: readonly BackendKey[], ctx: ValidationContext, out: Findings, profile: BackendPolicyProfile): void {
  const ns = namespaceOf(obj);
  const self = nameOf(obj);
  const index = profile.kind === 'AccessControl' ? ACCESSCONTROL_BY_BACKEND : INGRESSBACKEND_BY_BACKEND;
  // Two policies for the same backend port in one namespace: the mesh applies whichever the informer lists first.
  for (const k of keys)
    for (const other of ctx.candidates(index, [`${ns}/${k.name}:${k.port}`]).sort(byRef)) {
      if (namespaceOf(other) !== ns || !backendKeysOf(other).has(`${k.name}:${k.port}`)) continue;
      const otherName = nameOf(other);
      out.conflict(`spec.backends[${k.index}]`,
        `backend ${k.name} port ${k.port} is already specified in ${profile.kind} ${ns}/${otherName}; ${profile.kind} ${ns}/${self} conflicts with ${ns}/${otherName}: Backend ${k.name} specified in ${self} and ${otherName} conflicts`,
        'backend-conflict');
    }
  if (profile.kind !== 'AccessControl' || (isRecord(obj.spec) && asArray(obj.spec.backends).length > 0)) return;
  // FSM falls back to the first AccessControl without backends, from ANY namespace, for every Service that has no
  // AccessControl of its own: with two such catch-alls, which one applies is undefined.
  for (const other of ctx.candidates(ACCESSCONTROL_CATCH_ALL, ['catch-all']).sort(byRef)) {
    if (isRecord(other.spec) && asArray(other.spec.backends).length > 0) continue;
    out.warn('spec.backends', `no backends: this AccessControl applies to every Service without its own AccessControl, and so does AccessControl ${namespaceOf(other)}/${nameOf(other)}; the mesh picks one of them arbitrarily`, 'accesscontrol-catch-all');
  }
}
