import { fixtureObject } from '../support/fixtures.js';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from '../../src/mesh/objects.js';
import { causes, check, monitoredNamespace } from './helpers.js';

const fixture = (file: string): KubeObject =>
  fixtureObject<KubeObject>(file);

const docs = (text: string, namespace: string): KubeObject[] =>
  parseAllDocuments(text).map((d) => {
    const o = d.toJS() as KubeObject;
    // `kubectl apply -n <namespace>`: the admission layer fills the namespace from the request
    return { ...o, metadata: { ...o.metadata, namespace: o.metadata?.namespace ?? namespace } };
  });

// Seeds 000 (zh) and 002 (en), the SMI access-control primer, indentation restored. The primer omits apiVersion on
// this pair; the versions osm-edge serves are filled in.
const [theRoutes, pathSpecific] = docs(
  `
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata:
  name: the-routes
spec:
  matches:
  - name: metrics
    pathRegex: "/metrics"
    methods:
    - GET
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata:
  name: path-specific
  namespace: default
spec:
  destination:
    kind: ServiceAccount
    name: service-a
    namespace: default
  rules:
  - kind: HTTPRouteGroup
    name: the-routes
    matches:
    - metrics
  sources:
  - kind: ServiceAccount
    name: prometheus
    namespace: default
`,
  'default',
) as [KubeObject, KubeObject];

// Seeds 000/002, multi-cluster access control: `kubectl apply -n httpbin`.
const [httpbinRoute, curlToHttpbin, curlToExtHttpbin] = docs(
  `
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata:
  name: httpbin-route
spec:
  matches:
  - name: all
    pathRegex: "/"
    methods:
    - GET
---
kind: TrafficTarget
apiVersion: access.smi-spec.io/v1alpha3
metadata:
  name: curl-to-httpbin
spec:
  destination:
    kind: ServiceAccount
    name: default
    namespace: httpbin
  rules:
  - kind: HTTPRouteGroup
    name: httpbin-route
    matches:
    - all
  sources:
  - kind: ServiceAccount
    name: curl
    namespace: curl
---
kind: TrafficTarget
apiVersion: access.smi-spec.io/v1alpha3
metadata:
  name: curl-to-ext-httpbin
spec:
  destination:
    kind: ServiceAccount
    name: httpbin
    namespace: httpbin
  rules:
  - kind: HTTPRouteGroup
    name: httpbin-route
    matches:
    - all
  sources:
  - kind: ServiceAccount
    name: curl
    namespace: curl
`,
  'httpbin',
) as [KubeObject, KubeObject, KubeObject];

// Seed 001 (egress demo, step 5): the route group updated with a `/status.*` match.
const [egressHttpRoute] = docs(
  `
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata:
  name: egress-http-route
  namespace: curl
spec:
  matches:
  - name: get
    pathRegex: /get
  - name: status
    pathRegex: /status.*
`,
  'curl',
) as [KubeObject];

const clean = { allowed: true, known: true, errors: [], warnings: [] };

const hrg = (spec: unknown, name = 'routes', namespace = 'app'): KubeObject => ({
  apiVersion: 'specs.smi-spec.io/v1alpha4',
  kind: 'HTTPRouteGroup',
  metadata: { name, namespace },
  spec,
});

const tcpRoute = (spec: unknown, name = 'tcp', namespace = 'app'): KubeObject => ({
  apiVersion: 'specs.smi-spec.io/v1alpha4',
  kind: 'TCPRoute',
  metadata: { name, namespace },
  spec,
});

const sa = (name: string, namespace?: string): Record<string, unknown> => ({ kind: 'ServiceAccount', name, ...(namespace === undefined ? {} : { namespace }) });

const tt = (spec: unknown, namespace = 'app', name = 'tt'): KubeObject => ({
  apiVersion: 'access.smi-spec.io/v1alpha3',
  kind: 'TrafficTarget',
  metadata: { name, namespace },
  spec,
});

const ttSpec = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  destination: sa('server', 'app'),
  sources: [sa('client', 'app')],
  rules: [{ kind: 'HTTPRouteGroup', name: 'routes', matches: ['get'] }],
  ...overrides,
});

const routesInApp = hrg({ matches: [{ name: 'get', methods: ['GET'] }, { name: 'post', methods: ['POST'] }] });

const service = (name: string, namespace = 'app'): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { ports: [{ port: 80 }] } });

const split = (spec: unknown, apiVersion = 'split.smi-spec.io/v1alpha4'): KubeObject => ({
  apiVersion,
  kind: 'TrafficSplit',
  metadata: { name: 'bookstore-split', namespace: 'app' },
  spec,
});

const splitState = [service('bookstore'), service('bookstore-v1'), service('bookstore-v2')];

const TOO_LARGE =
  "too large: more than 1000 elements once repetitions are unrolled and Unicode classes counted (Envoy rejects RE2 programs above size 100 by default)";
const DNS_LABEL =
  "must be a lowercase RFC 1123 label (a-z, 0-9 and '-', starting and ending with an alphanumeric character, at most 63 characters)";
const DNS_SUBDOMAIN = "must be a lowercase RFC 1123 subdomain (dot-separated labels of a-z, 0-9 and '-', at most 253 characters)";
const METHODS = 'supported values: "*", "GET", "HEAD", "PUT", "POST", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"';

// ---------------------------------------------------------------------------------------------------------------

describe('HTTPRouteGroup', () => {
  it('admits the seed examples and the captured request as they are', () => {
    expect(check(theRoutes)).toEqual(clean);
    expect(check(httpbinRoute)).toEqual(clean);
    expect(check(egressHttpRoute)).toEqual(clean);
    expect(check(fixture('httproutegroup-create.json'))).toEqual(clean);
  });

  it('is checked under every served version', () => {
    for (const version of ['v1alpha1', 'v1alpha2', 'v1alpha3', 'v1alpha4']) {
      const v = check({ ...hrg({ matches: [{ name: 'a', pathRegex: '[' }] }), apiVersion: `specs.smi-spec.io/${version}` });
      expect(causes(v)).toEqual(['spec.matches[0].pathRegex: Invalid value: "[": must be a valid RE2 regular expression: missing ]: [']);
    }
  });

  it('denies pathRegex values RE2 rejects (Envoy NACKs the whole route configuration)', () => {
    const v = check(hrg({ matches: [{ name: 'a', pathRegex: '(?<=a)b' }, { name: 'b', pathRegex: '[' }, { name: 'c', pathRegex: '/users/(\\d+)/\\1' }, { name: 'd', pathRegex: 42 }] }));
    expect(v.allowed).toBe(false);
    expect(causes(v)).toEqual([
      'spec.matches[0].pathRegex: Invalid value: "(?<=a)b": must be a valid RE2 regular expression: invalid perl operator: (?< (look-behind assertions are not supported by RE2)',
      'spec.matches[1].pathRegex: Invalid value: "[": must be a valid RE2 regular expression: missing ]: [',
      'spec.matches[2].pathRegex: Invalid value: "/users/(\\\\d+)/\\\\1": must be a valid RE2 regular expression: invalid escape sequence: \\1 (backreferences are not supported by RE2)',
      'spec.matches[3].pathRegex: Invalid value: 42: must be a string (an RE2 regular expression)',
    ]);
    expect(v.errors.map((e) => e.rule)).toEqual(['httproutegroup-regex', 'httproutegroup-regex', 'httproutegroup-regex', 'httproutegroup-regex']);
  });

  it('admits RE2 forms JS does not know and an empty pathRegex (the mesh reads it as .*)', () => {
    expect(check(hrg({ matches: [{ name: 'a', pathRegex: '(?i)/API/(?P<id>\\d+)' }, { name: 'b', pathRegex: '' }, { name: 'c', pathRegex: null }] }))).toEqual(clean);
  });

  it('shows only the start of a pattern longer than 80 characters', () => {
    const v = check(hrg({ matches: [{ name: 'a', pathRegex: `/x${'y'.repeat(5000)}` }, { name: 'b', pathRegex: '/a{100}'.repeat(11) }] }));
    expect(causes(v)).toEqual([
      `spec.matches[0].pathRegex: Invalid value: "/x${'y'.repeat(75)}...": must be a valid RE2 regular expression: longer than 4096 characters`,
      `spec.matches[1].pathRegex: Invalid value: "${'/a{100}'.repeat(11)}": must be a valid RE2 regular expression: ${TOO_LARGE}`,
    ]);
  });

  it('refuses, once, the regexes past the per-object budget instead of compiling them', () => {
    const matches = Array.from({ length: 23 }, (_, i) => ({ name: `m${i}`, pathRegex: `/${i}/a{990}` }));
    const v = check(hrg({ matches }));
    expect(causes(v)).toEqual([
      'spec.matches[20].pathRegex: Forbidden: the regexes of this object add up to more than 20000 elements once repetitions are unrolled; this one and the later ones were not checked (split the object)',
    ]);
    expect(v.errors[0]?.rule).toBe('smi-regex-budget');
  });

  it('requires at least one match', () => {
    expect(causes(check(hrg({})))).toEqual(['spec.matches: Required value']);
    expect(causes(check(hrg({ matches: [] })))).toEqual(['spec.matches: Required value: must have at least 1 item']);
    expect(causes(check(hrg({ matches: { name: 'a' } })))).toEqual(['spec.matches: Invalid value: {"name":"a"}: must be a list']);
    expect(causes(check(hrg(undefined)))).toEqual(['spec: Required value']);
    expect(causes(check(hrg('matches')))).toEqual(['spec: Invalid value: "matches": must be an object']);
  });

  it('requires a unique name on every match (TrafficTargets select matches by name)', () => {
    const v = check(hrg({ matches: [{ name: 'get' }, { pathRegex: '/x' }, { name: '' }, { name: 'get' }, 'get', { name: 7 }] }));
    expect(causes(v)).toEqual([
      'spec.matches[1].name: Required value',
      'spec.matches[2].name: Required value',
      'spec.matches[4]: Invalid value: "get": must be an object',
      'spec.matches[5].name: Invalid value: 7: must be a string',
      'spec.matches[3].name: Duplicate value: "get": also at spec.matches[0].name',
    ]);
    expect(v.errors.at(-1)).toMatchObject({ type: 'FieldValueDuplicate', rule: 'httproutegroup-match-name-unique' });
  });

  it('accepts only the HTTP methods of the CRD enum', () => {
    expect(check(hrg({ matches: [{ name: 'a', methods: ['*'] }, { name: 'b', methods: ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] }] }))).toEqual(clean);
    const v = check(hrg({ matches: [{ name: 'a', methods: ['get', 'FETCH', 1] }, { name: 'b', methods: 'GET' }] }));
    expect(causes(v)).toEqual([
      `spec.matches[0].methods[0]: Unsupported value: "get": ${METHODS}`,
      `spec.matches[0].methods[1]: Unsupported value: "FETCH": ${METHODS}`,
      `spec.matches[0].methods[2]: Unsupported value: 1: ${METHODS}`,
      'spec.matches[1].methods: Invalid value: "GET": must be a list',
    ]);
  });

  describe('headers', () => {
    it('admits both shapes: the CRD list of single-entry maps and the smi-sdk-go map', () => {
      expect(check(hrg({ matches: [{ name: 'a', headers: [{ 'user-agent': '.*Mobile.*' }, { 'x-canary': 'true' }, { ':authority': 'api\\.example\\.com' }] }] }))).toEqual(clean);
      expect(check(hrg({ matches: [{ name: 'a', headers: { 'user-agent': '.*Mobile.*', 'X-Request-Id': '[0-9a-f-]+' } }] }))).toEqual(clean);
    });

    it('denies header names that are not HTTP tokens and regexes RE2 rejects, in the list shape', () => {
      const v = check(hrg({ matches: [{ name: 'a', headers: [{ 'user agent': '.*' }, { 'x-id': '(?<=a)b' }, { 'x-n': 5 }] }] }));
      expect(causes(v)).toEqual([
        "spec.matches[0].headers[0]: Invalid value: \"user agent\": header name must be an HTTP token (RFC 7230: letters, digits and !#$%&'*+-.^_`|~)",
        'spec.matches[0].headers[1][x-id]: Invalid value: "(?<=a)b": must be a valid RE2 regular expression: invalid perl operator: (?< (look-behind assertions are not supported by RE2)',
        'spec.matches[0].headers[2][x-n]: Invalid value: 5: must be a string (an RE2 regular expression)',
      ]);
      expect(v.errors.map((e) => e.rule)).toEqual(['httproutegroup-header', 'httproutegroup-header-regex', 'httproutegroup-header-regex']);
    });

    it('denies the same in the map shape', () => {
      expect(causes(check(hrg({ matches: [{ name: 'a', headers: { 'x:y': 'ok', 'x-id': '(a)\\1' } }] })))).toEqual([
        "spec.matches[0].headers: Invalid value: \"x:y\": header name must be an HTTP token (RFC 7230: letters, digits and !#$%&'*+-.^_`|~)",
        'spec.matches[0].headers[x-id]: Invalid value: "(a)\\\\1": must be a valid RE2 regular expression: invalid escape sequence: \\1 (backreferences are not supported by RE2)',
      ]);
    });

    it('denies list entries with no or several headers (smi-sdk-go: "incorrect length of keyval")', () => {
      expect(causes(check(hrg({ matches: [{ name: 'a', headers: [{}, { a: 'x', b: 'y' }, 'x-id'] }] })))).toEqual([
        'spec.matches[0].headers[0]: Invalid value: {}: must map exactly one header name to a regex, e.g. {"user-agent": ".*Mobile.*"}',
        'spec.matches[0].headers[1]: Invalid value: {"a":"x","b":"y"}: must map exactly one header name to a regex, e.g. {"user-agent": ".*Mobile.*"}',
        'spec.matches[0].headers[2]: Invalid value: "x-id": must map exactly one header name to a regex, e.g. {"user-agent": ".*Mobile.*"}',
      ]);
      expect(causes(check(hrg({ matches: [{ name: 'a', headers: 'x-id: 1' }] })))).toEqual([
        'spec.matches[0].headers: Invalid value: "x-id: 1": must be a list of {<header>: <regex>} entries or a map of header names to regexes',
      ]);
    });

    it('denies a header listed twice (the later regex would silently replace the earlier)', () => {
      const v = check(hrg({ matches: [{ name: 'a', headers: [{ 'x-canary': 'true' }, { 'X-Canary': 'yes' }, { 'x-canary': 'false' }] }] }));
      expect(causes(v)).toEqual([
        'spec.matches[0].headers[2]: Duplicate value: "x-canary": also at spec.matches[0].headers[0]; the entries are merged into one map, so only the last regex would apply',
      ]);
      expect(v.errors[0]).toMatchObject({ type: 'FieldValueDuplicate', rule: 'httproutegroup-header-unique' });
    });
  });

  it('warns when a TrafficTarget still selects a match the group no longer defines', () => {
    const state = [tt(ttSpec({ rules: [{ kind: 'HTTPRouteGroup', name: 'routes', matches: ['get', 'post'] }] }), 'app', 'client-to-server')];
    const v = check(hrg({ matches: [{ name: 'get' }] }), { state, operation: 'UPDATE' });
    expect(v.allowed).toBe(true);
    expect(v.warnings).toEqual([
      'spec.matches: TrafficTarget app/client-to-server selects match "post", which this HTTPRouteGroup does not define: that selection grants no access',
    ]);
    // TrafficTargets of other namespaces or other groups are not about this one
    const elsewhere = [tt(ttSpec({ rules: [{ kind: 'HTTPRouteGroup', name: 'routes', matches: ['post'] }] }), 'other'), tt(ttSpec({ rules: [{ kind: 'HTTPRouteGroup', name: 'other', matches: ['post'] }] }))];
    expect(check(hrg({ matches: [{ name: 'get' }] }), { state: elsewhere })).toEqual(clean);
  });

  it('never throws on malformed input', () => {
    for (const spec of [null, [], 1, { matches: [null, 1, [], { name: 'x', headers: [null, [], 3], methods: [null] }] }, { matches: [{ name: { a: 1 }, pathRegex: { r: 1 }, headers: { '': 1 } }] }])
      expect(() => check(hrg(spec))).not.toThrow();
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('TrafficTarget', () => {
  it('admits the seed examples and the captured request when their route groups exist', () => {
    expect(check(pathSpecific, { state: [theRoutes] })).toEqual(clean);
    expect(check(curlToHttpbin, { state: [httpbinRoute] })).toEqual(clean);
    expect(check(curlToExtHttpbin, { state: [httpbinRoute] })).toEqual(clean);
    expect(check(fixture('traffictarget-create.json'), { state: [fixture('httproutegroup-create.json')] })).toEqual(clean);
  });

  it('admits a target whose route group is not there yet, with a warning (apply order)', () => {
    const v = check(fixture('traffictarget-create.json'));
    expect(v.allowed).toBe(true);
    expect(v.warnings).toEqual(['spec.rules[0].name: HTTPRouteGroup httpbin/httpbin-route does not exist: this rule grants no access until it does']);
  });

  describe('the Go validator case: the destination namespace must be the target namespace', () => {
    const target = (namespace: string): KubeObject => tt(ttSpec({ destination: sa('server', 'destination-namespace') }), namespace);

    it('admits the same namespace', () => {
      expect(check(target('destination-namespace'), { state: [hrg(routesInApp.spec, 'routes', 'destination-namespace')] })).toEqual(clean);
    });

    it('denies another namespace with the Go validator text', () => {
      const v = check(target('another-namespace'), { state: [hrg(routesInApp.spec, 'routes', 'another-namespace')] });
      expect(v.allowed).toBe(false);
      expect(causes(v)).toEqual([
        'spec.destination.namespace: Invalid value: "destination-namespace": The traffic target namespace (another-namespace) must match spec.Destination.Namespace (destination-namespace)',
      ]);
      expect(v.errors[0]?.rule).toBe('traffictarget-namespace');
    });

    it('admits a destination without namespace (SMI defaults it to the target namespace)', () => {
      expect(check(tt(ttSpec({ destination: sa('server') })), { state: [routesInApp] })).toEqual(clean);
    });

    it('denies a namespace that is not a string', () => {
      expect(causes(check(tt(ttSpec({ destination: sa('server', 7 as unknown as string) })), { state: [routesInApp] }))).toEqual([
        'spec.destination.namespace: Invalid value: 7: must be a string',
      ]);
    });
  });

  it('denies rules: [] and a missing rules list (the mesh ignores such a target)', () => {
    const text = 'spec.rules: Required value: at least one HTTPRouteGroup or TCPRoute rule: the mesh ignores a TrafficTarget without rules';
    expect(causes(check(tt(ttSpec({ rules: [] })), { state: [routesInApp] }))).toEqual([text]);
    expect(causes(check(tt(ttSpec({ rules: undefined })), { state: [routesInApp] }))).toEqual([text]);
    expect(causes(check(tt(ttSpec({ rules: 'routes' })), { state: [routesInApp] }))).toEqual(['spec.rules: Invalid value: "routes": must be a list']);
  });

  it('denies kind: UDPRoute (it passes the CRD, then the mesh drops the whole target)', () => {
    const v = check(tt(ttSpec({ rules: [{ kind: 'HTTPRouteGroup', name: 'routes', matches: ['get'] }, { kind: 'UDPRoute', name: 'dns' }] })), { state: [routesInApp] });
    expect(causes(v)).toEqual(['spec.rules[1].kind: Unsupported value: "UDPRoute": supported values: "HTTPRouteGroup", "TCPRoute"']);
    expect(v.errors[0]?.rule).toBe('traffictarget-rule-kind');
  });

  it('requires kind and name on every rule', () => {
    expect(causes(check(tt(ttSpec({ rules: [{ matches: ['get'] }, { kind: 'TCPRoute', name: '' }, 'routes'] })), { state: [routesInApp] }))).toEqual([
      'spec.rules[0].kind: Required value',
      'spec.rules[0].name: Required value',
      'spec.rules[1].name: Required value',
      'spec.rules[2]: Invalid value: "routes": must be an object',
    ]);
  });

  it('denies match selectors that are not names', () => {
    expect(causes(check(tt(ttSpec({ rules: [{ kind: 'HTTPRouteGroup', name: 'routes', matches: ['get', '', 3] }] })), { state: [routesInApp] }))).toEqual([
      'spec.rules[0].matches[1]: Required value',
      'spec.rules[0].matches[2]: Invalid value: 3: must be a string',
    ]);
    expect(causes(check(tt(ttSpec({ rules: [{ kind: 'HTTPRouteGroup', name: 'routes', matches: 'get' }] })), { state: [routesInApp] }))).toEqual([
      'spec.rules[0].matches: Invalid value: "get": must be a list',
    ]);
  });

  it('warns on a match name the route group does not define (fails closed, and the group may be updated next)', () => {
    const v = check(tt(ttSpec({ rules: [{ kind: 'HTTPRouteGroup', name: 'routes', matches: ['get', 'metrics'] }] })), { state: [routesInApp] });
    expect(v.allowed).toBe(true);
    expect(v.warnings).toEqual([
      'spec.rules[0].matches[1]: HTTPRouteGroup app/routes has no match named "metrics", so it grants no access (its matches: "get", "post")',
    ]);
  });

  it('warns on a missing TCPRoute and looks routes up in the target namespace only', () => {
    const rules = [{ kind: 'TCPRoute', name: 'tcp' }];
    expect(check(tt(ttSpec({ rules })), { state: [tcpRoute({ matches: { ports: [3306] } })] })).toEqual(clean);
    const v = check(tt(ttSpec({ rules })), { state: [tcpRoute({ matches: { ports: [3306] } }, 'tcp', 'other')] });
    expect(v.warnings).toEqual(['spec.rules[0].name: TCPRoute app/tcp does not exist: this rule grants no access until it does']);
    expect(check(tt(ttSpec()), { state: [hrg(routesInApp.spec, 'routes', 'other')] }).warnings).toEqual([
      'spec.rules[0].name: HTTPRouteGroup app/routes does not exist: this rule grants no access until it does',
    ]);
  });

  it('accepts only ServiceAccount identities, with valid names', () => {
    const v = check(tt(ttSpec({ destination: { kind: 'Service', name: 'server' }, sources: [{ kind: 'Group', name: 'Foo_Bar', namespace: 'app' }, { name: 'client', namespace: 'app' }] })), { state: [routesInApp] });
    expect(causes(v)).toEqual([
      'spec.destination.kind: Unsupported value: "Service": supported values: "ServiceAccount"',
      'spec.sources[0].kind: Unsupported value: "Group": supported values: "ServiceAccount"',
      `spec.sources[0].name: Invalid value: "Foo_Bar": ${DNS_SUBDOMAIN}`,
      'spec.sources[1].kind: Required value',
    ]);
  });

  it('requires the destination and its name', () => {
    expect(causes(check(tt(ttSpec({ destination: undefined })), { state: [routesInApp] }))).toEqual(['spec.destination: Required value']);
    expect(causes(check(tt(ttSpec({ destination: 'server' })), { state: [routesInApp] }))).toEqual(['spec.destination: Invalid value: "server": must be an object']);
    expect(causes(check(tt(ttSpec({ destination: { kind: 'ServiceAccount', namespace: 'app' } })), { state: [routesInApp] }))).toEqual(['spec.destination.name: Required value']);
  });

  it('requires at least one source, each with a name and a namespace', () => {
    expect(causes(check(tt(ttSpec({ sources: undefined })), { state: [routesInApp] }))).toEqual(['spec.sources: Required value']);
    expect(causes(check(tt(ttSpec({ sources: [] })), { state: [routesInApp] }))).toEqual(['spec.sources: Required value: must have at least 1 item']);
    expect(causes(check(tt(ttSpec({ sources: [sa('client'), { kind: 'ServiceAccount', namespace: 'app' }, sa('client', 'Bad_NS'), 'client'] })), { state: [routesInApp] }))).toEqual([
      'spec.sources[0].namespace: Required value',
      'spec.sources[1].name: Required value',
      `spec.sources[2].namespace: Invalid value: "Bad_NS": ${DNS_LABEL}`,
      'spec.sources[3]: Invalid value: "client": must be an object',
    ]);
  });

  it('denies a source listed twice', () => {
    const v = check(tt(ttSpec({ sources: [sa('client', 'app'), sa('client', 'other'), sa('client', 'app')] })), { state: [routesInApp] });
    expect(causes(v)).toEqual(['spec.sources[2]: Duplicate value: "app/client": also at spec.sources[0]']);
    expect(v.errors[0]).toMatchObject({ type: 'FieldValueDuplicate', rule: 'traffictarget-source-unique' });
  });

  it('warns on a source whose namespace is known and not in the mesh', () => {
    const plain = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'outside' } };
    const state = [routesInApp, plain, monitoredNamespace('app')];
    const v = check(tt(ttSpec({ sources: [sa('client', 'app'), sa('client', 'outside'), sa('client', 'unknown')] })), { state });
    expect(v.allowed).toBe(true);
    expect(v.warnings).toEqual(['spec.sources[1].namespace: namespace "outside" is not monitored by mesh "fsm": the mesh ignores this source']);
  });

  it('never throws on malformed input', () => {
    for (const spec of [null, [], 'x', { destination: [], sources: {}, rules: [null, 1, { kind: 1, name: [] }] }, { destination: { kind: null, name: 1, namespace: {} }, sources: [null, [], { kind: [] }] }])
      expect(() => check(tt(spec))).not.toThrow();
    expect(causes(check(tt(null)))).toEqual(['spec: Required value']);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('TCPRoute', () => {
  it('admits ports in range, and no ports at all (every port)', () => {
    expect(check(tcpRoute({ matches: { ports: [1, 3306, 65535] } }))).toEqual(clean);
    expect(check(tcpRoute({ matches: {} }))).toEqual(clean);
    expect(check(tcpRoute({ matches: { ports: [] } }))).toEqual(clean);
    expect(check(tcpRoute({}))).toEqual(clean);
  });

  it('denies ports outside 1-65535 (the CRD has no range) and repeated ports', () => {
    const v = check(tcpRoute({ matches: { ports: [0, 70000, 3306, -1, 1.5, '80', 3306] } }));
    expect(causes(v)).toEqual([
      'spec.matches.ports[0]: Invalid value: 0: must be an integer between 1 and 65535',
      'spec.matches.ports[1]: Invalid value: 70000: must be an integer between 1 and 65535',
      'spec.matches.ports[3]: Invalid value: -1: must be an integer between 1 and 65535',
      'spec.matches.ports[4]: Invalid value: 1.5: must be an integer between 1 and 65535',
      'spec.matches.ports[5]: Invalid value: "80": must be an integer between 1 and 65535',
      'spec.matches.ports[6]: Duplicate value: 3306: also at spec.matches.ports[2]',
    ]);
    expect(v.errors.map((e) => e.rule)).toEqual(['tcproute-port', 'tcproute-port', 'tcproute-port', 'tcproute-port', 'tcproute-port', 'tcproute-port-unique']);
  });

  it('denies shapes that are not a ports list', () => {
    expect(causes(check(tcpRoute({ matches: { ports: 3306 } })))).toEqual(['spec.matches.ports: Invalid value: 3306: must be a list']);
    expect(causes(check(tcpRoute({ matches: [3306] })))).toEqual(['spec.matches: Invalid value: [3306]: must be an object']);
    expect(causes(check(tcpRoute(undefined)))).toEqual(['spec: Required value']);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('TrafficSplit', () => {
  const backends = [
    { service: 'bookstore-v1', weight: 75 },
    { service: 'bookstore-v2', weight: 25 },
  ];

  it('admits a split whose Services exist, under every served version', () => {
    expect(check(split({ service: 'bookstore', backends }), { state: splitState })).toEqual(clean);
    expect(check(split({ service: 'bookstore', backends }, 'split.smi-spec.io/v1alpha2'), { state: splitState })).toEqual(clean);
    expect(check(split({ service: 'bookstore.app.svc.cluster.local', backends }), { state: splitState })).toEqual(clean);
    // weight 0 drains a backend: fine as long as another one gets traffic
    expect(check(split({ service: 'bookstore', backends: [{ service: 'bookstore-v1', weight: 0 }, { service: 'bookstore-v2', weight: 1 }] }), { state: splitState })).toEqual(clean);
  });

  it('denies weights -1 and 1.5, and a missing weight', () => {
    const v = check(split({ service: 'bookstore', backends: [{ service: 'bookstore-v1', weight: -1 }, { service: 'bookstore-v2', weight: 1.5 }, { service: 'bookstore', weight: 1e20 }, { service: 'bookstore-v3' }] }), { state: [...splitState, service('bookstore-v3')] });
    expect(causes(v)).toEqual([
      'spec.backends[0].weight: Invalid value: -1: must be an integer between 0 and 2147483647',
      'spec.backends[1].weight: Invalid value: 1.5: must be an integer between 0 and 2147483647',
      'spec.backends[2].weight: Invalid value: 100000000000000000000: must be an integer between 0 and 2147483647',
      'spec.backends[3].weight: Required value',
    ]);
    expect(v.errors.map((e) => e.rule)).toEqual(['trafficsplit-weight', 'trafficsplit-weight', 'trafficsplit-weight', 'trafficsplit-weight']);
  });

  it('denies weights that all are 0 (no traffic anywhere)', () => {
    const v = check(split({ service: 'bookstore', backends: [{ service: 'bookstore-v1', weight: 0 }, { service: 'bookstore-v2', weight: 0 }] }), { state: splitState });
    expect(causes(v)).toEqual(['spec.backends: Forbidden: every backend has weight 0, so the split sends traffic nowhere; give at least one backend a weight above 0']);
    expect(v.errors[0]?.rule).toBe('trafficsplit-weight-sum');
  });

  it('requires the apex service and at least one backend', () => {
    expect(causes(check(split({ backends }), { state: splitState }))).toEqual(['spec.service: Required value']);
    expect(causes(check(split({ service: 'Bookstore', backends }), { state: splitState }))).toEqual([`spec.service: Invalid value: "Bookstore": ${DNS_SUBDOMAIN}`]);
    expect(causes(check(split({ service: 'bookstore' }), { state: splitState }))).toEqual(['spec.backends: Required value']);
    expect(causes(check(split({ service: 'bookstore', backends: [] }), { state: splitState }))).toEqual(['spec.backends: Required value: must have at least 1 item']);
  });

  it('requires a backend service of this namespace, each only once', () => {
    const v = check(
      split({ service: 'bookstore', backends: [{ weight: 1 }, { service: 'bookstore-v1.other', weight: 1 }, { service: 'bookstore-v1', weight: 1 }, { service: 'bookstore-v1', weight: 2 }, 'bookstore-v2'] }),
      { state: splitState },
    );
    expect(causes(v)).toEqual([
      'spec.backends[0].service: Required value',
      `spec.backends[1].service: Invalid value: "bookstore-v1.other": ${DNS_LABEL}`,
      'spec.backends[4]: Invalid value: "bookstore-v2": must be an object',
      'spec.backends[3].service: Duplicate value: "bookstore-v1": also at spec.backends[2].service',
    ]);
    expect(v.errors.at(-1)).toMatchObject({ type: 'FieldValueDuplicate', rule: 'trafficsplit-backend-unique' });
  });

  it('warns on missing Services and on the apex used as its own backend', () => {
    const v = check(split({ service: 'bookstore', backends: [{ service: 'bookstore', weight: 50 }, { service: 'bookstore-v9', weight: 50 }] }), { state: splitState });
    expect(v.allowed).toBe(true);
    expect(v.warnings).toEqual([
      'spec.backends[0].service: backend "bookstore" is the apex Service itself: its share goes to every pod that Service selects (usually all versions), not to one version',
      'spec.backends[1].service: Service app/bookstore-v9 does not exist: requests sent to this backend fail until it does',
    ]);
    expect(check(split({ service: 'bookstore', backends }), { state: [service('bookstore-v1'), service('bookstore-v2')] }).warnings).toEqual([
      'spec.service: Service app/bookstore does not exist: clients cannot address the apex until it does',
    ]);
  });

  it('accepts only HTTPRouteGroup matches, and warns when the group is missing', () => {
    const state = [...splitState, hrg({ matches: [{ name: 'firefox', headers: [{ 'user-agent': '.*Firefox.*' }] }] }, 'ab-test')];
    expect(check(split({ service: 'bookstore', backends, matches: [{ kind: 'HTTPRouteGroup', name: 'ab-test' }] }), { state })).toEqual(clean);
    const v = check(split({ service: 'bookstore', backends, matches: [{ kind: 'TCPRoute', name: 'tcp' }, { name: 'ab-test' }, { kind: 'HTTPRouteGroup' }, { kind: 'HTTPRouteGroup', name: 'missing' }] }), { state });
    expect(causes(v)).toEqual([
      'spec.matches[0].kind: Unsupported value: "TCPRoute": supported values: "HTTPRouteGroup"',
      'spec.matches[1].kind: Required value',
      'spec.matches[2].name: Required value',
    ]);
    expect(v.warnings).toEqual(['spec.matches[3].name: HTTPRouteGroup app/missing does not exist: this match selects no traffic until it does']);
  });

  it('never throws on malformed input', () => {
    for (const spec of [null, 'x', { service: 1, backends: {} }, { service: 'a', backends: [null, 1, { service: {}, weight: 'x' }], matches: [null, 'x'] }, { service: 'a.b.c', backends: [{ service: 'a', weight: Number.NaN }] }])
      expect(() => check(split(spec))).not.toThrow();
  });
});
