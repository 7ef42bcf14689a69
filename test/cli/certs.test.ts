// `mesh-admission certs`: a CA and a serving certificate for a Service, reused while valid.
import { spawnSync } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/fixtures.js';

const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });

describe('mesh-admission certs', () => {
  it('writes a CA and an ECDSA leaf for the Service names and the extra DNS names', () => {
    const out = mkdtempSync(join(tmpdir(), 'mesh-admission-certs-'));
    const r = cli('certs', '--out', out, '--namespace', 'osm-system', '--dns', 'webhook.example.com');
    expect(r.status).toBe(0);
    const ca = new X509Certificate(readFileSync(join(out, 'ca.crt')));
    const leaf = new X509Certificate(readFileSync(join(out, 'tls.crt')));
    expect(ca.ca).toBe(true);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.checkPrivateKey(createPrivateKey(readFileSync(join(out, 'tls.key'))))).toBe(true);
    expect(leaf.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(leaf.subjectAltName?.split(', ')).toEqual([
      'DNS:mesh-admission',
      'DNS:mesh-admission.osm-system',
      'DNS:mesh-admission.osm-system.svc',
      'DNS:mesh-admission.osm-system.svc.cluster.local',
      'DNS:webhook.example.com',
    ]);
    expect(statSync(join(out, 'tls.key')).mode & 0o777).toBe(0o600);
    expect(r.stdout).toContain('webhook.example.com');
    // A second run reuses the valid pair instead of rotating it under the user's feet.
    const before = readFileSync(join(out, 'tls.crt'), 'utf8');
    expect(cli('certs', '--out', out, '--namespace', 'osm-system', '--dns', 'webhook.example.com').status).toBe(0);
    expect(readFileSync(join(out, 'tls.crt'), 'utf8')).toBe(before);
  });
});
