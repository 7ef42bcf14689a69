import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../src/mesh/objects.js';
import { parseGoDuration } from '../../src/validator/upstream.js';
import { causes, check } from './helpers.js';

const uts = (spec: unknown, name = 'httpbin', namespace = 'test', group = 'policy.openservicemesh.io'): KubeObject => ({
  apiVersion: `${group}/v1alpha1`,
  kind: 'UpstreamTrafficSetting',
  metadata: { name, namespace },
  spec,
});
const HOST = 'httpbin.test.svc.cluster.local';
const STATUS_TEXT =
  "must be a 4xx or 5xx code of Envoy's StatusCode enum (400-417, 421-424, 426, 428, 429, 431, 500-508, 510, 511); see https://www.envoyproxy.io/docs/envoy/latest/api-v3/type/v3/http_status.proto#enum-type-v3-statuscode";
const httpLimit = (extra: Record<string, unknown> = {}) => ({ requests: 100, unit: 'minute', ...extra });

// The 6 cases of the Go TestUpstreamTrafficSettingValidator table of the mesh. Rate limits get the `requests`,
// `unit` and `path` both CRDs require; the verbatim Go inputs are checked separately below.
describe('UpstreamTrafficSetting: the Go unit-test table', () => {
  it('#1 unique host is allowed', () => {
    const v = check(uts({ host: HOST }));
    expect(causes(v)).toEqual([]);
    expect(v.warnings).toEqual([]);
  });

  it('#2 duplicate host with test/httpbin1 is denied with the Go message', () => {
    const v = check(uts({ host: HOST }), { state: [uts({ host: HOST }, 'httpbin1')] });
    expect(v.allowed).toBe(false);
    expect(causes(v)).toEqual([
      'spec.host: UpstreamTrafficSetting test/httpbin conflicts with test/httpbin1 since they have the same host httpbin.test.svc.cluster.local',
    ]);
  });

  it('#3 duplicate host on an update of itself is allowed', () => {
    const self = uts({ host: HOST });
    expect(causes(check(self, { state: [self], operation: 'UPDATE' }))).toEqual([]);
  });

  it('#4 vhost 429 and route 503 are allowed', () => {
    const spec = {
      host: HOST,
      rateLimit: { local: { http: httpLimit({ responseStatusCode: 429 }) } },
      httpRoutes: [{ path: '/get', rateLimit: { local: httpLimit({ responseStatusCode: 503 }) } }],
    };
    expect(causes(check(uts(spec)))).toEqual([]);
  });

  it('#5 vhost status code 1 is denied', () => {
    const v = check(uts({ host: HOST, rateLimit: { local: { http: httpLimit({ responseStatusCode: 1 }) } } }));
    expect(causes(v)).toEqual([`spec.rateLimit.local.http.responseStatusCode: Invalid value: 1: Invalid responseStatusCode 1: ${STATUS_TEXT}`]);
  });

  it('#6 route status code 1 with the vhost at 429 is denied', () => {
    const spec = {
      host: HOST,
      rateLimit: { local: { http: httpLimit({ responseStatusCode: 429 }) } },
      httpRoutes: [{ path: '/get', rateLimit: { local: httpLimit({ responseStatusCode: 1 }) } }],
    };
    expect(causes(check(uts(spec)))).toEqual([`spec.httpRoutes[0].rateLimit.local.responseStatusCode: Invalid value: 1: Invalid responseStatusCode 1: ${STATUS_TEXT}`]);
  });

  it('#6 verbatim Go input: the missing path, requests and unit are reported too', () => {
    const spec = {
      host: HOST,
      rateLimit: { local: { http: { responseStatusCode: 429 } } },
      httpRoutes: [{ rateLimit: { local: { responseStatusCode: 1 } } }],
    };
    expect(causes(check(uts(spec)))).toEqual([
      'spec.rateLimit.local.http.requests: Required value',
      'spec.rateLimit.local.http.unit: Required value: must be one of second, minute, hour',
      'spec.httpRoutes[0].path: Required value',
      'spec.httpRoutes[0].rateLimit.local.requests: Required value',
      'spec.httpRoutes[0].rateLimit.local.unit: Required value: must be one of second, minute, hour',
      `spec.httpRoutes[0].rateLimit.local.responseStatusCode: Invalid value: 1: Invalid responseStatusCode 1: ${STATUS_TEXT}`,
    ]);
  });
});

describe('UpstreamTrafficSetting: host', () => {
  it('accepts the three forms the mesh compares', () => {
    for (const host of ['httpbin.test', 'httpbin.test.svc', HOST]) expect(causes(check(uts({ host })))).toEqual([]);
  });

  it('keeps the Go wording for a single label', () => {
    expect(causes(check(uts({ host: 'httpbin' })))).toEqual([
      'spec.host: Invalid value: "httpbin": invalid FQDN specified as host: must be <service>.<namespace>, <service>.<namespace>.svc or <service>.<namespace>.svc.cluster.local',
    ]);
  });

  it('is required and must be a lowercase DNS name', () => {
    expect(causes(check(uts({})))).toEqual(['spec.host: Required value']);
    expect(causes(check(uts({ host: 'HttpBin.test' })))).toEqual([
      'spec.host: Invalid value: "HttpBin.test": invalid FQDN specified as host: must be a lowercase DNS name, for a Service <service>.<namespace>, <service>.<namespace>.svc or <service>.<namespace>.svc.cluster.local',
    ]);
  });

  it('rejects another cluster domain, which never matches', () => {
    expect(causes(check(uts({ host: 'httpbin.test.svc.corp.local' })))).toEqual([
      'spec.host: Invalid value: "httpbin.test.svc.corp.local": must be <service>.<namespace>, <service>.<namespace>.svc or <service>.<namespace>.svc.cluster.local: the mesh compares hosts with cluster domain cluster.local only, so this host matches no Service',
    ]);
  });

  it('warns when the host names another namespace (the mesh looks in the Service namespace only)', () => {
    const v = check(uts({ host: 'httpbin.other.svc.cluster.local' }));
    expect(v.allowed).toBe(true);
    expect(v.warnings).toEqual([
      "spec.host: httpbin.other.svc.cluster.local names namespace other, but the mesh applies an UpstreamTrafficSetting to a Service only from the Service's own namespace (this one is in test)",
    ]);
  });

  it('warns about an external host only while no Egress of the namespace references the setting', () => {
    const setting = uts({ host: 'api.example.com' }, 'ext', 'curl');
    expect(check(setting).warnings).toEqual([
      'spec.host: api.example.com is not a Service name (<service>.<namespace>, <service>.<namespace>.svc or <service>.<namespace>.svc.cluster.local) and no Egress in namespace curl matches this UpstreamTrafficSetting, so it applies to nothing',
    ]);
    const egress: KubeObject = {
      apiVersion: 'policy.flomesh.io/v1alpha1',
      kind: 'Egress',
      metadata: { name: 'api', namespace: 'curl' },
      spec: { matches: [{ apiGroup: 'policy.flomesh.io/v1alpha1', kind: 'UpstreamTrafficSetting', name: 'ext' }] },
    };
    const v = check(setting, { state: [egress] });
    expect(v.warnings).toEqual([]);
    expect(causes(v)).toEqual([]);
  });

  it('two spellings of the same Service conflict', () => {
    const v = check(uts({ host: 'httpbin.test' }), { state: [uts({ host: HOST }, 'httpbin1')] });
    expect(causes(v)).toEqual([
      'spec.host: UpstreamTrafficSetting test/httpbin conflicts with test/httpbin1 since they have the same host httpbin.test (written httpbin.test.svc.cluster.local there)',
    ]);
  });

  it('the same host in another namespace does not conflict (scope: the namespace the lookup searches)', () => {
    const v = check(uts({ host: HOST }), { state: [uts({ host: HOST }, 'httpbin1', 'other')] });
    expect(causes(v)).toEqual([]);
  });

  it('a conflict with the other API group is found', () => {
    const v = check(uts({ host: HOST }), { state: [uts({ host: HOST }, 'httpbin1', 'test', 'policy.flomesh.io')] });
    expect(causes(v)).toEqual([
      'spec.host: UpstreamTrafficSetting test/httpbin conflicts with test/httpbin1 since they have the same host httpbin.test.svc.cluster.local',
    ]);
  });
});

describe('UpstreamTrafficSetting: rate limits', () => {
  it('status codes: 400, 429, 503, 511 pass; 0, 200, 418, 509, 600, 429.5, "429" fail', () => {
    for (const code of [400, 429, 503, 511])
      expect(causes(check(uts({ host: HOST, rateLimit: { local: { http: httpLimit({ responseStatusCode: code }) } } })))).toEqual([]);
    for (const code of [0, 200, 418, 509, 600, 429.5])
      expect(causes(check(uts({ host: HOST, rateLimit: { local: { http: httpLimit({ responseStatusCode: code }) } } })))).toEqual([
        `spec.rateLimit.local.http.responseStatusCode: Invalid value: ${code}: Invalid responseStatusCode ${code}: ${STATUS_TEXT}`,
      ]);
    expect(causes(check(uts({ host: HOST, rateLimit: { local: { http: httpLimit({ responseStatusCode: '429' }) } } })))).toEqual([
      `spec.rateLimit.local.http.responseStatusCode: Invalid value: "429": Invalid responseStatusCode "429": ${STATUS_TEXT}`,
    ]);
  });

  it('requests and connections must be at least 1; burst at least 0; unit from the enum', () => {
    const spec = {
      host: HOST,
      rateLimit: {
        local: {
          tcp: { connections: 0, unit: 'day', burst: -1 },
          http: { requests: 1.5, unit: 'Second', burst: 0 },
        },
      },
    };
    expect(causes(check(uts(spec)))).toEqual([
      'spec.rateLimit.local.tcp.connections: Invalid value: 0: must be an integer between 1 and 2147483647',
      'spec.rateLimit.local.tcp.unit: Unsupported value: "day": supported values: "second", "minute", "hour"',
      'spec.rateLimit.local.tcp.burst: Invalid value: -1: must be an integer between 0 and 2147483647',
      'spec.rateLimit.local.http.requests: Invalid value: 1.5: must be an integer between 1 and 2147483647',
      'spec.rateLimit.local.http.unit: Unsupported value: "Second": supported values: "second", "minute", "hour"',
    ]);
    expect(causes(check(uts({ host: HOST, rateLimit: { local: { tcp: { connections: 1, unit: 'hour' } } } })))).toEqual([]);
  });

  it('response headers need a token name and a non-empty single-line value', () => {
    const headers = [{ name: 'x-ratelimited', value: 'true' }, { name: '', value: 'x' }, { name: 'bad header', value: '' }, { name: 'x-a', value: 'a\r\nb' }];
    expect(causes(check(uts({ host: HOST, rateLimit: { local: { http: httpLimit({ responseHeadersToAdd: headers }) } } })))).toEqual([
      'spec.rateLimit.local.http.responseHeadersToAdd[1].name: Required value',
      "spec.rateLimit.local.http.responseHeadersToAdd[2].name: Invalid value: \"bad header\": must be an HTTP header name (letters, digits and !#$%&'*+-.^_`|~)",
      'spec.rateLimit.local.http.responseHeadersToAdd[2].value: Required value',
      'spec.rateLimit.local.http.responseHeadersToAdd[3].value: Invalid value: "a\\r\\nb": must not contain CR, LF or NUL characters',
    ]);
  });

  it('route paths are required and unique', () => {
    const route = (path: unknown) => ({ path, rateLimit: { local: httpLimit() } });
    expect(causes(check(uts({ host: HOST, httpRoutes: [route('/get'), route(''), route('/get')] })))).toEqual([
      'spec.httpRoutes[1].path: Required value',
      'spec.httpRoutes[2].path: Duplicate value: "/get": also at spec.httpRoutes[0].path',
    ]);
  });
});

describe('UpstreamTrafficSetting: connection settings and circuit breaking', () => {
  const breaking = (cb: Record<string, unknown>) => ({ host: HOST, connectionSettings: { http: { circuitBreaking: cb } } });

  it('a complete, sensible setting passes', () => {
    const spec = {
      host: HOST,
      connectionSettings: {
        tcp: { maxConnections: 100, connectTimeout: '5s' },
        http: {
          maxRequests: 0,
          maxRequestsPerConnection: 10,
          maxPendingRequests: 5,
          maxRetries: 3,
          circuitBreaking: {
            statTimeWindow: '1m',
            minRequestAmount: 1,
            degradedTimeWindow: '1m30s',
            slowTimeThreshold: '500ms',
            slowAmountThreshold: 10,
            slowRatioThreshold: 0.5,
            errorAmountThreshold: 0,
            errorRatioThreshold: 1,
            degradedStatusCode: 409,
            degradedResponseContent: 'degraded',
          },
        },
      },
    };
    expect(causes(check(uts(spec)))).toEqual([]);
  });

  it('counters are non-negative int32; connectTimeout is a positive Go duration', () => {
    const spec = { host: HOST, connectionSettings: { tcp: { maxConnections: -1, connectTimeout: '0s' }, http: { maxRequests: 2147483648, maxRetries: '3' } } };
    expect(causes(check(uts(spec)))).toEqual([
      'spec.connectionSettings.tcp.maxConnections: Invalid value: -1: must be an integer between 0 and 2147483647',
      'spec.connectionSettings.tcp.connectTimeout: Invalid value: "0s": must be a duration greater than 0',
      'spec.connectionSettings.http.maxRequests: Invalid value: 2147483648: must be an integer between 0 and 2147483647',
      'spec.connectionSettings.http.maxRetries: Invalid value: "3": must be an integer between 0 and 2147483647',
    ]);
  });

  it('circuit breaking: windows and minRequestAmount are required; durations, ratios and the status are checked', () => {
    expect(causes(check(uts(breaking({}))))).toEqual([
      'spec.connectionSettings.http.circuitBreaking.statTimeWindow: Required value: must be a duration such as 5s, 1m30s or 500ms (numbers with a unit: ns, us, ms, s, m, h)',
      'spec.connectionSettings.http.circuitBreaking.degradedTimeWindow: Required value: must be a duration such as 5s, 1m30s or 500ms (numbers with a unit: ns, us, ms, s, m, h)',
      'spec.connectionSettings.http.circuitBreaking.minRequestAmount: Required value',
    ]);
    const bad = breaking({
      statTimeWindow: '5',
      degradedTimeWindow: 30,
      slowTimeThreshold: '-1s',
      minRequestAmount: 0,
      slowRatioThreshold: 1.5,
      errorRatioThreshold: -0.1,
      degradedStatusCode: 99,
      degradedResponseContent: 5,
    });
    expect(causes(check(uts(bad)))).toEqual([
      'spec.connectionSettings.http.circuitBreaking.statTimeWindow: Invalid value: "5": must be a duration such as 5s, 1m30s or 500ms (numbers with a unit: ns, us, ms, s, m, h)',
      'spec.connectionSettings.http.circuitBreaking.degradedTimeWindow: Invalid value: 30: must be a duration such as 5s, 1m30s or 500ms (numbers with a unit: ns, us, ms, s, m, h)',
      'spec.connectionSettings.http.circuitBreaking.slowTimeThreshold: Invalid value: "-1s": must be a duration greater than 0',
      'spec.connectionSettings.http.circuitBreaking.minRequestAmount: Invalid value: 0: must be an integer between 1 and 2147483647',
      'spec.connectionSettings.http.circuitBreaking.slowRatioThreshold: Invalid value: 1.5: must be a number between 0 and 1',
      'spec.connectionSettings.http.circuitBreaking.errorRatioThreshold: Invalid value: -0.1: must be a number between 0 and 1',
      'spec.connectionSettings.http.circuitBreaking.degradedStatusCode: Invalid value: 99: must be an integer between 100 and 599',
      'spec.connectionSettings.http.circuitBreaking.degradedResponseContent: Invalid value: 5: must be a string',
    ]);
  });

  it('wrong shapes are reported, never thrown', () => {
    expect(causes(check(uts(null)))).toEqual(['spec: Required value']);
    expect(causes(check(uts({ host: HOST, connectionSettings: [], rateLimit: { local: 'x' }, httpRoutes: [7] })))).toEqual([
      'spec.connectionSettings: Invalid value: []: must be an object',
      'spec.rateLimit.local: Invalid value: "x": must be an object',
      'spec.httpRoutes[0]: Invalid value: 7: must be an object with path and rateLimit',
    ]);
  });
});

describe('parseGoDuration (Go time.ParseDuration)', () => {
  it('parses what Go parses', () => {
    expect(parseGoDuration('5s')).toBe(5e9);
    expect(parseGoDuration('1m30s')).toBe(90e9);
    expect(parseGoDuration('1.5h')).toBe(5400e9);
    expect(parseGoDuration('500ms')).toBe(5e8);
    expect(parseGoDuration('10us')).toBe(1e4);
    expect(parseGoDuration('10µs')).toBe(1e4);
    expect(parseGoDuration('.5s')).toBe(5e8);
    expect(parseGoDuration('0')).toBe(0);
    expect(parseGoDuration('-2s')).toBe(-2e9);
    expect(parseGoDuration('+2s')).toBe(2e9);
  });

  it('rejects what Go rejects', () => {
    for (const s of ['', '5', '5S', 's', '1d', '1m30', '1.2.3s', '.s', ' 5s', '5s ', '-', '3000000h']) expect(parseGoDuration(s)).toBeUndefined();
  });
});

describe('robustness', () => {
  it('never throws on arbitrary JSON in any field', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => {
        check(uts({ host: a, connectionSettings: { tcp: a, http: { circuitBreaking: b, maxRequests: a } }, rateLimit: { local: { tcp: b, http: a } }, httpRoutes: [a, { path: b, rateLimit: { local: a } }] }));
        check(uts(a), { state: [uts({ host: b }, 'other'), uts(b, 'other2')] });
      }),
    );
  });
});
