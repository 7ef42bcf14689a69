// The fake API server speaks enough Kubernetes for client-node's generated clients and for raw list/watch.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AdmissionregistrationV1Api, CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { FakeApiServer, waitFor } from './fake-apiserver.js';
import { KubeHttp } from '../../src/cluster/kube.js';

let server: FakeApiServer;
beforeEach(async () => {
  server = await FakeApiServer.start();
});
afterEach(async () => {
  await server.close();
});

const codeOf = (err: unknown): number | undefined => (err as { code?: number }).code;

describe('FakeApiServer with client-node', () => {
  it('creates, conflicts, gets, lists, patches (merge, JSON, strategic), replaces and deletes Secrets', async () => {
    const core = server.kubeConfig().makeApiClient(CoreV1Api);
    const created = await core.createNamespacedSecret({ namespace: 'app', body: { metadata: { name: 's1', labels: { a: '1' } }, data: { k: 'dg==' } } });
    expect(created.metadata?.resourceVersion).toMatch(/^\d+$/);
    expect(created.metadata?.namespace).toBe('app');
    await expect(core.createNamespacedSecret({ namespace: 'app', body: { metadata: { name: 's1' } } })).rejects.toSatisfy((e) => codeOf(e) === 409);
    expect((await core.readNamespacedSecret({ name: 's1', namespace: 'app' })).data).toEqual({ k: 'dg==' });
    await expect(core.readNamespacedSecret({ name: 'nope', namespace: 'app' })).rejects.toSatisfy((e) => codeOf(e) === 404);

    await core.patchNamespacedSecret({ name: 's1', namespace: 'app', body: { metadata: { labels: { b: '2' } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    await core.patchNamespacedSecret({ name: 's1', namespace: 'app', body: [{ op: 'add', path: '/data/j', value: 'dw==' }] }, setHeaderOptions('Content-Type', PatchStrategy.JsonPatch));
    await core.patchNamespacedSecret({ name: 's1', namespace: 'app', body: { metadata: { labels: { a: null } } } }, setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch));
    const patched = await core.readNamespacedSecret({ name: 's1', namespace: 'app' });
    expect(patched.metadata?.labels).toEqual({ b: '2' });
    expect(patched.data).toEqual({ k: 'dg==', j: 'dw==' });

    // optimistic concurrency on replace
    await expect(core.replaceNamespacedSecret({ name: 's1', namespace: 'app', body: { metadata: { name: 's1', resourceVersion: '1' } } })).rejects.toSatisfy((e) => codeOf(e) === 409);
    await core.replaceNamespacedSecret({ name: 's1', namespace: 'app', body: { metadata: { name: 's1', resourceVersion: patched.metadata?.resourceVersion, labels: { b: '2' } }, data: {} } });

    const list = await core.listNamespacedSecret({ namespace: 'app', labelSelector: 'b=2' });
    expect(list.items.map((s) => s.metadata?.name)).toEqual(['s1']);
    expect(list.metadata?.resourceVersion).toBe(server.resourceVersion);

    await core.deleteNamespacedSecret({ name: 's1', namespace: 'app' });
    expect(server.listObjects('v1', 'Secret')).toEqual([]);

    const verbs = server.requestsFor({ resource: 'secrets' }).map((r) => r.verb);
    expect(verbs).toEqual(['create', 'create', 'get', 'get', 'patch', 'patch', 'patch', 'get', 'update', 'update', 'list', 'delete']);
    expect(server.requestsFor({ verb: 'patch' }).map((r) => r.contentType)).toEqual(['application/merge-patch+json', 'application/json-patch+json', 'application/strategic-merge-patch+json']);
    expect(server.requestsFor({ verb: 'create' })[0]?.body).toMatchObject({ metadata: { name: 's1' } });
  });

  it('serves cluster-scoped webhook configurations and namespaces', async () => {
    const kc = server.kubeConfig();
    const adm = kc.makeApiClient(AdmissionregistrationV1Api);
    await adm.createMutatingWebhookConfiguration({ body: { metadata: { name: 'mesh' }, webhooks: [{ name: 'a.b.c', admissionReviewVersions: ['v1'], sideEffects: 'None', clientConfig: { url: 'https://x', caBundle: 'AA==' } }] } });
    const got = await adm.readMutatingWebhookConfiguration({ name: 'mesh' });
    expect(got.webhooks?.[0]?.clientConfig.caBundle).toBe('AA==');
    expect(server.requestsFor({ verb: 'create' })[0]?.path).toBe('/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations');

    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: 'app', labels: { x: 'y' } } } });
    expect((await core.readNamespace({ name: 'app' })).metadata?.labels).toEqual({ x: 'y' });
    expect((await core.listNamespace()).items).toHaveLength(1);
  });

  it('injected failures and discovery', async () => {
    const http = new KubeHttp(server.kubeConfig());
    server.failRequests({ count: 2, verb: 'list', resource: 'pods', status: 503 });
    expect((await http.request({ path: '/api/v1/pods' })).status).toBe(503);
    expect((await http.request({ path: '/api/v1/namespaces/app/pods' })).status).toBe(503);
    expect((await http.request({ path: '/api/v1/pods' })).status).toBe(200);
    const groups = await http.json<{ groups: Array<{ name: string; preferredVersion: { version: string } }> }>({ path: '/apis' });
    expect(groups.groups.map((g) => g.name)).toContain('admissionregistration.k8s.io');
    const core = await http.json<{ resources: Array<{ name: string; namespaced: boolean }> }>({ path: '/api/v1' });
    expect(core.resources.find((r) => r.name === 'namespaces')?.namespaced).toBe(false);
    expect((await http.request({ path: '/apis/nope.io/v1' })).status).toBe(404);
  });
});

describe('FakeApiServer watch protocol', () => {
  it('streams events from a resourceVersion, bookmarks, 410 errors and expiry', async () => {
    const http = new KubeHttp(server.kubeConfig());
    const a = server.addObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a', namespace: 'app' } });
    server.addObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'b', namespace: 'other' } });
    const events: Array<{ type: string; object: { metadata: { name?: string; resourceVersion: string }; code?: number } }> = [];
    const abort = new AbortController();
    const done = http.stream(
      { path: '/api/v1/namespaces/app/pods', query: { watch: 'true', resourceVersion: a.metadata!.resourceVersion, allowWatchBookmarks: 'true' }, signal: abort.signal },
      (line) => void events.push(JSON.parse(line)),
    );
    await waitFor(() => server.watchCount('pods') === 1);
    server.modifyObject('v1', 'Pod', 'app', 'a', (o) => void (o.spec = { x: 1 }));
    server.addObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'c', namespace: 'other' } }); // other namespace: not sent
    server.deleteObject('v1', 'Pod', 'app', 'a');
    const rv = server.bookmark();
    await waitFor(() => events.length === 3);
    expect(events.map((e) => e.type)).toEqual(['MODIFIED', 'DELETED', 'BOOKMARK']);
    expect(events[2]?.object.metadata.resourceVersion).toBe(rv);
    server.sendWatchError();
    await done; // the server ends the stream after an ERROR
    expect(events[3]).toMatchObject({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } });

    server.expireResourceVersions();
    const late: string[] = [];
    await http.stream({ path: '/api/v1/pods', query: { watch: 'true', resourceVersion: a.metadata!.resourceVersion } }, (line) => void late.push(line));
    expect(JSON.parse(late[0]!)).toMatchObject({ type: 'ERROR', object: { code: 410 } });
    expect(server.requestsFor({ verb: 'watch' }).map((r) => r.query.resourceVersion)).toEqual([a.metadata!.resourceVersion, a.metadata!.resourceVersion]);
  });

  it('without a resourceVersion a watch starts with ADDED for the current objects; dropWatches cuts it abruptly', async () => {
    const http = new KubeHttp(server.kubeConfig());
    server.addObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'app' } });
    const lines: string[] = [];
    const done = http.stream({ path: '/api/v1/configmaps', query: { watch: 'true' } }, (line) => void lines.push(line));
    await waitFor(() => lines.length === 1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'x' } } });
    expect(server.dropWatches()).toBe(1);
    await expect(done).rejects.toThrow();
  });
});
