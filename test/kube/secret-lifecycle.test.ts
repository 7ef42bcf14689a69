import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KubeHttp } from '../../src/kube/client.js';
import { bootstrapSecretLabels, bootstrapSecretName, bootstrapSecretSelector } from '../../src/mesh/names.js';
import { meshIdentity } from '../../src/mesh/flavor.js';
import { podOwnerReference, SecretLifecycle } from '../../src/kube/secret-lifecycle.js';
import { FakeApiServer, waitFor, type Obj } from '../support/fake-apiserver.js';

const mesh = meshIdentity('fsm');
const MIN = 60_000;
const NOW = Date.parse('2030-01-01T12:00:00Z');

let n = 0;
const uuid = (): string => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`;

describe('SecretLifecycle', () => {
  let fake: FakeApiServer;
  let http: KubeHttp;
  const running: SecretLifecycle[] = [];
  let counts: { owners: number; deleted: number };

  const lifecycle = (extra: Partial<ConstructorParameters<typeof SecretLifecycle>[0]> = {}): SecretLifecycle => {
    const l = new SecretLifecycle({
      http,
      mesh,
      now: () => NOW,
      onOwnerAdded: () => counts.owners++,
      onOrphanDeleted: () => counts.deleted++,
      watchPods: false,
      sweepIntervalMs: 3_600_000,
      backoffMs: [10, 50],
      ...extra,
    });
    running.push(l);
    return l;
  };

  const addSecret = (ns: string, id: string, ageMs: number, extra: { labels?: Record<string, string>; owner?: { name: string; uid: string } } = {}): Obj =>
    fake.addObject({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: bootstrapSecretName(id),
        namespace: ns,
        labels: extra.labels ?? bootstrapSecretLabels(mesh, id),
        creationTimestamp: new Date(NOW - ageMs).toISOString(),
        ...(extra.owner ? { ownerReferences: [podOwnerReference(extra.owner)] } : {}),
      },
      type: 'Opaque',
      data: { 'bootstrap.yaml': 'e30=' },
    });
  const addPod = (ns: string, name: string, id: string): Obj =>
    fake.addObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, labels: { app: 'x', 'fsm-proxy-uuid': id } }, spec: { containers: [] } });
  const secretOf = (ns: string, id: string): Obj | undefined => fake.getObject('v1', 'Secret', ns, bootstrapSecretName(id));

  beforeAll(async () => {
    fake = await FakeApiServer.start();
    http = new KubeHttp(fake.kubeConfig());
  });
  afterAll(() => fake.close());
  beforeEach(() => {
    counts = { owners: 0, deleted: 0 };
    fake.clearRequests();
    fake.clearFailures();
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((l) => l.stop()));
    expect(fake.watchCount()).toBe(0);
  });

  it('lists bootstrap Secrets by the bootstrap labels and pods by the uuid label', async () => {
    expect(bootstrapSecretSelector(mesh)).toBe('app.kubernetes.io/name=flomesh.io,app.kubernetes.io/instance=fsm,fsm-proxy-uuid');
    addSecret('sel', uuid(), 20 * MIN);
    await lifecycle().sweep();
    const lists = fake.requestsFor({ verb: 'list' });
    expect(lists.find((r) => r.resource === 'secrets')).toMatchObject({ path: '/api/v1/secrets', query: { labelSelector: bootstrapSecretSelector(mesh) } });
    expect(lists.find((r) => r.resource === 'pods' && r.path === '/api/v1/pods')).toMatchObject({ query: { labelSelector: 'fsm-proxy-uuid' } });
  });

  it('adopts, deletes only old orphans, and leaves young, owned and foreign Secrets alone', async () => {
    const ns = 'sweep';
    const withPod = uuid();
    const oldWithPod = uuid();
    const orphan = uuid();
    const young = uuid();
    const owned = uuid();
    const foreign = uuid();
    addSecret(ns, withPod, 1 * MIN);
    addSecret(ns, oldWithPod, 60 * MIN);
    const orphanSecret = addSecret(ns, orphan, 11 * MIN);
    addSecret(ns, young, 9 * MIN);
    addSecret(ns, owned, 60 * MIN, { owner: { name: 'gone', uid: 'dead-beef' } });
    addSecret(ns, foreign, 60 * MIN, { labels: { ...bootstrapSecretLabels(mesh, foreign), 'app.kubernetes.io/instance': 'other-mesh' } });
    const pod1 = addPod(ns, 'pod-1', withPod);
    const pod2 = addPod(ns, 'pod-2', oldWithPod);
    fake.clearRequests();

    const result = await lifecycle().sweep();
    expect(result).toMatchObject({ ownersAdded: 2, deleted: 1, young: 1, errors: 0 });
    expect(counts).toEqual({ owners: 2, deleted: 1 });

    // ownerReferences: v1 Pod, name, uid, not controller, blockOwnerDeletion false; merge patch guarded by resourceVersion
    const patches = fake.requestsFor({ verb: 'patch', resource: 'secrets' });
    expect(patches).toHaveLength(2);
    for (const [id, pod] of [
      [withPod, pod1],
      [oldWithPod, pod2],
    ] as const) {
      const p = patches.find((r) => r.path.endsWith(bootstrapSecretName(id)))!;
      expect(p.contentType).toBe('application/merge-patch+json');
      expect(p.body).toEqual({
        metadata: {
          resourceVersion: expect.any(String),
          ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: pod.metadata!.name, uid: pod.metadata!.uid, controller: false, blockOwnerDeletion: false }],
        },
      });
      expect(secretOf(ns, id)?.metadata?.ownerReferences).toEqual([{ apiVersion: 'v1', kind: 'Pod', name: pod.metadata!.name, uid: pod.metadata!.uid, controller: false, blockOwnerDeletion: false }]);
    }

    // exactly one DELETE: the old orphan, with uid + resourceVersion preconditions
    const deletes = fake.requestsFor({ verb: 'delete' });
    expect(deletes).toHaveLength(1);
    expect(deletes[0]!.path).toBe(`/api/v1/namespaces/${ns}/secrets/${bootstrapSecretName(orphan)}`);
    expect(deletes[0]!.body).toMatchObject({ preconditions: { uid: orphanSecret.metadata!.uid, resourceVersion: orphanSecret.metadata!.resourceVersion } });
    // the pod was asked for once more, live, right before the delete
    expect(fake.requestsFor({ verb: 'list', resource: 'pods' }).some((r) => r.path === `/api/v1/namespaces/${ns}/pods` && r.query.labelSelector === `fsm-proxy-uuid=${orphan}`)).toBe(true);

    expect(secretOf(ns, orphan)).toBeUndefined();
    for (const id of [withPod, oldWithPod, young, owned, foreign]) expect(secretOf(ns, id)).toBeDefined();

    // a second pass has nothing to do
    fake.clearRequests();
    expect(await lifecycle().sweep()).toMatchObject({ ownersAdded: 0, deleted: 0 });
    expect(fake.requestsFor({ verb: 'patch' })).toHaveLength(0);
    expect(fake.requestsFor({ verb: 'delete' })).toHaveLength(0);
    for (const id of [orphan, withPod, oldWithPod]) fake.deleteObject('v1', 'Secret', ns, bootstrapSecretName(id));
    for (const id of [young, owned, foreign]) fake.deleteObject('v1', 'Secret', ns, bootstrapSecretName(id));
    fake.deleteObject('v1', 'Pod', ns, 'pod-1');
    fake.deleteObject('v1', 'Pod', ns, 'pod-2');
  });

  it('honours a configurable grace period', async () => {
    const id = uuid();
    addSecret('grace', id, 3 * MIN);
    expect(await lifecycle({ graceMs: 5 * MIN }).sweep()).toMatchObject({ deleted: 0, young: 1 });
    expect(await lifecycle({ graceMs: 2 * MIN }).sweep()).toMatchObject({ deleted: 1 });
    expect(secretOf('grace', id)).toBeUndefined();
  });

  it('tolerates a failed precondition (409) and a Secret already gone (404): counted only when deleted', async () => {
    const a = uuid();
    addSecret('race', a, 30 * MIN);
    fake.failRequests({ count: 1, verb: 'delete', status: 409, message: 'Precondition failed: UID in precondition' });
    expect(await lifecycle().sweep()).toMatchObject({ deleted: 0, errors: 0 });
    expect(counts.deleted).toBe(0);
    fake.failRequests({ count: 1, verb: 'delete', status: 404 });
    expect(await lifecycle().sweep()).toMatchObject({ deleted: 0, errors: 0 });
    expect(await lifecycle().sweep()).toMatchObject({ deleted: 1 });
    expect(counts.deleted).toBe(1);
  });

  it('two replicas sweeping at once delete an orphan once and adopt a Secret once', async () => {
    const orphan = uuid();
    const adopted = uuid();
    addSecret('replicas', orphan, 30 * MIN);
    addSecret('replicas', adopted, 30 * MIN);
    addPod('replicas', 'p', adopted);
    const [r1, r2] = await Promise.all([lifecycle().sweep(), lifecycle().sweep()]);
    expect(r1.deleted + r2.deleted).toBe(1);
    expect(r1.ownersAdded + r2.ownersAdded).toBe(1);
    expect(r1.errors + r2.errors).toBe(0);
    expect(counts).toEqual({ owners: 1, deleted: 1 });
    expect(secretOf('replicas', adopted)?.metadata?.ownerReferences).toHaveLength(1);
  });

  it('adoption is idempotent and keeps existing ownerReferences', async () => {
    const id = uuid();
    addSecret('idem', id, 0, { owner: { name: 'debugger', uid: 'u-0' } });
    const pod = addPod('idem', 'p', id);
    const l = lifecycle();
    expect(await l.adopt(pod as never)).toBe('added');
    expect(await l.adopt(pod as never)).toBe('present');
    expect(fake.requestsFor({ verb: 'patch' })).toHaveLength(1);
    expect((secretOf('idem', id)?.metadata?.ownerReferences as { uid: string }[]).map((r) => r.uid)).toEqual(['u-0', pod.metadata!.uid]);
    expect(await l.adopt({ metadata: { name: 'x', namespace: 'idem', uid: 'u', labels: { 'fsm-proxy-uuid': 'no-such' } } })).toBe('secret-missing');
  });

  it('retries adoption on a conflict', async () => {
    const id = uuid();
    addSecret('conflict', id, 0);
    const pod = addPod('conflict', 'p', id);
    fake.failRequests({ count: 1, verb: 'patch', status: 409 });
    expect(await lifecycle().adopt(pod as never)).toBe('added');
    expect(fake.requestsFor({ verb: 'patch' })).toHaveLength(2);
  });

  it('watches labelled pods and adopts the Secret as soon as the pod appears; survives a dropped watch', async () => {
    const l = lifecycle({ watchPods: true });
    const id = uuid();
    addSecret('watch', id, 0);
    l.start();
    await waitFor(() => fake.watchCount('pods') === 1, { timeoutMs: 10_000, what: 'pod watch' });
    const pod = addPod('watch', 'w1', id);
    await waitFor(() => (secretOf('watch', id)?.metadata?.ownerReferences as unknown[] | undefined)?.length === 1, { timeoutMs: 10_000, what: 'ownerReference' });
    expect(secretOf('watch', id)?.metadata?.ownerReferences).toEqual([podOwnerReference({ name: 'w1', uid: pod.metadata!.uid as string })]);
    const watch = fake.requestsFor({ verb: 'watch', resource: 'pods' })[0]!;
    expect(watch.query).toMatchObject({ labelSelector: 'fsm-proxy-uuid', allowWatchBookmarks: 'true' });

    // the connection drops: the loop relists and watches again
    fake.dropWatches('pods');
    const id2 = uuid();
    addSecret('watch', id2, 0);
    await waitFor(() => fake.watchCount('pods') === 1, { timeoutMs: 10_000, what: 'pod watch restarted' });
    addPod('watch', 'w2', id2);
    await waitFor(() => (secretOf('watch', id2)?.metadata?.ownerReferences as unknown[] | undefined)?.length === 1, { timeoutMs: 10_000, what: 'ownerReference after restart' });
    // a 410 ERROR event: relist, then watch again
    fake.sendWatchError({ plural: 'pods' });
    await waitFor(() => fake.watchCount('pods') === 1, { timeoutMs: 10_000, what: 'pod watch after 410' });
    await l.stop();
    expect(fake.watchCount('pods')).toBe(0);
  });

  it('start() sweeps at once and then periodically', async () => {
    const id = uuid();
    addSecret('periodic', id, 30 * MIN);
    const l = lifecycle({ sweepIntervalMs: 30, jitter: 0.5 });
    l.start();
    await waitFor(() => secretOf('periodic', id) === undefined, { timeoutMs: 10_000, what: 'first sweep' });
    const id2 = uuid();
    addSecret('periodic', id2, 30 * MIN);
    await waitFor(() => secretOf('periodic', id2) === undefined, { timeoutMs: 10_000, what: 'periodic sweep' });
    // The count follows the DELETE's answer, which can arrive just after the fake server has removed the Secret.
    await waitFor(() => counts.deleted === 2 || undefined, { timeoutMs: 10_000, what: 'both deletions counted' });
    expect(counts.deleted).toBe(2);
  });
});
