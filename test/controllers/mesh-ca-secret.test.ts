import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KubeHttp } from '../../src/kube/http.js';
import { createMeshCA, meshCAFromSecretData, meshCASecret } from '../../src/certs/mesh-ca.js';
import { loadOrCreateMeshCASecret, MeshCASecretError } from '../../src/controllers/mesh-ca-secret.js';
import { meshIdentity } from '../../src/mesh/flavor.js';
import { FakeApiServer, type Obj } from '../support/fake-apiserver.js';

describe('mesh CA Secret', () => {
  let fake: FakeApiServer;
  let http: KubeHttp;
  beforeAll(async () => {
    fake = await FakeApiServer.start();
    http = new KubeHttp(fake.kubeConfig());
  });
  afterAll(() => fake.close());
  beforeEach(() => {
    fake.clearRequests();
    fake.clearFailures();
  });

  it('creates <p>-ca-bundle in the mesh namespace when absent, then reuses it', async () => {
    const mesh = meshIdentity('fsm', 'fsm', 'create-ns');
    const created = await loadOrCreateMeshCASecret({ http, mesh });
    expect(created.reused).toBe(false);
    const post = fake.requestsFor({ verb: 'create', resource: 'secrets' });
    expect(post).toHaveLength(1);
    expect(post[0]!.path).toBe('/api/v1/namespaces/create-ns/secrets');
    const body = post[0]!.body as Obj & { data: Record<string, string> };
    expect(body.metadata).toMatchObject({ name: 'fsm-ca-bundle', namespace: 'create-ns', labels: { 'app.kubernetes.io/name': 'flomesh.io', 'app.kubernetes.io/instance': 'fsm' } });
    expect(Object.keys(body.data).sort()).toEqual(['ca.crt', 'expiration', 'private.key']);
    expect(meshCAFromSecretData(body.data).cert).toBe(created.cert);

    const again = await loadOrCreateMeshCASecret({ http, mesh });
    expect(again).toMatchObject({ reused: true, cert: created.cert, key: created.key });
    expect(fake.requestsFor({ verb: 'create' })).toHaveLength(1);
  });

  it('osm-edge: osm-ca-bundle', async () => {
    const mesh = meshIdentity('osm-edge');
    await loadOrCreateMeshCASecret({ http, mesh });
    expect(fake.getObject('v1', 'Secret', 'osm-system', 'osm-ca-bundle')).toBeDefined();
  });

  it('on 409 (another replica won the create) reads and uses the winner', async () => {
    const mesh = meshIdentity('fsm', 'fsm', 'race-ns');
    const winner = await createMeshCA(mesh.flavor, new Date());
    fake.addObject(meshCASecret(winner, mesh.flavor, 'race-ns') as unknown as Obj);
    // our first read happens "before" the winner's create
    fake.failRequests({ count: 1, verb: 'get', resource: 'secrets', status: 404 });
    const ca = await loadOrCreateMeshCASecret({ http, mesh });
    expect(fake.requestsFor({ resource: 'secrets' }).map((r) => r.verb)).toEqual(['get', 'create', 'get']);
    expect(ca).toMatchObject({ reused: true, cert: winner.cert, key: winner.key });
    // the winner's Secret is untouched
    expect(meshCAFromSecretData(fake.getObject('v1', 'Secret', 'race-ns', 'fsm-ca-bundle')!.data as Record<string, string>).cert).toBe(winner.cert);
  });

  it('replicas starting together converge on one CA', async () => {
    const mesh = meshIdentity('fsm', 'fsm', 'together-ns');
    const cas = await Promise.all([1, 2, 3].map(() => loadOrCreateMeshCASecret({ http, mesh })));
    expect(new Set(cas.map((c) => c.cert)).size).toBe(1);
    expect(cas.filter((c) => !c.reused).length).toBeLessThanOrEqual(1);
  });

  it('an existing Secret without a usable CA is an error, never overwritten', async () => {
    const mesh = meshIdentity('fsm', 'fsm', 'broken-ns');
    fake.addObject({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'fsm-ca-bundle', namespace: 'broken-ns' }, data: { 'ca.crt': Buffer.from('junk').toString('base64') } });
    await expect(loadOrCreateMeshCASecret({ http, mesh })).rejects.toThrow(MeshCASecretError);
    await expect(loadOrCreateMeshCASecret({ http, mesh })).rejects.toThrow(/broken-ns\/fsm-ca-bundle is not usable: .*private.key/);
    expect(fake.requestsFor({ method: 'POST' })).toHaveLength(0);
    expect(fake.requestsFor({ method: 'PUT' })).toHaveLength(0);
  });

  it('API failures are errors with the reason', async () => {
    const mesh = meshIdentity('fsm', 'fsm', 'forbidden-ns');
    fake.failRequests({ count: 1, verb: 'get', status: 403, message: 'secrets "fsm-ca-bundle" is forbidden' });
    await expect(loadOrCreateMeshCASecret({ http, mesh })).rejects.toThrow(/403.*forbidden/);
  });
});
