// The one paginated list: pages followed by their continue token, where the list is read from, and a token that
// expires between two pages (410) answered by starting over in one unpaginated request.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KubeHttp, type KubeRequest } from '../../src/kube/http.js';
import { listAll, listPages } from '../../src/kube/list.js';
import { FakeApiServer } from '../support/fake-apiserver.js';

const SERVICES = '/api/v1/services';
let api: FakeApiServer;
let kube: KubeHttp;

beforeAll(async () => {
  api = await FakeApiServer.start();
  kube = new KubeHttp(api.kubeConfig());
  for (let i = 0; i < 5; i++) api.addObject({ apiVersion: 'v1', kind: 'Service', metadata: { name: `s${i}`, namespace: 'app' } });
});
afterAll(async () => {
  kube.close();
  await api.close();
});
beforeEach(() => api.clearRequests());

const lists = () => api.requestsFor({ verb: 'list', resource: 'services' }).map((r) => ({ limit: r.query.limit, continue: r.query.continue !== undefined, resourceVersion: r.query.resourceVersion }));

describe('listPages', () => {
  it('follows the continue token page by page, and hands over the list\'s resourceVersion', async () => {
    const { items, resourceVersion } = await listPages(kube, SERVICES, { limit: 2 });
    expect(items.map((i) => i.metadata?.name)).toEqual(['s0', 's1', 's2', 's3', 's4']);
    expect(resourceVersion).toMatch(/^\d+$/);
    expect(lists()).toEqual([
      { limit: '2', continue: false, resourceVersion: undefined },
      { limit: '2', continue: true, resourceVersion: undefined },
      { limit: '2', continue: true, resourceVersion: undefined },
    ]);
  });

  it('asks the watch cache with resourceVersion=0, and never sends a resourceVersion beside a continue token', async () => {
    await listPages(kube, SERVICES, { limit: 2, resourceVersion: '0' });
    expect(lists()[0]).toEqual({ limit: '2', continue: false, resourceVersion: '0' });
    expect(lists().slice(1).every((l) => l.continue && l.resourceVersion === undefined)).toBe(true);
  });

  it('starts over in one unpaginated request when the continue token expired between two pages', async () => {
    let pages = 0;
    const expiring = {
      json: async <T>(req: KubeRequest): Promise<T> => {
        const body = await kube.json<T>(req);
        // the API server's snapshot goes away after the first page (a list slower than its retention)
        if (++pages === 1) api.expireResourceVersions();
        return body;
      },
    } as unknown as KubeHttp;
    const { items } = await listPages(expiring, SERVICES, { limit: 2 });
    expect(items.map((i) => i.metadata?.name)).toEqual(['s0', 's1', 's2', 's3', 's4']);
    expect(lists()).toEqual([
      { limit: '2', continue: false, resourceVersion: undefined },
      { limit: '2', continue: true, resourceVersion: undefined },
      { limit: undefined, continue: false, resourceVersion: undefined },
    ]);
  });

  it('any other failure is the caller\'s, as is a 410 on the first page (nothing to start over from)', async () => {
    api.failRequests({ count: 1, verb: 'list', resource: 'services', status: 410 });
    await expect(listPages(kube, SERVICES, { limit: 2 })).rejects.toMatchObject({ status: 410 });
    api.failRequests({ count: 1, verb: 'list', resource: 'services', status: 500 });
    await expect(listPages(kube, SERVICES, { limit: 2 })).rejects.toMatchObject({ status: 500 });
  });

  it('listAll sets apiVersion and kind on each item (list items carry neither)', async () => {
    const items = await listAll(kube, SERVICES, { apiVersion: 'v1', kind: 'Service', limit: 500 });
    expect(items.map((i) => [i.apiVersion, i.kind])).toEqual(items.map(() => ['v1', 'Service']));
  });

  it('a failure on a later page other than 410 is the caller\'s too: no start over', async () => {
    let pages = 0;
    const failing = {
      json: async <T>(req: KubeRequest): Promise<T> => {
        if (++pages === 2) throw Object.assign(new Error('boom'), { status: 500 });
        return kube.json<T>(req);
      },
    } as unknown as KubeHttp;
    await expect(listPages(failing, SERVICES, { limit: 2 })).rejects.toThrow('boom');
    expect(pages).toBe(2);
  });

  it('passes the Accept header, the abort signal and the timeout on to every page', async () => {
    // a write moves the API server past the history an earlier test expired, so this list's pages do not expire
    api.addObject({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's5', namespace: 'app' } });
    const seen: KubeRequest[] = [];
    const recording = { json: async <T>(req: KubeRequest): Promise<T> => (seen.push(req), kube.json<T>(req)) } as unknown as KubeHttp;
    const signal = new AbortController().signal;
    await listPages(recording, SERVICES, { limit: 3, accept: 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1', signal, timeoutMs: 1234 });
    expect(seen.map((r) => [r.accept, r.signal === signal, r.timeoutMs])).toEqual([
      ['application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1', true, 1234],
      ['application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1', true, 1234],
    ]);
    seen.length = 0;
    await listPages(recording, SERVICES);
    expect(seen.map((r) => [r.accept, 'signal' in r, r.timeoutMs, r.query?.limit])).toEqual([[undefined, false, 60_000, 500]]);
    const aborted = new AbortController();
    aborted.abort();
    await expect(listPages(kube, SERVICES, { signal: aborted.signal })).rejects.toThrow(/aborted/);
  });

  it('an answer without items or metadata is an empty, finished list', async () => {
    const answers: unknown[] = [{}, { items: [], metadata: {} }, { metadata: { continue: '', resourceVersion: '5' } }];
    for (const answer of answers) {
      const bare = { json: async () => answer } as unknown as KubeHttp;
      const listed = await listPages(bare, SERVICES);
      expect(listed.items).toEqual([]);
    }
    expect((await listPages({ json: async () => ({ metadata: { resourceVersion: '5' } }) } as unknown as KubeHttp, SERVICES)).resourceVersion).toBe('5');
    expect((await listPages({ json: async () => null } as unknown as KubeHttp, SERVICES))).toEqual({ items: [], resourceVersion: undefined });
  });
});
