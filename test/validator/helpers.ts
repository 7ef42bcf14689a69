// Test helpers: run one object through the validator against a set of other objects.
import { MemoryView } from '../../src/cluster/memory.js';
import { meshIdentity, type FlavorName } from '../../src/mesh/flavor.js';
import { gvkOf, type KubeObject } from '../../src/mesh/objects.js';
import { ValidationContext } from '../../src/validator/context.js';
import { validateObject, type Verdict } from '../../src/validator/validate.js';

export interface CheckOptions {
  /** other objects present in the cluster */
  state?: readonly KubeObject[];
  flavor?: FlavorName;
  operation?: 'CREATE' | 'UPDATE';
}

export function check(obj: KubeObject, opts: CheckOptions = {}): Verdict {
  const view = new MemoryView(opts.state ?? []);
  const mesh = meshIdentity(opts.flavor ?? 'fsm');
  const ctx = new ValidationContext(
    mesh,
    view,
    { kind: obj.kind ?? '', namespace: obj.metadata?.namespace ?? '', name: obj.metadata?.name ?? '' },
    opts.operation ?? 'CREATE',
  );
  return validateObject(obj, gvkOf(obj), ctx);
}

/** `<field>: <message>` lines of the denial causes, the way kubectl prints them. */
export function causes(v: Verdict): string[] {
  return v.errors.map((e) => `${e.field}: ${e.message}`);
}

export const monitoredNamespace = (name: string, mesh = 'fsm', domain = 'flomesh.io'): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name, labels: { [`${domain}/monitored-by`]: mesh } },
});

export const meshConfig = (spec: Record<string, unknown>, flavor: FlavorName = 'fsm'): KubeObject =>
  flavor === 'fsm'
    ? { apiVersion: 'config.flomesh.io/v1alpha3', kind: 'MeshConfig', metadata: { name: 'fsm-mesh-config', namespace: 'fsm-system' }, spec }
    : { apiVersion: 'config.openservicemesh.io/v1alpha2', kind: 'MeshConfig', metadata: { name: 'osm-mesh-config', namespace: 'osm-system' }, spec };
