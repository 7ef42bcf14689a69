import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from '../../src/mesh/objects.js';
import { loadFixture } from '../support/fixtures.js';
import { causes, check, meshConfig, monitoredNamespace } from './helpers.js';

const FSM_GROUP = 'policy.flomesh.io/v1alpha1';
const EDGE_GROUP = 'policy.openservicemesh.io/v1alpha1';
const CURL = { kind: 'ServiceAccount', name: 'curl', namespace: 'curl' };

const egress = (name: string, spec: Record<string, unknown>, namespace = 'curl', apiVersion = FSM_GROUP): KubeObject => ({
  apiVersion,
  kind: 'Egress',
  metadata: { name, namespace },
  spec,
});

/** A valid tcp egress for curl with the given extra spec fields. */
const tcpEgress = (extra: Record<string, unknown> = {}): KubeObject =>
  egress('e', { sources: [CURL], ports: [{ number: 5432, protocol: 'tcp' }], ...extra });

const service = (namespace: string, name: string, ports: Record<string, unknown>[]): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace },
  spec: { ports },
});

const yamlObjects = (text: string): KubeObject[] => parseAllDocuments(text).map((d) => d.toJS() as KubeObject);

// Seed 001 (osm-edge egress policy demo), indentation reconstructed.
const seed = {
  http: yamlObjects(`
kind: Egress
apiVersion: policy.openservicemesh.io/v1alpha1
metadata:
  name: httpbin-80
  namespace: curl
spec:
  sources:
  - kind: ServiceAccount
    name: curl
    namespace: curl
  hosts:
  - httpbin.org
  ports:
  - number: 80
    protocol: http
`)[0] as KubeObject,
  https: yamlObjects(`
kind: Egress
apiVersion: policy.openservicemesh.io/v1alpha1
metadata:
  name: httpbin-443
  namespace: curl
spec:
  sources:
  - kind: ServiceAccount
    name: curl
    namespace: curl
  hosts:
  - httpbin.org
  ports:
  - number: 443
    protocol: https
`)[0] as KubeObject,
  tcp: yamlObjects(`
kind: Egress
apiVersion: policy.openservicemesh.io/v1alpha1
metadata:
  name: tcp-443
  namespace: curl
spec:
  sources:
  - kind: ServiceAccount
    name: curl
    namespace: curl
  ports:
  - number: 443
    protocol: tcp
`)[0] as KubeObject,
  routeMatch: yamlObjects(`
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata:
  name: egress-http-route
  namespace: curl
spec:
  matches:
  - name: get
    pathRegex: /get
---
kind: Egress
apiVersion: policy.openservicemesh.io/v1alpha1
metadata:
  name: httpbin-80
  namespace: curl
spec:
  sources:
  - kind: ServiceAccount
    name: curl
    namespace: curl
  hosts:
  - httpbin.org
  ports:
  - number: 80
    protocol: http
  matches:
  - apiGroup: specs.smi-spec.io/v1alpha4
    kind: HTTPRouteGroup
    name: egress-http-route
`),
};

describe('Egress: seed 001 examples are admitted', () => {
  it.each([
    ['http', seed.http],
    ['https', seed.https],
    ['tcp', seed.tcp],
  ])('%s egress', (_name, obj) => {
    const v = check(obj, { flavor: 'osm-edge' });
    expect(v).toMatchObject({ allowed: true, known: true, errors: [], warnings: [] });
  });

  it('http egress with an SMI HTTPRouteGroup match, the route group present', () => {
    const [routeGroup, policy] = seed.routeMatch as [KubeObject, KubeObject];
    const v = check(policy, { flavor: 'osm-edge', state: [routeGroup] });
    expect(v).toMatchObject({ allowed: true, errors: [], warnings: [] });
  });

  it('all three seed policies together: no conflict between them', () => {
    const v = check(seed.tcp, { flavor: 'osm-edge', state: [seed.http, seed.https] });
    expect(v).toMatchObject({ allowed: true, errors: [], warnings: [] });
  });

  it('the same policy under policy.flomesh.io in an FSM mesh', () => {
    const v = check({ ...seed.http, apiVersion: FSM_GROUP });
    expect(v).toMatchObject({ allowed: true, errors: [], warnings: [] });
  });
});

describe('Egress: Go validator unit tests (TestEgressValidator)', () => {
  const withMatches = (matches: unknown[]): KubeObject =>
    egress('e', { sources: [CURL], hosts: ['httpbin.org'], ports: [{ number: 80, protocol: 'http' }], matches }, 'curl', EDGE_GROUP);
  const uts = (name: string): KubeObject => ({ apiVersion: EDGE_GROUP, kind: 'UpstreamTrafficSetting', metadata: { name, namespace: 'curl' }, spec: { host: 'httpbin.org' } });
  const route = (name: string): KubeObject => ({ apiVersion: 'specs.smi-spec.io/v1alpha4', kind: 'HTTPRouteGroup', metadata: { name, namespace: 'curl' }, spec: { matches: [] } });

  it('apiGroup invalid', () => {
    const v = check(withMatches([{ apiGroup: 'invalid', kind: 'BadHttpRoute', name: 'Name' }]), { flavor: 'osm-edge' });
    expect(causes(v)).toEqual([
      "spec.matches[0].apiGroup: Invalid value: \"invalid\": Expected 'matches.apiGroup' to be one of [specs.smi-spec.io/v1alpha4 policy.openservicemesh.io/v1alpha1 policy.flomesh.io/v1alpha1], got: invalid",
    ]);
  });

  it('valid HTTPRouteGroup match (Go test name "Name"): allowed, warned while the route group is missing', () => {
    const v = check(withMatches([{ apiGroup: 'specs.smi-spec.io/v1alpha4', kind: 'HTTPRouteGroup', name: 'Name' }]), { flavor: 'osm-edge' });
    expect(v.allowed).toBe(true);
    expect(v.warnings).toEqual(['spec.matches[0].name: HTTPRouteGroup curl/Name does not exist: until it does, http traffic of this policy is not allowed']);
  });

  it('valid UpstreamTrafficSetting match', () => {
    const v = check(withMatches([{ apiGroup: EDGE_GROUP, kind: 'UpstreamTrafficSetting', name: 'foo' }]), { flavor: 'osm-edge', state: [uts('foo')] });
    expect(v).toMatchObject({ allowed: true, errors: [], warnings: [] });
  });

  it('two UpstreamTrafficSetting matches', () => {
    const v = check(
      withMatches([
        { apiGroup: EDGE_GROUP, kind: 'UpstreamTrafficSetting', name: 'foo' },
        { apiGroup: EDGE_GROUP, kind: 'UpstreamTrafficSetting', name: 'bar' },
      ]),
      { flavor: 'osm-edge', state: [uts('foo'), uts('bar')] },
    );
    expect(causes(v)).toEqual(['spec.matches[1]: Forbidden: Cannot have more than 1 UpstreamTrafficSetting match (spec.matches[0] is one already)']);
  });

  it('FSM lists its own policy group second; both policy groups are accepted', () => {
    const bad = check(egress('e', { sources: [CURL], ports: [{ number: 80, protocol: 'tcp' }], matches: [{ apiGroup: 'x', kind: 'HTTPRouteGroup', name: 'r' }] }));
    expect(causes(bad)).toEqual([
      "spec.matches[0].apiGroup: Invalid value: \"x\": Expected 'matches.apiGroup' to be one of [specs.smi-spec.io/v1alpha4 policy.flomesh.io/v1alpha1 policy.openservicemesh.io/v1alpha1], got: x",
    ]);
    for (const apiGroup of [FSM_GROUP, EDGE_GROUP]) {
      const ok = check(egress('e', { sources: [CURL], ports: [{ number: 80, protocol: 'tcp' }], matches: [{ apiGroup, kind: 'UpstreamTrafficSetting', name: 'foo' }] }), { state: [uts('foo')] });
      expect(ok).toMatchObject({ allowed: true, errors: [], warnings: [] });
    }
  });

  it('kind must fit the apiGroup, with the Go wording', () => {
    const v = check(
      withMatches([
        { apiGroup: 'specs.smi-spec.io/v1alpha4', kind: 'TCPRoute', name: 'r' },
        { apiGroup: EDGE_GROUP, kind: 'HTTPRouteGroup', name: 'u' },
        { apiGroup: EDGE_GROUP, name: 'nokind' },
      ]),
      { flavor: 'osm-edge', state: [route('r')] },
    );
    expect(causes(v)).toEqual([
      "spec.matches[0].kind: Invalid value: \"TCPRoute\": Expected 'matches.kind' for match 'r' to be 'HTTPRouteGroup', got: TCPRoute",
      "spec.matches[1].kind: Invalid value: \"HTTPRouteGroup\": Expected 'matches.kind' for match 'u' to be 'UpstreamTrafficSetting', got: HTTPRouteGroup",
      "spec.matches[2].kind: Required value: Expected 'matches.kind' for match 'nokind' to be 'UpstreamTrafficSetting'",
    ]);
  });
});

describe('Egress: acceptance cases suggested by the mesh\'s own unit tests', () => {
  it('protocol grpc or HTTP2 is rejected; protocol is case-insensitive', () => {
    const v = check(
      egress('e', {
        sources: [CURL],
        hosts: ['a.com'],
        ports: [
          { number: 50051, protocol: 'grpc' },
          { number: 8080, protocol: 'HTTP2' },
          { number: 80, protocol: 'HTTP' },
          { number: 3306, protocol: 'TCP-Server-First' },
        ],
      }),
    );
    const supported = 'supported values: "http", "https", "tcp", "tcp-server-first"';
    expect(causes(v)).toEqual([
      `spec.ports[0].protocol: Unsupported value: "grpc": ${supported}`,
      `spec.ports[1].protocol: Unsupported value: "HTTP2": ${supported}`,
    ]);
  });

  it('{3306 tcp-server-first} plus {3306 http} in the same policy is rejected', () => {
    const v = check(egress('db', { sources: [CURL], hosts: ['db.example.com'], ports: [{ number: 3306, protocol: 'tcp-server-first' }, { number: 3306, protocol: 'http' }] }));
    expect(causes(v)).toEqual([
      'spec.ports[1]: port 3306 is http here but tcp-server-first at spec.ports[0]: a tcp-server-first port number cannot carry another protocol',
    ]);
  });

  it('two policies with the same SA, 5432 as tcp-server-first and as https (with hosts): the second is rejected', () => {
    const first = egress('pg-sf', { sources: [CURL], ports: [{ number: 5432, protocol: 'tcp-server-first' }] });
    const second = egress('pg-tls', { sources: [CURL], hosts: ['pg.example.com'], ports: [{ number: 5432, protocol: 'https' }] });
    expect(causes(check(second, { state: [first] }))).toEqual([
      'spec.ports[0]: port 5432 is https (with hosts) here but tcp-server-first in Egress curl/pg-sf (same source ServiceAccount curl/curl)',
    ]);
    // and the mirror: the server-first one applied second
    expect(causes(check(first, { state: [second] }))).toEqual([
      'spec.ports[0]: port 5432 is tcp-server-first here but https (with hosts) in Egress curl/pg-tls (same source ServiceAccount curl/curl)',
    ]);
  });

  it('5432 tcp-server-first in one policy and tcp in another: warning', () => {
    const other = egress('pg-tcp', { sources: [CURL], ports: [{ number: 5432, protocol: 'tcp' }] });
    const v = check(egress('pg-sf', { sources: [CURL], ports: [{ number: 5432, protocol: 'tcp-server-first' }] }), { state: [other] });
    expect(v.allowed).toBe(true);
    expect(v.warnings).toEqual([
      'spec.ports[0]: port 5432 is tcp-server-first here but tcp in Egress curl/pg-tcp (same source ServiceAccount curl/curl); allowed (no detection needed), but the docs advise against reusing a server-first port',
    ]);
  });

  it('Service db:3306 appProtocol tcp-server-first plus Egress http:3306 in permissive mode: rejected', () => {
    const state = [
      monitoredNamespace('db'),
      meshConfig({ traffic: { enablePermissiveTrafficPolicyMode: true } }),
      service('db', 'db', [{ name: 'mysql', port: 3306, appProtocol: 'tcp-server-first' }]),
    ];
    const v = check(egress('db-http', { sources: [CURL], hosts: ['db.example.com'], ports: [{ number: 3306, protocol: 'http' }] }), { state });
    expect(causes(v)).toEqual([
      'spec.ports[0]: port 3306 is http here but tcp-server-first on Service db/db port "mysql" (3306); the mesh is in permissive mode, so this policy\'s sources reach that Service and lose protocol detection on port 3306',
    ]);
  });

  it('duplicate hosts [a.com, a.com] are rejected', () => {
    const v = check(egress('e', { sources: [CURL], hosts: ['a.com', 'a.com'], ports: [{ number: 80, protocol: 'http' }] }));
    expect(causes(v)).toEqual(['spec.hosts[1]: Duplicate value: "a.com": also at spec.hosts[0]']);
  });

  it('the same host on the same http port in two policies for the same SA is rejected', () => {
    const other = egress('a-80', { sources: [CURL, { kind: 'ServiceAccount', name: 'web', namespace: 'web' }], hosts: ['b.com', 'a.com'], ports: [{ number: 80, protocol: 'http' }] }, 'web');
    const v = check(egress('mine', { sources: [CURL], hosts: ['a.com', 'c.com'], ports: [{ number: 80, protocol: 'http' }] }), { state: [other] });
    expect(causes(v)).toEqual(['spec.hosts[0]: host a.com on http port 80 is also in Egress web/a-80 (same source ServiceAccount curl/curl)']);
  });

  it('the same host is fine on another port, for another SA, or when the other side is https', () => {
    const mine = egress('mine', { sources: [CURL], hosts: ['a.com'], ports: [{ number: 80, protocol: 'http' }] });
    const state = [
      egress('other-port', { sources: [CURL], hosts: ['a.com'], ports: [{ number: 8080, protocol: 'http' }] }),
      egress('other-sa', { sources: [{ kind: 'ServiceAccount', name: 'x', namespace: 'curl' }], hosts: ['a.com'], ports: [{ number: 80, protocol: 'http' }] }),
      egress('tls', { sources: [CURL], hosts: ['a.com'], ports: [{ number: 443, protocol: 'https' }] }),
    ];
    expect(check(mine, { state })).toMatchObject({ allowed: true, errors: [], warnings: [] });
  });

  it('ipAddresses [999.1.1.1/99] is rejected; v4 and v6 CIDRs pass', () => {
    const v = check(tcpEgress({ ipAddresses: ['10.0.0.0/8', 'fd00::/8', '999.1.1.1/99', '10.0.0.1', '10.0.0.0/33', '::/129'] }));
    const text = 'must be a CIDR such as 10.0.0.0/8 or fd00::/8 (valid address, prefix length 0-32 for IPv4, 0-128 for IPv6)';
    expect(causes(v)).toEqual([
      `spec.ipAddresses[2]: Invalid value: "999.1.1.1/99": ${text}`,
      `spec.ipAddresses[3]: Invalid value: "10.0.0.1": ${text}`,
      `spec.ipAddresses[4]: Invalid value: "10.0.0.0/33": ${text}`,
      `spec.ipAddresses[5]: Invalid value: "::/129": ${text}`,
    ]);
  });

  it('matches with no apiGroup: a readable message instead of the Go panic', () => {
    const v = check(tcpEgress({ matches: [{ kind: 'HTTPRouteGroup', name: 'r' }] }));
    expect(causes(v)).toEqual([
      "spec.matches[0].apiGroup: Required value: Expected 'matches.apiGroup' to be one of [specs.smi-spec.io/v1alpha4 policy.flomesh.io/v1alpha1 policy.openservicemesh.io/v1alpha1] (group/version, e.g. apiGroup: specs.smi-spec.io/v1alpha4 with kind: HTTPRouteGroup)",
    ]);
  });

  it('an apiGroup without its version says so', () => {
    const v = check(tcpEgress({ matches: [{ apiGroup: 'specs.smi-spec.io', kind: 'HTTPRouteGroup', name: 'r' }] }));
    expect(causes(v)).toEqual([
      "spec.matches[0].apiGroup: Invalid value: \"specs.smi-spec.io\": Expected 'matches.apiGroup' to be one of [specs.smi-spec.io/v1alpha4 policy.flomesh.io/v1alpha1 policy.openservicemesh.io/v1alpha1], got: specs.smi-spec.io (write the version too: specs.smi-spec.io/v1alpha4)",
    ]);
  });

  it('matches pointing at a missing HTTPRouteGroup or UpstreamTrafficSetting: warning', () => {
    const [, policy] = seed.routeMatch as [KubeObject, KubeObject];
    const v = check(policy, { flavor: 'osm-edge' });
    expect(v.allowed).toBe(true);
    expect(v.warnings).toEqual(['spec.matches[0].name: HTTPRouteGroup curl/egress-http-route does not exist: until it does, http traffic of this policy is not allowed']);
    const u = check(tcpEgress({ matches: [{ apiGroup: FSM_GROUP, kind: 'UpstreamTrafficSetting', name: 'gone' }] }));
    expect(u.warnings).toEqual(['spec.matches[0].name: UpstreamTrafficSetting curl/gone does not exist: until it does, http traffic of this policy is not allowed']);
  });

  it('a route group in another namespace does not count', () => {
    const [routeGroup, policy] = seed.routeMatch as [KubeObject, KubeObject];
    const elsewhere = { ...routeGroup, metadata: { name: 'egress-http-route', namespace: 'other' } };
    expect(check(policy, { flavor: 'osm-edge', state: [elsewhere] }).warnings).toHaveLength(1);
  });

  it('http without hosts: warning', () => {
    const v = check(egress('e', { sources: [CURL], ports: [{ number: 80, protocol: 'http' }] }));
    expect(v.allowed).toBe(true);
    expect(v.warnings).toEqual(['spec.ports[0]: http port 80 has no spec.hosts: http egress routes only listed hosts, so this port allows nothing']);
  });
});

describe('Egress: fields', () => {
  it('an empty Egress reports every required field', () => {
    expect(causes(check(egress('e', {})))).toEqual(['spec.sources: Required value', 'spec.ports: Required value']);
    expect(causes(check({ apiVersion: FSM_GROUP, kind: 'Egress', metadata: { name: 'e', namespace: 'curl' } }))).toEqual(['spec.sources: Required value', 'spec.ports: Required value']);
    expect(causes(check(egress('e', { sources: [], ports: [] })))).toEqual([
      'spec.sources: Required value: must have at least 1 item',
      'spec.ports: Required value: must have at least 1 item',
    ]);
  });

  it('never throws on wrong shapes', () => {
    expect(causes(check({ apiVersion: FSM_GROUP, kind: 'Egress', metadata: { name: 'e', namespace: 'curl' }, spec: [1] }))).toEqual(['spec: Invalid value: [1]: must be an object']);
    const v = check(egress('e', { sources: 'curl', hosts: { a: 1 }, ipAddresses: 7, ports: [null, 80], matches: [null] }));
    expect(causes(v)).toEqual([
      'spec.sources: Invalid value: "curl": must be a list',
      'spec.hosts: Invalid value: {"a":1}: must be a list',
      'spec.ipAddresses: Invalid value: 7: must be a list',
      'spec.ports[0]: Invalid value: null: must be an object with number and protocol',
      'spec.ports[1]: Invalid value: 80: must be an object with number and protocol',
      'spec.matches[0]: Invalid value: null: must be an object with apiGroup, kind and name',
    ]);
  });

  it('sources: kind ServiceAccount, DNS names, no duplicates', () => {
    const v = check(
      egress('e', {
        sources: [
          { kind: 'Service', name: 'curl', namespace: 'curl' },
          { name: 'Curl_SA', namespace: 'Curl' },
          { kind: 'ServiceAccount' },
          CURL,
          { ...CURL },
          'curl',
        ],
        ports: [{ number: 443, protocol: 'tcp' }],
      }),
    );
    expect(causes(v)).toEqual([
      'spec.sources[0].kind: Unsupported value: "Service": supported values: "ServiceAccount"',
      'spec.sources[1].kind: Required value: must be ServiceAccount',
      "spec.sources[1].name: Invalid value: \"Curl_SA\": must be a lowercase RFC 1123 subdomain (dot-separated labels of a-z, 0-9 and '-', at most 253 characters)",
      "spec.sources[1].namespace: Invalid value: \"Curl\": must be a lowercase RFC 1123 label (a-z, 0-9 and '-', starting and ending with an alphanumeric character, at most 63 characters)",
      'spec.sources[2].name: Required value',
      'spec.sources[2].namespace: Required value',
      'spec.sources[5]: Invalid value: "curl": must be an object with kind, name and namespace',
      'spec.sources[4]: Duplicate value: "curl/curl": also at spec.sources[3]',
    ]);
  });

  it('source mtls: issuer fsm, osm or other; cert constraints of the edge CRD', () => {
    const cert = { sn: 1, subjectAltNames: ['curl.curl.cluster.local'], expiration: '2030-01-01 00:00:00', secret: { name: 's', namespace: 'curl' } };
    for (const issuer of ['fsm', 'osm', 'other']) expect(check(tcpEgress({ sources: [{ ...CURL, mtls: { issuer, cert } }] })).errors).toEqual([]);
    const v = check(
      tcpEgress({
        sources: [
          { ...CURL, mtls: { issuer: 'vault', cert: { sn: 0, subjectAltNames: [], secret: { name: 's' } } } },
          { kind: 'ServiceAccount', name: 'b', namespace: 'curl', mtls: { issuer: 'other', cert: { sn: 65536, expiration: 'x', subjectAltNames: ['a'] } } },
          { kind: 'ServiceAccount', name: 'c', namespace: 'curl', mtls: 'yes' },
        ],
      }),
    );
    expect(causes(v)).toEqual([
      'spec.sources[0].mtls.issuer: Unsupported value: "vault": supported values: "fsm", "osm", "other"',
      'spec.sources[0].mtls.cert.sn: Invalid value: 0: must be an integer between 1 and 65535',
      'spec.sources[0].mtls.cert.expiration: Required value',
      'spec.sources[0].mtls.cert.subjectAltNames: Required value: must have at least 1 item',
      'spec.sources[0].mtls.cert.secret.namespace: Required value',
      'spec.sources[1].mtls.cert.sn: Invalid value: 65536: must be an integer between 1 and 65535',
      'spec.sources[1].mtls.cert.secret: Required value: the secret that stores the certificate (name and namespace)',
      'spec.sources[2].mtls: Invalid value: "yes": must be an object with issuer and cert',
    ]);
  });

  it('hosts: DNS names with an optional "*." prefix; host:port rejected; IP literals warned', () => {
    const v = check(
      egress('e', {
        sources: [CURL],
        hosts: ['*.example.com', 'api.example.com', 'httpbin.org:80', '*', 'a.*.com', 'Upper.com', '', '10.1.2.3', '2001:db8::1', 'bad_name.com'],
        ports: [{ number: 80, protocol: 'http' }],
      }),
    );
    const dns = "must be a lowercase RFC 1123 subdomain (dot-separated labels of a-z, 0-9 and '-', at most 253 characters), optionally prefixed with \"*.\" for a wildcard";
    expect(causes(v)).toEqual([
      'spec.hosts[2]: Invalid value: "httpbin.org:80": must not include a port: the port comes from spec.ports; use "httpbin.org"',
      `spec.hosts[3]: Invalid value: "*": ${dns}`,
      `spec.hosts[4]: Invalid value: "a.*.com": ${dns}`,
      `spec.hosts[5]: Invalid value: "Upper.com": ${dns}`,
      'spec.hosts[6]: Invalid value: "": must be a non-empty host name',
      `spec.hosts[9]: Invalid value: "bad_name.com": ${dns}`,
    ]);
    expect(v.warnings).toEqual([
      'spec.hosts[7]: 10.1.2.3 is an IP address: hosts match the HTTP Host header or TLS SNI; list IPs in spec.ipAddresses (e.g. 10.1.2.3/32)',
      'spec.hosts[8]: 2001:db8::1 is an IP address: hosts match the HTTP Host header or TLS SNI; list IPs in spec.ipAddresses (e.g. 2001:db8::1/128)',
    ]);
  });

  it('ports: number 1-65535, protocol required', () => {
    const v = check(
      egress('e', {
        sources: [CURL],
        ports: [{ number: 0, protocol: 'tcp' }, { number: 65536, protocol: 'tcp' }, { number: 1.5, protocol: 'tcp' }, { number: '80', protocol: 'tcp' }, { protocol: 'tcp' }, { number: 1 }, { number: 65535, protocol: 'tcp' }],
      }),
    );
    expect(causes(v)).toEqual([
      'spec.ports[0].number: Invalid value: 0: must be an integer between 1 and 65535',
      'spec.ports[1].number: Invalid value: 65536: must be an integer between 1 and 65535',
      'spec.ports[2].number: Invalid value: 1.5: must be an integer between 1 and 65535',
      'spec.ports[3].number: Invalid value: "80": must be an integer between 1 and 65535',
      'spec.ports[4].number: Required value',
      'spec.ports[5].protocol: Required value: one of http, https, tcp, tcp-server-first',
    ]);
  });

  it('the same (port, protocol) twice is a duplicate, case-insensitively; http and https on one port are fine', () => {
    const v = check(
      egress('e', {
        sources: [CURL],
        hosts: ['a.com'],
        ports: [{ number: 443, protocol: 'tcp' }, { number: 443, protocol: 'TCP' }, { number: 8443, protocol: 'http' }, { number: 8443, protocol: 'https' }],
      }),
    );
    expect(causes(v)).toEqual(['spec.ports[1]: Duplicate value: {"number":443,"protocol":"tcp"}: also at spec.ports[0]']);
  });

  it('tcp-server-first with tcp on the same port in one policy is rejected too, and each extra entry is reported', () => {
    const v = check(
      egress('e', {
        sources: [CURL],
        ports: [{ number: 3306, protocol: 'tcp' }, { number: 3306, protocol: 'tcp-server-first' }, { number: 3306, protocol: 'tcp-server-first' }],
      }),
    );
    expect(causes(v)).toEqual([
      'spec.ports[1]: port 3306 is tcp-server-first here but tcp at spec.ports[0]: a tcp-server-first port number cannot carry another protocol',
      'spec.ports[2]: Duplicate value: {"number":3306,"protocol":"tcp-server-first"}: also at spec.ports[1]',
      'spec.ports[2]: port 3306 is tcp-server-first here but tcp at spec.ports[0]: a tcp-server-first port number cannot carry another protocol',
    ]);
  });

  it('https without hosts and hosts on a tcp-only policy: warnings', () => {
    const https = check(egress('e', { sources: [CURL], ports: [{ number: 443, protocol: 'https' }] }));
    expect(https.warnings).toEqual(['spec.ports[0]: https port 443 has no spec.hosts: it matches on the port and spec.ipAddresses only, without checking SNI']);
    const tcp = check(egress('e', { sources: [CURL], hosts: ['a.com'], ports: [{ number: 443, protocol: 'tcp' }, { number: 3306, protocol: 'tcp-server-first' }] }));
    expect(tcp.warnings).toEqual(['spec.hosts: hosts are ignored by tcp and tcp-server-first ports: they match on the port and spec.ipAddresses only']);
    // hosts used by at least one http/https port: no warning
    const mixed = check(egress('e', { sources: [CURL], hosts: ['a.com'], ports: [{ number: 443, protocol: 'tcp' }, { number: 80, protocol: 'http' }] }));
    expect(mixed.warnings).toEqual([]);
  });
});

describe('Egress: server-first across policies sharing a source ServiceAccount', () => {
  const dbHttp = egress('db-http', { sources: [CURL], hosts: ['db.example.com'], ports: [{ number: 3306, protocol: 'http' }] });
  const dbSf = egress('db-sf', { sources: [CURL], ports: [{ number: 3306, protocol: 'tcp-server-first' }] });

  it('tcp-server-first here, http there: denied with the spec sentence', () => {
    expect(causes(check(dbSf, { state: [dbHttp] }))).toEqual([
      'spec.ports[0]: port 3306 is tcp-server-first here but http in Egress curl/db-http (same source ServiceAccount curl/curl)',
    ]);
  });

  it('http here, tcp-server-first there: denied with the mirrored sentence', () => {
    expect(causes(check(dbHttp, { state: [dbSf] }))).toEqual([
      'spec.ports[0]: port 3306 is http here but tcp-server-first in Egress curl/db-sf (same source ServiceAccount curl/curl)',
    ]);
  });

  it('the other policy may live in another namespace; the shared SA is named', () => {
    const other = egress('db-http', { sources: [{ kind: 'ServiceAccount', name: 'x', namespace: 'x' }, CURL], hosts: ['db.example.com'], ports: [{ number: 3306, protocol: 'http' }] }, 'ops');
    expect(causes(check(dbSf, { state: [other] }))).toEqual([
      'spec.ports[0]: port 3306 is tcp-server-first here but http in Egress ops/db-http (same source ServiceAccount curl/curl)',
    ]);
  });

  it('https without hosts on the other side, or here: warning', () => {
    const tls = egress('db-tls', { sources: [CURL], ports: [{ number: 3306, protocol: 'https' }] });
    const a = check(dbSf, { state: [tls] });
    expect(a.allowed).toBe(true);
    expect(a.warnings).toEqual([
      'spec.ports[0]: port 3306 is tcp-server-first here but https (without hosts) in Egress curl/db-tls (same source ServiceAccount curl/curl); allowed (no detection needed), but the docs advise against reusing a server-first port',
    ]);
    const b = check(tls, { state: [dbSf] });
    expect(b.allowed).toBe(true);
    expect(b.warnings).toEqual([
      'spec.ports[0]: https port 3306 has no spec.hosts: it matches on the port and spec.ipAddresses only, without checking SNI',
      'spec.ports[0]: port 3306 is https (without hosts) here but tcp-server-first in Egress curl/db-sf (same source ServiceAccount curl/curl); allowed (no detection needed), but the docs advise against reusing a server-first port',
    ]);
  });

  it('tcp here, tcp-server-first there: warning', () => {
    const v = check(egress('db-tcp', { sources: [CURL], ports: [{ number: 3306, protocol: 'tcp' }] }), { state: [dbSf] });
    expect(v.allowed).toBe(true);
    expect(v.warnings).toEqual([
      'spec.ports[0]: port 3306 is tcp here but tcp-server-first in Egress curl/db-sf (same source ServiceAccount curl/curl); allowed (no detection needed), but the docs advise against reusing a server-first port',
    ]);
  });

  it('no shared ServiceAccount, another port, or both server-first: nothing', () => {
    const otherSa = egress('db-http', { sources: [{ kind: 'ServiceAccount', name: 'web', namespace: 'curl' }], hosts: ['db.example.com'], ports: [{ number: 3306, protocol: 'http' }] });
    const otherPort = egress('db-http2', { sources: [CURL], hosts: ['db.example.com'], ports: [{ number: 3307, protocol: 'http' }] });
    const bothSf = egress('db-sf2', { sources: [CURL], ports: [{ number: 3306, protocol: 'tcp-server-first' }] });
    expect(check(dbSf, { state: [otherSa, otherPort, bothSf] })).toMatchObject({ allowed: true, errors: [], warnings: [] });
  });

  it('several conflicting policies are each named, in namespace/name order', () => {
    const a = egress('a', { sources: [CURL], hosts: ['x.com'], ports: [{ number: 3306, protocol: 'http' }] }, 'zeta');
    const b = egress('b', { sources: [CURL], hosts: ['y.com'], ports: [{ number: 3306, protocol: 'https' }] }, 'alpha');
    expect(causes(check(dbSf, { state: [a, b] }))).toEqual([
      'spec.ports[0]: port 3306 is tcp-server-first here but https (with hosts) in Egress alpha/b (same source ServiceAccount curl/curl)',
      'spec.ports[0]: port 3306 is tcp-server-first here but http in Egress zeta/a (same source ServiceAccount curl/curl)',
    ]);
  });

  it('on UPDATE the policy is not compared with its own older version', () => {
    const old = egress('db-sf', { sources: [CURL], hosts: ['db.example.com'], ports: [{ number: 3306, protocol: 'http' }] });
    expect(check(dbSf, { state: [old], operation: 'UPDATE' })).toMatchObject({ allowed: true, errors: [], warnings: [] });
  });
});

describe('Egress: server-first against Services of the mesh', () => {
  const mysql = service('db', 'mysql', [{ name: 'tcp-server-first-mysql', port: 3306, protocol: 'TCP' }]);
  const permissive = meshConfig({ traffic: { enablePermissiveTrafficPolicyMode: true } });
  const strict = meshConfig({ traffic: { enablePermissiveTrafficPolicyMode: false } });
  const dbHttps = egress('db-tls', { sources: [CURL], hosts: ['db.example.com'], ports: [{ number: 3306, protocol: 'https' }] });

  it('permissive mode: an Egress https port equal to a server-first Service port (name prefix) is denied', () => {
    expect(causes(check(dbHttps, { state: [monitoredNamespace('db'), permissive, mysql] }))).toEqual([
      'spec.ports[0]: port 3306 is https (with hosts) here but tcp-server-first on Service db/mysql port "tcp-server-first-mysql" (3306); the mesh is in permissive mode, so this policy\'s sources reach that Service and lose protocol detection on port 3306',
    ]);
  });

  it('not permissive: the same is a warning', () => {
    const v = check(dbHttps, { state: [monitoredNamespace('db'), strict, mysql] });
    expect(v.allowed).toBe(true);
    expect(v.warnings).toEqual([
      'spec.ports[0]: port 3306 is https (with hosts) here but tcp-server-first on Service db/mysql port "tcp-server-first-mysql" (3306); sources of this policy that can reach that Service lose protocol detection on port 3306',
    ]);
    // no MeshConfig at all: not permissive either
    expect(check(dbHttps, { state: [monitoredNamespace('db'), mysql] }).warnings).toHaveLength(1);
  });

  it('appProtocol wins over the port name; a port without a name is named by number', () => {
    const byApp = service('db', 'pg', [{ name: 'http-pg', port: 3306, appProtocol: 'tcp-server-first' }]);
    const unnamed = service('db', 'raw', [{ port: 3306, appProtocol: 'tcp-server-first' }]);
    const overridden = service('db', 'web', [{ name: 'tcp-server-first-x', port: 3306, appProtocol: 'http' }]);
    const v = check(dbHttps, { state: [monitoredNamespace('db'), permissive, byApp, unnamed, overridden] });
    expect(causes(v)).toEqual([
      'spec.ports[0]: port 3306 is https (with hosts) here but tcp-server-first on Service db/pg port "http-pg" (3306); the mesh is in permissive mode, so this policy\'s sources reach that Service and lose protocol detection on port 3306',
      'spec.ports[0]: port 3306 is https (with hosts) here but tcp-server-first on Service db/raw port 3306; the mesh is in permissive mode, so this policy\'s sources reach that Service and lose protocol detection on port 3306',
    ]);
  });

  it('Services outside the mesh, UDP ports and other port numbers are ignored', () => {
    const udp = service('db', 'dns', [{ name: 'tcp-server-first-x', port: 3306, protocol: 'UDP' }]);
    const otherPort = service('db', 'pg', [{ port: 5432, appProtocol: 'tcp-server-first' }]);
    const outside = service('plain', 'mysql', [{ port: 3306, appProtocol: 'tcp-server-first' }]);
    expect(check(dbHttps, { state: [monitoredNamespace('db'), permissive, udp, otherPort, outside] })).toMatchObject({ allowed: true, errors: [], warnings: [] });
  });

  it('opposite direction: an Egress tcp-server-first port equal to a Service port that needs detection is a warning', () => {
    const web = service('web', 'frontend', [{ name: 'web', port: 8080 }, { name: 'grpc-api', port: 9090 }, { name: 'tcp-raw', port: 7000 }]);
    const v = check(
      egress('sf', { sources: [CURL], ports: [{ number: 8080, protocol: 'tcp-server-first' }, { number: 9090, protocol: 'tcp-server-first' }, { number: 7000, protocol: 'tcp-server-first' }] }),
      { state: [monitoredNamespace('web'), permissive, web] },
    );
    expect(v.allowed).toBe(true);
    expect(v.warnings).toEqual([
      'spec.ports[0]: port 8080 is tcp-server-first here but http on Service web/frontend port "web" (8080); sources of this policy lose protocol detection on port 8080 for that Service too',
      'spec.ports[1]: port 9090 is tcp-server-first here but grpc on Service web/frontend port "grpc-api" (9090); sources of this policy lose protocol detection on port 9090 for that Service too',
    ]);
  });
});

describe('Egress: fixture egress-update-server-first.json (UPDATE adding 3306 tcp-server-first to tcp-443)', () => {
  const review = loadFixture('egress-update-server-first.json').review.request;
  const object = review.object as KubeObject;
  const oldObject = review.oldObject as KubeObject;

  it('is admitted against its own old version and the other seed policies', () => {
    const v = check(object, { flavor: 'osm-edge', operation: 'UPDATE', state: [oldObject, seed.http, seed.https] });
    expect(v).toMatchObject({ allowed: true, errors: [], warnings: [] });
  });

  it('is denied when another policy of curl/curl uses 3306 for http', () => {
    const dbHttp = egress('db-http', { sources: [CURL], hosts: ['db.example.com'], ports: [{ number: 3306, protocol: 'http' }] }, 'curl', EDGE_GROUP);
    const v = check(object, { flavor: 'osm-edge', operation: 'UPDATE', state: [oldObject, dbHttp] });
    expect(causes(v)).toEqual(['spec.ports[1]: port 3306 is tcp-server-first here but http in Egress curl/db-http (same source ServiceAccount curl/curl)']);
  });

  it('warns about the mysql Service of fixture service-create.json, whose unnamed-protocol port 3306 defaults to http', () => {
    const mysql = loadFixture('service-create.json').review.request.object as KubeObject;
    const v = check(object, { flavor: 'osm-edge', operation: 'UPDATE', state: [oldObject, mysql, monitoredNamespace('httpbin', 'osm', 'openservicemesh.io')] });
    expect(v.allowed).toBe(true);
    expect(v.warnings).toEqual([
      'spec.ports[1]: port 3306 is tcp-server-first here but http on Service httpbin/mysql port "3306-3306" (3306); sources of this policy lose protocol detection on port 3306 for that Service too',
    ]);
  });

  it('the fixtures of seed 001 CREATE requests are admitted', () => {
    for (const file of ['egress-create-http.json', 'egress-create-tcp.json']) {
      const v = check(loadFixture(file).review.request.object as KubeObject, { flavor: 'osm-edge' });
      expect(v).toMatchObject({ allowed: true, errors: [], warnings: [] });
    }
  });
});
