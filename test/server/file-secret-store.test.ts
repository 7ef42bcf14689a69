// Standalone mode's bootstrap Secret files: YAML written by the `yaml` library, read back as the same object.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { buildBootstrapSecret, type BootstrapSecret } from '../../src/injector/bootstrap.js';
import { meshIdentity } from '../../src/mesh/flavor.js';
import { FileSecretStore } from '../../src/server/file-secret-store.js';

const UUID = '6d8e3c0a-2f4b-4c1d-9e7a-1b2c3d4e5f60';

function secret(namespace: string, version: string): BootstrapSecret {
  return buildBootstrapSecret({
    mesh: meshIdentity('osm-edge', 'edge'),
    uuid: UUID,
    namespace,
    commonName: `${UUID}.sidecar.bookbuyer.${namespace}.cluster.local`,
    version,
    certificate: { caBundle: 'CA\n', cert: 'LEAF\n', key: 'KEY\n' },
  });
}

/** What the hand-written writer this store used before produced for secret('bookstore', 'v1.3.9'). */
const HAND_WRITTEN = `apiVersion: v1
kind: Secret
metadata:
  name: sidecar-bootstrap-config-6d8e3c0a-2f4b-4c1d-9e7a-1b2c3d4e5f60
  namespace: bookstore
  labels:
    app.kubernetes.io/name: openservicemesh.io
    app.kubernetes.io/instance: edge
    app.kubernetes.io/version: v1.3.9
    osm-proxy-uuid: "6d8e3c0a-2f4b-4c1d-9e7a-1b2c3d4e5f60"
type: Opaque
data:
  bootstrap.yaml: ewoiUmVwb0hvc3QiOiAib3NtLWNvbnRyb2xsZXIub3NtLXN5c3RlbS5zdmMuY2x1c3Rlci5sb2NhbCIsCiJSZXBvUG9ydCI6IDYwNjAsCiJOb2RlSUQiOiAiNmQ4ZTNjMGEtMmY0Yi00YzFkLTllN2EtMWIyYzNkNGU1ZjYwLnNpZGVjYXIuYm9va2J1eWVyLmJvb2tzdG9yZS5jbHVzdGVyLmxvY2FsIiwKIlRMU01pblByb3RvY29sVmVyc2lvbiI6ICJUTFN2MV8yIiwKIlRMU01heFByb3RvY29sVmVyc2lvbiI6ICJUTFN2MV8zIiwKIkNpcGhlclN1aXRlcyI6IG51bGwsCiJFQ0RIQ3VydmVzIjogbnVsbCwKIk9yaWdpbmFsSGVhbHRoUHJvYmVzIjogewoiTGl2ZW5lc3MiOiBudWxsLAoiUmVhZGluZXNzIjogbnVsbCwKIlN0YXJ0dXAiOiBudWxsCn0KfQ==
  cacert.pem: Q0EK
  repo_cert.pem: TEVBRgo=
  repo_key.pem: S0VZCg==
`;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('FileSecretStore', () => {
  it('writes <dir>/<namespace>/<name>.yaml, readable by its owner only, that parses back to the Secret', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'file-secrets-'));
    dirs.push(dir);
    const store = new FileSecretStore(dir);
    const s = secret('bookstore', 'v1.3.9');
    await store.create(s);
    const path = join(dir, 'bookstore', `sidecar-bootstrap-config-${UUID}.yaml`);
    expect(store.path('bookstore', s.metadata.name)).toBe(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const text = readFileSync(path, 'utf8');
    expect(text).toMatch(/^apiVersion: v1\nkind: Secret\nmetadata:\n {2}name: sidecar-bootstrap-config-/);
    expect(parse(text)).toEqual(s);
    // the same document as the hand-written writer's
    expect(parse(text)).toEqual(parse(HAND_WRITTEN));
  });

  it('quotes what YAML would otherwise read as another type (a namespace "null", a version "1.10")', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'file-secrets-'));
    dirs.push(dir);
    const s = secret('null', '1.10');
    await new FileSecretStore(dir).create(s);
    const read = parse(readFileSync(join(dir, 'null', `sidecar-bootstrap-config-${UUID}.yaml`), 'utf8')) as BootstrapSecret;
    expect(read.metadata.namespace).toBe('null');
    expect(read.metadata.labels['app.kubernetes.io/version']).toBe('1.10');
    expect(read).toEqual(s);
  });
});
