// `serve` in a pod without --kubeconfig: in-cluster credentials (KUBERNETES_SERVICE_HOST/PORT and the service-account
// folder: token, ca.crt, namespace), and the mesh namespace defaulting to the pod's own (the namespace file), against
// the fake API server over TLS. The real API server run (test/apiserver/in-cluster.test.ts) passes the Deployment's
// --mesh-namespace, as the manifests do.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { FakeApiServer, waitFor } from '../support/fake-apiserver.js';
import { REPO_ROOT } from '../support/fixtures.js';

let api: FakeApiServer | undefined;

afterAll(async () => {
  await api?.close();
});

describe('serve in a pod (in-cluster credentials, no kubeconfig)', () => {
  it('runs live with the service account\'s token and CA, in the namespace its folder names', async () => {
    api = await FakeApiServer.start({ tls: true });
    const dir = mkdtempSync(join(tmpdir(), 'mesh-admission-sa-'));
    writeFileSync(join(dir, 'token'), 'pod-token\n');
    writeFileSync(join(dir, 'ca.crt'), api.caPem!);
    writeFileSync(join(dir, 'namespace'), 'mesh-blue\n');
    const url = new URL(api.url);
    // tsx by URL: the server runs in a folder of its own, where `--import tsx` would not resolve
    const child = spawn(process.execPath, ['--import', pathToFileURL(join(REPO_ROOT, 'node_modules/tsx/dist/loader.mjs')).href, join(REPO_ROOT, 'src/cli/main.ts'), 'serve', '--port', '0', '--metrics-port', '0', '--host', '127.0.0.1', '--shutdown-delay-seconds', '0'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, KUBERNETES_SERVICE_HOST: url.hostname, KUBERNETES_SERVICE_PORT: url.port, MESH_ADMISSION_TEST_SERVICE_ACCOUNT_DIR: dir },
    });
    let out = '';
    let exited = false;
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const done = new Promise<number | null>((resolve) => child.once('exit', (code) => ((exited = true), resolve(code))));
    try {
      await waitFor(() => out.includes('mesh-admission serving') || exited, { timeoutMs: 60_000, what: 'the server to serve' });
      const serving = out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.msg === 'mesh-admission serving');
      expect(serving, out).toMatchObject({ mode: 'live', namespace: 'mesh-blue', mesh: 'fsm' });
      // its own Secrets in its own namespace, with the mounted token
      await waitFor(() => api!.getObject('v1', 'Secret', 'mesh-blue', 'fsm-ca-bundle'), { what: 'the mesh CA Secret' });
      expect(new Set(api.requests.map((r) => r.authorization))).toEqual(new Set(['Bearer pod-token']));
    } finally {
      child.kill('SIGTERM');
    }
    expect(await done, out).toBe(0);
  });
});
