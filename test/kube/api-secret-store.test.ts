import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KubeHttp } from '../../src/kube/client.js';
import { buildBootstrapSecret } from '../../src/injector/bootstrap.js';
import { meshIdentity } from '../../src/mesh/flavor.js';
import { ApiSecretStore } from '../../src/kube/api-secret-store.js';
import { FakeApiServer } from '../support/fake-apiserver.js';

const mesh = meshIdentity('fsm');
const secret = (uuid: string, namespace = 'app') =>
  buildBootstrapSecret({ mesh, uuid, namespace, commonName: `${uuid}.sidecar.default.${namespace}.cluster.local`, certificate: { caBundle: 'CA', cert: 'CERT', key: 'KEY' } });

describe('ApiSecretStore', () => {
  let fake: FakeApiServer;
  let store: ApiSecretStore;
  beforeAll(async () => {
    fake = await FakeApiServer.start();
    store = new ApiSecretStore(new KubeHttp(fake.kubeConfig()));
  });
  afterAll(() => fake.close());
  beforeEach(() => {
    fake.clearRequests();
    fake.clearFailures();
  });

  it('POSTs the bootstrap Secret into the pod namespace', async () => {
    const s = secret('11111111-1111-4111-8111-111111111111');
    await store.create(s);
    const posts = fake.requestsFor({ verb: 'create', resource: 'secrets' });
    expect(posts).toHaveLength(1);
    expect(posts[0]!.path).toBe('/api/v1/namespaces/app/secrets');
    expect(posts[0]!.contentType).toBe('application/json');
    expect(posts[0]!.body).toEqual(s);
    const stored = fake.getObject('v1', 'Secret', 'app', s.metadata.name);
    expect(stored?.metadata?.labels).toEqual(s.metadata.labels);
    expect(stored?.data).toEqual(s.data);
  });

  it('refuses to take over an existing Secret of the same name (409 is an error with the reason)', async () => {
    const s = secret('22222222-2222-4222-8222-222222222222');
    await store.create(s);
    await expect(store.create(s)).rejects.toThrow(/create Secret app\/sidecar-bootstrap-config-2222.*409 AlreadyExists: .*already exists/);
  });

  it('surfaces other API failures with their status and reason', async () => {
    fake.failRequests({ count: 1, verb: 'create', status: 403, message: 'secrets is forbidden: User cannot create' });
    await expect(store.create(secret('33333333-3333-4333-8333-333333333333'))).rejects.toThrow('403 Forbidden: secrets is forbidden: User cannot create');
  });

  it('reads a Secret back, undefined when absent, throws on other failures', async () => {
    const s = secret('44444444-4444-4444-8444-444444444444', 'other');
    await store.create(s);
    expect(await store.get('other', s.metadata.name)).toEqual({ data: s.data });
    expect(await store.get('other', 'sidecar-bootstrap-config-nope')).toBeUndefined();
    fake.failRequests({ count: 1, verb: 'get', status: 500 });
    await expect(store.get('other', s.metadata.name)).rejects.toThrow(/read Secret other\/.*500/);
  });
});
