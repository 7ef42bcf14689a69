// The read-only reads of the audit: the pods and the bootstrap Secrets' names of the mesh's namespaces, with a list
// per namespace for a few namespaces and one cluster-wide list (filtered) for many, so that a mesh of thousands of
// namespaces costs a few paginated requests, not thousands; Secrets are asked for as metadata only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeHttp } from '../../src/kube/http.js';
import { listBootstrapSecretNames, listPods, PER_NAMESPACE_LISTS_UP_TO } from '../../src/controllers/snapshot.js';
import { meshIdentity } from '../../src/mesh/flavor.js';
import { CORE_RESOURCES, FakeApiServer } from '../support/fake-apiserver.js';

const mesh = meshIdentity('fsm');
const MANY = PER_NAMESPACE_LISTS_UP_TO + 10;
const nsName = (i: number): string => `ns-${i}`;

let api: FakeApiServer;
let http: KubeHttp;

beforeAll(async () => {
  api = await FakeApiServer.start({ resources: CORE_RESOURCES });
  for (let i = 0; i < MANY + 5; i++) {
    api.addObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: nsName(i), managedFields: [{ manager: 'kubectl' }] }, spec: { containers: [{ name: 'c' }] }, status: { phase: 'Running' } });
    api.addObject({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: `sidecar-bootstrap-config-${i}`, namespace: nsName(i), labels: { 'app.kubernetes.io/name': 'flomesh.io', 'app.kubernetes.io/instance': 'fsm', 'fsm-proxy-uuid': String(i) } },
      data: { 'bootstrap.yaml': 'c2VjcmV0' },
    });
    api.addObject({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'unrelated', namespace: nsName(i) }, data: { k: 'dg==' } });
  }
  http = new KubeHttp(api.kubeConfig());
});

afterAll(async () => {
  http?.close();
  await api?.close();
});

describe('audit reads', () => {
  it('a few namespaces: one list each; pods keep their status and lose managedFields', async () => {
    api.clearRequests();
    const pods = await listPods(http, [nsName(0), nsName(1)]);
    expect(pods.map((p) => p.metadata?.namespace).sort()).toEqual([nsName(0), nsName(1)]);
    expect(pods[0]).toMatchObject({ apiVersion: 'v1', kind: 'Pod', status: { phase: 'Running' } });
    expect(pods[0]!.metadata).not.toHaveProperty('managedFields');
    expect(api.requestsFor({ verb: 'list', resource: 'pods' }).map((r) => r.namespace).sort()).toEqual([nsName(0), nsName(1)]);
  });

  it('many namespaces: one cluster-wide list, filtered to them', async () => {
    api.clearRequests();
    const wanted = Array.from({ length: MANY }, (_, i) => nsName(i));
    const pods = await listPods(http, wanted);
    expect(pods).toHaveLength(MANY);
    expect(new Set(pods.map((p) => p.metadata?.namespace))).toEqual(new Set(wanted));
    expect(api.requestsFor({ verb: 'list', resource: 'pods' }).map((r) => r.path)).toEqual(['/api/v1/pods']);
  });

  it('bootstrap Secrets: names only, by label, both ways', async () => {
    expect(await listBootstrapSecretNames(http, mesh, [nsName(3)])).toEqual(new Set([`${nsName(3)}/sidecar-bootstrap-config-3`]));
    api.clearRequests();
    const all = await listBootstrapSecretNames(http, mesh, Array.from({ length: MANY }, (_, i) => nsName(i)));
    expect(all?.size).toBe(MANY);
    const lists = api.requestsFor({ verb: 'list', resource: 'secrets' });
    expect(lists.map((r) => [r.path, r.query.labelSelector])).toEqual([['/api/v1/secrets', 'app.kubernetes.io/name=flomesh.io,app.kubernetes.io/instance=fsm,fsm-proxy-uuid']]);
  });
});
