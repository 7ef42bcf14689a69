import { describe, expect, it } from 'vitest';
import { meshIdentity } from '../../src/mesh/flavor.js';
import {
  bootstrapConfig,
  bootstrapConfigText,
  buildBootstrapSecret,
  goJsonString,
  goMarshalIndentEmpty,
  proxyCommonName,
  type BootstrapSecretInput,
} from '../../src/injector/bootstrap.js';
import { bootstrapSecretName, uuidFromBootstrapSecretName } from '../../src/mesh/names.js';

const UUID = '6d8e3c0a-2f4b-4c1d-9e7a-1b2c3d4e5f60';
const CN = `${UUID}.sidecar.bookbuyer.bookstore.cluster.local`;
const CERT = { caBundle: '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n', cert: '-----BEGIN CERTIFICATE-----\nLEAF\n-----END CERTIFICATE-----\n', key: '-----BEGIN PRIVATE KEY-----\nK\n-----END PRIVATE KEY-----\n' };

const input: BootstrapSecretInput = {
  mesh: meshIdentity('fsm'),
  uuid: UUID,
  namespace: 'bookstore',
  commonName: CN,
  certificate: CERT,
  repoPort: 6060,
  sidecar: { tlsMinProtocolVersion: 'TLSv1_2', tlsMaxProtocolVersion: 'TLSv1_3', cipherSuites: ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256'], ecdhCurves: [] },
  probes: {
    liveness: { path: '/healthz', port: 8080, timeoutSeconds: 1, isHTTP: true, isTCPSocket: false },
    readiness: null,
    startup: { path: '', port: 5432, timeoutSeconds: 3, isHTTP: false, isTCPSocket: true },
  },
};

// json.MarshalIndent(builder, "", "") of the Go Builder struct for the input above.
const GOLDEN = `{
"RepoHost": "fsm-controller.fsm-system.svc.cluster.local",
"RepoPort": 6060,
"NodeID": "${CN}",
"TLSMinProtocolVersion": "TLSv1_2",
"TLSMaxProtocolVersion": "TLSv1_3",
"CipherSuites": [
"ECDHE-ECDSA-AES128-GCM-SHA256",
"ECDHE-RSA-AES128-GCM-SHA256"
],
"ECDHCurves": [],
"OriginalHealthProbes": {
"Liveness": {
"Path": "/healthz",
"Port": 8080,
"Timeout": 1000000000,
"IsHTTP": true,
"IsTCPSocket": false
},
"Readiness": null,
"Startup": {
"Path": "",
"Port": 5432,
"Timeout": 3000000000,
"IsHTTP": false,
"IsTCPSocket": true
}
}
}`;

const decode = (s: string): string => Buffer.from(s, 'base64').toString('utf8');

describe('proxyCommonName', () => {
  it('is <uuid>.sidecar.<sa>.<ns>.<trustDomain>', () => {
    expect(proxyCommonName(UUID, 'bookbuyer', 'bookstore')).toBe(CN);
    expect(proxyCommonName(UUID, 'bookbuyer', 'bookstore', 'mesh.example')).toBe(`${UUID}.sidecar.bookbuyer.bookstore.mesh.example`);
    expect(proxyCommonName(UUID, '', 'bookstore')).toBe(`${UUID}.sidecar.default.bookstore.cluster.local`);
  });
});

describe('bootstrap.yaml', () => {
  it('is byte-for-byte the Go MarshalIndent layout', () => {
    expect(bootstrapConfigText(bootstrapConfig(input))).toBe(GOLDEN);
  });

  it('uses the documented defaults when MeshConfig leaves the TLS fields out', () => {
    const text = bootstrapConfigText(bootstrapConfig({ mesh: meshIdentity('osm-edge', 'osm', 'osm-system'), commonName: 'x' }));
    expect(text).toBe(`{
"RepoHost": "osm-controller.osm-system.svc.cluster.local",
"RepoPort": 6060,
"NodeID": "x",
"TLSMinProtocolVersion": "TLSv1_2",
"TLSMaxProtocolVersion": "TLSv1_3",
"CipherSuites": null,
"ECDHCurves": null,
"OriginalHealthProbes": {
"Liveness": null,
"Readiness": null,
"Startup": null
}
}`);
  });

  it('escapes strings as Go does', () => {
    expect(goJsonString('a"b\\c\n\r\t\b\f\u0001<>&\u2028\u2029é😀')).toBe('"a\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u003c\\u003e\\u0026\\u2028\\u2029é😀"');
    expect(goJsonString('\ud800x')).toBe('"\\ufffdx"');
    expect(goMarshalIndentEmpty({ a: [], b: {}, c: [1, { d: true }] })).toBe('{\n"a": [],\n"b": {},\n"c": [\n1,\n{\n"d": true\n}\n]\n}');
  });
});

describe('bootstrap Secret', () => {
  it('has the name, namespace and labels of the forks plus the proxy UUID', () => {
    const s = buildBootstrapSecret(input);
    expect(s.apiVersion).toBe('v1');
    expect(s.kind).toBe('Secret');
    expect(s.metadata).toEqual({
      name: `sidecar-bootstrap-config-${UUID}`,
      namespace: 'bookstore',
      labels: { 'app.kubernetes.io/name': 'flomesh.io', 'app.kubernetes.io/instance': 'fsm', 'fsm-proxy-uuid': UUID },
    });
    const osm = buildBootstrapSecret({ ...input, mesh: meshIdentity('osm-edge', 'edge'), version: 'v1.3.9' });
    expect(osm.metadata.labels).toEqual({ 'app.kubernetes.io/name': 'openservicemesh.io', 'app.kubernetes.io/instance': 'edge', 'app.kubernetes.io/version': 'v1.3.9', 'osm-proxy-uuid': UUID });
  });

  it('carries base64 data that decodes back to the inputs', () => {
    const s = buildBootstrapSecret(input);
    expect(Object.keys(s.data)).toEqual(['bootstrap.yaml', 'cacert.pem', 'repo_cert.pem', 'repo_key.pem']);
    expect(decode(s.data['bootstrap.yaml']!)).toBe(GOLDEN);
    expect(decode(s.data['cacert.pem']!)).toBe(CERT.caBundle);
    expect(decode(s.data['repo_cert.pem']!)).toBe(CERT.cert);
    expect(decode(s.data['repo_key.pem']!)).toBe(CERT.key);
  });

  it('names and un-names', () => {
    expect(bootstrapSecretName(UUID)).toBe(`sidecar-bootstrap-config-${UUID}`);
    expect(uuidFromBootstrapSecretName(`sidecar-bootstrap-config-${UUID}`)).toBe(UUID);
    expect(uuidFromBootstrapSecretName('sidecar-bootstrap-config-')).toBeUndefined();
    expect(uuidFromBootstrapSecretName('other')).toBeUndefined();
  });
});
