import { describe, expect, it } from 'vitest';
import {
  EGRESS_PROTOCOLS,
  egressProtocol,
  needsDetection,
  readEgress,
  resolveServicePortProtocol,
  SERVICE_APP_PROTOCOLS,
  servicePortProtocol,
} from '../../src/validator/protocols.js';

describe('servicePortProtocol', () => {
  it.each([
    [{ name: 'http-web', appProtocol: 'tcp-server-first' }, 'tcp-server-first', 'appProtocol'],
    [{ name: 'tcp-server-first-db' }, 'tcp-server-first', 'name'],
    [{ name: 'tcp-server-first' }, 'tcp', 'name'], // no dash after: only the tcp- prefix fits
    [{ name: 'http-web' }, 'http', 'name'],
    [{ name: 'tcp-raw' }, 'tcp', 'name'],
    [{ name: 'grpc-api' }, 'grpc', 'name'],
    [{ name: 'https-web' }, 'http', 'default'],
    [{ name: 'web' }, 'http', 'default'],
    [{ name: 'GRPC-api' }, 'http', 'default'],
    [{}, 'http', 'default'],
    [{ appProtocol: '' , name: 'tcp-x' }, 'tcp', 'name'],
    [{ appProtocol: 'HTTP' }, 'HTTP', 'appProtocol'], // verbatim, as the mesh takes it
    [null, 'http', 'default'],
  ])('%j → %s (%s)', (port, protocol, source) => {
    expect(resolveServicePortProtocol(port)).toEqual({ protocol, source });
    expect(servicePortProtocol(port)).toBe(protocol);
  });
});

describe('protocol table', () => {
  it('lists the Egress and Service protocols', () => {
    expect(EGRESS_PROTOCOLS).toEqual(['http', 'https', 'tcp', 'tcp-server-first']);
    expect(SERVICE_APP_PROTOCOLS).toEqual(['http', 'https', 'tcp', 'tcp-server-first', 'grpc']);
  });

  it('reads Egress protocols case-insensitively and ignores the rest', () => {
    expect(egressProtocol('TCP-Server-First')).toBe('tcp-server-first');
    expect(egressProtocol('grpc')).toBeUndefined();
    expect(egressProtocol('constructor')).toBeUndefined();
    expect(egressProtocol(7)).toBeUndefined();
  });

  it('says which protocols need detection', () => {
    expect(needsDetection('http', false)).toBe(true);
    expect(needsDetection('grpc', false)).toBe(true);
    expect(needsDetection('https', true)).toBe(true);
    expect(needsDetection('https', false)).toBe(false);
    expect(needsDetection('tcp', true)).toBe(false);
    expect(needsDetection('tcp-server-first', true)).toBe(false);
    expect(needsDetection('toString', true)).toBe(false);
  });
});

describe('readEgress', () => {
  it('keeps only what the runtime would use', () => {
    const decl = readEgress({
      kind: 'Egress',
      metadata: { name: 'e', namespace: 'curl' },
      spec: {
        sources: [{ kind: 'ServiceAccount', name: 'curl', namespace: 'curl' }, { kind: 'ServiceAccount', name: 'curl', namespace: 'curl' }, { kind: 'Service', name: 'x', namespace: 'y' }, { kind: 'ServiceAccount', name: 'a' }],
        hosts: ['A.com', '', 3],
        ports: [{ number: 80, protocol: 'HTTP' }, { number: 0, protocol: 'tcp' }, { number: 81, protocol: 'grpc' }],
      },
    });
    expect(decl).toEqual({ ref: 'curl/e', sources: ['curl/curl'], hosts: [{ index: 0, host: 'a.com' }], ports: [{ index: 0, number: 80, protocol: 'http' }] });
  });
});
