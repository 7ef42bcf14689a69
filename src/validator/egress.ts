// Egress (policy.flomesh.io, policy.openservicemesh.io): the schema the FSM CRD no longer enforces, the matches the
// Go validator checked (keeping its wording), and the port-protocol conflicts that silently break egress traffic.
import { isIP } from 'node:net';
import type { Flavor } from '../mesh/flavor.js';
import { isRecord, namespaceOf, nameOf, type KubeObject } from '../mesh/objects.js';
import {
  checkArray,
  checkCidr,
  checkDns1123Label,
  checkDns1123Subdomain,
  checkIntRange,
  checkPort,
  checkRequiredString,
  checkUnique,
  DNS_SUBDOMAIN_RULE_TEXT,
  isDns1123Subdomain,
} from './checks.js';
import type { ValidationContext } from './context.js';
import { formatValue, type Findings } from './findings.js';
import { egressDecl, EGRESS_BY_SOURCE_PORT, SERVICE_BY_PORT, servicePorts } from './indexes.js';
import {
  describeEgressProtocol,
  describeServicePort,
  EGRESS_PROTOCOLS,
  egressProtocol,
  isServerFirst,
  needsDetection,
  usesInspector,
  type EgressDecl,
  type EgressPortDecl,
} from './protocols.js';

const RULE = {
  spec: 'egress-spec',
  sources: 'egress-sources',
  sourceDuplicate: 'egress-source-duplicate',
  mtls: 'egress-source-mtls',
  host: 'egress-host',
  hostPort: 'egress-host-port',
  hostDuplicate: 'egress-host-duplicate',
  hostConflict: 'egress-host-conflict',
  cidr: 'egress-ip-cidr',
  ports: 'egress-ports',
  protocol: 'egress-port-protocol',
  portDuplicate: 'egress-port-duplicate',
  serverFirstMix: 'egress-server-first-mix',
  serverFirstEgress: 'egress-server-first-egress',
  serverFirstService: 'egress-server-first-service',
  matchApiGroup: 'egress-match-apigroup',
  matchKind: 'egress-match-kind',
  matchName: 'egress-match-name',
  matchUts: 'egress-match-uts-count',
} as const;

const SOURCE_KINDS = ['ServiceAccount'] as const;
/** The mesh's own issuer word (fsm / osm) or `other`; both flavors' words are accepted (see the report). */
const MTLS_ISSUERS = ['fsm', 'osm', 'other'] as const;

export function validateEgress(obj: KubeObject, ctx: ValidationContext, out: Findings): void {
  const rawSpec = obj.spec ?? {};
  // a spec that is not an object cannot be checked field by field: one cause says so instead of one per field
  if (!isRecord(rawSpec)) {
    out.invalid('spec', rawSpec, 'must be an object', RULE.spec);
    return;
  }
  checkSources(rawSpec.sources, out);
  checkHosts(rawSpec.hosts, out);
  checkIpAddresses(rawSpec.ipAddresses, out);
  checkPorts(rawSpec.ports, out);
  checkMatches(rawSpec.matches, namespaceOf(obj), ctx, out);

  const self = egressDecl(obj);
  checkPortsWithinPolicy(self, out);
  checkHostsUsed(self, out);
  checkOtherEgresses(self, ctx, out);
  checkServices(self, ctx, out);
}

// ---- fields ----

function checkSources(v: unknown, out: Findings): void {
  // without sources the policy applies to nobody
  if (!checkArray(out, 'spec.sources', v, RULE.sources, { required: true, minItems: 1 })) return;
  v.forEach((s, i) => {
    const f = `spec.sources[${i}]`;
    if (!isRecord(s)) {
      out.invalid(f, s, 'must be an object with kind, name and namespace', RULE.sources);
      return;
    }
    // the runtime matches ServiceAccount sources only; any other kind is a policy that silently applies to nobody
    if (s.kind === undefined || s.kind === null || s.kind === '') out.required(`${f}.kind`, RULE.sources, 'must be ServiceAccount');
    else if (s.kind !== 'ServiceAccount') out.notSupported(`${f}.kind`, s.kind, SOURCE_KINDS, RULE.sources);
    // a name that cannot be a ServiceAccount never matches a proxy
    if (checkRequiredString(out, `${f}.name`, s.name, RULE.sources)) checkDns1123Subdomain(out, `${f}.name`, s.name, RULE.sources);
    if (checkRequiredString(out, `${f}.namespace`, s.namespace, RULE.sources)) checkDns1123Label(out, `${f}.namespace`, s.namespace, RULE.sources);
    checkMtls(s.mtls, `${f}.mtls`, out);
  });
  // a repeated source duplicates the whole policy in that proxy's config
  checkUnique(
    out,
    v,
    (s) => (isRecord(s) && typeof s.kind === 'string' && typeof s.name === 'string' && typeof s.namespace === 'string' ? `${s.kind}|${s.namespace}/${s.name}` : undefined),
    (i) => `spec.sources[${i}]`,
    (s) => (isRecord(s) ? `${String(s.namespace)}/${String(s.name)}` : s),
    RULE.sourceDuplicate,
  );
}

/** The edge CRD's constraints on source mTLS, which the FSM CRD dropped; a bad cert spec fails when the cert is issued. */
function checkMtls(v: unknown, f: string, out: Findings): void {
  if (v === undefined || v === null) return;
  if (!isRecord(v)) {
    out.invalid(f, v, 'must be an object with issuer and cert', RULE.mtls);
    return;
  }
  if (v.issuer !== undefined && v.issuer !== null && !(MTLS_ISSUERS as readonly unknown[]).includes(v.issuer))
    out.notSupported(`${f}.issuer`, v.issuer, MTLS_ISSUERS, RULE.mtls);
  const cert = v.cert;
  if (cert === undefined || cert === null) return;
  if (!isRecord(cert)) {
    out.invalid(`${f}.cert`, cert, 'must be an object with sn, subjectAltNames, expiration and secret', RULE.mtls);
    return;
  }
  if (cert.sn === undefined || cert.sn === null) out.required(`${f}.cert.sn`, RULE.mtls);
  else checkIntRange(out, `${f}.cert.sn`, cert.sn, 1, 65535, RULE.mtls);
  checkRequiredString(out, `${f}.cert.expiration`, cert.expiration, RULE.mtls);
  if (checkArray(out, `${f}.cert.subjectAltNames`, cert.subjectAltNames, RULE.mtls, { minItems: 1 }))
    cert.subjectAltNames.forEach((n, j) => checkRequiredString(out, `${f}.cert.subjectAltNames[${j}]`, n, RULE.mtls));
  const secret = cert.secret;
  if (!isRecord(secret)) {
    if (secret === undefined || secret === null) out.required(`${f}.cert.secret`, RULE.mtls, 'the secret that stores the certificate (name and namespace)');
    else out.invalid(`${f}.cert.secret`, secret, 'must be an object with name and namespace', RULE.mtls);
    return;
  }
  checkRequiredString(out, `${f}.cert.secret.name`, secret.name, RULE.mtls);
  checkRequiredString(out, `${f}.cert.secret.namespace`, secret.namespace, RULE.mtls);
}

const HOST_WITH_PORT = /^(.+):(\d+)$/;

function checkHosts(v: unknown, out: Findings): void {
  if (!checkArray(out, 'spec.hosts', v, RULE.host)) return;
  v.forEach((h, i) => {
    const f = `spec.hosts[${i}]`;
    if (typeof h !== 'string' || h === '') {
      out.invalid(f, h, 'must be a non-empty host name', RULE.host);
      return;
    }
    // hosts are matched against the Host header / SNI: an IP there only matches clients that send it as a name
    const family = isIP(h);
    if (family !== 0) {
      out.warn(f, `${h} is an IP address: hosts match the HTTP Host header or TLS SNI; list IPs in spec.ipAddresses (e.g. ${h}/${family === 4 ? 32 : 128})`, 'egress-host-ip');
      return;
    }
    // the runtime appends ":<port>" itself, so "a.com:80" would become the domain "a.com:80:80" and never match
    const withPort = HOST_WITH_PORT.exec(h);
    if (withPort) {
      out.invalid(f, h, `must not include a port: the port comes from spec.ports; use "${withPort[1] ?? ''}"`, RULE.hostPort);
      return;
    }
    // an invalid domain is refused by Envoy's route configuration or never matches a Host header / SNI
    const name = h.startsWith('*.') ? h.slice(2) : h;
    if (!isDns1123Subdomain(name)) out.invalid(f, h, `${DNS_SUBDOMAIN_RULE_TEXT}, optionally prefixed with "*." for a wildcard`, RULE.host);
  });
  // two virtual hosts with the same domain in one route configuration make Envoy reject it (envoyproxy/envoy#50)
  checkUnique(out, v, (h) => (typeof h === 'string' && h !== '' ? h.toLowerCase() : undefined), (i) => `spec.hosts[${i}]`, (h) => h, RULE.hostDuplicate);
}

function checkIpAddresses(v: unknown, out: Findings): void {
  if (!checkArray(out, 'spec.ipAddresses', v, RULE.cidr)) return;
  // the runtime skips an invalid CIDR, and when all are invalid a tcp egress opens to every destination on the port
  v.forEach((c, i) => checkCidr(out, `spec.ipAddresses[${i}]`, c, RULE.cidr));
}

function checkPorts(v: unknown, out: Findings): void {
  // an Egress without ports matches no traffic
  if (!checkArray(out, 'spec.ports', v, RULE.ports, { required: true, minItems: 1 })) return;
  v.forEach((p, i) => {
    const f = `spec.ports[${i}]`;
    if (!isRecord(p)) {
      out.invalid(f, p, 'must be an object with number and protocol', RULE.ports);
      return;
    }
    // port 0 or > 65535 never matches a destination (the FSM CRD has no range)
    if (p.number === undefined || p.number === null) out.required(`${f}.number`, RULE.ports);
    else checkPort(out, `${f}.number`, p.number, RULE.ports);
    // the runtime silently ignores any other protocol (grpc included), leaving the port closed without a word
    if (p.protocol === undefined || p.protocol === null || p.protocol === '')
      out.required(`${f}.protocol`, RULE.protocol, `one of ${EGRESS_PROTOCOLS.join(', ')}`);
    else if (!egressProtocol(p.protocol)) out.notSupported(`${f}.protocol`, p.protocol, EGRESS_PROTOCOLS, RULE.protocol);
  });
}

// ---- matches ----

const SMI_ROUTE_GROUP = 'specs.smi-spec.io/v1alpha4';
const POLICY_GROUP_VERSIONS = ['policy.flomesh.io/v1alpha1', 'policy.openservicemesh.io/v1alpha1'] as const;

/** The kind each accepted `apiGroup` (a group/version here, as the runtime compares it) must name. */
const MATCH_KINDS: Readonly<Record<string, string>> = {
  [SMI_ROUTE_GROUP]: 'HTTPRouteGroup',
  ...Object.fromEntries(POLICY_GROUP_VERSIONS.map((gv) => [gv, 'UpstreamTrafficSetting'])),
};

/** SMI first, then this mesh's policy group (as the Go message lists it), then the other flavor's. */
function acceptedApiGroups(flavor: Flavor): string[] {
  const own = `policy.${flavor.domain}/v1alpha1`;
  return [SMI_ROUTE_GROUP, own, ...POLICY_GROUP_VERSIONS.filter((gv) => gv !== own)];
}

/** A value as Go's %v would print it inside the kept Go sentences: strings bare, the rest as JSON. */
function bareText(v: unknown): string {
  return typeof v === 'string' ? v : formatValue(v);
}

function checkMatches(v: unknown, namespace: string, ctx: ValidationContext, out: Findings): void {
  if (!checkArray(out, 'spec.matches', v, RULE.matchApiGroup)) return;
  const groups = acceptedApiGroups(ctx.mesh.flavor);
  const expected = `Expected 'matches.apiGroup' to be one of [${groups.join(' ')}]`;
  let firstUts: string | undefined;
  v.forEach((m, i) => {
    const f = `spec.matches[${i}]`;
    if (!isRecord(m)) {
      out.invalid(f, m, 'must be an object with apiGroup, kind and name', RULE.matchApiGroup);
      return;
    }
    const name = typeof m.name === 'string' ? m.name : '';
    // the match is looked up by name; without one it refers to nothing
    const named = checkRequiredString(out, `${f}.name`, m.name, RULE.matchName);
    // a missing apiGroup panics the Go validator (fails closed with a transport error); say what is expected instead
    if (m.apiGroup === undefined || m.apiGroup === null || m.apiGroup === '') {
      out.required(`${f}.apiGroup`, RULE.matchApiGroup, `${expected} (group/version, e.g. apiGroup: ${SMI_ROUTE_GROUP} with kind: HTTPRouteGroup)`);
      return;
    }
    const wantKind = typeof m.apiGroup === 'string' ? MATCH_KINDS[m.apiGroup] : undefined;
    // the runtime compares the exact group/version string: anything else is a match that never applies
    if (wantKind === undefined) {
      const bare = groups.find((g) => g.split('/')[0] === m.apiGroup);
      out.invalid(`${f}.apiGroup`, m.apiGroup, `${expected}, got: ${bareText(m.apiGroup)}${bare ? ` (write the version too: ${bare})` : ''}`, RULE.matchApiGroup);
      return;
    }
    // the runtime looks the match up as the kind its apiGroup serves: any other kind is a match that never applies
    if (m.kind === undefined || m.kind === null || m.kind === '') {
      out.required(`${f}.kind`, RULE.matchKind, `Expected 'matches.kind' for match '${name}' to be '${wantKind}'`);
      return;
    }
    if (m.kind !== wantKind) {
      out.invalid(`${f}.kind`, m.kind, `Expected 'matches.kind' for match '${name}' to be '${wantKind}', got: ${bareText(m.kind)}`, RULE.matchKind);
      return;
    }
    // one UpstreamTrafficSetting per policy: the runtime would pick one arbitrarily
    if (wantKind === 'UpstreamTrafficSetting') {
      if (firstUts === undefined) firstUts = f;
      else out.forbidden(f, `Cannot have more than 1 UpstreamTrafficSetting match (${firstUts} is one already)`, RULE.matchUts);
    }
    // a missing route group makes the runtime produce no routes: http egress of this policy then allows nothing
    if (named && !ctx.get(wantKind, namespace, name))
      out.warn(`${f}.name`, `${wantKind} ${namespace}/${name} does not exist: until it does, http traffic of this policy is not allowed`, 'egress-match-missing');
  });
}

// ---- port use within the policy ----

function checkPortsWithinPolicy(self: EgressDecl, out: Findings): void {
  self.ports.forEach((p, k) => {
    const earlier = self.ports.slice(0, k).filter((q) => q.number === p.number);
    // two identical entries build two identical filter chains, which the proxy rejects
    const same = earlier.find((q) => q.protocol === p.protocol);
    if (same) out.duplicate(`spec.ports[${p.index}]`, { number: p.number, protocol: p.protocol }, RULE.portDuplicate, `also at spec.ports[${same.index}]`);
    // a server-first port number must carry nothing else: detection is off on it (osm docs, egress policy demo)
    const mixed = earlier.find((q) => q.protocol !== p.protocol && (isServerFirst(q.protocol) || isServerFirst(p.protocol)));
    if (mixed)
      out.conflict(
        `spec.ports[${p.index}]`,
        `port ${p.number} is ${p.protocol} here but ${mixed.protocol} at spec.ports[${mixed.index}]: a tcp-server-first port number cannot carry another protocol`,
        RULE.serverFirstMix,
      );
  });
}

function checkHostsUsed(self: EgressDecl, out: Findings): void {
  const hasHosts = self.hosts.length > 0;
  for (const p of self.ports) {
    // http egress builds one virtual host per listed host: with none, the port allows nothing
    if (p.protocol === 'http' && !hasHosts)
      out.warn(`spec.ports[${p.index}]`, `http port ${p.number} has no spec.hosts: http egress routes only listed hosts, so this port allows nothing`, 'egress-http-without-hosts');
    // https without hosts skips the SNI check: any TLS destination on the port (and spec.ipAddresses) is allowed
    if (p.protocol === 'https' && !hasHosts)
      out.warn(`spec.ports[${p.index}]`, `https port ${p.number} has no spec.hosts: it matches on the port and spec.ipAddresses only, without checking SNI`, 'egress-https-without-hosts');
  }
  // tcp matching reads no names: hosts on a tcp-only policy give a false sense of restriction
  if (hasHosts && self.ports.length > 0 && self.ports.every((p) => !usesInspector(p.protocol)))
    out.warn('spec.hosts', 'hosts are ignored by tcp and tcp-server-first ports: they match on the port and spec.ipAddresses only', 'egress-hosts-ignored');
}

// ---- other Egress policies of the same source ServiceAccount ----

function byRef<T extends { ref: string }>(a: T, b: T): number {
  return a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0;
}

function checkOtherEgresses(self: EgressDecl, ctx: ValidationContext, out: Findings): void {
  if (self.sources.length === 0 || self.ports.length === 0) return;
  // the runtime merges every Egress naming a ServiceAccount into that SA's proxies, whatever their namespace; only
  // those sharing a port number with this one can conflict with it
  // server-first against the rest on one port number, and the same host on one http port: the only conflicts
  const keys = self.sources.flatMap((sa) =>
    self.ports.flatMap((p) => [`${sa}|${p.number}|${isServerFirst(p.protocol) ? 'other' : 'sf'}`, ...(p.protocol === 'http' ? self.hosts.map((h) => `${sa}|${p.number}|host|${h.host}`) : [])]),
  );
  const others = ctx.candidates(EGRESS_BY_SOURCE_PORT, keys).map(egressDecl).sort(byRef);
  for (const other of others) {
    const sa = self.sources.find((s) => other.sources.includes(s));
    if (sa === undefined) continue;
    for (const p of self.ports) for (const q of other.ports) if (p.number === q.number) compareServerFirst(self, p, other, q, sa, out);
    checkSharedHosts(self, other, sa, out);
  }
}

function compareServerFirst(self: EgressDecl, p: EgressPortDecl, other: EgressDecl, q: EgressPortDecl, sa: string, out: Findings): void {
  if (isServerFirst(p.protocol) === isServerFirst(q.protocol)) return;
  const selfHosts = self.hosts.length > 0;
  const otherHosts = other.hosts.length > 0;
  const message = `port ${p.number} is ${describeEgressProtocol(p.protocol, selfHosts)} here but ${describeEgressProtocol(q.protocol, otherHosts)} in Egress ${other.ref} (same source ServiceAccount ${sa})`;
  const detecting = isServerFirst(p.protocol) ? needsDetection(q.protocol, otherHosts) : needsDetection(p.protocol, selfHosts);
  // the server-first port turns off the HTTP/TLS inspectors for that SA's proxies: http (ALPN) and https with hosts
  // (SNI) never match there again
  if (detecting) out.conflict(`spec.ports[${p.index}]`, message, RULE.serverFirstEgress);
  // tcp and host-less https match on port and IPs only: they still work, but the port number is shared against the docs
  else out.warn(`spec.ports[${p.index}]`, `${message}; allowed (no detection needed), but the docs advise against reusing a server-first port`, 'egress-server-first-egress');
}

function checkSharedHosts(self: EgressDecl, other: EgressDecl, sa: string, out: Findings): void {
  for (const p of self.ports) {
    if (p.protocol !== 'http' || !other.ports.some((q) => q.number === p.number && q.protocol === 'http')) continue;
    // both policies add a virtual host with this domain to the SA's route configuration for the port: Envoy rejects
    // a RouteConfiguration with duplicate domains, dropping every http egress route of that port
    for (const h of self.hosts)
      if (other.hosts.some((o) => o.host === h.host))
        out.conflict(`spec.hosts[${h.index}]`, `host ${h.host} on http port ${p.number} is also in Egress ${other.ref} (same source ServiceAccount ${sa})`, RULE.hostConflict);
  }
}

// ---- Services of the mesh ----

function checkServices(self: EgressDecl, ctx: ValidationContext, out: Findings): void {
  if (self.ports.length === 0) return;
  // an inspecting port conflicts with server-first Service ports, a server-first port with those needing detection
  const keys = self.ports.flatMap((p) => (isServerFirst(p.protocol) ? [`${p.number}|detect`] : usesInspector(p.protocol) ? [`${p.number}|sf`] : []));
  const services = ctx
    .candidates(SERVICE_BY_PORT, keys)
    .filter((s) => ctx.isMonitored(namespaceOf(s)))
    .sort((a, b) => byRef({ ref: `${namespaceOf(a)}/${nameOf(a)}` }, { ref: `${namespaceOf(b)}/${nameOf(b)}` }));
  const permissive = ctx.permissive();
  for (const svc of services)
    for (const sp of servicePorts(svc))
      for (const p of self.ports) {
        if (p.number !== sp.number) continue;
        const head = `port ${p.number} is ${describeEgressProtocol(p.protocol, self.hosts.length > 0)} here but ${sp.protocol} on ${describeServicePort(svc, sp)}`;
        // the in-mesh server-first match turns detection off on this port number for every proxy that reaches the
        // Service; in permissive mode that is every proxy, so this policy's http/https can never match
        if (usesInspector(p.protocol) && isServerFirst(sp.protocol)) {
          if (permissive)
            out.conflict(`spec.ports[${p.index}]`, `${head}; the mesh is in permissive mode, so this policy's sources reach that Service and lose protocol detection on port ${p.number}`, RULE.serverFirstService);
          else out.warn(`spec.ports[${p.index}]`, `${head}; sources of this policy that can reach that Service lose protocol detection on port ${p.number}`, 'egress-server-first-service');
        }
        // the other way round: this policy turns detection off for traffic its sources send to that Service
        else if (isServerFirst(p.protocol) && needsDetection(sp.protocol, false))
          out.warn(`spec.ports[${p.index}]`, `${head}; sources of this policy lose protocol detection on port ${p.number} for that Service too`, 'egress-server-first-service');
      }
}
