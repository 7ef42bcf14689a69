// API discovery (src/kube/discovery.ts): which wanted resources the cluster serves and at which version, read from
// the discovery documents as the API server publishes them, with as few reads as the answer needs.
import { describe, expect, it } from 'vitest';
import { collectionPath, dedupe, defaultResources, discoverServed, type DiscoveryGet, type ResourceSpec } from '../../src/kube/discovery.js';

/** A discovery getter over fixed documents (a path it does not hold is a 404), recording what was read. */
function documents(docs: Record<string, unknown>): { get: DiscoveryGet; reads: string[] } {
  const reads: string[] = [];
  const get = (async (path: string) => {
    reads.push(path);
    return docs[path];
  }) as DiscoveryGet;
  return { get, reads };
}

const egress: ResourceSpec = { group: 'policy.flomesh.io', kind: 'Egress', plural: 'egresses' };
const backends: ResourceSpec = { group: 'policy.flomesh.io', kind: 'IngressBackend', plural: 'ingressbackends' };
const plugin: ResourceSpec = { group: 'plugin.flomesh.io', kind: 'Plugin', plural: 'plugins' };
const ns: ResourceSpec = { group: '', kind: 'Namespace', plural: 'namespaces' };

describe('discoverServed', () => {
  it('takes each resource at its group\'s preferred version, reading no other version once all are found', async () => {
    const { get, reads } = documents({
      '/apis': { groups: [{ name: 'policy.flomesh.io', versions: [{ version: 'v1alpha2' }, { version: 'v1alpha1' }], preferredVersion: { version: 'v1alpha1' } }] },
      '/apis/policy.flomesh.io/v1alpha1': { resources: [{ name: 'egresses' }, { name: 'ingressbackends' }, { name: 'egresses/status' }] },
      '/apis/policy.flomesh.io/v1alpha2': { resources: [{ name: 'egresses' }] },
    });
    const served = await discoverServed(get, [egress, backends, ns]);
    expect([...served]).toEqual([
      ['policy.flomesh.io/egresses', { spec: egress, version: 'v1alpha1' }],
      ['policy.flomesh.io/ingressbackends', { spec: backends, version: 'v1alpha1' }],
    ]);
    // the core group is never discovered (it is always v1), and v1alpha2 is not read
    expect(reads).toEqual(['/apis', '/apis/policy.flomesh.io/v1alpha1']);
  });

  it('falls back to the next versions for what the preferred one lacks, and skips a version that is gone (404)', async () => {
    const { get, reads } = documents({
      '/apis': { groups: [{ name: 'policy.flomesh.io', versions: [{ version: 'v1alpha1' }, { version: 'v1beta1' }, { version: 'v1' }, { version: 'v1alpha1' }], preferredVersion: { version: 'v1alpha1' } }] },
      '/apis/policy.flomesh.io/v1alpha1': { resources: [{ name: 'egresses' }] },
      '/apis/policy.flomesh.io/v1': { resources: [{ name: 'egresses' }, { name: 'ingressbackends' }] },
    });
    const served = await discoverServed(get, [egress, backends]);
    expect(served.get('policy.flomesh.io/egresses')?.version).toBe('v1alpha1');
    expect(served.get('policy.flomesh.io/ingressbackends')?.version).toBe('v1');
    // each version read once, in order: preferred first
    expect(reads).toEqual(['/apis', '/apis/policy.flomesh.io/v1alpha1', '/apis/policy.flomesh.io/v1beta1', '/apis/policy.flomesh.io/v1']);
  });

  it('leaves out groups and resources the cluster does not serve (a CRD not installed), and survives empty documents', async () => {
    const { get } = documents({
      '/apis': { groups: [{ name: 'policy.flomesh.io', versions: [{ version: 'v1alpha1' }] }, { name: 'other.example' }] },
      '/apis/policy.flomesh.io/v1alpha1': {},
    });
    expect((await discoverServed(get, [egress, plugin])).size).toBe(0);
    expect((await discoverServed(documents({}).get, [egress])).size).toBe(0);
  });

  it('reads each wanted group\'s own versions, wherever the group stands in the list', async () => {
    const { get, reads } = documents({
      '/apis': { groups: [{ name: 'other.example', preferredVersion: { version: 'v9' } }, { name: 'plugin.flomesh.io', preferredVersion: { version: 'v1alpha1' } }] },
      '/apis/plugin.flomesh.io/v1alpha1': { resources: [{ name: 'plugins' }] },
    });
    expect([...(await discoverServed(get, [plugin])).values()]).toEqual([{ spec: plugin, version: 'v1alpha1' }]);
    expect(reads).toEqual(['/apis', '/apis/plugin.flomesh.io/v1alpha1']);
  });

  it('takes the first listed version when the group names no preferred one', async () => {
    const { get } = documents({
      '/apis': { groups: [{ name: 'plugin.flomesh.io', versions: [{}, { version: 'v1alpha1' }] }] },
      '/apis/plugin.flomesh.io/v1alpha1': { resources: [{ name: 'plugins' }] },
    });
    expect([...(await discoverServed(get, [plugin])).values()]).toEqual([{ spec: plugin, version: 'v1alpha1' }]);
  });
});

describe('resource lists', () => {
  it('collection paths: the core group under /api, the others under /apis', () => {
    expect(collectionPath('', 'v1', 'namespaces')).toBe('/api/v1/namespaces');
    expect(collectionPath('policy.flomesh.io', 'v1alpha1', 'egresses')).toBe('/apis/policy.flomesh.io/v1alpha1/egresses');
  });

  it('dedupe keeps one spec per group and plural, in first-seen order', () => {
    const again: ResourceSpec = { ...egress, kind: 'EgressAgain' };
    expect(dedupe([egress, plugin, again])).toEqual([again, plugin]);
  });

  it('the defaults: Namespaces first, then every group of every kind of the table, once each', () => {
    const all = defaultResources();
    expect(all[0]).toEqual(ns);
    expect(all.map((r) => `${r.plural}.${r.group}`)).toEqual(expect.arrayContaining(['services.', 'egresses.policy.openservicemesh.io', 'egresses.policy.flomesh.io', 'plugins.plugin.flomesh.io']));
    expect(new Set(all.map((r) => `${r.group}/${r.plural}`)).size).toBe(all.length);
  });
});
