import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../src/mesh/objects.js';
import { causes, check } from './helpers.js';

const eg = (spec: unknown, name = 'global-egress', namespace = 'fsm-system', group = 'policy.flomesh.io'): KubeObject => ({
  apiVersion: `${group}/v1alpha1`,
  kind: 'EgressGateway',
  metadata: { name, namespace },
  spec,
});
const gateway = { service: 'fsm-egress-gateway', namespace: 'fsm-system', weight: 1 };

describe('EgressGateway: one global list per cluster', () => {
  it('a global list is allowed when no other object has one', () => {
    const v = check(eg({ global: [gateway] }), { state: [eg({ global: [] }, 'empty', 'other'), eg({}, 'no-global', 'other')] });
    expect(causes(v)).toEqual([]);
  });

  it('a second global list (any namespace, any group) is denied with the Go message, naming the other object', () => {
    const v = check(eg({ global: [gateway] }), { state: [eg({ global: [gateway] }, 'gw', 'osm-system', 'policy.openservicemesh.io')] });
    expect(v.allowed).toBe(false);
    expect(causes(v)).toEqual([
      'spec.global: Redefinition of global egress gateway policy and conflict with osm-system.gw (EgressGateway osm-system/gw already defines spec.global; only one object in the cluster may)',
    ]);
  });

  it('an update of the object that holds the global list is allowed', () => {
    const self = eg({ global: [gateway] });
    expect(causes(check(eg({ global: [{ ...gateway, weight: 2 }] }), { state: [self], operation: 'UPDATE' }))).toEqual([]);
  });

  it('an object without a global list never conflicts', () => {
    const rules = [{ egressPolicies: [{ name: 'e', namespace: 'curl' }], egressGateways: [gateway] }];
    expect(causes(check(eg({ rules }, 'rules-only', 'curl'), { state: [eg({ global: [gateway] })] }))).toEqual([]);
  });
});

describe('EgressGateway: fields', () => {
  it('global entries need service and namespace; weight is an integer >= 0', () => {
    const global = [{ service: 'gw', namespace: 'ns', weight: 0 }, { weight: -1 }, { service: 'GW', namespace: 'ns', weight: 1.5 }, 'x'];
    expect(causes(check(eg({ global })))).toEqual([
      'spec.global[1].service: Required value',
      'spec.global[1].namespace: Required value',
      'spec.global[1].weight: Invalid value: -1: must be an integer between 0 and 2147483647',
      "spec.global[2].service: Invalid value: \"GW\": must be a lowercase RFC 1123 label (a-z, 0-9 and '-', starting and ending with an alphanumeric character, at most 63 characters)",
      'spec.global[2].weight: Invalid value: 1.5: must be an integer between 0 and 2147483647',
      'spec.global[3]: Invalid value: "x": must be an object with service, namespace and weight',
    ]);
  });

  it('osm-edge rules need egress policies and gateways', () => {
    const rules = [
      { egressPolicies: [{ name: 'e', namespace: 'curl' }], egressGateways: [gateway] },
      {},
      { egressPolicies: [{ name: '' }, 5], egressGateways: [] },
    ];
    expect(causes(check(eg({ rules }, 'r', 'curl', 'policy.openservicemesh.io'), { flavor: 'osm-edge' }))).toEqual([
      'spec.rules[1].egressPolicies: Required value',
      'spec.rules[1].egressGateways: Required value',
      'spec.rules[2].egressPolicies[0].name: Required value',
      'spec.rules[2].egressPolicies[0].namespace: Required value',
      'spec.rules[2].egressPolicies[1]: Invalid value: 5: must be an object with name and namespace',
      'spec.rules[2].egressGateways: Required value: must have at least 1 item',
    ]);
  });

  it('wrong shapes are reported, never thrown', () => {
    expect(causes(check(eg(undefined)))).toEqual([]);
    expect(causes(check(eg('x')))).toEqual(['spec: Invalid value: "x": must be an object']);
    expect(causes(check(eg({ global: {}, rules: 'r' })))).toEqual([
      'spec.global: Invalid value: {}: must be a list',
      'spec.rules: Invalid value: "r": must be a list',
    ]);
  });
});

describe('robustness', () => {
  it('never throws on arbitrary JSON in any field', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => {
        check(eg({ global: [a, b], rules: [a, { egressPolicies: [b], egressGateways: [a] }] }), { state: [eg(a, 'other'), eg({ global: b }, 'other2')] });
        check(eg({ global: a, rules: b }));
      }),
    );
  });
});
