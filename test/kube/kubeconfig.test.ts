// Credentials for live mode (src/kube/kubeconfig.ts, in-cluster.ts): an explicit file or list merged as kubectl
// merges them, never a kubeconfig found by itself, the pod's service account with its rotating token.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KubeHttp } from '../../src/kube/http.js';
import { inClusterAvailable, inClusterNamespace, serviceAccountDir } from '../../src/kube/in-cluster.js';
import { KubeConfigError, loadKubeConfig } from '../../src/kube/kubeconfig.js';
import { FakeApiServer } from '../support/fake-apiserver.js';

describe('loadKubeConfig', () => {
  it('loads an explicit file, and never falls back to $HOME', async () => {
    const server = await FakeApiServer.start();
    try {
      const dir = mkdtempSync(join(tmpdir(), 'kc-'));
      const file = join(dir, 'config');
      writeFileSync(file, server.kubeConfigYaml('abc'));
      const kc = loadKubeConfig({ kubeconfig: file, env: {} });
      expect(kc?.getCurrentCluster()?.server).toBe(server.url);
      // nothing asked for, not in a pod: standalone, even with KUBECONFIG / HOME pointing at a config
      expect(loadKubeConfig({ env: { KUBECONFIG: file, HOME: dir }, serviceAccountDir: join(dir, 'none') })).toBeUndefined();
      expect(() => loadKubeConfig({ kubeconfig: join(dir, 'missing') })).toThrow(KubeConfigError);
      expect(() => loadKubeConfig({ kubeconfig: file, context: 'nope' })).toThrow(KubeConfigError);
    } finally {
      await server.close();
    }
  });

  it('merges several files as kubectl merges $KUBECONFIG: what a file names first is kept, later files only add', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kc-list-'));
    const config = (cluster: string, server: string, current?: string): string =>
      [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{name: ${cluster}, cluster: {server: '${server}'}}, {name: shared, cluster: {server: 'https://${cluster}.shared'}}]`,
        `users: [{name: ${cluster}-user, user: {token: t}}, {name: shared-user, user: {token: ${cluster}}}]`,
        `contexts: [{name: ${cluster}, context: {cluster: ${cluster}, user: ${cluster}-user}}, {name: shared, context: {cluster: shared, user: ${cluster}-user}}]`,
        ...(current ? [`current-context: ${current}`] : []),
        '',
      ].join('\n');
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    writeFileSync(a, config('a', 'https://a.example'));
    writeFileSync(b, config('b', 'https://b.example', 'b'));
    // the first file sets no current context: the second's is taken; the shared names keep the first file's entries
    const kc = loadKubeConfig({ kubeconfig: [a, b], env: {} })!;
    expect(kc.getCurrentContext()).toBe('b');
    expect(kc.getCurrentCluster()?.server).toBe('https://b.example');
    expect(kc.clusters.map((c) => `${c.name} ${c.server}`)).toEqual(['a https://a.example', 'shared https://a.shared', 'b https://b.example']);
    expect(kc.users.map((u) => `${u.name} ${u.token}`)).toEqual(['a-user t', 'shared-user a', 'b-user t']);
    expect(loadKubeConfig({ kubeconfig: [a, b], context: 'shared', env: {} })!.getCurrentCluster()?.server).toBe('https://a.shared');
    writeFileSync(a, config('a', 'https://a.example', 'a'));
    expect(loadKubeConfig({ kubeconfig: [a, b], env: {} })!.getCurrentContext()).toBe('a');
  });

  it('detects in-cluster credentials from the environment and the mounted service account', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sa-'));
    writeFileSync(join(dir, 'token'), 'tok');
    writeFileSync(join(dir, 'ca.crt'), 'ca');
    writeFileSync(join(dir, 'namespace'), 'fsm-system\n');
    const env = { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' };
    const kc = loadKubeConfig({ env, serviceAccountDir: dir });
    expect(kc?.getCurrentCluster()).toMatchObject({ server: 'https://10.0.0.1:443', caFile: join(dir, 'ca.crt') });
    expect(kc?.getContextObject(kc.getCurrentContext())?.namespace).toBe('fsm-system');
    expect(kc?.getCurrentUser()?.authProvider).toEqual({ name: 'mesh-admission-service-account-token', config: { path: join(dir, 'token') } });
    expect(loadKubeConfig({ env: { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443' }, serviceAccountDir: dir })?.getCurrentCluster()?.server).toBe('https://[fd00::1]:6443');
    expect(loadKubeConfig({ env: {}, serviceAccountDir: dir })).toBeUndefined();
    expect(loadKubeConfig({ env, serviceAccountDir: dir, inCluster: false })).toBeUndefined();
    // the folder a test names (only tests set the variable), and the pod's namespace read from it
    const tested = { ...env, MESH_ADMISSION_TEST_SERVICE_ACCOUNT_DIR: dir };
    expect(loadKubeConfig({ env: tested })?.getCurrentCluster()?.caFile).toBe(join(dir, 'ca.crt'));
    expect(serviceAccountDir(tested)).toBe(dir);
    expect(serviceAccountDir(env)).toBe('/var/run/secrets/kubernetes.io/serviceaccount');
    expect(inClusterNamespace(tested)).toBe('fsm-system');
    expect(inClusterNamespace({ MESH_ADMISSION_TEST_SERVICE_ACCOUNT_DIR: join(dir, 'none') })).toBeUndefined();
  });

  it('in a pod, re-reads the rotating token file whenever credentials are computed, and at once after a 401', async () => {
    const api = await FakeApiServer.start({ tls: true });
    const dir = mkdtempSync(join(tmpdir(), 'sa-'));
    try {
      writeFileSync(join(dir, 'token'), 'token-one\n');
      writeFileSync(join(dir, 'ca.crt'), api.caPem!);
      const url = new URL(api.url);
      const kc = loadKubeConfig({ env: { KUBERNETES_SERVICE_HOST: url.hostname, KUBERNETES_SERVICE_PORT: url.port }, serviceAccountDir: dir })!;
      const http = new KubeHttp(kc, { credentialsTtlMs: 3_600_000 });
      expect((await http.request({ path: '/api/v1/namespaces' })).status).toBe(200);
      // the kubelet writes a new token, and the old one is refused (revoked): the 401 makes the client read the file again
      writeFileSync(join(dir, 'token'), 'token-two');
      api.failRequests({ count: 1, status: 401 });
      expect((await http.request({ path: '/api/v1/namespaces' })).status).toBe(200);
      expect(api.requests.slice(-3).map((r) => r.authorization)).toEqual(['Bearer token-one', 'Bearer token-one', 'Bearer token-two']);
      // with the usual lifetime of computed credentials, a rewritten file is read at the next computation
      const fresh = new KubeHttp(kc, { credentialsTtlMs: 0 });
      writeFileSync(join(dir, 'token'), 'token-three');
      await fresh.request({ path: '/api/v1/namespaces' });
      expect(api.requests.at(-1)?.authorization).toBe('Bearer token-three');
      fresh.close();
      http.close();
    } finally {
      await api.close();
    }
  });

  it('names the file and what is wrong with it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kc-bad-'));
    const noCurrent = join(dir, 'no-current');
    writeFileSync(noCurrent, 'apiVersion: v1\nkind: Config\nclusters: [{name: a, cluster: {server: "https://a"}}]\nusers: []\ncontexts: []\n');
    expect(() => loadKubeConfig({ kubeconfig: noCurrent, env: {} })).toThrow(`${noCurrent}: no current cluster (set current-context)`);
    expect(() => loadKubeConfig({ kubeconfig: noCurrent, context: 'other', env: {} })).toThrow(`${noCurrent}: no context named other`);
    expect(() => loadKubeConfig({ kubeconfig: join(dir, 'missing'), env: {} })).toThrow(new RegExp(`^${join(dir, 'missing')}: `));
  });

  it('is in a pod only with the service host, its port and a mounted token', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sa-'));
    const env = { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' };
    expect(inClusterAvailable(env, dir)).toBe(false);
    writeFileSync(join(dir, 'token'), 'tok');
    expect(inClusterAvailable(env, dir)).toBe(true);
    expect(inClusterAvailable({ KUBERNETES_SERVICE_HOST: '10.0.0.1' }, dir)).toBe(false);
    expect(inClusterAvailable({ KUBERNETES_SERVICE_PORT: '443' }, dir)).toBe(false);
    expect(inClusterAvailable({ ...env, MESH_ADMISSION_TEST_SERVICE_ACCOUNT_DIR: dir })).toBe(true);
    expect(inClusterNamespace(env, dir)).toBeUndefined();
    writeFileSync(join(dir, 'namespace'), '  \n');
    expect(inClusterNamespace(env, dir)).toBeUndefined();
  });

  it('in a pod: plain HTTP on the insecure ports, no CA or namespace when the mount has none, no header for an empty token', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sa-'));
    writeFileSync(join(dir, 'token'), 'tok');
    for (const [port, scheme] of [['80', 'http'], ['8080', 'http'], ['8001', 'http'], ['6443', 'https']] as const) {
      expect(loadKubeConfig({ env: { KUBERNETES_SERVICE_HOST: 'api', KUBERNETES_SERVICE_PORT: port }, serviceAccountDir: dir })?.getCurrentCluster()?.server).toBe(`${scheme}://api:${port}`);
    }
    const kc = loadKubeConfig({ env: { KUBERNETES_SERVICE_HOST: 'api', KUBERNETES_SERVICE_PORT: '443' }, serviceAccountDir: dir })!;
    expect(kc.getCurrentCluster()?.caFile).toBeUndefined();
    expect(kc.getContextObject(kc.getCurrentContext())?.namespace).toBeUndefined();
    const headers = async (): Promise<unknown> => {
      const opts: { headers?: Record<string, unknown> } = {};
      await kc.applyToHTTPSOptions(opts);
      return opts.headers?.Authorization;
    };
    expect(await headers()).toBe('Bearer tok');
    writeFileSync(join(dir, 'token'), '\n');
    expect(await headers()).toBeUndefined();
  });
});
