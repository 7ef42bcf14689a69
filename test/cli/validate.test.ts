// `mesh-admission validate`: the webhook's rules offline, kubectl-style output, exit codes 0/1/2.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'mesh-admission-cli-'));
const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const BAD_PLUGIN = `apiVersion: plugin.flomesh.io/v1alpha1
kind: Plugin
metadata:
  name: deny-a
spec:
  priority: 70000
  pipyscript: ""
`;

const CONFLICTING_EGRESSES = `apiVersion: policy.openservicemesh.io/v1alpha1
kind: Egress
metadata:
  name: db-server-first
  namespace: curl
spec:
  sources:
  - kind: ServiceAccount
    name: curl
    namespace: curl
  ipAddresses: [10.0.0.0/24]
  ports:
  - number: 3306
    protocol: tcp-server-first
---
apiVersion: policy.openservicemesh.io/v1alpha1
kind: Egress
metadata:
  name: db-http
  namespace: curl
spec:
  sources:
  - kind: ServiceAccount
    name: curl
    namespace: curl
  hosts: [db.example.com]
  ports:
  - number: 3306
    protocol: http
`;

describe('mesh-admission validate', () => {
  it('exits 0 and prints one admitted line per object for valid seed policies', () => {
    const r = cli('validate', '-f', 'examples/seeds/003-plugin-iam', '--cluster-state', 'examples/cluster');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('plugin.plugin.flomesh.io/token-verifier admitted\n');
    expect(r.stdout).toContain('deployment.apps/ext-auth skipped: not a kind this webhook validates');
  });

  it('exits 1 and prints what kubectl would print for a denial', () => {
    const p = file('bad-plugin.yaml', BAD_PLUGIN);
    const r = cli('validate', '-f', p);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(
      `The Plugin "deny-a" is invalid: (${p})\n` +
        '* spec.pipyscript: Required value: plugin[deny-a.] is missing pipy script\n' +
        '* spec.priority: Invalid value: 70000: must be an integer between 0 and 65535\n',
    );
  });

  it('counts the given objects as present: two conflicting Egresses deny each other', () => {
    const r = cli('validate', '-f', file('egresses.yaml', CONFLICTING_EGRESSES), '-o', 'json');
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as Array<{ name: string; allowed: boolean; causes: Array<{ field: string; message: string }> }>;
    expect(out.map((o) => [o.name, o.allowed])).toEqual([
      ['db-server-first', false],
      ['db-http', false],
    ]);
    expect(out[0]?.causes).toContainEqual(expect.objectContaining({ field: 'spec.ports[0]', message: 'port 3306 is tcp-server-first here but http in Egress curl/db-http (same source ServiceAccount curl/curl)' }));
  });

  it('exits 2 on unreadable input', () => {
    expect(cli('validate', '-f', join(dir, 'missing.yaml')).code).toBe(2);
    const r = cli('validate', '-f', file('broken.yaml', 'kind: Plugin\nmetadata: [unclosed\n'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: .*broken\.yaml/);
  });
});
