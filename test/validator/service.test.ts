import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../src/mesh/objects.js';
import { loadFixture } from '../support/fixtures.js';
import { causes, check, monitoredNamespace } from './helpers.js';

const service = (namespace: string, name: string, ports: unknown): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace },
  spec: { ports },
});

const egress = (namespace: string, name: string, sourceNs: string, ports: Record<string, unknown>[], hosts?: string[]): KubeObject => ({
  apiVersion: 'policy.flomesh.io/v1alpha1',
  kind: 'Egress',
  metadata: { name, namespace },
  spec: { sources: [{ kind: 'ServiceAccount', name: 'curl', namespace: sourceNs }], ports, ...(hosts ? { hosts } : {}) },
});

const mesh = [monitoredNamespace('db'), monitoredNamespace('curl'), monitoredNamespace('web')];

describe('Service: only in monitored namespaces, never denied', () => {
  it('the fixture service-create.json (mysql 3306, no appProtocol) is admitted without findings', () => {
    const obj = loadFixture('service-create.json').review.request.object as KubeObject;
    expect(check(obj, { state: [monitoredNamespace('httpbin')] })).toMatchObject({ allowed: true, known: true, errors: [], warnings: [] });
  });

  it('a namespace outside the mesh gets no findings at all', () => {
    const obj = service('plain', 'dns', [{ name: 'dns', port: 53, protocol: 'UDP' }, { port: 80, appProtocol: 'HTTP' }]);
    expect(check(obj, { state: mesh })).toMatchObject({ allowed: true, errors: [], warnings: [] });
  });

  it('wrong shapes do not throw and are not denied', () => {
    for (const ports of [undefined, 'x', [null, 7, { port: 'a', appProtocol: 5 }]]) {
      const v = check(service('db', 's', ports), { state: mesh });
      expect(v.allowed).toBe(true);
      expect(causes(v)).toEqual([]);
    }
    expect(check(service('db', 's', [{ port: 1, appProtocol: 5 }]), { state: mesh }).warnings).toEqual([
      'spec.ports[0].appProtocol: appProtocol "5" is not one the mesh handles (http, https, tcp, tcp-server-first, grpc; case-sensitive)',
    ]);
  });
});

describe('Service: appProtocol and transport', () => {
  it('recognised appProtocol values pass', () => {
    const ports = ['http', 'https', 'tcp', 'tcp-server-first', 'grpc'].map((appProtocol, i) => ({ port: 1000 + i, appProtocol }));
    expect(check(service('db', 's', ports), { state: mesh }).warnings).toEqual([]);
  });

  it('unknown values are warned, with a hint for a wrong case (the mesh compares case-sensitively)', () => {
    const v = check(service('db', 's', [{ port: 80, appProtocol: 'HTTP' }, { port: 3306, appProtocol: 'mysql' }, { port: 8080, appProtocol: 'kubernetes.io/h2c' }]), { state: mesh });
    expect(v.allowed).toBe(true);
    expect(v.warnings).toEqual([
      'spec.ports[0].appProtocol: appProtocol "HTTP" is not one the mesh handles (http, https, tcp, tcp-server-first, grpc; case-sensitive); did you mean "http"?',
      'spec.ports[1].appProtocol: appProtocol "mysql" is not one the mesh handles (http, https, tcp, tcp-server-first, grpc; case-sensitive)',
      'spec.ports[2].appProtocol: appProtocol "kubernetes.io/h2c" is not one the mesh handles (http, https, tcp, tcp-server-first, grpc; case-sensitive)',
    ]);
  });

  it('UDP and SCTP ports that would default to http are warned; a prefix or appProtocol silences it', () => {
    const v = check(
      service('db', 'dns', [
        { name: 'dns', port: 53, protocol: 'UDP' },
        { port: 9899, protocol: 'SCTP' },
        { name: 'tcp-dns', port: 54, protocol: 'UDP' },
        { name: 'x', port: 55, protocol: 'UDP', appProtocol: 'tcp' },
        { name: 'dns-tcp', port: 53, protocol: 'TCP' },
      ]),
      { state: mesh },
    );
    expect(v.warnings).toEqual([
      'spec.ports[0]: UDP port 53 has no appProtocol or protocol name prefix, so the mesh configures it as http; set appProtocol: tcp',
      'spec.ports[1]: SCTP port 9899 has no appProtocol or protocol name prefix, so the mesh configures it as http; set appProtocol: tcp',
    ]);
  });
});

describe('Service: server-first port collisions (warnings)', () => {
  const mysql = service('db', 'mysql', [{ name: 'mysql', port: 3306, appProtocol: 'tcp-server-first' }]);

  it('tcp-server-first here while an Egress of a mesh client uses the port for http or https', () => {
    const state = [
      ...mesh,
      egress('curl', 'db-http', 'curl', [{ number: 3306, protocol: 'http' }], ['db.example.com']),
      egress('curl', 'db-tls', 'curl', [{ number: 3306, protocol: 'https' }]),
      egress('curl', 'db-tcp', 'curl', [{ number: 3306, protocol: 'tcp' }]),
      egress('curl', 'other-port', 'curl', [{ number: 3307, protocol: 'http' }], ['a.com']),
      // sources outside the mesh have no proxy to confuse
      egress('curl', 'outside', 'plain', [{ number: 3306, protocol: 'http' }], ['a.com']),
    ];
    const v = check(mysql, { state });
    expect(v.allowed).toBe(true);
    expect(v.warnings).toEqual([
      'spec.ports[0]: port 3306 is tcp-server-first here but http in Egress curl/db-http; that egress stops matching for its sources that can reach this Service',
      'spec.ports[0]: port 3306 is tcp-server-first here but https (without hosts) in Egress curl/db-tls; that egress stops matching for its sources that can reach this Service',
    ]);
  });

  it('the port name prefix counts as tcp-server-first too', () => {
    const v = check(service('db', 'pg', [{ name: 'tcp-server-first-pg', port: 5432 }]), { state: [...mesh, egress('curl', 'pg', 'curl', [{ number: 5432, protocol: 'http' }], ['pg.example.com'])] });
    expect(v.warnings).toEqual(['spec.ports[0]: port 5432 is tcp-server-first here but http in Egress curl/pg; that egress stops matching for its sources that can reach this Service']);
  });

  it('a detection-dependent port here while an Egress declares it tcp-server-first (fixture service-create.json)', () => {
    const obj = loadFixture('service-create.json').review.request.object as KubeObject;
    const v = check(obj, { state: [monitoredNamespace('httpbin'), ...mesh, egress('curl', 'tcp-443', 'curl', [{ number: 443, protocol: 'tcp' }, { number: 3306, protocol: 'tcp-server-first' }])] });
    expect(v.allowed).toBe(true);
    expect(v.warnings).toEqual(['spec.ports[0]: port 3306 is http here but tcp-server-first in Egress curl/tcp-443; its sources lose protocol detection on port 3306 for this Service too']);
  });

  it('tcp-server-first here and detection-dependent on another monitored Service, both ways', () => {
    const web = service('web', 'api', [{ name: 'http', port: 3306 }, { name: 'grpc-x', port: 5432 }]);
    const outside = service('plain', 'api', [{ name: 'http', port: 3306 }]);
    const v = check(mysql, { state: [...mesh, web, outside] });
    expect(v.warnings).toEqual(['spec.ports[0]: port 3306 is tcp-server-first here but http on Service web/api port "http" (3306); a client of both loses protocol detection on port 3306']);
    const w = check(web, { state: [...mesh, mysql] });
    expect(w.warnings).toEqual(['spec.ports[0]: port 3306 is http here but tcp-server-first on Service db/mysql port "mysql" (3306); a client of both loses protocol detection on port 3306']);
  });

  it('tcp on the same number, its own older version, or both server-first: nothing', () => {
    const tcp = service('web', 'raw', [{ name: 'tcp-raw', port: 3306 }]);
    const sf = service('web', 'other-db', [{ port: 3306, appProtocol: 'tcp-server-first' }]);
    const oldSelf = service('db', 'mysql', [{ name: 'http', port: 3306 }]);
    expect(check(mysql, { state: [...mesh, tcp, sf, oldSelf], operation: 'UPDATE' })).toMatchObject({ allowed: true, errors: [], warnings: [] });
  });
});
