import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../src/mesh/objects.js';
import { causes, check, monitoredNamespace } from './helpers.js';

type Kind = 'IngressBackend' | 'AccessControl';

const policy = (kind: Kind, spec: unknown, name = 'test-1', namespace = 'default', group = 'policy.flomesh.io'): KubeObject => ({
  apiVersion: `${group}/v1alpha1`,
  kind,
  metadata: { name, namespace },
  spec,
});
const ib = (spec: unknown, name?: string, namespace?: string): KubeObject => policy('IngressBackend', spec, name, namespace);
const acl = (spec: unknown, name?: string, namespace?: string): KubeObject => policy('AccessControl', spec, name, namespace);

const http80 = { name: 'test', port: { number: 80, protocol: 'http' } };
const ipRange = { kind: 'IPRange', name: '10.0.0.0/10' };
const principal = { kind: 'AuthenticatedPrincipal', name: 'client.ns.cluster.local' };

const CONFLICT = (kind: Kind) =>
  `spec.backends[0]: backend test port 80 is already specified in ${kind} default/test-2; ${kind} default/test-1 conflicts with default/test-2: Backend test specified in test-1 and test-2 conflicts`;
const MTLS = (subject: string, backend = 'https port 80') =>
  `spec.sources: Required value: HTTPS ${subject} with client certificate validation enabled must specify at least one 'AuthenticatedPrincipal' source (backend ${backend} is https and tls.skipClientCertValidation is not true)`;

// The 18 cases of the Go TestIngressBackendValidator / TestAccessControlValidator tables of the mesh, run against
// BOTH validators: the Go AccessControl table called the IngressBackend validator by mistake. Sources are added where
// the Go input had none, because `sources` is required here (it is in both CRDs); the case's point is kept.
for (const [kind, subject, make] of [
  ['IngressBackend', 'ingress', ib],
  ['AccessControl', 'acl', acl],
] as const) {
  describe(`${kind}: the Go unit-test table`, () => {
    it('#1 valid protocol http is allowed', () => {
      expect(causes(check(make({ backends: [http80], sources: [ipRange] })))).toEqual([]);
    });

    it('#2 invalid protocol is denied with the Go message (now naming grpc too)', () => {
      const v = check(make({ backends: [{ name: 'test', port: { number: 80, protocol: 'invalid' } }], sources: [ipRange] }));
      expect(v.allowed).toBe(false);
      expect(causes(v)).toEqual([
        "spec.backends[0].port.protocol: Invalid value: \"invalid\": Expected 'port.protocol' to be 'http', 'https' or 'grpc', got: invalid",
      ]);
    });

    it('#3 https with tls.skipClientCertValidation: true and no principal is allowed', () => {
      const backends = [{ name: 'https', port: { number: 80, protocol: 'https' }, tls: { skipClientCertValidation: true } }];
      expect(causes(check(make({ backends, sources: [ipRange] })))).toEqual([]);
    });

    it('#3 as written in Go (misspelt skipClientCertificateValidation) means validation ON and is denied', () => {
      const backends = [{ name: 'https', port: { number: 80, protocol: 'https' }, tls: { skipClientCertificateValidation: true } }];
      expect(causes(check(make({ backends, sources: [ipRange] })))).toEqual([
        'spec.backends[0].tls.skipClientCertValidation: Required value: must be true or false when tls is set',
        MTLS(subject),
      ]);
    });

    it('#4 (vacuous in Go) https with validation on and no AuthenticatedPrincipal is denied', () => {
      const backends = [{ name: 'https', port: { number: 80, protocol: 'https' }, tls: { skipClientCertValidation: false } }];
      const v = check(make({ backends, sources: [ipRange] }));
      expect(v.allowed).toBe(false);
      expect(causes(v)).toEqual([MTLS(subject)]);
    });

    it('#4 verbatim Go input (no sources, misspelt tls key): every problem is reported', () => {
      const backends = [{ name: 'https', port: { number: 80, protocol: 'https' }, tls: { skipClientCertificateValidation: false } }];
      expect(causes(check(make({ backends })))).toEqual([
        'spec.backends[0].tls.skipClientCertValidation: Required value: must be true or false when tls is set',
        'spec.sources: Required value',
        MTLS(subject),
      ]);
    });

    it('#5 https with validation on and an AuthenticatedPrincipal source is allowed', () => {
      const backends = [{ name: 'https', port: { number: 80, protocol: 'https' }, tls: { skipClientCertValidation: false } }];
      expect(causes(check(make({ backends, sources: [principal] })))).toEqual([]);
    });

    it('#6 IPRange 10.0.0.0/10 is allowed', () => {
      expect(causes(check(make({ backends: [http80], sources: [ipRange] })))).toEqual([]);
    });

    it('#7 IPRange "invalid" is denied with the Go message', () => {
      expect(causes(check(make({ backends: [http80], sources: [{ kind: 'IPRange', name: 'invalid' }] })))).toEqual([
        "spec.sources[0].name: Invalid value: \"invalid\": Invalid 'source.name' value specified for IPRange. Expected CIDR notation 'a.b.c.d/x', got 'invalid' (or an IPv6 CIDR such as fd00::/8)",
      ]);
    });

    it('#8 Service source foo/bar is allowed (with a warning: bar is not monitored)', () => {
      const v = check(make({ backends: [http80], sources: [{ kind: 'Service', name: 'foo', namespace: 'bar' }] }));
      expect(v.allowed).toBe(true);
      expect(v.warnings).toEqual([
        'spec.sources[0].namespace: Service source bar/foo is in a namespace not monitored by the mesh (no label flomesh.io/monitored-by=fsm): its endpoints are unknown, so its traffic is denied',
      ]);
    });

    it('#9 Service source without name is denied', () => {
      expect(causes(check(make({ backends: [http80], sources: [{ kind: 'Service', namespace: 'bar' }] })))).toEqual([
        "spec.sources[0].name: Required value: 'source.name' not specified for source kind Service",
      ]);
    });

    it('#10 Service source without namespace is denied', () => {
      expect(causes(check(make({ backends: [http80], sources: [{ kind: 'Service', name: 'bar' }] })))).toEqual([
        "spec.sources[0].namespace: Required value: 'source.namespace' not specified for source kind Service",
      ]);
    });

    it('#11 AuthenticatedPrincipal with an empty name is denied', () => {
      expect(causes(check(make({ backends: [http80], sources: [{ kind: 'AuthenticatedPrincipal', name: '' }] })))).toEqual([
        "spec.sources[0].name: Required value: 'source.name' not specified for source kind AuthenticatedPrincipal",
      ]);
    });

    it('#12/#13 an unknown source kind is denied with the Go message', () => {
      expect(causes(check(make({ backends: [http80], sources: [{ kind: 'invalid' }] })))).toEqual([
        "spec.sources[0].kind: Invalid value: \"invalid\": Invalid 'source.kind' value specified. Must be one of: Service, AuthenticatedPrincipal, IPRange",
      ]);
    });

    it('#14 duplicate backends (verbatim: the second has no protocol) report both problems', () => {
      const v = check(make({ backends: [http80, { name: 'test', port: { number: 80 } }], sources: [ipRange] }));
      expect(causes(v)).toEqual([
        "spec.backends[1].port.protocol: Required value: Expected 'port.protocol' to be 'http', 'https' or 'grpc'",
        'spec.backends[1]: Duplicate value: "test:80": Duplicate backends detected with service name: test and port: 80 (also at spec.backends[0])',
      ]);
      expect(v.errors.map((e) => e.type)).toEqual(['FieldValueRequired', 'FieldValueDuplicate']);
    });

    it('#15 the same backend name on different ports is allowed', () => {
      const backends = [http80, { name: 'test', port: { number: 8080, protocol: 'http' } }];
      expect(causes(check(make({ backends, sources: [ipRange] })))).toEqual([]);
    });

    it('#16 (vacuous in Go) the same backend port in another object of the namespace is denied, naming it', () => {
      const v = check(make({ backends: [http80], sources: [ipRange] }), { state: [make({ backends: [http80], sources: [ipRange] }, 'test-2')] });
      expect(v.allowed).toBe(false);
      expect(causes(v)).toEqual([CONFLICT(kind)]);
      expect(causes(v)[0]).not.toContain('\n');
    });

    it('#17 another object on another port of the same backend is allowed', () => {
      const other = make({ backends: [{ name: 'test', port: { number: 8080, protocol: 'http' } }], sources: [ipRange] }, 'test-2');
      expect(causes(check(make({ backends: [http80], sources: [ipRange] }), { state: [other] }))).toEqual([]);
    });

    it('#18 an update of the object itself is allowed', () => {
      const self = make({ backends: [http80], sources: [ipRange] });
      expect(causes(check(self, { state: [self], operation: 'UPDATE' }))).toEqual([]);
    });
  });

  describe(`${kind}: rules beyond the Go validator`, () => {
    it('the same backend port in ANOTHER namespace is allowed (the lookup is per namespace)', () => {
      const other = make({ backends: [http80], sources: [ipRange] }, 'test-2', 'other');
      expect(causes(check(make({ backends: [http80], sources: [ipRange] }), { state: [other] }))).toEqual([]);
    });

    it('a conflict with a policy published under the other API group is still found', () => {
      const other = policy(kind, { backends: [http80], sources: [ipRange] }, 'test-2', 'default', 'policy.openservicemesh.io');
      expect(causes(check(make({ backends: [http80], sources: [ipRange] }), { state: [other] }))).toEqual([CONFLICT(kind)]);
    });

    it('each conflicting object is named', () => {
      const state = [make({ backends: [http80], sources: [ipRange] }, 'test-2'), make({ backends: [http80], sources: [ipRange] }, 'test-3')];
      expect(causes(check(make({ backends: [http80], sources: [ipRange] }), { state }))).toEqual([
        CONFLICT(kind),
        CONFLICT(kind).replace(/test-2/g, 'test-3'),
      ]);
    });

    it('grpc with skipClientCertValidation: true and no AuthenticatedPrincipal is allowed (Go denied it)', () => {
      const backends = [{ name: 'test', port: { number: 80, protocol: 'grpc' }, tls: { skipClientCertValidation: true } }];
      expect(causes(check(make({ backends, sources: [ipRange] })))).toEqual([]);
    });

    it('https without any tls block validates client certificates, so it needs a principal', () => {
      const backends = [{ name: 'web', port: { number: 443, protocol: 'HTTPS' } }];
      expect(causes(check(make({ backends, sources: [ipRange] })))).toEqual([MTLS(subject, 'web port 443')]);
      expect(causes(check(make({ backends, sources: [ipRange, principal] })))).toEqual([]);
    });

    it('protocols are case-insensitive, like the mesh', () => {
      const backends = [{ name: 'a', port: { number: 80, protocol: 'HTTP' } }, { name: 'b', port: { number: 81, protocol: 'gRPC' } }];
      expect(causes(check(make({ backends, sources: [ipRange] })))).toEqual([]);
    });

    it('tcp is not an ingress protocol', () => {
      expect(causes(check(make({ backends: [{ name: 'a', port: { number: 80, protocol: 'tcp' } }], sources: [ipRange] })))).toEqual([
        "spec.backends[0].port.protocol: Invalid value: \"tcp\": Expected 'port.protocol' to be 'http', 'https' or 'grpc', got: tcp",
      ]);
    });

    it('port numbers: 1 and 65535 pass, 0, 65536, 80.5 and "80" fail, absent is required', () => {
      const port = (number: unknown) => ({ name: 'test', port: { number, protocol: 'http' } });
      expect(causes(check(make({ backends: [port(1), { ...port(65535), name: 'other' }], sources: [ipRange] })))).toEqual([]);
      expect(causes(check(make({ backends: [port(0), port(65536), port(80.5), port('80'), port(undefined)], sources: [ipRange] })))).toEqual([
        'spec.backends[0].port.number: Invalid value: 0: must be an integer between 1 and 65535',
        'spec.backends[1].port.number: Invalid value: 65536: must be an integer between 1 and 65535',
        'spec.backends[2].port.number: Invalid value: 80.5: must be an integer between 1 and 65535',
        'spec.backends[3].port.number: Invalid value: "80": must be an integer between 1 and 65535',
        'spec.backends[4].port.number: Required value',
      ]);
    });

    it('backend name and port are required; the name must be a Service name', () => {
      expect(causes(check(make({ backends: [{ port: { number: 80, protocol: 'http' } }, { name: 'Test_1', port: { number: 80, protocol: 'http' } }, { name: 'x' }], sources: [ipRange] })))).toEqual([
        'spec.backends[0].name: Required value',
        "spec.backends[1].name: Invalid value: \"Test_1\": must be a lowercase RFC 1123 label (a-z, 0-9 and '-', starting and ending with an alphanumeric character, at most 63 characters)",
        'spec.backends[2].port: Required value',
      ]);
    });

    it('IPRange accepts IPv6 and rejects prefixes out of range', () => {
      expect(causes(check(make({ backends: [http80], sources: [{ kind: 'IPRange', name: 'fd00::/8' }, { kind: 'IPRange', name: '0.0.0.0/0' }] })))).toEqual([]);
      expect(causes(check(make({ backends: [http80], sources: [{ kind: 'IPRange', name: '10.0.0.0/33' }, { kind: 'IPRange' }] })))).toEqual([
        "spec.sources[0].name: Invalid value: \"10.0.0.0/33\": Invalid 'source.name' value specified for IPRange. Expected CIDR notation 'a.b.c.d/x', got '10.0.0.0/33' (or an IPv6 CIDR such as fd00::/8)",
        "spec.sources[1].name: Required value: Invalid 'source.name' value specified for IPRange. Expected CIDR notation 'a.b.c.d/x' (or an IPv6 CIDR such as fd00::/8)",
      ]);
    });

    it('a Service source in a monitored namespace gets no warning', () => {
      const v = check(make({ backends: [http80], sources: [{ kind: 'Service', name: 'ingress-nginx-controller', namespace: 'ingress-nginx' }] }), {
        state: [monitoredNamespace('ingress-nginx')],
      });
      expect(v.warnings).toEqual([]);
      expect(causes(v)).toEqual([]);
    });

    it('sources are required, kinds are required', () => {
      expect(causes(check(make({ backends: [http80], sources: [] })))).toEqual(['spec.sources: Required value: must have at least 1 item']);
      expect(causes(check(make({ backends: [http80], sources: [{ name: 'x' }] })))).toEqual([
        "spec.sources[0].kind: Required value: Invalid 'source.kind' value specified. Must be one of: Service, AuthenticatedPrincipal, IPRange",
      ]);
    });

    it('tls: sniHosts must be DNS names (a leading *. is fine); skipClientCertValidation must be a boolean', () => {
      const tls = { skipClientCertValidation: 'yes', sniHosts: ['httpbin.httpbin.svc.cluster.local', '*.example.com', 'Bad_Host', 42] };
      expect(causes(check(make({ backends: [{ name: 'test', port: { number: 80, protocol: 'http' }, tls }], sources: [ipRange] })))).toEqual([
        'spec.backends[0].tls.skipClientCertValidation: Invalid value: "yes": must be true or false',
        "spec.backends[0].tls.sniHosts[2]: Invalid value: \"Bad_Host\": must be a lowercase DNS name such as httpbin.httpbin.svc.cluster.local, optionally starting with '*.'",
        "spec.backends[0].tls.sniHosts[3]: Invalid value: 42: must be a lowercase DNS name such as httpbin.httpbin.svc.cluster.local, optionally starting with '*.'",
      ]);
    });

    it('wrong shapes are reported, never thrown', () => {
      expect(causes(check(make('nope')))).toEqual(['spec: Required value']);
      expect(causes(check(make({ backends: 'x', sources: [null, 7] })))).toEqual([
        'spec.backends: Invalid value: "x": must be a list',
        'spec.sources[0]: Invalid value: null: must be an object with kind and name',
        'spec.sources[1]: Invalid value: 7: must be an object with kind and name',
      ]);
      expect(causes(check(make({ backends: [null, { name: 'a', port: 80, tls: 'on' }], sources: [ipRange] })))).toEqual([
        'spec.backends[0]: Invalid value: null: must be an object with name and port',
        'spec.backends[1].tls: Invalid value: "on": must be an object with skipClientCertValidation and optional sniHosts',
        'spec.backends[1].port: Invalid value: 80: must be an object with number and protocol',
      ]);
    });
  });
}

describe('IngressBackend and AccessControl differ', () => {
  it('IngressBackend requires backends', () => {
    expect(causes(check(ib({ sources: [ipRange] })))).toEqual(['spec.backends: Required value']);
    expect(causes(check(ib({ backends: [], sources: [ipRange] })))).toEqual(['spec.backends: Required value: must have at least 1 item']);
  });

  it('AccessControl may omit backends (FSM applies it to every Service)', () => {
    const v = check(acl({ sources: [ipRange] }));
    expect(causes(v)).toEqual([]);
    expect(v.warnings).toEqual([]);
  });

  it('two AccessControls without backends (any namespace) get a warning naming the other', () => {
    const v = check(acl({ sources: [ipRange] }), { state: [acl({ sources: [ipRange] }, 'catch-all', 'other')] });
    expect(v.allowed).toBe(true);
    expect(v.warnings).toEqual([
      'spec.backends: no backends: this AccessControl applies to every Service without its own AccessControl, and so does AccessControl other/catch-all; the mesh picks one of them arbitrarily',
    ]);
  });

  it('an IngressBackend and an AccessControl for the same backend port do not conflict', () => {
    const other = acl({ backends: [http80], sources: [ipRange] }, 'test-2');
    expect(causes(check(ib({ backends: [http80], sources: [ipRange] }), { state: [other] }))).toEqual([]);
  });

  it('osm-edge group works the same', () => {
    const obj = policy('IngressBackend', { backends: [http80], sources: [{ kind: 'Service', name: 'foo', namespace: 'bar' }] }, 'x', 'default', 'policy.openservicemesh.io');
    const v = check(obj, { flavor: 'osm-edge', state: [monitoredNamespace('bar', 'osm', 'openservicemesh.io')] });
    expect(v.known).toBe(true);
    expect(v.warnings).toEqual([]);
    expect(causes(v)).toEqual([]);
  });
});

describe('robustness', () => {
  it('never throws on arbitrary JSON in any field', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), fc.jsonValue(), (backend, source, spec) => {
        for (const make of [ib, acl]) {
          check(make({ backends: [backend, { name: 'x', port: backend, tls: source }], sources: [source, { kind: 'IPRange', name: backend }] }));
          check(make(spec), { state: [make({ backends: [backend] }, 'other'), make(spec, 'other2')] });
        }
      }),
    );
  });
});
