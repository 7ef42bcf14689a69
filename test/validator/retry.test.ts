import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../src/mesh/objects.js';
import { causes, check } from './helpers.js';

const retry = (spec: unknown, name = 'retry', namespace = 'curl'): KubeObject => ({
  apiVersion: 'policy.flomesh.io/v1alpha1',
  kind: 'Retry',
  metadata: { name, namespace },
  spec,
});
const source = { kind: 'ServiceAccount', name: 'curl', namespace: 'curl' };
const httpbin = { kind: 'Service', name: 'httpbin', namespace: 'httpbin' };
const policy = { retryOn: '5xx', perTryTimeout: '1s', numRetries: 5, retryBackoffBaseInterval: '1s' };
const DURATION = 'must be a duration such as 5s, 1m30s or 500ms (numbers with a unit: ns, us, ms, s, m, h)';

describe('Retry', () => {
  it('the documented example is allowed', () => {
    const v = check(retry({ source, destinations: [httpbin], retryPolicy: policy }));
    expect(causes(v)).toEqual([]);
    expect(v.warnings).toEqual([]);
  });

  it('FSM requires only retryOn in retryPolicy; numRetries 0 is fine', () => {
    expect(causes(check(retry({ source, destinations: [httpbin], retryPolicy: { retryOn: '5xx,connect-failure', numRetries: 0 } })))).toEqual([]);
  });

  it('the source must be a ServiceAccount, the only kind the mesh matches', () => {
    expect(causes(check(retry({ source: { ...source, kind: 'Service' }, destinations: [httpbin], retryPolicy: policy })))).toEqual([
      'spec.source.kind: Invalid value: "Service": must be ServiceAccount: the mesh only matches Retry sources of kind ServiceAccount, so this policy would never apply',
    ]);
  });

  it('destinations must be Services', () => {
    expect(causes(check(retry({ source, destinations: [httpbin, { ...httpbin, kind: 'ServiceAccount' }], retryPolicy: policy })))).toEqual([
      'spec.destinations[1].kind: Invalid value: "ServiceAccount": must be Service: the mesh skips other kinds with the log line "Retry policy destinations must be a service"',
    ]);
  });

  it('source, destinations and retryPolicy are required', () => {
    expect(causes(check(retry({})))).toEqual([
      'spec.source: Required value',
      'spec.destinations: Required value',
      'spec.retryPolicy: Required value',
    ]);
    expect(causes(check(retry({ source: {}, destinations: [], retryPolicy: {} })))).toEqual([
      'spec.source.kind: Required value: must be ServiceAccount',
      'spec.source.name: Required value',
      'spec.source.namespace: Required value',
      'spec.destinations: Required value: must have at least 1 item',
      'spec.retryPolicy.retryOn: Required value',
    ]);
  });

  it('names must be Kubernetes names', () => {
    const v = check(retry({ source: { ...source, name: 'Curl' }, destinations: [{ ...httpbin, name: 'http.bin', namespace: 'Http' }], retryPolicy: policy }));
    expect(causes(v)).toEqual([
      "spec.source.name: Invalid value: \"Curl\": must be a lowercase RFC 1123 subdomain (dot-separated labels of a-z, 0-9 and '-', at most 253 characters)",
      "spec.destinations[0].name: Invalid value: \"http.bin\": must be a lowercase RFC 1123 label (a-z, 0-9 and '-', starting and ending with an alphanumeric character, at most 63 characters)",
      "spec.destinations[0].namespace: Invalid value: \"Http\": must be a lowercase RFC 1123 label (a-z, 0-9 and '-', starting and ending with an alphanumeric character, at most 63 characters)",
    ]);
  });

  it('retryPolicy: blank retryOn, bad durations and counts are denied', () => {
    const bad = { retryOn: '  ', perTryTimeout: '1', retryBackoffBaseInterval: '0s', numRetries: -1 };
    expect(causes(check(retry({ source, destinations: [httpbin], retryPolicy: bad })))).toEqual([
      'spec.retryPolicy.retryOn: Invalid value: "  ": must list retry conditions such as 5xx or connect-failure, separated by commas',
      `spec.retryPolicy.perTryTimeout: Invalid value: "1": ${DURATION}`,
      'spec.retryPolicy.retryBackoffBaseInterval: Invalid value: "0s": must be a duration greater than 0',
      'spec.retryPolicy.numRetries: Invalid value: -1: must be an integer between 0 and 2147483647',
    ]);
    const edge = { retryOn: '5xx', perTryTimeout: '1m30s', retryBackoffBaseInterval: '25ms', numRetries: 2147483647 };
    expect(causes(check(retry({ source, destinations: [httpbin], retryPolicy: edge })))).toEqual([]);
    expect(causes(check(retry({ source, destinations: [httpbin], retryPolicy: { ...edge, numRetries: 1.5, perTryTimeout: 1 } })))).toEqual([
      `spec.retryPolicy.perTryTimeout: Invalid value: 1: ${DURATION}`,
      'spec.retryPolicy.numRetries: Invalid value: 1.5: must be an integer between 0 and 2147483647',
    ]);
  });

  it('another Retry for the same source and destination (any namespace) gets a warning naming it', () => {
    const other = retry({ source, destinations: [httpbin], retryPolicy: policy }, 'older', 'httpbin');
    const v = check(retry({ source, destinations: [{ ...httpbin, name: 'other' }, httpbin], retryPolicy: policy }), { state: [other] });
    expect(v.allowed).toBe(true);
    expect(v.warnings).toEqual([
      'spec.destinations[1]: Retry httpbin/older also covers ServiceAccount curl/curl to Service httpbin/httpbin; the mesh applies only one of them, chosen arbitrarily',
    ]);
  });

  it('a Retry for another source, or an update of itself, gets no warning', () => {
    const self = retry({ source, destinations: [httpbin], retryPolicy: policy });
    const otherSource = retry({ source: { ...source, name: 'other' }, destinations: [httpbin], retryPolicy: policy }, 'r2');
    expect(check(self, { state: [self, otherSource], operation: 'UPDATE' }).warnings).toEqual([]);
  });

  it('wrong shapes are reported, never thrown', () => {
    expect(causes(check(retry(7)))).toEqual(['spec: Required value']);
    expect(causes(check(retry({ source: 'sa', destinations: [null], retryPolicy: [] })))).toEqual([
      'spec.source: Invalid value: "sa": must be an object with kind, name and namespace',
      'spec.destinations[0]: Required value',
      'spec.retryPolicy: Invalid value: []: must be an object with retryOn, perTryTimeout, numRetries and retryBackoffBaseInterval',
    ]);
  });
});

describe('robustness', () => {
  it('never throws on arbitrary JSON in any field', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => {
        check(retry({ source: a, destinations: [a, b], retryPolicy: b }), { state: [retry(a, 'other'), retry({ source, destinations: [b] }, 'other2')] });
        check(retry({ source: { kind: 'ServiceAccount', name: a, namespace: b }, destinations: b, retryPolicy: { retryOn: a, perTryTimeout: b, numRetries: a } }));
      }),
    );
  });
});
